/*
 * A fake libcuda.so.1 for machines without a GPU (tests only).
 *
 * Deterministic CPU behaviour for what the samples and omniprof use: one
 * device, primary contexts, modules from PTX text (kernel names are taken
 * from the ".entry NAME" lines, so every program keeps its kernel names),
 * launches (counted, nothing executed), device memory backed by host
 * memory (copies and memsets really happen), streams, synchronisation,
 * cuGetProcAddress_v2 (returns the fake's own entry points, as the real
 * driver returns its internal ones), cuProfilerStart/Stop and cuFuncGetName.
 *
 * Linked with -Bsymbolic so the addresses it hands out are its own even when
 * omniprof interposes the same names.  Modules are never freed, so kernel
 * names stay valid after cuModuleUnload.
 *
 * FAKE_CUDA_REPORT=PATH: at exit, append "launches=N profiler_start=N
 * profiler_stop=N allocs=N frees=N" to PATH.
 */
#define _GNU_SOURCE
#include <cuda.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

struct fake_func {
    char name[256];
};

struct fake_module {
    int n;
    struct fake_func *funcs;
};

static _Atomic long launches, profiler_starts, profiler_stops, allocs, frees;
static int initialised;
static struct {
    int dummy;
} primary_ctx;
static __thread CUcontext current;

static void report(void)
{
    const char *path = getenv("FAKE_CUDA_REPORT");
    if (!path)
        return;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    fprintf(f, "launches=%ld profiler_start=%ld profiler_stop=%ld allocs=%ld frees=%ld\n",
            atomic_load(&launches), atomic_load(&profiler_starts), atomic_load(&profiler_stops),
            atomic_load(&allocs), atomic_load(&frees));
    fclose(f);
}

