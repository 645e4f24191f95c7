/*
 * Host call stacks: taken at launches, copies, memsets and allocations
 * with libunwind's fast path (unw_backtrace: cached unwind info, no signal
 * frames, about 0.5-1 us for 32 frames; glibc's backtrace() is ~5x slower),
 * and interned so that identical stacks are stored once.
 *
 * The intern table is mapped once (coll_stacks_init) and filled lock-free:
 * a slot is claimed by CAS on its hash, the frames are copied into an arena
 * reserved with fetch_add, then the slot is published (ready).  Capture runs
 * inside a record's busy window (coll_record_begin..commit), so once the
 * control thread has quiesced the writers every published stack is
 * complete.  A full table or arena drops the stack (counted), never blocks.
 * While a fork is under way no unwind starts (coll_forking, buffer.c).
 *
 * When the thread runs Python code, its Python frames are merged in place
 * of the interpreter's (python.c) before the stack is interned.
 *
 * Symbolization happens at collection, on the control thread (symbols.c,
 * python_code.c).
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <errno.h>
#include <libunwind.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "python.h"
#include "unwind.h"

#define MAX_DEPTH 256
/* native frames unwound at most when the thread runs Python: enough for its frames
 * to reach `depth` once the interpreter's own are left out */
#define PY_NATIVE_MAX 256
#define SKIP_SLACK 8 /* frames of omniprof's own above the caller's */
_Static_assert(PY_NATIVE_MAX + SKIP_SLACK < COLL_UNWIND_MAX, "unwind.c keeps every frame");

struct stack_slot {
    _Atomic uint64_t hash; /* 0: empty */
    _Atomic uint32_t ready;
    uint32_t depth;
    uint64_t offset; /* into arena, in frames */
};

/* Set once by coll_stacks_init (control side), read-only afterwards. */
static struct stack_slot *slots;
static uint64_t *arena;
static uint32_t n_slots; /* a power of two */
static uint64_t arena_frames;
static int depth;
/* Text ranges whose frames are left out: omniprof's own, then CUDA's and
 * CUPTI's (added when CUPTI is set up).  Written before any capture that
 * could see them; read on the record path. */
#define MAX_SKIPPED 6
static struct {
    uintptr_t start, end;
} skipped[MAX_SKIPPED];
static _Atomic int n_skipped;

/* Stacks with Python frames are unwound by unwind.c (reusing the outer part
 * unchanged since the thread's last capture), unless the test hook
 * OMNI_FAST_UNWIND (read once, by coll_stacks_init) is "0": libunwind only,
 * or "check": both, aborting on any difference (tests/integration). */
enum { UNWIND_FAST, UNWIND_LIBUNWIND, UNWIND_CHECK };
static int unwind_mode;

/* OMNI_FAST_UNWIND=check: says at exit how many captures each way went, so
 * that a test can tell that unwind.c's path was taken at all. */
static void report_unwind(void)
{
    uint64_t c[3];
    coll_unwind_counts(c);
    fprintf(stderr, "omni-unwind-check: %llu unwound, %llu reused a tail, %llu by libunwind\n",
            (unsigned long long)c[0], (unsigned long long)c[1], (unsigned long long)c[2]);
}

static _Atomic uint64_t arena_used;
static _Atomic uint64_t dropped;

/* Adds the executable segment containing *(uintptr_t *)arg; returns 1
 * when it was found (added, or -1 with the list full), 0 to go on. */
static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t here = *(uintptr_t *)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && here >= start &&
            here < start + ph->p_memsz) {
            int n = atomic_load(&n_skipped);
            if (n == MAX_SKIPPED)
                return -1;
            skipped[n].start = start;
            skipped[n].end = start + ph->p_memsz;
            atomic_store(&n_skipped, n + 1);
            return 1;
        }
    }
    return 0;
}

