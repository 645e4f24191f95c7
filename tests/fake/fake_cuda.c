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
 * It also runs the per-thread-default-stream (_ptsz) variants, graphs (a
 * graph is a list of kernels), async/managed/pinned and virtual memory, CUDA
 * events (record, synchronize, stream wait), and loads CUDA_INJECTION64_PATH
 * at the first cuInit as the real driver does.
 *
 * FAKE_CUDA_REPORT=PATH: at unload, append "launches=N profiler_start=N
 * profiler_stop=N allocs=N frees=N" to PATH.
 */
#define _GNU_SOURCE
#include <cuda.h>
#include <cupti_driver_cbid.h>
#undef cuGetProcAddress /* cuda.h maps it to _v2; the fake has both */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "fake_tracer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

struct fake_func {
    char name[512];
};

struct fake_module {
    int n;
    struct fake_func *funcs;
};

static _Atomic long launches, profiler_starts, profiler_stops, allocs, frees;

/* ---- reporting to the fake CUPTI -------------------------------------------- */

static const struct fake_tracer *_Atomic tracer;

EXPORT void fake_cuda_set_tracer(const struct fake_tracer *t)
{
    tracer = t;
}

EXPORT const struct fake_tracer *fake_cuda_tracer(void)
{
    return tracer;
}

/* Runs `call` between the entry and exit reports of driver API `name`,
 * whose parameters (CUPTI's <name>_params layout) are at `params`. */
