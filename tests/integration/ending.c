/*
 * Test helper: a program that launches kernels and then ends in a chosen way.
 *
 *   ending MODE LAUNCHES [CODE]
 *
 *   _exit CODE      ends with _exit(CODE)
 *   _Exit CODE      ends with _Exit(CODE)
 *   wait            prints "ready" and waits for a signal it does not handle
 *   handler_before  installs its own SIGTERM handler before CUDA starts,
 *   handler_after   or after; prints "ready", and when the handler has run
 *                   prints "handled" and returns 7
 *   kill_self       puts SIGINT to its default action and sends it to
 *                   itself with kill() (what Python does after an
 *                   unhandled KeyboardInterrupt)
 *   raise_self      the same with SIGTERM and raise()
 *
 * The kernels are launched through the driver API, recorded under autostart.
 */
#include <cuda.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("ending_kernel");

static volatile sig_atomic_t handled;

static void on_term(int sig)
{
    (void)sig;
    handled = 1;
}

static void own_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *mode = argv[1];
    int n = atoi(argv[2]), code = argc > 3 ? atoi(argv[3]) : 0;
    if (strcmp(mode, "handler_before") == 0)
        own_handler();
    CUfunction f;
    CHECK(load_kernel(ptx, "ending_kernel", &f));
    if (strcmp(mode, "handler_after") == 0)
        own_handler();
    for (int i = 0; i < n; i++)
        CHECK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
    if (strcmp(mode, "_exit") == 0)
        _exit(code);
    if (strcmp(mode, "_Exit") == 0)
        _Exit(code);
    if (strcmp(mode, "kill_self") == 0) {
        signal(SIGINT, SIG_DFL);
        kill(getpid(), SIGINT);
    }
    if (strcmp(mode, "raise_self") == 0) {
        signal(SIGTERM, SIG_DFL);
        raise(SIGTERM);
    }
    printf("ready\n");
    fflush(stdout);
    while (!handled)
        pause();
    printf("handled\n");
    return 7;
}
