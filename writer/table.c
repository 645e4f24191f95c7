/*
 * profiler_out_<worker>.txt: the per-kernel time table, laid out like
 * torch's key_averages().table(): a rule, a header, a rule, one row per
 * kernel sorted by total time, a rule, the totals.
 *
 * The times are what this session measured for each kernel: host launch
 * time of the interposed launch calls (GPU execution time needs CUPTI).
 * Names are printed sanitised (control bytes and invalid UTF-8 become '?')
 * and the name column is sized to the longest name, so the table stays
 * aligned whatever the names hold.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "writer.h"

#define NAME_MAX_WIDTH 120

struct row {
    char name[4 * NAME_MAX_WIDTH + 4]; /* sanitised, possibly shortened */
    int width;                         /* display width in code points */
    uint64_t calls, total, min, max;
};

/* Copies src as printable UTF-8 and returns its width in code points;
 * names longer than NAME_MAX_WIDTH end in "...". */
static int sanitise(char *dst, size_t cap, const char *src)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t len = 0;
    int width = 0;
    while (*s && len + 8 < cap) {
        if (width == NAME_MAX_WIDTH - 3 && strlen((const char *)s) > 3) {
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

/* Index of func in the session's sorted name table (every launched
 * function is there). */
static size_t name_index(const struct coll_session *s, uint64_t func)
{
    size_t lo = 0, hi = s->n_names;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->names[mid].func <= func)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int by_total(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->total != y->total)
        return x->total > y->total ? -1 : 1;
    return strcmp(x->name, y->name);
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

/* Pads a UTF-8 string of display width w to the right within field. */
static void right(FILE *f, const char *s, int w, int field)
{
    for (int i = w; i < field; i++)
        fputc(' ', f);
    fputs(s, f);
}

int wr_table_print(const struct coll_session *s, const struct wr_options *opt, FILE *f)
{
    /* One row per distinct name; row_of[i] is the row of s->names[i]. */
    struct row *rows = calloc(s->n_names ? s->n_names : 1, sizeof *rows);
    size_t *row_of = calloc(s->n_names ? s->n_names : 1, sizeof *row_of);
    if (!rows || !row_of) {
        free(rows);
        free(row_of);
        return -ENOMEM;
    }
    size_t n_rows = 0;
    for (size_t i = 0; i < s->n_names; i++) {
        char unknown[48], name[sizeof rows->name];
        const char *raw = s->names[i].name;
        if (!raw) {
            snprintf(unknown, sizeof unknown, "<unknown kernel 0x%" PRIx64 ">", s->names[i].func);
            raw = unknown;
        }
        int width = sanitise(name, sizeof name, raw);
        size_t r = 0;
        while (r < n_rows && strcmp(rows[r].name, name) != 0)
            r++;
        if (r == n_rows) {
            memcpy(rows[r].name, name, sizeof name);
            rows[r].width = width;
            rows[r].min = UINT64_MAX;
            n_rows++;
        }
        row_of[i] = r;
    }
    uint64_t grand = 0, launches = 0;
    for (size_t i = 0; i < s->n_events; i++) {
        const struct coll_event *ev = s->events[i];
        if (ev->kind != COLL_EV_LAUNCH)
            continue;
        struct row *row = &rows[row_of[name_index(s, ev->u.launch.func)]];
        uint64_t d = ev->end_ns > ev->start_ns ? ev->end_ns - ev->start_ns : 0;
        row->calls++;
        row->total += d;
        row->min = d < row->min ? d : row->min;
        row->max = d > row->max ? d : row->max;
        grand += d;
        launches++;
    }
    free(row_of);
    qsort(rows, n_rows, sizeof *rows, by_total);

    static const char *cols[] = {"# of Calls", "Launch total", "Launch avg", "Launch min",
                                 "Launch max", "Launch %"};
    const int n_cols = 6, col_w = 12;
    int name_w = 4;
    for (size_t r = 0; r < n_rows; r++)
        name_w = rows[r].width > name_w ? rows[r].width : name_w;

    fprintf(f, "omniprof %s: %s, %" PRIu64 " kernel launches in %.3f ms, %" PRIu64 " steps\n",
            opt->version, opt->worker, launches, (double)(s->end_ns - s->begin_ns) / 1e6,
            s->steps);
    fputs("Times are host time in the launch call (interposed cuLaunchKernel).\n", f);
    rule(f, name_w, n_cols, col_w);
    right(f, "Name", 4, name_w);
    for (int c = 0; c < n_cols; c++) {
        fputs("  ", f);
        right(f, cols[c], (int)strlen(cols[c]), col_w);
    }
    fputc('\n', f);
    rule(f, name_w, n_cols, col_w);
    for (size_t r = 0; r < n_rows; r++) {
        char cell[5][32];
        format_time(cell[0], sizeof cell[0], rows[r].total);
        format_time(cell[1], sizeof cell[1], rows[r].total / rows[r].calls);
        format_time(cell[2], sizeof cell[2], rows[r].min);
        format_time(cell[3], sizeof cell[3], rows[r].max);
        snprintf(cell[4], sizeof cell[4], "%.2f%%",
                 grand ? 100.0 * (double)rows[r].total / (double)grand : 0.0);
        right(f, rows[r].name, rows[r].width, name_w);
        fprintf(f, "  %*" PRIu64, col_w, rows[r].calls);
        for (int c = 0; c < 5; c++)
            fprintf(f, "  %*s", col_w, cell[c]);
        fputc('\n', f);
    }
    rule(f, name_w, n_cols, col_w);
    char total[32];
    format_time(total, sizeof total, grand);
    fprintf(f, "Launch time total: %s\n", total);
    if (s->dropped)
        fprintf(f, "Dropped events: %" PRIu64 " (event buffers were full; raise buffer_size)\n",
                s->dropped);
    free(rows);
    return ferror(f) ? -EIO : 0;
}

int wr_table(const struct coll_session *s, const struct wr_options *opt, const char *path)
{
    FILE *f = fopen(path, "wxe");
    if (!f)
        return -errno;
    int rc = wr_table_print(s, opt, f);
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    return rc;
}
