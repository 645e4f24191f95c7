/*
 * Interposed copies and memsets (driver and runtime, the forms programs
 * call most).  Per-thread-default-stream forms are left to CUPTI: a
 * cuGetProcAddress asking for them gets the driver's own pointer.
 */
#include "preload.h"

#define MISSING CUDA_ERROR_NOT_INITIALIZED
#define A(p) ((uint64_t)(uintptr_t)(p))
#define COPY(kind, dst, src, n, s) pl_copy(ev, COLL_EV_COPY, COLL_COPY_##kind, A(dst), A(src), n, A(s))
#define MEMSET(dst, value, n, s) pl_copy(ev, COLL_EV_MEMSET, 0, A(dst), value, n, A(s))

PL_HOOK(CUresult, cuMemcpy, MISSING, (CUdeviceptr d, CUdeviceptr s, size_t n), (d, s, n),
        COPY(UNKNOWN, d, s, n, 0))
PL_HOOK(CUresult, cuMemcpyAsync, MISSING, (CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st),
        (d, s, n, st), COPY(UNKNOWN, d, s, n, st))
PL_HOOK(CUresult, cuMemcpyHtoD_v2, MISSING, (CUdeviceptr d, const void *s, size_t n), (d, s, n),
        COPY(HTOD, d, s, n, 0))
PL_HOOK(CUresult, cuMemcpyDtoH_v2, MISSING, (void *d, CUdeviceptr s, size_t n), (d, s, n),
        COPY(DTOH, d, s, n, 0))
PL_HOOK(CUresult, cuMemcpyDtoD_v2, MISSING, (CUdeviceptr d, CUdeviceptr s, size_t n), (d, s, n),
        COPY(DTOD, d, s, n, 0))
PL_HOOK(CUresult, cuMemcpyHtoDAsync_v2, MISSING,
        (CUdeviceptr d, const void *s, size_t n, CUstream st), (d, s, n, st),
        COPY(HTOD, d, s, n, st))
PL_HOOK(CUresult, cuMemcpyDtoHAsync_v2, MISSING, (void *d, CUdeviceptr s, size_t n, CUstream st),
        (d, s, n, st), COPY(DTOH, d, s, n, st))
PL_HOOK(CUresult, cuMemcpyDtoDAsync_v2, MISSING,
        (CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st), (d, s, n, st),
        COPY(DTOD, d, s, n, st))
PL_HOOK(CUresult, cuMemsetD8_v2, MISSING, (CUdeviceptr d, unsigned char v, size_t n), (d, v, n),
        MEMSET(d, v, n, 0))
PL_HOOK(CUresult, cuMemsetD32_v2, MISSING, (CUdeviceptr d, unsigned v, size_t n), (d, v, n),
        MEMSET(d, v, n * 4, 0))
PL_HOOK(CUresult, cuMemsetD8Async, MISSING, (CUdeviceptr d, unsigned char v, size_t n, CUstream st),
        (d, v, n, st), MEMSET(d, v, n, st))
PL_HOOK(CUresult, cuMemsetD32Async, MISSING, (CUdeviceptr d, unsigned v, size_t n, CUstream st),
        (d, v, n, st), MEMSET(d, v, n * 4, st))

/* cudaMemcpyKind -> the direction Kineto names. */
static int runtime_kind(enum cudaMemcpyKind k)
{
    switch (k) {
    case cudaMemcpyHostToDevice: return COLL_COPY_HTOD;
    case cudaMemcpyDeviceToHost: return COLL_COPY_DTOH;
    case cudaMemcpyDeviceToDevice: return COLL_COPY_DTOD;
    case cudaMemcpyHostToHost: return COLL_COPY_HTOH;
    default: return COLL_COPY_UNKNOWN;
    }
}

#define RT_MISSING cudaErrorInitializationError
PL_HOOK(cudaError_t, cudaMemcpy, RT_MISSING,
        (void *d, const void *s, size_t n, enum cudaMemcpyKind k), (d, s, n, k),
        pl_copy(ev, COLL_EV_COPY, runtime_kind(k), A(d), A(s), n, 0))
PL_HOOK(cudaError_t, cudaMemcpyAsync, RT_MISSING,
        (void *d, const void *s, size_t n, enum cudaMemcpyKind k, cudaStream_t st),
        (d, s, n, k, st), pl_copy(ev, COLL_EV_COPY, runtime_kind(k), A(d), A(s), n, A(st)))
PL_HOOK(cudaError_t, cudaMemset, RT_MISSING, (void *d, int v, size_t n), (d, v, n),
        MEMSET(d, (uint64_t)(unsigned)v, n, 0))
PL_HOOK(cudaError_t, cudaMemsetAsync, RT_MISSING, (void *d, int v, size_t n, cudaStream_t st),
        (d, v, n, st), MEMSET(d, (uint64_t)(unsigned)v, n, st))
