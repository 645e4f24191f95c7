/*
 * NVTX ranges and marks, as preload/nvtx.c hands them over, turned into
 * COLL_EV_NVTX records.
 *
 * A range is recorded once, when it ends, with its beginning (time, thread,
 * message, domain, ...) in the record.  Until then it is held: a push/pop
 * range on its thread's stack, a start/end range (which may end on any
 * thread) in one table shared by all.  Ranges are held in every state, so
 * one begun before a session (while omniprof was idle, or in an earlier
 * session) is known by name when it ends inside the session, or is recorded
 * at the session's end if still open (coll_nvtx_session_end); the writer
 * clips it to the session.  What a range costs depends on whether it is
 * followed (coll_nvtx_follow: while the gate is started, armed or
 * recording):
 *
 *  - followed: its start is timed and its message interned when it begins,
 *    and its end is recorded (while recording) or makes a step (step_on);
 *  - not followed (idle): no time, no interning, no lock.  Its message is
 *    copied into the held range (TEXT_BYTES, cut beyond) because the
 *    program may free it as soon as the call returns (PyTorch passes a
 *    temporary string's c_str()), and interned only when it is needed: when
 *    the range ends while followed (on the thread that ends it) or is still
 *    open at a session's end (on the control thread).  Its start is 0:
 *    before any session that sees it, when exactly is not known.  An idle
 *    end only lets go of the range.
 *
 * Memory: fixed static arrays, touched only when used.  A thread takes a
 * stack on its first push (or start: its block of range ids is there) and
 * gives it back when it exits.  A stack is changed only by its owner, a
 * table slot only by the thread that claimed it (and freed by the one that
 * ends it), each under a sequence count (seqlock) or a re-read id, so the
 * session's end reads them from another thread without a lock.  The record
 * path rules hold: no lock, no allocation, no syscall.  Held ranges are
 * bounded: a program that pushes (starts) ranges it never pops (ends) fills
 * its stack (the table); deeper pushes are counted, not held, and a start
 * that finds no free slot is counted and never recorded.
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
#define TEXT_BYTES 64     /* a message copied while not followed, its NUL included */
#define NOT_FOLLOWED (-2) /* NVTX_NO_PUSH_POP_TRACKING */
#define BUSY UINT64_MAX   /* a table slot being filled */
#define READ_TRIES 1000

_Atomic uint32_t coll_nvtx_followed;

/* A held range: when it began, and what the program said of it. */
struct held {
    uint64_t start_ns; /* 0: begun while not followed */
    struct coll_nvtx r;
    /* begun while not followed: its message, to intern when needed
     * (r.message is then 0); "" otherwise */
    char text[TEXT_BYTES];
};

struct stack {
    _Atomic int32_t owner; /* tid; 0: free */
    _Atomic uint32_t seq;  /* odd while the owner changes what follows */
    int32_t tid;           /* the owner's, for its ranges (read without an atomic) */
    uint32_t depth;        /* ranges held */
    uint32_t overflow;     /* pushed beyond MAX_DEPTH, not held */
    struct held e[MAX_DEPTH];
    /* the owner's own: its block of range ids */
    uint64_t next_id, end_id;
};

struct open_slot {
    _Atomic uint64_t id; /* 0: free; BUSY: being filled */
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
    int saved = errno; /* pthread_setspecific may allocate */
    int32_t tid = coll_thread_id();
    for (size_t i = 0; i < MAX_STACKS; i++) {
        int32_t expected = 0;
        if (atomic_compare_exchange_strong(&stacks[i].owner, &expected, tid)) {
            struct stack *st = &stacks[i];
            st->tid = tid;
            if (key_ok) /* should it fail, the stack is not reused after the thread exits */
                pthread_setspecific(exit_key, st);
            errno = saved;
            return t_stack = st;
        }
    }
    t_no_stack = 1;
    atomic_fetch_add_explicit(&not_held, 1, memory_order_relaxed);
    errno = saved;
    return NULL;
}

/* The calling thread's stack; NULL when none is left. */
static struct stack *my_stack(void)
{
    struct stack *st = t_stack;
    return st || t_no_stack ? st : claim_stack();
}

/* A new range id, unique in the process (from the thread's block when it
 * has a stack). */
static inline uint64_t new_id(struct stack *st)
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

/* ---- beginnings ------------------------------------------------------------------ */

/* A message copied into out: the common short one here, a long one (to
 * cut) by coll_nvtx_copy. */
static inline void copy(char out[TEXT_BYTES], const char *s)
{
    size_t len = strnlen(s, TEXT_BYTES);
    if (len == TEXT_BYTES) {
        coll_nvtx_copy(out, TEXT_BYTES, s);
        return;
    }
    memcpy(out, s, len + 1);
}

/* The id of a message given as text, interned; r's own (a registered
 * string, or none) when there is none. */
static uint32_t interned(const struct coll_nvtx *r, struct coll_nvtx_text t)
{
    return t.s ? coll_nvtx_intern(t.s) : t.w ? coll_nvtx_intern_wide(t.w) : r->message;
}

