/*
 * The trace reader (control/cli/trace_reader.h): the H200 Kineto fixture
 * counted against python3's json, an omniprof trace written by the writer
 * read back, gzip'd and plain giving the same callbacks, interning, long
 * tokens, many names, and every kind of bad input failing cleanly (one
 * errno, one message, no leak).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <sanitizer/lsan_interface.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "trace_reader.h"
#include "writer.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/omniprof-reader-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
    cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "no leak");
}

TestSuite(reader, .init = setup, .fini = teardown);

/* ---- helpers --------------------------------------------------------------- */

static const char *path_of(const char *name)
{
    static char path[8][256];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    return p;
}

static const char *write_bytes(const char *name, const void *bytes, size_t len)
{
    const char *p = path_of(name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
    return p;
}

static const char *write_text(const char *name, const char *text)
{
    return write_bytes(name, text, strlen(text));
}

/* Copies src into a gzip'd (gz) or plain file. */
static const char *recompress(const char *src, const char *name, bool gz)
{
    const char *dst = path_of(name);
    gzFile in = gzopen(src, "rb");
    gzFile out = gzopen(dst, gz ? "wb6" : "wbT");
    cr_assert(in && out);
    char buf[1 << 16];
    int n;
    while ((n = gzread(in, buf, sizeof buf)) > 0)
        cr_assert_eq(gzwrite(out, buf, (unsigned)n), n);
    gzclose(in);
    cr_assert_eq(gzclose(out), Z_OK);
    return dst;
}

static const char *kineto_fixture(void)
{
    return FIXTURES "/kineto-h200/stage-0_gpuhost_4242.1795843162373984441.pt.trace.json.gz";
}

/* Runs a python3 program on path and returns its one line of output. */
static void python_line(const char *program, const char *path, char *line, size_t cap)
{
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "python3";
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s -c '%s' %s", py, program, path);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    line[0] = '\0';
    cr_expect_not_null(fgets(line, (int)cap, f));
    cr_assert_eq(pclose(f), 0, "python failed on %s", path);
    line[strcspn(line, "\n")] = '\0';
}

/* Every callback as one line of text, to compare two reads. */
static int log_event(void *ctx, const struct tr_event *ev)
{
    FILE *f = ctx;
    fprintf(
        f, "E%zu %s %s %s pid=%d:%lld:%s tid=%d:%lld:%s id=%d:%lld:%s bp=%s ts=%d:%lld dur=%d:%lld",
        ev->index, ev->ph ? ev->ph : "-", ev->cat ? ev->cat : "-", ev->name ? ev->name : "-",
        ev->pid.present, (long long)ev->pid.num, ev->pid.str ? ev->pid.str : "", ev->tid.present,
        (long long)ev->tid.num, ev->tid.str ? ev->tid.str : "", ev->id.present,
        (long long)ev->id.num, ev->id.str ? ev->id.str : "", ev->bp ? ev->bp : "-", ev->has_ts,
        (long long)ev->ts_ns, ev->has_dur, (long long)ev->dur_ns);
    for (size_t i = 0; i < ev->n_args; i++)
        fprintf(f, " %s=%d:%s", ev->args[i].key, ev->args[i].v.type,
                ev->args[i].v.s ? ev->args[i].v.s : "");
    for (size_t i = 0; i < ev->n_extra; i++)
        fprintf(f, " +%s=%d:%s", ev->extra[i].key, ev->extra[i].v.type,
                ev->extra[i].v.s ? ev->extra[i].v.s : "");
    fputc('\n', f);
    return 0;
}

static int log_field(void *ctx, const struct tr_field *fl)
{
    fprintf(ctx, "F %s[%ld].%s=%d:%s\n", fl->object ? fl->object : "", fl->index,
            fl->key ? fl->key : "", fl->v.type, fl->v.s ? fl->v.s : "");
    return 0;
}

static const struct tr_callbacks logging = {.event = log_event, .field = log_field};

/* The log of reading path, malloc'd; rc gets tr_read's answer. */
static char *read_log(struct tr_reader *r, const char *path, int *rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    *rc = tr_read(r, path, &logging, f);
    fclose(f);
    return text;
}

/* log_event for a reader with args_text: each event's args text is one
 * object, kept in texts, and its args are parsed on request. */
struct text_log {
    struct tr_reader *r;
    FILE *log, *texts;
};

static int log_event_text(void *ctx, const struct tr_event *ev)
{
    struct text_log *t = ctx;
    if (ev->args_text) {
        cr_assert_eq(ev->n_args, 0u, "args wait for tr_event_args");
        cr_assert(ev->args_len >= 2 && ev->args_text[0] == '{' &&
                  ev->args_text[ev->args_len - 1] == '}');
        fprintf(t->texts, "%zu %.*s\n", ev->index, (int)ev->args_len, ev->args_text);
    }
    cr_assert_eq(tr_event_args(t->r, ev), 0);
    return log_event(t->log, ev);
}

static int log_field_text(void *ctx, const struct tr_field *fl)
{
    return log_field(((struct text_log *)ctx)->log, fl);
}

static char *read_log_text(const char *path, char **texts)
{
    char *text = NULL;
    size_t len = 0, tlen = 0;
    struct text_log t = {tr_reader_new(&(struct tr_options){.args_text = true}),
                         open_memstream(&text, &len), open_memstream(texts, &tlen)};
    cr_assert(t.r && t.log && t.texts);
    cr_assert_eq(tr_read(t.r, path,
                         &(struct tr_callbacks){.event = log_event_text, .field = log_field_text},
                         &t),
                 0, "%s", tr_error(t.r));
    fclose(t.log);
    fclose(t.texts);
    tr_reader_free(t.r);
    return text;
}

/* ---- the Kineto fixture against python ----------------------------------- */

struct tally {
    struct bucket {
        const char *cat, *ph;
        size_t n;
    } b[64];
    size_t n_b, events, correlations;
    long long ts_sum, dur_sum;
    const char *names[4096];
    size_t n_names;
};

static int tally_event(void *ctx, const struct tr_event *ev)
{
    struct tally *t = ctx;
    t->events++;
    t->ts_sum += ev->has_ts ? ev->ts_ns : 0;
    t->dur_sum += ev->has_dur ? ev->dur_ns : 0;
    t->correlations += tr_arg(ev, "correlation") != NULL;
    if (ev->name && t->n_names < 4096)
        t->names[t->n_names++] = ev->name;
    const char *cat = ev->cat ? ev->cat : "";
    size_t i = 0;
    while (i < t->n_b && !(t->b[i].cat == cat && t->b[i].ph == ev->ph))
        i++;
    cr_assert_lt(i, 64);
    if (i == t->n_b)
        t->b[t->n_b++] = (struct bucket){cat, ev->ph, 0};
    t->b[i].n++;
    return 0;
}

static int by_cat_ph(const void *a, const void *b)
{
    const struct bucket *x = a, *y = b;
    int c = strcmp(x->cat, y->cat);
    return c ? c : strcmp(x->ph, y->ph);
}

static int by_pointer(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    return (x > y) - (x < y);
}

static const char count_program[] =
    "import gzip, json, sys, collections\n"
    "from decimal import Decimal, ROUND_HALF_UP\n"
    "d = json.load(gzip.open(sys.argv[1]), parse_float=Decimal)\n"
    "ev = d[\"traceEvents\"]\n"
    "ns = lambda v: int((Decimal(v) * 1000).quantize(Decimal(1), ROUND_HALF_UP))\n"
    "c = collections.Counter((e.get(\"cat\", \"\"), e[\"ph\"]) for e in ev)\n"
    "print(len(ev), sum(ns(e[\"ts\"]) for e in ev if \"ts\" in e),\n"
    "      sum(ns(e[\"dur\"]) for e in ev if \"dur\" in e),\n"
    "      sum(\"correlation\" in e.get(\"args\", {}) for e in ev),\n"
    "      len(set(e[\"name\"] for e in ev if \"name\" in e)),\n"
    "      \" \".join(f\"{k[0]}/{k[1]}={v}\" for k, v in sorted(c.items())))\n";

Test(reader, kineto_fixture_counts_match_python)
{
    char want[2048], got[2048];
    python_line(count_program, kineto_fixture(), want, sizeof want);
    struct tr_reader *r = tr_reader_new(NULL);
    struct tally t = {0};
    cr_assert_eq(tr_read(r, kineto_fixture(), &(struct tr_callbacks){.event = tally_event}, &t), 0,
                 "%s", tr_error(r));
    qsort(t.b, t.n_b, sizeof t.b[0], by_cat_ph);
    qsort(t.names, t.n_names, sizeof t.names[0], by_pointer);
    size_t distinct = 0;
    for (size_t i = 0; i < t.n_names; i++)
        distinct += i == 0 || t.names[i] != t.names[i - 1];
    int n = snprintf(got, sizeof got, "%zu %lld %lld %zu %zu", t.events, t.ts_sum, t.dur_sum,
                     t.correlations, distinct);
    for (size_t i = 0; i < t.n_b; i++)
        n += snprintf(got + n, sizeof got - (size_t)n, "%s%s/%s=%zu", i ? " " : " ", t.b[i].cat,
                      t.b[i].ph, t.b[i].n);
    cr_expect_str_eq(got, want);
    cr_expect_str_eq(tr_error(r), "");
    tr_reader_free(r);
}

struct fields {
    long long base;
    char device[64];
    int schema;
    size_t seen;
};

static int kineto_field(void *ctx, const struct tr_field *f)
{
    struct fields *k = ctx;
    k->seen++;
    if (!f->object && strcmp(f->key, "baseTimeNanoseconds") == 0 && f->v.type == TR_INT)
        k->base = f->v.i;
    if (!f->object && strcmp(f->key, "schemaVersion") == 0)
        k->schema = (int)f->v.i;
    if (f->object && !strcmp(f->object, "deviceProperties") && f->index == 0 && f->key &&
        !strcmp(f->key, "name"))
        snprintf(k->device, sizeof k->device, "%s", f->v.s);
    return 0;
}

static int first_ts(void *ctx, const struct tr_event *ev)
{
    if (ev->index == 0) {
        cr_expect_eq(ev->ts_ns, 4986136362507141LL, "µs with ns decimals, exact");
        cr_expect_eq(ev->dur_ns, 2819548);
        const struct tr_value *dims = tr_arg(ev, "Input Dims");
        cr_assert_not_null(dims);
        cr_expect_eq(dims->type, TR_ARRAY);
        cr_expect_str_eq(dims->s, "[[16,512],[512,512]]");
        cr_expect_eq(tr_arg(ev, "External id")->i, 1);
        (*(int *)ctx)++;
    }
    return 0;
}

Test(reader, kineto_fixture_fields_and_exact_times)
{
    struct tr_reader *r = tr_reader_new(NULL);
    struct fields k = {0};
    int firsts = 0;
    cr_assert_eq(tr_read(r, kineto_fixture(), &(struct tr_callbacks){.field = kineto_field}, &k),
                 0);
    cr_expect_eq(k.base, 1790857026000000000LL);
    cr_expect_eq(k.schema, 1);
    cr_expect_str_eq(k.device, "NVIDIA H200");
    cr_assert_eq(tr_read(r, kineto_fixture(), &(struct tr_callbacks){.event = first_ts}, &firsts),
                 0);
    cr_expect_eq(firsts, 1);
    tr_reader_free(r);
}

/* ---- a trace the writer wrote -------------------------------------------- */

#define BASE 1795843162000000000ull
/* The trace's base: BASE rounded down to three months, as Kineto's is. */
#define TRACE_BASE 1790857026000000000ull

struct omni {
    int launches, stacks, stage, rank, pid;
    long long base;
    char worker[64], kernel0[64], grid[32], stack[256];
};

static int omni_event(void *ctx, const struct tr_event *ev)
{
    struct omni *o = ctx;
    if (!ev->name || strcmp(ev->name, "cuLaunchKernel") != 0)
        return 0;
    const struct tr_value *kernel = tr_arg(ev, "kernel"), *grid = tr_arg(ev, "grid");
    const struct tr_value *stack = tr_arg(ev, "Call stack");
    cr_assert(kernel && grid);
    if (o->launches++ == 0) {
        cr_expect_eq(ev->ts_ns, (long long)(BASE - TRACE_BASE) + 1500000);
        cr_expect_eq(ev->dur_ns, 2000);
        cr_expect_eq(ev->tid.num, 77);
        snprintf(o->kernel0, sizeof o->kernel0, "%s", kernel->s);
        snprintf(o->grid, sizeof o->grid, "%s", grid->s);
    }
    if (stack) {
        o->stacks++;
        cr_expect_eq(stack->type, TR_ARRAY);
        snprintf(o->stack, sizeof o->stack, "%s", stack->s);
    }
    return 0;
}

static int omni_field(void *ctx, const struct tr_field *f)
{
    struct omni *o = ctx;
    if (!f->object && !strcmp(f->key, "baseTimeNanoseconds"))
        o->base = f->v.i;
    if (!f->object || strcmp(f->object, "omniprof") != 0)
        return 0;
    if (!strcmp(f->key, "stage"))
        o->stage = (int)f->v.i;
    else if (!strcmp(f->key, "rank"))
        o->rank = (int)f->v.i;
    else if (!strcmp(f->key, "pid"))
        o->pid = (int)f->v.i;
    else if (!strcmp(f->key, "worker"))
        snprintf(o->worker, sizeof o->worker, "%s", f->v.s);
    return 0;
}

static void write_session(struct wr_result *res)
{
    static struct coll_event ev[3];
    static const struct coll_event *ptrs[3];
    static struct coll_kernel_name names[2];
    static struct coll_frame frames[2];
    static struct coll_stack stack;
    for (int i = 0; i < 3; i++) {
        ev[i] = (struct coll_event){
            .start_ns = BASE + 1500000 + (uint64_t)i * 100000,
            .end_ns = BASE + 1502000 + (uint64_t)i * 100000,
            .correlation = (uint64_t)i + 1,
            .tid = 77,
            .kind = COLL_EV_LAUNCH,
            .api = COLL_API_cuLaunchKernel,
            .stack = i == 2 ? 1 : 0,
            .u.launch = {.func = i == 1 ? 0x20 : 0x10, .grid = {4, 2, 1}, .block = {128, 1, 1}}};
        ptrs[i] = &ev[i];
    }
    names[0] = (struct coll_kernel_name){
        0x10, COLL_DOMAIN_DRIVER, "hostile \"name\"\n\\\xff", NULL, 40, 0};
    names[1] =
        (struct coll_kernel_name){0x20, COLL_DOMAIN_DRIVER, "void gemm<float>(int)", NULL, 64, 0};
    frames[0] = (struct coll_frame){0x401000, "app", "run \"step\"", 0x10};
    frames[1] = (struct coll_frame){0x402000, "libc.so.6", "main", 0x20};
    stack = (struct coll_stack){1, 2, frames};
    static struct coll_session s;
    s = (struct coll_session){.begin_ns = BASE + 1000000,
                              .end_ns = BASE + 2000000,
                              .steps = 1,
                              .n_events = 3,
                              .events = ptrs,
                              .n_names = 2,
                              .names = names,
                              .n_stacks = 1,
                              .stacks = &stack};
    struct wr_options o = {.dir = dir,
                           .worker = "stage-1_host_42_rank3",
                           .gzip = true,
                           .gzip_level = 1,
                           .version = "test",
                           .config = "a=b",
                           .process_name = "proc",
                           .pid = 42,
                           .stage = 1,
                           .rank = 3,
                           .with_stack = true,
                           .record_shapes = true};
    cr_assert_eq(wr_write_session(&s, &o, res), 0);
}

Test(reader, omniprof_trace_reads_back)
{
    struct wr_result res;
    write_session(&res);
    struct tr_reader *r = tr_reader_new(NULL);
    struct omni o = {0};
    cr_assert_eq(tr_read(r, res.trace_path,
                         &(struct tr_callbacks){.event = omni_event, .field = omni_field}, &o),
                 0, "%s", tr_error(r));
    cr_expect_eq(o.launches, 3);
    cr_expect_eq(o.stacks, 1);
    cr_expect_str_eq(o.kernel0, "hostile \"name\"\n\\\xEF\xBF\xBD", "U+FFFD for the bad byte");
    cr_expect_str_eq(o.grid, "[4,2,1]");
    cr_expect(strstr(o.stack, "\"run \\\"step\\\" (app+0x10)\"") != NULL, "%s", o.stack);
    cr_expect_eq(o.base, (long long)TRACE_BASE);
    cr_expect_eq(o.stage, 1);
    cr_expect_eq(o.rank, 3);
    cr_expect_eq(o.pid, 42);
    cr_expect_str_eq(o.worker, "stage-1_host_42_rank3");
    tr_reader_free(r);
}

/* ---- same input, same callbacks --------------------------------------------- */

Test(reader, gzip_and_plain_give_identical_callbacks)
{
    const char *plain = recompress(kineto_fixture(), "k.json", false);
    const char *gz = recompress(plain, "k.json.gz", true);
    struct tr_reader *r = tr_reader_new(NULL);
    int rc1, rc2, rc3;
    char *a = read_log(r, plain, &rc1);
    char *b = read_log(r, gz, &rc2);
    char *c = read_log(r, kineto_fixture(), &rc3);
    cr_expect(rc1 == 0 && rc2 == 0 && rc3 == 0);
    cr_expect_gt(strlen(a), 10000);
    cr_expect(strcmp(a, b) == 0 && strcmp(a, c) == 0, "identical logs");
    free(a);
    free(b);
    free(c);
    tr_reader_free(r);
}

Test(reader, interning_gives_equal_pointers)
{
    struct tr_reader *r = tr_reader_new(NULL);
    char a[] = "cudaLaunchKernel", b[] = "cudaLaunchKernel";
    const char *x = tr_intern(r, a, strlen(a)), *y = tr_intern(r, b, strlen(b));
    cr_expect_eq(x, y);
    cr_expect_neq(x, (const char *)a);
    cr_expect_neq(tr_intern(r, "cudaLaunchKerne", 15), x);
    cr_expect_eq(tr_intern(r, "X\0Y", 3), tr_intern(r, "X", 1), "a name ends at a NUL");
    cr_expect_str_eq(tr_intern(r, "", 0), "");
    /* the fixture's names are the same pointers on every read */
    struct tally t1 = {0}, t2 = {0};
    const struct tr_callbacks cb = {.event = tally_event};
    cr_assert_eq(tr_read(r, kineto_fixture(), &cb, &t1), 0);
    size_t names = tr_interned(r);
    cr_assert_eq(tr_read(r, kineto_fixture(), &cb, &t2), 0);
    cr_expect_eq(tr_interned(r), names, "nothing new interned");
    cr_expect_eq(memcmp(t1.names, t2.names, t1.n_names * sizeof t1.names[0]), 0);
    const char *kernel = NULL;
    for (size_t i = 0; i < t1.n_b; i++)
        if (strcmp(t1.b[i].cat, "kernel") == 0)
            kernel = t1.b[i].cat;
    cr_expect_eq(kernel, tr_intern(r, "kernel", 6), "an event's cat is the interned name");
    tr_reader_free(r);
}

/* ---- size: long tokens, many names, boundaries ----------------------------- */

struct longs {
    size_t name_len, arg_len, events;
    bool name_ok, arg_ok;
};

static int long_event(void *ctx, const struct tr_event *ev)
{
    struct longs *l = ctx;
    l->events++;
    if (ev->name && strlen(ev->name) > 1000) {
        l->name_len = strlen(ev->name);
        l->name_ok = ev->name[0] == 'k' && ev->name[l->name_len - 1] == 'z';
        const struct tr_value *v = tr_arg(ev, "Call stack");
        l->arg_len = v ? v->len : 0;
        l->arg_ok = v && v->s[0] == 'a' && v->s[v->len - 1] == '"' && v->s[v->len - 2] == '\\';
    }
    return 0;
}

/* {"traceEvents": [{"name": "kkk...z", "args": {"Call stack": "aaa...\\\""}}, {...}]} */
static const char *long_token_trace(size_t len)
{
    char *t = malloc(2 * len + 256);
    cr_assert_not_null(t);
    size_t n = (size_t)sprintf(t, "{\"traceEvents\": [{\"ph\": \"X\", \"name\": \"");
    memset(t + n, 'k', len - 1);
    n += len - 1;
    n += (size_t)sprintf(t + n, "z\", \"args\": {\"Call stack\": \"");
    memset(t + n, 'a', len - 2);
    n += len - 2;
    n += (size_t)sprintf(t + n, "\\\\\\\"\"}}, {\"ph\": \"i\", \"name\": \"after\"}]}");
    const char *p = write_bytes("long.json", t, n);
    free(t);
    return p;
}

Test(reader, long_string_tokens)
{
    const size_t len = 24u << 20;
    const char *p = long_token_trace(len);
    const char *gz = recompress(p, "long.json.gz", true);
    struct tr_reader *r = tr_reader_new(NULL);
    struct longs a = {0}, b = {0};
    cr_assert_eq(tr_read(r, p, &(struct tr_callbacks){.event = long_event}, &a), 0, "%s",
                 tr_error(r));
    cr_assert_eq(tr_read(r, gz, &(struct tr_callbacks){.event = long_event}, &b), 0, "%s",
                 tr_error(r));
    for (struct longs *l = &a; l; l = l == &a ? &b : NULL) {
        cr_expect_eq(l->events, 2);
        cr_expect_eq(l->name_len, len);
        cr_expect_eq(l->arg_len, len, "the escapes decoded: %zu", l->arg_len);
        cr_expect(l->name_ok && l->arg_ok);
    }
    tr_reader_free(r);
}

/* yajl re-lexes a token split between two of its calls from its start: a
 * string of escaped quotes and spaces read 2 KiB at a time would cost
 * 4096 passes over a growing 8 MiB token if the reader cut it anywhere;
 * whole, it is one pass.  (Correct either way: this checks the time.) */
Test(reader, a_long_token_is_parsed_once, .timeout = 20)
{
    const size_t len = 8u << 20;
    char *t = malloc(len + 64);
    size_t n = (size_t)sprintf(t, "[{\"name\": \"");
    for (size_t i = 0; i < len / 3; i++, n += 3)
        memcpy(t + n, "\\\" ", 3);
    n += (size_t)sprintf(t + n, "\"}]");
    const char *p = write_bytes("quotes.json", t, n);
    free(t);
    struct tr_reader *r = tr_reader_new(&(struct tr_options){.read_size = 2048});
    struct longs l = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(tr_read(r, p, &(struct tr_callbacks){.event = long_event}, &l), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_expect_eq(l.name_len, len / 3 * 2);
    cr_expect_lt(s, 5.0, "%.2f s for one 8 MiB token", s);
    tr_reader_free(r);
}

struct many {
    const char **names;
    size_t n;
    bool second, same;
};

static int many_event(void *ctx, const struct tr_event *ev)
{
    struct many *m = ctx;
    if (m->second)
        m->same = m->same && m->names[ev->index] == ev->name;
    else
        m->names[m->n++] = ev->name;
    return 0;
}

Test(reader, many_distinct_names)
{
    enum { N = 100000 };
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fputs("{\"traceEvents\": [", f);
    for (int i = 0; i < N; i++)
        fprintf(f,
                "%s{\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"void k_%d<float>(int)\", "
                "\"ts\": %d.5, \"dur\": 1}",
                i ? ",\n" : "", i, i);
    fputs("]}", f);
    fclose(f);
    const char *p = write_bytes("many.json", text, len);
    free(text);
    struct tr_reader *r = tr_reader_new(NULL);
    struct many m = {.names = calloc(N, sizeof(char *)), .same = true};
    size_t before = tr_interned(r);
    cr_assert_eq(tr_read(r, p, &(struct tr_callbacks){.event = many_event}, &m), 0);
    cr_expect_eq(m.n, N);
    cr_expect_eq(tr_interned(r), before + N + 2, "N names, X and kernel");
    m.second = true;
    cr_assert_eq(tr_read(r, p, &(struct tr_callbacks){.event = many_event}, &m), 0);
    cr_expect(m.same, "the same pointers on a second read");
    cr_expect_str_eq(m.names[N - 1], "void k_99999<float>(int)");
    free(m.names);
    tr_reader_free(r);
}

/* Strings with escapes, of every length, so that reads end inside them at
 * every kind of place: each must come back whole. */
static int escaped_event(void *ctx, const struct tr_event *ev)
{
    char want[512];
    size_t k = ev->index % 300, n = 0;
    for (size_t i = 0; i < k; i++)
        want[n++] = "a\"\\/b"[i % 5];
    want[n] = '\0';
    const struct tr_value *v = tr_arg(ev, "s");
    bool ok =
        v && v->len == n && strcmp(v->s, want) == 0 && ev->name && strcmp(ev->name, want) == 0;
    if (!ok)
        (*(size_t *)ctx)++;
    return 0;
}

Test(reader, escapes_across_read_boundaries)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fputs("[", f);
    for (int e = 0; e < 30000; e++) {
        char s[2048] = "";
        size_t n = 0;
        for (int i = 0; i < e % 300; i++) {
            const char *piece[] = {"a", "\\\"", "\\\\", "\\/", "\\u0062"};
            n += (size_t)sprintf(s + n, "%s", piece[i % 5]);
        }
        fprintf(f, "%s{\"name\": \"%s\", \"args\": {\"s\": \"%s\"}}", e ? ",\n" : "", s, s);
    }
    fputs("]", f);
    fclose(f);
    cr_assert_gt(len, 4u << 20, "several reads");
    const char *p = write_bytes("esc.json", text, len);
    free(text);
    static const size_t sizes[] = {0, 4093, 65521};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct tr_reader *r = tr_reader_new(&(struct tr_options){.read_size = sizes[i]});
        size_t wrong = 0;
        cr_assert_eq(tr_read(r, p, &(struct tr_callbacks){.event = escaped_event}, &wrong), 0, "%s",
                     tr_error(r));
        cr_expect_eq(wrong, 0, "read size %zu", sizes[i]);
        tr_reader_free(r);
    }
}

