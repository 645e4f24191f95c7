/*
 * profiler_out_<worker>.txt: the time table, laid out like torch's
 * key_averages().table(sort_by="self_cuda_time_total"): a rule, a header,
 * a rule, one row per kernel, copy direction and memset, a rule, totals.
 *
 * Columns: Self CUDA, Self CUDA %, CUDA total, CUDA time avg/min/max (GPU
 * execution time, from GPU activity records; "-" when the session has none,
 * i.e. without CUPTI), Host API total/%/avg/min/max (time in the launching,
 * copying or setting call) and # of Calls.  Rows are sorted by self CUDA time, then
 * host API time.  Names are printed sanitised (control bytes and invalid
 * UTF-8 become '?', long names end in "...") and the name column is sized to
 * the longest, so the table stays aligned whatever the names hold.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int wr_name_printable(char *dst, size_t cap, const char *src)
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

static void format_time(char *buf, size_t cap, uint64_t ns)
{
    double us = (double)ns / 1000.0;
    if (us >= 1e6)
        snprintf(buf, cap, "%.3fs", us / 1e6);
    else if (us >= 1e3)
        snprintf(buf, cap, "%.3fms", us / 1e3);
    else
        snprintf(buf, cap, "%.3fus", us);
}

static int by_time(const void *a, const void *b)
{
    const struct wr_row *x = a, *y = b;
    if (x->gpu_total != y->gpu_total)
        return x->gpu_total > y->gpu_total ? -1 : 1;
    if (x->host_total != y->host_total)
        return x->host_total > y->host_total ? -1 : 1;
    return strcmp(x->name, y->name);
}

static const char *row_name_of(const void *rows, size_t r)
{
    return ((const struct wr_row *)rows)[r].name;
}

struct wr_row *wr_rows_get(struct wr_rows *t, const char *raw)
{
    char name[sizeof t->rows->name];
    int width = wr_name_printable(name, sizeof name, raw);
    size_t where;
    long found = wr_name_find(&t->index, name, t->n, row_name_of, t->rows, &where);
    if (found >= 0)
        return &t->rows[found];
    if (found != -ENOENT)
        return NULL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct wr_row *r = realloc(t->rows, cap * sizeof *r);
        if (!r)
            return NULL;
        t->rows = r;
        t->cap = cap;
    }
    struct wr_row *r = &t->rows[t->n++];
    memset(r, 0, sizeof *r);
    memcpy(r->name, name, sizeof name);
    r->width = width;
    r->gpu_min = r->host_min = UINT64_MAX;
    wr_name_add(&t->index, where, t->n - 1);
    return r;
}

void wr_row_host(struct wr_row *r, uint64_t ns)
{
    r->calls++;
    r->host_total += ns;
    r->host_min = ns < r->host_min ? ns : r->host_min;
    r->host_max = ns > r->host_max ? ns : r->host_max;
}

void wr_row_gpu(struct wr_row *r, uint64_t ns)
{
    r->gpu_calls++;
    r->gpu_total += ns;
    r->gpu_min = ns < r->gpu_min ? ns : r->gpu_min;
    r->gpu_max = ns > r->gpu_max ? ns : r->gpu_max;
}

void wr_rows_free(struct wr_rows *t)
{
    free(t->rows);
    wr_name_index_free(&t->index);
    memset(t, 0, sizeof *t);
}

const char *wr_row_name(const struct coll_session *s, const struct coll_event *ev, char *buf,
                        size_t cap)
{
    switch (ev->kind) {
    case COLL_EV_LAUNCH: {
        const char *name = coll_session_kernel_name(s, ev->u.launch.func);
        if (name)
            return name;
        snprintf(buf, cap, "<unknown kernel 0x%" PRIx64 ">", ev->u.launch.func);
        return buf;
    }
    case COLL_EV_COPY: return coll_copy_kind_name((int)ev->u.copy.kind);
    case COLL_EV_MEMSET: return "Memset (Device)";
    default: return NULL;
    }
}

static void rule(FILE *f, int name_w, int n_cols, int col_w)
{
    for (int i = 0; i < name_w; i++)
        fputc('-', f);
    for (int c = 0; c < n_cols; c++) {
        fputs("  ", f);
        for (int i = 0; i < col_w; i++)
            fputc('-', f);
    }
    fputc('\n', f);
}

/* Right-aligns a UTF-8 string of display width w in a field. */
static void right(FILE *f, const char *s, int w, int field)
{
    for (int i = w; i < field; i++)
        fputc(' ', f);
    fputs(s, f);
}

