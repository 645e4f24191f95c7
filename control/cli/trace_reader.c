/*
 * The trace reader's file side: a trace file (gzip'd or not: gzread passes
 * plain files through) is read into one buffer and parsed (trace_events.c)
 * as far as whole units go; every failure becomes one negative errno and
 * one line of text.
 *
 * A unit (a token, or a whole event) that runs past the bytes read so far
 * stays at the front of the buffer, and is parsed again once more bytes
 * are read.  Each read asks for at least as many bytes as are pending, so
 * a unit of n bytes is parsed at most about log2(n / read size) times,
 * over a buffer that doubles: every byte is scanned a bounded number of
 * times, and the buffer is as large as the largest unit (bounded by
 * tr_options.max_token).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "trace_internal.h"

int tr_buf_reserve(struct tr_buf *b, size_t n, size_t limit)
{
    if (n >= limit || b->len > limit - n - 1)
        return -E2BIG;
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int tr_stop(struct tr_reader *r, int rc)
{
    if (r->status)
        return rc;
    r->status = rc;
    snprintf(r->err, sizeof r->err, "%s: reading stopped: %s", r->path, strerror(-rc));
    return rc;
}

int tr_fail(struct tr_reader *r, int rc, const char *fmt, ...)
{
    if (r->status)
        return rc;
    r->status = rc;
    int n = snprintf(r->err, sizeof r->err, "%s is not a readable trace: ", r->path);
    if (n < 0 || (size_t)n >= sizeof r->err)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, sizeof r->err - (size_t)n, fmt, ap);
    va_end(ap);
    return rc;
}

struct tr_reader *tr_reader_new(const struct tr_options *opt)
{
    struct tr_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->lim.max_token = opt && opt->max_token ? opt->max_token : TR_MAX_TOKEN;
    r->lim.max_depth = opt && opt->max_depth > 0 ? opt->max_depth : TR_MAX_DEPTH;
    r->lim.read_size = opt && opt->read_size ? opt->read_size : TR_READ_SIZE;
    r->lim.member_fields = opt && opt->member_fields;
    r->lim.args_text = opt && opt->args_text;
    if (r->lim.read_size > INT_MAX)
        r->lim.read_size = INT_MAX;
    r->stack = calloc((size_t)r->lim.max_depth, sizeof *r->stack);
    static const char *const known[TR_K_COUNT] = {
        [TR_K_PH] = "ph",   [TR_K_CAT] = "cat",  [TR_K_NAME] = "name", [TR_K_BP] = "bp",
        [TR_K_PID] = "pid", [TR_K_TID] = "tid",  [TR_K_ID] = "id",     [TR_K_TS] = "ts",
        [TR_K_DUR] = "dur", [TR_K_ARGS] = "args"};
    bool ok = r->stack && (r->trace_events = tr_intern(r, "traceEvents", 11));
    for (int k = TR_K_OTHER + 1; ok && k < TR_K_COUNT; k++)
        ok = (r->keys[k] = tr_intern(r, known[k], strlen(known[k]))) != NULL;
    if (!ok) {
        tr_reader_free(r);
        return NULL;
    }
    return r;
}

static void list_free(struct tr_list *l)
{
    free(l->v);
    free(l->off);
}

void tr_reader_free(struct tr_reader *r)
{
    if (!r)
        return;
    tr_names_free(&r->names);
    free(r->stack);
    list_free(&r->args);
    list_free(&r->extra);
    free(r->text.p);
    free(r->tmp.p);
    free(r->dec.p);
    free(r->ends);
    free(r->in.p);
    free(r);
}

const char *tr_intern(struct tr_reader *r, const char *s, size_t len)
{
    return tr_names_intern(&r->names, s, len);
}

size_t tr_interned(const struct tr_reader *r)
{
    return r->names.n;
}

const char *tr_error(const struct tr_reader *r)
{
    return r->err;
}

uint64_t tr_position(const struct tr_reader *r)
{
    z_off_t at = r->gz ? gzoffset(r->gz) : 0;
    return at > 0 ? (uint64_t)at : 0;
}

const struct tr_value *tr_arg(const struct tr_event *ev, const char *key)
{
    for (size_t i = ev->n_args; i-- > 0;)
        if (ev->args[i].key == key || strcmp(ev->args[i].key, key) == 0)
            return &ev->args[i].v;
    return NULL;
}

static int gz_failure(struct tr_reader *r, gzFile in)
{
    int code;
    const char *msg = gzerror(in, &code);
    switch (code) {
    case Z_OK:
    case Z_STREAM_END: return 0;
    case Z_BUF_ERROR: return tr_fail(r, -EIO, "truncated gzip");
    case Z_MEM_ERROR: return tr_fail(r, -ENOMEM, "out of memory");
    case Z_ERRNO: return tr_fail(r, -EIO, "read error: %s", strerror(errno ? errno : EIO));
    default: return tr_fail(r, -EIO, "corrupt gzip: %s", msg);
    }
}

/* The read loop: parse what has been read; keep what a unit left pending
 * at the front, read at least as much again, and parse on. */
