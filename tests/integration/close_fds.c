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

static const char ptx[] = ".version 8.0\n.target sm_80\n.address_size 64\n"
                          ".visible .entry daemon_kernel()\n{\n    ret;\n}\n";

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    char path[] = "/tmp/omniprof-closefds-XXXXXX";
    int mine = mkstemp(path);
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction k;
    if (cuInit(0) || cuDeviceGet(&dev, 0) || cuDevicePrimaryCtxRetain(&ctx, dev) ||
        cuCtxSetCurrent(ctx) || cuModuleLoadData(&mod, ptx) ||
        cuModuleGetFunction(&k, mod, "daemon_kernel"))
        return 1;
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
