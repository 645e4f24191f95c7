/*
 * The report page: the page template (report_page.h, generated at build
 * time from writer/page/ with the chart library inlined), with the
 * report's numbers as JSON in its <script type="application/json"> block.
 *
 * Every string goes through the one JSON escaper (wr_json_escape), and then
 * "</" becomes "<\/" and "<!--" becomes "\u003c!--", so no name can end the
 * script element or switch the HTML parser into a state where our own
 * closing tag would not end it.  The page's script reads the block with
 * JSON.parse and shows names as text only.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report_internal.h"
#include "report_page.h"

/* ---- JSON pieces -------------------------------------------------------------- */

/* s as a JSON string that is safe inside a script element. */
static void str(struct wr_out *o, const char *s)
{
    char small[512], *lit = small;
    size_t n = wr_json_escape(small, sizeof small, s);
    if (n >= sizeof small) {
        lit = malloc(n + 1);
        if (!lit) {
            wr_out_puts(o, "\"\"");
            return;
        }
        wr_json_escape(lit, n + 1, s);
    }
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        if (lit[i] != '<')
            continue;
        if (lit[i + 1] == '/') {
            wr_out_write(o, lit + from, i + 1 - from);
            wr_out_puts(o, "\\");
            from = i + 1;
        } else if (strncmp(lit + i + 1, "!--", 3) == 0) {
            wr_out_write(o, lit + from, i - from);
            wr_out_puts(o, "\\u003c");
            from = i + 1;
        }
    }
    wr_out_write(o, lit + from, n - from);
    if (lit != small)
        free(lit);
}

static void key(struct wr_out *o, const char *k)
{
    wr_out_puts(o, ",\"");
    wr_out_puts(o, k);
    wr_out_puts(o, "\":");
}

static void key_str(struct wr_out *o, const char *k, const char *v)
{
    key(o, k);
    if (v)
        str(o, v);
    else
        wr_out_puts(o, "null");
}

/* An integer, or null when negative (unknown). */
static void key_num(struct wr_out *o, const char *k, int64_t v)
{
    key(o, k);
    if (v < 0)
        wr_out_puts(o, "null");
    else
        wr_out_i64(o, v);
}

static void key_u64(struct wr_out *o, const char *k, uint64_t v)
{
    key(o, k);
    wr_out_u64(o, v);
}

/* A min that was never set (no calls) is null. */
static void min_or_null(struct wr_out *o, uint64_t v)
{
    if (v == UINT64_MAX)
        wr_out_puts(o, "null");
    else
        wr_out_u64(o, v);
}

static void permille(struct wr_out *o, const uint16_t *p, size_t n)
{
    wr_out_puts(o, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            wr_out_puts(o, ",");
        wr_out_u64(o, p[i]);
    }
    wr_out_puts(o, "]");
}

static void kib_curve(struct wr_out *o, const int64_t *v, size_t n)
{
    wr_out_puts(o, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            wr_out_puts(o, ",");
        if (v[i] < 0)
            wr_out_puts(o, "null");
        else
            wr_out_i64(o, v[i]);
    }
    wr_out_puts(o, "]");
}

/* ---- a run ---------------------------------------------------------------------- */

