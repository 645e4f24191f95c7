/*
 * Unit tests of the report page's model and writer (writer/report*.c) and
 * of its before/after, omniprof diff's comparison (control/cli/diff.h) fed
 * file by file as the report feeds it: a report is fed by hand, written to
 * a file, and the JSON in its data block is parsed back (yajl) and checked
 * number by number; names that could end the script element never appear
 * in the page as they are.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "diff.h"
#include "writer.h"

static const char *const OPEN = "<script id=\"omniprof-data\" type=\"application/json\">";

/* The page of rep, written to a file and read back whole. */
static char *page_of(struct wr_report *rep)
{
    char dir[] = "/tmp/omniprof-test-report-XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/page.html", dir);
    cr_assert_eq(wr_report_save(rep, path), 0);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *text = malloc((size_t)n + 1);
    cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    rmdir(dir);
    return text;
}

/* The parsed data block of a page. */
static yajl_val data_of(const char *page)
{
    const char *start = strstr(page, OPEN);
    cr_assert_not_null(start);
    start += strlen(OPEN);
    const char *end = strstr(start, "</script>");
    cr_assert_not_null(end);
    char *json = strndup(start, (size_t)(end - start));
    char err[256];
    yajl_val v = yajl_tree_parse(json, err, sizeof err);
    cr_assert_not_null(v, "the data block is not JSON: %s", err);
    free(json);
    return v;
}

static yajl_val at(yajl_val v, const char *const *path, yajl_type type)
{
    yajl_val got = yajl_tree_get(v, (const char **)path, type);
    cr_assert_not_null(got, "no %s", path[0]);
    return got;
}

#define GET(v, type, ...) at(v, (const char *const[]){__VA_ARGS__, NULL}, type)

static yajl_val item(yajl_val array, size_t i)
{
    cr_assert(YAJL_IS_ARRAY(array));
    cr_assert_lt(i, YAJL_GET_ARRAY(array)->len);
    return YAJL_GET_ARRAY(array)->values[i];
}

