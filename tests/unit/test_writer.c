/* The writer: a hand-made session written to disk (gzip'd and plain),
 * parsed back with a real JSON parser (python3's json), and the table. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "writer.h"

#define BASE 1795843162000000000ull

static struct coll_event events[6];
static const struct coll_event *ptrs[6];
static struct coll_kernel_name names[2];
static struct coll_session session;
static char dir[64];

static void launch(int i, uint64_t func, uint64_t start, uint64_t dur)
{
    events[i] = (struct coll_event){
        .start_ns = start,
        .end_ns = start + dur,
        .correlation = (uint64_t)i + 1,
        .tid = 77,
        .kind = COLL_EV_LAUNCH,
        .api = COLL_API_cuLaunchKernel,
        .u.launch = {.func = func, .grid = {4, 2, 1}, .block = {128, 1, 1}, .shared_mem = 16},
    };
}

static void setup(void)
{
    launch(0, 0x10, BASE + 1500000, 2000);
    launch(1, 0x20, BASE + 1600000, 5000);
    launch(2, 0x10, BASE + 1700000, 4000);
    launch(3, 0x10, BASE + 1800000, 3000);
    events[4] = (struct coll_event){
        .start_ns = BASE + 1400000,
        .end_ns = BASE + 1401000,
        .correlation = 5,
        .tid = 78,
        .kind = COLL_EV_ALLOC,
        .api = COLL_API_cuMemAlloc_v2,
        .u.mem = {.addr = 0xabc, .bytes = 4096, .total = 8192, .reserved = 8192},
        .device = 0,
        .device_type = 1,
        .tracked = 1};
    events[5] = (struct coll_event){.start_ns = BASE + 1450000,
                                    .end_ns = BASE + 1450000,
                                    .tid = 77,
                                    .kind = COLL_EV_STEP,
                                    .api = COLL_API_omni_step,
                                    .u.step = {.number = 1}};
    static const int order[6] = {4, 5, 0, 1, 2, 3};
    for (int i = 0; i < 6; i++)
        ptrs[i] = &events[order[i]];
    names[0] = (struct coll_kernel_name){
        0x10, COLL_DOMAIN_DRIVER, strdup("hostile \"name\"\n\\\x01\xff end"), NULL, 40, 0};
    names[1] = (struct coll_kernel_name){
        0x20, COLL_DOMAIN_DRIVER, strdup("void gemm<float>(int)"), strdup("_Z4gemmIfEvi"), 64,
        4096};
    session = (struct coll_session){.begin_ns = BASE + 1000000,
                                    .end_ns = BASE + 2000000,
                                    .steps = 1,
                                    .dropped = 3,
                                    .n_events = 6,
                                    .events = ptrs,
                                    .n_names = 2,
                                    .names = names};
    strcpy(dir, "/tmp/omniprof-writer-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
    free(names[0].name);
    free(names[1].name);
    free(names[1].mangled);
}

TestSuite(writer, .init = setup, .fini = teardown);

static struct wr_options options(bool gzip)
{
    return (struct wr_options){.dir = dir,
                               .worker = "stage-1_host_42_rank3",
                               .gzip = gzip,
                               .gzip_level = 1,
                               .table = true,
                               .version = "test",
                               .config = "a=b,\"c\"",
                               .process_name = "proc",
                               .pid = 42,
                               .stage = 1,
                               .rank = 3,
                               .world_size = 8,
                               .local_rank = 1,
                               .record_shapes = true,
                               .profile_memory = true};
}

/* Runs a python3 check over the trace (`script` sees it as d, its events
 * as ev) and compares its one-line answer. */
static void run_python(const char *path, const char *script, const char *expect)
{
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "python3";
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s -c '\n"
             "import gzip, json, sys\n"
             "p = sys.argv[1]\n"
             "d = json.load(gzip.open(p) if p.endswith(\".gz\") else open(p, \"rb\"))\n"
             "ev = d[\"traceEvents\"]\n"
             "%s"
             "' %s",
             py, script, path);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    char line[1024] = "";
    cr_expect_not_null(fgets(line, sizeof line, f));
    int rc = pclose(f);
    cr_assert_eq(rc, 0, "python could not parse %s", path);
    line[strcspn(line, "\n")] = '\0';
    cr_expect_str_eq(line, expect);
}

