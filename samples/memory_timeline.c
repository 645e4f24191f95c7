/*
 * memory_timeline: a known sequence of device allocations and frees, one
 * of them made before the first iteration (so before a profiler started
 * with delay_iterations=1 records anything).
 *
 *   memory_timeline
 *
 * Before step 1: early = 1 MiB.  Then: a = 256 KiB, b = 512 KiB, free a,
 * c = 128 KiB, free b, free early, free c; and pinned host memory h = 64 KiB
 * allocated and freed.  Device bytes in use after each step:
 * 1 MiB+256K, +768K, +512K, +640K, +128K, 128K, 0.
 */
#include <cuda.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("timeline_kernel");

int main(void)
{
    CUfunction k;
    CHECK(load_kernel(ptx, "timeline_kernel", &k));
    CUdeviceptr early, a, b, c;
    void *h;
    CHECK(cuMemAlloc(&early, 1 << 20));
    step();
    CHECK(cuMemAlloc(&a, 256 << 10));
    CHECK(cuMemAlloc(&b, 512 << 10));
    CHECK(cuMemFree(a));
    CHECK(cuMemAlloc(&c, 128 << 10));
    CHECK(cuLaunchKernel(k, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
    CHECK(cuMemFree(b));
    CHECK(cuMemFree(early));
    CHECK(cuMemFree(c));
    CHECK(cuMemAllocHost(&h, 64 << 10));
    CHECK(cuMemFreeHost(h));
    step();
    printf("memory_timeline: done\n");
    return 0;
}