static long long num(yajl_val v)
{
    cr_assert(YAJL_IS_INTEGER(v));
    return YAJL_GET_INTEGER(v);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static struct wr_report_run *one_run(struct wr_report **rep, int64_t begin, int64_t end)
{
    *rep = wr_report_new();
    cr_assert_not_null(*rep);
    struct wr_report_run *run = wr_report_add_run(*rep);
    cr_assert_not_null(run);
    struct wr_report_info *i = wr_report_info(run);
    i->has_session = true;
    i->begin_ns = begin;
    i->end_ns = end;
    return run;
}

static long gpu(struct wr_report_run *run, int kind, const char *name, int64_t stream,
                int64_t start, int64_t end)
{
    struct wr_report_gpu g = {kind, name, 0, stream, start, end, kind ? 4096 : 0};
    long row = wr_report_gpu(run, &g);
    cr_assert_geq(row, 0);
    return row;
}

Test(report, names_cannot_end_the_script_or_open_a_comment)
{
    struct wr_report *rep;
    struct wr_report_run *run = one_run(&rep, 0, 1000);
    static const char *const hostile[] = {"</script><script>alert(1)</script>", "<!--<script>",
                                          "a</SCRIPT >b", "say \"hi\"\n\\"};
    struct wr_report_info *i = wr_report_info(run);
    cr_assert_eq(wr_report_text(&i->program, hostile[0]), 0);
    cr_assert_eq(wr_report_text(&i->worker, hostile[1]), 0);
    cr_assert_eq(wr_report_text(&i->config, "bad\xff\xfe"), 0);
    for (int k = 0; k < 4; k++)
        gpu(run, WR_REPORT_KERNEL, hostile[k], 7, 100 * k, 100 * k + 50);
    char *page = page_of(rep);
    /* the template's own three script elements end; nothing else does */
    cr_expect_eq(count(page, "</script>"), 3);
    cr_expect_eq(count(page, "</SCRIPT"), 0);
    cr_expect_eq(count(page, "<!--"), 0);
    cr_expect_not_null(strstr(page, "<\\/script><script>alert(1)<\\/script>"));
    cr_expect_not_null(strstr(page, "\\u003c!--<script>"));
    yajl_val d = data_of(page), r = item(GET(d, yajl_t_array, "runs"), 0);
    cr_expect_str_eq(YAJL_GET_STRING(GET(r, yajl_t_string, "program")), hostile[0]);
    cr_expect_str_eq(YAJL_GET_STRING(GET(r, yajl_t_string, "worker")), hostile[1]);
    cr_expect_str_eq(YAJL_GET_STRING(GET(r, yajl_t_string, "config")),
                     "bad\xEF\xBF\xBD\xEF\xBF\xBD");
    yajl_val rows = GET(r, yajl_t_array, "rows");
    cr_assert_eq(YAJL_GET_ARRAY(rows)->len, 4);
    for (int k = 0; k < 4; k++) { /* each name comes back as it went in */
        bool found = false;
        for (size_t row = 0; row < 4; row++) {
            const char *name = YAJL_GET_STRING(item(item(rows, row), 0));
            found |= name && strcmp(name, hostile[k]) == 0;
        }
        cr_expect(found, "%s", hostile[k]);
    }
    yajl_tree_free(d);
    free(page);
    wr_report_free(rep);
}

Test(report, busy_time_is_a_union_binned_with_the_longest_gaps_named)
{
    struct wr_report *rep;
    /* a 4 ms session: RP_BINS bins of 1 us */
    struct wr_report_run *run = one_run(&rep, 0, 4000000);
    gpu(run, WR_REPORT_KERNEL, "a", 1, 0, 1000);
    gpu(run, WR_REPORT_KERNEL, "b", 1, 500, 2000); /* overlaps a: counted once */
    gpu(run, WR_REPORT_KERNEL, "c", 2, 3000, 4000);
    gpu(run, WR_REPORT_MEMCPY, "Memcpy HtoD (Pageable -> Device)", 2, 10000, 12000);
    char *page = page_of(rep);
    yajl_val d = data_of(page), r = item(GET(d, yajl_t_array, "runs"), 0);
    yajl_val tl = GET(r, yajl_t_object, "timeline");
    cr_expect_eq(num(GET(tl, yajl_t_number, "bin_ns")), 1000);
    cr_expect_eq(num(GET(tl, yajl_t_number, "bins")), 4000);
    yajl_val tracks = GET(tl, yajl_t_array, "tracks");
    cr_assert_eq(YAJL_GET_ARRAY(tracks)->len, 2);
    cr_expect_eq(num(GET(item(tracks, 0), yajl_t_number, "stream")), 1);
    cr_expect_eq(num(GET(item(tracks, 0), yajl_t_number, "busy_ns")), 2000);
    cr_expect_eq(num(GET(item(tracks, 1), yajl_t_number, "busy_ns")), 3000);
    yajl_val p1 = GET(item(tracks, 0), yajl_t_array, "p");
    cr_expect_eq(num(item(p1, 0)), 1000);
    cr_expect_eq(num(item(p1, 1)), 1000);
    cr_expect_eq(num(item(p1, 2)), 0);
    yajl_val dev = item(GET(tl, yajl_t_array, "devices"), 0);
    cr_expect_eq(num(GET(dev, yajl_t_number, "busy_ns")), 5000);
    yajl_val p = GET(dev, yajl_t_array, "p");
    cr_expect_eq(num(item(p, 3)), 1000);
    cr_expect_eq(num(item(p, 10)), 1000);
    cr_expect_eq(num(item(p, 5)), 0);
    /* gaps, longest first: after the copy to the end, then 4000..10000, 2000..3000 */
    yajl_val gaps = GET(dev, yajl_t_array, "gaps");
    cr_assert_eq(YAJL_GET_ARRAY(gaps)->len, 3);
    cr_expect_eq(num(item(item(gaps, 0), 0)), 12000);
    cr_expect_eq(num(item(item(gaps, 0), 1)), 4000000 - 12000);
    cr_expect(YAJL_IS_NULL(item(item(gaps, 0), 3)));
    cr_expect_eq(num(item(item(gaps, 1), 1)), 6000);
    cr_expect_str_eq(YAJL_GET_STRING(item(item(gaps, 1), 2)), "c");
    cr_expect_eq(num(item(item(gaps, 2), 0)), 2000);
    cr_expect_str_eq(YAJL_GET_STRING(item(item(gaps, 2), 2)), "b");
    cr_expect_str_eq(YAJL_GET_STRING(item(item(gaps, 2), 3)), "c");
    /* copies with their bytes; kernels as the chart's bars */
    yajl_val copies = GET(r, yajl_t_array, "copies");
    cr_assert_eq(YAJL_GET_ARRAY(copies)->len, 1);
    cr_expect_eq(num(item(item(copies, 0), 3)), 4096);
    cr_expect_eq(num(item(item(copies, 0), 4)), 2000);
    yajl_val top = GET(r, yajl_t_array, "kernels", "top");
    cr_assert_eq(YAJL_GET_ARRAY(top)->len, 3);
    cr_expect_str_eq(YAJL_GET_STRING(item(item(top, 0), 0)), "b");
    cr_expect_eq(num(item(item(top, 0), 1)), 1500);
    yajl_tree_free(d);
    free(page);
    wr_report_free(rep);
}

Test(report, table_rows_as_the_text_table_with_host_times_joined)
{
    struct wr_report *rep;
    struct wr_report_run *run = one_run(&rep, 0, 1000000);
    long k = gpu(run, WR_REPORT_KERNEL, "k", 7, 0, 300);
    gpu(run, WR_REPORT_KERNEL, "k", 7, 400, 500);
    long m = gpu(run, WR_REPORT_KERNEL, "m", 7, 600, 1100);
    wr_report_row_host(run, k, 40);
    wr_report_row_host(run, k, 60);
    wr_report_row_host(run, m, 5);
    /* host calls: rows only without GPU records, so none here */
    cr_assert_eq(wr_report_call(run, "k", 1, 0, 40), 0);
    char *page = page_of(rep);
    yajl_val d = data_of(page), r = item(GET(d, yajl_t_array, "runs"), 0);
    yajl_val rows = GET(r, yajl_t_array, "rows");
    cr_assert_eq(YAJL_GET_ARRAY(rows)->len, 2);
    /* [name, kind, gpu calls, total, min, max, calls, host total, min, max, bytes] */
    static const long long want[2][10] = {{0, 1, 500, 500, 500, 1, 5, 5, 5, 0},
                                          {0, 2, 400, 100, 300, 2, 100, 40, 60, 0}};
    for (size_t i = 0; i < 2; i++) {
        cr_expect_str_eq(YAJL_GET_STRING(item(item(rows, i), 0)), i ? "k" : "m");
        for (size_t c = 1; c < 11; c++)
            cr_expect_eq(num(item(item(rows, i), c)), want[i][c - 1], "row %zu column %zu", i, c);
    }
    cr_expect_eq(num(GET(r, yajl_t_number, "gpu_total_ns")), 900);
    cr_expect_eq(num(GET(r, yajl_t_number, "host_total_ns")), 105);
    cr_expect(YAJL_IS_TRUE(GET(r, yajl_t_true, "gpu")));
    yajl_tree_free(d);
    free(page);
    wr_report_free(rep);
}

Test(report, iterations_from_instants_last_to_the_end_and_spans_first)
{
    struct wr_report *rep;
    struct wr_report_run *run = one_run(&rep, 0, 1000);
    cr_assert_eq(wr_report_step(run, 3, 600, 599), 0); /* out of order on purpose */
    cr_assert_eq(wr_report_step(run, 1, 100, 99), 0);
    cr_assert_eq(wr_report_step(run, 2, 300, 299), 0);
    char *page = page_of(rep);
    yajl_val d = data_of(page), r = item(GET(d, yajl_t_array, "runs"), 0);
    yajl_val it = GET(r, yajl_t_object, "iterations");
    cr_expect_str_eq(YAJL_GET_STRING(GET(it, yajl_t_string, "source")), "omni_step");
    yajl_val items = GET(it, yajl_t_array, "items");
    static const long long want[3][3] = {{1, 100, 200}, {2, 300, 300}, {3, 600, 400}};
    for (size_t i = 0; i < 3; i++)
        for (size_t c = 0; c < 3; c++)
            cr_expect_eq(num(item(item(items, i), c)), want[i][c]);
    yajl_tree_free(d);
    free(page);
    /* with ProfilerStep#N spans, the spans are the iterations */
    cr_assert_eq(wr_report_step(run, 7, 120, 250), 0);
    page = page_of(rep);
    d = data_of(page);
    it = GET(item(GET(d, yajl_t_array, "runs"), 0), yajl_t_object, "iterations");
    cr_expect_str_eq(YAJL_GET_STRING(GET(it, yajl_t_string, "source")), "ProfilerStep#N");
    cr_expect_eq(num(GET(it, yajl_t_number, "count")), 1);
    cr_expect_eq(num(item(item(GET(it, yajl_t_array, "items"), 0), 2)), 130);
    yajl_tree_free(d);
    free(page);
    wr_report_free(rep);
}

Test(report, memory_curve_per_device_with_peaks)
{
    struct wr_report *rep;
    struct wr_report_run *run = one_run(&rep, 0, 4000000); /* bins of 1 us */
    cr_assert_eq(wr_report_memory(run, 0, 1500, 2048, 4096), 0);
    cr_assert_eq(wr_report_memory(run, 0, 1600, 10240, 16384), 0);
    cr_assert_eq(wr_report_memory(run, 0, 5000, 1024, 16384), 0);
    cr_assert_eq(wr_report_memory(run, -1, 100, 512, 512), 0);
    char *page = page_of(rep);
    yajl_val d = data_of(page), r = item(GET(d, yajl_t_array, "runs"), 0);
    yajl_val mem = GET(r, yajl_t_array, "memory");
    cr_assert_eq(YAJL_GET_ARRAY(mem)->len, 2);
    yajl_val host = item(mem, 0), gpu0 = item(mem, 1);
    cr_expect_eq(num(GET(host, yajl_t_number, "device")), -1);
    cr_expect_eq(num(GET(gpu0, yajl_t_number, "peak_allocated")), 10240);
    cr_expect_eq(num(GET(gpu0, yajl_t_number, "peak_reserved")), 16384);
    cr_expect_eq(num(GET(gpu0, yajl_t_number, "points")), 3);
    yajl_val a = GET(gpu0, yajl_t_array, "allocated_kib");
    cr_expect(YAJL_IS_NULL(item(a, 0))); /* before the first sample */
    cr_expect_eq(num(item(a, 1)), 10);   /* the bin's highest */
    cr_expect_eq(num(item(a, 3)), 10);   /* carried over */
    cr_expect_eq(num(item(a, 5)), 10);   /* the free came within the bin */
    cr_expect_eq(num(item(a, 6)), 1);    /* after it */
    cr_expect_eq(num(item(a, 3999)), 1);
    yajl_tree_free(d);
    free(page);
    wr_report_free(rep);
}

/* ---- before / after: diff's rows ------------------------------------------------ */

static char *write_trace(const char *events)
{
    char *path = strdup("/tmp/omniprof-kt-XXXXXX.json");
    int fd = mkstemps(path, 5);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "{\"traceEvents\": [%s]}", events);
    fclose(f);
    return path;
}

