/*
 * libFuzzer harness of the trace reader (control/cli/trace_reader.c,
 * trace_lex.c, trace_events.c, trace_names.c): each input is the bytes of a trace file,
 * read
 *   - as it is, twice by one reader: the second read gives the same
 *     callbacks and interns no new name (nothing of a read is left over);
 *   - gzip'd here with zlib: the same callbacks as the plain file;
 *   - by a reader with a read size of a few bytes, so that tokens and
 *     escapes are cut across reads, and that holds names one byte away
 *     from the file's (so that a name matched by less than its whole text
 *     shows), for half the inputs with args as text (tr_options.args_text,
 *     each event's args parsed on request by tr_event_args): the same
 *     callbacks;
 *   - by a reader with small bounds on tokens and nesting: what it hands
 *     over before it fails is a prefix of the full read, and it fails with
 *     the full read's error or -E2BIG;
 *   - stopped by the callback at one event or field, between those two
 *     reads: tr_read returns the callback's value, what it handed over is a
 *     prefix of the full read, and the next read is whole.
 * The first read's events are held against the same bytes parsed whole by
 * yajl_tree (trace_oracle.c), when it parses them.
 * Every callback touches every byte it is given (ASan sees a bad pointer or
 * length), checks what trace_reader.h promises (interned names are the
 * pointers tr_intern gives for their text, texts end in a NUL at len, events
 * are numbered in order, an array or object kept as text is valid JSON,
 * tr_arg finds the last argument of a key) and logs the callback as text;
 * the logs are compared.  Every error is one line naming the file.  A broken
 * property aborts.
 *
 * ./run.sh fuzz [SECONDS] trace builds and runs it (build-fuzz/bin/fuzz_trace);
 * by hand, from the repository root (clang with libFuzzer):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -Icontrol/cli -Iwriter -Icollector tests/fuzz/fuzz_trace.c tests/fuzz/trace_oracle.c \
 *     control/cli/trace_reader.c control/cli/trace_lex.c control/cli/trace_events.c \
 *     control/cli/trace_names.c \
 *     writer/json.c writer/out.c -lyajl -lz -lm -o /tmp/fuzz_trace
 *   mkdir -p /tmp/corpus && /tmp/fuzz_trace -dict=tests/fuzz/trace.dict /tmp/corpus \
 *     tests/fuzz/corpus/trace tests/fuzz/regressions/trace
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>
#include <zlib.h>

#include "trace_oracle.h"
#include "trace_reader.h"

/* What a callback returns to stop a read: no value the reader returns. */
#define STOPPED (-EOWNERDEAD)

static void broken(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_trace: %s\n%s\n", what, detail ? detail : "");
    abort();
}

/* ---- the log of one read ---------------------------------------------------- */

struct log {
    char *p;
    size_t len, cap;
};

static void put(struct log *l, const void *s, size_t n)
{
    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + n + 1)
            cap *= 2;
        char *p = realloc(l->p, cap);
        if (!p)
            broken("out of memory", NULL);
        l->p = p;
        l->cap = cap;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
    l->p[l->len] = '\0';
}

