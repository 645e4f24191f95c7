/*
 * Test helper: forks while other threads take host stacks.
 *
 *   fork_while_unwinding THREADS FORKS
 *
 * THREADS threads launch a kernel in a loop (each launch recorded with its
 * stack) while the main thread forks FORKS times.  Each child launches once
 * (its first stack) and exits.  A child that has not exited after 3 s is
 * killed and counted as hung.  Prints "forks=N hung=M".  Run it with
 * locking_unwinder.c preloaded after omniprof.
 */
#include <cuda.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("storm_kernel");
static CUfunction kernel;
static atomic_int done;

static void *launcher(void *arg)
{
    (void)arg;
    while (!atomic_load(&done))
        cuLaunchKernel(kernel, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL);
    return NULL;
}

/* Waits up to 3 s for the child; kills it if it is still there. */
static int exited(pid_t child)
{
    for (int waited_ms = 0; waited_ms < 3000; waited_ms++) {
        int status;
        if (waitpid(child, &status, WNOHANG) == child)
            return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        struct timespec ms = {0, 1000000L};
        nanosleep(&ms, NULL);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 3, forks = argc > 2 ? atoi(argv[2]) : 100;
    if (threads > 64)
        return 2;
    CHECK(load_kernel(ptx, "storm_kernel", &kernel));
    pthread_t t[64];
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, launcher, NULL);
    int hung = 0;
    for (int i = 0; i < forks; i++) {
        pid_t child = fork();
        if (child == 0) {
            /* its first stack: a hang here if an unwind's lock was copied taken */
            cuLaunchKernel(kernel, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL);
            _exit(0);
        }
        hung += child > 0 && !exited(child);
    }
    atomic_store(&done, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    printf("forks=%d hung=%d\n", forks, hung);
    fflush(stdout);
    _exit(0); /* omniprof writes the parent's session here too */
}
