/*
 * The control pipe: the one way into the control thread.  This file owns
 * it: it makes it, writes to it (from signal handlers and from any thread),
 * reads it (the control thread only), makes it anew when the program closed
 * it under us, and lets a fork child drop the parent's.
 *
 * The ends sit on descriptors well above those a program uses first.  A
 * program that closes "all" its descriptors may still close them, and may
 * get the numbers back for files of its own: every write first checks, by
 * inode, that the descriptor is still our pipe (fstat and write are
 * async-signal-safe), so a byte never lands in the program's file.
 *
 * Contract: ctl_pipe_open and ctl_pipe_drop_inherited run before the
 * handlers can fire or with no other thread of ours alive (init, fork
 * child); ctl_pipe_read runs on the control thread only; ctl_pipe_post is
 * safe anywhere, signal handlers included.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector.h"
#include "internal.h"

/* A pair is published end by end; a post that sees a half-made pair finds
 * an inode that does not match and writes nothing. */
static volatile int fd_in = -1, fd_out = -1;
static volatile ino_t ino_in, ino_out;

static bool still_ours(int fd, ino_t ino)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_ino == ino;
}

/* Moves fd above the numbers a program uses first; returns the new one. */
static int raise_fd(int fd)
{
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 512);
    if (high < 0)
        return fd;
    close(fd);
    return high;
}

int ctl_pipe_open(void)
{
    int raw[2];
    if (pipe2(raw, O_CLOEXEC) < 0)
        return -errno;
    int in = raise_fd(raw[0]), out = raise_fd(raw[1]);
    struct stat st_in, st_out;
    if (fstat(in, &st_in) < 0 || fstat(out, &st_out) < 0 || fcntl(out, F_SETFL, O_NONBLOCK) < 0) {
        int e = errno;
        close(in);
        close(out);
        return -e;
    }
    fd_out = -1; /* no post reaches a pair being replaced */
    ino_in = st_in.st_ino;
    fd_in = in;
    ino_out = st_out.st_ino;
    fd_out = out;
    return 0;
}

bool ctl_pipe_post(char req)
{
    int saved = errno;
    int fd = fd_out;
    bool posted = false;
    if (still_ours(fd, ino_out)) {
        /* a full pipe already holds requests the thread will read */
        posted = write(fd, &req, 1) == 1 || errno == EAGAIN;
    }
    errno = saved;
    return posted;
}

ssize_t ctl_pipe_read(char *buf, size_t cap, int timeout_ms)
{
    for (;;) {
        if (timeout_ms >= 0) {
            struct pollfd p = {.fd = fd_in, .events = POLLIN};
            int ready = poll(&p, 1, timeout_ms);
            if (ready == 0)
                return 0;
            if (ready < 0 && errno == EINTR)
                continue;
            /* ready, or the descriptor is gone: the read says which */
        }
        ssize_t n = read(fd_in, buf, cap);
        if (n > 0)
            return n;
        if (n < 0 && errno == EINTR)
            continue;
        /* our pipe was closed under us (a daemon closing every descriptor
         * does so as a matter of course): make a new one and go on, saying
         * so only when asked for detail */
        coll_log(COLL_LOG_DEBUG, NULL,
                 "the control pipe was closed by the program; "
                 "making a new one");
        int rc = ctl_pipe_open();
        if (rc < 0) {
            coll_log(COLL_LOG_ERROR, NULL,
                     "cannot make a new control pipe: %s; "
                     "signals and omniprof start/stop no longer reach "
                     "this process",
                     strerror(-rc));
            return rc;
        }
    }
}

void ctl_pipe_drop_inherited(void)
{
    int in = fd_in, out = fd_out;
    fd_in = fd_out = -1;
    if (still_ours(in, ino_in))
        close(in);
    if (still_ours(out, ino_out))
        close(out);
}