static void header(struct wr_out *o, const struct wr_report_run *run, const struct rp_view *v)
{
    const struct wr_report_info *i = &run->info;
    wr_out_puts(o, "{\"program\":");
    if (i->program)
        str(o, i->program);
    else
        wr_out_puts(o, "null");
    key_str(o, "host", i->host);
    key_str(o, "worker", i->worker);
    key_str(o, "source", i->source);
    key_str(o, "trace", i->trace);
    key_str(o, "config", i->config);
    key_str(o, "set", i->set);
    key_num(o, "pid", i->pid);
    key_num(o, "stage", i->stage);
    key_num(o, "rank", i->rank);
    /* a wall-clock time only when the trace's times are (after 1973) */
    int64_t unix_ns = i->base_ns + v->t0;
    key_num(o, "begin_unix_ms", unix_ns > 100000000000000000ll ? unix_ns / 1000000 : -1);
    key_u64(o, "length_ns", (uint64_t)(v->t1 - v->t0));
    key(o, "session_known");
    wr_out_puts(o, i->has_session ? "true" : "false");
    key_num(o, "steps", i->steps);
    key_num(o, "events", i->events);
    key_num(o, "dropped", i->dropped);
    key_num(o, "dropped_gpu", i->dropped_gpu);
    key(o, "devices");
    wr_out_puts(o, "[");
    for (size_t k = 0; k < run->devices.n; k++) {
        wr_out_printf(o, "%s{\"id\":%d", k ? "," : "", run->devices.v[k].id);
        key_str(o, "name", run->devices.v[k].name);
        wr_out_puts(o, "}");
    }
    wr_out_puts(o, "]");
    key(o, "gpu");
    wr_out_puts(o, v->gpu ? "true" : "false");
}

/* The table's rows: [name, kind, gpu calls, total, min, max, calls, host
 * total, min, max, bytes], sorted as profiler_out_*.txt sorts them. */
static void rows(struct wr_out *o, const struct rp_view *v)
{
    uint64_t gpu_all = 0, host_all = 0;
    key(o, "rows");
    wr_out_puts(o, "[");
    for (size_t k = 0; k < v->rows->n; k++) {
        const struct rp_row *r = &v->rows->v[v->order[k]];
        gpu_all += r->gpu_total;
        host_all += r->host_total;
        if (k >= RP_TABLE_ROWS)
            continue;
        wr_out_puts(o, k ? ",\n[" : "\n[");
        str(o, r->name);
        wr_out_printf(o, ",%d,", r->kind);
        wr_out_u64(o, r->gpu_calls);
        wr_out_puts(o, ",");
        wr_out_u64(o, r->gpu_total);
        wr_out_puts(o, ",");
        min_or_null(o, r->gpu_min);
        wr_out_puts(o, ",");
        wr_out_u64(o, r->gpu_max);
        wr_out_puts(o, ",");
        wr_out_u64(o, r->calls);
        wr_out_puts(o, ",");
        wr_out_u64(o, r->host_total);
        wr_out_puts(o, ",");
        min_or_null(o, r->host_min);
        wr_out_puts(o, ",");
        wr_out_u64(o, r->host_max);
        wr_out_puts(o, ",");
        wr_out_u64(o, r->bytes);
        wr_out_puts(o, "]");
    }
    wr_out_puts(o, "]");
    key_u64(o, "rows_more", v->rows->n > RP_TABLE_ROWS ? v->rows->n - RP_TABLE_ROWS : 0);
    key_u64(o, "gpu_total_ns", gpu_all);
    key_u64(o, "host_total_ns", host_all);
}

/* The bars of the kernel chart: the RP_TOP_KERNELS largest, the rest
 * summed; by GPU time, or by host time when there is no GPU record. */
static void kernels(struct wr_out *o, const struct rp_view *v)
{
    uint64_t total = 0, other = 0, other_n = 0;
    size_t shown = 0;
    key(o, "kernels");
    wr_out_printf(o, "{\"metric\":\"%s\",\"top\":[", v->gpu ? "gpu" : "host");
    for (size_t k = 0; k < v->rows->n; k++) {
        const struct rp_row *r = &v->rows->v[v->order[k]];
        if (v->gpu && r->kind != WR_REPORT_KERNEL)
            continue;
        uint64_t ns = v->gpu ? r->gpu_total : r->host_total;
        total += ns;
        if (shown == RP_TOP_KERNELS) {
            other += ns;
            other_n++;
            continue;
        }
        wr_out_puts(o, shown++ ? ",[" : "[");
        str(o, r->name);
        wr_out_puts(o, ",");
        wr_out_u64(o, ns);
        wr_out_puts(o, ",");
        wr_out_u64(o, v->gpu ? r->gpu_calls : r->calls);
        wr_out_puts(o, "]");
    }
    wr_out_puts(o, "]");
    key_u64(o, "other_ns", other);
    key_u64(o, "other_count", other_n);
    key_u64(o, "total_ns", total);
    wr_out_puts(o, "}");
}

