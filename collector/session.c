/*
 * Sessions: the process-wide gate, the recording flag, and the collection of
 * a stopped session into a struct coll_session for the writer.
 *
 * The gate is guarded by gate_lock (held for a few instructions, never on
 * the launch path).  coll_step() runs on application threads: a BEGIN sets
 * the recording flag at once, so the first recorded iteration is exact; an
 * END clears it at once and asks the control side (coll_state_notify) to
 * collect and write, so no file I/O happens on the application thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct coll_gate gate;
static coll_kernel_describer kernel_describer;
static coll_state_notify state_notify;
static coll_transition_hook transition_hook;
static bool own_trace = true; /* false for profiler=cuda: gate only */

/* Guarded by gate_lock. */
static bool pending;        /* a session ended and waits for coll_collect() */
static uint64_t begin_ns;   /* when the current/pending session began */
static uint64_t end_ns;     /* when the pending session ended */
static uint64_t steps_seen; /* steps counted while recording */

void coll_set_kernel_describer(coll_kernel_describer describe)
{
    kernel_describer = describe;
}

void coll_set_state_notify(coll_state_notify notify)
{
    state_notify = notify;
}

void coll_set_transition_hook(coll_transition_hook hook)
{
    transition_hook = hook;
}

/* Written only by coll_set_options, before recording can start. */
struct coll_options coll_opt;

void coll_set_options(const struct coll_options *o)
{
    coll_opt = *o;
}

void coll_configure(long delay_iterations, long max_iterations, bool record)
{
    pthread_mutex_lock(&gate_lock);
    own_trace = record;
    coll_gate_init(&gate, delay_iterations, max_iterations);
    coll_nvtx_follow(false);
    pthread_mutex_unlock(&gate_lock);
}

enum coll_gate_state coll_state(void)
{
    pthread_mutex_lock(&gate_lock);
    enum coll_gate_state st = coll_gate_state(&gate);
    pthread_mutex_unlock(&gate_lock);
    return st;
}

/* Applies a gate action to the recording flag; gate_lock held. */
static void set_recording(enum coll_gate_action action)
{
    if (action == COLL_GATE_NONE)
        return;
    if (transition_hook)
        transition_hook(action == COLL_GATE_BEGIN);
    if (!own_trace)
        return;
    if (action == COLL_GATE_BEGIN) {
        begin_ns = coll_now_ns();
        steps_seen = 0;
        if (coll_cupti_begin() < 0) /* warned; CUPTI is given up */
            coll_log(COLL_LOG_DEBUG, "session", "this session records through the hooks");
        atomic_store(&coll_recording_flag, 1);
    } else {
        coll_nvtx_session_end();
        atomic_store(&coll_recording_flag, 0);
        coll_cupti_end();
        end_ns = coll_now_ns();
        pending = true;
    }
}

/* After each gate operation: the recording flag, and NVTX ranges followed
 * while the gate is active (armed, recording or done). */
static void apply(enum coll_gate_action action)
{
    set_recording(action);
    coll_nvtx_follow(gate.active && own_trace);
}

enum coll_gate_action coll_start(void)
{
    pthread_mutex_lock(&gate_lock);
    enum coll_gate_action action = COLL_GATE_NONE;
    /* A session that ended but was not collected yet must be written
     * first: the caller collects before starting (control/). */
    if (!pending)
        action = coll_gate_start(&gate);
    apply(action);
    pthread_mutex_unlock(&gate_lock);
    return action;
}

enum coll_gate_action coll_stop(void)
{
    pthread_mutex_lock(&gate_lock);
    enum coll_gate_action action = coll_gate_stop(&gate);
    apply(action);
    pthread_mutex_unlock(&gate_lock);
    return action;
}

/* Records the step as an instant event while recording; tid 0: the
 * calling thread's. */
static void record_step(uint64_t number, int32_t tid)
{
    struct coll_event *ev = coll_record_begin();
    if (!ev)
        return;
    if (tid)
        ev->tid = tid;
    ev->start_ns = ev->end_ns = coll_now_ns();
    ev->kind = COLL_EV_STEP;
    ev->api = COLL_API_omni_step;
    ev->result = 0;
    ev->u.step.number = number;
    coll_record_commit(ev);
}

enum coll_gate_action coll_step(void)
{
    return coll_step_as(0);
}

enum coll_gate_action coll_step_as(int32_t tid)
{
    pthread_mutex_lock(&gate_lock);
    enum coll_gate_action action = pending ? COLL_GATE_NONE : coll_gate_step(&gate);
    apply(action);
    uint64_t number = gate.running ? ++steps_seen : 0;
    pthread_mutex_unlock(&gate_lock);
    if (number)
        record_step(number, tid);
    if (action != COLL_GATE_NONE && state_notify)
        state_notify(action);
    return action;
}

bool coll_pending(void)
{
    pthread_mutex_lock(&gate_lock);
    bool p = pending;
    pthread_mutex_unlock(&gate_lock);
    return p;
}

/* ---- collection ---------------------------------------------------------- */

struct gather {
    const struct coll_event **events;
    size_t n, cap;
    bool failed;
};