/* Reads that end at every possible byte give the same callbacks as one
 * large read. */
Test(reader, any_read_size_gives_identical_callbacks)
{
    const char *plain = recompress(kineto_fixture(), "k.json", false);
    struct tr_reader *big = tr_reader_new(NULL);
    int rc;
    char *want = read_log(big, plain, &rc);
    cr_assert_eq(rc, 0);
    static const size_t sizes[] = {1, 2, 3, 5, 13, 64, 1021};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct tr_reader *r = tr_reader_new(&(struct tr_options){.read_size = sizes[i]});
        char *got = read_log(r, plain, &rc);
        cr_expect_eq(rc, 0, "%s", tr_error(r));
        cr_expect(strcmp(got, want) == 0, "read size %zu", sizes[i]);
        free(got);
        tr_reader_free(r);
    }
    free(want);
    tr_reader_free(big);
}

/* ---- values, fields, shapes ---------------------------------------------------- */

Test(reader, values_times_and_the_array_form)
{
    const char *p = write_text(
        "v.json",
        "[{\"ph\": \"X\", \"pid\": \"Spans\", \"tid\": 7, \"ts\": 1e3, \"dur\": 2.1765,"
        " \"s\": \"t\", \"id\": \"0x1f\", \"bp\": \"e\", \"args\": {\"n\": null, \"t\": true,"
        " \"i\": -12, \"big\": 18446744073709551615, \"r\": 0.25, \"o\": {\"a\": [1, "
        "{}], \"b\": \"\\u00e9\\n\"}}},\n {\"ts\": -1.5, \"dur\": 0.0004}]");
    struct tr_reader *r = tr_reader_new(NULL);
    int rc;
    char *log = read_log(r, p, &rc);
    cr_assert_eq(rc, 0, "%s", tr_error(r));
    cr_expect_str_eq(log,
                     "E0 X - - pid=1:0:Spans tid=1:7: id=1:0:0x1f bp=e ts=1:1000000 dur=1:2177 "
                     "n=0: t=1: i=2:-12 big=3:18446744073709551615 r=3:0.25 "
                     "o=6:{\"a\":[1,{}],\"b\":\"\xC3\xA9\\n\"} +s=4:t\n"
                     "E1 - - - pid=0:0: tid=0:0: id=0:0: bp=- ts=1:-1500 dur=1:0\n");
    free(log);
    tr_reader_free(r);
}