/* Copies and memsets: [name, kind, calls, bytes, GPU ns]. */
static void copies(struct wr_out *o, const struct rp_view *v)
{
    size_t n = 0;
    key(o, "copies");
    wr_out_puts(o, "[");
    for (size_t k = 0; v->gpu && k < v->rows->n; k++) {
        const struct rp_row *r = &v->rows->v[v->order[k]];
        if (r->kind != WR_REPORT_MEMCPY && r->kind != WR_REPORT_MEMSET)
            continue;
        wr_out_puts(o, n++ ? ",[" : "[");
        str(o, r->name);
        wr_out_printf(o, ",%d,", r->kind);
        wr_out_u64(o, r->gpu_calls);
        wr_out_puts(o, ",");
        wr_out_u64(o, r->bytes);
        wr_out_puts(o, ",");
        wr_out_u64(o, r->gpu_total);
        wr_out_puts(o, "]");
    }
    wr_out_puts(o, "]");
}

static void row_name(struct wr_out *o, const struct rp_view *v, uint32_t row)
{
    wr_out_puts(o, ",");
    if (row < v->rows->n)
        str(o, v->rows->v[row].name);
    else
        wr_out_puts(o, "null");
}

/* Bins, per track and per device, with each device's longest idle gaps:
 * [start (from the window's start), length, work before, work after]. */
static void timeline(struct wr_out *o, const struct rp_view *v)
{
    key(o, "timeline");
    wr_out_printf(o, "{\"bins\":%zu", v->bins);
    key_u64(o, "bin_ns", (uint64_t)v->bin_ns);
    key(o, "tracks");
    wr_out_puts(o, "[");
    for (size_t k = 0; k < v->n_tracks; k++) {
        const struct rp_series *t = &v->tracks[k];
        wr_out_printf(o, "%s\n{\"device\":%lld,\"stream\":%lld", k ? "," : "", (long long)t->device,
                      (long long)t->stream);
        key_u64(o, "busy_ns", t->busy_ns);
        key(o, "p");
        permille(o, t->permille, v->bins);
        wr_out_puts(o, "}");
    }
    wr_out_puts(o, "]");
    key(o, "devices");
    wr_out_puts(o, "[");
    for (size_t k = 0; k < v->n_devices; k++) {
        const struct rp_device_busy *d = &v->devices[k];
        wr_out_printf(o, "%s\n{\"device\":%lld", k ? "," : "", (long long)d->s.device);
        key_u64(o, "busy_ns", d->s.busy_ns);
        key(o, "p");
        permille(o, d->s.permille, v->bins);
        key(o, "gaps");
        wr_out_puts(o, "[");
        for (size_t g = 0; g < d->n_gaps; g++) {
            wr_out_puts(o, g ? ",[" : "[");
            wr_out_i64(o, d->gaps[g].start - v->t0);
            wr_out_puts(o, ",");
            wr_out_i64(o, d->gaps[g].end - d->gaps[g].start);
            row_name(o, v, d->gaps[g].before);
            row_name(o, v, d->gaps[g].after);
            wr_out_puts(o, "]");
        }
        wr_out_puts(o, "]}");
    }
    wr_out_puts(o, "]}");
}

