/*
 * omniprof summary FILE [--top N]: the time table of a trace file, written
 * by omniprof or by torch.profiler / Kineto, gzip'd or not.
 *
 * The file is read as a stream (zlib's gzread handles both forms) through
 * yajl's event parser, keeping per event only what the table needs, so
 * traces of millions of events are summarised in bounded memory per row:
 *   - GPU activity (cat kernel / gpu_memcpy / gpu_memset): a row per name
 *     with its GPU time, plus the host time of the API call that launched it
 *     (joined by correlation id);
 *   - without GPU activity (omniprof's interposed record): a row per kernel,
 *     copy direction and memset from the API events' args.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>
#include <zlib.h>

#include "cli.h"
#include "writer.h"

enum field { F_NONE, F_PH, F_CAT, F_NAME, F_DUR, F_CORR, F_KERNEL, F_COPY, F_VALUE };

/* One host API call, kept until the end for the correlation join. */
struct api_call {
    uint64_t correlation;
    uint64_t dur_ns;
};

/* One GPU record waiting for its launch's host time. */
struct gpu_ref {
    uint64_t correlation;
    size_t row;
};

struct parse {
    int depth;             /* open containers: 1 top object, 2 traceEvents, 3 event, 4 args */
    bool in_events;        /* inside the traceEvents array */
    bool next_is_events;   /* the last top-level key was traceEvents */
    enum field field;      /* the value about to come */
    /* the event being read */
    char ph[4], cat[32], name[1024], kernel[1024], copy[128];
    bool memset;
    double dur_us;
    uint64_t correlation;
    /* what is kept */
    struct wr_rows gpu, host;
    struct api_call *calls;
    size_t n_calls, cap_calls;
    struct gpu_ref *refs;
    size_t n_refs, cap_refs;
    size_t events;
    bool failed;
};

static void reset_event(struct parse *p)
{
    p->ph[0] = p->cat[0] = p->name[0] = p->kernel[0] = p->copy[0] = '\0';
    p->memset = false;
    p->dur_us = 0;
    p->correlation = 0;
}

static bool push(void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 1024;
    void *g = realloc(*arr, c * size);
    if (!g)
        return false;
    *arr = g;
    *cap = c;
    return true;
}

static void end_event(struct parse *p)
{
    p->events++;
    if (strcmp(p->ph, "X") != 0)
        return;
    uint64_t ns = p->dur_us > 0 ? (uint64_t)(p->dur_us * 1000.0 + 0.5) : 0;
    bool gpu = !strcmp(p->cat, "kernel") || !strcmp(p->cat, "gpu_memcpy") ||
               !strcmp(p->cat, "gpu_memset");
    if (gpu) {
        struct wr_row *r = wr_rows_get(&p->gpu, p->name);
        if (!r || !push((void **)&p->refs, &p->n_refs, &p->cap_refs, sizeof *p->refs)) {
            p->failed = true;
            return;
        }
        wr_row_gpu(r, ns);
        p->refs[p->n_refs++] = (struct gpu_ref){p->correlation, (size_t)(r - p->gpu.rows)};
        return;
    }
    if (strcmp(p->cat, "cuda_runtime") != 0 && strcmp(p->cat, "cuda_driver") != 0)
        return;
    if (p->correlation) {
        if (!push((void **)&p->calls, &p->n_calls, &p->cap_calls, sizeof *p->calls)) {
            p->failed = true;
            return;
        }
        p->calls[p->n_calls++] = (struct api_call){p->correlation, ns};
    }
    const char *row = p->kernel[0] ? p->kernel : p->copy[0] ? p->copy
                                             : p->memset    ? "Memset (Device)"
                                                            : NULL;
    if (row) {
        struct wr_row *r = wr_rows_get(&p->host, row);
        if (!r) {
            p->failed = true;
            return;
        }
        wr_row_host(r, ns);
    }
}

static int on_start_map(void *ctx)
{
    struct parse *p = ctx;
    p->depth++;
    if (p->in_events && p->depth == 3)
        reset_event(p);
    p->field = F_NONE;
    return 1;
}

static int on_end_map(void *ctx)
{
    struct parse *p = ctx;
    if (p->in_events && p->depth == 3)
        end_event(p);
    p->depth--;
    return !p->failed;
}

static int on_start_array(void *ctx)
{
    struct parse *p = ctx;
    if (p->depth == 1 && p->next_is_events)
        p->in_events = true;
    p->next_is_events = false;
    p->depth++;
    return 1;
}

static int on_end_array(void *ctx)
{
    struct parse *p = ctx;
    p->depth--;
    if (p->depth == 1)
        p->in_events = false;
    return 1;
}