Test(reader, top_level_fields)
{
    const char *p = write_text(
        "f.json", "{\"schemaVersion\": 1, \"distributedInfo\": {\"backend\": \"nccl\", \"rank\": 3,"
                  " \"world_size\": 8, \"pg\": {\"deep\": 1}}, \"deviceProperties\": [{\"id\": 0,"
                  " \"name\": \"H200\"}, 5], \"traceEvents\": [], \"omniprof\": {\"stage\": 2}}");
    struct tr_reader *r = tr_reader_new(NULL);
    int rc;
    char *log = read_log(r, p, &rc);
    cr_assert_eq(rc, 0, "%s", tr_error(r));
    cr_expect_str_eq(log, "F [-1].schemaVersion=2:1\n"
                          "F [-1].distributedInfo=6:\n"
                          "F distributedInfo[-1].backend=4:nccl\n"
                          "F distributedInfo[-1].rank=2:3\n"
                          "F distributedInfo[-1].world_size=2:8\n"
                          "F distributedInfo[-1].pg=6:\n"
                          "F [-1].deviceProperties=5:\n"
                          "F deviceProperties[0].=6:\n"
                          "F deviceProperties[0].id=2:0\n"
                          "F deviceProperties[0].name=4:H200\n"
                          "F deviceProperties[1].=2:5\n"
                          "F [-1].omniprof=6:\n"
                          "F omniprof[-1].stage=2:2\n");
    free(log);
    tr_reader_free(r);
}

