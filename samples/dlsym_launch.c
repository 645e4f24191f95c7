/*
 * dlsym_launch: the way Triton and parts of PyTorch reach the driver:
 * dlopen("libcuda.so.1") and dlsym every function; the program does not
 * link libcuda at all.
 *
 *   dlsym_launch [ITERATIONS]
 *
 * Each iteration launches dl_kernel with cuLaunchKernel and dl_kernel_ex with
 * cuLaunchKernelEx, and allocates and frees device and pinned host memory.
 */
#define _GNU_SOURCE
#include <cuda.h>
#include <dlfcn.h>
#include <stdlib.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("dl_kernel") PTX_KERNEL("dl_kernel_ex");

#define LOAD(h, var, name)                                                                         \
    __typeof__(&name) var = (__typeof__(&name))dlsym(h, #name);                                    \
    if (!var) {                                                                                    \
        fprintf(stderr, "dlsym_launch: no %s\n", #name);                                           \
        return 1;                                                                                  \
    }

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 10;
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlsym_launch: %s\n", dlerror());
        return 1;
    }
    LOAD(h, init, cuInit);
    LOAD(h, device_get, cuDeviceGet);
    LOAD(h, retain, cuDevicePrimaryCtxRetain);
    LOAD(h, set_current, cuCtxSetCurrent);
    LOAD(h, load, cuModuleLoadData);
    LOAD(h, get_function, cuModuleGetFunction);
    LOAD(h, launch, cuLaunchKernel);
    LOAD(h, launch_ex, cuLaunchKernelEx);
    LOAD(h, alloc, cuMemAlloc_v2);
    LOAD(h, free_, cuMemFree_v2);
    LOAD(h, alloc_host, cuMemAllocHost_v2);
    LOAD(h, free_host, cuMemFreeHost);
    LOAD(h, sync, cuCtxSynchronize);

    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction k, k_ex;
    CHECK(init(0));
    CHECK(device_get(&dev, 0));
    CHECK(retain(&ctx, dev));
    CHECK(set_current(ctx));
    CHECK(load(&mod, ptx));
    CHECK(get_function(&k, mod, "dl_kernel"));
    CHECK(get_function(&k_ex, mod, "dl_kernel_ex"));

    CUlaunchConfig config = {.gridDimX = 2,
                             .gridDimY = 2,
                             .gridDimZ = 1,
                             .blockDimX = 128,
                             .blockDimY = 1,
                             .blockDimZ = 1,
                             .sharedMemBytes = 256};
    for (int i = 0; i < iterations; i++) {
        step();
        CHECK(launch(k, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
        CHECK(launch_ex(&config, k_ex, NULL, NULL));
        CUdeviceptr d;
        void *p;
        CHECK(alloc(&d, 2048));
        CHECK(free_(d));
        CHECK(alloc_host(&p, 64));
        CHECK(free_host(p));
    }
    CHECK(sync());
    printf("dlsym_launch: iterations=%d launches=%d dl_kernel=%d dl_kernel_ex=%d allocs=%d\n",
           iterations, 2 * iterations, iterations, iterations, 2 * iterations);
    return 0;
}
