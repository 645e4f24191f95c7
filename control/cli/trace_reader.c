/*
 * The trace reader's file side: a trace file (gzip'd or not: gzread passes
 * plain files through) is read into one buffer and handed to yajl's event
 * parser in pieces that end between tokens, and every failure becomes one
 * negative errno and one line of text.
 *
 * Why pieces end between tokens: yajl re-lexes a token split across two
 * yajl_parse calls from its start on every call, so one 32 MiB string fed in
 * 64 KiB chunks costs 512 passes over a growing token (quadratic).  Here
 * each byte is scanned once to find the last token boundary of the data read
 * so far (outside strings: after whitespace, a structural character or a
 * closing quote); yajl gets everything up to it, and an unfinished token
 * stays at the front of the buffer, which doubles while one token fills it.
 * So yajl always sees whole tokens, and every byte is scanned a bounded
 * number of times.
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

/* Whether any of the 8 bytes of w is '"' or '\\' (the classic zero-byte
 * test on w xor the byte repeated). */
static bool quote_or_backslash(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
}

static const bool boundary[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, ['{'] = 1,
                                   ['}'] = 1, ['['] = 1,  [']'] = 1,  [','] = 1,  [':'] = 1};

/* The end of the last whitespace or structural character in in[from..to)
 * (a stretch outside strings), or 0. */
static size_t last_in_stretch(const char *in, size_t from, size_t to)
{
    while (to > from)
        if (boundary[(unsigned char)in[--to]])
            return to + 1;
    return 0;
}

/* Scans in[from..to) once, carrying the string state across calls; returns
 * the end of the last whole token (0: none in this range): after a closing
 * quote, or after whitespace or a structural character outside strings.
 * Only quotes and backslashes are looked for, eight bytes at a time, inside
 * strings and out; the last stretch outside strings is then looked at from
 * its end, so each byte is read about once. */
static size_t last_boundary(const char *in, size_t from, size_t to, bool *in_str, bool *esc)
{
    size_t i = from, stretch = from, open = SIZE_MAX;
    bool s = *in_str, closed = false;
    if (s && *esc && i < to)
        i++; /* the byte escaped at the end of the last range */
    *esc = false;
    while (i < to) {
        uint64_t w;
        while (i + 8 <= to && (memcpy(&w, in + i, 8), !quote_or_backslash(w)))
            i += 8;
        while (i < to && in[i] != '"' && in[i] != '\\')
            i++;
        if (i == to)
            break;
        if (in[i] == '\\') {
            /* outside a string a backslash is no JSON: yajl says so */
            if (s)
                *esc = i + 1 == to;
            i += s ? 2 : 1;
        } else if (s) {
            s = false;
            closed = true;
            stretch = ++i; /* after a closing quote: a token ends */
        } else {
            s = true;
            open = i++;
        }
    }
    *in_str = s;
    /* the last stretch outside strings: up to the end, or to the quote that
     * opened the string the range ends in */
    size_t end = s ? open : to, cut = 0;
    if (end != SIZE_MAX && end >= stretch)
        cut = last_in_stretch(in, stretch, end);
    return cut ? cut : closed ? stretch : 0;
}

/* Hands in[0..n) to yajl; on a syntax error, says where. */
static int feed(struct tr_reader *r, yajl_handle h, size_t n, uint64_t *fed)
{
    yajl_status st = n ? yajl_parse(h, (const unsigned char *)r->in.p, n) : yajl_complete_parse(h);
    if (st == yajl_status_ok)
        return 0;
    if (st == yajl_status_client_canceled || r->status)
        return r->status ? r->status : tr_fail(r, -ECANCELED, "stopped");
    uint64_t at = *fed + (n ? yajl_get_bytes_consumed(h) : 0);
    unsigned char *msg = yajl_get_error(h, 0, NULL, 0);
    char *text = msg ? (char *)msg : "parse error";
    text[strcspn(text, "\n")] = '\0';
    tr_fail(r, -EBADMSG, "invalid JSON at byte %llu: %s", (unsigned long long)at, text);
    yajl_free_error(h, msg);
    return r->status;
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

/* The read loop: read, find the last token boundary, parse up to it, keep
 * the rest at the front; grow while one token fills half the buffer. */
static int pump(struct tr_reader *r, gzFile in, yajl_handle h)
{
    struct tr_buf *b = &r->in;
    size_t chunk = r->lim.read_size;
    b->len = 0;
    bool in_str = false, esc = false;
    uint64_t fed = 0;
    for (;;) {
        if (b->len > r->lim.max_token)
            return tr_fail(r, -E2BIG, "a token longer than %zu bytes", r->lim.max_token);
        size_t room = b->cap > b->len ? b->cap - b->len - 1 : 0;
        if (room < chunk || room < b->cap / 2) {
            if (tr_buf_reserve(b, b->cap / 2 > chunk ? b->cap / 2 : chunk, SIZE_MAX) < 0)
                return tr_fail(r, -ENOMEM, "out of memory");
        }
        int n = gzread(in, b->p + b->len, (unsigned)chunk);
        if (n <= 0)
            break;
        size_t cut = last_boundary(b->p, b->len, b->len + (size_t)n, &in_str, &esc);
        b->len += (size_t)n;
        if (cut == 0)
            continue;
        int rc = feed(r, h, cut, &fed);
        if (rc < 0)
            return rc;
        fed += cut;
        memmove(b->p, b->p + cut, b->len - cut);
        b->len -= cut;
    }
    int rc = gz_failure(r, in);
    if (rc == 0 && b->len)
        rc = feed(r, h, b->len, &fed);
    if (rc == 0 && fed + b->len == 0)
        return tr_fail(r, -ENOMSG, "an empty file");
    if (rc == 0) {
        fed += b->len;
        rc = feed(r, h, 0, &fed);
    }
    return rc;
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
    yajl_handle h = yajl_alloc(&tr_yajl_callbacks, NULL, r);
    int rc = h ? pump(r, in, h) : tr_fail(r, -ENOMEM, "out of memory");
    r->gz = NULL;
    if (rc == 0 && !r->saw_events)
        rc = tr_fail(r, -ENOMSG, "no traceEvents array");
    if (h)
        yajl_free(h);
    gzclose(in);
    return rc;
}