#define K(name, dur)                                                                               \
    "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"" name                                            \
    "\",\"pid\":0,\"tid\":7,\"ts\":1,\"dur\":" dur "}"
#define LAUNCH(name)                                                                               \
    "{\"ph\":\"X\",\"cat\":\"cuda_driver\",\"name\":\"cuLaunchKernel\",\"pid\":1,\"tid\":1,"       \
    "\"ts\":1,\"dur\":1,\"args\":{\"kernel\":\"" name "\"}}"

/* A file into a side, as omniprof report feeds it: its own pass of the
 * reader, each event and field handed to diff, then the file ended. */
static void feed(struct diff *d, struct diff_side *side, const char *path)
{
    diff_file_begin(d, side, NULL);
    cr_assert_eq(
        tr_read(d->r, path, &(struct tr_callbacks){.event = diff_event, .field = diff_field}, d),
        0);
    cr_assert_eq(diff_file_end(d), 0);
}

/* d's sides compared and put in a page; the page's "diff" parsed. */
static yajl_val page_diff(struct diff_side *sides, struct diff_rows *rows, yajl_val *doc)
{
    bool gpu = diff_on_gpu(sides);
    cr_assert_eq(diff_compare(sides, gpu, DIFF_ALL_STAGES, rows), 0);
    struct wr_report_delta *v = calloc(rows->n + 1, sizeof *v);
    for (size_t i = 0; i < rows->n; i++) { /* the two enums name the same three in one order */
        const struct diff_row *r = &rows->v[i];
        v[i] = (struct wr_report_delta){r->name,     r->ns[0],
                                        r->ns[1],    r->calls[0],
                                        r->calls[1], (enum wr_report_change)diff_change_of(r)};
    }
    const struct diff_row *t = &rows->total;
    struct wr_report_comparison c = {
        v,
        rows->n,
        {NULL, t->ns[0], t->ns[1], t->calls[0], t->calls[1], WR_REPORT_BOTH},
        rows->added,
        rows->gone,
        gpu,
        "b.json",
        "a.json"};
    struct wr_report *rep = wr_report_new();
    cr_assert_eq(wr_report_diff(rep, &c), 0);
    char *page = page_of(rep);
    *doc = data_of(page);
    free(page);
    free(v);
    wr_report_free(rep);
    return GET(*doc, yajl_t_object, "diff");
}