static int log_member(void *ctx, const struct tr_field *fl)
{
    fprintf(ctx, "F %s/%s[%ld].%s=%d:%s\n", fl->object ? fl->object : "",
            fl->member ? fl->member : "", fl->index, fl->key ? fl->key : "", fl->v.type,
            fl->v.s ? fl->v.s : "");
    return 0;
}

/* member_fields: one level deeper in objects (stackFrames), nothing deeper;
 * arrays as before; without it, the same file reports as it always did. */
Test(reader, member_fields)
{
    const char *p = write_text(
        "m.json", "{\"stackFrames\": {\"1\": {\"name\": \"main\", \"category\": \"a.out\"},"
                  " \"2\": {\"name\": \"f\", \"parent\": \"1\", \"deep\": {\"x\": 1}}},"
                  " \"traceEvents\": [{\"ph\": \"X\", \"sf\": \"2\"}],"
                  " \"deviceProperties\": [{\"id\": 0}], \"omniprof\": {\"stage\": 1}}");
    struct tr_reader *r = tr_reader_new(&(struct tr_options){.member_fields = true});
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_eq(tr_read(r, p, &(struct tr_callbacks){.field = log_member}, f), 0, "%s",
                 tr_error(r));
    fclose(f);
    cr_expect_str_eq(text, "F /[-1].stackFrames=6:\n"
                           "F stackFrames/[-1].1=6:\n"
                           "F stackFrames/1[-1].name=4:main\n"
                           "F stackFrames/1[-1].category=4:a.out\n"
                           "F stackFrames/[-1].2=6:\n"
                           "F stackFrames/2[-1].name=4:f\n"
                           "F stackFrames/2[-1].parent=4:1\n"
                           "F stackFrames/2[-1].deep=6:\n"
                           "F /[-1].deviceProperties=5:\n"
                           "F deviceProperties/[0].=6:\n"
                           "F deviceProperties/[0].id=2:0\n"
                           "F /[-1].omniprof=6:\n"
                           "F omniprof/[-1].stage=2:1\n");
    free(text);
    tr_reader_free(r);

    r = tr_reader_new(NULL);
    int rc;
    text = read_log(r, p, &rc);
    cr_assert_eq(rc, 0, "%s", tr_error(r));
    cr_expect_str_eq(text, "F [-1].stackFrames=6:\n"
                           "F stackFrames[-1].1=6:\n"
                           "F stackFrames[-1].2=6:\n"
                           "E0 X - - pid=0:0: tid=0:0: id=0:0: bp=- ts=0:0 dur=0:0 +sf=4:2\n"
                           "F [-1].deviceProperties=5:\n"
                           "F deviceProperties[0].=6:\n"
                           "F deviceProperties[0].id=2:0\n"
                           "F [-1].omniprof=6:\n"
                           "F omniprof[-1].stage=2:1\n");
    free(text);
    tr_reader_free(r);
}

