/*
 * Test helper: a daemon-style program that closes every descriptor above
 * stderr at start, then opens a file (which takes the lowest free number)
 * and launches a kernel every 10 ms for N iterations, and finally checks
 * that its own file was not written to by anybody else.
 */
#include <cuda.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("daemon_kernel");

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    char path[] = "/tmp/omniprof-closefds-XXXXXX";
    int mine = mkstemp(path);
    CUfunction k;
    CHECK(load_kernel(ptx, "daemon_kernel", &k));
    for (int i = 0; i < n; i++) {
        cuLaunchKernel(k, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    struct stat st;
    fstat(mine, &st);
    unlink(path);
    printf("close_fds: launches=%d own_file_bytes=%lld\n", n, (long long)st.st_size);
    return 0;
}
