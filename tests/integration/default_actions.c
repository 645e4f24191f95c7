/*
 * Test helper: a program that ends by a signal's default action.
 *
 *   default_actions pipe   writes to a pipe whose reader is gone: SIGPIPE
 *   default_actions segv   stores through a null pointer: SIGSEGV
 *
 * Should the signal be caught and the handler return, it says so on
 * stderr and exits 3 (pipe: the write failed with EPIPE instead) or
 * faults again (segv: the store is retried).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "pipe") == 0) {
        int fds[2];
        if (pipe(fds) < 0)
            return 2;
        close(fds[0]);
        for (int i = 0; i < 3; i++) {
            if (write(fds[1], "x", 1) < 0) {
                fprintf(stderr, "default_actions: write: %s\n", strerror(errno));
                return 3;
            }
        }
        return 4;
    }
    if (strcmp(mode, "segv") == 0) {
        volatile int *volatile nowhere = NULL;
        *nowhere = 1;
        return 4;
    }
    fprintf(stderr, "usage: default_actions pipe|segv\n");
    return 2;
}