static void cell_time(char *buf, size_t cap, bool have, uint64_t ns)
{
    if (have)
        format_time(buf, cap, ns);
    else
        snprintf(buf, cap, "-");
}

static void cell_pct(char *buf, size_t cap, bool have, uint64_t part, uint64_t whole)
{
    if (have)
        snprintf(buf, cap, "%.2f%%", whole ? 100.0 * (double)part / (double)whole : 0.0);
    else
        snprintf(buf, cap, "-");
}

int wr_rows_print(FILE *f, struct wr_rows *t, size_t top)
{
    uint64_t host_all = 0, gpu_all = 0, gpu_records = 0;
    for (size_t i = 0; i < t->n; i++) {
        host_all += t->rows[i].host_total;
        gpu_all += t->rows[i].gpu_total;
        gpu_records += t->rows[i].gpu_calls;
    }
    bool gpu = gpu_records > 0; /* a record of interposed calls only has no GPU times */
    qsort(t->rows, t->n, sizeof *t->rows, by_time);
    wr_name_index_free(&t->index); /* the rows moved: a later lookup rebuilds it */

    static const char *cols[] = {"Self CUDA",    "Self CUDA %",  "CUDA total",     "CUDA time avg",
                                 "CUDA min",     "CUDA max",     "Host API total", "Host API %",
                                 "Host API avg", "Host API min", "Host API max",   "# of Calls"};
    enum { N_COLS = sizeof cols / sizeof cols[0] };
    const int n_cols = N_COLS, col_w = 14;
    size_t shown = top && top < t->n ? top : t->n;
    int name_w = 4;
    for (size_t r = 0; r < shown; r++)
        name_w = t->rows[r].width > name_w ? t->rows[r].width : name_w;

    rule(f, name_w, n_cols, col_w);
    right(f, "Name", 4, name_w);
    for (int c = 0; c < n_cols; c++) {
        fputs("  ", f);
        right(f, cols[c], (int)strlen(cols[c]), col_w);
    }
    fputc('\n', f);
    rule(f, name_w, n_cols, col_w);
    for (size_t i = 0; i < shown; i++) {
        const struct wr_row *r = &t->rows[i];
        bool has_gpu = gpu && r->gpu_calls, has_host = r->calls > 0;
        char cell[N_COLS - 1][32];
        cell_time(cell[0], sizeof cell[0], gpu, r->gpu_total);
        cell_pct(cell[1], sizeof cell[1], gpu, r->gpu_total, gpu_all);
        cell_time(cell[2], sizeof cell[2], gpu, r->gpu_total);
        cell_time(cell[3], sizeof cell[3], has_gpu, has_gpu ? r->gpu_total / r->gpu_calls : 0);
        cell_time(cell[4], sizeof cell[4], has_gpu, r->gpu_min);
        cell_time(cell[5], sizeof cell[5], has_gpu, r->gpu_max);
        cell_time(cell[6], sizeof cell[6], has_host, r->host_total);
        cell_pct(cell[7], sizeof cell[7], has_host, r->host_total, host_all);
        cell_time(cell[8], sizeof cell[8], has_host, has_host ? r->host_total / r->calls : 0);
        cell_time(cell[9], sizeof cell[9], has_host, r->host_min);
        cell_time(cell[10], sizeof cell[10], has_host, r->host_max);
        right(f, r->name, r->width, name_w);
        for (int c = 0; c < N_COLS - 1; c++)
            fprintf(f, "  %*s", col_w, cell[c]);
        fprintf(f, "  %*" PRIu64 "\n", col_w, r->calls > r->gpu_calls ? r->calls : r->gpu_calls);
    }
    rule(f, name_w, n_cols, col_w);
    char total[32];
    cell_time(total, sizeof total, gpu, gpu_all);
    fprintf(f, "Self CUDA time total: %s%s\n", total,
            gpu ? "" : " (no GPU activity in this session: GPU times come from CUPTI)");
    format_time(total, sizeof total, host_all);
    fprintf(f, "Host API time total: %s\n", total);
    if (shown < t->n)
        fprintf(f, "(%zu more rows, not shown; their times are in the totals)\n", t->n - shown);
    return ferror(f) ? -EIO : 0;
}

