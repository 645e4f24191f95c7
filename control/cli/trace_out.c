/*
 * The output stream of the traces the command writes (omniprof merge): a
 * buffer in front of zlib, gzip'd at level 1 (what omniprof writes by
 * default) when the path ends in ".gz", else written through zlib's
 * transparent mode.  The file is made under a temporary name in the same
 * directory and renamed over the path only when everything was written, so
 * a reader never sees half a trace and a failed merge leaves nothing.
 * Errors are remembered and reported once, by cli_out_close.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "trace_set.h"
#include "writer.h"

#define OUT_BUF (1u << 20)

struct cli_out {
    gzFile gz;
    int err; /* the first failure: a negative errno */
    char *path, *tmp;
    size_t len;
    char buf[OUT_BUF];
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int cli_out_open(struct cli_out **out, const char *path)
{
    struct cli_out *o = calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    o->path = strdup(path);
    if (!o->path ||
        asprintf(&o->tmp, "%.*s.%s.tmp.XXXXXX", dir_len, path, slash ? slash + 1 : path) < 0) {
        o->tmp = NULL;
        cli_out_close(o, false, NULL, 0);
        return -ENOMEM;
    }
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int rc = -errno;
        free(o->tmp);
        o->tmp = NULL;
        cli_out_close(o, false, NULL, 0);
        return rc;
    }
    /* mkstemp makes 0600; a trace is as readable as any file the user makes */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    o->gz = gzdopen(fd, ends_with(path, ".gz") ? "wb1" : "wbT");
    if (!o->gz) {
        close(fd);
        cli_out_close(o, false, NULL, 0);
        return -ENOMEM;
    }
    gzbuffer(o->gz, OUT_BUF);
    *out = o;
    return 0;
}

static void flush(struct cli_out *o)
{
    if (o->len && !o->err && gzwrite(o->gz, o->buf, (unsigned)o->len) != (int)o->len) {
        int code;
        gzerror(o->gz, &code);
        o->err = code == Z_ERRNO && errno ? -errno : -EIO;
    }
    o->len = 0;
}

void cli_out_write(struct cli_out *o, const char *p, size_t n)
{
    if (n <= OUT_BUF - o->len) {
        memcpy(o->buf + o->len, p, n);
        o->len += n;
        return;
    }
    if (o->len + n > OUT_BUF) {
        flush(o);
        if (n > OUT_BUF) {
            if (!o->err && gzwrite(o->gz, p, (unsigned)n) != (int)n)
                o->err = -EIO;
            return;
        }
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

void cli_out_puts(struct cli_out *o, const char *s)
{
    cli_out_write(o, s, strlen(s));
}

/* The decimal digits of u, written at the end of buf (24 bytes); returns
 * where they begin.  Two digits at a time: integers are most of a trace. */
static char *digits(char *end, uint64_t u)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char *p = end;
    while (u >= 100) {
        unsigned k = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = pairs[k + 1];
        *--p = pairs[k];
    }
    if (u >= 10) {
        *--p = pairs[u * 2 + 1];
        *--p = pairs[u * 2];
    } else {
        *--p = (char)('0' + u);
    }
    return p;
}

void cli_out_i64(struct cli_out *o, int64_t v)
{
    char buf[24], *end = buf + sizeof buf;
    char *p = digits(end, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    if (v < 0)
        *--p = '-';
    cli_out_write(o, p, (size_t)(end - p));
}

void cli_out_us(struct cli_out *o, int64_t ns)
{
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    char buf[32], *end = buf + sizeof buf;
    end[-4] = '.';
    end[-3] = (char)('0' + u % 1000 / 100);
    end[-2] = (char)('0' + u % 100 / 10);
    end[-1] = (char)('0' + u % 10);
    char *p = digits(end - 4, u / 1000);
    if (ns < 0)
        *--p = '-';
    cli_out_write(o, p, (size_t)(end - p));
}

/* Whether s is printable ASCII without '"' or '\\': its literal is itself
 * in quotes (most names are); *n gets its length. */
static bool plain(const char *s, size_t *n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    for (; u[i]; i++)
        if (u[i] < 0x20 || u[i] > 0x7E || u[i] == '"' || u[i] == '\\')
            return false;
    *n = i;
    return true;
}

void cli_out_string(struct cli_out *o, const char *s)
{
    size_t n;
    if (plain(s, &n) && n + 2 <= OUT_BUF - o->len) {
        char *p = o->buf + o->len;
        p[0] = '"';
        memcpy(p + 1, s, n);
        p[n + 1] = '"';
        o->len += n + 2;
        return;
    }
    if (OUT_BUF - o->len < 64)
        flush(o);
    size_t room = OUT_BUF - o->len;
    n = wr_json_escape(o->buf + o->len, room, s);
    if (n < room) {
        o->len += n;
        return;
    }
    flush(o);
    if (n < OUT_BUF) {
        o->len = wr_json_escape(o->buf, OUT_BUF, s);
        return;
    }
    char *lit = wr_json_literal(s);
    if (!lit) {
        o->err = o->err ? o->err : -ENOMEM;
        return;
    }
    cli_out_write(o, lit, n);
    free(lit);
}

void cli_out_copy(struct cli_out *o, FILE *f)
{
    if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0) {
        o->err = o->err ? o->err : -EIO;
        return;
    }
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        cli_out_write(o, buf, n);
    if (ferror(f))
        o->err = o->err ? o->err : -EIO;
}

int cli_out_close(struct cli_out *o, bool keep, char *why, size_t cap)
{
    int rc = o->err;
    if (o->gz) {
        flush(o);
        rc = rc ? rc : o->err;
        int z = gzclose(o->gz);
        if (!rc && z != Z_OK)
            rc = z == Z_ERRNO && errno ? -errno : -EIO;
    }
    if (o->tmp && keep && rc == 0 && rename(o->tmp, o->path) < 0)
        rc = -errno;
    if (o->tmp && (!keep || rc < 0))
        unlink(o->tmp);
    if (rc < 0 && why)
        snprintf(why, cap, "cannot write %s: %s", o->path, strerror(-rc));
    free(o->path);
    free(o->tmp);
    free(o);
    return rc;
}