Test(report_diff, sets_compared_by_name_largest_change_first)
{
    struct diff d = {.by = DIFF_BY_KERNEL, .r = tr_reader_new(NULL)};
    struct diff_side sides[2] = {{.arg = "before"}, {.arg = "after"}};
    cr_assert_eq(diff_names(&d), 0);
    char *b1 = write_trace(K("gemm", "10.000") "," K("gemm", "10.000") "," K("relu", "1.000"));
    char *b2 = write_trace(K("_Z4copyPfi", "2.000"));
    char *a1 = write_trace(K("gemm", "5.000") "," K("relu", "4.000") "," K("new", "0.500"));
    feed(&d, &sides[0], b1);
    feed(&d, &sides[0], b2);
    feed(&d, &sides[1], a1);
    cr_expect_eq(sides[0].files, 2);
    cr_expect(diff_on_gpu(sides));
    struct diff_rows rows;
    yajl_val doc, diff = page_diff(sides, &rows, &doc);
    cr_assert_eq(rows.n, 4);
    /* gemm -15 us, relu +3 us, copy -2 us (demangled, as diff names it), new +0.5 us */
    static const char *const order[] = {"gemm", "relu", "copy(float*, int)", "new"};
    static const uint64_t want[4][4] = {
        {20000, 5000, 2, 1}, {1000, 4000, 1, 1}, {2000, 0, 1, 0}, {0, 500, 0, 1}};
    static const char *const mark[4] = {NULL, NULL, "gone", "new"};
    yajl_val page_rows = GET(diff, yajl_t_array, "rows");
    cr_assert_eq(YAJL_GET_ARRAY(page_rows)->len, 4);
    for (size_t i = 0; i < rows.n; i++) {
        const struct diff_row *r = &rows.v[i];
        cr_expect_str_eq(r->name, order[i]);
        cr_expect_eq(r->ns[0], want[i][0], "%s", order[i]);
        cr_expect_eq(r->ns[1], want[i][1], "%s", order[i]);
        cr_expect_eq(r->calls[0], want[i][2], "%s", order[i]);
        cr_expect_eq(r->calls[1], want[i][3], "%s", order[i]);
        yajl_val row = item(page_rows, i);
        cr_expect_str_eq(YAJL_GET_STRING(item(row, 0)), order[i]);
        for (int k = 0; k < 4; k++)
            cr_expect_eq(num(item(row, (size_t)k + 1)), (long long)want[i][k], "%s", order[i]);
        if (mark[i])
            cr_expect_str_eq(YAJL_GET_STRING(item(row, 5)), mark[i]);
        else
            cr_expect(YAJL_IS_NULL(item(row, 5)));
    }
    yajl_val total = GET(diff, yajl_t_array, "total");
    static const long long want_total[4] = {23000, 9500, 4, 3};
    for (size_t k = 0; k < 4; k++)
        cr_expect_eq(num(item(total, k)), want_total[k]);
    cr_expect(YAJL_IS_NULL(item(total, 4)));
    cr_expect_eq(rows.added, 1);
    cr_expect_eq(rows.gone, 1);
    cr_expect_eq(num(GET(diff, yajl_t_number, "new")), 1);
    cr_expect_eq(num(GET(diff, yajl_t_number, "gone")), 1);
    cr_expect(YAJL_IS_TRUE(GET(diff, yajl_t_true, "gpu")));
    yajl_tree_free(doc);
    diff_rows_free(&rows);
    diff_free(&d);
    for (int s = 0; s < 2; s++)
        diff_side_free(&sides[s]);
    unlink(b1), unlink(b2), unlink(a1);
    free(b1), free(b2), free(a1);
    tr_reader_free(d.r);
}