/* ---- bad input: an errno, a message, no crash, no leak --------------------- */

static void expect_failure(const struct tr_options *lim, const char *path, int want,
                           const char *message)
{
    struct tr_reader *r = tr_reader_new(lim);
    int rc;
    char *log = read_log(r, path, &rc);
    free(log);
    cr_expect_eq(rc, want, "%s: %d (%s), want %d", path, rc, tr_error(r), want);
    cr_expect(strstr(tr_error(r), message) != NULL, "'%s' says '%s'", tr_error(r), message);
    cr_expect(strchr(tr_error(r), '\n') == NULL, "one line");
    tr_reader_free(r);
}

Test(reader, times_at_the_edge_of_int64)
{
    const char *p = write_text("edge.json", "[{\"ts\": 9000000000000000.5, \"dur\": 0.0005},"
                                            " {\"ts\": -9000000000000000.0004}]");
    struct tr_reader *r = tr_reader_new(NULL);
    int rc;
    char *log = read_log(r, p, &rc);
    cr_assert_eq(rc, 0, "%s", tr_error(r));
    cr_expect(strstr(log, "ts=1:9000000000000000500 dur=1:1\n") != NULL, "%s", log);
    cr_expect(strstr(log, "ts=1:-9000000000000000000 ") != NULL, "%s", log);
    free(log);
    tr_reader_free(r);
    p = write_text("over.json", "[{\"ts\": 9223372036854775.807}]");
    expect_failure(NULL, p, -EPROTO, "\"ts\" is out of range");
}