/* With GPU activity: a row per kernel, copy and memset with its GPU time,
 * plus the host time of the call that made it (joined by correlation). */
static int gpu_rows(const struct coll_session *s, struct wr_rows *t)
{
    struct wr_gpu_index ix;
    if (wr_gpu_index(&ix, s) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_gpu; i++) {
        const struct coll_gpu *g = &s->gpu[i];
        if (g->kind != COLL_GPU_KERNEL && g->kind != COLL_GPU_MEMCPY && g->kind != COLL_GPU_MEMSET)
            continue;
        char name[256];
        char *demangled = NULL;
        const char *label = name;
        if (g->kind == COLL_GPU_KERNEL) {
            demangled = coll_demangle(g->name);
            label = demangled ? demangled : g->name ? g->name : "?";
        } else {
            coll_gpu_copy_name(g, name, sizeof name);
        }
        struct wr_row *r = wr_rows_get(t, label);
        free(demangled);
        if (!r) {
            wr_gpu_index_free(&ix);
            return -ENOMEM;
        }
        wr_row_gpu(r, g->end_ns > g->start_ns ? g->end_ns - g->start_ns : 0);
        const struct coll_event *api = wr_api_of(&ix, s, g->correlation);
        if (api)
            wr_row_host(r, api->end_ns > api->start_ns ? api->end_ns - api->start_ns : 0);
    }
    wr_gpu_index_free(&ix);
    return 0;
}

int wr_table_print(const struct coll_session *s, const struct wr_options *opt, FILE *f)
{
    struct wr_rows t = {0};
    if (s->n_gpu > 0 && gpu_rows(s, &t) < 0) {
        wr_rows_free(&t);
        return -ENOMEM;
    }
    for (size_t i = 0; s->n_gpu == 0 && i < s->n_events; i++) {
        const struct coll_event *ev = s->events[i];
        char buf[64];
        const char *name = wr_row_name(s, ev, buf, sizeof buf);
        if (!name)
            continue;
        struct wr_row *r = wr_rows_get(&t, name);
        if (!r) {
            wr_rows_free(&t);
            return -ENOMEM;
        }
        wr_row_host(r, ev->end_ns > ev->start_ns ? ev->end_ns - ev->start_ns : 0);
    }
    fprintf(f, "omniprof %s: %s, session of %.3f ms, %" PRIu64 " steps, %zu events\n", opt->version,
            opt->worker, (double)(s->end_ns - s->begin_ns) / 1e6, s->steps, s->n_events);
    int rc = wr_rows_print(f, &t, opt->table_rows);
    if (rc == 0)
        rc = wr_nvtx_table(s, opt, f);
    if (s->dropped > s->dropped_no_slot)
        fprintf(f, "Dropped events: %" PRIu64 " (event buffers were full; raise buffer_size)\n",
                s->dropped - s->dropped_no_slot);
    if (s->dropped_no_slot)
        fprintf(f, "Dropped events: %" PRIu64 " (threads beyond max_threads record nothing)\n",
                s->dropped_no_slot);
    wr_rows_free(&t);
    return rc ? rc : ferror(f) ? -EIO : 0;
}

int wr_table(const struct coll_session *s, const struct wr_options *opt, int fd)
{
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    int rc = wr_table_print(s, opt, f);
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && opt->table_to_stderr)
        wr_table_print(s, opt, stderr);
    return rc;
}
