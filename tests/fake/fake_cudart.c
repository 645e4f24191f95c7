/*
 * A fake CUDA runtime, libcudart.so.13 (tests only), for the runtime calls
 * omniprof interposes.  Like the real runtime it reaches the driver only
 * through cuGetProcAddress_v2, itself taken with dlsym from libcuda.so.1,
 * never through the driver's symbol table: so interposed driver symbols do
 * not see runtime work, exactly as on a real machine.
 *
 * Kernels: a host function pointer given to cudaLaunchKernel stands for the
 * kernel named by its symbol (dladdr); the fake builds a one-entry PTX
 * module for it and launches that through the driver.
 */
#define _GNU_SOURCE
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <cupti_runtime_cbid.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "fake_tracer.h"

#define EXPORT __attribute__((visibility("default")))

/* The fake libcuda's link to the fake CUPTI (NULL until CUPTI subscribes). */
static const struct fake_tracer *(*tracer_of)(void);

/* Runs `call` between the entry and exit reports of runtime API `name`,
 * whose parameters (CUPTI's <name>_params layout) are at `params`. */
#define RT_TRACED_P(name, version, params, call)                                                   \
    do {                                                                                           \
        const struct fake_tracer *t_ = tracer_of ? tracer_of() : NULL;                             \
        uint64_t slot_ = 0;                                                                        \
        int cbid_ = CUPTI_RUNTIME_TRACE_CBID_##name##_##version;                                   \
        if (t_)                                                                                    \
            t_->api(FAKE_DOMAIN_RUNTIME, cbid_, #name, 0, &slot_, params);                         \
        cudaError_t r_ = (call);                                                                   \
        if (t_)                                                                                    \
            t_->api(FAKE_DOMAIN_RUNTIME, cbid_, #name, 1, &slot_, params);                         \
        return r_;                                                                                 \
    } while (0)
#define RT_TRACED(name, version, call) RT_TRACED_P(name, version, NULL, call)

typedef CUresult (*get_proc_fn)(const char *, void **, int, cuuint64_t,
                                CUdriverProcAddressQueryResult *);

static struct {
    CUresult (*init)(unsigned);
    CUresult (*retain)(CUcontext *, CUdevice);
    CUresult (*set_current)(CUcontext);
    CUresult (*alloc)(CUdeviceptr *, size_t);
    CUresult (*free_)(CUdeviceptr);
    CUresult (*sync)(void);
    CUresult (*alloc_async)(CUdeviceptr *, size_t, CUstream);
    CUresult (*free_async)(CUdeviceptr, CUstream);
    CUresult (*alloc_managed)(CUdeviceptr *, size_t, unsigned);
    CUresult (*alloc_host)(void **, size_t);
    CUresult (*free_host)(void *);
    CUresult (*load)(CUmodule *, const void *);
    CUresult (*get_function)(CUfunction *, CUmodule, const char *);
    CUresult (*launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                       unsigned, CUstream, void **, void **);
    CUresult (*graph_launch)(CUgraphExec, CUstream);
    CUresult (*func_attribute)(int *, CUfunction_attribute, CUfunction);
    CUresult (*graph_create)(CUgraph *, unsigned);
    CUresult (*graph_add_kernel)(CUgraphNode *, CUgraph, const CUgraphNode *, size_t,
                                 const CUDA_KERNEL_NODE_PARAMS *);
    CUresult (*graph_instantiate)(CUgraphExec *, CUgraph, unsigned long long);
    CUresult (*stream_create)(CUstream *, unsigned);
    CUresult (*stream_sync)(CUstream);
    CUresult (*event_create)(CUevent *, unsigned);
    CUresult (*event_destroy)(CUevent);
    CUresult (*event_record)(CUevent, CUstream);
    CUresult (*event_sync)(CUevent);
    CUresult (*stream_wait)(CUstream, CUevent, unsigned);
} drv;
static cudaError_t init_error = cudaSuccess;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *proc(get_proc_fn get, const char *name)
{
    void *fn = NULL;
    CUdriverProcAddressQueryResult status;
    get(name, &fn, CUDA_VERSION, CU_GET_PROC_ADDRESS_DEFAULT, &status);
    return fn;
}

static void init(void)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    get_proc_fn get = lib ? (get_proc_fn)dlsym(lib, "cuGetProcAddress_v2") : NULL;
    tracer_of = lib ? (const struct fake_tracer *(*)(void))dlsym(lib, "fake_cuda_tracer") : NULL;
    if (!get) {
        init_error = cudaErrorInsufficientDriver;
        return;
    }
    drv.init = proc(get, "cuInit");
    drv.retain = proc(get, "cuDevicePrimaryCtxRetain");
    drv.set_current = proc(get, "cuCtxSetCurrent");
    drv.alloc = proc(get, "cuMemAlloc");
    drv.free_ = proc(get, "cuMemFree");
    drv.sync = proc(get, "cuCtxSynchronize");
    drv.alloc_async = proc(get, "cuMemAllocAsync");
    drv.free_async = proc(get, "cuMemFreeAsync");
    drv.alloc_managed = proc(get, "cuMemAllocManaged");
    drv.alloc_host = proc(get, "cuMemAllocHost");
    drv.free_host = proc(get, "cuMemFreeHost");
    drv.load = proc(get, "cuModuleLoadData");
    drv.get_function = proc(get, "cuModuleGetFunction");
    drv.launch = proc(get, "cuLaunchKernel");
    drv.graph_launch = proc(get, "cuGraphLaunch");
    drv.func_attribute = proc(get, "cuFuncGetAttribute");
    drv.graph_create = proc(get, "cuGraphCreate");
    drv.graph_add_kernel = proc(get, "cuGraphAddKernelNode");
    drv.graph_instantiate = proc(get, "cuGraphInstantiateWithFlags");
    drv.stream_create = proc(get, "cuStreamCreate");
    drv.stream_sync = proc(get, "cuStreamSynchronize");
    drv.event_create = proc(get, "cuEventCreate");
    drv.event_destroy = proc(get, "cuEventDestroy");
    drv.event_record = proc(get, "cuEventRecord");
    drv.event_sync = proc(get, "cuEventSynchronize");
    drv.stream_wait = proc(get, "cuStreamWaitEvent");
    CUcontext ctx;
    if (!drv.init || !drv.retain || !drv.set_current || !drv.alloc || !drv.free_ || !drv.sync ||
        !drv.alloc_async || !drv.free_async || !drv.alloc_managed || !drv.alloc_host ||
        !drv.free_host || !drv.load || !drv.get_function || !drv.launch || !drv.graph_launch ||
        !drv.graph_create || !drv.graph_add_kernel || !drv.graph_instantiate ||
        !drv.func_attribute || !drv.stream_create || !drv.stream_sync || !drv.event_create ||
        !drv.event_destroy || !drv.event_record || !drv.event_sync || !drv.stream_wait ||
        drv.init(0) != CUDA_SUCCESS || drv.retain(&ctx, 0) != CUDA_SUCCESS ||
        drv.set_current(ctx) != CUDA_SUCCESS)
        init_error = cudaErrorInitializationError;
}

static cudaError_t ready(void)
{
    pthread_once(&once, init);
    return init_error;
}

EXPORT cudaError_t cudaMalloc(void **ptr, size_t bytes)
{
    cudaError_t e = ready();
    if (e != cudaSuccess)
        return e;
    CUdeviceptr p;
    if (drv.alloc(&p, bytes) != CUDA_SUCCESS)
        return cudaErrorMemoryAllocation;
    *ptr = (void *)(uintptr_t)p;
    return cudaSuccess;
}

EXPORT cudaError_t cudaFree(void *ptr)
{
    cudaError_t e = ready();
    if (e != cudaSuccess)
        return e;
    return drv.free_((CUdeviceptr)(uintptr_t)ptr) == CUDA_SUCCESS ? cudaSuccess
                                                                  : cudaErrorInvalidValue;
}

EXPORT cudaError_t cudaGetDevice(int *device)
{
    cudaError_t e = ready();
    if (e == cudaSuccess)
        *device = 0;
    return e;
}

static cudaError_t device_sync(void)
{
    cudaError_t e = ready();
    return e != cudaSuccess ? e : drv.sync() == CUDA_SUCCESS ? cudaSuccess : cudaErrorUnknown;
}

EXPORT cudaError_t cudaDeviceSynchronize(void)
{
    RT_TRACED(cudaDeviceSynchronize, v3020, device_sync());
}

EXPORT const char *cudaGetErrorString(cudaError_t e)
{
    return e == cudaSuccess ? "no error" : "fake runtime error";
}

#define CHECK_READY()                                                                              \
    do {                                                                                           \
        cudaError_t e_ = ready();                                                                  \
        if (e_ != cudaSuccess)                                                                     \
            return e_;                                                                             \
    } while (0)

static cudaError_t from(CUresult r)
{
    return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorUnknown;
}

EXPORT cudaError_t cudaMallocAsync(void **ptr, size_t bytes, cudaStream_t s)
{
    CHECK_READY();
    CUdeviceptr p;
    CUresult r = drv.alloc_async(&p, bytes, (CUstream)s);
    if (r == CUDA_SUCCESS)
        *ptr = (void *)(uintptr_t)p;
    return from(r);
}

EXPORT cudaError_t cudaFreeAsync(void *ptr, cudaStream_t s)
{
    CHECK_READY();
    return from(drv.free_async((CUdeviceptr)(uintptr_t)ptr, (CUstream)s));
}

EXPORT cudaError_t cudaMallocManaged(void **ptr, size_t bytes, unsigned flags)
{
    CHECK_READY();
    CUdeviceptr p;
    CUresult r = drv.alloc_managed(&p, bytes, flags);
    if (r == CUDA_SUCCESS)
        *ptr = (void *)(uintptr_t)p;
    return from(r);
}

EXPORT cudaError_t cudaMallocHost(void **ptr, size_t bytes)
{
    CHECK_READY();
    return from(drv.alloc_host(ptr, bytes));
}

EXPORT cudaError_t cudaHostAlloc(void **ptr, size_t bytes, unsigned flags)
{
    (void)flags;
    return cudaMallocHost(ptr, bytes);
}

EXPORT cudaError_t cudaFreeHost(void *ptr)
{
    CHECK_READY();
    return from(drv.free_host(ptr));
}

EXPORT cudaError_t cudaFuncGetName(const char **name, const void *func)
{
    Dl_info info;
    if (!func || !dladdr(func, &info) || !info.dli_sname || info.dli_saddr != func)
        return cudaErrorInvalidDeviceFunction;
    *name = info.dli_sname;
    return cudaSuccess;
}

/* The CUfunction standing for a host stub, made on first use. */
static CUfunction kernel_of(const void *func)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static struct {
        const void *func;
        CUfunction f;
    } known[64];
    static int n_known;
    CUfunction f = NULL;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < n_known && !f; i++)
        if (known[i].func == func)
            f = known[i].f;
    const char *name;
    if (!f && n_known < 64 && cudaFuncGetName(&name, func) == cudaSuccess) {
        char ptx[512];
        snprintf(ptx, sizeof ptx,
                 ".version 8.0\n.target sm_80\n.address_size 64\n"
                 ".visible .entry %s()\n{\n    ret;\n}\n",
                 name);
        CUmodule m;
        if (drv.load(&m, ptx) == CUDA_SUCCESS && drv.get_function(&f, m, name) == CUDA_SUCCESS)
            known[n_known++] = (typeof(known[0])){func, f};
        else
            f = NULL;
    }
    pthread_mutex_unlock(&lock);
    return f;
}

