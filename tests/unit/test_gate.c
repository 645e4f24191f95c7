/* Gating: the vLLM WorkerProfiler state machine as a table, and the same
 * rules end to end through the collector's record path. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdatomic.h>

#include "collector/internal.h"

/* A script is a string of operations: 'S' start, 's' step, 'L' launch
 * (counted when recording), 'P' stop.  Expect: launches recorded, number
 * of sessions ended (files written), and the final state. */
struct gate_case {
    long delay, max;
    char script[40]; /* inline: Criterion copies parameters into another process */
    int recorded;
    int ended;
    enum coll_gate_state final;
};

static const struct gate_case cases[] = {
    /* delay=0: recording from start() */
    {0, 0, "SLsLsLP", 3, 1, COLL_GATE_IDLE},
    /* the example: delay=2, max=3, loop of step();launch x10 */
    {2, 3, "SsLsLsLsLsLsLsLsLsLsL", 3, 1, COLL_GATE_DONE},
    /* delay=2, unlimited: from the 2nd step on */
    {2, 0, "SsLsLsLsLP", 3, 1, COLL_GATE_IDLE},
    /* max=1 without delay: the launch before the first step and after it */
    {0, 1, "SLsLsLsL", 2, 1, COLL_GATE_DONE},
    /* steps before start do nothing */
    {1, 0, "sLsLSLsLP", 1, 1, COLL_GATE_IDLE},
    /* stop while armed writes nothing */
    {5, 0, "SsLsLP", 0, 0, COLL_GATE_IDLE},
    /* a second start after max re-arms: two sessions */
    {0, 1, "SLsLsLSLsLsL", 4, 2, COLL_GATE_DONE},
    /* stop when idle is a no-op; start while recording is a no-op */
    {0, 0, "PSLSLP", 2, 1, COLL_GATE_IDLE},
};

ParameterizedTestParameters(gate, table)
{
    return cr_make_param_array(struct gate_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(const struct gate_case *tc, gate, table)
{
    struct coll_gate g;
    coll_gate_init(&g, tc->delay, tc->max);
    int recorded = 0, ended = 0;
    for (const char *op = tc->script; *op; op++) {
        enum coll_gate_action a = COLL_GATE_NONE;
        switch (*op) {
        case 'S': a = coll_gate_start(&g); break;
        case 's': a = coll_gate_step(&g); break;
        case 'P': a = coll_gate_stop(&g); break;
        case 'L': recorded += coll_gate_state(&g) == COLL_GATE_RECORDING; break;
        }
        ended += a == COLL_GATE_END;
    }
    cr_expect_eq(recorded, tc->recorded, "delay=%ld max=%ld %s: recorded", tc->delay, tc->max,
                 tc->script);
    cr_expect_eq(ended, tc->ended, "delay=%ld max=%ld %s: ended", tc->delay, tc->max, tc->script);
    cr_expect_eq(coll_gate_state(&g), tc->final, "delay=%ld max=%ld %s: final state", tc->delay,
                 tc->max, tc->script);
}

/* ---- through the collector ---------------------------------------------- */

static atomic_int flushes;

static void on_flush(enum coll_gate_action action)
{
    if (action == COLL_GATE_END)
        atomic_fetch_add(&flushes, 1);
}

static void launch(int i)
{
    if (!coll_recording())
        return;
    struct coll_event *ev = coll_record_begin();
    if (!ev)
        return;
    ev->start_ns = ev->end_ns = coll_now_ns();
    ev->kind = COLL_EV_LAUNCH;
    ev->api = COLL_API_cuLaunchKernel;
    ev->u.launch.func = 0x1000 + (uint64_t)(i % 2);
    coll_record_commit(ev);
}

static size_t count_launches(const struct coll_session *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_events; i++)
        n += s->events[i]->kind == COLL_EV_LAUNCH;
    return n;
}

Test(gate, delay2_max3_records_three_launches_and_flushes_at_auto_stop)
{
    cr_assert_eq(coll_buffers_init(1 << 20, 16), 0);
    coll_configure(2, 3, true);
    coll_set_state_notify(on_flush);
    coll_start();
    for (int i = 0; i < 10; i++) {
        enum coll_gate_action a = coll_step();
        if (i == 4)
            cr_expect_eq(a, COLL_GATE_END, "the 5th step ends the session");
        launch(i);
    }
    cr_expect_eq(atomic_load(&flushes), 1);
    cr_expect(coll_pending());
    struct coll_session *s = coll_collect();
    cr_assert_not_null(s);
    cr_expect_eq(count_launches(s), 3);
    cr_expect_eq(s->steps, 3);
    cr_expect_eq(s->dropped, 0);
    for (size_t i = 1; i < s->n_events; i++)
        cr_expect(s->events[i - 1]->start_ns <= s->events[i]->start_ns, "sorted by time");
    coll_session_free(s);
    cr_expect(!coll_pending());
    cr_expect_null(coll_collect(), "nothing left to collect");
}

Test(gate, full_buffers_drop_and_count)
{
    /* one 64 KiB chunk: a few hundred records fit, the rest are dropped */
    cr_assert_eq(coll_buffers_init(64 * 1024, 4), 0);
    coll_configure(0, 0, true);
    coll_start();
    for (int i = 0; i < 5000; i++)
        launch(i);
    coll_stop();
    struct coll_session *s = coll_collect();
    cr_assert_not_null(s);
    cr_expect_gt(count_launches(s), 100);
    cr_expect_eq(count_launches(s) + s->dropped, 5000);
    coll_session_free(s);
}

Test(gate, no_recording_before_init_or_after_stop)
{
    launch(0); /* before init: nothing, no crash */
    cr_assert_eq(coll_buffers_init(1 << 20, 4), 0);
    coll_configure(0, 0, true);
    coll_start();
    launch(1);
    coll_stop();
    launch(2);
    struct coll_session *s = coll_collect();
    cr_assert_not_null(s);
    cr_expect_eq(count_launches(s), 1);
    coll_session_free(s);
}
