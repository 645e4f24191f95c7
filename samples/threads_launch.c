/*
 * threads_launch: many threads launching at once.
 *
 *   threads_launch [THREADS [LAUNCHES_PER_THREAD [PAUSE_US]]]
 *
 * Every thread makes the primary context current and launches mt_kernel
 * LAUNCHES_PER_THREAD times (pausing PAUSE_US between launches); the
 * program prints the total.  It marks no iterations (no omni_step).
 */
#include <cuda.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("mt_kernel");
static CUcontext ctx;
static CUfunction kernel;
static long per_thread;
static long pause_us;
static atomic_long total;

static void *worker(void *arg)
{
    (void)arg;
    if (cuCtxSetCurrent(ctx) != CUDA_SUCCESS)
        return NULL;
    for (long i = 0; i < per_thread; i++) {
        if (cuLaunchKernel(kernel, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL) == CUDA_SUCCESS)
            atomic_fetch_add(&total, 1);
        if (pause_us > 0) {
            struct timespec ts = {pause_us / 1000000, (pause_us % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 8;
    per_thread = argc > 2 ? atol(argv[2]) : 10000;
    pause_us = argc > 3 ? atol(argv[3]) : 0;
    CHECK(load_kernel(ptx, "mt_kernel", &kernel));
    CHECK(cuCtxGetCurrent(&ctx));
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    for (int i = 0; i < threads; i++)
        CHECK(pthread_create(&t[i], NULL, worker, NULL));
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    free(t);
    printf("threads_launch: threads=%d launches=%ld\n", threads, atomic_load(&total));
    return atomic_load(&total) == threads * per_thread ? 0 : 1;
}
