/*
 * omniprof diff's rows (control/cli/diff_rows.c): kernel names demangled
 * and with templates grouped (operators and "->" are not brackets; names
 * that do not balance stay whole), Python frames found in both forms of a
 * call stack, the innermost enclosing range of an instant, the table, and
 * two sides compared into rows (what diff prints and the report shows).
 */
#include <criterion/criterion.h>
#include <sanitizer/lsan_interface.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"

static void teardown(void)
{
    cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "no leak");
}

TestSuite(diff_rows, .fini = teardown);

static void expect_name(const char *raw, bool group, const char *want)
{
    char *got = diff_kernel_name(raw, group);
    cr_assert_not_null(got);
    cr_expect_str_eq(got, want, "%s", raw);
    free(got);
}

Test(diff_rows, kernel_names)
{
    expect_name("_Z6kernelPfi", false, "kernel(float*, int)");
    expect_name("not_mangled", true, "not_mangled");
    expect_name("void k<float, 128>(P)", false, "void k<float, 128>(P)");
    expect_name("void k<float, 128>(P)", true, "void k<...>(P)");
    expect_name("void a<b<c>, d<e<f>>>::g<h>(x<y>)", true, "void a<...>::g<...>(x<...>)");
    expect_name("bool operator<<(S&, T<int>)", true, "bool operator<<(S&, T<...>)");
    expect_name("bool operator<(A<int>, B)", true, "bool operator<(A<...>, B)");
    expect_name("X<int>::operator->()", true, "X<...>::operator->()");
    expect_name("Memcpy DtoH (Device -> Pageable)", true, "Memcpy DtoH (Device -> Pageable)");
    expect_name("void k<float(P)", true, "void k<float(P)");
    expect_name("void k>float<(P)", true, "void k>float<(P)");
    expect_name("_ZN2at6native29vectorized_elementwise_kernelILi4ENS0_11FillFunctorIfEENS_"
                "6detail5ArrayIPcLi1EEEEEviT0_T1_",
                true,
                "void at::native::vectorized_elementwise_kernel<...>(int, "
                "at::native::FillFunctor<...>, at::detail::Array<...>)");
}

Test(diff_rows, python_frames)
{
    cr_expect(diff_python_frame("model.py(12): forward"));
    /* the library's frames are not call sites (summary --by python's rule) */
    cr_expect_not(
        diff_python_frame("/usr/lib/python3/torch/nn/modules/module.py(1750): _call_impl"));
    cr_expect_not(diff_python_frame("/venv/lib/python3.11/site-packages/vllm/x.py(3): f"));
    cr_expect(diff_python_frame("/srv/app/model.py(12): forward"));
    cr_expect_not(diff_python_frame("<built-in method mm of type object at 0x1>"));
    cr_expect_not(diff_python_frame("main (a.out+0x10)"));
    cr_expect_not(diff_python_frame("x.py(): f"));
    cr_expect_not(diff_python_frame("x.py(12)"));

    char buf[64];
    struct tr_value array = {.type = TR_ARRAY,
                             .s = "[\"libtorch.so+0x10\",\"a\\\"b.py(1): x\",\"model.py(12): "
                                  "forward\",\"train.py(40): main\"]"};
    cr_expect(diff_call_stack_python(&array, buf, sizeof buf));
    cr_expect_str_eq(buf, "a\"b.py(1): x", "innermost first, unescaped");
    struct tr_value text = {.type = TR_STRING,
                            .s = "f (lib.so+0x1);model.py(12): forward;t.py(4): m"};
    cr_expect(diff_call_stack_python(&text, buf, sizeof buf));
    cr_expect_str_eq(buf, "model.py(12): forward");
    struct tr_value none = {.type = TR_ARRAY, .s = "[\"main (a.out+0x10)\"]"};
    cr_expect_not(diff_call_stack_python(&none, buf, sizeof buf));
    cr_expect_not(diff_call_stack_python(NULL, buf, sizeof buf));
}

static struct diff_track track(int64_t pid, int64_t tid)
{
    return (struct diff_track){pid, tid, 0};
}

Test(diff_rows, innermost_enclosing_range)
{
    struct diff_span spans[] = {
        {track(1, 1), 0, 100, "outer"},   {track(1, 1), 10, 20, "inner"},
        {track(1, 1), 30, 60, "second"},  {track(1, 1), 40, 50, "deep"},
        {track(1, 2), 0, 1000, "other"},  {track(2, 1), 0, 1000, "gpu"},
        {track(1, 1), 200, 300, "later"},
    };
    struct diff_query q[] = {
        {track(1, 1), 15, 0, NULL}, {track(1, 1), 25, 1, NULL},  {track(1, 1), 45, 2, NULL},
        {track(1, 1), 55, 3, NULL}, {track(1, 1), 150, 4, NULL}, {track(1, 1), 300, 5, NULL},
        {track(1, 2), 5, 6, NULL},  {track(3, 3), 5, 7, NULL},   {track(1, 1), 20, 8, NULL},
    };
    const char *want[] = {"inner", "outer", "deep", "second", NULL,
                          "later", "other", NULL,   "inner"};
    size_t n_q = sizeof q / sizeof q[0];
    cr_assert_eq(diff_enclose(spans, sizeof spans / sizeof spans[0], q, n_q), 0);
    for (size_t i = 0; i < n_q; i++) {
        const char *w = want[q[i].ref];
        if (w)
            cr_expect(q[i].found && strcmp(q[i].found, w) == 0, "query %zu: %s, want %s", q[i].ref,
                      q[i].found ? q[i].found : "(none)", w);
        else
            cr_expect_null(q[i].found, "query %zu: %s", q[i].ref, q[i].found);
    }
}