static void putf(struct log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct log *l, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(l, buf, n < 0 ? 0 : (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A C string, byte by byte (a bad pointer faults here, in instrumented
 * code), then into the log. */
static void put_str(struct log *l, const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    putf(l, "%zu:", n);
    put(l, s, n);
}

/* ---- one read ------------------------------------------------------------------ */

struct read {
    struct tr_reader *r;
    struct log log;
    size_t events, callbacks;
    size_t stop_at;              /* the callback that stops the read; SIZE_MAX: none */
    bool collect;                /* keep the distinct names in seen */
    const struct oracle *oracle; /* what each event must be; may be NULL */
};

/* The distinct interned names of one read, by pointer (a set of at most
 * half its slots; names past that are not kept). */
enum { SEEN_SLOTS = 1024 };
static const char *seen[SEEN_SLOTS];
static size_t n_seen;

static void keep(const char *s)
{
    size_t i = ((uintptr_t)s >> 3) % SEEN_SLOTS;
    while (seen[i] && seen[i] != s)
        i = (i + 1) % SEEN_SLOTS;
    if (!seen[i] && n_seen < SEEN_SLOTS / 2) {
        seen[i] = s;
        n_seen++;
    }
}

/* A name the reader hands over is the interned one for its text. */
static void name(struct read *rd, const char *tag, const char *s)
{
    putf(&rd->log, " %s=", tag);
    if (!s) {
        put(&rd->log, "-", 1);
        return;
    }
    put_str(&rd->log, s);
    const char *again = tr_intern(rd->r, s, strlen(s));
    if (again && again != s)
        broken("a name is not the interned pointer for its text", s);
    if (rd->collect)
        keep(s);
}

/* Whether text[0..len) is one whole JSON value (yajl, no callbacks). */
static bool valid_json(const char *text, size_t len)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (!h)
        return true;
    bool ok = yajl_parse(h, (const unsigned char *)text, len) == yajl_status_ok &&
              yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    return ok;
}

/* A value: its bytes and the header's promises for its type.  nested: an
 * array or object that is kept as text (inside an event). */
static void value(struct read *rd, const struct tr_value *v, bool nested)
{
    struct log *l = &rd->log;
    putf(l, "%d", (int)v->type);
    bool text = v->type == TR_STRING || v->type == TR_INT || v->type == TR_REAL ||
                (nested && (v->type == TR_ARRAY || v->type == TR_OBJECT));
    if (!text) {
        if (v->s)
            broken("a value without text has text", v->s);
        if (v->type == TR_BOOL)
            putf(l, "%d", v->b);
        return;
    }
    if (!v->s)
        broken("a value without its text", NULL);
    if (v->s[v->len] != '\0')
        broken("a value's text does not end at len", v->s);
    putf(l, ":%zu:", v->len);
    put(l, v->s, v->len);
    switch (v->type) {
    case TR_INT: {
        errno = 0;
        long long i = strtoll(v->s, NULL, 10);
        if (errno || i != v->i || v->d != (double)v->i)
            broken("an integer is not its text", v->s);
        putf(l, "=%" PRId64, v->i);
        break;
    }
    case TR_REAL:
        if (v->d != strtod(v->s, NULL))
            broken("a real is not its text", v->s);
        break;
    case TR_ARRAY:
    case TR_OBJECT:
        if (v->len < 2 || v->s[0] != (v->type == TR_ARRAY ? '[' : '{') ||
            v->s[v->len - 1] != (v->type == TR_ARRAY ? ']' : '}'))
            broken("an array or object's text is not one", v->s);
        if (!valid_json(v->s, v->len))
            broken("an array or object's text is not valid JSON", v->s);
        break;
    default: break;
    }
}

static void id(struct read *rd, const char *tag, const struct tr_id *x, bool interned)
{
    putf(&rd->log, " %s=%d:%d:%" PRId64, tag, x->present, x->is_str, x->num);
    if (!x->present && (x->is_str || x->num || x->str))
        broken("an absent id has a value", tag);
    if (!x->is_str) {
        if (x->str)
            broken("a numeric id has a string", tag);
        return;
    }
    if (!x->str)
        broken("a string id without its string", tag);
    put(&rd->log, ":", 1);
    put_str(&rd->log, x->str);
    const char *again = interned ? tr_intern(rd->r, x->str, strlen(x->str)) : NULL;
    if (again && again != x->str)
        broken("a string pid or tid is not the interned pointer for its text", x->str);
    if (interned && rd->collect)
        keep(x->str);
}

/* args or extra: each key interned, each value checked; tr_arg finds the
 * last member of each key, by pointer and by text. */
static void members(struct read *rd, const struct tr_event *ev, const struct tr_arg *m, size_t n,
                    bool are_args)
{
    if (n && !m)
        broken("members without an array", NULL);
    for (size_t i = 0; i < n; i++) {
        name(rd, are_args ? "arg" : "extra", m[i].key);
        if (!m[i].key)
            broken("a member without a key", NULL);
        put(&rd->log, "=", 1);
        value(rd, &m[i].v, true);
        if (!are_args)
            continue;
        size_t last = i;
        for (size_t j = i + 1; j < n; j++)
            if (m[j].key == m[i].key)
                last = j;
        char *copy = strdup(m[i].key);
        if (!copy)
            broken("out of memory", NULL);
        if (tr_arg(ev, m[i].key) != &m[last].v || tr_arg(ev, copy) != &m[last].v)
            broken("tr_arg does not find the last argument of its key", m[i].key);
        free(copy);
    }
}

static int stop_here(struct read *rd)
{
    return rd->callbacks++ == rd->stop_at ? STOPPED : 0;
}

static int on_event(void *ctx, const struct tr_event *ev)
{
    struct read *rd = ctx;
    struct log *l = &rd->log;
    if (ev->index != rd->events++)
        broken("events are not numbered in order", NULL);
    putf(l, "E%zu", ev->index);
    name(rd, "ph", ev->ph);
    name(rd, "cat", ev->cat);
    name(rd, "name", ev->name);
    name(rd, "bp", ev->bp);
    id(rd, "pid", &ev->pid, true);
    id(rd, "tid", &ev->tid, true);
    id(rd, "id", &ev->id, false);
    if ((!ev->has_ts && ev->ts_ns) || (!ev->has_dur && ev->dur_ns))
        broken("an absent time has a value", NULL);
    putf(l, " ts=%d:%" PRId64 " dur=%d:%" PRId64, ev->has_ts, ev->ts_ns, ev->has_dur, ev->dur_ns);
    if (ev->args_text) {
        /* args as read: one JSON object, and the same members on request */
        if (ev->n_args || ev->args_len < 2 || ev->args_text[0] != '{' ||
            !valid_json(ev->args_text, ev->args_len))
            broken("args_text is not the args object as read", NULL);
        if (tr_event_args(rd->r, ev) < 0)
            broken("tr_event_args fails", NULL);
    }
    members(rd, ev, ev->args, ev->n_args, true);
    members(rd, ev, ev->extra, ev->n_extra, false);
    put(l, "\n", 1);
    const char *differs = rd->oracle ? oracle_differs(rd->oracle, ev) : NULL;
    if (differs)
        broken(differs, l->p);
    return stop_here(rd);
}

static int on_field(void *ctx, const struct tr_field *f)
{
    struct read *rd = ctx;
    put(&rd->log, "F", 1);
    name(rd, "in", f->object);
    putf(&rd->log, "[%ld]", f->index);
    name(rd, "key", f->key);
    put(&rd->log, "=", 1);
    value(rd, &f->v, false);
    put(&rd->log, "\n", 1);
    if (f->index < -1 || (!f->object && f->index != -1) || (f->index == -1 && !f->key))
        broken("a field's place is not one the header names", rd->log.p);
    if (!f->object && f->key && strcmp(f->key, "traceEvents") == 0)
        broken("traceEvents is reported as a field", NULL);
    return stop_here(rd);
}

static const struct tr_callbacks callbacks = {.event = on_event, .field = on_field};

struct outcome {
    int rc;
    size_t events;
    char error[512]; /* tr_error after the path */
    struct log log;
    size_t callbacks;
};

/* Reads path with r; checks the answer and the message.  collect: keep
 * the names handed over in seen; oracle: hold each event against it. */
static struct outcome read_with(struct tr_reader *r, const char *path, size_t stop_at, bool collect,
                                const struct oracle *oracle)
{
    struct read rd = {.r = r, .stop_at = stop_at, .collect = collect, .oracle = oracle};
    put(&rd.log, "", 0);
    int rc = tr_read(r, path, &callbacks, &rd);
    const char *err = tr_error(r);
    static const int known[] = {0, -EIO, -EBADMSG, -ENOMSG, -EPROTO, -E2BIG, -ENOMEM, STOPPED};
    bool is_known = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        is_known |= rc == known[i];
    if (!is_known)
        broken("tr_read returns a value the header does not name", err);
    if ((rc == 0) != (err[0] == '\0'))
        broken("an error without a message, or a message without an error", err);
    if (strchr(err, '\n') || strchr(err, '\r'))
        broken("an error message is not one line", err);
    size_t n = strlen(path);
    if (rc && strncmp(err, path, n) != 0)
        broken("an error message does not begin with the file", err);
    if ((rc == STOPPED) != (rc && strncmp(err + n, ": reading stopped: ", 19) == 0))
        broken("a stop is not said as one", err);
    struct outcome o = {.rc = rc, .events = rd.events, .log = rd.log, .callbacks = rd.callbacks};
    snprintf(o.error, sizeof o.error, "%s", rc ? err + n : "");
    return o;
}

static void expect_same(const struct outcome *want, const struct outcome *got, const char *how)
{
    if (got->rc != want->rc || strcmp(got->error, want->error) != 0)
        broken(how, got->error);
    if (got->log.len != want->log.len || memcmp(got->log.p, want->log.p, got->log.len) != 0)
        broken(how, got->log.p);
}

static bool is_prefix(const struct log *part, const struct log *whole)
{
    return part->len <= whole->len && memcmp(part->p, whole->p, part->len) == 0;
}

/* ---- the files ------------------------------------------------------------------- */

/* A memfd holding bytes, reopened by its /proc path (gzopen wants a name). */
struct file {
    int fd;
    char path[64];
};

static void fill(struct file *f, const void *bytes, size_t n)
{
    if (f->fd <= 0) {
        f->fd = memfd_create("fuzz_trace", MFD_CLOEXEC);
        if (f->fd < 0)
            broken("memfd_create failed", strerror(errno));
        snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
    }
    if (ftruncate(f->fd, 0) < 0 || (n && pwrite(f->fd, bytes, n, 0) != (ssize_t)n))
        broken("cannot write the input", strerror(errno));
}

/* data gzip'd into f with the level given (a 512-byte window and little
 * memory: gzread takes any window, and this runs for every input); false
 * when zlib refuses. */
static bool fill_gzip(struct file *f, const uint8_t *data, size_t size, int level)
{
    z_stream z = {0};
    if (deflateInit2(&z, level, Z_DEFLATED, 16 + 9, 1, Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
    uLong cap = deflateBound(&z, (uLong)size);
    Bytef *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)size;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    bool ok = out && deflate(&z, Z_FINISH) == Z_STREAM_END;
    if (ok)
        fill(f, out, z.total_out);
    deflateEnd(&z);
    free(out);
    return ok;
}

/* Interns, for each name in seen, the names one byte away from it (one
 * more, one less, the first or last byte changed), then names of its own
 * until the table has grown past 1024 slots.  A reader that holds them must
 * hand over what a fresh one does: it would not if names matched by less
 * than their whole text, or if growing lost the names it held before. */
static void intern_near_misses(struct tr_reader *r)
{
    char filler[32];
    for (int i = 0; tr_interned(r) <= 1024; i++)
        tr_intern(r, filler, (size_t)snprintf(filler, sizeof filler, "\001filler %d", i));
    for (size_t i = 0; i < SEEN_SLOTS; i++) {
        if (!seen[i])
            continue;
        size_t n = strlen(seen[i]);
        char *v = malloc(n + 2);
        if (!v)
            broken("out of memory", NULL);
        memcpy(v, seen[i], n);
        memcpy(v + n, "x", 2);
        tr_intern(r, v, n + 1);
        if (n) {
            tr_intern(r, v, n - 1);
            v[n - 1] ^= 1;
            tr_intern(r, v, n);
            v[n - 1] ^= 1;
            v[0] ^= 1;
            tr_intern(r, v, n);
        }
        free(v);
    }
}

static uint64_t fnv1a(const uint8_t *data, size_t size)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 0x100000001b3ull;
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct file plain, gz;
    if (size > UINT32_MAX)
        return 0;
    fill(&plain, data, size);
    /* the bounds, read size and stop come from the bytes, so that an input
     * replays alike */
    uint64_t h = fnv1a(data, size);

    struct tr_reader *r = tr_reader_new(NULL);
    if (!r)
        return 0;
    memset(seen, 0, sizeof seen);
    n_seen = 0;
    struct oracle *oracle = oracle_new(data, size);
    struct outcome full = read_with(r, plain.path, SIZE_MAX, true, oracle);
    if (oracle && full.rc == 0 && full.events != oracle_events(oracle))
        broken("the reader hands over another number of events than the tree has", NULL);
    oracle_free(oracle);
    size_t names = tr_interned(r);

    /* stopped at one callback (when there is one), then read whole again */
    if (full.callbacks) {
        struct outcome stopped = read_with(r, plain.path, h % full.callbacks, false, NULL);
        if (stopped.rc != STOPPED || !is_prefix(&stopped.log, &full.log))
            broken("a callback's stop is not what tr_read returns", stopped.log.p);
        free(stopped.log.p);
    }
    struct outcome again = read_with(r, plain.path, SIZE_MAX, false, NULL);
    expect_same(&full, &again, "a second read differs from the first");
    if (tr_interned(r) != names)
        broken("a second read of the same bytes interns new names", NULL);
    free(again.log.p);

    /* the same bytes gzip'd (unless they are gzip already: then the plain
     * read unpacked them) */
    if (!(size >= 2 && data[0] == 0x1f && data[1] == 0x8b) &&
        fill_gzip(&gz, data, size, (int)(h >> 8) % 10)) {
        struct outcome unpacked = read_with(r, gz.path, SIZE_MAX, false, NULL);
        expect_same(&full, &unpacked, "the gzip'd file reads otherwise than the plain one");
        free(unpacked.log.p);
    }

    /* a read size of a few bytes (tokens cut across reads), by a reader
     * that holds names near the file's (seen points into r's names) */
    struct tr_reader *near = tr_reader_new(
        &(struct tr_options){.read_size = 1 + (h >> 16) % 7, .args_text = (h >> 12) & 1});
    if (near) {
        intern_near_misses(near);
        struct outcome small = read_with(near, plain.path, SIZE_MAX, false, NULL);
        expect_same(&full, &small, "a small read size reads otherwise");
        free(small.log.p);
        tr_reader_free(near);
    }
    tr_reader_free(r);

    /* small bounds: fail early, never otherwise */
    struct tr_options lim = {.max_token = 1 + (h >> 24) % 512, .max_depth = 1 + (int)(h >> 40) % 6};
    r = tr_reader_new(&lim);
    if (r) {
        struct outcome bounded = read_with(r, plain.path, SIZE_MAX, false, NULL);
        if ((bounded.rc != full.rc && bounded.rc != -E2BIG) || !is_prefix(&bounded.log, &full.log))
            broken("small bounds read otherwise than failing early", bounded.error);
        if (bounded.rc == 0)
            expect_same(&full, &bounded, "small bounds read less, and succeed");
        free(bounded.log.p);
        tr_reader_free(r);
    }
    free(full.log.p);
    return 0;
}
