/*
 * Entry into the process: the constructor, InitializeInjection (for
 * CUDA_INJECTION64_PATH), exit and fork handling, and the exported API.
 * Whichever entry comes first initialises; the rest find it done.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include "collector.h"
#include "control.h"
#include "omniprof.h"
#include "preload.h"

__thread bool pl_in_hook __attribute__((tls_model("initial-exec")));

static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Kernel names for the writer; called on the control (or exiting) thread.
 * Driver launches name a CUfunction; runtime launches name the host stub,
 * which cudaFuncGetName (CUDA >= 12.3) or else the stub's symbol names. */
static const char *kernel_name(int domain, uint64_t func)
{
    const char *name = NULL;
    pl_in_hook = true;
    if (domain == COLL_DOMAIN_RUNTIME) {
        Dl_info info;
        if (!(PL_REAL(cudaFuncGetName) &&
              pl_real.cudaFuncGetName(&name, (const void *)func) == cudaSuccess && name) &&
            dladdr((void *)func, &info) && info.dli_sname && info.dli_saddr == (void *)func)
            name = info.dli_sname;
    } else if (!PL_REAL(cuFuncGetName) ||
               pl_real.cuFuncGetName(&name, (CUfunction)func) != CUDA_SUCCESS) {
        name = NULL;
    }
    pl_in_hook = false;
    return name;
}

/* profiler=cuda: the gated window is cuProfilerStart..cuProfilerStop.  On a
 * thread with no current context (the control thread) device 0's primary
 * context is made current there first. */
static void cuda_profiler(bool start)
{
    pl_in_hook = true;
    CUcontext ctx = NULL;
    if (PL_REAL(cuCtxGetCurrent) && pl_real.cuCtxGetCurrent(&ctx) == CUDA_SUCCESS && !ctx &&
        PL_REAL(cuDevicePrimaryCtxRetain) && PL_REAL(cuCtxSetCurrent) &&
        pl_real.cuDevicePrimaryCtxRetain(&ctx, 0) == CUDA_SUCCESS)
        pl_real.cuCtxSetCurrent(ctx);
    CUresult r = CUDA_ERROR_NOT_FOUND;
    if (start ? PL_REAL(cuProfilerStart) != NULL : PL_REAL(cuProfilerStop) != NULL)
        r = start ? pl_real.cuProfilerStart() : pl_real.cuProfilerStop();
    if (r != CUDA_SUCCESS)
        coll_log(COLL_LOG_WARN, NULL, "%s failed (CUresult %d)",
                 start ? "cuProfilerStart" : "cuProfilerStop", (int)r);
    pl_in_hook = false;
}

static void at_exit(void)
{
    ctl_shutdown();
}

static void init_once(void)
{
    coll_set_kernel_namer(kernel_name);
    ctl_set_cuda_profiler(cuda_profiler);
    ctl_init();
    /* atexit from the constructor runs after the program's own atexit work
     * and before library destructors, while libcuda can still name kernels. */
    atexit(at_exit);
    pthread_atfork(ctl_atfork_prepare, ctl_atfork_parent, ctl_atfork_child);
}

void pl_init(void)
{
    pthread_once(&once, init_once);
}

__attribute__((constructor)) static void on_load(void)
{
    pl_init();
}

__attribute__((destructor)) static void on_unload(void)
{
    ctl_shutdown();
}

/* CUDA_INJECTION64_PATH entry: the driver calls it at cuInit. */
PL_EXPORT int InitializeInjection(void)
{
    pl_init();
    return 1;
}

PL_EXPORT void omni_step(void)
{
    pl_init();
    ctl_step();
}

PL_EXPORT void omniprof_step(void)
{
    omni_step();
}

PL_EXPORT void omniprof_start(void)
{
    pl_init();
    ctl_start();
}

PL_EXPORT void omniprof_stop(void)
{
    pl_init();
    ctl_stop();
}

PL_EXPORT int omniprof_is_running(void)
{
    return ctl_is_running();
}

PL_EXPORT void omniprof_shutdown(void)
{
    pl_init();
    ctl_shutdown();
}
