/*
 * Interposed kernel launches.  When profiling is off a hook costs the
 * relaxed load in coll_recording() and the forward call.
 */
#include <errno.h>

#include "collector.h"
#include "preload.h"

PL_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                  unsigned by, unsigned bz, unsigned shared, CUstream stream,
                                  void **params, void **extra)
{
    if (!PL_REAL(cuLaunchKernel))
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!coll_recording() || pl_in_hook)
        return pl_real.cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shared, stream, params, extra);

    pl_in_hook = true;
    uint64_t t0 = coll_now_ns();
    CUresult r = pl_real.cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shared, stream, params, extra);
    uint64_t t1 = coll_now_ns();
    int saved = errno;
    struct coll_event *ev = coll_record_begin();
    if (ev) {
        ev->start_ns = t0;
        ev->end_ns = t1;
        ev->kind = COLL_EV_LAUNCH;
        ev->api = COLL_API_cuLaunchKernel;
        ev->result = (int32_t)r;
        ev->u.launch.func = (uint64_t)(uintptr_t)f;
        ev->u.launch.stream = (uint64_t)(uintptr_t)stream;
        ev->u.launch.grid[0] = gx;
        ev->u.launch.grid[1] = gy;
        ev->u.launch.grid[2] = gz;
        ev->u.launch.block[0] = bx;
        ev->u.launch.block[1] = by;
        ev->u.launch.block[2] = bz;
        ev->u.launch.shared_mem = shared;
        coll_record_commit(ev);
    }
    errno = saved;
    pl_in_hook = false;
    return r;
}
