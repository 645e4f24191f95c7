/*
 * NVTX ranges and marks, as preload/nvtx.c hands them over, turned into
 * COLL_EV_NVTX records.
 *
 * A range is recorded once, when it ends, with its beginning (time, thread,
 * message, domain, ...) in the record.  Until then it is held: a push/pop
 * range on its thread's stack, a start/end range (which may end on any
 * thread) in one table shared by all.  Ranges are held while they are
 * followed (coll_nvtx_follow: from when the gate is started, armed or
 * recording), so one open when recording begins ends with its name and is
 * clipped to the session by the writer, and one still open when recording
 * ends is recorded then (coll_nvtx_session_end).  A range begun while not
 * followed is unknown: its end is ignored.  Each time following turns on,
 * a new epoch begins and what was held before is forgotten.
 *
 * Memory: fixed static arrays, touched only when used.  A thread takes a
 * stack on its first followed push and gives it back when it exits.  A
 * stack is changed only by its owner, a table slot only by the thread that
 * claimed it, each under a sequence count (seqlock), so the session's end
 * reads them from another thread without a lock.  The record path rules
 * hold: no lock, no allocation, no syscall.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define MAX_STACKS 512 /* threads with NVTX ranges at once */
#define MAX_DEPTH 64   /* held per thread; deeper ranges are counted, not held */
#define MAX_OPEN 4096  /* start/end ranges open at once */
#define OPEN_PROBES 8
#define ID_BLOCK 1024     /* range ids a thread takes at a time */
#define NOT_FOLLOWED (-2) /* NVTX_NO_PUSH_POP_TRACKING */
#define BUSY UINT64_MAX   /* a table slot being filled */
#define READ_TRIES 1000

_Atomic uint32_t coll_nvtx_epoch;
static uint32_t epochs; /* epochs begun; under the gate lock */

/* A held range: when it began, and what the program said of it. */
struct held {
    uint64_t start_ns;
    struct coll_nvtx r;
};

struct stack {
    _Atomic int32_t owner; /* tid; 0: free */
    _Atomic uint32_t seq;  /* odd while the owner changes what follows */
    _Atomic uint32_t epoch;
    uint32_t depth;    /* ranges held */
    uint32_t overflow; /* pushed beyond MAX_DEPTH, not held */
    struct held e[MAX_DEPTH];
    /* the owner's own: its block of range ids */
    uint64_t next_id, end_id;
};

struct open_slot {
    _Atomic uint64_t id; /* 0: free; BUSY: being filled */
    _Atomic uint32_t epoch;
    struct held e;
};

static struct stack stacks[MAX_STACKS];
static struct open_slot open_ranges[MAX_OPEN];
static _Atomic uint64_t id_blocks;
static _Atomic uint64_t not_held; /* ranges not held: no stack or no slot */

static __thread struct stack *t_stack __attribute__((tls_model("initial-exec")));
static __thread int t_no_stack __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;
static bool key_ok;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* ---- sequence counts ------------------------------------------------------- */

static void write_begin(_Atomic uint32_t *seq)
{
    uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);
    atomic_store_explicit(seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static void write_end(_Atomic uint32_t *seq)
{
    uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);
    atomic_store_explicit(seq, s + 1, memory_order_release);
}

/* ---- stacks ------------------------------------------------------------------ */

/* Thread exit: the stack is emptied and freed for another thread. */
static void on_thread_exit(void *arg)
{
    struct stack *st = arg;
    write_begin(&st->seq);
    st->depth = st->overflow = 0;
    atomic_store_explicit(&st->epoch, 0, memory_order_relaxed);
    write_end(&st->seq);
    t_stack = NULL;
    t_no_stack = 1;
    atomic_store_explicit(&st->owner, 0, memory_order_release);
}

