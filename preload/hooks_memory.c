/*
 * Interposed allocations: device, async (stream-ordered), managed and
 * pinned host memory, and the virtual-memory calls behind PyTorch's
 * expandable segments (cuMemCreate/Release/Map/Unmap), driver and runtime.
 * The real runtime reaches the driver through private entry points or the
 * pointers cuGetProcAddress gave it; either way the runtime call's own
 * driver calls run with pl_in_hook set, so one cudaMalloc is one record.
 *
 * Each hook follows the shape described in preload.h, with
 * pl_enter_memory, and tells the allocation table (collector/memory.c)
 * what it did: coll_memory_alloc or track_free of a class, with the
 * address the call returned or was given.  That happens whether or not a
 * session records (ev is then NULL), so the table is current when one
 * starts.
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

/* cuMemCreate: the device the properties name, else the current one. */
static int create_device(const CUmemAllocationProp *prop)
{
    if (prop && prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE)
        return prop->location.id;
    return driver_device();
}

/* The address a successful call wrote through its out-pointer, else 0. */
static uint64_t out_dptr(bool ok, const CUdeviceptr *p)
{
    return ok && p ? (uint64_t)*p : 0;
}

static uint64_t out_ptr(bool ok, void *const *p)
{
    return ok && p ? pl_ptr(*p) : 0;
}

/* Only a successful free leaves the table; a failed one is still recorded,
 * with the address it was given. */
static void track_free(struct coll_event *ev, bool ok, int cls, uint64_t addr, uint64_t bytes)
{
    if (ok) {
        coll_memory_free(ev, cls, addr, bytes);
    } else if (ev) {
        coll_memory_free(ev, cls, 0, bytes);
        ev->u.mem.addr = addr;
    }
}

/* ---- driver ------------------------------------------------------------ */

PL_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n)
{
    if (!PL_REAL(cuMemAlloc_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemAlloc_v2);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemAlloc_v2(p, n);
    CUresult r = pl_real.cuMemAlloc_v2(p, n);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_ALLOC, out_dptr(r == CUDA_SUCCESS, p), n, driver_device());
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *p, size_t *pitch, size_t w, size_t h,
                                      unsigned elem)
{
    if (!PL_REAL(cuMemAllocPitch_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemAllocPitch_v2);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemAllocPitch_v2(p, pitch, w, h, elem);
    CUresult r = pl_real.cuMemAllocPitch_v2(p, pitch, w, h, elem);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_ALLOC, out_dptr(r == CUDA_SUCCESS, p),
                      r == CUDA_SUCCESS && pitch ? *pitch * h : w * h, driver_device());
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemFree_v2(CUdeviceptr p)
{
    if (!PL_REAL(cuMemFree_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemFree_v2);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemFree_v2(p);
    CUresult r = pl_real.cuMemFree_v2(p);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_FREE, (int)r);
    track_free(ev, r == CUDA_SUCCESS, COLL_MEM_ALLOC, p, 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemAllocAsync(CUdeviceptr *p, size_t n, CUstream s)
{
    if (!PL_REAL(cuMemAllocAsync))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemAllocAsync);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemAllocAsync(p, n, s);
    CUresult r = pl_real.cuMemAllocAsync(p, n, s);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_ALLOC, out_dptr(r == CUDA_SUCCESS, p), n, driver_device());
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *p, size_t n, CUstream s)
{
    if (!PL_REAL(cuMemAllocAsync_ptsz))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemAllocAsync_ptsz);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemAllocAsync_ptsz(p, n, s);
    CUresult r = pl_real.cuMemAllocAsync_ptsz(p, n, s);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_ALLOC, out_dptr(r == CUDA_SUCCESS, p), n, driver_device());
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemFreeAsync(CUdeviceptr p, CUstream s)
{
    if (!PL_REAL(cuMemFreeAsync))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemFreeAsync);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemFreeAsync(p, s);
    CUresult r = pl_real.cuMemFreeAsync(p, s);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_FREE, (int)r);
    track_free(ev, r == CUDA_SUCCESS, COLL_MEM_ALLOC, p, 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr p, CUstream s)
{
    if (!PL_REAL(cuMemFreeAsync_ptsz))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemFreeAsync_ptsz);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemFreeAsync_ptsz(p, s);
    CUresult r = pl_real.cuMemFreeAsync_ptsz(p, s);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_FREE, (int)r);
    track_free(ev, r == CUDA_SUCCESS, COLL_MEM_ALLOC, p, 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *p, size_t n, unsigned flags)
{
    if (!PL_REAL(cuMemAllocManaged))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemAllocManaged);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemAllocManaged(p, n, flags);
    CUresult r = pl_real.cuMemAllocManaged(p, n, flags);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_ALLOC, out_dptr(r == CUDA_SUCCESS, p), n, driver_device());
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemAllocHost_v2(void **p, size_t n)
{
    if (!PL_REAL(cuMemAllocHost_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemAllocHost_v2);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemAllocHost_v2(p, n);
    CUresult r = pl_real.cuMemAllocHost_v2(p, n);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_ALLOC, out_ptr(r == CUDA_SUCCESS, p), n, -1);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemHostAlloc(void **p, size_t n, unsigned flags)
{
    if (!PL_REAL(cuMemHostAlloc))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemHostAlloc);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemHostAlloc(p, n, flags);
    CUresult r = pl_real.cuMemHostAlloc(p, n, flags);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_ALLOC, out_ptr(r == CUDA_SUCCESS, p), n, -1);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemFreeHost(void *p)
{
    if (!PL_REAL(cuMemFreeHost))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemFreeHost);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemFreeHost(p);
    CUresult r = pl_real.cuMemFreeHost(p);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_FREE, (int)r);
    track_free(ev, r == CUDA_SUCCESS, COLL_MEM_ALLOC, pl_ptr(p), 0);
    pl_finish(&call, ev);
    return r;
}

