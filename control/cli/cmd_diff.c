/*
 * omniprof diff BEFORE AFTER [--by kernel|stage|python|nvtx] [--top N]
 *                            [--fail-above PCT] [--group-templates]
 *
 * Where GPU time went, before and after a change.  Each side is a trace, a
 * directory of traces (the processes of a run) or a merged trace; every
 * GPU record (kernel, memcpy, memset) of a side is summed into a row:
 *   kernel  its name, demangled ("_Z..."), optionally with templates grouped;
 *   stage   the pipeline stage of the process that ran it;
 *   python  the innermost Python frame ("file.py(12): fn") of the call that
 *           launched it: from the launch's "Call stack", else the innermost
 *           python_function range around the launch (torch.profiler);
 *   nvtx    the innermost annotation around it: gpu_user_annotation on its
 *           stream, else user_annotation around the launch (ProfilerStep#N
 *           is the iteration, not an annotation, and is passed over).
 * Rows show calls and time on each side, the change and its percentage, and
 * are sorted by the size of the change; a row on one side only is new or
 * gone.  With --by kernel and stages, a section per stage follows.  Without
 * GPU activity on a side (omniprof without CUPTI), both sides are compared
 * on the host time of the launching calls instead, as summary does.
 *
 * Compared with HTA's TraceDiff (counts and total duration per op name, for
 * one rank and iteration, in pandas): streamed through the trace reader, so
 * sizes are bounded by names, not events (python and nvtx keep one small
 * record per launch and GPU record of the file being read); stages, Python
 * frames and annotations as rows; demangled names; new/gone; per-call
 * averages; an exit code for CI (--fail-above).
 *
 * Exit: 0; 1 when --fail-above PCT is given and the total grew by more;
 * 2 for bad usage or an unreadable input.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diff.h"
#include "trace_set.h"
#include "writer.h"

enum by { BY_KERNEL, BY_STAGE, BY_PYTHON, BY_NVTX };
static const char *const by_names[] = {"kernel", "stage", "python", "nvtx"};

#define NO_STAGE (-1)

struct names {
    const char *X, *kernel, *gpu_memcpy, *gpu_memset, *cuda_runtime, *cuda_driver;
    const char *python_function, *user_annotation, *gpu_user_annotation, *mergedPids;
    const char *correlation, *call_stack, *copy_kind, *value, *input, *stage, *empty;
    const char *no_python, *no_nvtx;
};

/* A GPU record and a launch, kept for python and nvtx while their file is
 * read: joined by (input, correlation) at its end, input being which input
 * of a merged trace the pid came from (0 in any other trace). */
struct gpu_rec {
    int64_t pid, corr, dur;
};
struct launch {
    int64_t pid, corr;  /* pid: its input, once resolved */
    const char *python; /* from its call stack */
    const char *found;  /* its row, once resolved */
};

/* What one side (BEFORE or AFTER) adds up to. */
struct side {
    const char *arg;
    size_t files;
    uint64_t gpu_records, api_calls, host_records;
    struct diff_table gpu, host; /* by (row, stage) */
    bool stages;                 /* some process had a stage */
};

struct diff {
    enum by by;
    bool templates;
    struct names is;
    struct tr_reader *r;
    struct diff_table raw_rows; /* raw kernel name -> row name (group 0) via .calls */
    const char **row_names;     /* rows made by diff_kernel_name, by raw_rows' calls - 1 */
    size_t n_row_names, cap_row_names;

    /* the file being read */
    const struct cli_trace *t;
    struct side *side;
    struct diff_table fgpu, fhost;          /* by (row, pid) */
    struct diff_table pid_input, pid_stage; /* merged traces: by (empty, pid) */
    struct gpu_rec *recs;
    size_t n_recs, cap_recs;
    struct diff_query *gq, *lq; /* GPU records' and launches' instants */
    size_t n_gq, cap_gq, n_lq, cap_lq;
    struct launch *launches;
    size_t n_launches, cap_launches;
    struct diff_span *spans;
    size_t n_spans, cap_spans;
    int64_t pending_pid; /* mergedPids: the pid whose members come */
};

