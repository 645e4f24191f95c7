/*
 * omniprof summary FILE [--top N]: the time table of a trace file, written
 * by omniprof or by torch.profiler / Kineto, gzip'd or not.
 *
 * The file is streamed through the trace reader (trace_reader.h), keeping
 * per event only what the table needs, so traces of millions of events are
 * summarised in memory bounded by the rows and the launches:
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

#include "cli.h"
#include "progress.h"
#include "trace_reader.h"
#include "writer.h"

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

/* The names summary looks for, interned by the reader: compared by pointer. */
struct names {
    const char *X, *kernel, *gpu_memcpy, *gpu_memset, *cuda_runtime, *cuda_driver;
    const char *correlation, *copy_kind, *value; /* args; "kernel" is one too */
};

struct summary {
    struct names is;
    struct wr_rows gpu, host;
    struct api_call *calls;
    size_t n_calls, cap_calls;
    struct gpu_ref *refs;
    size_t n_refs, cap_refs;
    size_t events;
    struct tr_reader *r;
    struct cli_progress progress; /* on stderr, when it is a terminal */
};

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

static int intern_names(struct tr_reader *r, struct names *n)
{
#define NAME(field, text) (n->field = tr_intern(r, text, sizeof text - 1)) != NULL
    bool ok = NAME(X, "X") && NAME(kernel, "kernel") && NAME(gpu_memcpy, "gpu_memcpy") &&
              NAME(gpu_memset, "gpu_memset") && NAME(cuda_runtime, "cuda_runtime") &&
              NAME(cuda_driver, "cuda_driver") && NAME(correlation, "correlation") &&
              NAME(copy_kind, "copy kind") && NAME(value, "value");
#undef NAME
    return ok ? 0 : -ENOMEM;
}

static uint64_t dur_ns(const struct tr_event *ev)
{
    return ev->has_dur && ev->dur_ns > 0 ? (uint64_t)ev->dur_ns : 0;
}

/* The correlation id in args, as a number; 0 when there is none. */
static uint64_t correlation(const struct summary *p, const struct tr_event *ev)
{
    const struct tr_value *v = tr_arg(ev, p->is.correlation);
    return v && (v->type == TR_INT || v->type == TR_REAL) ? strtoull(v->s, NULL, 10) : 0;
}

static int gpu_event(struct summary *p, const struct tr_event *ev)
{
    struct wr_row *r = wr_rows_get(&p->gpu, ev->name ? ev->name : "");
    if (!r || !push((void **)&p->refs, &p->n_refs, &p->cap_refs, sizeof *p->refs))
        return -ENOMEM;
    wr_row_gpu(r, dur_ns(ev));
    p->refs[p->n_refs++] = (struct gpu_ref){correlation(p, ev), (size_t)(r - p->gpu.rows)};
    return 0;
}

/* The row of an interposed API call: its kernel, copy kind or memset. */
static const char *host_row(const struct summary *p, const struct tr_event *ev)
{
    const struct tr_value *kernel = tr_arg(ev, p->is.kernel);
    const struct tr_value *copy = tr_arg(ev, p->is.copy_kind);
    const struct tr_value *value = tr_arg(ev, p->is.value);
    if (kernel && kernel->type == TR_STRING && kernel->s[0])
        return kernel->s;
    if (copy && copy->type == TR_STRING && copy->s[0])
        return copy->s;
    if (value && (value->type == TR_INT || value->type == TR_REAL))
        return "Memset (Device)";
    return NULL;
}

static int api_event(struct summary *p, const struct tr_event *ev)
{
    uint64_t corr = correlation(p, ev), ns = dur_ns(ev);
    if (corr) {
        if (!push((void **)&p->calls, &p->n_calls, &p->cap_calls, sizeof *p->calls))
            return -ENOMEM;
        p->calls[p->n_calls++] = (struct api_call){corr, ns};
    }
    const char *name = host_row(p, ev);
    struct wr_row *r = name ? wr_rows_get(&p->host, name) : NULL;
    if (name && !r)
        return -ENOMEM;
    if (r)
        wr_row_host(r, ns);
    return 0;
}

static int on_event(void *ctx, const struct tr_event *ev)
{
    struct summary *p = ctx;
    p->events++;
    cli_progress_tick(&p->progress, p->r);
    if (ev->ph != p->is.X)
        return 0;
    if (ev->cat == p->is.kernel || ev->cat == p->is.gpu_memcpy || ev->cat == p->is.gpu_memset)
        return gpu_event(p, ev);
    if (ev->cat == p->is.cuda_runtime || ev->cat == p->is.cuda_driver)
        return api_event(p, ev);
    return 0;
}

static int by_correlation(const void *a, const void *b)
{
    const struct api_call *x = a, *y = b;
    return (x->correlation > y->correlation) - (x->correlation < y->correlation);
}

/* GPU rows get the host time of the calls that launched them. */
static void join_host_times(struct summary *p)
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
    struct summary p = {0};
    struct tr_reader *r = tr_reader_new(NULL);
    int rc = r ? intern_names(r, &p.is) : -ENOMEM;
    p.r = r;
    cli_progress_begin(&p.progress, "summary", cli_file_size(path));
    cli_progress_file(&p.progress, path);
    if (rc == 0)
        rc = tr_read(r, path, &(struct tr_callbacks){.event = on_event}, &p);
    cli_progress_end(&p.progress);
    if (rc < 0) {
        fprintf(stderr, "omniprof: %s\n", r && tr_error(r)[0] ? tr_error(r) : strerror(-rc));
    } else {
        join_host_times(&p);
        bool gpu = p.gpu.n > 0;
        printf("%s: %zu events; %s\n", path, p.events,
               gpu ? "GPU activity rows (host time: the launching calls)"
                   : "no GPU activity: rows from the recorded API calls");
        rc = wr_rows_print(stdout, gpu ? &p.gpu : &p.host, top) < 0 ? -EIO : 0;
    }
    tr_reader_free(r);
    wr_rows_free(&p.gpu);
    wr_rows_free(&p.host);
    free(p.calls);
    free(p.refs);
    return rc < 0;
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