static cudaError_t launch(const void *func, dim3 grid, dim3 block, void **args, size_t shared,
                          cudaStream_t stream)
{
    CHECK_READY();
    CUfunction f = kernel_of(func);
    if (!f)
        return cudaErrorInvalidDeviceFunction;
    return from(drv.launch(f, grid.x, grid.y, grid.z, block.x, block.y, block.z, (unsigned)shared,
                           (CUstream)stream, args, NULL));
}

EXPORT cudaError_t cudaLaunchKernel(const void *func, dim3 grid, dim3 block, void **args,
                                    size_t shared, cudaStream_t stream)
{
    RT_TRACED(cudaLaunchKernel, v7000, launch(func, grid, block, args, shared, stream));
}

EXPORT cudaError_t cudaLaunchKernelExC(const cudaLaunchConfig_t *c, const void *func, void **args)
{
    if (!c)
        return cudaErrorInvalidValue;
    RT_TRACED(cudaLaunchKernelExC, v11060,
              launch(func, c->gridDim, c->blockDim, args, c->dynamicSmemBytes, c->stream));
}

static cudaError_t graph_launch(cudaGraphExec_t exec, cudaStream_t stream)
{
    CHECK_READY();
    return from(drv.graph_launch((CUgraphExec)exec, (CUstream)stream));
}