/* Physical memory is named by its handle and only reserves; a mapping
 * makes part of an address range usable (allocated). */
PL_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *h, size_t n,
                               const CUmemAllocationProp *prop, unsigned long long flags)
{
    if (!PL_REAL(cuMemCreate))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemCreate);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemCreate(h, n, prop, flags);
    CUresult r = pl_real.cuMemCreate(h, n, prop, flags);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_PHYS, r == CUDA_SUCCESS && h ? (uint64_t)*h : 0, n,
                      create_device(prop));
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle h)
{
    if (!PL_REAL(cuMemRelease))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemRelease);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemRelease(h);
    CUresult r = pl_real.cuMemRelease(h);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_FREE, (int)r);
    track_free(ev, r == CUDA_SUCCESS, COLL_MEM_PHYS, (uint64_t)h, 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemMap(CUdeviceptr p, size_t n, size_t offset, CUmemGenericAllocationHandle h,
                            unsigned long long flags)
{
    if (!PL_REAL(cuMemMap))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemMap);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemMap(p, n, offset, h, flags);
    CUresult r = pl_real.cuMemMap(p, n, offset, h, flags);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_MAPPING, r == CUDA_SUCCESS ? p : 0, n, driver_device());
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemUnmap(CUdeviceptr p, size_t n)
{
    if (!PL_REAL(cuMemUnmap))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter_memory(COLL_API_cuMemUnmap);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemUnmap(p, n);
    CUresult r = pl_real.cuMemUnmap(p, n);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_FREE, (int)r);
    track_free(ev, r == CUDA_SUCCESS, COLL_MEM_MAPPING, p, n);
    pl_finish(&call, ev);
    return r;
}

/* ---- runtime ------------------------------------------------------------ */

PL_EXPORT cudaError_t cudaMalloc(void **p, size_t n)
{
    if (!PL_REAL(cudaMalloc))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter_memory(COLL_API_cudaMalloc);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaMalloc(p, n);
    cudaError_t r = pl_real.cudaMalloc(p, n);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_ALLOC, out_ptr(r == cudaSuccess, p), n, runtime_device());
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaFree(void *p)
{
    if (!PL_REAL(cudaFree))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter_memory(COLL_API_cudaFree);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaFree(p);
    cudaError_t r = pl_real.cudaFree(p);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_FREE, (int)r);
    track_free(ev, r == cudaSuccess, COLL_MEM_ALLOC, pl_ptr(p), 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t s)
{
    if (!PL_REAL(cudaMallocAsync))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter_memory(COLL_API_cudaMallocAsync);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaMallocAsync(p, n, s);
    cudaError_t r = pl_real.cudaMallocAsync(p, n, s);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_ALLOC, out_ptr(r == cudaSuccess, p), n, runtime_device());
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaFreeAsync(void *p, cudaStream_t s)
{
    if (!PL_REAL(cudaFreeAsync))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter_memory(COLL_API_cudaFreeAsync);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaFreeAsync(p, s);
    cudaError_t r = pl_real.cudaFreeAsync(p, s);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_FREE, (int)r);
    track_free(ev, r == cudaSuccess, COLL_MEM_ALLOC, pl_ptr(p), 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaMallocManaged(void **p, size_t n, unsigned flags)
{
    if (!PL_REAL(cudaMallocManaged))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter_memory(COLL_API_cudaMallocManaged);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaMallocManaged(p, n, flags);
    cudaError_t r = pl_real.cudaMallocManaged(p, n, flags);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_ALLOC, out_ptr(r == cudaSuccess, p), n, runtime_device());
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaMallocHost(void **p, size_t n)
{
    if (!PL_REAL(cudaMallocHost))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter_memory(COLL_API_cudaMallocHost);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaMallocHost(p, n);
    cudaError_t r = pl_real.cudaMallocHost(p, n);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_ALLOC, out_ptr(r == cudaSuccess, p), n, -1);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaHostAlloc(void **p, size_t n, unsigned flags)
{
    if (!PL_REAL(cudaHostAlloc))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter_memory(COLL_API_cudaHostAlloc);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaHostAlloc(p, n, flags);
    cudaError_t r = pl_real.cudaHostAlloc(p, n, flags);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_ALLOC, (int)r);
    coll_memory_alloc(ev, COLL_MEM_ALLOC, out_ptr(r == cudaSuccess, p), n, -1);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaFreeHost(void *p)
{
    if (!PL_REAL(cudaFreeHost))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter_memory(COLL_API_cudaFreeHost);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaFreeHost(p);
    cudaError_t r = pl_real.cudaFreeHost(p);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_FREE, (int)r);
    track_free(ev, r == cudaSuccess, COLL_MEM_ALLOC, pl_ptr(p), 0);
    pl_finish(&call, ev);
    return r;
}
