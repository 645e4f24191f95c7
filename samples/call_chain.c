/*
 * call_chain: launches and allocations made through a known chain of
 * functions, some exported and some static, for checking host stacks.
 *
 *   call_chain [ITERATIONS]
 *
 * main -> outer_layer -> middle_layer (static) -> inner_launch -> cuLaunchKernel
 * main -> allocate_scratch (static) -> cuMemAlloc
 * Every iteration's launch comes from the same place, so it has the same stack.
 */
#include <cuda.h>
#include <stdlib.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("chain_kernel");
static CUfunction kernel;

__attribute__((noinline)) CUresult inner_launch(int i)
{
    CUresult r = cuLaunchKernel(kernel, 1 + (unsigned)(i % 2), 1, 1, 32, 1, 1, 0, NULL, NULL, NULL);
    __asm__ volatile("" ::: "memory"); /* not a tail call: keep this frame */
    return r;
}

__attribute__((noinline)) static CUresult middle_layer(int i)
{
    CUresult r = inner_launch(i);
    __asm__ volatile("" ::: "memory");
    return r;
}

__attribute__((noinline)) CUresult outer_layer(int i)
{
    CUresult r = middle_layer(i);
    __asm__ volatile("" ::: "memory");
    return r;
}

__attribute__((noinline)) static CUresult allocate_scratch(CUdeviceptr *p)
{
    CUresult r = cuMemAlloc(p, 1 << 20);
    __asm__ volatile("" ::: "memory");
    return r;
}

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 5;
    CHECK(load_kernel(ptx, "chain_kernel", &kernel));
    CUdeviceptr scratch;
    CHECK(allocate_scratch(&scratch));
    for (int i = 0; i < iterations; i++) {
        step();
        CHECK(outer_layer(i));
    }
    CHECK(cuCtxSynchronize());
    CHECK(cuMemFree(scratch));
    printf("call_chain: iterations=%d chain_kernel=%d\n", iterations, iterations);
    return 0;
}
