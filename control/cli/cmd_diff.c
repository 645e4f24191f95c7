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
 * The before/after of `omniprof report` is this comparison by kernel (the
 * report's pass over each file feeds diff_read.c; diff_compare's rows).
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
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diff.h"
#include "writer.h"

static const char *const by_names[] = {"kernel", "stage", "python", "nvtx"};

/* ---- the table ------------------------------------------------------------------ */

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

static void fmt_pct(char *buf, size_t cap, const struct diff_row *r)
{
    uint64_t before = r->ns[0], after = r->ns[1];
    enum diff_change c = diff_change_of(r);
    if (c != DIFF_BOTH)
        snprintf(buf, cap, c == DIFF_NEW ? "new" : "gone");
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

static void print_row(const char *name, int width, int name_w, const struct diff_row *r)
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
    fmt_pct(cell[7], sizeof cell[7], r);
    for (int i = width; i < name_w; i++)
        putchar(' ');
    fputs(name, stdout);
    for (int c = 0; c < N_COLS; c++)
        printf("  %*s", COL_W, cell[c]);
    putchar('\n');
}

/* One table: its rows (the first top of them; 0: all), total, new and gone. */
static void print_table(const struct diff_rows *rows, bool gpu, size_t top)
{
    size_t shown = top && top < rows->n ? top : rows->n;
    char name[4 * WR_NAME_MAX_WIDTH + 8];
    int name_w = 5;
    for (size_t i = 0; i < shown; i++) {
        int w = wr_name_printable(name, sizeof name, rows->v[i].name);
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
    for (size_t i = 0; i < shown; i++)
        print_row(name, wr_name_printable(name, sizeof name, rows->v[i].name), name_w, &rows->v[i]);
    rule(name_w);
    print_row("Total", 5, name_w, &rows->total);
    printf("%zu rows: %zu new, %zu gone", rows->n, rows->added, rows->gone);
    if (shown < rows->n)
        printf("; %zu more not shown (in the total)", rows->n - shown);
    putchar('\n');
}

/* ---- the command -------------------------------------------------------------- */

static int by_stage_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    /* no stage last */
    return (x < 0) != (y < 0) ? (x < 0) - (y < 0) : (x > y) - (x < y);
}

/* The stages either side has rows in, sorted; *n of them. */
static int64_t *stages_of(const struct diff_side *sides, bool gpu, size_t *n)
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
            if (!c || (!c->calls++ && !diff_grow((void **)&v, n, &cap, sizeof *v))) {
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

/* The tables; *total: the first's (every stage). */
static int report(struct diff *d, struct diff_side *sides, size_t top, bool gpu,
                  struct diff_row *total)
{
    for (int s = 0; s < 2; s++)
        printf("%s %s: %zu trace%s, %" PRIu64 " GPU records, %" PRIu64 " CUDA API calls\n",
               s ? "after: " : "before:", sides[s].arg, sides[s].files,
               sides[s].files == 1 ? "" : "s", sides[s].gpu_records, sides[s].api_calls);
    printf("by %s, %s%s\n", by_names[d->by], gpu ? "GPU time" : "host time of the launching calls",
           gpu ? "" : " (a side has no GPU activity: GPU times come from CUPTI)");
    struct diff_rows rows;
    if (diff_compare(sides, gpu, DIFF_ALL_STAGES, &rows) < 0)
        return -ENOMEM;
    print_table(&rows, gpu, top);
    *total = rows.total;
    diff_rows_free(&rows);
    size_t n_stages = 0;
    int64_t *stages = NULL;
    if (d->by == DIFF_BY_KERNEL && (sides[0].stages || sides[1].stages) &&
        !(stages = stages_of(sides, gpu, &n_stages)))
        return -ENOMEM;
    for (size_t i = 0; i < n_stages; i++) {
        if (stages[i] >= 0)
            printf("\nstage %lld\n", (long long)stages[i]);
        else
            printf("\nno stage\n");
        if (diff_compare(sides, gpu, stages[i], &rows) < 0) {
            free(stages);
            return -ENOMEM;
        }
        print_table(&rows, gpu, top);
        diff_rows_free(&rows);
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
static bool grew(const struct diff_row *total, bool gpu, double pct)
{
    const uint64_t *t = total->ns;
    double change =
        t[0] ? 100.0 * ((double)t[1] - (double)t[0]) / (double)t[0] : (t[1] ? 1.0 / 0.0 : 0.0);
    if (change > pct)
        fprintf(stderr, "omniprof: diff: total %s time grew by %.2f%%, more than %g%%\n",
                gpu ? "GPU" : "host", change, pct);
    return change > pct;
}

int cli_cmd_diff(int argc, char **argv)
{
    struct diff d = {.by = DIFF_BY_KERNEL};
    struct diff_side sides[2] = {{0}};
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
            d.by = (enum diff_by)k;
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
    int rc = d.r ? diff_names(&d) : -ENOMEM;
    if (rc < 0)
        fprintf(stderr, "omniprof: diff: %s\n", strerror(-rc));
    for (int s = 0; rc == 0 && s < 2; s++)
        rc = diff_find_side(&sides[s]);
    uint64_t bytes = 0;
    for (int s = 0; rc == 0 && s < 2; s++)
        for (size_t i = 0; i < sides[s].set.n; i++)
            bytes += cli_file_size(sides[s].set.v[i].path);
    struct cli_progress progress;
    cli_progress_begin(&progress, "diff", bytes);
    d.progress = &progress;
    for (int s = 0; rc == 0 && s < 2; s++)
        rc = diff_read_side(&d, &sides[s]);
    cli_progress_end(&progress);
    bool gpu = diff_on_gpu(sides);
    struct diff_row total = {0};
    if (rc == 0 && (rc = report(&d, sides, top, gpu, &total)) < 0)
        fprintf(stderr, "omniprof: diff: %s\n", strerror(-rc));
    int code = rc < 0 ? 2 : fail_above >= 0 && grew(&total, gpu, fail_above) ? 1 : 0;
    diff_free(&d);
    for (int s = 0; s < 2; s++)
        diff_side_free(&sides[s]);
    tr_reader_free(d.r);
    return code;
}
