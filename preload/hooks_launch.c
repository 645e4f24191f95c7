/*
 * Interposed launches: kernels (driver and runtime, legacy and per-thread
 * default stream) and CUDA graphs.  When profiling is off a hook costs the
 * relaxed load in coll_recording() and the forward call.  Each hook follows
 * the shape described in preload.h.
 */
#include "preload.h"

/* A launch record's payload: what ran, where, and in what shape. */
static void launch_shape(struct coll_event *ev, const void *func, const void *stream, unsigned gx,
                         unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                         unsigned shared)
{
    ev->u.launch.cluster[0] = ev->u.launch.cluster[1] = ev->u.launch.cluster[2] = 0;
    ev->u.launch.func = pl_ptr(func);
    ev->u.launch.stream = pl_ptr(stream);
    ev->u.launch.grid[0] = gx;
    ev->u.launch.grid[1] = gy;
    ev->u.launch.grid[2] = gz;
    ev->u.launch.block[0] = bx;
    ev->u.launch.block[1] = by;
    ev->u.launch.block[2] = bz;
    ev->u.launch.shared_mem = shared;
}

static void set_cluster(struct coll_event *ev, unsigned x, unsigned y, unsigned z)
{
    ev->u.launch.cluster[0] = x;
    ev->u.launch.cluster[1] = y;
    ev->u.launch.cluster[2] = z;
}

/* cuLaunchKernelEx: the shape is in the config, clusters in its attributes. */
static void launch_ex_shape(struct coll_event *ev, const CUlaunchConfig *c, CUfunction f)
{
    if (!c) {
        launch_shape(ev, f, NULL, 0, 0, 0, 0, 0, 0, 0);
        return;
    }
    launch_shape(ev, f, c->hStream, c->gridDimX, c->gridDimY, c->gridDimZ, c->blockDimX,
                 c->blockDimY, c->blockDimZ, c->sharedMemBytes);
    for (unsigned i = 0; c->attrs && i < c->numAttrs; i++)
        if (c->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION)
            set_cluster(ev, c->attrs[i].value.clusterDim.x, c->attrs[i].value.clusterDim.y,
                        c->attrs[i].value.clusterDim.z);
}

/* cudaLaunchKernelExC: the same for the runtime's config. */
static void launch_exc_shape(struct coll_event *ev, const cudaLaunchConfig_t *c, const void *func)
{
    if (!c) {
        launch_shape(ev, func, NULL, 0, 0, 0, 0, 0, 0, 0);
        return;
    }
    launch_shape(ev, func, c->stream, c->gridDim.x, c->gridDim.y, c->gridDim.z, c->blockDim.x,
                 c->blockDim.y, c->blockDim.z, (unsigned)c->dynamicSmemBytes);
    for (unsigned i = 0; c->attrs && i < c->numAttrs; i++)
        if (c->attrs[i].id == cudaLaunchAttributeClusterDimension)
            set_cluster(ev, c->attrs[i].val.clusterDim.x, c->attrs[i].val.clusterDim.y,
                        c->attrs[i].val.clusterDim.z);
}

/* A graph launch names the graph exec where a kernel launch names the function. */
static void graph_shape(struct coll_event *ev, const void *exec, const void *stream)
{
    ev->u.launch.func = pl_ptr(exec);
    ev->u.launch.stream = pl_ptr(stream);
}

/* ---- driver kernels ------------------------------------------------------ */

