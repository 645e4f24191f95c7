/*
 * fork_launch: a process that forks before it uses CUDA (as CUDA requires),
 * then parent and child each launch their own kernel.
 *
 *   fork_launch [PARENT_LAUNCHES [CHILD_LAUNCHES]]
 */
#include <cuda.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("parent_kernel") PTX_KERNEL("child_kernel");

static int run(const char *name, int launches)
{
    CUfunction k;
    CHECK(load_kernel(ptx, name, &k));
    for (int i = 0; i < launches; i++) {
        step();
        CHECK(cuLaunchKernel(k, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
    }
    CHECK(cuCtxSynchronize());
    return 0;
}

int main(int argc, char **argv)
{
    int parent = argc > 1 ? atoi(argv[1]) : 5;
    int child = argc > 2 ? atoi(argv[2]) : 3;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        int rc = run("child_kernel", child);
        printf("fork_launch: child pid=%d child_kernel=%d\n", (int)getpid(), child);
        return rc;
    }
    int rc = run("parent_kernel", parent);
    int status = 0;
    waitpid(pid, &status, 0);
    printf("fork_launch: parent pid=%d parent_kernel=%d child_exit=%d\n", (int)getpid(), parent,
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return rc || !WIFEXITED(status) || WEXITSTATUS(status);
}
