/*
 * shapes_launch: launches of known shapes — grids, blocks, dynamic shared
 * memory and, through cuLaunchKernelEx, thread-block clusters.
 *
 *   shapes_launch
 *
 * plain_kernel: grid (3,2,1), block (64,2,1), 512 B dynamic shared memory.
 * cluster_kernel: grid (4,2,1), block (128,1,1), 1 KiB, cluster (2,1,1).
 */
#include <cuda.h>

#include "common.h"

static const char ptx[] =
    ".version 8.0\n.target sm_90\n.address_size 64\n" PTX_KERNEL("plain_kernel")
        PTX_KERNEL("cluster_kernel");

int main(void)
{
    CUfunction plain, cluster;
    CHECK(load_kernel(ptx, "plain_kernel", &plain));
    CHECK(load_kernel(ptx, "cluster_kernel", &cluster));
    step();
    CHECK(cuLaunchKernel(plain, 3, 2, 1, 64, 2, 1, 512, NULL, NULL, NULL));
    CUlaunchAttribute attr = {.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION,
                              .value.clusterDim = {2, 1, 1}};
    CUlaunchConfig config = {.gridDimX = 4,
                             .gridDimY = 2,
                             .gridDimZ = 1,
                             .blockDimX = 128,
                             .blockDimY = 1,
                             .blockDimZ = 1,
                             .sharedMemBytes = 1024,
                             .attrs = &attr,
                             .numAttrs = 1};
    CHECK(cuLaunchKernelEx(&config, cluster, NULL, NULL));
    CHECK(cuCtxSynchronize());
    printf("shapes_launch: done\n");
    return 0;
}