EXPORT cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream)
{
    /* cudaGraphLaunch_v10000_params */
    struct {
        cudaGraphExec_t exec;
        cudaStream_t stream;
    } p = {exec, stream};
    RT_TRACED_P(cudaGraphLaunch, v10000, &p, graph_launch(exec, stream));
}

EXPORT cudaError_t cudaGraphCreate(cudaGraph_t *graph, unsigned flags)
{
    CHECK_READY();
    return from(drv.graph_create((CUgraph *)graph, flags));
}

EXPORT cudaError_t cudaGraphAddKernelNode(cudaGraphNode_t *node, cudaGraph_t graph,
                                          const cudaGraphNode_t *deps, size_t n_deps,
                                          const struct cudaKernelNodeParams *p)
{
    CHECK_READY();
    CUfunction f = p ? kernel_of(p->func) : NULL;
    if (!f)
        return cudaErrorInvalidDeviceFunction;
    CUDA_KERNEL_NODE_PARAMS kp = {.func = f,
                                  .gridDimX = p->gridDim.x,
                                  .gridDimY = p->gridDim.y,
                                  .gridDimZ = p->gridDim.z,
                                  .blockDimX = p->blockDim.x,
                                  .blockDimY = p->blockDim.y,
                                  .blockDimZ = p->blockDim.z,
                                  .sharedMemBytes = p->sharedMemBytes};
    return from(drv.graph_add_kernel((CUgraphNode *)node, (CUgraph)graph, (const CUgraphNode *)deps,
                                     n_deps, &kp));
}

