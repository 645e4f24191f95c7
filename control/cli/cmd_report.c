/*
 * omniprof report INPUTS... [-o report.html] [--before A]... [--after B]...:
 * one self-contained HTML page (writer/report*.c, page sources in
 * writer/page/) for the traces given, or found in the directories given:
 * a section per process or stage, and with --before/--after the largest
 * per-kernel changes between the two sets: the rows of `omniprof diff
 * --by kernel` (diff.h), fed by the same pass over each file.
 *
 * Each file is streamed once through the trace reader (report_read.c);
 * only aggregates reach the page, so a trace of millions of events makes
 * a page of a few hundred KiB.  Progress goes to stderr on a terminal.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "diff.h"
#include "report_read.h"

enum set { SET_NONE, SET_BEFORE, SET_AFTER };

struct input {
    char *path;
    enum set set;
};

struct inputs {
    struct input *v;
    size_t n, cap;
};

static int add_input(struct inputs *in, const char *path, enum set set)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 16;
        struct input *g = realloc(in->v, cap * sizeof *g);
        if (!g)
            return -ENOMEM;
        in->v = g;
        in->cap = cap;
    }
    if (!(in->v[in->n].path = strdup(path)))
        return -ENOMEM;
    in->v[in->n++].set = set;
    return 0;
}

static bool is_trace_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 14 && strcmp(name + n - 14, ".pt.trace.json") == 0) ||
           (n > 17 && strcmp(name + n - 17, ".pt.trace.json.gz") == 0);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's traces (*.pt.trace.json[.gz]), sorted; a file as it is. */
