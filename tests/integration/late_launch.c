/*
 * Test helper: launches at every moment of a process's life — from a
 * library constructor and destructor (late_lib.c), from main, and from an
 * atexit handler — and checks that errno survives hooked calls.
 *
 *   late_launch N   (N launches in main)
 *
 * Prints "late_launch: main=N errno_kept=1 early=R" (R: the CUresult of the
 * constructor's launch) and, on stderr, the results of the later launches.
 */
#include <cuda.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

extern int late_early_result;
CUresult late_launch_once(void);

static void at_exit(void)
{
    fprintf(stderr, "late_launch: atexit launch=%d\n", late_launch_once());
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 3;
    atexit(at_exit);
    int kept = 1;
    for (int i = 0; i < n; i++) {
        errno = 4321;
        if (late_launch_once() != CUDA_SUCCESS)
            return 1;
        kept &= errno == 4321;
    }
    printf("late_launch: main=%d errno_kept=%d early=%d\n", n, kept, late_early_result);
    return 0;
}