PL_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                  unsigned by, unsigned bz, unsigned shared, CUstream stream,
                                  void **params, void **extra)
{
    if (!PL_REAL(cuLaunchKernel))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuLaunchKernel);
    if (call.mode == PL_FORWARD)
        return pl_real.cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shared, stream, params, extra);
    CUresult r = pl_real.cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shared, stream, params, extra);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_LAUNCH, (int)r);
    if (ev)
        launch_shape(ev, f, stream, gx, gy, gz, bx, by, bz, shared);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                                       unsigned bx, unsigned by, unsigned bz, unsigned shared,
                                       CUstream stream, void **params, void **extra)
{
    if (!PL_REAL(cuLaunchKernel_ptsz))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuLaunchKernel_ptsz);
    if (call.mode == PL_FORWARD)
        return pl_real.cuLaunchKernel_ptsz(f, gx, gy, gz, bx, by, bz, shared, stream, params,
                                           extra);
    CUresult r =
        pl_real.cuLaunchKernel_ptsz(f, gx, gy, gz, bx, by, bz, shared, stream, params, extra);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_LAUNCH, (int)r);
    if (ev)
        launch_shape(ev, f, stream, gx, gy, gz, bx, by, bz, shared);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                                             unsigned bx, unsigned by, unsigned bz, unsigned shared,
                                             CUstream stream, void **params)
{
    if (!PL_REAL(cuLaunchCooperativeKernel))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuLaunchCooperativeKernel);
    if (call.mode == PL_FORWARD)
        return pl_real.cuLaunchCooperativeKernel(f, gx, gy, gz, bx, by, bz, shared, stream, params);
    CUresult r =
        pl_real.cuLaunchCooperativeKernel(f, gx, gy, gz, bx, by, bz, shared, stream, params);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_LAUNCH, (int)r);
    if (ev)
        launch_shape(ev, f, stream, gx, gy, gz, bx, by, bz, shared);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned gx, unsigned gy,
                                                  unsigned gz, unsigned bx, unsigned by,
                                                  unsigned bz, unsigned shared, CUstream stream,
                                                  void **params)
{
    if (!PL_REAL(cuLaunchCooperativeKernel_ptsz))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuLaunchCooperativeKernel_ptsz);
    if (call.mode == PL_FORWARD)
        return pl_real.cuLaunchCooperativeKernel_ptsz(f, gx, gy, gz, bx, by, bz, shared, stream,
                                                      params);
    CUresult r =
        pl_real.cuLaunchCooperativeKernel_ptsz(f, gx, gy, gz, bx, by, bz, shared, stream, params);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_LAUNCH, (int)r);
    if (ev)
        launch_shape(ev, f, stream, gx, gy, gz, bx, by, bz, shared);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *c, CUfunction f, void **params,
                                    void **extra)
{
    if (!PL_REAL(cuLaunchKernelEx))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuLaunchKernelEx);
    if (call.mode == PL_FORWARD)
        return pl_real.cuLaunchKernelEx(c, f, params, extra);
    CUresult r = pl_real.cuLaunchKernelEx(c, f, params, extra);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_LAUNCH, (int)r);
    if (ev)
        launch_ex_shape(ev, c, f);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *c, CUfunction f, void **params,
                                         void **extra)
{
    if (!PL_REAL(cuLaunchKernelEx_ptsz))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuLaunchKernelEx_ptsz);
    if (call.mode == PL_FORWARD)
        return pl_real.cuLaunchKernelEx_ptsz(c, f, params, extra);
    CUresult r = pl_real.cuLaunchKernelEx_ptsz(c, f, params, extra);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_LAUNCH, (int)r);
    if (ev)
        launch_ex_shape(ev, c, f);
    pl_finish(&call, ev);
    return r;
}

/* ---- graphs -------------------------------------------------------------- */

PL_EXPORT CUresult cuGraphLaunch(CUgraphExec exec, CUstream stream)
{
    if (!PL_REAL(cuGraphLaunch))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuGraphLaunch);
    if (call.mode == PL_FORWARD)
        return pl_real.cuGraphLaunch(exec, stream);
    CUresult r = pl_real.cuGraphLaunch(exec, stream);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_GRAPH, (int)r);
    if (ev)
        graph_shape(ev, exec, stream);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec exec, CUstream stream)
{
    if (!PL_REAL(cuGraphLaunch_ptsz))
        return CUDA_ERROR_NOT_INITIALIZED;
    struct pl_call call = pl_enter(COLL_API_cuGraphLaunch_ptsz);
    if (call.mode == PL_FORWARD)
        return pl_real.cuGraphLaunch_ptsz(exec, stream);
    CUresult r = pl_real.cuGraphLaunch_ptsz(exec, stream);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_GRAPH, (int)r);
    if (ev)
        graph_shape(ev, exec, stream);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream)
{
    if (!PL_REAL(cudaGraphLaunch))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter(COLL_API_cudaGraphLaunch);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaGraphLaunch(exec, stream);
    cudaError_t r = pl_real.cudaGraphLaunch(exec, stream);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_GRAPH, (int)r);
    if (ev)
        graph_shape(ev, exec, stream);
    pl_finish(&call, ev);
    return r;
}

/* ---- runtime kernels: they name the host stub; the namer (init.c's
 * describe_kernel) turns it into the kernel ------------------------------- */

PL_EXPORT cudaError_t cudaLaunchKernel(const void *func, dim3 grid, dim3 block, void **args,
                                       size_t shared, cudaStream_t stream)
{
    if (!PL_REAL(cudaLaunchKernel))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter(COLL_API_cudaLaunchKernel);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaLaunchKernel(func, grid, block, args, shared, stream);
    cudaError_t r = pl_real.cudaLaunchKernel(func, grid, block, args, shared, stream);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_LAUNCH, (int)r);
    if (ev)
        launch_shape(ev, func, stream, grid.x, grid.y, grid.z, block.x, block.y, block.z,
                     (unsigned)shared);
    pl_finish(&call, ev);
    return r;
}

PL_EXPORT cudaError_t cudaLaunchKernelExC(const cudaLaunchConfig_t *c, const void *func,
                                          void **args)
{
    if (!PL_REAL(cudaLaunchKernelExC))
        return cudaErrorInitializationError;
    struct pl_call call = pl_enter(COLL_API_cudaLaunchKernelExC);
    if (call.mode == PL_FORWARD)
        return pl_real.cudaLaunchKernelExC(c, func, args);
    cudaError_t r = pl_real.cudaLaunchKernelExC(c, func, args);
    struct coll_event *ev = pl_record_call(&call, COLL_EV_LAUNCH, (int)r);
    if (ev)
        launch_exc_shape(ev, c, func);
    pl_finish(&call, ev);
    return r;
}