/* [number, start (from the window's start), length]; the first RP_MAX_STEPS. */
static void iterations(struct wr_out *o, const struct rp_view *v)
{
    key(o, "iterations");
    wr_out_printf(o, "{\"count\":%zu", v->n_steps);
    key_str(o, "source", v->step_source);
    key(o, "items");
    wr_out_puts(o, "[");
    for (size_t k = 0; k < v->n_steps && k < RP_MAX_STEPS; k++) {
        wr_out_puts(o, k ? ",[" : "[");
        wr_out_u64(o, v->steps[k].number);
        wr_out_puts(o, ",");
        wr_out_i64(o, v->steps[k].start - v->t0);
        wr_out_puts(o, ",");
        wr_out_i64(o, v->steps[k].end - v->steps[k].start);
        wr_out_puts(o, "]");
    }
    wr_out_puts(o, "]}");
}

static void memory(struct wr_out *o, const struct rp_view *v)
{
    key(o, "memory");
    wr_out_puts(o, "[");
    for (size_t k = 0; k < v->n_memory; k++) {
        const struct rp_mem_curve *c = &v->memory[k];
        wr_out_printf(o, "%s\n{\"device\":%d,\"points\":%zu", k ? "," : "", c->device, c->points);
        key_u64(o, "peak_allocated", c->peak_allocated);
        key_u64(o, "peak_reserved", c->peak_reserved);
        key(o, "allocated_kib");
        kib_curve(o, c->allocated_kib, v->bins);
        key(o, "reserved_kib");
        kib_curve(o, c->reserved_kib, v->bins);
        wr_out_puts(o, "}");
    }
    wr_out_puts(o, "]");
}

static int run_json(struct wr_out *o, struct wr_report_run *run)
{
    struct rp_view v;
    int rc = rp_view_build(run, &v);
    if (rc == 0) {
        header(o, run, &v);
        rows(o, &v);
        kernels(o, &v);
        copies(o, &v);
        timeline(o, &v);
        iterations(o, &v);
        memory(o, &v);
        wr_out_puts(o, "}");
    }
    rp_view_free(&v);
    return rc;
}

/* [before ns, after ns, before calls, after calls] */
static void delta_numbers(struct wr_out *o, const struct wr_report_delta *d)
{
    wr_out_u64(o, d->before_ns);
    wr_out_puts(o, ",");
    wr_out_u64(o, d->after_ns);
    wr_out_puts(o, ",");
    wr_out_u64(o, d->before_calls);
    wr_out_puts(o, ",");
    wr_out_u64(o, d->after_calls);
}

/* Rows [name, before ns, after ns, before calls, after calls, "new" |
 * "gone" | null] in the order given; the total, the same less its name;
 * how many rows are new and gone. */
static void diff(struct wr_out *o, const struct wr_report *rep)
{
    static const char *const change[] = {"null", "\"new\"", "\"gone\""};
    if (!rep->has_diff) {
        wr_out_puts(o, "null");
        return;
    }
    wr_out_printf(o, "{\"gpu\":%s", rep->diff_gpu ? "true" : "false");
    key_str(o, "before", rep->before);
    key_str(o, "after", rep->after);
    key(o, "rows");
    wr_out_puts(o, "[");
    for (size_t i = 0; i < rep->n_diff && i < RP_TABLE_ROWS; i++) {
        const struct wr_report_delta *d = &rep->diff[i];
        wr_out_puts(o, i ? ",\n[" : "\n[");
        str(o, d->name);
        wr_out_puts(o, ",");
        delta_numbers(o, d);
        wr_out_puts(o, ",");
        wr_out_puts(o, change[d->change <= WR_REPORT_GONE ? d->change : WR_REPORT_BOTH]);
        wr_out_puts(o, "]");
    }
    wr_out_puts(o, "]");
    key_u64(o, "rows_more", rep->n_diff > RP_TABLE_ROWS ? rep->n_diff - RP_TABLE_ROWS : 0);
    key(o, "total");
    wr_out_puts(o, "[");
    delta_numbers(o, &rep->diff_total);
    wr_out_puts(o, ",");
    wr_out_puts(
        o,
        change[rep->diff_total.change <= WR_REPORT_GONE ? rep->diff_total.change : WR_REPORT_BOTH]);
    wr_out_puts(o, "]");
    key_u64(o, "new", rep->diff_added);
    key_u64(o, "gone", rep->diff_gone);
    wr_out_puts(o, "}");
}