static void gather_one(const struct coll_event *ev, void *arg)
{
    struct gather *g = arg;
    if (g->failed)
        return;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4096;
        const struct coll_event **p = realloc(g->events, cap * sizeof *p);
        if (!p) {
            g->failed = true;
            return;
        }
        g->events = p;
        g->cap = cap;
    }
    g->events[g->n++] = ev;
}

static int by_start(const void *a, const void *b)
{
    const struct coll_event *x = *(const struct coll_event *const *)a;
    const struct coll_event *y = *(const struct coll_event *const *)b;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    return x->correlation < y->correlation ? -1 : x->correlation > y->correlation;
}

static int by_func(const void *a, const void *b)
{
    const struct coll_kernel_name *x = a, *y = b;
    return x->func < y->func ? -1 : x->func > y->func;
}

/* One name per distinct CUfunction, asked of the driver once. */
static int name_kernels(struct coll_session *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_events; i++)
        n += s->events[i]->kind == COLL_EV_LAUNCH;
    s->names = calloc(n ? n : 1, sizeof *s->names);
    if (!s->names)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_events; i++) {
        const struct coll_event *ev = s->events[i];
        if (ev->kind == COLL_EV_LAUNCH) {
            s->names[s->n_names].func = ev->u.launch.func;
            s->names[s->n_names++].domain = coll_api_domain(ev->api);
        }
    }
    qsort(s->names, s->n_names, sizeof *s->names, by_func);
    size_t unique = 0;
    for (size_t i = 0; i < s->n_names; i++)
        if (unique == 0 || s->names[unique - 1].func != s->names[i].func)
            s->names[unique++] = s->names[i];
    s->n_names = unique;
    for (size_t i = 0; i < unique; i++) {
        struct coll_kernel_info info = {NULL, -1, -1};
        if (kernel_describer)
            kernel_describer(s->names[i].domain, s->names[i].func, &info);
        char *demangled = coll_demangle(info.name);
        s->names[i].name = demangled ? demangled : info.name ? strdup(info.name) : NULL;
        s->names[i].mangled = demangled ? strdup(info.name) : NULL;
        s->names[i].registers = info.registers;
        s->names[i].static_shared = info.static_shared;
    }
    return 0;
}

struct coll_session *coll_collect(void)
{
    pthread_mutex_lock(&gate_lock);
    bool was_pending = pending;
    uint64_t b = begin_ns, e = end_ns;
    pthread_mutex_unlock(&gate_lock);
    if (!was_pending)
        return NULL;

    coll_buffers_quiesce();
    struct coll_session *s = calloc(1, sizeof *s);
    struct gather g = {0};
    if (s)
        coll_buffers_visit(gather_one, &g);
    if (!s || g.failed) {
        coll_log(COLL_LOG_ERROR, "collect", "out of memory collecting the session; it is dropped");
        free(g.events);
        free(s);
        s = NULL;
        coll_buffers_reset();
    } else {
        qsort(g.events, g.n, sizeof *g.events, by_start);
        s->events = g.events;
        s->n_events = g.n;
        s->begin_ns = b;
        s->end_ns = e;
        s->dropped = coll_buffers_take_dropped();
        s->dropped_no_slot = coll_buffers_take_no_slot(&s->no_slot_tid);
        s->unknown_frees = coll_memory_unknown_frees();
        coll_versions_collect(s);
        if (name_kernels(s) < 0 || coll_stacks_collect(s) < 0 || coll_cupti_collect(s) < 0) {
            coll_log(COLL_LOG_ERROR, "collect",
                     "out of memory describing the session; it is dropped");
            coll_session_free(s);
            s = NULL;
        }
    }
    pthread_mutex_lock(&gate_lock);
    if (s)
        s->steps = steps_seen;
    pending = false;
    pthread_mutex_unlock(&gate_lock);
    return s;
}

/* The buffers are reset only here, when the writer is done with them. */
void coll_session_free(struct coll_session *s)
{
    if (s) {
        for (size_t i = 0; i < s->n_names; i++) {
            free(s->names[i].name);
            free(s->names[i].mangled);
        }
        free(s->names);
        coll_stacks_free(s);
        coll_cupti_free(s);
        free(s->events);
        free(s);
    }
    coll_buffers_reset();
}

bool coll_session_empty(const struct coll_session *s)
{
    return s->n_events == 0 && s->n_gpu == 0 && s->dropped == 0 && s->gpu_dropped == 0 &&
           s->api_dropped == 0;
}

const struct coll_kernel_name *coll_session_kernel(const struct coll_session *s, uint64_t func)
{
    struct coll_kernel_name key = {.func = func};
    return bsearch(&key, s->names, s->n_names, sizeof key, by_func);
}

const char *coll_session_kernel_name(const struct coll_session *s, uint64_t func)
{
    const struct coll_kernel_name *k = coll_session_kernel(s, func);
    return k ? k->name : NULL;
}

void coll_session_atfork_child(void)
{
    pthread_mutex_init(&gate_lock, NULL);
    coll_gate_init(&gate, gate.delay_iterations, gate.max_iterations);
    pending = false;
    coll_nvtx_atfork_child();
    coll_buffers_atfork_child();
    coll_cupti_atfork_child();
    coll_symbols_atfork_child();
}
