/*
 * omniprof diff's reading: every trace of a side, through the trace reader,
 * summed into (row, stage) cells (cmd_diff.c says what the rows are).  The
 * report's before/after feeds the same callbacks from its own pass.
 *
 * A file's GPU records are first summed by (row, pid): a merged trace says
 * which stage each pid was only in its tail (mergedPids), so stages are
 * known when the file ends, and the cells are folded into the side's then.
 * For python and nvtx, a GPU record's row comes from its launch (joined by
 * correlation, within the input of a merged trace the pid came from) and
 * from the ranges around either: one small record per GPU record, launch
 * and range of the file being read is kept until it ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"

bool diff_grow(void **v, size_t *n, size_t *cap, size_t size)
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
#define GROW(d, arr) diff_grow((void **)&(d)->arr, &(d)->n_##arr, &(d)->cap_##arr, sizeof *(d)->arr)

int diff_names(struct diff *d)
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
    d->gpu_records++;
    const char *row =
        d->by == DIFF_BY_KERNEL ? kernel_row(d, ev->name ? ev->name : d->is.empty) : d->is.empty;
    if (!row)
        return -ENOMEM;
    if (d->by == DIFF_BY_KERNEL || d->by == DIFF_BY_STAGE)
        return add(&d->fgpu, row, pid_of(ev), dur_of(ev));
    if (!GROW(d, recs) || !GROW(d, gq))
        return -ENOMEM;
    d->recs[d->n_recs] = (struct diff_gpu){pid_of(ev), correlation(d, ev), (int64_t)dur_of(ev)};
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
    d->api_calls++;
    const char *row = host_row(d, ev);
    if (!row)
        return -ENOMEM;
    bool counted = row != d->is.empty; /* a row when no side has GPU activity */
    d->host_records += counted;
    if (d->by != DIFF_BY_PYTHON && d->by != DIFF_BY_NVTX)
        return counted ? add(&d->fhost, d->by == DIFF_BY_KERNEL ? row : d->is.empty, pid_of(ev),
                             dur_of(ev))
                       : 0;
    int64_t corr = correlation(d, ev);
    if (corr < 0 && !counted)
        return 0;
    char frame[1024];
    const char *python = NULL;
    if (d->by == DIFF_BY_PYTHON &&
        diff_call_stack_python(tr_arg(ev, d->is.call_stack), frame, sizeof frame) &&
        !(python = tr_intern(d->r, frame, strlen(frame))))
        return -ENOMEM;
    if (!GROW(d, launches) || !GROW(d, lq))
        return -ENOMEM;
    d->launches[d->n_launches] = (struct diff_launch){
        .pid = pid_of(ev), .corr = corr, .dur = dur_of(ev), .counted = counted, .python = python};
    d->lq[d->n_lq++] = (struct diff_query){diff_track_of(ev), ev->ts_ns, d->n_launches++, NULL};
    return 0;
}

static bool profiler_step(const char *name)
{
    return strncmp(name, "ProfilerStep#", 13) == 0;
}

static int span_event(struct diff *d, const struct tr_event *ev)
{
    if (!ev->name || (d->by == DIFF_BY_PYTHON && !diff_python_frame(ev->name)) ||
        (d->by == DIFF_BY_NVTX && profiler_step(ev->name)))
        return 0;
    if (!GROW(d, spans))
        return -ENOMEM;
    d->spans[d->n_spans++] =
        (struct diff_span){diff_track_of(ev), ev->ts_ns, ev->ts_ns + (int64_t)dur_of(ev), ev->name};
    return 0;
}

int diff_event(void *ctx, const struct tr_event *ev)
{
    struct diff *d = ctx;
    cli_progress_tick(d->progress, d->r);
    if (ev->ph != d->is.X || !ev->has_ts)
        return 0;
    const char *cat = ev->cat;
    if (cat == d->is.kernel || cat == d->is.gpu_memcpy || cat == d->is.gpu_memset)
        return gpu_event(d, ev);
    if (cat == d->is.cuda_runtime || cat == d->is.cuda_driver)
        return launch_event(d, ev);
    if ((d->by == DIFF_BY_PYTHON && cat == d->is.python_function) ||
        (d->by == DIFF_BY_NVTX &&
         (cat == d->is.user_annotation || cat == d->is.gpu_user_annotation)))
        return span_event(d, ev);
    return 0;
}

/* A merged trace's mergedPids: each pid's input and stage. */
int diff_field(void *ctx, const struct tr_field *f)
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
    const struct diff_launch *x = a, *y = b;
    if (x->input != y->input)
        return x->input < y->input ? -1 : 1;
    return (x->corr > y->corr) - (x->corr < y->corr);
}