Test(reader, missing_and_unreadable_files)
{
    expect_failure(NULL, path_of("nope.json"), -ENOENT, "cannot open");
    expect_failure(NULL, dir, -EIO, "read error");
    expect_failure(NULL, write_text("empty.json", ""), -ENOMSG, "empty file");
}

Test(reader, truncated_and_corrupt_gzip)
{
    const char *gz = recompress(kineto_fixture(), "k.json.gz", true);
    FILE *f = fopen(gz, "rb");
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    expect_failure(NULL, write_bytes("half.json.gz", buf, n / 2), -EIO, "truncated gzip");
    expect_failure(NULL, write_bytes("notail.json.gz", buf, n - 4), -EIO, "truncated gzip");
    for (size_t i = 100; i < 400; i++)
        buf[i] ^= 0x5a;
    expect_failure(NULL, write_bytes("bad.json.gz", buf, n), -EIO, "gzip");
}

Test(reader, not_a_trace)
{
    expect_failure(NULL, write_text("a.json", "{\"a\": [1, 2]}"), -ENOMSG,
                   "not a readable trace: no traceEvents array");
    expect_failure(NULL, write_text("b.json", "{\"traceEvents\": 5}"), -ENOMSG,
                   "traceEvents is not an array");
    expect_failure(NULL, write_text("c.json", "{\"traceEvents\": {}}"), -ENOMSG,
                   "traceEvents is not an array");
    expect_failure(NULL, write_text("d.json", "\"text\""), -ENOMSG, "no traceEvents");
    expect_failure(NULL, write_text("e.json", "{\"traceEvents\": [{}"), -EBADMSG,
                   "invalid JSON at byte 19");
    expect_failure(NULL, write_text("f.json", "{\"traceEvents\": []} x"), -EBADMSG,
                   "invalid JSON at byte");
}

