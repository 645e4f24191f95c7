/*
 * The report's model: what one page shows of each run, fed one record at
 * a time by the process (report_session.c) or by `omniprof report` (from
 * trace files), so that both write the same page.  A run keeps its table
 * rows (by name), the busy intervals of each stream or thread, its
 * iteration boundaries and memory samples; report_bins.c turns those into
 * what the page draws, report_json.c writes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

int rp_grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 64;
    void *g = realloc(*v, c * size);
    if (!g)
        return -ENOMEM;
    *v = g;
    *cap = c;
    return 0;
}

int wr_report_text(char **field, const char *s)
{
    char *copy = s ? strdup(s) : NULL;
    if (s && !copy)
        return -ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

struct wr_report *wr_report_new(void)
{
    return calloc(1, sizeof(struct wr_report));
}

static void rows_free(struct rp_rows *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].name);
    free(t->v);
    wr_name_index_free(&t->index);
}

static void run_free(struct wr_report_run *run)
{
    struct wr_report_info *i = &run->info;
    char **texts[] = {&i->program, &i->host,   &i->worker, &i->config,
                      &i->trace,   &i->source, &i->set};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
        free(*texts[k]);
    for (size_t k = 0; k < run->devices.n; k++)
        free(run->devices.v[k].name);
    free(run->devices.v);
    rows_free(&run->gpu);
    rows_free(&run->host);
    free(run->tracks.v);
    free(run->gpu_busy.v);
    free(run->host_busy.v);
    free(run->spans.v);
    free(run->instants.v);
    free(run->memory.v);
    free(run);
}

void wr_report_free(struct wr_report *rep)
{
    if (!rep)
        return;
    for (size_t i = 0; i < rep->runs.n; i++)
        run_free(rep->runs.v[i]);
    free(rep->runs.v);
    for (size_t i = 0; i < rep->n_diff; i++)
        free((char *)rep->diff[i].name);
    free(rep->diff);
    free(rep->before);
    free(rep->after);
    free(rep);
}

struct wr_report_run *wr_report_add_run(struct wr_report *rep)
{
    struct wr_report_run *run = calloc(1, sizeof *run);
    if (!run || RP_PUSH(rep->runs) < 0) {
        free(run);
        return NULL;
    }
    struct wr_report_info *i = &run->info;
    i->pid = i->stage = i->rank = -1;
    i->steps = i->events = i->dropped = i->dropped_gpu = -1;
    run->first_ns = INT64_MAX;
    run->last_ns = INT64_MIN;
    rep->runs.v[rep->runs.n++] = run;
    return run;
}

struct wr_report_info *wr_report_info(struct wr_report_run *run)
{
    return &run->info;
}

int wr_report_device(struct wr_report_run *run, int id, const char *name)
{
    for (size_t i = 0; i < run->devices.n; i++)
        if (run->devices.v[i].id == id)
            return wr_report_text(&run->devices.v[i].name, name);
    if (RP_PUSH(run->devices) < 0)
        return -ENOMEM;
    struct rp_device *d = &run->devices.v[run->devices.n];
    *d = (struct rp_device){id, NULL};
    if (wr_report_text(&d->name, name) < 0)
        return -ENOMEM;
    run->devices.n++;
    return 0;
}

/* ---- rows by name ------------------------------------------------------------ */

static const char *row_name_of(const void *rows, size_t r)
{
    return ((const struct rp_row *)rows)[r].name;
}

/* The row named name, made on first use; -ENOMEM. */
static long row_of(struct rp_rows *t, const char *name, int kind)
{
    size_t where;
    long found = wr_name_find(&t->index, name, t->n, row_name_of, t->v, &where);
    if (found != -ENOENT)
        return found; /* the row, or -ENOMEM */
    if (t->n >= UINT32_MAX - 1 || rp_grow((void **)&t->v, &t->cap, t->n, sizeof *t->v) < 0)
        return -ENOMEM;
    struct rp_row *r = &t->v[t->n];
    memset(r, 0, sizeof *r);
    if (!(r->name = strdup(name)))
        return -ENOMEM;
    r->kind = kind;
    r->gpu_min = r->host_min = UINT64_MAX;
    wr_name_add(&t->index, where, t->n);
    return (long)t->n++;
}

static void add_time(uint64_t ns, uint64_t *calls, uint64_t *total, uint64_t *min, uint64_t *max)
{
    ++*calls;
    *total += ns;
    *min = ns < *min ? ns : *min;
    *max = ns > *max ? ns : *max;
}

/* ---- feeding ------------------------------------------------------------------- */

static void extent(struct wr_report_run *run, int64_t start, int64_t end)
{
    run->first_ns = start < run->first_ns ? start : run->first_ns;
    run->last_ns = end > run->last_ns ? end : run->last_ns;
}