static void check_with_python(const char *path, const char *expect)
{
    run_python(path,
               "x = [e for e in ev if e[\"ph\"] == \"X\"]\n"
               "k = [e for e in x if e[\"name\"] == \"cuLaunchKernel\"]\n"
               "names = sorted(set(e[\"args\"][\"kernel\"] for e in k))\n"
               "tn = sorted(e[\"args\"][\"name\"] for e in ev if e[\"name\"] == \"thread_name\")\n"
               "ts = [round(e[\"ts\"] * 1000) for e in k]\n"
               "print(len(x), len(k), names == [\"hostile \\\"name\\\"\\n\\\\\\x01\\ufffd end\", "
               "\"void gemm<float>(int)\"],\n"
               "      d[\"baseTimeNanoseconds\"], ts, k[1][\"dur\"], k[0][\"args\"][\"grid\"],\n"
               "      d[\"omniprof\"][\"dropped_events\"], d[\"omniprof\"][\"stage\"], "
               "d[\"omniprof\"][\"config\"],\n"
               "      tn, d[\"traceName\"] == p, d[\"schemaVersion\"], d[\"displayTimeUnit\"])\n",
               expect);
}

/* Base time: the session's second rounded down to three months (Kineto's). */
static const char *const expected =
    "6 4 True 1790857026000000000 [4986136001500000, 4986136001600000, 4986136001700000, "
    "4986136001800000] 5.0 [4, 2, 1] 3 1 a=b,\"c\" ['thread 77', 'thread 78'] True 1 ms";

Test(writer, gzip_trace_parses_back)
{
    struct wr_options o = options(true);
    struct wr_result r;
    cr_assert_eq(wr_write_session(&session, &o, &r), 0);
    cr_expect(strstr(r.trace_path, "/stage-1_host_42_rank3.") != NULL, "%s", r.trace_path);
    cr_expect(strstr(r.trace_path, ".pt.trace.json.gz") != NULL, "%s", r.trace_path);
    check_with_python(r.trace_path, expected);
}

Test(writer, plain_trace_parses_back)
{
    struct wr_options o = options(false);
    struct wr_result r;
    cr_assert_eq(wr_write_session(&session, &o, &r), 0);
    size_t n = strlen(r.trace_path);
    cr_expect(n > 5 && strcmp(r.trace_path + n - 5, ".json") == 0, "%s", r.trace_path);
    check_with_python(r.trace_path, expected);
}

Test(writer, no_temporary_files_are_left)
{
    struct wr_options o = options(true);
    struct wr_result r;
    cr_assert_eq(wr_write_session(&session, &o, &r), 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 2 && ! ls -A %s | grep -q tmp", dir,
             dir);
    cr_expect_eq(system(cmd), 0, "exactly the trace and the table, no temporary file");
}

Test(writer, table_rows_sorted_by_total_with_counts)
{
    struct wr_options o = options(true);
    struct wr_result r;
    cr_assert_eq(wr_write_session(&session, &o, &r), 0);
    char want[128];
    snprintf(want, sizeof want, "%s/profiler_out_stage-1_host_42_rank3.txt", dir);
    cr_expect_str_eq(r.table_path, want);
    FILE *f = fopen(r.table_path, "r");
    cr_assert_not_null(f);
    char line[512];
    int row = 0;
    size_t width = 0;
    bool aligned = true;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "hostile")) {
            row++;
            /* 3 calls, 9us total, 64.29%, avg 3us, min 2us, max 4us; first row */
            cr_expect_eq(row, 1, "hostile name has the largest total");
            cr_expect(strstr(line, "hostile \"name\"?\\??") != NULL, "sanitised: %s", line);
            cr_expect(strstr(line, "9.000us          64.29%         3.000us         2.000us"
                                   "         4.000us               3\n") != NULL,
                      "%s", line);
            cr_expect(strstr(line, "   -   ") != NULL, "no CUDA times without GPU records: %s",
                      line);
        } else if (strstr(line, "gemm")) {
            row++;
            cr_expect_eq(row, 2);
            cr_expect(strstr(line, "5.000us          35.71%         5.000us         5.000us"
                                   "         5.000us               1\n") != NULL,
                      "%s", line);
        }
        if (line[0] == '-' || strstr(line, "hostile") || strstr(line, "gemm") ||
            strstr(line, "# of Calls")) {
            if (width == 0)
                width = strlen(line);
            aligned = aligned && strlen(line) == width;
        }
    }
    fclose(f);
    cr_expect_eq(row, 2);
    cr_expect(aligned, "rules, header and rows have one width");
}