#define TRACED_P(name, params, call)                                                               \
    do {                                                                                           \
        const struct fake_tracer *t_ = tracer;                                                     \
        uint64_t slot_ = 0;                                                                        \
        if (t_)                                                                                    \
            t_->api(FAKE_DOMAIN_DRIVER, CUPTI_DRIVER_TRACE_CBID_##name, #name, 0, &slot_, params); \
        CUresult r_ = (call);                                                                      \
        if (t_)                                                                                    \
            t_->api(FAKE_DOMAIN_DRIVER, CUPTI_DRIVER_TRACE_CBID_##name, #name, 1, &slot_, params); \
        return r_;                                                                                 \
    } while (0)
#define TRACED(name, call) TRACED_P(name, NULL, call)

/* Reports a synchronisation (the fake CUPTI waits for the fake GPU). */
static CUresult synchronised(int type, uint32_t stream, uint32_t event)
{
    const struct fake_tracer *t = tracer;
    if (t)
        t->sync(type, stream, event);
    return CUDA_SUCCESS;
}

/* CUPTI's stream ids: the legacy default stream is 7, as Kineto shows it. */
static uint32_t stream_id(CUstream s)
{
    return s ? (uint32_t)(((uintptr_t)s >> 4) & 0xffff) + 8 : 7;
}
static int initialised;
static struct {
    int dummy;
} primary_ctx;
static __thread CUcontext current;

/* The process's peak resident memory so far (VmHWM), in KiB; -1 unknown. */
static long vmhwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

/* A destructor, not atexit: it runs after every atexit handler (omniprof's
 * shutdown included), so the counts, and the peak memory, are final. */
__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("FAKE_CUDA_REPORT");
    if (!path)
        return;
    long peak = vmhwm_kb();
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    fprintf(f,
            "launches=%ld profiler_start=%ld profiler_stop=%ld allocs=%ld frees=%ld vmhwm_kb=%ld\n",
            atomic_load(&launches), atomic_load(&profiler_starts), atomic_load(&profiler_stops),
            atomic_load(&allocs), atomic_load(&frees), peak);
    fclose(f);
}

/* Like the real driver: a library named by CUDA_INJECTION64_PATH is
 * loaded at the first cuInit and its InitializeInjection is called. */
static void inject(void)
{
    const char *path = getenv("CUDA_INJECTION64_PATH");
    if (!path || !*path)
        return;
    void *lib = dlopen(path, RTLD_NOW);
    int (*init)(void) = lib ? (int (*)(void))dlsym(lib, "InitializeInjection") : NULL;
    if (!init || !init())
        fprintf(stderr, "fake libcuda: injection %s failed\n", path);
}

EXPORT CUresult cuInit(unsigned flags)
{
    (void)flags;
    if (!initialised) {
        initialised = 1;
        inject();
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
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR: *v = 2048; break;
    case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK: *v = 65536; break;
    case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR: *v = 65536; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *v = 49152; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = 232448; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR: *v = 233472; break;
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
    TRACED(cuCtxSynchronize,
           current ? synchronised(4, FAKE_NO_STREAM, 0) : CUDA_ERROR_INVALID_CONTEXT);
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

/* Deterministic attributes, so tests can check what omniprof reports:
 * registers = 16 + length of the name, static shared = 128 * (length % 4). */
EXPORT CUresult cuFuncGetAttribute(int *v, CUfunction_attribute attr, CUfunction fn)
{
    if (!fn)
        return CUDA_ERROR_INVALID_HANDLE;
    int len = (int)strlen(((struct fake_func *)fn)->name);
    switch (attr) {
    case CU_FUNC_ATTRIBUTE_NUM_REGS: *v = 16 + len; return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES: *v = 128 * (len % 4); return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; return CUDA_SUCCESS;
    default: *v = 0; return CUDA_SUCCESS;
    }
}

/* A launch: checked, counted, and reported as GPU work (graph: the id of
 * the graph it is a node of, 0 for none). */
static CUresult launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                       unsigned by, unsigned bz, unsigned shared, CUstream stream,
                       const uint32_t cluster[3], uint32_t graph)
{
    if (!current)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (!f || !gx || !gy || !gz || !bx || !by || !bz || bx * by * bz > 1024)
        return CUDA_ERROR_INVALID_VALUE;
    atomic_fetch_add_explicit(&launches, 1, memory_order_relaxed);
    const struct fake_tracer *t = tracer;
    if (t) {
        const char *name = ((struct fake_func *)f)->name;
        int len = (int)strlen(name);
        static const uint32_t none[3] = {0, 0, 0};
        t->kernel(name, (const uint32_t[3]){gx, gy, gz}, (const uint32_t[3]){bx, by, bz}, shared,
                  stream_id(stream), 16 + len, 128 * (len % 4), cluster ? cluster : none, graph);
    }
    return CUDA_SUCCESS;
}

EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                               unsigned by, unsigned bz, unsigned shared, CUstream stream,
                               void **params, void **extra)
{
    (void)params, (void)extra;
    TRACED(cuLaunchKernel, launch(f, gx, gy, gz, bx, by, bz, shared, stream, NULL, 0));
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

/* CUPTI's copy and memory kinds: 1 HtoD, 2 DtoH, 8 DtoD; 1 pageable, 3 device. */
static CUresult copy(void *dst, const void *src, size_t n, int kind, int src_kind, int dst_kind)
{
    memmove(dst, src, n);
    const struct fake_tracer *t = tracer;
    if (t)
        t->memcpy(kind, src_kind, dst_kind, n, 7);
    return CUDA_SUCCESS;
}

static CUresult set32(CUdeviceptr dst, unsigned v, size_t n, size_t elem)
{
    if (elem == 1)
        memset((void *)(uintptr_t)dst, (int)v, n);
    for (size_t i = 0; elem == 4 && i < n; i++)
        ((unsigned *)(uintptr_t)dst)[i] = v;
    const struct fake_tracer *t = tracer;
    if (t)
        t->memset(v, n * elem, 7);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n)
{
    TRACED(cuMemcpyHtoD_v2, copy((void *)(uintptr_t)dst, src, n, 1, 1, 3));
}

EXPORT CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n)
{
    TRACED(cuMemcpyDtoH_v2, copy(dst, (const void *)(uintptr_t)src, n, 2, 3, 1));
}

EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
    TRACED(cuMemcpyDtoD_v2, copy((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n, 8, 3, 3));
}

EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n)
{
    TRACED(cuMemsetD8_v2, set32(dst, v, n, 1));
}

EXPORT CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned v, size_t n)
{
    TRACED(cuMemsetD32_v2, set32(dst, v, n, 4));
}