/* python and nvtx: each GPU record's row, from the ranges around it or
 * around the call that launched it; each launch's, for the host rows. */
static int resolve(struct diff *d)
{
    const char *none = d->by == DIFF_BY_PYTHON ? d->is.no_python : d->is.no_nvtx;
    if (diff_enclose(d->spans, d->n_spans, d->lq, d->n_lq) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < d->n_lq; i++) {
        struct diff_launch *l = &d->launches[d->lq[i].ref];
        l->found = l->python ? l->python : d->lq[i].found;
        int64_t input = pid_says(d, &d->pid_input, l->pid);
        l->input = input < 0 ? 0 : input;
        if (l->counted && add(&d->fhost, l->found ? l->found : none, l->pid, l->dur) < 0)
            return -ENOMEM;
    }
    if (d->n_launches > 1)
        qsort(d->launches, d->n_launches, sizeof *d->launches, by_input_corr);
    if (d->by == DIFF_BY_NVTX && diff_enclose(d->spans, d->n_spans, d->gq, d->n_gq) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < d->n_gq; i++) {
        const struct diff_gpu *g = &d->recs[d->gq[i].ref];
        const char *row = d->by == DIFF_BY_NVTX ? d->gq[i].found : NULL;
        int64_t input = pid_says(d, &d->pid_input, g->pid);
        struct diff_launch key = {.input = input < 0 ? 0 : input, .corr = g->corr};
        const struct diff_launch *l =
            row || g->corr < 0 || !d->n_launches
                ? NULL
                : bsearch(&key, d->launches, d->n_launches, sizeof key, by_input_corr);
        if (!row)
            row = l && l->found ? l->found : none;
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
        int64_t stage = !d->t          ? -1
                        : d->t->merged ? pid_says(d, &d->pid_stage, c->group)
                                       : d->t->stage;
        const char *row = d->by == DIFF_BY_STAGE ? stage_row(d, stage) : c->name;
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
    d->gpu_records = d->api_calls = d->host_records = 0;
}

void diff_file_begin(struct diff *d, struct diff_side *s, const struct cli_trace *t)
{
    file_reset(d);
    d->side = s;
    d->t = t;
}

int diff_file_end(struct diff *d)
{
    int rc = 0;
    if ((d->by == DIFF_BY_PYTHON || d->by == DIFF_BY_NVTX) && (rc = resolve(d)) < 0)
        return rc;
    if ((rc = fold(d, &d->fgpu, &d->side->gpu)) == 0)
        rc = fold(d, &d->fhost, &d->side->host);
    if (rc < 0)
        return rc;
    d->side->gpu_records += d->gpu_records;
    d->side->api_calls += d->api_calls;
    d->side->host_records += d->host_records;
    d->side->files++;
    return 0;
}

static int read_file(struct diff *d, struct diff_side *s, const struct cli_trace *t)
{
    diff_file_begin(d, s, t);
    if (d->progress)
        cli_progress_file(d->progress, t->path);
    int rc =
        tr_read(d->r, t->path, &(struct tr_callbacks){.event = diff_event, .field = diff_field}, d);
    if (d->progress) {
        cli_progress_done_file(d->progress, cli_file_size(t->path));
        if (rc < 0)
            cli_progress_end(d->progress); /* the message on a line of its own */
    }
    if (rc < 0) {
        fprintf(stderr, "omniprof: %s\n", tr_error(d->r)[0] ? tr_error(d->r) : strerror(-rc));
        return rc;
    }
    if ((rc = diff_file_end(d)) < 0)
        fprintf(stderr, "omniprof: diff: %s\n", strerror(-rc));
    return rc;
}

int diff_find_side(struct diff_side *s)
{
    int rc = cli_traces_add(&s->set, s->arg, NULL);
    return rc == 0 ? cli_traces_peek(&s->set) : rc;
}

int diff_read_side(struct diff *d, struct diff_side *s)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->set.n; i++)
        rc = read_file(d, s, &s->set.v[i]);
    return rc < 0 ? -1 : 0;
}

void diff_side_free(struct diff_side *s)
{
    cli_traces_free(&s->set);
    diff_table_free(&s->gpu);
    diff_table_free(&s->host);
}

void diff_free(struct diff *d)
{
    file_reset(d);
    free(d->recs);
    free(d->gq);
    free(d->lq);
    free(d->launches);
    free(d->spans);
    free(d->row_names);
    diff_table_free(&d->raw_rows);
}
