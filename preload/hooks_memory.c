/*
 * Interposed allocations: device, async (stream-ordered), managed and
 * pinned host memory, and the virtual-memory calls behind PyTorch's
 * expandable segments (cuMemCreate/Release/Map/Unmap), driver and runtime.
 * The real runtime reaches the driver through private entry points or the
 * pointers cuGetProcAddress gave it; either way the runtime call's own
 * driver calls run with pl_in_hook set, so one cudaMalloc is one record.
 *
 * Each hook names what it did to the allocation table (collector/memory.c):
 * ALLOC/FREE of a class, with the address the call returned or was given.
 */
#include "preload.h"

/* Device of the calling thread's current context, or -1. */
static int driver_device(void)
{
    CUdevice d;
    if (PL_REAL(cuCtxGetDevice) && pl_real.cuCtxGetDevice(&d) == CUDA_SUCCESS)
        return (int)d;
    return -1;
}

static int runtime_device(void)
{
    int d;
    if (PL_REAL(cudaGetDevice) && pl_real.cudaGetDevice(&d) == cudaSuccess)
        return d;
    return -1;
}

#define DRV_MISSING CUDA_ERROR_NOT_INITIALIZED
#define RT_MISSING cudaErrorInitializationError
#define OK_DRV (r == CUDA_SUCCESS)
#define OK_RT (r == cudaSuccess)
/* Address written through an out-pointer by a successful call. */
#define OUT(ok, p) ((ok) && (p) ? (uint64_t)(uintptr_t)*(p) : 0)
#define ADDR(p) ((uint64_t)(uintptr_t)(p))

#define TRACK_ALLOC(cls, where, size, device)                                                      \
    coll_memory_alloc(ev, COLL_MEM_##cls, where, size, device)
/* Only a successful free leaves the table. */
#define TRACK_FREE(ok, cls, where, size)                                                           \
    do {                                                                                           \
        if (ok)                                                                                    \
            coll_memory_free(ev, COLL_MEM_##cls, where, size);                                     \
        else if (ev)                                                                               \
            coll_memory_free(ev, COLL_MEM_##cls, 0, size), ev->u.mem.addr = (where);               \
    } while (0)

/* ---- driver ------------------------------------------------------------ */

#define DRV_ALLOC(name, PARAMS, ARGS, cls, where, size, device)                                    \
    PL_MEM_HOOK(CUresult, name, DRV_MISSING, PARAMS, ARGS, COLL_EV_ALLOC,                          \
                TRACK_ALLOC(cls, where, size, device))
#define DRV_FREE(name, PARAMS, ARGS, cls, where, size)                                             \
    PL_MEM_HOOK(CUresult, name, DRV_MISSING, PARAMS, ARGS, COLL_EV_FREE,                           \
                TRACK_FREE(OK_DRV, cls, where, size))

DRV_ALLOC(cuMemAlloc_v2, (CUdeviceptr * p, size_t n), (p, n), ALLOC, OUT(OK_DRV, p), n,
          driver_device())
DRV_ALLOC(cuMemAllocPitch_v2, (CUdeviceptr * p, size_t *pitch, size_t w, size_t h, unsigned elem),
          (p, pitch, w, h, elem), ALLOC, OUT(OK_DRV, p), OK_DRV && pitch ? *pitch * h : w * h,
          driver_device())
DRV_FREE(cuMemFree_v2, (CUdeviceptr p), (p), ALLOC, p, 0)
DRV_ALLOC(cuMemAllocAsync, (CUdeviceptr * p, size_t n, CUstream s), (p, n, s), ALLOC,
          OUT(OK_DRV, p), n, driver_device())
DRV_ALLOC(cuMemAllocAsync_ptsz, (CUdeviceptr * p, size_t n, CUstream s), (p, n, s), ALLOC,
          OUT(OK_DRV, p), n, driver_device())
DRV_FREE(cuMemFreeAsync, (CUdeviceptr p, CUstream s), (p, s), ALLOC, p, 0)
DRV_FREE(cuMemFreeAsync_ptsz, (CUdeviceptr p, CUstream s), (p, s), ALLOC, p, 0)
DRV_ALLOC(cuMemAllocManaged, (CUdeviceptr * p, size_t n, unsigned flags), (p, n, flags), ALLOC,
          OUT(OK_DRV, p), n, driver_device())
DRV_ALLOC(cuMemAllocHost_v2, (void **p, size_t n), (p, n), ALLOC, OUT(OK_DRV, p), n, -1)
DRV_ALLOC(cuMemHostAlloc, (void **p, size_t n, unsigned flags), (p, n, flags), ALLOC,
          OUT(OK_DRV, p), n, -1)
DRV_FREE(cuMemFreeHost, (void *p), (p), ALLOC, ADDR(p), 0)
/* Physical memory is named by its handle and only reserves; a mapping
 * makes part of an address range usable (allocated). */
DRV_ALLOC(cuMemCreate,
          (CUmemGenericAllocationHandle * h, size_t n, const CUmemAllocationProp *prop,
           unsigned long long flags),
          (h, n, prop, flags), PHYS, OK_DRV && h ? (uint64_t)*h : 0, n,
          prop && prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE ? prop->location.id
                                                                     : driver_device())
DRV_FREE(cuMemRelease, (CUmemGenericAllocationHandle h), (h), PHYS, (uint64_t)h, 0)
DRV_ALLOC(cuMemMap,
          (CUdeviceptr p, size_t n, size_t offset, CUmemGenericAllocationHandle h,
           unsigned long long flags),
          (p, n, offset, h, flags), MAPPING, OK_DRV ? p : 0, n, driver_device())
DRV_FREE(cuMemUnmap, (CUdeviceptr p, size_t n), (p, n), MAPPING, p, n)

/* ---- runtime ------------------------------------------------------------ */

#define RT_ALLOC(name, PARAMS, ARGS, where, size, device)                                          \
    PL_MEM_HOOK(cudaError_t, name, RT_MISSING, PARAMS, ARGS, COLL_EV_ALLOC,                        \
                TRACK_ALLOC(ALLOC, where, size, device))
#define RT_FREE(name, PARAMS, ARGS, where)                                                         \
    PL_MEM_HOOK(cudaError_t, name, RT_MISSING, PARAMS, ARGS, COLL_EV_FREE,                         \
                TRACK_FREE(OK_RT, ALLOC, where, 0))

RT_ALLOC(cudaMalloc, (void **p, size_t n), (p, n), OUT(OK_RT, p), n, runtime_device())
RT_FREE(cudaFree, (void *p), (p), ADDR(p))
RT_ALLOC(cudaMallocAsync, (void **p, size_t n, cudaStream_t s), (p, n, s), OUT(OK_RT, p), n,
         runtime_device())
RT_FREE(cudaFreeAsync, (void *p, cudaStream_t s), (p, s), ADDR(p))
RT_ALLOC(cudaMallocManaged, (void **p, size_t n, unsigned flags), (p, n, flags), OUT(OK_RT, p), n,
         runtime_device())
RT_ALLOC(cudaMallocHost, (void **p, size_t n), (p, n), OUT(OK_RT, p), n, -1)
RT_ALLOC(cudaHostAlloc, (void **p, size_t n, unsigned flags), (p, n, flags), OUT(OK_RT, p), n, -1)
RT_FREE(cudaFreeHost, (void *p), (p), ADDR(p))
