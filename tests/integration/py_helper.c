/*
 * A small C library that samples/py_launch.py loads with ctypes to launch
 * from where Python is not: a pthread of its own that never runs Python,
 * and a fork child that launches before Python runs again in it
 * (test_python.py checks that such launches carry native frames only);
 * and launches under many native frames of its own, as a library's
 * dispatcher puts them between Python and the driver.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("native_kernel");

/* Launches n kernels; returns how many it launched. */
static int launch(int n)
{
    CUfunction f;
    int done = 0;
    if (load_kernel(ptx, "native_kernel", &f) == CUDA_SUCCESS)
        for (; done < n; done++)
            if (cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL) != CUDA_SUCCESS)
                break;
    return done;
}

static void *launcher(void *arg)
{
    *(int *)arg = launch(*(int *)arg);
    return NULL;
}

/* Launches n kernels from a new thread; returns how many it launched. */
int native_launch_thread(int n)
{
    pthread_t t;
    int arg = n;
    if (pthread_create(&t, NULL, launcher, &arg) != 0)
        return -1;
    pthread_join(t, NULL);
    return arg;
}

/* Forks; the child launches n kernels and exits (exit(): atexit work runs)
 * with how many it launched.  Returns that, or -1. */
int fork_and_launch(int n)
{
    pid_t pid = fork();
    if (pid == 0)
        exit(launch(n));
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* depth native frames of its own, then n launches; returns how many.  The
 * addition after the call keeps each frame (no tail call). */
__attribute__((noinline)) int deep_launch(int depth, int n)
{
    if (depth <= 0)
        return launch(n);
    volatile int one = 1;
    return deep_launch(depth - 1, n) * one;
}