EXPORT CUresult cuStreamCreate(CUstream *s, unsigned flags)
{
    (void)flags;
    static _Atomic uintptr_t next = 0x100;
    *s = (CUstream)atomic_fetch_add(&next, 0x10);
    return CUDA_SUCCESS;
}

/* The id CUPTI's records carry for the stream. */
EXPORT CUresult cuStreamGetId(CUstream s, unsigned long long *id)
{
    if (!id)
        return CUDA_ERROR_INVALID_VALUE;
    *id = stream_id(s);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamDestroy_v2(CUstream s)
{
    (void)s;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamSynchronize(CUstream s)
{
    TRACED(cuStreamSynchronize, synchronised(3, stream_id(s), 0));
}

/* CUDA events: a number each, as CUPTI's event ids are. */
struct fake_event {
    uint32_t id;
};

EXPORT CUresult cuEventCreate(CUevent *e, unsigned flags)
{
    (void)flags;
    static _Atomic uint32_t next_event;
    struct fake_event *fe = malloc(sizeof *fe);
    if (!fe)
        return CUDA_ERROR_OUT_OF_MEMORY;
    fe->id = atomic_fetch_add(&next_event, 1) + 1;
    *e = (CUevent)fe;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuEventDestroy_v2(CUevent e)
{
    free(e);
    return CUDA_SUCCESS;
}

static CUresult event_record(CUevent e, CUstream s)
{
    if (!e)
        return CUDA_ERROR_INVALID_HANDLE;
    const struct fake_tracer *t = tracer;
    if (t)
        t->event_record(((struct fake_event *)e)->id, stream_id(s));
    return CUDA_SUCCESS;
}

EXPORT CUresult cuEventRecord(CUevent e, CUstream s)
{
    TRACED(cuEventRecord, event_record(e, s));
}

EXPORT CUresult cuEventSynchronize(CUevent e)
{
    TRACED(cuEventSynchronize, e ? synchronised(1, FAKE_NO_STREAM, ((struct fake_event *)e)->id)
                                 : CUDA_ERROR_INVALID_HANDLE);
}

EXPORT CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned flags)
{
    (void)flags;
    TRACED(cuStreamWaitEvent, e ? synchronised(2, stream_id(s), ((struct fake_event *)e)->id)
                                : CUDA_ERROR_INVALID_HANDLE);
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

/* ---- launch variants, graphs, more memory -------------------------------- */

EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                                    unsigned bx, unsigned by, unsigned bz, unsigned shared,
                                    CUstream stream, void **params, void **extra)
{
    (void)params, (void)extra;
    TRACED(cuLaunchKernel_ptsz, launch(f, gx, gy, gz, bx, by, bz, shared, stream, NULL, 0));
}

static CUresult launch_ex(const CUlaunchConfig *c, CUfunction f)
{
    if (!c)
        return CUDA_ERROR_INVALID_VALUE;
    uint32_t cluster[3] = {0, 0, 0};
    for (unsigned i = 0; c->attrs && i < c->numAttrs; i++)
        if (c->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION) {
            cluster[0] = c->attrs[i].value.clusterDim.x;
            cluster[1] = c->attrs[i].value.clusterDim.y;
            cluster[2] = c->attrs[i].value.clusterDim.z;
        }
    return launch(f, c->gridDimX, c->gridDimY, c->gridDimZ, c->blockDimX, c->blockDimY,
                  c->blockDimZ, c->sharedMemBytes, c->hStream, cluster, 0);
}

EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *c, CUfunction f, void **params, void **extra)
{
    (void)params, (void)extra;
    TRACED(cuLaunchKernelEx, launch_ex(c, f));
}

EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *c, CUfunction f, void **params,
                                      void **extra)
{
    (void)params, (void)extra;
    TRACED(cuLaunchKernelEx_ptsz, launch_ex(c, f));
}

EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                                          unsigned bx, unsigned by, unsigned bz, unsigned shared,
                                          CUstream stream, void **params)
{
    (void)params;
    TRACED(cuLaunchCooperativeKernel, launch(f, gx, gy, gz, bx, by, bz, shared, stream, NULL, 0));
}

EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                                               unsigned bx, unsigned by, unsigned bz,
                                               unsigned shared, CUstream stream, void **params)
{
    (void)params;
    TRACED(cuLaunchCooperativeKernel_ptsz,
           launch(f, gx, gy, gz, bx, by, bz, shared, stream, NULL, 0));
}

/* A graph is a list of kernels; launching one runs them all. */
struct fake_graph {
    uint32_t id; /* CUPTI's graph id of its kernels */
    int kernels;
    CUDA_KERNEL_NODE_PARAMS nodes[64];
};

EXPORT CUresult cuGraphCreate(CUgraph *g, unsigned flags)
{
    (void)flags;
    static _Atomic uint32_t next_graph;
    struct fake_graph *fg = calloc(1, sizeof *fg);
    if (!fg)
        return CUDA_ERROR_OUT_OF_MEMORY;
    fg->id = atomic_fetch_add(&next_graph, 1) + 1;
    *g = (CUgraph)fg;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGraphAddKernelNode_v2(CUgraphNode *node, CUgraph g, const CUgraphNode *deps,
                                        size_t n_deps, const CUDA_KERNEL_NODE_PARAMS *params)
{
    (void)deps, (void)n_deps;
    struct fake_graph *fg = (struct fake_graph *)g;
    if (fg->kernels == 64 || !params || !params->func)
        return CUDA_ERROR_INVALID_VALUE;
    fg->nodes[fg->kernels++] = *params;
    *node = (CUgraphNode)(uintptr_t)fg->kernels;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec *exec, CUgraph g, unsigned long long flags)
{
    (void)flags;
    *exec = (CUgraphExec)g;
    return CUDA_SUCCESS;
}

static CUresult graph_launch(CUgraphExec exec, CUstream stream)
{
    if (!current)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (!exec)
        return CUDA_ERROR_INVALID_VALUE;
    const struct fake_graph *g = (const struct fake_graph *)exec;
    for (int i = 0; i < g->kernels; i++) {
        const CUDA_KERNEL_NODE_PARAMS *n = &g->nodes[i];
        launch(n->func, n->gridDimX, n->gridDimY, n->gridDimZ, n->blockDimX, n->blockDimY,
               n->blockDimZ, n->sharedMemBytes, stream, NULL, g->id);
    }
    return CUDA_SUCCESS;
}

/* cuGraphLaunch_params, as CUPTI hands a callback the call's parameters. */
struct graph_launch_params {
    CUgraphExec exec;
    CUstream stream;
};

EXPORT CUresult cuGraphLaunch(CUgraphExec exec, CUstream stream)
{
    struct graph_launch_params p = {exec, stream};
    TRACED_P(cuGraphLaunch, &p, graph_launch(exec, stream));
}

EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec exec, CUstream stream)
{
    struct graph_launch_params p = {exec, stream};
    TRACED_P(cuGraphLaunch_ptsz, &p, graph_launch(exec, stream));
}

EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *p, size_t *pitch, size_t width, size_t height,
                                   unsigned elem)
{
    (void)elem;
    *pitch = (width + 255) & ~(size_t)255;
    return cuMemAlloc_v2(p, *pitch * height);
}

EXPORT CUresult cuMemAllocAsync(CUdeviceptr *p, size_t bytes, CUstream s)
{
    (void)s;
    return cuMemAlloc_v2(p, bytes);
}

EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *p, size_t bytes, CUstream s)
{
    return cuMemAllocAsync(p, bytes, s);
}

EXPORT CUresult cuMemFreeAsync(CUdeviceptr p, CUstream s)
{
    (void)s;
    return cuMemFree_v2(p);
}

EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr p, CUstream s)
{
    return cuMemFreeAsync(p, s);
}

EXPORT CUresult cuMemAllocManaged(CUdeviceptr *p, size_t bytes, unsigned flags)
{
    (void)flags;
    return cuMemAlloc_v2(p, bytes);
}

