/*
 * ns per cuLaunchKernel, as seen by the calling program.  Run it bare, with
 * libomniprof.so preloaded but idle, and preloaded while recording
 * (tests/bench/run.sh does all three against the fake driver).  Prints
 * numbers; asserts nothing about time.
 *
 *   bench_launch [LAUNCHES] [ROUNDS]   -> "bench_launch: <best ns/launch> ..."
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char ptx[] = ".version 8.0\n.target sm_80\n.address_size 64\n"
                          ".visible .entry bench_kernel()\n{\n    ret;\n}\n";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction fn;
    if (cuInit(0) || cuDeviceGet(&dev, 0) || cuDevicePrimaryCtxRetain(&ctx, dev) ||
        cuCtxSetCurrent(ctx) || cuModuleLoadData(&mod, ptx) ||
        cuModuleGetFunction(&fn, mod, "bench_kernel")) {
        fprintf(stderr, "bench_launch: CUDA setup failed\n");
        return 1;
    }
    double best = 1e30, sum = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ns();
        for (long i = 0; i < n; i++)
            if (cuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL) != CUDA_SUCCESS)
                return 1;
        double per = (now_ns() - t0) / (double)n;
        best = per < best ? per : best;
        sum += per;
    }
    cuCtxSynchronize();
    printf("bench_launch: best %.1f ns/launch, mean %.1f ns/launch (%d rounds x %ld launches)\n",
           best, sum / rounds, rounds, n);
    return 0;
}
