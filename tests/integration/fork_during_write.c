/*
 * Test helper: forks while omniprof writes a large trace.
 *
 *   fork_during_write LAUNCHES DIR
 *
 * Launches LAUNCHES kernels (recorded under autostart), asks omniprof to
 * stop and write (SIGUSR2), forks 50 ms later, and then waits for the trace
 * to appear in DIR.  Prints how long fork() took and how long the write
 * took from the signal: a fork must not wait for the write.
 */
#include <cuda.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("fork_kernel");

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int trace_written(const char *dir)
{
    DIR *d = opendir(dir);
    int found = 0;
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        found =
            e->d_name[0] != '.' && n > 17 && strcmp(e->d_name + n - 17, ".pt.trace.json.gz") == 0;
    }
    if (d)
        closedir(d);
    return found;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int n = atoi(argv[1]);
    CUfunction f;
    CHECK(load_kernel(ptx, "fork_kernel", &f));
    for (int i = 0; i < n; i++)
        CHECK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
    double signalled = now_ms();
    kill(getpid(), SIGUSR2);
    struct timespec pause = {0, 50 * 1000000L};
    nanosleep(&pause, NULL);
    double before = now_ms();
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    double forked = now_ms();
    while (!trace_written(argv[2]) && now_ms() - signalled < 120000) {
        struct timespec tick = {0, 1000000L};
        nanosleep(&tick, NULL);
    }
    double written = now_ms();
    waitpid(child, NULL, 0);
    printf("fork_ms=%.1f write_ms=%.1f\n", forked - before, written - signalled);
    return 0;
}
