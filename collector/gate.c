/*
 * The gating state machine, with the counters and comparisons of vLLM's
 * WorkerProfiler so that delay_iterations/max_iterations mean the same:
 *
 *   start(): arms; with delay_iterations == 0 recording begins at once.
 *   step():  counts; recording begins at the step where the count reaches
 *            delay_iterations; while recording, steps are counted and when
 *            more than max_iterations (0 = unlimited) have been recorded the
 *            session ends by itself (the gate stays active, "done").
 *   stop():  deactivates and resets the counters; ends a running session.
 *
 * One deliberate addition: start() on a gate that is active but not running
 * (armed, or done after max_iterations) re-arms it with fresh counters, so a
 * second start (e.g. a second SIGUSR1) begins a new session.
 *
 * Pure: no locks, no clock; session.c serialises the calls.
 */
#include "internal.h"

void coll_gate_init(struct coll_gate *g, long delay_iterations, long max_iterations)
{
    *g = (struct coll_gate){
        .delay_iterations = delay_iterations,
        .max_iterations = max_iterations,
    };
}

enum coll_gate_state coll_gate_state(const struct coll_gate *g)
{
    if (!g->active)
        return COLL_GATE_IDLE;
    if (g->running)
        return COLL_GATE_RECORDING;
    return g->done ? COLL_GATE_DONE : COLL_GATE_ARMED;
}

enum coll_gate_action coll_gate_start(struct coll_gate *g)
{
    if (g->running)
        return COLL_GATE_NONE;
    g->active = true;
    g->done = false;
    g->active_iterations = 0;
    g->profiling_iterations = 0;
    if (g->delay_iterations == 0) {
        g->running = true;
        return COLL_GATE_BEGIN;
    }
    return COLL_GATE_NONE;
}

enum coll_gate_action coll_gate_step(struct coll_gate *g)
{
    enum coll_gate_action action = COLL_GATE_NONE;
    if (!g->active)
        return action;
    g->active_iterations++;
    if (!g->running && !g->done && g->delay_iterations > 0 &&
        g->active_iterations == g->delay_iterations) {
        g->running = true;
        action = COLL_GATE_BEGIN;
    }
    if (g->running)
        g->profiling_iterations++;
    if (g->max_iterations > 0 && g->running && g->profiling_iterations > g->max_iterations) {
        g->running = false;
        g->done = true;
        return COLL_GATE_END;
    }
    return action;
}

enum coll_gate_action coll_gate_stop(struct coll_gate *g)
{
    if (!g->active)
        return COLL_GATE_NONE;
    bool was_running = g->running;
    g->active = false;
    g->running = false;
    g->done = false;
    g->active_iterations = 0;
    g->profiling_iterations = 0;
    return was_running ? COLL_GATE_END : COLL_GATE_NONE;
}