/* Runs in the page's order: before, after, the others; each by stage,
 * rank and pid (unknown last), then as given. */
static int run_order(const void *a, const void *b)
{
    const struct wr_report_info *x = &(*(struct wr_report_run *const *)a)->info;
    const struct wr_report_info *y = &(*(struct wr_report_run *const *)b)->info;
    int sx = !x->set ? 2 : strcmp(x->set, "before") == 0 ? 0 : 1;
    int sy = !y->set ? 2 : strcmp(y->set, "before") == 0 ? 0 : 1;
    int kx[4] = {sx, x->stage, x->rank, x->pid}, ky[4] = {sy, y->stage, y->rank, y->pid};
    for (int k = 0; k < 4; k++)
        if (kx[k] != ky[k])
            return (unsigned)kx[k] < (unsigned)ky[k] ? -1 : 1; /* -1 sorts last */
    return 0;
}

int rp_write_page(struct wr_report *rep, struct wr_out *o)
{
    struct wr_report_run **runs = malloc((rep->runs.n ? rep->runs.n : 1) * sizeof *runs);
    if (!runs)
        return -ENOMEM;
    memcpy(runs, rep->runs.v, rep->runs.n * sizeof *runs);
    /* insertion sort: stable (runs that tie stay in the order given), and runs are few */
    for (size_t i = 1; i < rep->runs.n; i++)
        for (size_t k = i; k > 0 && run_order(&runs[k - 1], &runs[k]) > 0; k--) {
            struct wr_report_run *t = runs[k];
            runs[k] = runs[k - 1];
            runs[k - 1] = t;
        }
    wr_out_write(o, rp_page_head, sizeof rp_page_head);
    wr_out_puts(o, "{\"runs\":[");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < rep->runs.n; i++) {
        wr_out_puts(o, i ? ",\n" : "\n");
        rc = run_json(o, runs[i]);
    }
    free(runs);
    wr_out_puts(o, "],\n\"diff\":");
    diff(o, rep);
    wr_out_puts(o, "}");
    wr_out_write(o, rp_page_tail, sizeof rp_page_tail);
    return rc;
}

/* ---- files ------------------------------------------------------------------------ */

/* The page into a temporary file of dir_fd renamed to name when complete. */
static int save_in(struct wr_report *rep, int dir_fd, const char *name)
{
    char tmp[NAME_MAX + 1];
    int fd = wr_create_temp(dir_fd, name, tmp, sizeof tmp);
    if (fd < 0)
        return fd;
    struct wr_out *o;
    int rc = wr_out_open(&o, fd, false, 0);
    if (rc == 0) {
        rc = rp_write_page(rep, o);
        int closed = wr_out_close(o);
        rc = rc ? rc : closed;
    }
    return wr_commit(dir_fd, tmp, name, rc);
}

int wr_report_save(struct wr_report *rep, const char *path)
{
    char d[PATH_MAX], b[PATH_MAX], why[PATH_MAX + 128];
    if (strlen(path) >= sizeof d)
        return -ENAMETOOLONG;
    strcpy(d, path);
    strcpy(b, path);
    const char *name = basename(b);
    if (!name[0] || strcmp(name, "/") == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return -EISDIR;
    int dir_fd = wr_open_dir(dirname(d), why, sizeof why);
    if (dir_fd < 0)
        return dir_fd;
    int rc = save_in(rep, dir_fd, name);
    close(dir_fd);
    return rc;
}

int rp_save_in(struct wr_report *rep, int dir_fd, const char *name)
{
    return save_in(rep, dir_fd, name);
}