int coll_stacks_skip_module(const void *addr)
{
    uintptr_t a = (uintptr_t)addr;
    int n = atomic_load(&n_skipped);
    for (int i = 0; i < n; i++)
        if (a >= skipped[i].start && a < skipped[i].end)
            return 0;
    int found = a ? dl_iterate_phdr(find_text, &a) : 0;
    return found > 0 ? 0 : found < 0 ? -ENOSPC : -ENOENT;
}

static bool is_skipped(uintptr_t ip)
{
    int n = atomic_load_explicit(&n_skipped, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (ip >= skipped[i].start && ip < skipped[i].end)
            return true;
    return false;
}

int coll_stacks_init(unsigned max_stacks, int max_depth)
{
    if (slots)
        return 0;
    uint32_t n = 1024;
    while (n < max_stacks * 2u && n < (1u << 24))
        n <<= 1;
    depth = max_depth < 1 ? 1 : max_depth > MAX_DEPTH ? MAX_DEPTH : max_depth;
    /* room for max_stacks stacks of the longest kind: a stack with Python
     * frames keeps its Python part whole (up to MAX_DEPTH entries); only the
     * pages used are ever touched */
    arena_frames = (uint64_t)max_stacks * MAX_DEPTH;
    void *s =
        mmap(NULL, n * sizeof *slots, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int err = s == MAP_FAILED ? -errno : 0;
    void *a = mmap(NULL, arena_frames * sizeof *arena, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (a == MAP_FAILED && !err)
        err = -errno;
    if (err) {
        coll_log(COLL_LOG_ERROR, "stacks", "cannot map the stack table: %s; stacks are off",
                 strerror(-err));
        if (s != MAP_FAILED)
            munmap(s, n * sizeof *slots);
        if (a != MAP_FAILED)
            munmap(a, arena_frames * sizeof *arena);
        return err;
    }
    const char *mode = getenv("OMNI_FAST_UNWIND");
    unwind_mode = !mode                    ? UNWIND_FAST
                  : !strcmp(mode, "0")     ? UNWIND_LIBUNWIND
                  : !strcmp(mode, "check") ? UNWIND_CHECK
                                           : UNWIND_FAST;
    if (unwind_mode == UNWIND_CHECK)
        atexit(report_unwind);
    if (coll_stacks_skip_module((const void *)&coll_stacks_init) < 0)
        coll_log(COLL_LOG_WARN, "stacks",
                 "cannot find omniprof's own code; stacks begin with "
                 "omniprof's frames");
    arena = a;
    n_slots = n;
    __atomic_store_n(&slots, (struct stack_slot *)s, __ATOMIC_RELEASE);
    return 0;
}

static uint64_t hash_frames(const uint64_t *f, int n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the entries */
    for (int i = 0; i < n; i++) {
        h ^= f[i];
        h *= 1099511628211ull;
        h ^= h >> 29;
    }
    return h ? h : 1;
}

static uint32_t intern(struct stack_slot *table, const uint64_t *f, int n)
{
    uint64_t h = hash_frames(f, n);
    for (uint32_t probe = 0, i = (uint32_t)h & (n_slots - 1); probe < 64;
         probe++, i = (i + 1) & (n_slots - 1)) {
        struct stack_slot *slot = &table[i];
        uint64_t k = atomic_load_explicit(&slot->hash, memory_order_acquire);
        if (k == h)
            return i + 1;
        if (k != 0)
            continue;
        uint64_t expected = 0;
        if (!atomic_compare_exchange_strong(&slot->hash, &expected, h)) {
            if (expected == h)
                return i + 1;
            continue;
        }
        uint64_t off = atomic_fetch_add_explicit(&arena_used, (uint64_t)n, memory_order_relaxed);
        if (off + (uint64_t)n > arena_frames) {
            slot->depth = 0; /* claimed but frameless: the arena is full */
            atomic_store_explicit(&slot->ready, 1, memory_order_release);
            atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
            return 0;
        }
        memcpy(&arena[off], f, (size_t)n * sizeof *f);
        slot->offset = off;
        slot->depth = (uint32_t)n;
        atomic_store_explicit(&slot->ready, 1, memory_order_release);
        return i + 1;
    }
    atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
    return 0;
}

/* Frames to unwind (omniprof's own included) when the thread runs Python,
 * learned per thread.  A merged stack keeps `depth` native frames before
 * the first Python frame and the Python part whole, at most MAX_DEPTH
 * entries in all; once they are filled the native frames further out
 * change nothing (coll_python_merge's *read).  Before 3.11 each Python
 * frame is 2-5 native frames, so a very deep Python stack (a recursion)
 * fills MAX_DEPTH above the native stack's end, and every frame unwound
 * past it (about 85 instructions) is wasted.  The
 * last captures' need (plus PY_SLACK, decaying by one frame a
 * capture so that a loop's sites of different depths share one guess) is
 * the next one's size; a size that proves short is unwound again in full.
 * 0: unknown, unwind up to PY_NATIVE_MAX.  Only a size: every value gives
 * the same stack, so a signal handler's capture in between does no harm. */
#define PY_SLACK 4
static __thread int t_py_unwind __attribute__((tls_model("initial-exec")));

static int own_frames(void *const *buf, int n)
{
    int skip = 0;
    while (skip < n && is_skipped((uintptr_t)buf[skip]))
        skip++;
    return skip;
}

/* OMNI_FAST_UNWIND=check: buf[0..n), unwind.c's frames for
 * unw_backtrace(buf, size) called from capture_python, must be libunwind's.
 * Called from capture_python too: libunwind sees this function's frame
 * more, so it is given one entry more and its first frames are left out
 * in both (omniprof's own). */
static __attribute__((noinline)) void check_frames(void *const *buf, int n, int size)
{
    void *other[PY_NATIVE_MAX + SKIP_SLACK + 1];
    int m = unw_backtrace(other, size + 1);
    int skip = own_frames(buf, n), other_skip = own_frames(other, m);
    bool same = m - 1 == n && n - skip == m - other_skip;
    for (int i = 0; same && i < n - skip; i++)
        same = buf[skip + i] == other[other_skip + i];
    if (same)
        return;
    fprintf(stderr,
            "omniprof: OMNI_FAST_UNWIND=check: unwind.c gave %d frames (%d own), "
            "libunwind %d (%d own, one more expected)\n",
            n, skip, m, other_skip);
    for (int i = 0; i < n || i < m; i++)
        fprintf(stderr, "  %3d %18p %18p\n", i, i < n ? buf[i] : NULL, i < m ? other[i] : NULL);
    abort();
}

/* unw_backtrace(buf, size), as if called from capture_python itself */
static inline __attribute__((always_inline)) int native_frames(void **buf, int size)
{
    int n = unwind_mode != UNWIND_LIBUNWIND ? coll_unwind_backtrace(buf, size) : -1;
    if (n < 0)
        return unw_backtrace(buf, size);
    if (unwind_mode == UNWIND_CHECK)
        check_frames(buf, n, size);
    return n;
}

/* The calling thread's stack merged with its Python frames into f; 0 when
 * it has none or they cannot be merged (the caller keeps the native one).
 * buf: room for PY_NATIVE_MAX + SKIP_SLACK frames. */
static int capture_python(const struct coll_py_stack *py, void **buf, uint64_t *f)
{
    const int all = PY_NATIVE_MAX + SKIP_SLACK;
    int size = t_py_unwind ? t_py_unwind : all;
    int n = native_frames(buf, size);
    int skip = own_frames(buf, n), read;
    int m = coll_python_merge(py, buf + skip, n - skip, n == size, f, MAX_DEPTH, depth, &read);
    if (!read && n == size && size < all) { /* short: again, whole */
        size = all;
        n = native_frames(buf, size);
        skip = own_frames(buf, n);
        m = coll_python_merge(py, buf + skip, n - skip, n == size, f, MAX_DEPTH, depth, &read);
    }
    int need = read ? skip + read + PY_SLACK : 0;
    t_py_unwind = !need ? 0 : need >= t_py_unwind ? (need < all ? need : all) : t_py_unwind - 1;
    return m;
}

uint32_t coll_stack_capture(void)
{
    struct stack_slot *table = __atomic_load_n(&slots, __ATOMIC_ACQUIRE);
    /* a fork is under way: no unwind may be in flight as it copies us (the
     * record's seq_cst fence orders this load after its busy flag) */
    if (!table || atomic_load_explicit(&coll_forking, memory_order_relaxed))
        return 0;
    struct coll_py_stack py;
    void *buf[PY_NATIVE_MAX + SKIP_SLACK];
    uint64_t f[MAX_DEPTH];
    /* the Python frames are kept whole (stack_depth counts the native ones
     * before them): a PyTorch user reads the model's lines there */
    int m = coll_python_walk(&py, MAX_DEPTH) ? capture_python(&py, buf, f) : 0;
    if (m == 0) { /* no Python frames: the native stack as it is */
        int n = unw_backtrace(buf, depth + SKIP_SLACK);
        int skip = own_frames(buf, n);
        m = n - skip < depth ? n - skip : depth;
        for (int i = 0; i < m; i++)
            f[i] = (uint64_t)(uintptr_t)buf[skip + i];
    }
    return m > 0 ? intern(table, f, m) : 0;
}

uint64_t coll_stacks_dropped(void)
{
    return atomic_load(&dropped);
}

static int by_id(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Symbolizes every stack the session's events use (control thread, after
 * the writers were quiesced). */
int coll_stacks_collect(struct coll_session *s)
{
    s->stacks_dropped = coll_stacks_dropped();
    if (!slots)
        return 0;
    static uint64_t py_dropped; /* control thread only */
    if (coll_py_dropped() > py_dropped) {
        py_dropped = coll_py_dropped();
        coll_log(COLL_LOG_WARN, "python",
                 "%llu Python file or function names were not kept (omniprof's tables are full); "
                 "their frames read '?'",
                 (unsigned long long)py_dropped);
    }
    uint32_t *ids = malloc((s->n_events ? s->n_events : 1) * sizeof *ids);
    if (!ids)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s->n_events; i++)
        if (s->events[i]->stack)
            ids[n++] = s->events[i]->stack;
    qsort(ids, n, sizeof *ids, by_id);
    size_t unique = 0;
    for (size_t i = 0; i < n; i++)
        if (unique == 0 || ids[unique - 1] != ids[i])
            ids[unique++] = ids[i];
    s->stacks = calloc(unique ? unique : 1, sizeof *s->stacks);
    if (!s->stacks) {
        free(ids);
        return -ENOMEM;
    }
    for (size_t i = 0; i < unique; i++) {
        const struct stack_slot *slot = &slots[ids[i] - 1];
        struct coll_stack *st = &s->stacks[s->n_stacks];
        if (!atomic_load_explicit(&slot->ready, memory_order_acquire) || slot->depth == 0)
            continue;
        st->frames = calloc(slot->depth, sizeof *st->frames);
        if (!st->frames)
            continue;
        st->id = ids[i];
        st->depth = slot->depth;
        for (uint32_t k = 0; k < slot->depth; k++) {
            struct coll_frame *fr = &st->frames[k];
            uint64_t v = arena[slot->offset + k];
            if (coll_python_frame(v)) {
                coll_python_describe(v, fr);
                continue;
            }
            /* return addresses: look up the call instruction just before */
            coll_symbolize(v - 1, fr);
            fr->ip++;
            fr->offset++;
        }
        s->n_stacks++;
    }
    free(ids);
    return 0;
}

void coll_stacks_free(struct coll_session *s)
{
    for (size_t i = 0; i < s->n_stacks; i++) {
        for (uint32_t k = 0; k < s->stacks[i].depth; k++)
            free(s->stacks[i].frames[k].function);
        free(s->stacks[i].frames);
    }
    free(s->stacks);
}

const struct coll_stack *coll_session_stack(const struct coll_session *s, uint32_t id)
{
    uint32_t key = id;
    const struct coll_stack *found =
        bsearch(&key, s->stacks, s->n_stacks, sizeof *s->stacks, by_id);
    return found;
}
