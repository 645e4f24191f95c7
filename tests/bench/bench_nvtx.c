/*
 * ns per NVTX range, as seen by the calling program: a loop of
 * nvtxRangePushA / cuLaunchKernel / nvtxRangePop, against the same loop
 * without the range.  Run it bare (no NVTX tool: NVTX's own no-op), with
 * libomniprof.so preloaded but idle, and preloaded while recording
 * (tests/bench/run.sh does all three against the fake driver).  Prints
 * numbers; asserts nothing about time.  With "startend", the range is
 * nvtxRangeStartA / nvtxRangeEnd instead.
 *
 *   bench_nvtx [ITERATIONS] [ROUNDS] [startend]
 *   -> "bench_nvtx: range <best ns> ns (push+launch+pop <ns>, launch <ns>) ..."
 */
#include <cuda.h>
#include <nvtx3/nvToolsExt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char ptx[] = ".version 8.0\n.target sm_80\n.address_size 64\n"
                          ".visible .entry bench_kernel()\n{\n    ret;\n}\n";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int start_end; /* ranges by nvtxRangeStartA/End, not push/pop */

/* ns per iteration of n launches, with or without a range around each. */
static double loop(CUfunction fn, long n, int ranged)
{
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        nvtxRangeId_t id = 0;
        if (ranged && start_end)
            id = nvtxRangeStartA("bench range");
        else if (ranged)
            nvtxRangePushA("bench range");
        if (cuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL) != CUDA_SUCCESS)
            return -1;
        if (ranged && start_end)
            nvtxRangeEnd(id);
        else if (ranged)
            nvtxRangePop();
    }
    return (now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    start_end = argc > 3 && strcmp(argv[3], "startend") == 0;
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction fn;
    if (cuInit(0) || cuDeviceGet(&dev, 0) || cuDevicePrimaryCtxRetain(&ctx, dev) ||
        cuCtxSetCurrent(ctx) || cuModuleLoadData(&mod, ptx) ||
        cuModuleGetFunction(&fn, mod, "bench_kernel")) {
        fprintf(stderr, "bench_nvtx: CUDA setup failed\n");
        return 1;
    }
    nvtxMarkA("bench_nvtx: NVTX initialised"); /* its tool, if any, attaches here */
    double best_ranged = 1e30, best_plain = 1e30;
    for (int r = 0; r < rounds; r++) {
        double plain = loop(fn, n, 0), ranged = loop(fn, n, 1);
        if (plain < 0 || ranged < 0)
            return 1;
        best_plain = plain < best_plain ? plain : best_plain;
        best_ranged = ranged < best_ranged ? ranged : best_ranged;
    }
    cuCtxSynchronize();
    printf("bench_nvtx: range %.1f ns (%s+launch+%s %.1f ns, launch %.1f ns; best of %d "
           "rounds x %ld)\n",
           best_ranged - best_plain, start_end ? "start" : "push", start_end ? "end" : "pop",
           best_ranged, best_plain, rounds, n);
    return 0;
}
