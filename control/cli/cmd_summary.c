/*
 * omniprof summary FILE [--top N] [--by kernel|nvtx|python|python-stack]
 * [--frames-from PREFIX]: the time table of a trace file, written by
 * omniprof or by torch.profiler / Kineto, gzip'd or not.
 *
 * The file is streamed through the trace reader (trace_reader.h), keeping
 * per event only what the table needs, so traces of millions of events are
 * summarised in memory bounded by the rows and the launches:
 *   - GPU activity (cat kernel / gpu_memcpy / gpu_memset): a row per name
 *     with its GPU time, plus the host time of the API call that launched it
 *     (joined by correlation id);
 *   - without GPU activity (omniprof's interposed record): a row per kernel,
 *     copy direction and memset from the API events' args;
 *   - --by nvtx: a row per NVTX range name ("NAME", "DOMAIN/NAME") from the
 *     user_annotation events omniprof writes for ranges (args "nvtx"):
 *     calls and host time, and the GPU time of the work launched inside
 *     (the range's gpu_user_annotation spans, joined by "range id").
 * --by python and --by python-stack group the same calls by where Python
 * made them instead (summary_python.c): a row per call site or per Python
 * stack, with the GPU time of the work each call launched (joined by
 * correlation id), the host time of the calls and their number.  A call
 * counts when it launched GPU work or is a launch, copy or memset.
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
    const char *site; /* --by python*: its row; NULL otherwise */
    bool has_row;     /* a launch, copy or memset by its args */
    bool launched;    /* GPU work joined to it */
};

/* One GPU record waiting for its launch's host time. */
struct gpu_ref {
    uint64_t correlation;
    size_t row;      /* in gpu (by kernel) */
    uint64_t dur_ns; /* --by python*: added to its launch's row at the join */
};

/* The names summary looks for, interned by the reader: compared by pointer. */
struct names {
    const char *X, *kernel, *gpu_memcpy, *gpu_memset, *cuda_runtime, *cuda_driver;
    const char *correlation, *copy_kind, *value; /* args; "kernel" is one too */
    const char *user_annotation, *gpu_user_annotation, *nvtx, *domain, *range_id;
    const char *call_stack;
};

/* --by nvtx: a range's row, and its GPU time (the spans that name it). */
struct nvtx_range {
    uint64_t id;
    size_t row;
    uint64_t gpu_ns;
    bool gpu;
};