static void make_key(void)
{
    key_ok = pthread_key_create(&exit_key, on_thread_exit) == 0;
    if (!key_ok)
        coll_log(COLL_LOG_WARN, "nvtx",
                 "pthread_key_create failed; the NVTX range stacks of "
                 "exited threads are not reused (at most %d threads ever hold ranges)",
                 MAX_STACKS);
}

int coll_nvtx_init(void)
{
    pthread_once(&init_once, make_key);
    return key_ok ? 0 : -EAGAIN;
}

static struct stack *claim_stack(void)
{
    int32_t tid = coll_thread_id();
    for (size_t i = 0; i < MAX_STACKS; i++) {
        int32_t expected = 0;
        if (atomic_compare_exchange_strong(&stacks[i].owner, &expected, tid)) {
            struct stack *st = &stacks[i];
            if (key_ok) /* should it fail, the stack is not reused after the thread exits */
                pthread_setspecific(exit_key, st);
            return t_stack = st;
        }
    }
    t_no_stack = 1;
    atomic_fetch_add_explicit(&not_held, 1, memory_order_relaxed);
    return NULL;
}

/* The calling thread's stack, emptied when it is from an earlier epoch;
 * NULL when none is left. */
static struct stack *my_stack(uint32_t epoch)
{
    struct stack *st = t_stack;
    if (!st && (t_no_stack || !(st = claim_stack())))
        return NULL;
    if (atomic_load_explicit(&st->epoch, memory_order_relaxed) != epoch) {
        write_begin(&st->seq);
        st->depth = st->overflow = 0;
        atomic_store_explicit(&st->epoch, epoch, memory_order_relaxed);
        write_end(&st->seq);
    }
    return st;
}

/* A new range id, unique in the process (from the thread's block when it
 * has a stack). */
static uint64_t new_id(struct stack *st)
{
    if (st && st->next_id != st->end_id)
        return st->next_id++;
    uint64_t first = atomic_fetch_add_explicit(&id_blocks, 1, memory_order_relaxed) * ID_BLOCK + 1;
    if (st) {
        st->next_id = first + 1;
        st->end_id = first + ID_BLOCK;
    }
    return first;
}

/* ---- records ------------------------------------------------------------------- */

static void record(const struct held *h, uint64_t end_ns, uint8_t what, int32_t tid)
{
    struct coll_event *ev = coll_record_begin();
    if (!ev)
        return;
    ev->start_ns = h->start_ns;
    ev->end_ns = end_ns;
    ev->kind = COLL_EV_NVTX;
    ev->api = COLL_API_NONE;
    ev->result = 0;
    ev->stack = 0;
    ev->u.nvtx = h->r;
    ev->u.nvtx.what = what;
    ev->device = -1;
    ev->device_type = 0;
    ev->tracked = 0;
    if (tid) /* an open range is shown on its own thread, whoever records it */
        ev->tid = tid;
    coll_record_commit(ev);
}

static bool is_step(const struct coll_nvtx *r)
{
    return coll_opt.step_on_nvtx && r->message == coll_opt.step_on_nvtx &&
           (!coll_opt.step_on_nvtx_domain ||
            coll_nvtx_domain_name(r->domain) == coll_opt.step_on_nvtx_domain);
}

/* A followed range ended at end_ns: its record, and a step when it is
 * step_on's range (after the record, so the step's session has it). */
static void ended(const struct held *h, uint64_t end_ns)
{
    if (coll_recording())
        record(h, end_ns, COLL_NVTX_RANGE, 0);
    if (is_step(&h->r)) {
        int saved = errno;
        coll_step();
        errno = saved;
    }
}

static struct held begin(const struct coll_nvtx *r, uint64_t id, uint8_t flags)
{
    struct held h = {.start_ns = coll_now_ns(), .r = *r};
    h.r.id = id;
    h.r.begin_tid = coll_thread_id();
    h.r.what = COLL_NVTX_RANGE;
    h.r.flags = (uint8_t)((r->flags & ~COLL_NVTX_STARTEND) | flags);
    return h;
}