/* Fills h with a range begun now on the thread of stack st (NULL: none):
 * when followed, start_ns and message are the time and the interned
 * message; when not, 0 and r's, and the text is copied.  The idle path:
 * kept to a few stores and the copy. */
static inline void begin(struct held *h, const struct coll_nvtx *r, struct coll_nvtx_text t,
                         const struct stack *st, uint64_t start_ns, uint32_t message, uint64_t id,
                         uint8_t flags)
{
    h->start_ns = start_ns;
    h->r = *r;
    h->r.message = message;
    h->r.id = id;
    h->r.begin_tid = st ? st->tid : coll_thread_id();
    h->r.what = COLL_NVTX_RANGE;
    h->r.flags = (uint8_t)((r->flags & ~COLL_NVTX_STARTEND) | flags);
    if (start_ns || !(t.s || t.w))
        h->text[0] = '\0';
    else if (t.s)
        copy(h->text, t.s);
    else
        coll_nvtx_copy_wide(h->text, TEXT_BYTES, t.w);
}

/* A range begun while not followed: its copied message interned, now
 * that it is needed (any thread; interning is lock-free). */
static void resolve(struct held *h)
{
    if (h->text[0])
        h->r.message = coll_nvtx_intern(h->text);
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

/* A range ended at end_ns while followed: its record, and a step when it
 * is step_on's range (after the record, so the step's session has it). */
static void ended(struct held *h, uint64_t end_ns)
{
    resolve(h);
    if (coll_recording())
        record(h, end_ns, COLL_NVTX_RANGE, 0);
    if (is_step(&h->r))
        coll_step();
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

/* A push while followed: timed, its message interned, its level. */
static __attribute__((noinline)) int
push_followed(struct stack *st, uint32_t depth, const struct coll_nvtx *r, struct coll_nvtx_text t)
{
    int saved = errno;
    /* the slow parts before the write, so a reader seldom waits */
    uint64_t start_ns = coll_now_ns();
    uint32_t message = interned(r, t);
    uint64_t id = new_id(st);
    write_begin(&st->seq);
    begin(&st->e[depth], r, t, st, start_ns, message, id, 0);
    st->depth = depth + 1;
    write_end(&st->seq);
    errno = saved;
    return level(st, depth, r->domain);
}

int coll_nvtx_push(const struct coll_nvtx *r, struct coll_nvtx_text t)
{
    struct stack *st = my_stack();
    if (!st)
        return NOT_FOLLOWED;
    uint32_t depth = st->depth; /* read once: a signal handler's range cannot push it out */
    bool followed = coll_nvtx_following();
    if (depth >= MAX_DEPTH || st->overflow) {
        st->overflow++; /* the snapshot reads only depth's entries */
        return followed ? (int)(depth + st->overflow - 1) : NOT_FOLLOWED;
    }
    if (followed)
        return push_followed(st, depth, r, t);
    uint64_t id = new_id(st);
    write_begin(&st->seq);
    begin(&st->e[depth], r, t, st, 0, r->message, id, 0);
    st->depth = depth + 1;
    write_end(&st->seq);
    return NOT_FOLLOWED;
}

/* Takes the range at index k off the stack. */
static inline void take_off(struct stack *st, uint32_t k, uint32_t depth)
{
    write_begin(&st->seq);
    if (k + 1 < depth) /* another domain's ranges above it */
        memmove(&st->e[k], &st->e[k + 1], (depth - k - 1) * sizeof *st->e);
    st->depth = depth - 1;
    write_end(&st->seq);
}

/* A pop while followed: the range's record (or step), its level. */
static __attribute__((noinline)) int pop_followed(struct stack *st, uint32_t k, uint32_t depth)
{
    int saved = errno;
    uint64_t now = coll_now_ns();
    struct held h = st->e[k];
    int lvl = level(st, k, h.r.domain);
    take_off(st, k, depth);
    ended(&h, now);
    errno = saved;
    return lvl;
}

int coll_nvtx_pop(uint16_t domain)
{
    bool followed = coll_nvtx_following();
    struct stack *st = t_stack; /* none yet: nothing was pushed */
    if (!st)
        return followed ? -1 : NOT_FOLLOWED;
    if (st->overflow) {
        st->overflow--;
        return followed ? (int)(st->depth + st->overflow) : NOT_FOLLOWED;
    }
    uint32_t depth = st->depth, k = depth;
    while (k > 0 && st->e[k - 1].r.domain != domain)
        k--;
    if (k == 0)
        return followed ? -1 : NOT_FOLLOWED; /* more pops than pushes */
    if (followed)
        return pop_followed(st, k - 1, depth);
    take_off(st, k - 1, depth);
    return NOT_FOLLOWED;
}

/* ---- start/end ------------------------------------------------------------------- */

uint64_t coll_nvtx_start(const struct coll_nvtx *r, struct coll_nvtx_text t)
{
    struct stack *st = my_stack();
    uint64_t id = new_id(st), start_ns = 0;
    uint32_t message = r->message;
    if (coll_nvtx_following()) {
        int saved = errno;
        start_ns = coll_now_ns();
        message = interned(r, t);
        errno = saved;
    }
    for (uint64_t p = 0; p < OPEN_PROBES; p++) {
        struct open_slot *s = &open_ranges[(id + p) & (MAX_OPEN - 1)];
        uint64_t cur = atomic_load_explicit(&s->id, memory_order_relaxed);
        if (cur != 0 || !atomic_compare_exchange_strong_explicit(
                            &s->id, &cur, BUSY, memory_order_acquire, memory_order_relaxed))
            continue;
        begin(&s->e, r, t, st, start_ns, message, id, COLL_NVTX_STARTEND);
        atomic_store_explicit(&s->id, id, memory_order_release);
        return id;
    }
    atomic_fetch_add_explicit(&not_held, 1, memory_order_relaxed);
    return id;
}

/* The slot holding range id; NULL when it is not held. */
static struct open_slot *find(uint64_t id)
{
    for (uint64_t p = 0; p < OPEN_PROBES; p++) {
        struct open_slot *s = &open_ranges[(id + p) & (MAX_OPEN - 1)];
        if (atomic_load_explicit(&s->id, memory_order_acquire) == id)
            return s;
    }
    return NULL;
}

/* Frees s when it still holds id: false when another thread ended it
 * first (the program may end a range twice, on two threads). */
static bool let_go(struct open_slot *s, uint64_t id)
{
    return atomic_compare_exchange_strong_explicit(&s->id, &id, 0, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

/* An end while followed: the range's record (or step). */
static __attribute__((noinline)) void end_followed(uint64_t id)
{
    int saved = errno;
    uint64_t now = coll_now_ns();
    struct open_slot *s = find(id);
    if (s) {
        struct held h = s->e;
        if (let_go(s, id))
            ended(&h, now);
    }
    errno = saved;
}

void coll_nvtx_end(uint64_t id)
{
    if (!id || id == BUSY)
        return;
    if (coll_nvtx_following()) {
        end_followed(id);
        return;
    }
    struct open_slot *s = find(id);
    if (s)
        let_go(s, id);
}

/* ---- marks ----------------------------------------------------------------------- */

void coll_nvtx_mark(const struct coll_nvtx *r, struct coll_nvtx_text t)
{
    if (!coll_recording())
        return;
    struct held h = {.start_ns = coll_now_ns(), .r = *r};
    h.r.message = interned(r, t);
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
    atomic_store(&coll_nvtx_followed, active || coll_opt.step_on_nvtx);
}

/* A consistent copy of a stack's ranges; how many. */
static uint32_t read_stack(struct stack *st, struct held *out)
{
    for (int tries = 0; tries < READ_TRIES; tries++) {
        uint32_t s1 = atomic_load_explicit(&st->seq, memory_order_acquire);
        if (s1 & 1)
            continue;
        uint32_t n = st->depth <= MAX_DEPTH ? st->depth : MAX_DEPTH;
        memcpy(out, st->e, n * sizeof *out);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&st->seq, memory_order_relaxed) == s1)
            return n;
    }
    atomic_fetch_add_explicit(&not_held, 1, memory_order_relaxed);
    return 0;
}

void coll_nvtx_session_end(void)
{
    if (!coll_recording())
        return;
    uint64_t now = coll_now_ns();
    struct held held[MAX_DEPTH];
    for (size_t i = 0; i < MAX_STACKS; i++) {
        if (!atomic_load_explicit(&stacks[i].owner, memory_order_acquire))
            continue;
        uint32_t n = read_stack(&stacks[i], held);
        for (uint32_t k = 0; k < n; k++) {
            resolve(&held[k]);
            record(&held[k], now, COLL_NVTX_OPEN, held[k].r.begin_tid);
        }
    }
    for (size_t i = 0; i < MAX_OPEN; i++) {
        struct open_slot *s = &open_ranges[i];
        uint64_t id = atomic_load_explicit(&s->id, memory_order_acquire);
        if (id == 0 || id == BUSY)
            continue;
        struct held h = s->e;
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->id, memory_order_relaxed) != id)
            continue; /* ended (and perhaps reused) while copied */
        resolve(&h);
        record(&h, now, COLL_NVTX_OPEN, h.r.begin_tid);
    }
}

/* The calling thread keeps its push/pop ranges (its nesting goes on in
 * the child), shown on its new tid; start/end ranges are the parent's. */
void coll_nvtx_atfork_child(void)
{
    int32_t tid = (int32_t)gettid();
    for (size_t i = 0; i < MAX_STACKS; i++) {
        struct stack *st = &stacks[i];
        atomic_store(&st->seq, 0);
        if (st == t_stack)
            continue;
        st->depth = st->overflow = 0;
        atomic_store(&st->owner, 0);
    }
    if (t_stack) {
        atomic_store(&t_stack->owner, tid);
        t_stack->tid = tid;
        for (uint32_t k = 0; k < t_stack->depth && k < MAX_DEPTH; k++)
            t_stack->e[k].r.begin_tid = tid;
    }
    for (size_t i = 0; i < MAX_OPEN; i++)
        atomic_store(&open_ranges[i].id, 0);
    coll_nvtx_follow(false);
}