/* The track of (device, stream), made on first use; -ENOMEM. */
static long track_of(struct wr_report_run *run, int64_t device, int64_t stream)
{
    uint32_t i = run->last_track;
    if (i < run->tracks.n && run->tracks.v[i].device == device && run->tracks.v[i].stream == stream)
        return i;
    for (i = 0; i < run->tracks.n; i++)
        if (run->tracks.v[i].device == device && run->tracks.v[i].stream == stream)
            return run->last_track = i;
    if (RP_PUSH(run->tracks) < 0)
        return -ENOMEM;
    run->tracks.v[run->tracks.n] = (struct rp_track){device, stream};
    return run->last_track = (uint32_t)run->tracks.n++;
}

static int busy(struct wr_report_run *run, bool gpu, int64_t device, int64_t stream, int64_t start,
                int64_t end, long row)
{
    long track = track_of(run, device, stream);
    struct rp_intervals *iv = gpu ? &run->gpu_busy : &run->host_busy;
    if (track < 0 || RP_PUSH(*iv) < 0)
        return -ENOMEM;
    iv->v[iv->n++] = (struct rp_interval){start, end, (uint32_t)track, (uint32_t)row};
    extent(run, start, end);
    return 0;
}

long wr_report_gpu(struct wr_report_run *run, const struct wr_report_gpu *g)
{
    long row = row_of(&run->gpu, g->name ? g->name : "?", g->kind);
    if (row < 0)
        return row;
    if (run->host_busy.v) { /* the host calls' timeline is not drawn now: drop it */
        free(run->host_busy.v);
        run->host_busy.v = NULL;
        run->host_busy.n = run->host_busy.cap = 0;
    }
    int64_t end = g->end_ns > g->start_ns ? g->end_ns : g->start_ns;
    struct rp_row *r = &run->gpu.v[row];
    add_time((uint64_t)(end - g->start_ns), &r->gpu_calls, &r->gpu_total, &r->gpu_min, &r->gpu_max);
    r->bytes += g->bytes;
    /* a GPU record on device -1 has no stream of a device: not on the timeline */
    int rc = g->device >= 0 ? busy(run, true, g->device, g->stream, g->start_ns, end, row) : 0;
    return rc < 0 ? rc : row;
}

void wr_report_row_host(struct wr_report_run *run, long row, uint64_t ns)
{
    if (row >= 0 && (size_t)row < run->gpu.n) {
        struct rp_row *r = &run->gpu.v[row];
        add_time(ns, &r->calls, &r->host_total, &r->host_min, &r->host_max);
    }
}

int wr_report_call(struct wr_report_run *run, const char *name, int64_t tid, int64_t start_ns,
                   int64_t end_ns)
{
    int64_t end = end_ns > start_ns ? end_ns : start_ns;
    long row = UINT32_MAX;
    if (name) {
        row = row_of(&run->host, name, WR_REPORT_CALL);
        if (row < 0)
            return (int)row;
        struct rp_row *r = &run->host.v[row];
        add_time((uint64_t)(end - start_ns), &r->calls, &r->host_total, &r->host_min, &r->host_max);
    }
    /* host calls draw the timeline only of a run without GPU records */
    if (run->gpu.n > 0) {
        extent(run, start_ns, end);
        return 0;
    }
    return busy(run, false, -1, tid, start_ns, end, row);
}

int wr_report_step(struct wr_report_run *run, uint64_t number, int64_t start_ns, int64_t end_ns)
{
    bool span = end_ns >= start_ns;
    if (span ? RP_PUSH(run->spans) < 0 : RP_PUSH(run->instants) < 0)
        return -ENOMEM;
    struct rp_step st = {number, start_ns, span ? end_ns : start_ns};
    if (span)
        run->spans.v[run->spans.n++] = st;
    else
        run->instants.v[run->instants.n++] = st;
    extent(run, st.start, st.end);
    return 0;
}

int wr_report_memory(struct wr_report_run *run, int device, int64_t ts_ns, uint64_t allocated,
                     uint64_t reserved)
{
    if (RP_PUSH(run->memory) < 0)
        return -ENOMEM;
    run->memory.v[run->memory.n++] = (struct rp_mem){ts_ns, allocated, reserved, device};
    extent(run, ts_ns, ts_ns);
    return 0;
}

int wr_report_diff(struct wr_report *rep, const struct wr_report_comparison *c)
{
    const struct wr_report_delta *rows = c->rows;
    size_t n = c->n;
    struct wr_report_delta *copy = calloc(n ? n : 1, sizeof *copy);
    if (!copy)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        copy[i] = rows[i];
        if (!(copy[i].name = strdup(rows[i].name ? rows[i].name : "?"))) {
            for (size_t k = 0; k < i; k++)
                free((char *)copy[k].name);
            free(copy);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < rep->n_diff; i++)
        free((char *)rep->diff[i].name);
    free(rep->diff);
    rep->diff = copy;
    rep->n_diff = n;
    rep->diff_total = c->total;
    rep->diff_total.name = NULL;
    rep->diff_added = c->added;
    rep->diff_gone = c->gone;
    rep->diff_gpu = c->gpu;
    rep->has_diff = true;
    if (wr_report_text(&rep->before, c->before) < 0 || wr_report_text(&rep->after, c->after) < 0)
        return -ENOMEM;
    return 0;
}