/* ---- push/pop -------------------------------------------------------------------- */

/* The level of a range at index k: how many of its domain lie below it. */
static int level(const struct stack *st, uint32_t k, uint16_t domain)
{
    int n = 0;
    for (uint32_t i = 0; i < k; i++)
        n += st->e[i].r.domain == domain;
    return n;
}

int coll_nvtx_push(const struct coll_nvtx *r)
{
    uint32_t epoch = coll_nvtx_following();
    struct stack *st = epoch ? my_stack(epoch) : NULL;
    if (!st)
        return NOT_FOLLOWED;
    uint32_t depth = st->depth; /* read once: a signal handler's range cannot push it out */
    if (depth >= MAX_DEPTH || st->overflow) {
        st->overflow++; /* the snapshot reads only depth's entries */
        return (int)(depth + st->overflow - 1);
    }
    struct held h = begin(r, new_id(st), 0);
    write_begin(&st->seq);
    st->e[depth] = h;
    st->depth = depth + 1;
    write_end(&st->seq);
    return level(st, depth, r->domain);
}

int coll_nvtx_pop(uint16_t domain)
{
    uint32_t epoch = coll_nvtx_following();
    struct stack *st = epoch ? my_stack(epoch) : NULL;
    if (!st)
        return NOT_FOLLOWED;
    if (st->overflow) {
        st->overflow--;
        return (int)(st->depth + st->overflow);
    }
    uint32_t depth = st->depth, k = depth;
    while (k > 0 && st->e[k - 1].r.domain != domain)
        k--;
    if (k == 0)
        return -1; /* begun before it was followed */
    uint64_t now = coll_now_ns();
    struct held h = st->e[--k];
    int lvl = level(st, k, domain);
    write_begin(&st->seq);
    memmove(&st->e[k], &st->e[k + 1], (depth - k - 1) * sizeof *st->e);
    st->depth = depth - 1;
    write_end(&st->seq);
    ended(&h, now);
    return lvl;
}

/* ---- start/end ------------------------------------------------------------------- */

/* Whether a slot holding id (read with acquire) may be taken: free, or
 * left from an earlier epoch (its end came while not followed). */
static bool slot_free(const struct open_slot *s, uint64_t id, uint32_t epoch)
{
    return id == 0 ||
           (id != BUSY && atomic_load_explicit(&s->epoch, memory_order_relaxed) != epoch);
}

uint64_t coll_nvtx_start(const struct coll_nvtx *r)
{
    uint32_t epoch = coll_nvtx_following();
    if (!epoch)
        return 0;
    uint64_t id = new_id(my_stack(epoch));
    struct held h = begin(r, id, COLL_NVTX_STARTEND);
    for (uint64_t p = 0; p < OPEN_PROBES; p++) {
        struct open_slot *s = &open_ranges[(id + p) & (MAX_OPEN - 1)];
        uint64_t cur = atomic_load_explicit(&s->id, memory_order_acquire);
        if (!slot_free(s, cur, epoch) ||
            !atomic_compare_exchange_strong_explicit(&s->id, &cur, BUSY, memory_order_acquire,
                                                     memory_order_relaxed))
            continue;
        atomic_store_explicit(&s->epoch, epoch, memory_order_relaxed);
        s->e = h;
        atomic_store_explicit(&s->id, id, memory_order_release);
        return id;
    }
    atomic_fetch_add_explicit(&not_held, 1, memory_order_relaxed);
    return id;
}

void coll_nvtx_end(uint64_t id)
{
    if (!id || id == BUSY || !coll_nvtx_following())
        return;
    uint64_t now = coll_now_ns();
    for (uint64_t p = 0; p < OPEN_PROBES; p++) {
        struct open_slot *s = &open_ranges[(id + p) & (MAX_OPEN - 1)];
        if (atomic_load_explicit(&s->id, memory_order_acquire) != id)
            continue;
        struct held h = s->e;
        uint64_t expected = id; /* another thread may have taken a stale slot meanwhile */
        if (atomic_compare_exchange_strong_explicit(&s->id, &expected, 0, memory_order_acq_rel,
                                                    memory_order_relaxed))
            ended(&h, now);
        return;
    }
}

