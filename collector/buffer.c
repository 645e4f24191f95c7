/*
 * Per-thread event buffers.
 *
 * Memory: one pool of fixed-size chunks, mapped once by coll_buffers_init(),
 * and a table of thread slots.  A thread takes a slot on its first record
 * and chunks from the pool as it fills them (one atomic fetch_add); nothing
 * is ever malloc'ed on the record path.  When the pool is empty, records are
 * dropped and counted; so are the records of a thread that found every
 * slot taken (max_threads), counted apart so that the warning names it.
 *
 * Concurrency contract (Dekker-style, no lock on the record path):
 *   writer thread:   slot->busy = 1; seq_cst fence; re-check the recording
 *                    flag; write the record; slot->busy = 0 (release).
 *   control thread:  clear the recording flag (seq_cst); wait until every
 *                    slot's busy is 0 (coll_buffers_quiesce).
 * After the quiesce no thread can be inside a record, and none will enter
 * one until the flag is set again, so the control thread may read and reset
 * the chunks without further synchronisation.  The pool is only reset while
 * recording is off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define CHUNK_BYTES (64u * 1024u)

struct chunk {
    struct chunk *next;
    uint32_t count;
    uint32_t cap;
    struct coll_event ev[];
};

enum { SLOT_FREE = 0, SLOT_LIVE, SLOT_DEAD };

struct slot {
    _Atomic int busy;  /* owner is writing a record */
    _Atomic int state; /* SLOT_* */
    int32_t tid;
    uint32_t index;
    uint64_t next_correlation;
    struct chunk *head; /* this session's chunks, oldest first */
    struct chunk *cur;
    _Atomic uint64_t taken_calls; /* coll_record_take_call: written by the owner only */
    uint64_t counted_calls;       /* of those, already summed by coll_buffers_take_calls */
    char pad[64 - 56];
};

_Atomic int coll_recording_flag;
_Atomic int coll_forking;

/* Set once by coll_buffers_init() (control thread), read-only afterwards. */
static unsigned char *pool;
static uint32_t n_chunks;
static struct slot *slots;
static unsigned n_slots;

static _Atomic uint32_t next_chunk;    /* first unused chunk of the pool */
static _Atomic uint64_t dropped;       /* records lost since the last take */
static _Atomic uint64_t no_slot;       /* of which: by threads without a slot */
static _Atomic int32_t no_slot_tid;    /* one such thread since the last take */
static _Atomic uint64_t calls_no_slot; /* coll_record_take_call without a slot */
static _Atomic int slots_ready;

/* The calling thread's slot and id; initial-exec: no allocation on access. */
static __thread struct slot *t_slot __attribute__((tls_model("initial-exec")));
static __thread int32_t t_tid __attribute__((tls_model("initial-exec")));
/* NO_SLOT_FULL: every slot was taken when this thread first recorded;
 * NO_SLOT_EXITED: the thread is exiting.  Either way it records nothing. */
enum { NO_SLOT_FULL = 1, NO_SLOT_EXITED };
static __thread int t_no_slot __attribute__((tls_model("initial-exec")));

/* Releases a thread's slot when it exits (on_thread_exit).  Without it
 * (key_ok false, or a pthread_setspecific that failed: release_lost) an
 * exited thread's slot is not reused; records are never lost for it. */
static pthread_key_t exit_key;
static bool key_ok;
static _Atomic int release_lost;

static void *map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Thread exit: the slot's records stay until collected, then it is reused. */
static void on_thread_exit(void *arg)
{
    struct slot *s = arg;
    t_slot = NULL;
    t_no_slot = NO_SLOT_EXITED; /* a hook running in a later TLS destructor records nothing */
    atomic_store_explicit(&s->state, SLOT_DEAD, memory_order_release);
}