static bool grow(void **v, size_t *n, size_t *cap, size_t size)
{
    if (*n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 1024;
    void *g = realloc(*v, c * size);
    if (!g)
        return false;
    *v = g;
    *cap = c;
    return true;
}
#define GROW(d, arr) grow((void **)&(d)->arr, &(d)->n_##arr, &(d)->cap_##arr, sizeof *(d)->arr)

static int intern_names(struct diff *d)
{
#define NAME(field, text) (d->is.field = tr_intern(d->r, text, sizeof text - 1)) != NULL
    bool ok = NAME(X, "X") && NAME(kernel, "kernel") && NAME(gpu_memcpy, "gpu_memcpy") &&
              NAME(gpu_memset, "gpu_memset") && NAME(cuda_runtime, "cuda_runtime") &&
              NAME(cuda_driver, "cuda_driver") && NAME(python_function, "python_function") &&
              NAME(user_annotation, "user_annotation") &&
              NAME(gpu_user_annotation, "gpu_user_annotation") && NAME(mergedPids, "mergedPids") &&
              NAME(correlation, "correlation") && NAME(call_stack, "Call stack") &&
              NAME(copy_kind, "copy kind") && NAME(value, "value") && NAME(input, "input") &&
              NAME(stage, "stage") && NAME(empty, "") && NAME(no_python, "(no python)") &&
              NAME(no_nvtx, "(none)");
#undef NAME
    return ok ? 0 : -ENOMEM;
}

/* ---- rows of the file being read ----------------------------------------------- */

/* The row of a kernel's raw (interned) name, made once per name. */
static const char *kernel_row(struct diff *d, const char *raw)
{
    struct diff_cell *c = diff_cell(&d->raw_rows, raw, 0);
    if (!c)
        return NULL;
    if (c->calls)
        return d->row_names[c->calls - 1];
    char *name = diff_kernel_name(raw, d->templates);
    const char *row = name ? tr_intern(d->r, name, strlen(name)) : NULL;
    free(name);
    if (!row || !GROW(d, row_names))
        return NULL;
    d->row_names[d->n_row_names++] = row;
    c->calls = d->n_row_names;
    return row;
}

static uint64_t dur_of(const struct tr_event *ev)
{
    return ev->has_dur && ev->dur_ns > 0 ? (uint64_t)ev->dur_ns : 0;
}

static int64_t pid_of(const struct tr_event *ev)
{
    return ev->pid.present && !ev->pid.is_str ? ev->pid.num : INT64_MIN;
}

static int64_t correlation(const struct diff *d, const struct tr_event *ev)
{
    const struct tr_value *v = tr_arg(ev, d->is.correlation);
    return v && v->type == TR_INT ? v->i : -1;
}

static int add(struct diff_table *t, const char *row, int64_t group, uint64_t ns)
{
    struct diff_cell *c = diff_cell(t, row, group);
    if (!c)
        return -ENOMEM;
    c->calls++;
    c->ns += ns;
    return 0;
}

static int gpu_event(struct diff *d, const struct tr_event *ev)
{
    d->side->gpu_records++;
    const char *row =
        d->by == BY_KERNEL ? kernel_row(d, ev->name ? ev->name : d->is.empty) : d->is.empty;
    if (!row)
        return -ENOMEM;
    if (d->by == BY_KERNEL || d->by == BY_STAGE)
        return add(&d->fgpu, row, pid_of(ev), dur_of(ev));
    if (!GROW(d, recs) || !GROW(d, gq))
        return -ENOMEM;
    d->recs[d->n_recs] = (struct gpu_rec){pid_of(ev), correlation(d, ev), (int64_t)dur_of(ev)};
    d->gq[d->n_gq++] = (struct diff_query){diff_track_of(ev), ev->ts_ns, d->n_recs++, NULL};
    return 0;
}

/* An interposed call's row (no GPU activity): its kernel, copy or memset. */
static const char *host_row(struct diff *d, const struct tr_event *ev)
{
    const struct tr_value *kernel = tr_arg(ev, d->is.kernel);
    const struct tr_value *copy = tr_arg(ev, d->is.copy_kind);
    const struct tr_value *value = tr_arg(ev, d->is.value);
    if (kernel && kernel->type == TR_STRING && kernel->s[0])
        return kernel_row(d, tr_intern(d->r, kernel->s, strlen(kernel->s)));
    if (copy && copy->type == TR_STRING && copy->s[0])
        return tr_intern(d->r, copy->s, strlen(copy->s));
    if (value && value->type == TR_INT)
        return tr_intern(d->r, "Memset (Device)", 15);
    return d->is.empty;
}

static int launch_event(struct diff *d, const struct tr_event *ev)
{
    d->side->api_calls++;
    const char *row = host_row(d, ev);
    if (!row)
        return -ENOMEM;
    if (row != d->is.empty) {
        d->side->host_records++;
        if (add(&d->fhost, d->by == BY_KERNEL ? row : d->is.empty, pid_of(ev), dur_of(ev)) < 0)
            return -ENOMEM;
    }
    int64_t corr = correlation(d, ev);
    if ((d->by != BY_PYTHON && d->by != BY_NVTX) || corr < 0)
        return 0;
    char frame[1024];
    const char *python = NULL;
    if (d->by == BY_PYTHON &&
        diff_call_stack_python(tr_arg(ev, d->is.call_stack), frame, sizeof frame) &&
        !(python = tr_intern(d->r, frame, strlen(frame))))
        return -ENOMEM;
    if (!GROW(d, launches) || !GROW(d, lq))
        return -ENOMEM;
    d->launches[d->n_launches] = (struct launch){pid_of(ev), corr, python, NULL};
    d->lq[d->n_lq++] = (struct diff_query){diff_track_of(ev), ev->ts_ns, d->n_launches++, NULL};
    return 0;
}

static bool profiler_step(const char *name)
{
    return strncmp(name, "ProfilerStep#", 13) == 0;
}

static int span_event(struct diff *d, const struct tr_event *ev)
{
    if (!ev->name || (d->by == BY_PYTHON && !diff_python_frame(ev->name)) ||
        (d->by == BY_NVTX && profiler_step(ev->name)))
        return 0;
    if (!GROW(d, spans))
        return -ENOMEM;
    d->spans[d->n_spans++] =
        (struct diff_span){diff_track_of(ev), ev->ts_ns, ev->ts_ns + (int64_t)dur_of(ev), ev->name};
    return 0;
}

static int on_event(void *ctx, const struct tr_event *ev)
{
    struct diff *d = ctx;
    if (ev->ph != d->is.X || !ev->has_ts)
        return 0;
    const char *cat = ev->cat;
    if (cat == d->is.kernel || cat == d->is.gpu_memcpy || cat == d->is.gpu_memset)
        return gpu_event(d, ev);
    if (cat == d->is.cuda_runtime || cat == d->is.cuda_driver)
        return launch_event(d, ev);
    if ((d->by == BY_PYTHON && cat == d->is.python_function) ||
        (d->by == BY_NVTX && (cat == d->is.user_annotation || cat == d->is.gpu_user_annotation)))
        return span_event(d, ev);
    return 0;
}

/* A merged trace's mergedPids: each pid's input and stage. */
static int on_field(void *ctx, const struct tr_field *f)
{
    struct diff *d = ctx;
    if (f->object != d->is.mergedPids || !f->key)
        return 0;
    if (!f->member) {
        d->pending_pid = strtoll(f->key, NULL, 10);
        return 0;
    }
    if (f->v.type != TR_INT || (f->key != d->is.input && f->key != d->is.stage))
        return 0;
    struct diff_cell *c = diff_cell(f->key == d->is.input ? &d->pid_input : &d->pid_stage,
                                    d->is.empty, d->pending_pid);
    if (!c)
        return -ENOMEM;
    c->calls = (uint64_t)f->v.i + 1; /* 0: unknown */
    return 0;
}

/* ---- the end of a file -------------------------------------------------------- */

/* What a merged trace's mergedPids says of a pid (table: pid_input or
 * pid_stage), or -1. */
static int64_t pid_says(struct diff *d, struct diff_table *t, int64_t pid)
{
    if (!t->n)
        return -1;
    struct diff_cell *c = diff_cell(t, d->is.empty, pid);
    return c && c->calls ? (int64_t)c->calls - 1 : -1;
}

static int by_input_corr(const void *a, const void *b)
{
    const struct launch *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return (x->corr > y->corr) - (x->corr < y->corr);
}

/* python and nvtx: each GPU record's row, from the ranges around it or
 * around the call that launched it. */
static int resolve(struct diff *d)
{
    if (diff_enclose(d->spans, d->n_spans, d->lq, d->n_lq) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < d->n_lq; i++) {
        struct launch *l = &d->launches[d->lq[i].ref];
        l->found = l->python ? l->python : d->lq[i].found;
        int64_t input = pid_says(d, &d->pid_input, l->pid);
        l->pid = input < 0 ? 0 : input;
    }
    qsort(d->launches, d->n_launches, sizeof *d->launches, by_input_corr);
    if (d->by == BY_NVTX && diff_enclose(d->spans, d->n_spans, d->gq, d->n_gq) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < d->n_gq; i++) {
        const struct gpu_rec *g = &d->recs[d->gq[i].ref];
        const char *row = d->by == BY_NVTX ? d->gq[i].found : NULL;
        int64_t input = pid_says(d, &d->pid_input, g->pid);
        struct launch key = {.pid = input < 0 ? 0 : input, .corr = g->corr};
        const struct launch *l = row || g->corr < 0 ? NULL
                                                    : bsearch(&key, d->launches, d->n_launches,
                                                              sizeof key, by_input_corr);
        if (!row)
            row = l && l->found ? l->found : d->by == BY_PYTHON ? d->is.no_python : d->is.no_nvtx;
        if (add(&d->fgpu, row, g->pid, (uint64_t)g->dur) < 0)
            return -ENOMEM;
    }
    return 0;
}

static const char *stage_row(struct diff *d, int64_t stage)
{
    char text[32];
    if (stage < 0)
        return tr_intern(d->r, "(no stage)", 10);
    snprintf(text, sizeof text, "stage %lld", (long long)stage);
    return tr_intern(d->r, text, strlen(text));
}

/* The file's (row, pid) cells into the side's (row, stage) ones. */
static int fold(struct diff *d, struct diff_table *from, struct diff_table *to)
{
    for (size_t i = 0; i < from->cap; i++) {
        const struct diff_cell *c = &from->v[i];
        if (!c->name)
            continue;
        int64_t stage = d->t->merged ? pid_says(d, &d->pid_stage, c->group) : d->t->stage;
        const char *row = d->by == BY_STAGE ? stage_row(d, stage) : c->name;
        struct diff_cell *to_cell = row ? diff_cell(to, row, stage) : NULL;
        if (!to_cell)
            return -ENOMEM;
        to_cell->calls += c->calls;
        to_cell->ns += c->ns;
        d->side->stages |= stage >= 0;
    }
    return 0;
}

static void file_reset(struct diff *d)
{
    diff_table_free(&d->fgpu);
    diff_table_free(&d->fhost);
    diff_table_free(&d->pid_input);
    diff_table_free(&d->pid_stage);
    d->n_recs = d->n_gq = d->n_lq = d->n_launches = d->n_spans = 0;
}

static int read_file(struct diff *d, const struct cli_trace *t)
{
    d->t = t;
    file_reset(d);
    int rc =
        tr_read(d->r, t->path, &(struct tr_callbacks){.event = on_event, .field = on_field}, d);
    if (rc < 0) {
        fprintf(stderr, "omniprof: %s\n", tr_error(d->r)[0] ? tr_error(d->r) : strerror(-rc));
        return rc;
    }
    if ((d->by == BY_PYTHON || d->by == BY_NVTX) && (rc = resolve(d)) < 0)
        return rc;
    if ((rc = fold(d, &d->fgpu, &d->side->gpu)) == 0)
        rc = fold(d, &d->fhost, &d->side->host);
    if (rc < 0)
        fprintf(stderr, "omniprof: diff: %s\n", strerror(-rc));
    return rc;
}

static int read_side(struct diff *d, struct side *s)
{
    struct cli_traces set = {0};
    int rc = cli_traces_add(&set, s->arg, NULL);
    if (rc == 0)
        rc = cli_traces_peek(&set);
    d->side = s;
    for (size_t i = 0; rc == 0 && i < set.n; i++)
        rc = read_file(d, &set.v[i]);
    s->files = set.n;
    cli_traces_free(&set);
    return rc < 0 ? -1 : 0;
}

/* ---- the table ------------------------------------------------------------------ */

struct row {
    const char *name;
    uint64_t calls[2], ns[2];
};

struct rows {
    struct row *v;
    size_t n, cap;
    struct diff_table index; /* name -> row number + 1, in .calls */
};

/* Adds the cells of one side's table (stage: only that stage's; ALL_STAGES:
 * every one) into the rows' column `col`. */
#define ALL_STAGES INT64_MIN
static int gather(struct rows *rows, const struct diff_table *t, int col, int64_t stage)
{
    for (size_t i = 0; i < t->cap; i++) {
        const struct diff_cell *c = &t->v[i];
        if (!c->name || (stage != ALL_STAGES && c->group != stage))
            continue;
        struct diff_cell *at = diff_cell(&rows->index, c->name, 0);
        if (!at)
            return -ENOMEM;
        if (!at->calls) {
            if (!grow((void **)&rows->v, &rows->n, &rows->cap, sizeof *rows->v))
                return -ENOMEM;
            rows->v[rows->n++] = (struct row){.name = c->name};
            at->calls = rows->n;
        }
        struct row *r = &rows->v[at->calls - 1];
        r->calls[col] += c->calls;
        r->ns[col] += c->ns;
    }
    return 0;
}

static uint64_t change(const struct row *r)
{
    return r->ns[1] > r->ns[0] ? r->ns[1] - r->ns[0] : r->ns[0] - r->ns[1];
}

/* The biggest change first; then the most time; then by name. */
static int by_change(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    uint64_t cx = change(x), cy = change(y);
    if (cx != cy)
        return cx > cy ? -1 : 1;
    uint64_t tx = x->ns[0] + x->ns[1], ty = y->ns[0] + y->ns[1];
    if (tx != ty)
        return tx > ty ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Copies src as printable UTF-8 of at most WR_NAME_MAX_WIDTH code points
 * (control bytes and invalid UTF-8 as '?', long names end in "..."); returns
 * its width. */
static int printable(char *dst, size_t cap, const char *src)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t len = 0;
    int width = 0;
    while (*s && len + 8 < cap) {
        if (width == WR_NAME_MAX_WIDTH - 3 && strlen((const char *)s) > 3) {
            memcpy(dst + len, "...", 3);
            len += 3;
            width += 3;
            break;
        }
        int n = wr_utf8_len(s);
        if (n == 0 || *s < 0x20 || *s == 0x7F) {
            dst[len++] = '?';
            s++;
        } else {
            memcpy(dst + len, s, (size_t)n);
            len += (size_t)n;
            s += n;
        }
        width++;
    }
    dst[len] = '\0';
    return width;
}

static void fmt_time(char *buf, size_t cap, const char *sign, uint64_t ns)
{
    double us = (double)ns / 1000.0;
    if (us >= 1e6)
        snprintf(buf, cap, "%s%.3fs", sign, us / 1e6);
    else if (us >= 1e3)
        snprintf(buf, cap, "%s%.3fms", sign, us / 1e3);
    else
        snprintf(buf, cap, "%s%.3fus", sign, us);
}

static void fmt_delta(char *buf, size_t cap, uint64_t before, uint64_t after)
{
    fmt_time(buf, cap, after >= before ? "+" : "-",
             after >= before ? after - before : before - after);
}

static void fmt_pct(char *buf, size_t cap, uint64_t before, uint64_t after, uint64_t calls_before,
                    uint64_t calls_after)
{
    if (!calls_before && calls_after)
        snprintf(buf, cap, "new");
    else if (calls_before && !calls_after)
        snprintf(buf, cap, "gone");
    else if (before == 0)
        snprintf(buf, cap, after ? "+inf%%" : "0.00%%");
    else
        snprintf(buf, cap, "%+.2f%%", 100.0 * ((double)after - (double)before) / (double)before);
}

enum { N_COLS = 8, COL_W = 13 };

static void rule(int name_w)
{
    for (int i = 0; i < name_w + N_COLS * (COL_W + 2); i++)
        putchar('-');
    putchar('\n');
}

static void print_row(const char *name, int width, int name_w, const struct row *r)
{
    char cell[N_COLS][40];
    snprintf(cell[0], sizeof cell[0], "%" PRIu64, r->calls[0]);
    snprintf(cell[1], sizeof cell[1], "%" PRIu64, r->calls[1]);
    for (int s = 0; s < 2; s++) {
        fmt_time(cell[2 + s], sizeof cell[2], "", r->ns[s]);
        if (r->calls[s])
            fmt_time(cell[4 + s], sizeof cell[4], "", r->ns[s] / r->calls[s]);
        else
            snprintf(cell[4 + s], sizeof cell[4], "-");
    }
    fmt_delta(cell[6], sizeof cell[6], r->ns[0], r->ns[1]);
    fmt_pct(cell[7], sizeof cell[7], r->ns[0], r->ns[1], r->calls[0], r->calls[1]);
    for (int i = width; i < name_w; i++)
        putchar(' ');
    fputs(name, stdout);
    for (int c = 0; c < N_COLS; c++)
        printf("  %*s", COL_W, cell[c]);
    putchar('\n');
}

/* One table: rows of the two sides (one stage, or all), sorted by change. */
static int print_table(const struct side *sides, bool gpu, int64_t stage, size_t top,
                       struct row *total)
{
    struct rows rows = {0};
    int rc = 0;
    for (int s = 0; rc == 0 && s < 2; s++)
        rc = gather(&rows, gpu ? &sides[s].gpu : &sides[s].host, s, stage);
    if (rc < 0) {
        free(rows.v);
        diff_table_free(&rows.index);
        return rc;
    }
    qsort(rows.v, rows.n, sizeof *rows.v, by_change);
    size_t shown = top && top < rows.n ? top : rows.n;
    char name[4 * WR_NAME_MAX_WIDTH + 8];
    int name_w = 5;
    for (size_t i = 0; i < shown; i++) {
        int w = printable(name, sizeof name, rows.v[i].name);
        name_w = w > name_w ? w : name_w;
    }
    const char *unit = gpu ? "GPU" : "Host";
    char cols[N_COLS][24];
    snprintf(cols[0], sizeof cols[0], "Calls before");
    snprintf(cols[1], sizeof cols[1], "Calls after");
    snprintf(cols[2], sizeof cols[2], "%s before", unit);
    snprintf(cols[3], sizeof cols[3], "%s after", unit);
    snprintf(cols[4], sizeof cols[4], "Avg before");
    snprintf(cols[5], sizeof cols[5], "Avg after");
    snprintf(cols[6], sizeof cols[6], "Delta");
    snprintf(cols[7], sizeof cols[7], "Delta %%");
    rule(name_w);
    printf("%*s", name_w, "Name");
    for (int c = 0; c < N_COLS; c++)
        printf("  %*s", COL_W, cols[c]);
    putchar('\n');
    rule(name_w);
    *total = (struct row){.name = "Total"};
    size_t added = 0, gone = 0;
    for (size_t i = 0; i < rows.n; i++) {
        const struct row *r = &rows.v[i];
        for (int s = 0; s < 2; s++) {
            total->calls[s] += r->calls[s];
            total->ns[s] += r->ns[s];
        }
        added += !r->calls[0] && r->calls[1];
        gone += r->calls[0] && !r->calls[1];
        if (i < shown)
            print_row(name, printable(name, sizeof name, r->name), name_w, r);
    }
    rule(name_w);
    print_row("Total", 5, name_w, total);
    printf("%zu rows: %zu new, %zu gone", rows.n, added, gone);
    if (shown < rows.n)
        printf("; %zu more not shown (in the total)", rows.n - shown);
    putchar('\n');
    free(rows.v);
    diff_table_free(&rows.index);
    return 0;
}

/* ---- the command -------------------------------------------------------------- */

static int by_stage_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    /* no stage last */
    return (x < 0) != (y < 0) ? (x < 0) - (y < 0) : (x > y) - (x < y);
}

