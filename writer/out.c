/*
 * A buffered output stream that writes either through zlib (gzip member,
 * what torch's tensorboard_trace_handler(use_gzip=True) writes) or plainly.
 * Errors are remembered and reported once by wr_out_close().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

#define OUT_BUF WR_OUT_BUF

int wr_out_open(struct wr_out **out, int fd, bool gzip, int level)
{
    struct wr_out *o = malloc(sizeof *o);
    if (!o) {
        close(fd);
        return -ENOMEM;
    }
    o->fd = fd;
    o->gz = NULL;
    o->err = 0;
    o->len = 0;
    if (gzip) {
        char mode[8];
        snprintf(mode, sizeof mode, "wb%d", level < 0 || level > 9 ? 1 : level);
        o->gz = gzdopen(fd, mode);
        if (!o->gz) {
            close(fd);
            free(o);
            return -ENOMEM;
        }
        gzbuffer(o->gz, OUT_BUF);
    }
    *out = o;
    return 0;
}

static void flush(struct wr_out *o)
{
    if (o->len == 0 || o->err) {
        o->len = 0;
        return;
    }
    if (o->gz) {
        if (gzwrite(o->gz, o->buf, (unsigned)o->len) != (int)o->len) {
            int zerr;
            gzerror(o->gz, &zerr);
            o->err = zerr == Z_ERRNO && errno ? -errno : -EIO;
        }
    } else {
        size_t off = 0;
        while (off < o->len) {
            ssize_t w = write(o->fd, o->buf + off, o->len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                o->err = w < 0 ? -errno : -EIO;
                break;
            }
            off += (size_t)w;
        }
    }
    o->len = 0;
}

void wr_out_write_slow(struct wr_out *o, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        size_t room = OUT_BUF - o->len;
        size_t k = n < room ? n : room;
        memcpy(o->buf + o->len, c, k);
        o->len += k;
        c += k;
        n -= k;
        if (o->len == OUT_BUF)
            flush(o);
    }
}

void wr_out_printf(struct wr_out *o, const char *fmt, ...)
{
    if (OUT_BUF - o->len < 512)
        flush(o);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, OUT_BUF - o->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < OUT_BUF - o->len) {
        o->len += (size_t)n;
        return;
    }
    /* Longer than the room left: format into a heap buffer. */
    char *big = malloc((size_t)n + 1);
    if (!big) {
        o->err = o->err ? o->err : -ENOMEM;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    wr_out_write(o, big, (size_t)n);
    free(big);
}

void wr_out_u64(struct wr_out *o, uint64_t v)
{
    char buf[24];
    int n = 0;
    do {
        buf[sizeof buf - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    wr_out_write(o, buf + sizeof buf - n, (size_t)n);
}

void wr_out_i64(struct wr_out *o, int64_t v)
{
    if (v < 0) {
        wr_out_write(o, "-", 1);
        wr_out_u64(o, (uint64_t)0 - (uint64_t)v);
    } else {
        wr_out_u64(o, (uint64_t)v);
    }
}

int wr_out_close(struct wr_out *o)
{
    flush(o);
    int err = o->err;
    if (o->gz) {
        int z = gzclose(o->gz); /* closes the fd too */
        if (!err && z != Z_OK)
            err = -EIO;
    } else if (close(o->fd) < 0 && !err) {
        err = -errno;
    }
    free(o);
    return err;
}
