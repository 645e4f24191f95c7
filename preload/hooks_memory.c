/*
 * Interposed allocations: driver cuMemAlloc_v2/cuMemFree_v2 and runtime
 * cudaMalloc/cudaFree.  The real runtime reaches the driver through private
 * entry points, not these symbols, so one cudaMalloc is one record.
 */
#include <errno.h>

#include "collector.h"
#include "preload.h"

/* Appends one allocation or free record. */
static void record_mem(int kind, int api, uint64_t t0, uint64_t t1, int result, uint64_t addr,
                       uint64_t bytes, int device)
{
    int saved = errno;
    struct coll_event *ev = coll_record_begin();
    if (ev) {
        ev->start_ns = t0;
        ev->end_ns = t1;
        ev->kind = (uint16_t)kind;
        ev->api = (uint16_t)api;
        ev->result = result;
        ev->u.mem.addr = addr;
        ev->u.mem.bytes = bytes;
        ev->u.mem.device = device;
        coll_record_commit(ev);
    }
    errno = saved;
}

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

PL_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytes)
{
    if (!PL_REAL(cuMemAlloc_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!coll_recording() || pl_in_hook)
        return pl_real.cuMemAlloc_v2(dptr, bytes);
    pl_in_hook = true;
    uint64_t t0 = coll_now_ns();
    CUresult r = pl_real.cuMemAlloc_v2(dptr, bytes);
    uint64_t t1 = coll_now_ns();
    record_mem(COLL_EV_ALLOC, COLL_API_cuMemAlloc_v2, t0, t1, (int)r,
               r == CUDA_SUCCESS && dptr ? (uint64_t)*dptr : 0, bytes, driver_device());
    pl_in_hook = false;
    return r;
}

PL_EXPORT CUresult cuMemFree_v2(CUdeviceptr ptr)
{
    if (!PL_REAL(cuMemFree_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!coll_recording() || pl_in_hook)
        return pl_real.cuMemFree_v2(ptr);
    pl_in_hook = true;
    int device = driver_device();
    uint64_t t0 = coll_now_ns();
    CUresult r = pl_real.cuMemFree_v2(ptr);
    uint64_t t1 = coll_now_ns();
    record_mem(COLL_EV_FREE, COLL_API_cuMemFree_v2, t0, t1, (int)r, (uint64_t)ptr, 0, device);
    pl_in_hook = false;
    return r;
}

PL_EXPORT cudaError_t cudaMalloc(void **ptr, size_t bytes)
{
    if (!PL_REAL(cudaMalloc))
        return cudaErrorInitializationError;
    if (!coll_recording() || pl_in_hook)
        return pl_real.cudaMalloc(ptr, bytes);
    pl_in_hook = true;
    uint64_t t0 = coll_now_ns();
    cudaError_t r = pl_real.cudaMalloc(ptr, bytes);
    uint64_t t1 = coll_now_ns();
    record_mem(COLL_EV_ALLOC, COLL_API_cudaMalloc, t0, t1, (int)r,
               r == cudaSuccess && ptr ? (uint64_t)(uintptr_t)*ptr : 0, bytes, runtime_device());
    pl_in_hook = false;
    return r;
}

PL_EXPORT cudaError_t cudaFree(void *ptr)
{
    if (!PL_REAL(cudaFree))
        return cudaErrorInitializationError;
    if (!coll_recording() || pl_in_hook)
        return pl_real.cudaFree(ptr);
    pl_in_hook = true;
    int device = runtime_device();
    uint64_t t0 = coll_now_ns();
    cudaError_t r = pl_real.cudaFree(ptr);
    uint64_t t1 = coll_now_ns();
    record_mem(COLL_EV_FREE, COLL_API_cudaFree, t0, t1, (int)r, (uint64_t)(uintptr_t)ptr, 0,
               device);
    pl_in_hook = false;
    return r;
}