Test(reader, random_bytes)
{
    unsigned char buf[200000];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    buf[0] = 'Z';
    expect_failure(NULL, write_bytes("random.bin", buf, sizeof buf), -EBADMSG,
                   "invalid JSON at byte 1: lexical error");
    buf[0] = '[';
    buf[1] = '"';
    expect_failure(NULL, write_bytes("random2.bin", buf, sizeof buf), -EBADMSG, "invalid JSON");
}

static const char *nested(const char *name, const char *prefix, size_t levels)
{
    size_t n = strlen(prefix);
    char *t = malloc(n + levels + 1);
    memcpy(t, prefix, n);
    memset(t + n, '[', levels);
    const char *p = write_bytes(name, t, n + levels);
    free(t);
    return p;
}

Test(reader, deep_nesting_is_bounded)
{
    expect_failure(NULL, nested("d1.json", "{\"meta\": ", 1000000), -E2BIG,
                   "nested deeper than 64");
    expect_failure(NULL, nested("d2.json", "{\"traceEvents\": [{\"args\": {\"a\": ", 100000),
                   -E2BIG, "nested deeper than 64");
    expect_failure(NULL, nested("d3.json", "[{\"id2\": ", 100), -E2BIG, "nested deeper");
    struct tr_options lim = {.max_depth = 4};
    expect_failure(&lim, write_text("d4.json", "{\"traceEvents\": [{\"args\": {\"a\": [1]}}]}"),
                   -E2BIG, "nested deeper than 4");
}

Test(reader, wrong_types)
{
    expect_failure(NULL, write_text("t1.json", "{\"traceEvents\": [{\"ph\": \"X\"}, 1]}"), -EPROTO,
                   "traceEvents[1] is not an object");
    expect_failure(NULL, write_text("t2.json", "{\"traceEvents\": [{\"ts\": \"12\"}]}"), -EPROTO,
                   "event 0: \"ts\" is not a number");
    expect_failure(NULL, write_text("t3.json", "{\"traceEvents\": [{}, {\"name\": 5}]}"), -EPROTO,
                   "event 1: \"name\" is not a string");
    expect_failure(NULL, write_text("t4.json", "{\"traceEvents\": [{\"args\": [1]}]}"), -EPROTO,
                   "\"args\" is not an object");
    expect_failure(NULL, write_text("t5.json", "{\"traceEvents\": [{\"pid\": true}]}"), -EPROTO,
                   "\"pid\" is not a number or a string");
    expect_failure(NULL, write_text("t6.json", "{\"traceEvents\": [{\"cat\": {}}]}"), -EPROTO,
                   "\"cat\" is not a string");
    expect_failure(NULL, write_text("t7.json", "{\"traceEvents\": [{\"ts\": 1e300}]}"), -EPROTO,
                   "\"ts\" is out of range");
    expect_failure(NULL, write_text("t8.json", "[[]]"), -EPROTO, "is not an object");
}