static int pump(struct tr_reader *r, gzFile in)
{
    struct tr_buf *b = &r->in;
    size_t pos = 0;
    bool eof = false;
    b->len = 0;
    r->base = 0;
    r->resume.len = 0;
    for (;;) {
        if (b->len > pos || eof) {
            struct tr_cur c = {b->p + pos, b->p + b->len, eof};
            int rc = tr_parse(r, &c);
            if (rc == TR_DONE)
                return 0;
            if (rc < 0)
                return rc;
            if (eof) /* the lexer says so at the end: not reached */
                return tr_fail(r, -EBADMSG, "invalid JSON: unexpected end of file");
            pos = (size_t)(c.p - b->p);
        }
        size_t pending = b->len - pos;
        if (pending > r->lim.max_token) {
            if (r->in_event && !(r->token && (size_t)(b->p + b->len - r->token) > r->lim.max_token))
                return tr_fail(r, -E2BIG, "an event larger than %zu bytes", r->lim.max_token);
            return tr_fail(r, -E2BIG, "a token longer than %zu bytes", r->lim.max_token);
        }
        if (pos)
            memmove(b->p, b->p + pos, pending);
        r->base += pos;
        b->len = pending;
        pos = 0;
        size_t want = pending > r->lim.read_size ? pending : r->lim.read_size;
        if (want > INT_MAX)
            want = INT_MAX;
        if (tr_buf_reserve(b, want, SIZE_MAX) < 0)
            return tr_fail(r, -ENOMEM, "out of memory");
        int n = gzread(in, b->p + b->len, (unsigned)want);
        if (n > 0)
            b->len += (size_t)n;
        if (n < (int)want) {
            int code;
            gzerror(in, &code);
            if (code != Z_OK && code != Z_STREAM_END) {
                /* what was read before the failure is handed over first,
                 * as it would be in smaller reads */
                struct tr_cur c = {b->p, b->p + b->len, false};
                int rc = tr_parse(r, &c);
                return rc < 0 ? rc : gz_failure(r, in);
            }
            if (r->base + b->len == 0)
                return tr_fail(r, -ENOMSG, "an empty file");
            eof = true;
        }
    }
}

int tr_read(struct tr_reader *r, const char *path, const struct tr_callbacks *cb, void *ctx)
{
    static const struct tr_callbacks none = {0};
    r->err[0] = '\0';
    r->path = path;
    r->cb = cb ? cb : &none;
    r->ctx = ctx;
    r->status = 0;
    tr_events_begin(r);
    errno = 0;
    gzFile in = gzopen(path, "rb");
    if (!in) {
        int e = errno ? errno : ENOMEM;
        snprintf(r->err, sizeof r->err, "cannot open %s: %s", path, strerror(e));
        return r->status = -e;
    }
    gzbuffer(in, 256 << 10);
    r->gz = in;
    int rc = pump(r, in);
    r->gz = NULL;
    if (rc == 0 && !r->saw_events)
        rc = tr_fail(r, -ENOMSG, "no traceEvents array");
    gzclose(in);
    return rc;
}
