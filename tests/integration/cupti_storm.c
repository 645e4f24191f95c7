/*
 * cupti_storm: threads launching as fast as they can, for the tests and the
 * bench of omniprof's memory on the CUPTI path.
 *
 *   cupti_storm [THREADS [SECONDS [start]]]
 *
 * Each thread launches storm_kernel until SECONDS have passed.  Then, with
 * "start", the program calls omniprof_start (when omniprof is loaded): a
 * session toggled by signals during the storm is then running, or is
 * started, so that the session written at exit comes after every launch.
 * Prints, on stdout:
 *   storm: threads=T launches=N seconds=S ns_per_launch=X end=E
 * E: CLOCK_MONOTONIC seconds when main returns.  What exit costs (omniprof
 * writes the last session then) and the peak resident memory are measured
 * by whoever waits for the process (wait4: the time it returns, ru_maxrss):
 * omniprof's exit work may run after the program's own destructors.
 */
#define _GNU_SOURCE
#include <cuda.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

extern void omniprof_start(void) __attribute__((weak));

static const char ptx[] = PTX_HEADER PTX_KERNEL("storm_kernel");
static CUcontext ctx;
static CUfunction kernel;
static double seconds;
static atomic_long total;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *worker(void *arg)
{
    (void)arg;
    if (cuCtxSetCurrent(ctx) != CUDA_SUCCESS)
        return NULL;
    double end = now() + seconds;
    long n = 0;
    do {
        for (int i = 0; i < 256; i++)
            if (cuLaunchKernel(kernel, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL) == CUDA_SUCCESS)
                n++;
    } while (now() < end);
    atomic_fetch_add(&total, n);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    seconds = argc > 2 ? atof(argv[2]) : 1.5;
    bool start_at_end = argc > 3 && strcmp(argv[3], "start") == 0;
    CHECK(load_kernel(ptx, "storm_kernel", &kernel));
    CHECK(cuCtxGetCurrent(&ctx));
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    double t0 = now();
    for (int i = 0; i < threads; i++)
        CHECK(pthread_create(&t[i], NULL, worker, NULL));
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double took = now() - t0;
    free(t);
    long n = atomic_load(&total);
    if (start_at_end && omniprof_start)
        omniprof_start();
    printf("storm: threads=%d launches=%ld seconds=%.3f ns_per_launch=%.1f end=%.6f\n", threads, n,
           took, n ? took * 1e9 * threads / (double)n : 0.0, now());
    return 0;
}
