/*
 * procaddr_launch: driver entry points from cuGetProcAddress, as the CUDA
 * runtime and PyTorch get them.
 *
 *   procaddr_launch [ITERATIONS]
 *
 * Each iteration launches pt_kernel through the per-thread-default-stream
 * cuLaunchKernel (CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM),
 * legacy_kernel through the legacy one, and a two-kernel graph through a
 * cuGraphLaunch obtained from a cuGetProcAddress that was itself obtained
 * through cuGetProcAddress; allocates with the cuMemAlloc that cudaVersion
 * 13000 selects (cuMemAlloc_v2); and allocates stream-ordered memory with a
 * per-thread cuMemAllocAsync from the original cuGetProcAddress, taken with
 * dlsym.
 */
#define _GNU_SOURCE
#include <cuda.h>
#include <dlfcn.h>
#include <stdlib.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("pt_kernel") PTX_KERNEL("legacy_kernel");

typedef CUresult (*get_proc_fn)(const char *, void **, int, cuuint64_t,
                                CUdriverProcAddressQueryResult *);

static void *get(get_proc_fn fn, const char *name, cuuint64_t flags)
{
    void *p = NULL;
    CUdriverProcAddressQueryResult status;
    if (fn(name, &p, CUDA_VERSION, flags, &status) != CUDA_SUCCESS || !p)
        fprintf(stderr, "procaddr_launch: no %s (status %d)\n", name, (int)status);
    return p;
}

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 10;
    CUfunction pt, legacy;
    CHECK(load_kernel(ptx, "pt_kernel", &pt));
    CHECK(load_kernel(ptx, "legacy_kernel", &legacy));

    /* cuGetProcAddress by symbol (cuda.h maps it to cuGetProcAddress_v2) */
    get_proc_fn by_symbol = cuGetProcAddress;
    CUresult (*launch_pt)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                          unsigned, CUstream, void **, void **) =
        get(by_symbol, "cuLaunchKernel", CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
    __typeof__(launch_pt) launch_legacy =
        get(by_symbol, "cuLaunchKernel", CU_GET_PROC_ADDRESS_LEGACY_STREAM);
    /* cuGetProcAddress through cuGetProcAddress */
    get_proc_fn nested = get(by_symbol, "cuGetProcAddress", CU_GET_PROC_ADDRESS_DEFAULT);
    CUresult (*mem_alloc)(CUdeviceptr *, size_t) =
        nested ? get(nested, "cuMemAlloc", CU_GET_PROC_ADDRESS_DEFAULT) : NULL;
    CUresult (*mem_free)(CUdeviceptr) =
        nested ? get(nested, "cuMemFree", CU_GET_PROC_ADDRESS_DEFAULT) : NULL;
    CUresult (*graph_launch)(CUgraphExec, CUstream) =
        nested ? get(nested, "cuGraphLaunch", CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) : NULL;
    /* the first cuGetProcAddress (no status argument), by dlsym */
    CUresult (*v1)(const char *, void **, int, cuuint64_t) =
        (__typeof__(v1))dlsym(RTLD_DEFAULT, "cuGetProcAddress");
    CUresult (*alloc_async)(CUdeviceptr *, size_t, CUstream) = NULL;
    CUresult (*free_async)(CUdeviceptr, CUstream) = NULL;
    if (v1) {
        v1("cuMemAllocAsync", (void **)&alloc_async, CUDA_VERSION,
           CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
        v1("cuMemFreeAsync", (void **)&free_async, CUDA_VERSION,
           CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
    }
    if (!launch_pt || !launch_legacy || !mem_alloc || !mem_free || !graph_launch || !alloc_async ||
        !free_async)
        return 1;

    CUgraph graph;
    CUgraphNode node;
    CUgraphExec exec;
    CUDA_KERNEL_NODE_PARAMS params = {.func = pt,
                                      .gridDimX = 1,
                                      .gridDimY = 1,
                                      .gridDimZ = 1,
                                      .blockDimX = 32,
                                      .blockDimY = 1,
                                      .blockDimZ = 1};
    CHECK(cuGraphCreate(&graph, 0));
    CHECK(cuGraphAddKernelNode(&node, graph, NULL, 0, &params));
    CHECK(cuGraphAddKernelNode(&node, graph, NULL, 0, &params));
    CHECK(cuGraphInstantiate(&exec, graph, 0));

    for (int i = 0; i < iterations; i++) {
        step();
        CHECK(launch_pt(pt, 2, 1, 1, 64, 1, 1, 0, NULL, NULL, NULL));
        CHECK(launch_legacy(legacy, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
        CHECK(graph_launch(exec, NULL));
        CUdeviceptr d;
        CHECK(mem_alloc(&d, 1 << 16));
        CHECK(mem_free(d));
        CHECK(alloc_async(&d, 1 << 12, NULL));
        CHECK(free_async(d, NULL));
    }
    CHECK(cuCtxSynchronize());
    printf("procaddr_launch: iterations=%d pt_kernel=%d legacy_kernel=%d graphs=%d allocs=%d\n",
           iterations, iterations, iterations, iterations, iterations);
    return 0;
}