Test(reader, limits_on_tokens_and_events)
{
    struct tr_options lim = {.max_token = 1 << 20};
    const char *p = long_token_trace(4u << 20);
    expect_failure(&lim, p, -E2BIG, "a token longer than 1048576 bytes");
    char *t = malloc(3u << 20);
    size_t n = (size_t)sprintf(t, "[{\"args\": {");
    for (int i = 0; n < (3u << 20) - 64; i++)
        n += (size_t)sprintf(t + n, "%s\"k%d\": \"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\"",
                             i ? ", " : "", i % 1000);
    n += (size_t)sprintf(t + n, "}}]");
    expect_failure(&lim, write_bytes("wide.json", t, n), -E2BIG,
                   "is not a readable trace: an event");
    free(t);
}

static int stop_at_3(void *ctx, const struct tr_event *ev)
{
    (void)ctx;
    return ev->index == 3 ? -ECANCELED : 0;
}

Test(reader, a_callback_stops_the_read)
{
    struct tr_reader *r = tr_reader_new(NULL);
    cr_expect_eq(tr_read(r, kineto_fixture(), &(struct tr_callbacks){.event = stop_at_3}, NULL),
                 -ECANCELED);
    cr_expect(strstr(tr_error(r), ": reading stopped: ") != NULL, "%s", tr_error(r));
    cr_expect_eq(tr_read(r, kineto_fixture(), NULL, NULL), 0, "the reader can be used again");
    cr_expect_str_eq(tr_error(r), "");
    tr_reader_free(r);
}

/* tr_options.args_text: the args object as it stands in the file, and the
 * same args as a plain read on request; a second "args" is read as without
 * the option. */
Test(reader, args_as_text)
{
    const char *plain = recompress(kineto_fixture(), "k.json", false);
    struct tr_reader *r = tr_reader_new(NULL);
    int rc;
    char *want = read_log(r, plain, &rc), *texts;
    cr_assert_eq(rc, 0);
    char *got = read_log_text(plain, &texts);
    cr_expect_str_eq(got, want);
    cr_expect(strstr(texts, "0 {\n") == texts && strstr(texts, "\"External id\": 1,") != NULL,
              "%.200s", texts);
    free(want);
    free(got);
    free(texts);

    const char *p = write_text(
        "dup.json", "[{\"args\": {\"a\": \"x\\\"y\"}, \"args\": {\"b\": 2}},\n"
                    " {\"ph\": \"X\", \"args\": { \"k\" : [1, 2] , \"s\": \"\\u00e9\"}}]");
    want = read_log(r, p, &rc);
    cr_assert_eq(rc, 0);
    got = read_log_text(p, &texts);
    cr_expect_str_eq(got, want);
    cr_expect_str_eq(texts, "1 { \"k\" : [1, 2] , \"s\": \"\\u00e9\"}\n");
    cr_expect(strstr(want, "E0 - - - ") && strstr(want, " a=4:x\"y b=2:2"), "%s", want);
    free(want);
    free(got);
    free(texts);
    tr_reader_free(r);
}

static int count_events(void *ctx, const struct tr_event *ev)
{
    (void)ev;
    (*(size_t *)ctx)++;
    return 0;
}

/* Whitespace between tokens is passed over however long it is: only a
 * token or an event is bounded by max_token. */
Test(reader, long_whitespace_between_units)
{
    size_t gap = 3u << 20, n = 0;
    char *t = malloc(4 * gap + 256);
    cr_assert_not_null(t);
    const char *parts[] = {"{\"a\": 1,", "\"traceEvents\":", "[", "{\"ph\": \"X\"}", "]}"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        n += (size_t)sprintf(t + n, "%s", parts[i]);
        if (i < 4) {
            memset(t + n, i % 2 ? '\n' : ' ', gap);
            n += gap;
        }
    }
    const char *p = write_bytes("gaps.json", t, n);
    free(t);
    struct tr_reader *r = tr_reader_new(&(struct tr_options){.max_token = 1 << 20});
    size_t events = 0;
    cr_expect_eq(tr_read(r, p, &(struct tr_callbacks){.event = count_events}, &events), 0, "%s",
                 tr_error(r));
    cr_expect_eq(events, 1u);
    tr_reader_free(r);
}

static int first_name(void *ctx, const struct tr_event *ev)
{
    snprintf(ctx, 64, "%s", ev->name ? ev->name : "");
    return -ECANCELED;
}

/* \u escapes: a surrogate pair is one code point, a half of one alone (or
 * before another escape) is U+FFFD: the text stays UTF-8. */
Test(reader, surrogate_escapes)
{
    static const struct {
        const char *json, *name;
    } cases[] = {
        {"[{\"name\": \"a\\ud83d\\ude00b\"}]", "a\xf0\x9f\x98\x80"
                                               "b"},
        {"[{\"name\": \"a\\udc00b\"}]", "a\xef\xbf\xbd"
                                        "b"},
        {"[{\"name\": \"a\\ud83db\"}]", "a\xef\xbf\xbd"
                                        "b"},
        {"[{\"name\": \"a\\ud83d\\u0041\"}]", "a\xef\xbf\xbd"
                                              "A"},
        {"[{\"name\": \"\\u00e9\\u20ac\"}]", "\xc3\xa9\xe2\x82\xac"},
    };
    struct tr_reader *r = tr_reader_new(NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[64] = "";
        tr_read(r, write_text("sur.json", cases[i].json),
                &(struct tr_callbacks){.event = first_name}, got);
        cr_expect_str_eq(got, cases[i].name, "case %zu", i);
    }
    tr_reader_free(r);
}