Test(diff_rows, table)
{
    struct diff_table t = {0};
    static const char names[3][8] = {"a", "b", "c"};
    for (int round = 0; round < 3; round++)
        for (int64_t g = -1; g < 2000; g++)
            for (int k = 0; k < 3; k++) {
                struct diff_cell *c = diff_cell(&t, names[k], g);
                cr_assert_not_null(c);
                c->calls++;
                c->ns += (uint64_t)g + 1;
            }
    cr_expect_eq(t.n, 3 * 2001);
    for (int64_t g = -1; g < 2000; g++) {
        struct diff_cell *c = diff_cell(&t, names[1], g);
        cr_expect_eq(c->calls, 3);
        cr_expect_eq(c->ns, 3 * ((uint64_t)g + 1));
    }
    diff_table_free(&t);
}

static void put(struct diff_table *t, const char *name, int64_t stage, uint64_t calls, uint64_t ns)
{
    struct diff_cell *c = diff_cell(t, name, stage);
    cr_assert_not_null(c);
    c->calls += calls;
    c->ns += ns;
}

Test(diff_rows, sides_compared)
{
    struct diff_side sides[2] = {{.gpu_records = 1}, {.gpu_records = 1}};
    put(&sides[0].gpu, "gemm", 0, 2, 100);
    put(&sides[0].gpu, "gemm", 1, 1, 50); /* the same name in another stage: one row */
    put(&sides[1].gpu, "gemm", 0, 3, 60);
    put(&sides[0].gpu, "b", 1, 1, 40); /* -40, as a, whose total is the same: by name */
    put(&sides[1].gpu, "a", 1, 1, 40);
    put(&sides[0].gpu, "same", 0, 1, 5);
    put(&sides[1].gpu, "same", 0, 1, 5);
    put(&sides[0].host, "host only", 0, 9, 9000);
    cr_expect(diff_on_gpu(sides));
    struct diff_rows r;
    cr_assert_eq(diff_compare(sides, true, DIFF_ALL_STAGES, &r), 0);
    static const char *const order[] = {"gemm", "a", "b", "same"};
    static const uint64_t want[4][4] = {
        {3, 3, 150, 60}, {0, 1, 0, 40}, {1, 0, 40, 0}, {1, 1, 5, 5}};
    static const enum diff_change change[] = {DIFF_BOTH, DIFF_NEW, DIFF_GONE, DIFF_BOTH};
    cr_assert_eq(r.n, 4);
    for (size_t i = 0; i < r.n; i++) {
        cr_expect_str_eq(r.v[i].name, order[i]);
        cr_expect_eq(r.v[i].calls[0], want[i][0], "%s", order[i]);
        cr_expect_eq(r.v[i].calls[1], want[i][1], "%s", order[i]);
        cr_expect_eq(r.v[i].ns[0], want[i][2], "%s", order[i]);
        cr_expect_eq(r.v[i].ns[1], want[i][3], "%s", order[i]);
        cr_expect_eq(diff_change_of(&r.v[i]), change[i], "%s", order[i]);
    }
    cr_expect_str_eq(r.total.name, "Total");
    cr_expect_eq(r.total.calls[0], 5);
    cr_expect_eq(r.total.calls[1], 5);
    cr_expect_eq(r.total.ns[0], 195);
    cr_expect_eq(r.total.ns[1], 105);
    cr_expect_eq(r.added, 1);
    cr_expect_eq(r.gone, 1);
    diff_rows_free(&r);
    /* one stage's rows */
    cr_assert_eq(diff_compare(sides, true, 1, &r), 0);
    cr_assert_eq(r.n, 3);
    cr_expect_str_eq(r.v[0].name, "gemm"); /* -50 */
    cr_expect_eq(diff_change_of(&r.v[0]), DIFF_GONE);
    diff_rows_free(&r);
    /* the host cells, when a side has no GPU records */
    sides[1].gpu_records = 0;
    cr_expect(!diff_on_gpu(sides));
    cr_assert_eq(diff_compare(sides, false, DIFF_ALL_STAGES, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(r.v[0].name, "host only");
    cr_expect_eq(r.gone, 1);
    diff_rows_free(&r);
    for (int s = 0; s < 2; s++)
        diff_side_free(&sides[s]);
}
