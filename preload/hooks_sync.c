/*
 * Interposed synchronisations: where the host waits for the GPU.  They are
 * recorded like any call, and they are the natural step_on choice for a
 * program that calls no omni_step (each completed cuStreamSynchronize or
 * cudaDeviceSynchronize ends an iteration).
 */
#include "preload.h"

#define SYNC(on) (ev->kind = COLL_EV_SYNC, ev->u.copy.stream = (uint64_t)(uintptr_t)(on))

PL_HOOK(CUresult, cuCtxSynchronize, CUDA_ERROR_NOT_INITIALIZED, (void), (), SYNC(0))
PL_HOOK(CUresult, cuStreamSynchronize, CUDA_ERROR_NOT_INITIALIZED, (CUstream s), (s), SYNC(s))
PL_HOOK(CUresult, cuStreamSynchronize_ptsz, CUDA_ERROR_NOT_INITIALIZED, (CUstream s), (s), SYNC(s))
PL_HOOK(cudaError_t, cudaDeviceSynchronize, cudaErrorInitializationError, (void), (), SYNC(0))
PL_HOOK(cudaError_t, cudaStreamSynchronize, cudaErrorInitializationError, (cudaStream_t s), (s),
        SYNC(s))
