/*
 * Interposed allocations: device, async (stream-ordered), managed and
 * pinned host memory, and the virtual-memory calls behind PyTorch's
 * expandable segments (cuMemCreate/Release/Map/Unmap), driver and runtime.
 * The real runtime reaches the driver through private entry points or the
 * pointers cuGetProcAddress gave it; either way the runtime call's own
 * driver calls run with pl_in_hook set, so one cudaMalloc is one record.
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

/* ---- driver ------------------------------------------------------------ */

PL_HOOK(CUresult, cuMemAlloc_v2, DRV_MISSING, (CUdeviceptr * p, size_t n), (p, n),
        pl_mem(ev, COLL_EV_ALLOC, OUT(OK_DRV, p), n, driver_device()))
PL_HOOK(CUresult, cuMemAllocPitch_v2, DRV_MISSING,
        (CUdeviceptr * p, size_t *pitch, size_t w, size_t h, unsigned elem),
        (p, pitch, w, h, elem),
        pl_mem(ev, COLL_EV_ALLOC, OUT(OK_DRV, p), OK_DRV && pitch ? *pitch * h : w * h,
               driver_device()))
PL_HOOK(CUresult, cuMemFree_v2, DRV_MISSING, (CUdeviceptr p), (p),
        pl_mem(ev, COLL_EV_FREE, p, 0, driver_device()))
PL_HOOK(CUresult, cuMemAllocAsync, DRV_MISSING, (CUdeviceptr * p, size_t n, CUstream s), (p, n, s),
        pl_mem(ev, COLL_EV_ALLOC, OUT(OK_DRV, p), n, driver_device()))
PL_HOOK(CUresult, cuMemAllocAsync_ptsz, DRV_MISSING, (CUdeviceptr * p, size_t n, CUstream s),
        (p, n, s), pl_mem(ev, COLL_EV_ALLOC, OUT(OK_DRV, p), n, driver_device()))
PL_HOOK(CUresult, cuMemFreeAsync, DRV_MISSING, (CUdeviceptr p, CUstream s), (p, s),
        pl_mem(ev, COLL_EV_FREE, p, 0, driver_device()))
PL_HOOK(CUresult, cuMemFreeAsync_ptsz, DRV_MISSING, (CUdeviceptr p, CUstream s), (p, s),
        pl_mem(ev, COLL_EV_FREE, p, 0, driver_device()))
PL_HOOK(CUresult, cuMemAllocManaged, DRV_MISSING, (CUdeviceptr * p, size_t n, unsigned flags),
        (p, n, flags), pl_mem(ev, COLL_EV_ALLOC, OUT(OK_DRV, p), n, driver_device()))
PL_HOOK(CUresult, cuMemAllocHost_v2, DRV_MISSING, (void **p, size_t n), (p, n),
        pl_mem(ev, COLL_EV_ALLOC, OUT(OK_DRV, p), n, -1))
PL_HOOK(CUresult, cuMemHostAlloc, DRV_MISSING, (void **p, size_t n, unsigned flags), (p, n, flags),
        pl_mem(ev, COLL_EV_ALLOC, OUT(OK_DRV, p), n, -1))
PL_HOOK(CUresult, cuMemFreeHost, DRV_MISSING, (void *p), (p), pl_mem(ev, COLL_EV_FREE, ADDR(p), 0, -1))
/* Physical allocations are named by their handle; mappings by address. */
PL_HOOK(CUresult, cuMemCreate, DRV_MISSING,
        (CUmemGenericAllocationHandle * h, size_t n, const CUmemAllocationProp *prop,
         unsigned long long flags),
        (h, n, prop, flags),
        pl_mem(ev, COLL_EV_ALLOC, OK_DRV && h ? (uint64_t)*h : 0, n,
               prop && prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE ? prop->location.id : -1))
PL_HOOK(CUresult, cuMemRelease, DRV_MISSING, (CUmemGenericAllocationHandle h), (h),
        pl_mem(ev, COLL_EV_FREE, (uint64_t)h, 0, -1))
PL_HOOK(CUresult, cuMemMap, DRV_MISSING,
        (CUdeviceptr p, size_t n, size_t offset, CUmemGenericAllocationHandle h,
         unsigned long long flags),
        (p, n, offset, h, flags), pl_mem(ev, COLL_EV_ALLOC, p, n, -1))
PL_HOOK(CUresult, cuMemUnmap, DRV_MISSING, (CUdeviceptr p, size_t n), (p, n),
        pl_mem(ev, COLL_EV_FREE, p, n, -1))

/* ---- runtime ------------------------------------------------------------ */

PL_HOOK(cudaError_t, cudaMalloc, RT_MISSING, (void **p, size_t n), (p, n),
        pl_mem(ev, COLL_EV_ALLOC, OUT(OK_RT, p), n, runtime_device()))
PL_HOOK(cudaError_t, cudaFree, RT_MISSING, (void *p), (p),
        pl_mem(ev, COLL_EV_FREE, ADDR(p), 0, runtime_device()))
PL_HOOK(cudaError_t, cudaMallocAsync, RT_MISSING, (void **p, size_t n, cudaStream_t s), (p, n, s),
        pl_mem(ev, COLL_EV_ALLOC, OUT(OK_RT, p), n, runtime_device()))
PL_HOOK(cudaError_t, cudaFreeAsync, RT_MISSING, (void *p, cudaStream_t s), (p, s),
        pl_mem(ev, COLL_EV_FREE, ADDR(p), 0, runtime_device()))
PL_HOOK(cudaError_t, cudaMallocManaged, RT_MISSING, (void **p, size_t n, unsigned flags),
        (p, n, flags), pl_mem(ev, COLL_EV_ALLOC, OUT(OK_RT, p), n, runtime_device()))
PL_HOOK(cudaError_t, cudaMallocHost, RT_MISSING, (void **p, size_t n), (p, n),
        pl_mem(ev, COLL_EV_ALLOC, OUT(OK_RT, p), n, -1))
PL_HOOK(cudaError_t, cudaHostAlloc, RT_MISSING, (void **p, size_t n, unsigned flags), (p, n, flags),
        pl_mem(ev, COLL_EV_ALLOC, OUT(OK_RT, p), n, -1))
PL_HOOK(cudaError_t, cudaFreeHost, RT_MISSING, (void *p), (p),
        pl_mem(ev, COLL_EV_FREE, ADDR(p), 0, -1))