/* The stages either side has rows in, sorted; *n of them. */
static int64_t *stages_of(const struct side *sides, bool gpu, size_t *n)
{
    struct diff_table seen = {0};
    int64_t *v = NULL;
    size_t cap = 0;
    *n = 0;
    for (int s = 0; s < 2; s++) {
        const struct diff_table *t = gpu ? &sides[s].gpu : &sides[s].host;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->v[i].name)
                continue;
            struct diff_cell *c = diff_cell(&seen, "", t->v[i].group);
            if (!c || (!c->calls++ && !grow((void **)&v, n, &cap, sizeof *v))) {
                free(v);
                diff_table_free(&seen);
                return NULL;
            }
            if (c->calls == 1)
                v[(*n)++] = t->v[i].group;
        }
    }
    diff_table_free(&seen);
    if (v)
        qsort(v, *n, sizeof *v, by_stage_value);
    return v;
}

static int report(struct diff *d, struct side *sides, size_t top, bool gpu)
{
    for (int s = 0; s < 2; s++)
        printf("%s %s: %zu trace%s, %" PRIu64 " GPU records, %" PRIu64 " CUDA API calls\n",
               s ? "after: " : "before:", sides[s].arg, sides[s].files,
               sides[s].files == 1 ? "" : "s", sides[s].gpu_records, sides[s].api_calls);
    printf("by %s, %s%s\n", by_names[d->by], gpu ? "GPU time" : "host time of the launching calls",
           gpu ? "" : " (a side has no GPU activity: GPU times come from CUPTI)");
    struct row total;
    if (print_table(sides, gpu, ALL_STAGES, top, &total) < 0)
        return -ENOMEM;
    size_t n_stages = 0;
    int64_t *stages = NULL;
    if (d->by == BY_KERNEL && (sides[0].stages || sides[1].stages) &&
        !(stages = stages_of(sides, gpu, &n_stages)))
        return -ENOMEM;
    for (size_t i = 0; i < n_stages; i++) {
        struct row stage_total;
        if (stages[i] >= 0)
            printf("\nstage %lld\n", (long long)stages[i]);
        else
            printf("\nno stage\n");
        if (print_table(sides, gpu, stages[i], top, &stage_total) < 0) {
            free(stages);
            return -ENOMEM;
        }
    }
    free(stages);
    d->side = NULL;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: omniprof diff BEFORE AFTER [--by kernel|stage|python|nvtx] [--top N]\n"
                    "                     [--fail-above PCT] [--group-templates]\n"
                    "  BEFORE, AFTER: a trace, a directory of traces, or a merged trace\n");
    return 2;
}

