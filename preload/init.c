/*
 * Entry into the process: the constructor, InitializeInjection (for
 * CUDA_INJECTION64_PATH), exit and fork handling, and the exported API.
 * Whichever entry comes first initialises; the rest find it done.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "control.h"
#include "omniprof.h"
#include "preload.h"

__thread bool pl_in_hook __attribute__((tls_model("initial-exec")));

static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Describes a launched function for the writer, on the control (or
 * exiting) thread.  Driver launches name a CUfunction; runtime launches name
 * the host stub, which cudaFuncGetName (CUDA >= 12.3) or else the stub's
 * symbol names. */
static void describe_kernel(int domain, uint64_t func, struct coll_kernel_info *info)
{
    pl_in_hook = true;
    if (domain == COLL_DOMAIN_RUNTIME) {
        const void *stub = (const void *)(uintptr_t)func;
        Dl_info dl;
        struct cudaFuncAttributes attr;
        if (!(PL_REAL(cudaFuncGetName) &&
              pl_real.cudaFuncGetName(&info->name, stub) == cudaSuccess && info->name) &&
            dladdr(stub, &dl) && dl.dli_sname && dl.dli_saddr == stub)
            info->name = dl.dli_sname;
        if (PL_REAL(cudaFuncGetAttributes) &&
            pl_real.cudaFuncGetAttributes(&attr, stub) == cudaSuccess) {
            info->registers = attr.numRegs;
            info->static_shared = (int)attr.sharedSizeBytes;
        }
    } else {
        CUfunction f = (CUfunction)(uintptr_t)func;
        int v;
        if (!PL_REAL(cuFuncGetName) || pl_real.cuFuncGetName(&info->name, f) != CUDA_SUCCESS)
            info->name = NULL;
        if (PL_REAL(cuFuncGetAttribute)) {
            if (pl_real.cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_NUM_REGS, f) == CUDA_SUCCESS)
                info->registers = v;
            if (pl_real.cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f) ==
                CUDA_SUCCESS)
                info->static_shared = v;
        }
    }
    pl_in_hook = false;
}

/* deviceProperties for the trace, from the driver (control thread).  A
 * property the driver does not give stays 0 (d arrives zeroed). */
static int describe_device(int id, struct coll_device *d)
{
    CUdevice dev;
    if (!PL_REAL(cuDeviceGet) || !PL_REAL(cuDeviceGetAttribute))
        return -ENOENT;
    if (pl_real.cuDeviceGet(&dev, id) != CUDA_SUCCESS)
        return -ENODEV;
    pl_in_hook = true;
    if (PL_REAL(cuDeviceGetName) &&
        pl_real.cuDeviceGetName(d->name, (int)sizeof d->name, dev) != CUDA_SUCCESS)
        d->name[0] = '\0';
    size_t total = 0;
    if (PL_REAL(cuDeviceTotalMem_v2) && pl_real.cuDeviceTotalMem_v2(&total, dev) == CUDA_SUCCESS)
        d->total_memory = total;
    static const struct {
        CUdevice_attribute attr;
        size_t offset;
    } attrs[] = {
        {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, offsetof(struct coll_device, major)},
        {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, offsetof(struct coll_device, minor)},
        {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, offsetof(struct coll_device, sms)},
        {CU_DEVICE_ATTRIBUTE_WARP_SIZE, offsetof(struct coll_device, warp_size)},
        {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
         offsetof(struct coll_device, max_threads_per_block)},
        {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR,
         offsetof(struct coll_device, max_threads_per_sm)},
        {CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK, offsetof(struct coll_device, regs_per_block)},
        {CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR,
         offsetof(struct coll_device, regs_per_sm)},
        {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK,
         offsetof(struct coll_device, shared_per_block)},
        {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
         offsetof(struct coll_device, shared_per_block_optin)},
        {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR,
         offsetof(struct coll_device, shared_per_sm)},
    };
    for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++) {
        int *field = (int *)((char *)d + attrs[i].offset);
        if (pl_real.cuDeviceGetAttribute(field, attrs[i].attr, dev) != CUDA_SUCCESS)
            *field = 0;
    }
    pl_in_hook = false;
    return 0;
}

/* profiler=cuda: the gated window is cuProfilerStart..cuProfilerStop.  On a
 * thread with no current context (the control thread) device 0's primary
 * context is made current there first. */
static void cuda_profiler(bool start)
{
    pl_in_hook = true;
    CUcontext ctx = NULL;
    CUresult set = CUDA_SUCCESS;
    if (PL_REAL(cuCtxGetCurrent) && pl_real.cuCtxGetCurrent(&ctx) == CUDA_SUCCESS && !ctx &&
        PL_REAL(cuDevicePrimaryCtxRetain) && PL_REAL(cuCtxSetCurrent) &&
        pl_real.cuDevicePrimaryCtxRetain(&ctx, 0) == CUDA_SUCCESS)
        set = pl_real.cuCtxSetCurrent(ctx);
    if (set != CUDA_SUCCESS) /* the profiler call below then fails, and says so */
        coll_log(COLL_LOG_DEBUG, NULL, "cuCtxSetCurrent failed (CUresult %d)", (int)set);
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
    /* exec and posix_spawn may be called in a vfork child, and _exit, kill
     * and raise there or in a signal handler, where resolving (dlsym,
     * dlopen: loader locks another thread may hold) is not safe: resolve
     * them now, in the constructor. */
    static const struct {
        enum pl_sym sym;
        const char *name;
    } exec_family[] = {{PL_execve, "execve"},
                       {PL_execvpe, "execvpe"},
                       {PL_posix_spawn, "posix_spawn"},
                       {PL_posix_spawnp, "posix_spawnp"}};
    for (size_t i = 0; i < sizeof exec_family / sizeof *exec_family; i++)
        if (pl_resolve(exec_family[i].sym) < 0)
            coll_log(COLL_LOG_WARN, "preload",
                     "libc's %s not found; the program's calls of it "
                     "fail with ENOSYS",
                     exec_family[i].name);
    pl_resolve_endings(); /* hooks_exit.c: without them, the system calls */
    coll_set_kernel_describer(describe_kernel);
    coll_set_device_describer(describe_device);
    ctl_set_cuda_profiler(cuda_profiler);
    pl_nvtx_environment();
    ctl_init();
    pl_nvtx_report();
    /* atexit from the constructor runs after the program's own atexit work
     * and before library destructors, while libcuda can still name kernels. */
    if (atexit(at_exit) != 0) /* the destructor (on_unload) still writes it */
        coll_log(COLL_LOG_WARN, "preload",
                 "atexit failed; a session running at exit is written "
                 "by omniprof's destructor, when libcuda may already be gone");
    int rc = pthread_atfork(ctl_atfork_prepare, ctl_atfork_parent, ctl_atfork_child);
    if (rc != 0)
        coll_log(COLL_LOG_WARN, "preload",
                 "pthread_atfork failed: %s; a forked child is not "
                 "made a process of its own (its trace may mix with its parent's)",
                 strerror(rc));
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

/* CUDA_INJECTION64_PATH entry: the driver calls it at cuInit.  Loaded this
 * way alone, omniprof sees the program's calls through CUPTI only (its
 * symbols were bound before we came): set CUPTI up now, as CUDA starts. */
PL_EXPORT int InitializeInjection(void)
{
    pl_init();
    pl_in_hook = true;
    ctl_cuda_arrived();
    pl_in_hook = false;
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