Test(writer, table_rows_keeps_the_most_costly_and_all_in_the_totals)
{
    struct wr_options o = options(false);
    o.table_rows = 1;
    struct wr_result r;
    cr_assert_eq(wr_write_session(&session, &o, &r), 0);
    FILE *f = fopen(r.table_path, "r");
    cr_assert_not_null(f);
    char line[512];
    int hostile = 0, gemm = 0, more = 0, total = 0;
    while (fgets(line, sizeof line, f)) {
        hostile += strstr(line, "hostile") != NULL;
        gemm += strstr(line, "gemm") != NULL;
        more += strcmp(line, "(1 more rows, not shown; their times are in the totals)\n") == 0;
        total += strcmp(line, "Host API time total: 14.000us\n") == 0;
    }
    fclose(f);
    cr_expect_eq(hostile, 1);
    cr_expect_eq(gemm, 0, "the cheaper row is cut");
    cr_expect_eq(more, 1);
    cr_expect_eq(total, 1, "the totals count every row");
}

Test(writer, unwritable_directory_fails_cleanly)
{
    struct wr_options o = options(true);
    o.dir = "/proc/omniprof/cannot";
    struct wr_result r;
    cr_expect_lt(wr_write_session(&session, &o, &r), 0);
    cr_expect_str_empty(r.trace_path);
}

/* The step opens ProfilerStep#1 on its thread until the session's end; the
 * launches on that thread after it carry its External id (after every
 * correlation id: 6), the allocation before it and on another thread its own
 * correlation; the header names the rank's job. */
Test(writer, iterations_are_spans_and_calls_carry_their_external_id)
{
    struct wr_options o = options(false);
    struct wr_result r;
    cr_assert_eq(wr_write_session(&session, &o, &r), 0);
    run_python(r.trace_path,
               "s = [e for e in ev if e[\"name\"] == \"ProfilerStep#1\"]\n"
               "ext = [(e[\"name\"], e[\"args\"][\"External id\"]) for e in ev\n"
               "       if e[\"ph\"] == \"X\" and e[\"cat\"].startswith(\"cuda\")]\n"
               "print(len(s), s[0][\"cat\"], s[0][\"tid\"], round(s[0][\"ts\"] * 1000) % 10**9,\n"
               "      s[0][\"dur\"], s[0][\"args\"], ext, d[\"distributedInfo\"],\n"
               "      len(d[\"trace_id\"]), \"cuda_driver_version\" in d)\n",
               "1 user_annotation 77 1450000 550.0 {'External id': 6} [('cuMemAlloc_v2', 5), "
               "('cuLaunchKernel', 6), ('cuLaunchKernel', 6), ('cuLaunchKernel', 6), "
               "('cuLaunchKernel', 6)] {'rank': 3, 'world_size': 8, 'local_rank': 1} 32 False");
}

/* Rows are found by hash, before and after printing sorts them; names that
 * sanitise alike share a row, as they always have. */
Test(writer, table_rows_found_by_name_among_many)
{
    struct wr_rows t = {0};
    char name[160];
    for (int i = 0; i < 50000; i++) {
        snprintf(name, sizeof name, "void kernel_%d<float>(int)", i);
        struct wr_row *r = wr_rows_get(&t, name);
        cr_assert_not_null(r);
        wr_row_gpu(r, (uint64_t)i + 1);
    }
    cr_expect_eq(t.n, 50000);
    cr_expect_eq(wr_rows_get(&t, "void kernel_123<float>(int)")->gpu_total, 124);
    memset(name, 'x', 120);
    name[120] = '\0';
    struct wr_row *a = wr_rows_get(&t, name);
    name[110] = 'y';
    cr_expect_eq(wr_rows_get(&t, name), a, "the same first 97 code points: one row");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_eq(wr_rows_print(f, &t, 3), 0);
    fclose(f);
    cr_expect(strstr(text, "(49998 more rows, not shown") != NULL, "%s", text);
    free(text);
    cr_expect_eq(t.rows[0].gpu_total, 50000, "sorted");
    cr_expect_eq(wr_rows_get(&t, "void kernel_123<float>(int)")->gpu_total, 124);
    cr_expect_eq(wr_rows_get(&t, "void kernel_49999<float>(int)"), &t.rows[0]);
    cr_expect_eq(t.n, 50001);
    wr_rows_free(&t);
}