struct summary {
    struct names is;
    bool by_nvtx;
    struct cli_py_sites *by_python; /* --by python*: the rows by call site */
    struct wr_rows gpu, host, nvtx;
    struct nvtx_range *ranges, *spans;
    size_t n_ranges, cap_ranges, n_spans, cap_spans;
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
              NAME(copy_kind, "copy kind") && NAME(value, "value") &&
              NAME(user_annotation, "user_annotation") &&
              NAME(gpu_user_annotation, "gpu_user_annotation") && NAME(nvtx, "nvtx") &&
              NAME(domain, "domain") && NAME(range_id, "range id") &&
              NAME(call_stack, "Call stack");
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
    struct wr_row *r = NULL;
    if (!p->by_python && !(r = wr_rows_get(&p->gpu, ev->name ? ev->name : "")))
        return -ENOMEM;
    if (!push((void **)&p->refs, &p->n_refs, &p->cap_refs, sizeof *p->refs))
        return -ENOMEM;
    if (r)
        wr_row_gpu(r, dur_ns(ev));
    /* --by python*: the row is the launching call's, known at the join */
    p->refs[p->n_refs++] =
        (struct gpu_ref){correlation(p, ev), r ? (size_t)(r - p->gpu.rows) : 0, dur_ns(ev)};
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

/* --by python*: the call's row now when it cannot be joined, else kept
 * for the join. */
static int python_call(struct summary *p, const struct tr_event *ev, uint64_t corr, uint64_t ns)
{
    const char *site = cli_py_site(p->by_python, tr_arg(ev, p->is.call_stack));
    bool has_row = host_row(p, ev) != NULL;
    if (!site)
        return -ENOMEM;
    if (!corr) {
        struct wr_row *r = has_row ? wr_rows_get(&p->host, site) : NULL;
        if (has_row && !r)
            return -ENOMEM;
        if (r)
            wr_row_host(r, ns);
        return 0;
    }
    if (!push((void **)&p->calls, &p->n_calls, &p->cap_calls, sizeof *p->calls))
        return -ENOMEM;
    p->calls[p->n_calls++] = (struct api_call){corr, ns, site, has_row, false};
    return 0;
}

static int api_event(struct summary *p, const struct tr_event *ev)
{
    uint64_t corr = correlation(p, ev), ns = dur_ns(ev);
    if (p->by_python)
        return python_call(p, ev, corr, ns);
    if (corr) {
        if (!push((void **)&p->calls, &p->n_calls, &p->cap_calls, sizeof *p->calls))
            return -ENOMEM;
        p->calls[p->n_calls++] = (struct api_call){corr, ns, NULL, false, false};
    }
    const char *name = host_row(p, ev);
    struct wr_row *r = name ? wr_rows_get(&p->host, name) : NULL;
    if (name && !r)
        return -ENOMEM;
    if (r)
        wr_row_host(r, ns);
    return 0;
}

/* An NVTX range (host, or a GPU span of one): its id; 0 when ev is not one. */
static uint64_t nvtx_range_id(const struct summary *p, const struct tr_event *ev)
{
    const struct tr_value *kind = tr_arg(ev, p->is.nvtx);
    const struct tr_value *id = tr_arg(ev, p->is.range_id);
    if (!kind || kind->type != TR_STRING || !id || id->type != TR_INT)
        return 0;
    return strtoull(id->s, NULL, 10);
}

static int nvtx_event(struct summary *p, const struct tr_event *ev)
{
    uint64_t id = nvtx_range_id(p, ev);
    if (!id)
        return 0;
    if (ev->cat == p->is.gpu_user_annotation) {
        if (!push((void **)&p->spans, &p->n_spans, &p->cap_spans, sizeof *p->spans))
            return -ENOMEM;
        p->spans[p->n_spans++] = (struct nvtx_range){.id = id, .gpu_ns = dur_ns(ev)};
        return 0;
    }
    const struct tr_value *domain = tr_arg(ev, p->is.domain);
    char *name = NULL;
    if (asprintf(&name, "%s%s%s", domain && domain->type == TR_STRING ? domain->s : "",
                 domain && domain->type == TR_STRING ? "/" : "", ev->name ? ev->name : "") < 0)
        return -ENOMEM;
    struct wr_row *r = wr_rows_get(&p->nvtx, name);
    free(name);
    if (!r || !push((void **)&p->ranges, &p->n_ranges, &p->cap_ranges, sizeof *p->ranges))
        return -ENOMEM;
    wr_row_host(r, dur_ns(ev));
    p->ranges[p->n_ranges++] = (struct nvtx_range){.id = id, .row = (size_t)(r - p->nvtx.rows)};
    return 0;
}

static int on_event(void *ctx, const struct tr_event *ev)
{
    struct summary *p = ctx;
    p->events++;
    cli_progress_tick(&p->progress, p->r);
    if (ev->ph != p->is.X)
        return 0;
    if (p->by_nvtx)
        return ev->cat == p->is.user_annotation || ev->cat == p->is.gpu_user_annotation
                   ? nvtx_event(p, ev)
                   : 0;
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

static struct api_call *launch_of(struct summary *p, uint64_t corr)
{
    struct api_call key = {.correlation = corr};
    return corr ? bsearch(&key, p->calls, p->n_calls, sizeof *p->calls, by_correlation) : NULL;
}

/* GPU rows get the host time of the calls that launched them. */
static void join_host_times(struct summary *p)
{
    qsort(p->calls, p->n_calls, sizeof *p->calls, by_correlation);
    for (size_t i = 0; i < p->n_refs; i++) {
        const struct api_call *c = launch_of(p, p->refs[i].correlation);
        if (c)
            wr_row_host(&p->gpu.rows[p->refs[i].row], c->dur_ns);
    }
}

/* --by python*: each GPU record goes to its launching call's row, and each
 * call that launched GPU work or is a launch, copy or memset counts once,
 * with its host time.  Rows are in p->host. */
static int join_python(struct summary *p)
{
    qsort(p->calls, p->n_calls, sizeof *p->calls, by_correlation);
    for (size_t i = 0; i < p->n_refs; i++) {
        struct api_call *c = launch_of(p, p->refs[i].correlation);
        struct wr_row *r = wr_rows_get(&p->host, c ? c->site : "(no launching call in the trace)");
        if (!r)
            return -ENOMEM;
        wr_row_gpu(r, p->refs[i].dur_ns);
        if (c)
            c->launched = true;
    }
    for (size_t i = 0; i < p->n_calls; i++) {
        const struct api_call *c = &p->calls[i];
        struct wr_row *r = c->launched || c->has_row ? wr_rows_get(&p->host, c->site) : NULL;
        if ((c->launched || c->has_row) && !r)
            return -ENOMEM;
        if (r)
            wr_row_host(r, c->dur_ns);
    }
    return 0;
}

/* The table by Python call site or stack. */
static int print_python(struct summary *p, const char *path, int by, const char *from, size_t top)
{
    if (by == CLI_PY_STACK)
        printf("%s: %zu events; rows by Python stack (each listed in full below the table)\n", path,
               p->events);
    else if (from)
        printf("%s: %zu events; rows by Python call site: the innermost frame whose file starts "
               "with %s\n",
               path, p->events, from);
    else
        printf("%s: %zu events; rows by Python call site: the innermost frame outside the "
               "standard library and site-packages\n",
               path, p->events);
    if (!cli_py_sites_seen(p->by_python))
        printf("(no launching call has a Python frame: was the trace recorded with "
               "with_stack and python_stack on?)\n");
    if (wr_rows_print(stdout, &p->host, top) < 0)
        return -EIO;
    cli_py_sites_legend(p->by_python, stdout, &p->host, top);
    return ferror(stdout) ? -EIO : 0;
}

static int by_range(const void *a, const void *b)
{
    const struct nvtx_range *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* Each range's GPU time (its spans, summed over streams) into its row. */
static void join_nvtx(struct summary *p)
{
    qsort(p->ranges, p->n_ranges, sizeof *p->ranges, by_range);
    for (size_t i = 0; i < p->n_spans; i++) {
        struct nvtx_range *r =
            bsearch(&p->spans[i], p->ranges, p->n_ranges, sizeof *p->ranges, by_range);
        if (r) {
            r->gpu_ns += p->spans[i].gpu_ns;
            r->gpu = true;
        }
    }
    for (size_t i = 0; i < p->n_ranges; i++)
        if (p->ranges[i].gpu)
            wr_row_gpu(&p->nvtx.rows[p->ranges[i].row], p->ranges[i].gpu_ns);
}

static int summarise(const char *path, size_t top, bool by_nvtx, int by, const char *from)
{
    struct summary p = {.by_nvtx = by_nvtx};
    struct tr_reader *r = tr_reader_new(NULL);
    int rc = r ? intern_names(r, &p.is) : -ENOMEM;
    if (rc == 0 && by && !(p.by_python = cli_py_sites_new(r, (enum cli_py_group)by, from)))
        rc = -ENOMEM;
    p.r = r;
    cli_progress_begin(&p.progress, "summary", cli_file_size(path));
    cli_progress_file(&p.progress, path);
    if (rc == 0)
        rc = tr_read(r, path, &(struct tr_callbacks){.event = on_event}, &p);
    cli_progress_end(&p.progress);
    if (rc < 0) {
        fprintf(stderr, "omniprof: %s\n", r && tr_error(r)[0] ? tr_error(r) : strerror(-rc));
    } else if (p.by_python) {
        rc = join_python(&p);
        if (rc == 0)
            rc = print_python(&p, path, by, from, top);
        if (rc == -ENOMEM)
            fprintf(stderr, "omniprof: %s: out of memory\n", path);
    } else {
        join_host_times(&p);
        join_nvtx(&p);
        bool gpu = p.gpu.n > 0;
        printf("%s: %zu events; %s\n", path, p.events,
               by_nvtx ? "NVTX ranges (host time: the range; CUDA time: the GPU work launched "
                         "inside it, per stream first start to last end, summed over streams)"
               : gpu   ? "GPU activity rows (host time: the launching calls)"
                       : "no GPU activity: rows from the recorded API calls");
        struct wr_rows *rows = by_nvtx ? &p.nvtx : gpu ? &p.gpu : &p.host;
        rc = wr_rows_print(stdout, rows, top) < 0 ? -EIO : 0;
    }
    cli_py_sites_free(p.by_python);
    tr_reader_free(r);
    wr_rows_free(&p.gpu);
    wr_rows_free(&p.host);
    wr_rows_free(&p.nvtx);
    free(p.calls);
    free(p.refs);
    free(p.ranges);
    free(p.spans);
    return rc < 0;
}

int cli_cmd_summary(int argc, char **argv)
{
    static const char usage[] =
        "usage: omniprof summary TRACE[.json|.json.gz] [--top N]\n"
        "                        [--by kernel|nvtx|python|python-stack] [--frames-from PREFIX]\n";
    const char *path = NULL, *from = NULL;
    size_t top = 0;
    int by = 0; /* 0: by kernel, else enum cli_py_group */
    bool by_given = false, by_nvtx = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--top") == 0 && i + 1 < argc) {
            top = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--by") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            by_given = true;
            by = 0;
            by_nvtx = false;
            if (strcmp(v, "nvtx") == 0)
                by_nvtx = true;
            else if (strcmp(v, "python") == 0)
                by = CLI_PY_SITE;
            else if (strcmp(v, "python-stack") == 0)
                by = CLI_PY_STACK;
            else if (strcmp(v, "kernel") != 0)
                return cli_bad_value("--by", v, "expected kernel, nvtx, python or python-stack");
        } else if (strcmp(argv[i], "--frames-from") == 0 && i + 1 < argc) {
            from = argv[++i];
            if (!from[0])
                return cli_bad_value("--frames-from", from, "expected a path prefix");
        } else if (!path && argv[i][0] != '-') {
            path = argv[i];
        } else {
            path = NULL;
            break;
        }
    }
    if (from && !by_given)
        by = CLI_PY_SITE; /* --frames-from names what --by python groups by */
    if (from && by != CLI_PY_SITE) {
        fprintf(stderr, "omniprof: --frames-from goes with --by python\n%s", usage);
        return 2;
    }
    if (!path) {
        fputs(usage, stderr);
        return 2;
    }
    return summarise(path, top, by_nvtx, by, from);
}
