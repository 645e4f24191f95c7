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
/* cuLaunchKernelEx: the shape is in the config, clusters in its attributes. */
static void launch_ex_shape(struct coll_event *ev, const CUlaunchConfig *c, CUfunction f)
{
    if (!c) {
        pl_launch_shape(ev, (uint64_t)(uintptr_t)f, 0, 0, 0, 0, 0, 0, 0, 0);
        return;
    }
    pl_launch_shape(ev, (uint64_t)(uintptr_t)f, (uint64_t)(uintptr_t)c->hStream, c->gridDimX,
                    c->gridDimY, c->gridDimZ, c->blockDimX, c->blockDimY, c->blockDimZ,
                    c->sharedMemBytes);
    for (unsigned i = 0; c->attrs && i < c->numAttrs; i++) {
        if (c->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION) {
            ev->u.launch.cluster[0] = c->attrs[i].value.clusterDim.x;
            ev->u.launch.cluster[1] = c->attrs[i].value.clusterDim.y;
            ev->u.launch.cluster[2] = c->attrs[i].value.clusterDim.z;
        }
    }
}

#define EX_FILL launch_ex_shape(ev, c, f)

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

static void launch_exc_shape(struct coll_event *ev, const cudaLaunchConfig_t *c, const void *func)
{
    if (!c) {
        pl_launch_shape(ev, (uint64_t)(uintptr_t)func, 0, 0, 0, 0, 0, 0, 0, 0);
        return;
    }
    pl_launch_shape(ev, (uint64_t)(uintptr_t)func, (uint64_t)(uintptr_t)c->stream, c->gridDim.x,
                    c->gridDim.y, c->gridDim.z, c->blockDim.x, c->blockDim.y, c->blockDim.z,
                    (unsigned)c->dynamicSmemBytes);
    for (unsigned i = 0; c->attrs && i < c->numAttrs; i++) {
        if (c->attrs[i].id == cudaLaunchAttributeClusterDimension) {
            ev->u.launch.cluster[0] = c->attrs[i].val.clusterDim.x;
            ev->u.launch.cluster[1] = c->attrs[i].val.clusterDim.y;
            ev->u.launch.cluster[2] = c->attrs[i].val.clusterDim.z;
        }
    }
}

PL_HOOK(cudaError_t, cudaLaunchKernelExC, cudaErrorInitializationError,
        (const cudaLaunchConfig_t *c, const void *func, void **args), (c, func, args),
        launch_exc_shape(ev, c, func))
