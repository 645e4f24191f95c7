/*
 * The CUDA versions a trace names (Kineto's cuda_driver_version and
 * cuda_runtime_version), asked of the driver and the runtime the process
 * has already loaded; never loads either.  A runtime linked statically (or
 * loaded where the loader's global scope does not see it) is not found:
 * its version stays 0, unknown, rather than guessed.  Control thread.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

#include "internal.h"

typedef int (*version_fn)(int *);

/* fn's answer from the first of libs that is loaded; 0 when none is. */
static int ask(const char *const libs[], size_t n, const char *fn)
{
    for (size_t i = 0; i < n; i++) {
        void *lib = libs[i] ? dlopen(libs[i], RTLD_LAZY | RTLD_NOLOAD) : RTLD_DEFAULT;
        if (!lib)
            continue;
        version_fn get = (version_fn)dlsym(lib, fn);
        int v = 0;
        if (get && get(&v) != 0)
            v = 0;
        if (lib != RTLD_DEFAULT)
            dlclose(lib);
        if (v > 0)
            return v;
    }
    return 0;
}

void coll_versions_collect(struct coll_session *s)
{
    static const char *const driver[] = {"libcuda.so.1"};
    static const char *const runtime[] = {NULL, "libcudart.so.13", "libcudart.so.12"};
    s->cuda_driver_version = ask(driver, 1, "cuDriverGetVersion");
    s->cuda_runtime_version = ask(runtime, 3, "cudaRuntimeGetVersion");
}