/* Whether the total grew by more than pct percent. */
static bool grew(const struct side *sides, bool gpu, double pct)
{
    uint64_t t[2] = {0, 0};
    for (int s = 0; s < 2; s++) {
        const struct diff_table *tab = gpu ? &sides[s].gpu : &sides[s].host;
        for (size_t i = 0; i < tab->cap; i++)
            t[s] += tab->v[i].name ? tab->v[i].ns : 0;
    }
    double change =
        t[0] ? 100.0 * ((double)t[1] - (double)t[0]) / (double)t[0] : (t[1] ? 1.0 / 0.0 : 0.0);
    if (change > pct)
        fprintf(stderr, "omniprof: diff: total %s time grew by %.2f%%, more than %g%%\n",
                gpu ? "GPU" : "host", change, pct);
    return change > pct;
}

int cli_cmd_diff(int argc, char **argv)
{
    struct diff d = {.by = BY_KERNEL};
    struct side sides[2] = {{0}};
    size_t top = 0, n_args = 0;
    double fail_above = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (strcmp(a, "--by") == 0 && v) {
            int k = 0;
            while (k < 4 && strcmp(v, by_names[k]) != 0)
                k++;
            if (k == 4)
                return cli_bad_value("--by", v, "kernel, stage, python or nvtx");
            d.by = (enum by)k;
            i++;
        } else if (strcmp(a, "--top") == 0 && v) {
            if (cli_parse_number(v, 0, 1000000000, &n) < 0)
                return cli_bad_value("--top", v, "a number of rows (0: all)");
            top = (size_t)n;
            i++;
        } else if (strcmp(a, "--fail-above") == 0 && v) {
            char *end;
            fail_above = strtod(v, &end);
            if (end == v || *end || !(fail_above >= 0 && fail_above < 1e12))
                return cli_bad_value("--fail-above", v, "a percentage, 0 or more");
            i++;
        } else if (strcmp(a, "--group-templates") == 0) {
            d.templates = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "omniprof: diff: unknown option or missing value '%s'\n", a);
            return usage();
        } else if (n_args < 2) {
            sides[n_args++].arg = a;
        } else {
            return usage();
        }
    }
    if (n_args != 2)
        return usage();
    d.r = tr_reader_new(&(struct tr_options){.member_fields = true});
    int rc = d.r ? intern_names(&d) : -ENOMEM;
    if (rc < 0)
        fprintf(stderr, "omniprof: diff: %s\n", strerror(-rc));
    for (int s = 0; rc == 0 && s < 2; s++)
        rc = read_side(&d, &sides[s]);
    bool gpu = sides[0].gpu_records && sides[1].gpu_records;
    if (rc == 0 && (rc = report(&d, sides, top, gpu)) < 0)
        fprintf(stderr, "omniprof: diff: %s\n", strerror(-rc));
    int code = rc < 0 ? 2 : fail_above >= 0 && grew(sides, gpu, fail_above) ? 1 : 0;
    file_reset(&d);
    free(d.recs);
    free(d.gq);
    free(d.lq);
    free(d.launches);
    free(d.spans);
    free(d.row_names);
    diff_table_free(&d.raw_rows);
    for (int s = 0; s < 2; s++) {
        diff_table_free(&sides[s].gpu);
        diff_table_free(&sides[s].host);
    }
    tr_reader_free(d.r);
    return code;
}