int coll_buffers_init(size_t bytes, unsigned max_threads)
{
    if (atomic_load(&slots_ready))
        return 0;
    if (bytes < CHUNK_BYTES)
        bytes = CHUNK_BYTES;
    size_t slot_bytes = (size_t)max_threads * sizeof(struct slot);
    pool = map(bytes);
    int err = pool ? 0 : -errno;
    slots = map(slot_bytes);
    if (!slots && !err)
        err = -errno;
    if (err) {
        coll_log(COLL_LOG_ERROR, "buffers",
                 "cannot map %zu bytes of event buffers: %s; recording "
                 "is off",
                 bytes + slot_bytes, strerror(-err));
        if (pool)
            munmap(pool, bytes);
        if (slots)
            munmap(slots, slot_bytes);
        pool = NULL;
        slots = NULL;
        return err;
    }
    n_chunks = (uint32_t)(bytes / CHUNK_BYTES);
    n_slots = max_threads;
    for (unsigned i = 0; i < n_slots; i++)
        slots[i].index = i;
    int rc = pthread_key_create(&exit_key, on_thread_exit);
    key_ok = rc == 0;
    if (!key_ok)
        coll_log(COLL_LOG_WARN, "buffers",
                 "pthread_key_create failed: %s; the slots of exited "
                 "threads are not reused (at most %u threads ever record)",
                 strerror(rc), n_slots);
    atomic_store(&slots_ready, 1);
    return 0;
}

int32_t coll_thread_id(void)
{
    if (!t_tid)
        t_tid = (int32_t)gettid();
    return t_tid;
}

/* First record of a thread: claim a free slot (or a collected dead one). */
static struct slot *claim_slot(void)
{
    if (t_no_slot || !atomic_load_explicit(&slots_ready, memory_order_acquire))
        return NULL;
    for (unsigned i = 0; i < n_slots; i++) {
        int expected = SLOT_FREE;
        if (atomic_compare_exchange_strong(&slots[i].state, &expected, SLOT_LIVE)) {
            struct slot *s = &slots[i];
            s->tid = coll_thread_id();
            s->next_correlation = 0;
            /* no log here (the record path): reported at the next reset */
            if (key_ok && pthread_setspecific(exit_key, s) != 0)
                atomic_store_explicit(&release_lost, 1, memory_order_relaxed);
            t_slot = s;
            return s;
        }
    }
    t_no_slot = NO_SLOT_FULL; /* table full: this thread's records are dropped */
    coll_thread_id();
    return NULL;
}

static struct chunk *take_chunk(void)
{
    uint32_t i = atomic_fetch_add_explicit(&next_chunk, 1, memory_order_relaxed);
    if (i >= n_chunks)
        return NULL;
    struct chunk *c = (struct chunk *)(pool + (size_t)i * CHUNK_BYTES);
    c->next = NULL;
    c->count = 0;
    c->cap = (CHUNK_BYTES - sizeof *c) / sizeof(struct coll_event);
    return c;
}

struct coll_event *coll_record_begin(void)
{
    struct slot *s = t_slot;
    if (!s && !(s = claim_slot())) {
        atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
        if (t_no_slot == NO_SLOT_FULL) {
            atomic_fetch_add_explicit(&no_slot, 1, memory_order_relaxed);
            atomic_store_explicit(&no_slot_tid, t_tid, memory_order_relaxed);
        }
        return NULL;
    }
    atomic_store_explicit(&s->busy, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&coll_recording_flag, memory_order_acquire)) {
        atomic_store_explicit(&s->busy, 0, memory_order_release);
        return NULL;
    }
    struct chunk *c = s->cur;
    if (!c || c->count == c->cap) {
        struct chunk *fresh = take_chunk();
        if (!fresh) {
            atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
            atomic_store_explicit(&s->busy, 0, memory_order_release);
            return NULL;
        }
        if (c)
            c->next = fresh;
        else
            s->head = fresh;
        s->cur = c = fresh;
    }
    struct coll_event *ev = &c->ev[c->count];
    ev->tid = s->tid;
    ev->correlation = ((uint64_t)(s->index + 1) << 40) | ++s->next_correlation;
    return ev;
}

int coll_record_slot_index(void)
{
    return t_slot ? (int)t_slot->index : -1;
}

void coll_record_commit(struct coll_event *ev)
{
    (void)ev;
    struct slot *s = t_slot;
    s->cur->count++;
    atomic_store_explicit(&s->busy, 0, memory_order_release);
}

void coll_record_take_call(void)
{
    struct slot *s = t_slot;
    if (!s && !(s = claim_slot())) {
        atomic_fetch_add_explicit(&calls_no_slot, 1, memory_order_relaxed);
        return;
    }
    uint64_t n = atomic_load_explicit(&s->taken_calls, memory_order_relaxed);
    atomic_store_explicit(&s->taken_calls, n + 1, memory_order_relaxed);
}

uint64_t coll_buffers_take_calls(void)
{
    uint64_t n = atomic_exchange(&calls_no_slot, 0);
    for (unsigned i = 0; slots && i < n_slots; i++) {
        uint64_t now = atomic_load_explicit(&slots[i].taken_calls, memory_order_relaxed);
        n += now - slots[i].counted_calls;
        slots[i].counted_calls = now;
    }
    return n;
}

