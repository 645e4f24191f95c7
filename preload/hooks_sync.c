/*
 * Interposed synchronisations: where the host waits for the GPU.  They are
 * recorded like any call, and they are the natural step_on choice for a
 * program that calls no omni_step (each completed cuStreamSynchronize or
 * cudaDeviceSynchronize ends an iteration).  Each hook follows the shape
 * described in preload.h; a record's payload is the stream waited on
 * (0: the whole context or device).
 */
#include "preload.h"

PL_EXPORT CUresult cuCtxSynchronize(void)
{
    if (!PL_REAL(cuCtxSynchronize))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuCtxSynchronize);
    if (call.mode == PL_FORWARD)
        return pl_real.cuCtxSynchronize();
    CUresult r = pl_real.cuCtxSynchronize();
    struct coll_event *ev = pl_record_call(&call, COLL_EV_SYNC, (int)r);
    if (ev)
        ev->u.copy.stream = 0;
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuStreamSynchronize(CUstream s)
{
    if (!PL_REAL(cuStreamSynchronize))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuStreamSynchronize);
    if (call.mode == PL_FORWARD)
        return pl_real.cuStreamSynchronize(s);
    CUresult r = pl_real.cuStreamSynchronize(s);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_SYNC, (int)r);
    if (ev)
        ev->u.copy.stream = pl_ptr(s);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuStreamSynchronize_ptsz(CUstream s)
{
    if (!PL_REAL(cuStreamSynchronize_ptsz))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuStreamSynchronize_ptsz);
    if (call.mode == PL_FORWARD)
        return pl_real.cuStreamSynchronize_ptsz(s);
    CUresult r = pl_real.cuStreamSynchronize_ptsz(s);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_SYNC, (int)r);
    if (ev)
        ev->u.copy.stream = pl_ptr(s);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaDeviceSynchronize(void)
{
    if (!PL_REAL(cudaDeviceSynchronize))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter(COLL_API_cudaDeviceSynchronize);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaDeviceSynchronize();
    cudaError_t r = pl_real.cudaDeviceSynchronize();
    struct coll_event *ev = pl_record_call(&call, COLL_EV_SYNC, (int)r);
    if (ev)
        ev->u.copy.stream = 0;
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    if (!PL_REAL(cudaStreamSynchronize))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter(COLL_API_cudaStreamSynchronize);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaStreamSynchronize(s);
    cudaError_t r = pl_real.cudaStreamSynchronize(s);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_SYNC, (int)r);
    if (ev)
        ev->u.copy.stream = pl_ptr(s);
    pl_finish(&call, ev);
    return r;
}
