/*
 * The one place that resolves real symbols.  Each entry names the function
 * and the libraries that provide it; a hook resolves its entry on first use
 * (a hook may run before the constructor, and libcuda is often dlopen'ed
 * after it).  Looked up with RTLD_NEXT first (the next definition after
 * ours), then in an already-loaded library opened RTLD_NOLOAD, so omniprof
 * never loads CUDA into a process that did not.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

#include "preload.h"

struct pl_real pl_real;

static const char *const driver_libs[] = {"libcuda.so.1", "libcuda.so", NULL};
static const char *const runtime_libs[] = {"libcudart.so.13", "libcudart.so.12", "libcudart.so",
                                           NULL};

#define DRIVER(n) [PL_##n] = {#n, offsetof(struct pl_real, n), driver_libs}
#define RUNTIME(n) [PL_##n] = {#n, offsetof(struct pl_real, n), runtime_libs}

static const struct {
    const char *name;
    size_t offset;
    const char *const *libs;
} table[PL_SYM_COUNT] = {
    DRIVER(cuLaunchKernel),
    DRIVER(cuMemAlloc_v2),
    DRIVER(cuMemFree_v2),
    DRIVER(cuFuncGetName),
    DRIVER(cuCtxGetDevice),
    DRIVER(cuCtxGetCurrent),
    DRIVER(cuCtxSetCurrent),
    DRIVER(cuDevicePrimaryCtxRetain),
    DRIVER(cuProfilerStart),
    DRIVER(cuProfilerStop),
    RUNTIME(cudaMalloc),
    RUNTIME(cudaFree),
    RUNTIME(cudaGetDevice),
};

int pl_resolve(enum pl_sym sym)
{
    void **slot = (void **)((char *)&pl_real + table[sym].offset);
    void *fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (fn)
        return 0;
    int saved = errno; /* dlopen/dlsym may set it; the host must not see that */
    fn = dlsym(RTLD_NEXT, table[sym].name);
    for (const char *const *lib = table[sym].libs; !fn && *lib; lib++) {
        void *h = dlopen(*lib, RTLD_LAZY | RTLD_NOLOAD);
        if (h) {
            fn = dlsym(h, table[sym].name);
            dlclose(h);
        }
    }
    errno = saved;
    if (!fn)
        return -1;
    __atomic_store_n(slot, fn, __ATOMIC_RELEASE);
    return 0;
}
