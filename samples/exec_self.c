/*
 * exec_self: launches, then replaces itself with a new image of the same
 * program (same pid), which launches other kernels.
 *
 *   exec_self [BEFORE [AFTER]]
 */
#include <cuda.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("before_exec") PTX_KERNEL("after_exec");

static int run(const char *name, int launches)
{
    CUfunction k;
    CHECK(load_kernel(ptx, name, &k));
    for (int i = 0; i < launches; i++)
        CHECK(cuLaunchKernel(k, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
    return cuCtxSynchronize();
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--after") == 0) {
        int after = argc > 2 ? atoi(argv[2]) : 3;
        CHECK(run("after_exec", after));
        printf("exec_self: after pid=%d after_exec=%d\n", (int)getpid(), after);
        return 0;
    }
    int before = argc > 1 ? atoi(argv[1]) : 5;
    const char *after = argc > 2 ? argv[2] : "3";
    CHECK(run("before_exec", before));
    printf("exec_self: before pid=%d before_exec=%d\n", (int)getpid(), before);
    fflush(stdout);
    execl("/proc/self/exe", argv[0], "--after", after, (char *)NULL);
    perror("exec_self: execl");
    return 1;
}