Test(report_diff, without_gpu_activity_host_times_of_launches)
{
    struct diff d = {.by = DIFF_BY_KERNEL, .r = tr_reader_new(NULL)};
    struct diff_side sides[2] = {{.arg = "before"}, {.arg = "after"}};
    cr_assert_eq(diff_names(&d), 0);
    char *b = write_trace(LAUNCH("k1") "," LAUNCH("k1") "," LAUNCH("k2"));
    char *a = write_trace(LAUNCH("k1") "," LAUNCH("k2") "," LAUNCH("k2") "," LAUNCH("k2"));
    feed(&d, &sides[0], b);
    feed(&d, &sides[1], a);
    cr_expect(!diff_on_gpu(sides));
    struct diff_rows rows;
    yajl_val doc, diff = page_diff(sides, &rows, &doc);
    cr_assert_eq(rows.n, 2);
    cr_expect_str_eq(rows.v[0].name, "k2"); /* +2 us of calls, then k1's -1 us */
    cr_expect_eq(rows.v[0].calls[0], 1);
    cr_expect_eq(rows.v[0].calls[1], 3);
    cr_expect_eq(rows.v[0].ns[1], 3000);
    cr_expect_str_eq(rows.v[1].name, "k1");
    cr_expect_eq(rows.total.calls[0], 3);
    cr_expect_eq(rows.total.calls[1], 4);
    cr_expect(YAJL_IS_FALSE(GET(diff, yajl_t_false, "gpu")));
    yajl_tree_free(doc);
    diff_rows_free(&rows);
    diff_free(&d);
    for (int s = 0; s < 2; s++)
        diff_side_free(&sides[s]);
    unlink(b), unlink(a);
    free(b), free(a);
    tr_reader_free(d.r);
}