static int on_key(void *ctx, const unsigned char *key, size_t len)
{
    struct parse *p = ctx;
#define IS(k) (len == sizeof(k) - 1 && memcmp(key, k, len) == 0)
    p->field = F_NONE;
    if (p->depth == 1)
        p->next_is_events = IS("traceEvents");
    else if (p->in_events && p->depth == 3)
        p->field = IS("ph") ? F_PH : IS("cat") ? F_CAT : IS("name") ? F_NAME : IS("dur") ? F_DUR : F_NONE;
    else if (p->in_events && p->depth == 4)
        p->field = IS("correlation") ? F_CORR : IS("kernel") ? F_KERNEL
                   : IS("copy kind") ? F_COPY : IS("value") ? F_VALUE : F_NONE;
#undef IS
    return 1;
}

static void copy_to(char *dst, size_t cap, const unsigned char *s, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, s, len);
    dst[len] = '\0';
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    struct parse *p = ctx;
    switch (p->field) {
    case F_PH: copy_to(p->ph, sizeof p->ph, s, len); break;
    case F_CAT: copy_to(p->cat, sizeof p->cat, s, len); break;
    case F_NAME: copy_to(p->name, sizeof p->name, s, len); break;
    case F_KERNEL: copy_to(p->kernel, sizeof p->kernel, s, len); break;
    case F_COPY: copy_to(p->copy, sizeof p->copy, s, len); break;
    default: break;
    }
    p->field = F_NONE;
    return 1;
}

static int on_number(void *ctx, const char *s, size_t len)
{
    struct parse *p = ctx;
    char buf[64];
    copy_to(buf, sizeof buf, (const unsigned char *)s, len);
    if (p->field == F_DUR)
        p->dur_us = strtod(buf, NULL);
    else if (p->field == F_CORR)
        p->correlation = strtoull(buf, NULL, 10);
    else if (p->field == F_VALUE)
        p->memset = true;
    p->field = F_NONE;
    return 1;
}

static int on_scalar(void *ctx)
{
    ((struct parse *)ctx)->field = F_NONE;
    return 1;
}

static int on_bool(void *ctx, int b)
{
    (void)b;
    return on_scalar(ctx);
}

static int by_correlation(const void *a, const void *b)
{
    const struct api_call *x = a, *y = b;
    return (x->correlation > y->correlation) - (x->correlation < y->correlation);
}

/* GPU rows get the host time of the calls that launched them. */
static void join_host_times(struct parse *p)
{
    qsort(p->calls, p->n_calls, sizeof *p->calls, by_correlation);
    for (size_t i = 0; i < p->n_refs; i++) {
        struct api_call key = {p->refs[i].correlation, 0};
        const struct api_call *c =
            p->refs[i].correlation
                ? bsearch(&key, p->calls, p->n_calls, sizeof *p->calls, by_correlation)
                : NULL;
        if (c)
            wr_row_host(&p->gpu.rows[p->refs[i].row], c->dur_ns);
    }
}

static int summarise(const char *path, size_t top)
{
    gzFile in = gzopen(path, "rb");
    if (!in) {
        fprintf(stderr, "omniprof: cannot open %s: %s\n", path, strerror(errno ? errno : ENOENT));
        return 1;
    }
    gzbuffer(in, 1 << 18);
    static const yajl_callbacks cb = {
        .yajl_null = on_scalar,
        .yajl_boolean = on_bool,
        .yajl_number = on_number,
        .yajl_string = on_string,
        .yajl_start_map = on_start_map,
        .yajl_map_key = on_key,
        .yajl_end_map = on_end_map,
        .yajl_start_array = on_start_array,
        .yajl_end_array = on_end_array,
    };
    struct parse p = {0};
    yajl_handle h = yajl_alloc(&cb, NULL, &p);
    unsigned char buf[1 << 16];
    int n, rc = 0;
    yajl_status st = yajl_status_ok;
    while (st == yajl_status_ok && (n = gzread(in, buf, sizeof buf)) > 0)
        st = yajl_parse(h, buf, (size_t)n);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    if (st != yajl_status_ok || n < 0) {
        unsigned char *err = yajl_get_error(h, 0, NULL, 0);
        fprintf(stderr, "omniprof: %s is not a readable trace: %s\n", path,
                p.failed ? "out of memory" : n < 0 ? "read error" : (char *)err);
        yajl_free_error(h, err);
        rc = 1;
    }
    yajl_free(h);
    gzclose(in);
    if (rc == 0) {
        join_host_times(&p);
        bool gpu = p.gpu.n > 0;
        printf("%s: %zu events; %s\n", path, p.events,
               gpu ? "GPU activity rows (host time: the launching calls)"
                   : "no GPU activity: rows from the recorded API calls");
        rc = wr_rows_print(stdout, gpu ? &p.gpu : &p.host, top) < 0;
    }
    wr_rows_free(&p.gpu);
    wr_rows_free(&p.host);
    free(p.calls);
    free(p.refs);
    return rc;
}

int cli_cmd_summary(int argc, char **argv)
{
    const char *path = NULL;
    size_t top = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--top") == 0 && i + 1 < argc)
            top = strtoul(argv[++i], NULL, 10);
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else
            path = NULL, i = argc;
    }
    if (!path) {
        fprintf(stderr, "usage: omniprof summary TRACE[.json|.json.gz] [--top N]\n");
        return 2;
    }
    return summarise(path, top);
}
