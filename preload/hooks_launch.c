/*
 * Interposed launches: kernels (driver and runtime, legacy and per-thread
 * default stream) and CUDA graphs.  When profiling is off a hook costs the
 * relaxed load in coll_recording() and the forward call.
 */
#include "preload.h"

#define LAUNCH_PARAMS                                                                              \
    (CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,   \
     unsigned shared, CUstream stream, void **params, void **extra)
#define LAUNCH_ARGS (f, gx, gy, gz, bx, by, bz, shared, stream, params, extra)
#define LAUNCH_FILL                                                                                \
    pl_launch_shape(ev, (uint64_t)(uintptr_t)f, (uint64_t)(uintptr_t)stream, gx, gy, gz, bx, by,   \
                    bz, shared)

PL_HOOK(CUresult, cuLaunchKernel, CUDA_ERROR_NOT_INITIALIZED, LAUNCH_PARAMS, LAUNCH_ARGS,
        LAUNCH_FILL)
PL_HOOK(CUresult, cuLaunchKernel_ptsz, CUDA_ERROR_NOT_INITIALIZED, LAUNCH_PARAMS, LAUNCH_ARGS,
        LAUNCH_FILL)

#define COOP_PARAMS                                                                                \
    (CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,   \
     unsigned shared, CUstream stream, void **params)
#define COOP_ARGS (f, gx, gy, gz, bx, by, bz, shared, stream, params)

PL_HOOK(CUresult, cuLaunchCooperativeKernel, CUDA_ERROR_NOT_INITIALIZED, COOP_PARAMS, COOP_ARGS,
        LAUNCH_FILL)
PL_HOOK(CUresult, cuLaunchCooperativeKernel_ptsz, CUDA_ERROR_NOT_INITIALIZED, COOP_PARAMS,
        COOP_ARGS, LAUNCH_FILL)

#define EX_PARAMS (const CUlaunchConfig *c, CUfunction f, void **params, void **extra)
#define EX_ARGS (c, f, params, extra)
#define EX_FILL                                                                                    \
    pl_launch_shape(ev, (uint64_t)(uintptr_t)f, c ? (uint64_t)(uintptr_t)c->hStream : 0,           \
                    c ? c->gridDimX : 0, c ? c->gridDimY : 0, c ? c->gridDimZ : 0,                 \
                    c ? c->blockDimX : 0, c ? c->blockDimY : 0, c ? c->blockDimZ : 0,              \
                    c ? c->sharedMemBytes : 0)

PL_HOOK(CUresult, cuLaunchKernelEx, CUDA_ERROR_NOT_INITIALIZED, EX_PARAMS, EX_ARGS, EX_FILL)
PL_HOOK(CUresult, cuLaunchKernelEx_ptsz, CUDA_ERROR_NOT_INITIALIZED, EX_PARAMS, EX_ARGS, EX_FILL)

#define GRAPH_FILL                                                                                 \
    (ev->kind = COLL_EV_GRAPH, ev->u.launch.func = (uint64_t)(uintptr_t)exec,                      \
     ev->u.launch.stream = (uint64_t)(uintptr_t)stream)

PL_HOOK(CUresult, cuGraphLaunch, CUDA_ERROR_NOT_INITIALIZED, (CUgraphExec exec, CUstream stream),
        (exec, stream), GRAPH_FILL)
PL_HOOK(CUresult, cuGraphLaunch_ptsz, CUDA_ERROR_NOT_INITIALIZED,
        (CUgraphExec exec, CUstream stream), (exec, stream), GRAPH_FILL)
PL_HOOK(cudaError_t, cudaGraphLaunch, cudaErrorInitializationError,
        (cudaGraphExec_t exec, cudaStream_t stream), (exec, stream), GRAPH_FILL)

/* Runtime launches name the host stub; the namer turns it into the kernel. */
PL_HOOK(cudaError_t, cudaLaunchKernel, cudaErrorInitializationError,
        (const void *func, dim3 grid, dim3 block, void **args, size_t shared, cudaStream_t stream),
        (func, grid, block, args, shared, stream),
        pl_launch_shape(ev, (uint64_t)(uintptr_t)func, (uint64_t)(uintptr_t)stream, grid.x, grid.y,
                        grid.z, block.x, block.y, block.z, (unsigned)shared))

PL_HOOK(cudaError_t, cudaLaunchKernelExC, cudaErrorInitializationError,
        (const cudaLaunchConfig_t *c, const void *func, void **args), (c, func, args),
        pl_launch_shape(ev, (uint64_t)(uintptr_t)func, c ? (uint64_t)(uintptr_t)c->stream : 0,
                        c ? c->gridDim.x : 0, c ? c->gridDim.y : 0, c ? c->gridDim.z : 0,
                        c ? c->blockDim.x : 0, c ? c->blockDim.y : 0, c ? c->blockDim.z : 0,
                        c ? (unsigned)c->dynamicSmemBytes : 0))
