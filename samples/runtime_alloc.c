/*
 * runtime_alloc: a CUDA runtime-API program, unmodified by omniprof.
 *
 *   runtime_alloc [ITERATIONS]
 *
 * Each iteration marks a boundary (omni_step when omniprof is loaded),
 * allocates (i + 1) KiB with cudaMalloc and frees it.
 */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>

extern void omni_step(void) __attribute__((weak));

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 10;
    size_t total = 0;
    for (int i = 0; i < iterations; i++) {
        if (omni_step)
            omni_step();
        void *p = NULL;
        size_t bytes = (size_t)(i + 1) * 1024;
        cudaError_t e = cudaMalloc(&p, bytes);
        if (e != cudaSuccess) {
            fprintf(stderr, "runtime_alloc: cudaMalloc: %s\n", cudaGetErrorString(e));
            return 1;
        }
        total += bytes;
        if ((e = cudaFree(p)) != cudaSuccess) {
            fprintf(stderr, "runtime_alloc: cudaFree: %s\n", cudaGetErrorString(e));
            return 1;
        }
    }
    cudaDeviceSynchronize();
    printf("runtime_alloc: allocations=%d bytes=%zu\n", iterations, total);
    return 0;
}
