/*
 * runtime_launch: launches and allocations through the CUDA runtime API.
 *
 *   runtime_launch [ITERATIONS [STREAMS]]
 *
 * Each iteration: cudaLaunchKernel(rt_scale), cudaLaunchKernelExC(rt_add),
 * cudaGraphLaunch of a graph of three rt_scale kernels, and one each of
 * cudaMallocAsync/cudaFreeAsync, cudaMallocManaged/cudaFree,
 * cudaMallocHost/cudaFreeHost and cudaHostAlloc/cudaFreeHost.  With
 * STREAMS=2, rt_add and the graph run on a second stream that waits for an
 * event recorded after rt_scale, and the iteration ends waiting for an event
 * recorded after the graph and for the first stream.  rt_scale and rt_add
 * stand for kernels: their host symbols name them, as nvcc's stubs do.
 */
#include <cuda_runtime_api.h>
#include <stdlib.h>

#include "common.h"

__attribute__((noinline)) void rt_scale(void)
{
    __asm__ volatile("");
}

__attribute__((noinline)) void rt_add(void)
{
    __asm__ volatile("nop");
}

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 10;
    int streams = argc > 2 ? atoi(argv[2]) : 1;
    int launches = 0, allocs = 0;
    cudaStream_t stream = NULL, second = NULL;
    cudaEvent_t scaled = NULL, done = NULL;
    if (streams > 1) {
        CHECK(cudaStreamCreate(&stream));
        CHECK(cudaStreamCreate(&second));
        CHECK(cudaEventCreate(&scaled));
        CHECK(cudaEventCreate(&done));
    }
    cudaGraph_t graph;
    cudaGraphNode_t node;
    cudaGraphExec_t exec;
    struct cudaKernelNodeParams node_params = {
        .func = (void *)rt_scale, .gridDim = {1, 1, 1}, .blockDim = {32, 1, 1}};
    CHECK(cudaGraphCreate(&graph, 0));
    for (int k = 0; k < 3; k++)
        CHECK(cudaGraphAddKernelNode(&node, graph, NULL, 0, &node_params));
    CHECK(cudaGraphInstantiate(&exec, graph, 0));
    for (int i = 0; i < iterations; i++) {
        step();
        dim3 grid = {4, 2, 1}, block = {64, 1, 1};
        CHECK(cudaLaunchKernel((const void *)rt_scale, grid, block, NULL, 0, stream));
        cudaStream_t next = stream;
        if (second) {
            CHECK(cudaEventRecord(scaled, stream));
            CHECK(cudaStreamWaitEvent(second, scaled, 0));
            next = second;
        }
        cudaLaunchConfig_t config = {
            .gridDim = {8, 1, 1}, .blockDim = {32, 4, 1}, .dynamicSmemBytes = 128, .stream = next};
        CHECK(cudaLaunchKernelExC(&config, (const void *)rt_add, NULL));
        CHECK(cudaGraphLaunch(exec, next));
        launches += 2;
        if (second) {
            CHECK(cudaEventRecord(done, second));
            CHECK(cudaEventSynchronize(done));
            CHECK(cudaStreamSynchronize(stream));
        }

        void *d, *m, *h1, *h2;
        CHECK(cudaMallocAsync(&d, 4096, stream));
        CHECK(cudaFreeAsync(d, stream));
        CHECK(cudaMallocManaged(&m, 8192, 1));
        CHECK(cudaFree(m));
        CHECK(cudaMallocHost(&h1, 512));
        CHECK(cudaFreeHost(h1));
        CHECK(cudaHostAlloc(&h2, 1024, 0));
        CHECK(cudaFreeHost(h2));
        allocs += 4;
    }
    CHECK(cudaDeviceSynchronize());
    printf("runtime_launch: iterations=%d launches=%d rt_scale=%d rt_add=%d graphs=%d allocs=%d "
           "frees=%d\n",
           iterations, launches, launches / 2, launches / 2, iterations, allocs, allocs);
    return 0;
}