EXPORT CUresult cuInit(unsigned flags)
{
    (void)flags;
    if (!initialised) {
        initialised = 1;
        atexit(report);
    }
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDriverGetVersion(int *v)
{
    *v = CUDA_VERSION;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetCount(int *n)
{
    *n = 1;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGet(CUdevice *d, int ordinal)
{
    if (!initialised)
        return CUDA_ERROR_NOT_INITIALIZED;
    if (ordinal != 0)
        return CUDA_ERROR_INVALID_DEVICE;
    *d = 0;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice d)
{
    (void)d;
    snprintf(name, (size_t)len, "omniprof fake GPU");
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d)
{
    (void)d;
    *bytes = (size_t)16 << 30;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice d)
{
    (void)d;
    switch (a) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 9; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 132; break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *v = 32; break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; break;
    default: *v = 0; break;
    }
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice d)
{
    (void)d;
    *ctx = (CUcontext)&primary_ctx;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d)
{
    (void)d;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxSetCurrent(CUcontext ctx)
{
    current = ctx;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxGetCurrent(CUcontext *ctx)
{
    *ctx = current;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxGetDevice(CUdevice *d)
{
    if (!current)
        return CUDA_ERROR_INVALID_CONTEXT;
    *d = 0;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxSynchronize(void)
{
    return current ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

/* Every ".entry NAME" of the PTX text becomes a function. */
EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image)
{
    if (!current)
        return CUDA_ERROR_INVALID_CONTEXT;
    struct fake_module *m = calloc(1, sizeof *m);
    if (!m)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (const char *p = image; (p = strstr(p, ".entry")) != NULL;) {
        p += 6;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, " \t\n(");
        struct fake_func *f = realloc(m->funcs, (size_t)(m->n + 1) * sizeof *f);
        if (!f)
            return CUDA_ERROR_OUT_OF_MEMORY;
        m->funcs = f;
        snprintf(f[m->n].name, sizeof f->name, "%.*s", (int)len, p);
        m->n++;
    }
    if (m->n == 0) {
        free(m);
        return CUDA_ERROR_INVALID_PTX;
    }
    *module = (CUmodule)m;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuModuleUnload(CUmodule module)
{
    return module ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

EXPORT CUresult cuModuleGetFunction(CUfunction *fn, CUmodule module, const char *name)
{
    struct fake_module *m = (struct fake_module *)module;
    for (int i = 0; m && i < m->n; i++) {
        if (strcmp(m->funcs[i].name, name) == 0) {
            *fn = (CUfunction)&m->funcs[i];
            return CUDA_SUCCESS;
        }
    }
    return CUDA_ERROR_NOT_FOUND;
}

EXPORT CUresult cuFuncGetName(const char **name, CUfunction fn)
{
    if (!fn)
        return CUDA_ERROR_INVALID_HANDLE;
    *name = ((struct fake_func *)fn)->name;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                               unsigned by, unsigned bz, unsigned shared, CUstream stream,
                               void **params, void **extra)
{
    (void)stream, (void)params, (void)extra, (void)shared;
    if (!current)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (!f || !gx || !gy || !gz || !bx || !by || !bz || bx * by * bz > 1024)
        return CUDA_ERROR_INVALID_VALUE;
    atomic_fetch_add_explicit(&launches, 1, memory_order_relaxed);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes)
{
    if (!current)
        return CUDA_ERROR_INVALID_CONTEXT;
    void *m = calloc(1, bytes ? bytes : 1);
    if (!m)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *p = (CUdeviceptr)(uintptr_t)m;
    atomic_fetch_add(&allocs, 1);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr p)
{
    free((void *)(uintptr_t)p);
    atomic_fetch_add(&frees, 1);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n)
{
    memcpy((void *)(uintptr_t)dst, src, n);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n)
{
    memcpy(dst, (const void *)(uintptr_t)src, n);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
    memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n)
{
    memset((void *)(uintptr_t)dst, v, n);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned v, size_t n)
{
    unsigned *p = (unsigned *)(uintptr_t)dst;
    for (size_t i = 0; i < n; i++)
        p[i] = v;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamCreate(CUstream *s, unsigned flags)
{
    (void)flags;
    static _Atomic uintptr_t next = 0x100;
    *s = (CUstream)atomic_fetch_add(&next, 0x10);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamDestroy_v2(CUstream s)
{
    (void)s;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamSynchronize(CUstream s)
{
    (void)s;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuProfilerStart(void)
{
    if (!current)
        return CUDA_ERROR_INVALID_CONTEXT;
    atomic_fetch_add(&profiler_starts, 1);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuProfilerStop(void)
{
    if (!current)
        return CUDA_ERROR_INVALID_CONTEXT;
    atomic_fetch_add(&profiler_stops, 1);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGetErrorName(CUresult r, const char **s)
{
    *s = r == CUDA_SUCCESS ? "CUDA_SUCCESS" : "CUDA_ERROR_FAKE";
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGetErrorString(CUresult r, const char **s)
{
    *s = r == CUDA_SUCCESS ? "no error" : "fake driver error";
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags,
                                    CUdriverProcAddressQueryResult *status);

/* What cuGetProcAddress_v2 hands out: base names, as the runtime asks. */
static const struct {
    const char *name;
    void *fn;
} procs[] = {
#define P(name, fn) {name, (void *)fn}
    P("cuInit", cuInit),
    P("cuDriverGetVersion", cuDriverGetVersion),
    P("cuDeviceGetCount", cuDeviceGetCount),
    P("cuDeviceGet", cuDeviceGet),
    P("cuDeviceGetName", cuDeviceGetName),
    P("cuDeviceTotalMem", cuDeviceTotalMem_v2),
    P("cuDeviceGetAttribute", cuDeviceGetAttribute),
    P("cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain),
    P("cuDevicePrimaryCtxRelease", cuDevicePrimaryCtxRelease_v2),
    P("cuCtxSetCurrent", cuCtxSetCurrent),
    P("cuCtxGetCurrent", cuCtxGetCurrent),
    P("cuCtxGetDevice", cuCtxGetDevice),
    P("cuCtxSynchronize", cuCtxSynchronize),
    P("cuModuleLoadData", cuModuleLoadData),
    P("cuModuleUnload", cuModuleUnload),
    P("cuModuleGetFunction", cuModuleGetFunction),
    P("cuFuncGetName", cuFuncGetName),
    P("cuLaunchKernel", cuLaunchKernel),
    P("cuMemAlloc", cuMemAlloc_v2),
    P("cuMemFree", cuMemFree_v2),
    P("cuMemcpyHtoD", cuMemcpyHtoD_v2),
    P("cuMemcpyDtoH", cuMemcpyDtoH_v2),
    P("cuMemcpyDtoD", cuMemcpyDtoD_v2),
    P("cuMemsetD8", cuMemsetD8_v2),
    P("cuMemsetD32", cuMemsetD32_v2),
    P("cuStreamCreate", cuStreamCreate),
    P("cuStreamDestroy", cuStreamDestroy_v2),
    P("cuStreamSynchronize", cuStreamSynchronize),
    P("cuProfilerStart", cuProfilerStart),
    P("cuProfilerStop", cuProfilerStop),
    P("cuGetErrorName", cuGetErrorName),
    P("cuGetErrorString", cuGetErrorString),
    P("cuGetProcAddress", cuGetProcAddress_v2),
#undef P
};

EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags,
                                    CUdriverProcAddressQueryResult *status)
{
    (void)version, (void)flags;
    for (size_t i = 0; i < sizeof procs / sizeof procs[0]; i++) {
        if (strcmp(procs[i].name, symbol) == 0) {
            *pfn = procs[i].fn;
            if (status)
                *status = CU_GET_PROC_ADDRESS_SUCCESS;
            return CUDA_SUCCESS;
        }
    }
    *pfn = NULL;
    if (status)
        *status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return CUDA_ERROR_NOT_FOUND;
}
