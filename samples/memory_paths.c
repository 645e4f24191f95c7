/*
 * memory_paths: every kind of driver allocation a large framework makes —
 * pitched, stream-ordered, managed and pinned host memory, and the virtual
 * memory calls behind PyTorch's expandable segments (reserve an address
 * range, create physical memory, map, unmap, release) — plus cooperative
 * launches.
 *
 *   memory_paths [ITERATIONS]
 */
#include <cuda.h>
#include <stdlib.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("coop_kernel");

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 4;
    CUfunction coop;
    CUstream stream;
    CHECK(load_kernel(ptx, "coop_kernel", &coop));
    CHECK(cuStreamCreate(&stream, 0));

    const size_t granule = 2 << 20;
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    for (int i = 0; i < iterations; i++) {
        step();
        CUdeviceptr pitched, async, managed, va;
        size_t pitch;
        void *host;
        CUmemGenericAllocationHandle handle;
        CHECK(cuMemAllocPitch(&pitched, &pitch, 1000, 16, 4));
        CHECK(cuMemAllocAsync(&async, 1 << 20, stream));
        CHECK(cuMemAllocManaged(&managed, 4096, CU_MEM_ATTACH_GLOBAL));
        CHECK(cuMemHostAlloc(&host, 65536, 0));
        CHECK(cuMemAddressReserve(&va, 4 * granule, 0, 0, 0));
        CHECK(cuMemCreate(&handle, granule, &prop, 0));
        CHECK(cuMemMap(va, granule, 0, handle, 0));
        CHECK(cuLaunchCooperativeKernel(coop, 2, 1, 1, 64, 1, 1, 0, stream, NULL));
        CHECK(cuStreamSynchronize(stream));
        CHECK(cuMemUnmap(va, granule));
        CHECK(cuMemRelease(handle));
        CHECK(cuMemAddressFree(va, 4 * granule));
        CHECK(cuMemFreeHost(host));
        CHECK(cuMemFree(managed));
        CHECK(cuMemFreeAsync(async, stream));
        CHECK(cuMemFree(pitched));
    }
    printf("memory_paths: iterations=%d coop_kernel=%d\n", iterations, iterations);
    return 0;
}
