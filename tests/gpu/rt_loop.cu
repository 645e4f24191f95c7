// rt_loop: a CUDA runtime program for the GPU checks, built with nvcc
// twice: -cudart static and -cudart shared.
//   rt_loop N   -> N launches of rt_add and N of rt_scale, then a sync
#include <cstdio>
#include <cstdlib>

__global__ void rt_add(float *a, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) a[i] += 1.0f; }
__global__ void rt_scale(float *a, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) a[i] *= 0.5f; }

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    float *a;
    cudaMalloc(&a, 1 << 20);
    cudaMemset(a, 0, 1 << 20);
    for (int i = 0; i < n; i++) {
        rt_add<<<256, 256>>>(a, 1 << 18);
        rt_scale<<<256, 256>>>(a, 1 << 18);
    }
    cudaDeviceSynchronize();
    float h[4];
    cudaMemcpy(h, a, sizeof h, cudaMemcpyDeviceToHost);
    cudaFree(a);
    printf("rt_loop: launches=%d rt_add=%d rt_scale=%d\n", 2 * n, n, n);
    return cudaGetLastError() != cudaSuccess;
}