/* A file that failed half way is left out: its records count nowhere. */
Test(report_diff, a_file_not_ended_is_forgotten)
{
    struct diff d = {.by = DIFF_BY_KERNEL, .r = tr_reader_new(NULL)};
    struct diff_side sides[2] = {{.arg = "before"}, {.arg = "after"}};
    cr_assert_eq(diff_names(&d), 0);
    char *good = write_trace(K("gemm", "1.000"));
    char *cut = strdup("/tmp/omniprof-kt-XXXXXX.json");
    int fd = mkstemps(cut, 5);
    cr_assert_geq(fd, 0);
    static const char text[] = "{\"traceEvents\": [" K("lost", "9.000") ",{";
    cr_assert_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    diff_file_begin(&d, &sides[0], NULL);
    cr_expect_lt(
        tr_read(d.r, cut, &(struct tr_callbacks){.event = diff_event, .field = diff_field}, &d), 0);
    feed(&d, &sides[0], good);
    feed(&d, &sides[1], good);
    cr_expect_eq(sides[0].files, 1);
    cr_expect_eq(sides[0].gpu_records, 1);
    struct diff_rows rows;
    cr_assert_eq(diff_compare(sides, true, DIFF_ALL_STAGES, &rows), 0);
    cr_assert_eq(rows.n, 1);
    cr_expect_str_eq(rows.v[0].name, "gemm");
    diff_rows_free(&rows);
    diff_free(&d);
    for (int s = 0; s < 2; s++)
        diff_side_free(&sides[s]);
    unlink(good), unlink(cut);
    free(good), free(cut);
    tr_reader_free(d.r);
}
