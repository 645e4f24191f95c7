/*
 * pipeline: a three-stage process pipeline, the shape of an omni-modal
 * inference server (a thinker, a talker and a decoder stage).
 *
 *   pipeline [ITEMS [SLEEP_MS]]
 *
 * The launcher starts three stage processes (this program again, with
 * --stage N) connected by pipes: 0 -> 1 -> 2.  Each stage launches its own
 * kernel per item (thinker_kernel, talker_kernel, code2wav_kernel), marks an
 * iteration boundary, and passes the item on; stage 2 prints the total.
 * Each stage process is started with OMNIPROF_STAGE=N in its environment,
 * as a launcher tells its workers their stage (ignored without omniprof).
 */
#include <cuda.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("thinker_kernel") PTX_KERNEL("talker_kernel")
    PTX_KERNEL("code2wav_kernel");
static const char *const kernels[3] = {"thinker_kernel", "talker_kernel", "code2wav_kernel"};

static int stage_main(int stage, int items, int sleep_ms)
{
    CUfunction k;
    CHECK(load_kernel(ptx, kernels[stage], &k));
    long sum = 0;
    for (int i = 0; i < items; i++) {
        int item = i;
        if (stage > 0 && read(STDIN_FILENO, &item, sizeof item) != sizeof item)
            return 1;
        step();
        CHECK(cuLaunchKernel(k, 1 + (unsigned)stage, 1, 1, 64, 1, 1, 0, NULL, NULL, NULL));
        CHECK(cuCtxSynchronize());
        sum += item;
        if (stage < 2 && write(STDOUT_FILENO, &item, sizeof item) != sizeof item)
            return 1;
        if (stage == 0 && sleep_ms > 0) {
            struct timespec ts = {sleep_ms / 1000, (long)(sleep_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (stage == 2)
        printf("pipeline: items=%d sum=%ld\n", items, sum);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--stage") == 0)
        return stage_main(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    const char *items = argc > 1 ? argv[1] : "20";
    const char *sleep_ms = argc > 2 ? argv[2] : "0";
    int in = -1, status = 0, failed = 0;
    pid_t pids[3];
    fflush(stdout);
    for (int stage = 0; stage < 3; stage++) {
        int p[2] = {-1, -1};
        if (stage < 2 && pipe(p) < 0)
            return 1;
        pids[stage] = fork();
        if (pids[stage] == 0) {
            if (in >= 0)
                dup2(in, STDIN_FILENO);
            if (stage < 2)
                dup2(p[1], STDOUT_FILENO);
            if (in >= 0)
                close(in);
            if (stage < 2) {
                close(p[0]);
                close(p[1]);
            }
            char stage_text[8];
            snprintf(stage_text, sizeof stage_text, "%d", stage);
            setenv("OMNIPROF_STAGE", stage_text, 1);
            execl("/proc/self/exe", argv[0], "--stage", stage_text, items, sleep_ms, (char *)NULL);
            _exit(127);
        }
        if (in >= 0)
            close(in);
        if (stage < 2) {
            close(p[1]);
            in = p[0];
        }
    }
    for (int stage = 0; stage < 3; stage++) {
        waitpid(pids[stage], &status, 0);
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    return failed;
}