/* ---- marks ----------------------------------------------------------------------- */

void coll_nvtx_mark(const struct coll_nvtx *r)
{
    if (!coll_recording())
        return;
    struct held h = {.start_ns = coll_now_ns(), .r = *r};
    h.r.id = 0;
    h.r.begin_tid = coll_thread_id();
    record(&h, h.start_ns, COLL_NVTX_MARK, 0);
}

uint64_t coll_nvtx_ranges_dropped(void)
{
    return atomic_load_explicit(&not_held, memory_order_relaxed);
}

/* ---- session edges (gate lock held) ---------------------------------------------- */

void coll_nvtx_follow(bool active)
{
    bool on = active || coll_opt.step_on_nvtx;
    uint32_t cur = atomic_load(&coll_nvtx_epoch);
    if (on && !cur) {
        if (++epochs == 0)
            epochs = 1;
        atomic_store(&coll_nvtx_epoch, epochs);
    } else if (!on && cur) {
        atomic_store(&coll_nvtx_epoch, 0);
    }
}

/* A consistent copy of a stack's ranges of this epoch; how many. */
static uint32_t read_stack(struct stack *st, uint32_t epoch, struct held *out)
{
    for (int tries = 0; tries < READ_TRIES; tries++) {
        uint32_t s1 = atomic_load_explicit(&st->seq, memory_order_acquire);
        if (s1 & 1)
            continue;
        uint32_t n = 0;
        if (atomic_load_explicit(&st->epoch, memory_order_relaxed) == epoch) {
            n = st->depth <= MAX_DEPTH ? st->depth : MAX_DEPTH;
            memcpy(out, st->e, n * sizeof *out);
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&st->seq, memory_order_relaxed) == s1)
            return n;
    }
    atomic_fetch_add_explicit(&not_held, 1, memory_order_relaxed);
    return 0;
}

void coll_nvtx_session_end(void)
{
    uint32_t epoch = atomic_load(&coll_nvtx_epoch);
    if (!epoch || !coll_recording())
        return;
    uint64_t now = coll_now_ns();
    struct held held[MAX_DEPTH];
    for (size_t i = 0; i < MAX_STACKS; i++) {
        if (!atomic_load_explicit(&stacks[i].owner, memory_order_acquire))
            continue;
        uint32_t n = read_stack(&stacks[i], epoch, held);
        for (uint32_t k = 0; k < n; k++)
            record(&held[k], now, COLL_NVTX_OPEN, held[k].r.begin_tid);
    }
    for (size_t i = 0; i < MAX_OPEN; i++) {
        struct open_slot *s = &open_ranges[i];
        uint64_t id = atomic_load_explicit(&s->id, memory_order_acquire);
        if (id == 0 || id == BUSY || atomic_load_explicit(&s->epoch, memory_order_relaxed) != epoch)
            continue;
        struct held h = s->e;
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->id, memory_order_relaxed) == id)
            record(&h, now, COLL_NVTX_OPEN, h.r.begin_tid);
    }
}

void coll_nvtx_atfork_child(void)
{
    for (size_t i = 0; i < MAX_STACKS; i++) {
        struct stack *st = &stacks[i];
        st->depth = st->overflow = 0;
        atomic_store(&st->seq, 0);
        atomic_store(&st->epoch, 0);
        if (st != t_stack)
            atomic_store(&st->owner, 0);
    }
    if (t_stack)
        atomic_store(&t_stack->owner, (int32_t)gettid());
    for (size_t i = 0; i < MAX_OPEN; i++)
        atomic_store(&open_ranges[i].id, 0);
    atomic_store(&coll_nvtx_epoch, 0);
    coll_nvtx_follow(false);
}