static int expand(struct inputs *in, const char *path, enum set set)
{
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return add_input(in, path, set);
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (!is_trace_name(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **g = realloc(names, cap * sizeof *g);
            rc = g ? 0 : -ENOMEM;
            names = g ? g : names;
        }
        if (rc == 0 && asprintf(&names[n], "%s/%s", path, e->d_name) < 0)
            rc = -ENOMEM;
        n += rc == 0;
    }
    closedir(d);
    if (rc == 0 && n == 0)
        fprintf(stderr, "omniprof: report: no *.pt.trace.json[.gz] in %s\n", path);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = add_input(in, names[i], set);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* ---- links from the page to the traces ------------------------------------------ */

/* to (absolute) relative to the directory from (absolute, "" for the
 * root): "b.json", "x/b.json", "../x/b.json". */
static void relative(const char *from, const char *to, char *out, size_t cap)
{
    size_t common = 0, i = 0, len = 0;
    for (; from[i] && from[i] == to[i]; i++)
        if (from[i] == '/')
            common = i;
    if (!from[i] && to[i] == '/')
        common = i; /* to lies under from */
    for (const char *p = from + common; *p; p++)
        if (*p == '/' && len + 4 < cap)
            len += (size_t)snprintf(out + len, cap - len, "../");
    snprintf(out + len, cap - len, "%s", to + common + 1);
}

/* The trace as the page at out links to it: relative to the page's
 * directory (the two can move together), or absolute while that directory
 * does not exist yet; as given when the trace does not resolve. */
static void link_for(const char *out, const char *trace, char *link, size_t cap)
{
    char page_dir[PATH_MAX], copy[PATH_MAX], abs[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", out);
    if (!realpath(trace, abs))
        snprintf(link, cap, "%s", trace);
    else if (realpath(dirname(copy), page_dir))
        relative(strcmp(page_dir, "/") == 0 ? "" : page_dir, abs, link, cap);
    else
        snprintf(link, cap, "%s", abs);
}

/* ---- the page ----------------------------------------------------------------------- */

/* "a.json.gz", "a.json.gz and 2 more": what a set holds, for the page. */
static void set_label(const struct inputs *in, enum set set, char *buf, size_t cap)
{
    size_t n = 0;
    const char *first = NULL;
    for (size_t i = 0; i < in->n; i++)
        if (in->v[i].set == set && n++ == 0)
            first = in->v[i].path;
    if (n <= 1)
        snprintf(buf, cap, "%s", first ? first : "");
    else
        snprintf(buf, cap, "%s and %zu more", first, n - 1);
}

/* The page's before/after: diff's rows of the two sides, by kernel. */
static int compare(struct wr_report *rep, const struct inputs *in, const struct diff_side *sides)
{
    static const enum wr_report_change change[] = {
        [DIFF_BOTH] = WR_REPORT_BOTH, [DIFF_NEW] = WR_REPORT_NEW, [DIFF_GONE] = WR_REPORT_GONE};
    struct wr_report_comparison c = {.gpu = diff_on_gpu(sides)};
    struct diff_rows d;
    int rc = diff_compare(sides, c.gpu, DIFF_ALL_STAGES, &d);
    struct wr_report_delta *rows = rc == 0 ? calloc(d.n ? d.n : 1, sizeof *rows) : NULL;
    if (rc == 0 && !rows)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i <= d.n; i++) {
        const struct diff_row *r = i < d.n ? &d.v[i] : &d.total;
        struct wr_report_delta *to = i < d.n ? &rows[i] : &c.total;
        *to = (struct wr_report_delta){r->name,     r->ns[0],    r->ns[1],
                                       r->calls[0], r->calls[1], change[diff_change_of(r)]};
    }
    char b[PATH_MAX + 32], a[PATH_MAX + 32];
    set_label(in, SET_BEFORE, b, sizeof b);
    set_label(in, SET_AFTER, a, sizeof a);
    c.rows = rows;
    c.n = d.n;
    c.added = d.added;
    c.gone = d.gone;
    c.before = b;
    c.after = a;
    if (rc == 0)
        rc = wr_report_diff(rep, &c);
    free(rows);
    diff_rows_free(&d);
    return rc;
}

static int make_page(const struct inputs *in, const char *out)
{
    struct wr_report *rep = wr_report_new();
    struct tr_reader *r = tr_reader_new(NULL);
    struct diff d = {.by = DIFF_BY_KERNEL, .r = r};
    struct diff_side sides[2] = {{.arg = "before"}, {.arg = "after"}};
    bool compared = false;
    int rc = rep && r ? diff_names(&d) : -ENOMEM, failed = 0, read = 0;
    for (size_t i = 0; i < in->n; i++)
        compared |= in->v[i].set != SET_NONE;
    uint64_t total = 0;
    for (size_t i = 0; i < in->n; i++)
        total += cli_file_size(in->v[i].path);
    struct cli_progress progress;
    cli_progress_begin(&progress, "report", total);
    static const char *const set_names[] = {NULL, "before", "after"};
    for (size_t i = 0; rc == 0 && i < in->n; i++) {
        const struct input *f = &in->v[i];
        char link[PATH_MAX];
        link_for(out, f->path, link, sizeof link);
        cli_progress_file(&progress, f->path);
        if (f->set)
            diff_file_begin(&d, &sides[f->set - 1], NULL);
        int err = cli_report_read(rep, r, f->path, link, set_names[f->set], f->set ? &d : NULL,
                                  &progress);
        if (err == 0 && f->set)
            err = diff_file_end(&d);
        cli_progress_done_file(&progress, cli_file_size(f->path));
        if (err == -ENOMEM) {
            rc = err;
        } else if (err < 0) {
            cli_progress_end(&progress);
            fprintf(stderr, "omniprof: report: %s; left out\n",
                    tr_error(r)[0] ? tr_error(r) : strerror(-err));
            failed++;
        } else {
            read++;
        }
    }
    cli_progress_end(&progress);
    if (rc == 0 && compared)
        rc = compare(rep, in, sides);
    if (rc == 0 && read == 0) {
        fprintf(stderr, "omniprof: report: no trace could be read; no page written\n");
        failed = failed ? failed : 1;
    } else if (rc == 0) {
        rc = wr_report_save(rep, out);
        if (rc == 0)
            printf("%s: %d %s\n", out, read, read == 1 ? "trace" : "traces");
        else
            fprintf(stderr, "omniprof: report: cannot write %s: %s\n", out, strerror(-rc));
    } else {
        fprintf(stderr, "omniprof: report: %s\n", strerror(-rc));
    }
    diff_free(&d);
    for (int s = 0; s < 2; s++)
        diff_side_free(&sides[s]);
    tr_reader_free(r);
    wr_report_free(rep);
    return rc < 0 || failed ? 1 : 0;
}

static void inputs_free(struct inputs *in)
{
    for (size_t i = 0; i < in->n; i++)
        free(in->v[i].path);
    free(in->v);
}

int cli_report_files(const char *const *files, size_t n, const char *out)
{
    struct inputs in = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = add_input(&in, files[i], SET_NONE);
    int code = rc == 0 ? make_page(&in, out) : 1;
    inputs_free(&in);
    return code;
}

static void usage(FILE *f)
{
    fputs("usage: omniprof report TRACE|DIR... [-o report.html]\n"
          "       omniprof report --before TRACE|DIR... --after TRACE|DIR... [-o report.html]\n"
          "One HTML page for the traces given (a directory: its *.pt.trace.json[.gz]): per\n"
          "process or stage its GPU time by kernel, copies, timeline, utilisation, idle gaps,\n"
          "iterations, memory and time table; with --before/--after, the largest changes.\n",
          f);
}

int cli_cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"before", required_argument, NULL, 'b'},
        {"after", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct inputs in = {0};
    const char *out = "report.html";
    int opt, rc = 0;
    bool before = false, after = false;
    optind = 1;
    while (rc == 0 && (opt = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case 'b': rc = expand(&in, optarg, SET_BEFORE), before = true; break;
        case 'a': rc = expand(&in, optarg, SET_AFTER), after = true; break;
        case 'h':
            usage(stdout);
            inputs_free(&in);
            return 0;
        default:
            usage(stderr);
            inputs_free(&in);
            return 2;
        }
    }
    for (int i = optind; rc == 0 && i < argc; i++)
        rc = expand(&in, argv[i], SET_NONE);
    int code;
    if (rc < 0) {
        fprintf(stderr, "omniprof: report: %s\n", strerror(-rc));
        code = 1;
    } else if (in.n == 0 || before != after || !out[0]) {
        if (before != after)
            fprintf(stderr, "omniprof: report: --before and --after go together\n");
        usage(stderr);
        code = 2;
    } else {
        code = make_page(&in, out);
    }
    inputs_free(&in);
    return code;
}