EXPORT CUresult cuMemAllocHost_v2(void **p, size_t bytes)
{
    *p = calloc(1, bytes ? bytes : 1);
    if (!*p)
        return CUDA_ERROR_OUT_OF_MEMORY;
    atomic_fetch_add(&allocs, 1);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemHostAlloc(void **p, size_t bytes, unsigned flags)
{
    (void)flags;
    return cuMemAllocHost_v2(p, bytes);
}

EXPORT CUresult cuMemFreeHost(void *p)
{
    free(p);
    atomic_fetch_add(&frees, 1);
    return CUDA_SUCCESS;
}

/* Virtual memory: handles are heap blocks, reservations are plain numbers. */
EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *h, size_t size,
                            const CUmemAllocationProp *prop, unsigned long long flags)
{
    (void)prop, (void)flags;
    void *m = calloc(1, size ? size : 1);
    if (!m)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *h = (CUmemGenericAllocationHandle)(uintptr_t)m;
    atomic_fetch_add(&allocs, 1);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle h)
{
    free((void *)(uintptr_t)h);
    atomic_fetch_add(&frees, 1);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemAddressReserve(CUdeviceptr *p, size_t size, size_t align, CUdeviceptr addr,
                                    unsigned long long flags)
{
    (void)align, (void)addr, (void)flags;
    static _Atomic uint64_t next = 0x7f0000000000ull;
    *p = (CUdeviceptr)atomic_fetch_add(&next, (size + 0xfffff) & ~0xfffffull);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemAddressFree(CUdeviceptr p, size_t size)
{
    (void)p, (void)size;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemMap(CUdeviceptr p, size_t size, size_t offset, CUmemGenericAllocationHandle h,
                         unsigned long long flags)
{
    (void)size, (void)offset, (void)flags;
    return p && h ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult cuMemUnmap(CUdeviceptr p, size_t size)
{
    (void)size;
    return p ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* ---- cuGetProcAddress ------------------------------------------------------ */

EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags,
                                    CUdriverProcAddressQueryResult *status);
EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, cuuint64_t flags);

/* What cuGetProcAddress hands out, by base name as the runtime asks: the
 * per-thread-default-stream variant when flags ask for it, and the newest
 * variant not newer than the caller's cudaVersion. */
static const struct proc {
    const char *name;
    int min_version;
    int ptsz; /* -1: no stream variants; 0: legacy; 1: per-thread */
    void *fn;
} procs[] = {
#define P(name, fn)                                                                                \
    {                                                                                              \
        name, 0, -1, (void *)fn                                                                    \
    }
#define V(name, version, fn)                                                                       \
    {                                                                                              \
        name, version, -1, (void *)fn                                                              \
    }
#define S(name, ptsz, fn)                                                                          \
    {                                                                                              \
        name, 0, ptsz, (void *)fn                                                                  \
    }
    P("cuInit", cuInit),
    P("cuDriverGetVersion", cuDriverGetVersion),
    P("cuDeviceGetCount", cuDeviceGetCount),
    P("cuDeviceGet", cuDeviceGet),
    P("cuDeviceGetName", cuDeviceGetName),
    V("cuDeviceTotalMem", 3020, cuDeviceTotalMem_v2),
    P("cuDeviceGetAttribute", cuDeviceGetAttribute),
    P("cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain),
    V("cuDevicePrimaryCtxRelease", 11000, cuDevicePrimaryCtxRelease_v2),
    P("cuCtxSetCurrent", cuCtxSetCurrent),
    P("cuCtxGetCurrent", cuCtxGetCurrent),
    P("cuCtxGetDevice", cuCtxGetDevice),
    P("cuCtxSynchronize", cuCtxSynchronize),
    P("cuModuleLoadData", cuModuleLoadData),
    P("cuModuleUnload", cuModuleUnload),
    P("cuModuleGetFunction", cuModuleGetFunction),
    P("cuFuncGetName", cuFuncGetName),
    P("cuFuncGetAttribute", cuFuncGetAttribute),
    S("cuLaunchKernel", 0, cuLaunchKernel),
    S("cuLaunchKernel", 1, cuLaunchKernel_ptsz),
    S("cuLaunchKernelEx", 0, cuLaunchKernelEx),
    S("cuLaunchKernelEx", 1, cuLaunchKernelEx_ptsz),
    S("cuLaunchCooperativeKernel", 0, cuLaunchCooperativeKernel),
    S("cuLaunchCooperativeKernel", 1, cuLaunchCooperativeKernel_ptsz),
    S("cuGraphLaunch", 0, cuGraphLaunch),
    S("cuGraphLaunch", 1, cuGraphLaunch_ptsz),
    P("cuGraphCreate", cuGraphCreate),
    V("cuGraphAddKernelNode", 12000, cuGraphAddKernelNode_v2),
    P("cuGraphInstantiateWithFlags", cuGraphInstantiateWithFlags),
    V("cuMemAlloc", 3020, cuMemAlloc_v2),
    V("cuMemAllocPitch", 3020, cuMemAllocPitch_v2),
    V("cuMemFree", 3020, cuMemFree_v2),
    S("cuMemAllocAsync", 0, cuMemAllocAsync),
    S("cuMemAllocAsync", 1, cuMemAllocAsync_ptsz),
    S("cuMemFreeAsync", 0, cuMemFreeAsync),
    S("cuMemFreeAsync", 1, cuMemFreeAsync_ptsz),
    P("cuMemAllocManaged", cuMemAllocManaged),
    V("cuMemAllocHost", 3020, cuMemAllocHost_v2),
    P("cuMemHostAlloc", cuMemHostAlloc),
    P("cuMemFreeHost", cuMemFreeHost),
    P("cuMemCreate", cuMemCreate),
    P("cuMemRelease", cuMemRelease),
    P("cuMemAddressReserve", cuMemAddressReserve),
    P("cuMemAddressFree", cuMemAddressFree),
    P("cuMemMap", cuMemMap),
    P("cuMemUnmap", cuMemUnmap),
    V("cuMemcpyHtoD", 3020, cuMemcpyHtoD_v2),
    V("cuMemcpyDtoH", 3020, cuMemcpyDtoH_v2),
    V("cuMemcpyDtoD", 3020, cuMemcpyDtoD_v2),
    V("cuMemsetD8", 3020, cuMemsetD8_v2),
    V("cuMemsetD32", 3020, cuMemsetD32_v2),
    P("cuStreamCreate", cuStreamCreate),
    V("cuStreamDestroy", 4000, cuStreamDestroy_v2),
    P("cuStreamSynchronize", cuStreamSynchronize),
    P("cuEventCreate", cuEventCreate),
    V("cuEventDestroy", 4000, cuEventDestroy_v2),
    P("cuEventRecord", cuEventRecord),
    P("cuEventSynchronize", cuEventSynchronize),
    P("cuStreamWaitEvent", cuStreamWaitEvent),
    P("cuProfilerStart", cuProfilerStart),
    P("cuProfilerStop", cuProfilerStop),
    P("cuGetErrorName", cuGetErrorName),
    P("cuGetErrorString", cuGetErrorString),
    P("cuGetProcAddress", cuGetProcAddress),
    V("cuGetProcAddress", 12000, cuGetProcAddress_v2),
#undef P
#undef V
#undef S
};

EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags,
                                    CUdriverProcAddressQueryResult *status)
{
    int want_ptsz = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    const struct proc *best = NULL;
    bool name_known = false;
    for (size_t i = 0; i < sizeof procs / sizeof procs[0]; i++) {
        const struct proc *p = &procs[i];
        if (strcmp(p->name, symbol) != 0)
            continue;
        name_known = true;
        if (p->min_version > version || (p->ptsz >= 0 && p->ptsz != want_ptsz))
            continue;
        if (!best || p->min_version > best->min_version)
            best = p;
    }
    *pfn = best ? best->fn : NULL;
    if (status)
        *status = best         ? CU_GET_PROC_ADDRESS_SUCCESS
                  : name_known ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
                               : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return best ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, cuuint64_t flags)
{
    return cuGetProcAddress_v2(symbol, pfn, version, flags, NULL);
}
