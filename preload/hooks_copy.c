/*
 * Interposed copies and memsets (driver and runtime, the forms programs
 * call most).  Per-thread-default-stream forms are left to CUPTI: a
 * cuGetProcAddress asking for them gets the driver's own pointer.  Each
 * hook follows the shape described in preload.h.
 */
#include "preload.h"

/* A copy record's payload; kind: enum coll_copy_kind. */
static void copy_payload(struct coll_event *ev, int kind, uint64_t dst, uint64_t src,
                         uint64_t bytes, uint64_t stream)
{
    ev->u.copy.dst = dst;
    ev->u.copy.src = src;
    ev->u.copy.bytes = bytes;
    ev->u.copy.stream = stream;
    ev->u.copy.kind = (uint32_t)kind;
}

/* A memset record's payload: the copy payload with the value as source. */
static void memset_payload(struct coll_event *ev, uint64_t dst, uint64_t value, uint64_t bytes,
                           uint64_t stream)
{
    copy_payload(ev, COLL_COPY_UNKNOWN, dst, value, bytes, stream);
}

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

/* ---- driver -------------------------------------------------------------- */

PL_EXPORT CUresult cuMemcpy(CUdeviceptr d, CUdeviceptr s, size_t n)
{
    if (!PL_REAL(cuMemcpy))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuMemcpy);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemcpy(d, s, n);
    CUresult r = pl_real.cuMemcpy(d, s, n);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_COPY, (int)r);
    if (ev)
        copy_payload(ev, COLL_COPY_UNKNOWN, d, s, n, 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemcpyAsync(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st)
{
    if (!PL_REAL(cuMemcpyAsync))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuMemcpyAsync);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemcpyAsync(d, s, n, st);
    CUresult r = pl_real.cuMemcpyAsync(d, s, n, st);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_COPY, (int)r);
    if (ev)
        copy_payload(ev, COLL_COPY_UNKNOWN, d, s, n, pl_ptr(st));
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n)
{
    if (!PL_REAL(cuMemcpyHtoD_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuMemcpyHtoD_v2);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemcpyHtoD_v2(d, s, n);
    CUresult r = pl_real.cuMemcpyHtoD_v2(d, s, n);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_COPY, (int)r);
    if (ev)
        copy_payload(ev, COLL_COPY_HTOD, d, pl_ptr(s), n, 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n)
{
    if (!PL_REAL(cuMemcpyDtoH_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuMemcpyDtoH_v2);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemcpyDtoH_v2(d, s, n);
    CUresult r = pl_real.cuMemcpyDtoH_v2(d, s, n);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_COPY, (int)r);
    if (ev)
        copy_payload(ev, COLL_COPY_DTOH, pl_ptr(d), s, n, 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n)
{
    if (!PL_REAL(cuMemcpyDtoD_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuMemcpyDtoD_v2);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemcpyDtoD_v2(d, s, n);
    CUresult r = pl_real.cuMemcpyDtoD_v2(d, s, n);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_COPY, (int)r);
    if (ev)
        copy_payload(ev, COLL_COPY_DTOD, d, s, n, 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, CUstream st)
{
    if (!PL_REAL(cuMemcpyHtoDAsync_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuMemcpyHtoDAsync_v2);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemcpyHtoDAsync_v2(d, s, n, st);
    CUresult r = pl_real.cuMemcpyHtoDAsync_v2(d, s, n, st);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_COPY, (int)r);
    if (ev)
        copy_payload(ev, COLL_COPY_HTOD, d, pl_ptr(s), n, pl_ptr(st));
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, CUstream st)
{
    if (!PL_REAL(cuMemcpyDtoHAsync_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuMemcpyDtoHAsync_v2);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemcpyDtoHAsync_v2(d, s, n, st);
    CUresult r = pl_real.cuMemcpyDtoHAsync_v2(d, s, n, st);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_COPY, (int)r);
    if (ev)
        copy_payload(ev, COLL_COPY_DTOH, pl_ptr(d), s, n, pl_ptr(st));
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st)
{
    if (!PL_REAL(cuMemcpyDtoDAsync_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuMemcpyDtoDAsync_v2);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemcpyDtoDAsync_v2(d, s, n, st);
    CUresult r = pl_real.cuMemcpyDtoDAsync_v2(d, s, n, st);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_COPY, (int)r);
    if (ev)
        copy_payload(ev, COLL_COPY_DTOD, d, s, n, pl_ptr(st));
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n)
{
    if (!PL_REAL(cuMemsetD8_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuMemsetD8_v2);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemsetD8_v2(d, v, n);
    CUresult r = pl_real.cuMemsetD8_v2(d, v, n);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_MEMSET, (int)r);
    if (ev)
        memset_payload(ev, d, v, n, 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned v, size_t n)
{
    if (!PL_REAL(cuMemsetD32_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuMemsetD32_v2);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemsetD32_v2(d, v, n);
    CUresult r = pl_real.cuMemsetD32_v2(d, v, n);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_MEMSET, (int)r);
    if (ev)
        memset_payload(ev, d, v, n * 4, 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream st)
{
    if (!PL_REAL(cuMemsetD8Async))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuMemsetD8Async);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemsetD8Async(d, v, n, st);
    CUresult r = pl_real.cuMemsetD8Async(d, v, n, st);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_MEMSET, (int)r);
    if (ev)
        memset_payload(ev, d, v, n, pl_ptr(st));
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuMemsetD32Async(CUdeviceptr d, unsigned v, size_t n, CUstream st)
{
    if (!PL_REAL(cuMemsetD32Async))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuMemsetD32Async);
    if (call.mode == PL_FORWARD)
        return pl_real.cuMemsetD32Async(d, v, n, st);
    CUresult r = pl_real.cuMemsetD32Async(d, v, n, st);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_MEMSET, (int)r);
    if (ev)
        memset_payload(ev, d, v, n * 4, pl_ptr(st));
    pl_finish(&call, ev);
    return r;
}

/* ---- runtime -------------------------------------------------------------- */

PL_EXPORT cudaError_t cudaMemcpy(void *d, const void *s, size_t n, enum cudaMemcpyKind k)
{
    if (!PL_REAL(cudaMemcpy))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter(COLL_API_cudaMemcpy);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaMemcpy(d, s, n, k);
    cudaError_t r = pl_real.cudaMemcpy(d, s, n, k);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_COPY, (int)r);
    if (ev)
        copy_payload(ev, runtime_kind(k), pl_ptr(d), pl_ptr(s), n, 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, enum cudaMemcpyKind k,
                                      cudaStream_t st)
{
    if (!PL_REAL(cudaMemcpyAsync))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter(COLL_API_cudaMemcpyAsync);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaMemcpyAsync(d, s, n, k, st);
    cudaError_t r = pl_real.cudaMemcpyAsync(d, s, n, k, st);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_COPY, (int)r);
    if (ev)
        copy_payload(ev, runtime_kind(k), pl_ptr(d), pl_ptr(s), n, pl_ptr(st));
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaMemset(void *d, int v, size_t n)
{
    if (!PL_REAL(cudaMemset))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter(COLL_API_cudaMemset);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaMemset(d, v, n);
    cudaError_t r = pl_real.cudaMemset(d, v, n);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_MEMSET, (int)r);
    if (ev)
        memset_payload(ev, pl_ptr(d), (unsigned)v, n, 0);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaMemsetAsync(void *d, int v, size_t n, cudaStream_t st)
{
    if (!PL_REAL(cudaMemsetAsync))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter(COLL_API_cudaMemsetAsync);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaMemsetAsync(d, v, n, st);
    cudaError_t r = pl_real.cudaMemsetAsync(d, v, n, st);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_MEMSET, (int)r);
    if (ev)
        memset_payload(ev, pl_ptr(d), (unsigned)v, n, pl_ptr(st));
    pl_finish(&call, ev);
    return r;
}