void coll_record_cancel(struct coll_event *ev)
{
    (void)ev;
    atomic_store_explicit(&t_slot->busy, 0, memory_order_release);
}

size_t coll_buffers_size(void)
{
    return atomic_load_explicit(&slots_ready, memory_order_acquire) ? (size_t)n_chunks * CHUNK_BYTES
                                                                    : 0;
}

/* Waits until every used slot but `except` has been seen outside a record
 * once; gives up at `deadline` (coll_now_ns, 0: never). */
static void wait_for_records(const struct slot *except, uint64_t deadline)
{
    for (unsigned i = 0; i < n_slots; i++) {
        if (&slots[i] == except ||
            atomic_load_explicit(&slots[i].state, memory_order_acquire) == SLOT_FREE)
            continue;
        while (atomic_load_explicit(&slots[i].busy, memory_order_acquire) &&
               (!deadline || coll_now_ns() < deadline))
            sched_yield();
    }
}

void coll_buffers_quiesce(void)
{
    if (!slots)
        return;
    atomic_thread_fence(memory_order_seq_cst);
    wait_for_records(NULL, 0);
}

void coll_buffers_visit(coll_event_visitor visit, void *arg)
{
    if (!slots)
        return;
    for (unsigned i = 0; i < n_slots; i++) {
        if (atomic_load_explicit(&slots[i].state, memory_order_acquire) == SLOT_FREE)
            continue;
        for (const struct chunk *c = slots[i].head; c; c = c->next)
            for (uint32_t k = 0; k < c->count; k++)
                visit(&c->ev[k], arg);
    }
}

void coll_buffers_reset(void)
{
    if (!slots)
        return;
    if (atomic_exchange(&release_lost, 0))
        coll_log(COLL_LOG_WARN, "buffers",
                 "pthread_setspecific failed; a thread's slot will not "
                 "be reused after it exits");
    for (unsigned i = 0; i < n_slots; i++) {
        struct slot *s = &slots[i];
        s->head = s->cur = NULL;
        int dead = SLOT_DEAD;
        atomic_compare_exchange_strong(&s->state, &dead, SLOT_FREE);
    }
    atomic_store(&next_chunk, 0);
}

uint64_t coll_buffers_take_dropped(void)
{
    return atomic_exchange(&dropped, 0);
}

uint64_t coll_buffers_take_no_slot(int32_t *tid)
{
    *tid = atomic_exchange(&no_slot_tid, 0);
    return atomic_exchange(&no_slot, 0);
}

/* The same Dekker pairing as the quiesce: a record sets busy, fences, then
 * reads coll_forking (stack.c); here coll_forking is set, then busy read.
 * Each slot is waited for until seen idle once (a record lasts microseconds),
 * at most 100 ms in all, and never the forking thread's own (a fork from a
 * signal handler that interrupted a record). */
void coll_buffers_atfork_prepare(void)
{
    atomic_store(&coll_forking, 1);
    if (slots)
        wait_for_records(t_slot, coll_now_ns() + 100000000ull);
}

void coll_buffers_atfork_parent(void)
{
    atomic_store(&coll_forking, 0);
}

void coll_buffers_atfork_child(void)
{
    atomic_store(&coll_forking, 0);
    /* Only the forking thread exists in the child: every other slot is dead,
     * and whatever the parent recorded is not the child's to write. */
    atomic_store(&coll_recording_flag, 0);
    if (!slots)
        return;
    for (unsigned i = 0; i < n_slots; i++) {
        slots[i].head = slots[i].cur = NULL;
        atomic_store(&slots[i].busy, 0);
        atomic_store(&slots[i].taken_calls, 0);
        slots[i].counted_calls = 0;
        if (&slots[i] != t_slot)
            atomic_store(&slots[i].state, SLOT_FREE);
    }
    if (t_slot)
        t_slot->tid = (int32_t)gettid();
    if (t_no_slot == NO_SLOT_FULL)
        t_no_slot = 0; /* every slot is free in the child */
    t_tid = 0;
    atomic_store(&next_chunk, 0);
    atomic_store(&dropped, 0);
    atomic_store(&no_slot, 0);
    atomic_store(&no_slot_tid, 0);
    atomic_store(&calls_no_slot, 0);
}