EXPORT cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph,
                                        unsigned long long flags)
{
    CHECK_READY();
    return from(drv.graph_instantiate((CUgraphExec *)exec, (CUgraph)graph, flags));
}

EXPORT cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *attr, const void *func)
{
    CHECK_READY();
    CUfunction f = kernel_of(func);
    if (!f)
        return cudaErrorInvalidDeviceFunction;
    int regs = 0, shared = 0;
    drv.func_attribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, f);
    drv.func_attribute(&shared, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f);
    memset(attr, 0, sizeof *attr);
    attr->numRegs = regs;
    attr->sharedSizeBytes = (size_t)shared;
    attr->maxThreadsPerBlock = 1024;
    return cudaSuccess;
}

/* ---- streams and events ------------------------------------------------------ */

EXPORT cudaError_t cudaRuntimeGetVersion(int *version)
{
    *version = CUDART_VERSION;
    return cudaSuccess;
}

EXPORT cudaError_t cudaStreamCreate(cudaStream_t *stream)
{
    CHECK_READY();
    return from(drv.stream_create((CUstream *)stream, 0));
}

static cudaError_t stream_sync(cudaStream_t stream)
{
    CHECK_READY();
    return from(drv.stream_sync((CUstream)stream));
}

EXPORT cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    RT_TRACED(cudaStreamSynchronize, v3020, stream_sync(stream));
}

EXPORT cudaError_t cudaEventCreate(cudaEvent_t *event)
{
    CHECK_READY();
    return from(drv.event_create((CUevent *)event, 0));
}

EXPORT cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    CHECK_READY();
    return from(drv.event_destroy((CUevent)event));
}

static cudaError_t event_record(cudaEvent_t event, cudaStream_t stream)
{
    CHECK_READY();
    return from(drv.event_record((CUevent)event, (CUstream)stream));
}

EXPORT cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
    RT_TRACED(cudaEventRecord, v3020, event_record(event, stream));
}

static cudaError_t event_sync(cudaEvent_t event)
{
    CHECK_READY();
    return from(drv.event_sync((CUevent)event));
}

EXPORT cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
    RT_TRACED(cudaEventSynchronize, v3020, event_sync(event));
}

static cudaError_t stream_wait(cudaStream_t stream, cudaEvent_t event, unsigned flags)
{
    CHECK_READY();
    return from(drv.stream_wait((CUstream)stream, (CUevent)event, flags));
}

EXPORT cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags)
{
    RT_TRACED(cudaStreamWaitEvent, v3020, stream_wait(stream, event, flags));
}
