/*
 * A fake CUDA runtime, libcudart.so.13 (tests only), for the runtime calls
 * omniprof interposes.  Like the real runtime it reaches the driver only
 * through cuGetProcAddress_v2, itself taken with dlsym from libcuda.so.1,
 * never through the driver's symbol table: so interposed driver symbols do
 * not see runtime work, exactly as on a real machine.
 */
#define _GNU_SOURCE
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

#define EXPORT __attribute__((visibility("default")))

typedef CUresult (*get_proc_fn)(const char *, void **, int, cuuint64_t,
                                CUdriverProcAddressQueryResult *);

static struct {
    CUresult (*init)(unsigned);
    CUresult (*retain)(CUcontext *, CUdevice);
    CUresult (*set_current)(CUcontext);
    CUresult (*alloc)(CUdeviceptr *, size_t);
    CUresult (*free_)(CUdeviceptr);
    CUresult (*sync)(void);
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
    CUcontext ctx;
    if (!drv.init || !drv.retain || !drv.set_current || !drv.alloc || !drv.free_ || !drv.sync ||
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

EXPORT cudaError_t cudaDeviceSynchronize(void)
{
    cudaError_t e = ready();
    return e != cudaSuccess ? e : drv.sync() == CUDA_SUCCESS ? cudaSuccess : cudaErrorUnknown;
}

EXPORT const char *cudaGetErrorString(cudaError_t e)
{
    return e == cudaSuccess ? "no error" : "fake runtime error";
}
