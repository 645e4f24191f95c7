/*
 * Python call stacks: finding CPython in the process, walking the calling
 * thread's frames, and merging them into its native stack.
 *
 * Finding (coll_python_init, control side, at start and at each session
 * start until found): dlsym(RTLD_DEFAULT) of the few names every 3.8-3.13
 * build exports, whether libpython is a shared
 * library (pyenv) or linked into the executable (Debian's /usr/bin/python3);
 * the version from Py_Version (3.11+) or Py_GetVersion(); its layout
 * (python_layouts.h) checked against the sizes of the running interpreter's
 * code and str types (and 3.13's _Py_DebugOffsets); the address ranges of
 * the interpreter's code and of _PyEval_EvalFrameDefault.
 *
 * Walking (record path, the calling thread only): the thread's own state
 * comes from PyGILState_GetThisThreadState (a thread-specific key: no lock,
 * right with the GIL held or released; NULL on a thread that never ran
 * Python).  Its frames do not change while the thread is inside the C call
 * being recorded; they are read through the layout, and each (code, offset)
 * becomes an interned entry (python_code.c).  Py_IsInitialized and the
 * finalising flag are checked before the walk and again after it (merge):
 * at shutdown a thread state may be freed soon after finalising begins.
 *
 * Merging: each native frame of _PyEval_EvalFrameDefault is replaced by the
 * Python frames that call executes (one frame before 3.11; from 3.11 the
 * frames up to the one it was entered with: 3.11 marks it is_entry, 3.12+
 * puts a shim frame owned by the C stack below it).  The interpreter's other
 * frames from the innermost evaluation loop outwards are left out, so that
 * a line that launches gives one stack however the interpreter got there
 * (3.11+ specialises its calls: different C paths, the same Python frames).
 * Native frames of other libraries between Python frames stay in place.
 * A stripped build's evaluation loop may call out from a part that has no
 * symbol (.cold): 3.11+ then finds the loop's frames by where their
 * _PyCFrame or shim frame lives on the C stack (find_hosts), once.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "python.h"
#include "python_layouts.h"

/* Set once by coll_python_init (control side), then published by on (the
 * record path's one check, acquire: a libpython found at a later session
 * start may be published while threads record); read-only afterwards. */
static struct {
    int layout; /* PY38 ... PY313 */
    void *(*this_thread_state)(void);
    int (*initialized)(void);
    int (*finalizing)(void);
    uintptr_t code_type;
    uintptr_t eval_lo, eval_size; /* _PyEval_EvalFrameDefault */
    uintptr_t text_lo, text_size; /* the interpreter's code */
} py;
static _Atomic int on;

/* fork: the forking thread's place in Python when it forked; the child
 * reads no frame while its thread is still there (set by the child handler,
 * cleared by the first walk that finds the thread elsewhere). */
static struct {
    uintptr_t tstate, frame, instr;
} fork_mark;
static _Atomic int fork_hold;

#define RD(type, p) (*(const type *)(uintptr_t)(p))

/* ---- the cache of call sites ----------------------------------------- */

/* (code pointer, offset) -> entry, direct-mapped, mapped by coll_python_init.
 * A slot also holds the code's filename, name and line-table pointers and
 * its first line, compared at each hit: code objects' addresses are reused.
 * seq is odd while a writer fills the slot; a reader that sees it odd or
 * changed takes the slow path (python_code.c) without waiting. */
#define SITE_SLOTS (1u << 14)

struct site {
    _Atomic uint32_t seq;
    _Atomic int32_t firstlineno;
    _Atomic uint64_t code, offset, filename, name, table, entry;
    uint64_t pad; /* one cache line */
};
static struct site *sites;

/* A miss: the slow path, and the slot filled unless another writer has it. */
static __attribute__((noinline)) uint64_t fill(struct site *s, uint32_t seq, uintptr_t code,
                                               int64_t off, uintptr_t filename, uintptr_t name,
                                               uintptr_t table, int32_t first)
{
    uint64_t e = coll_py_resolve((const unsigned char *)code, off);
    if (!(seq & 1) && atomic_compare_exchange_strong_explicit(
                          &s->seq, &seq, seq + 1, memory_order_relaxed, memory_order_relaxed)) {
        atomic_thread_fence(memory_order_release);
        atomic_store_explicit(&s->code, code, memory_order_relaxed);
        atomic_store_explicit(&s->offset, (uint64_t)off, memory_order_relaxed);
        atomic_store_explicit(&s->filename, filename, memory_order_relaxed);
        atomic_store_explicit(&s->name, name, memory_order_relaxed);
        atomic_store_explicit(&s->table, table, memory_order_relaxed);
        atomic_store_explicit(&s->firstlineno, first, memory_order_relaxed);
        atomic_store_explicit(&s->entry, e, memory_order_relaxed);
        atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
    }
    return e;
}

static inline __attribute__((always_inline)) uint64_t locate(const struct coll_py_layout *l,
                                                             uintptr_t code, int64_t off)
{
    uintptr_t filename = RD(uintptr_t, code + l->co_filename),
              name = RD(uintptr_t, code + (l->co_qualname >= 0 ? l->co_qualname : l->co_name)),
              table = RD(uintptr_t, code + l->co_linetable);
    int32_t first = RD(int32_t, code + l->co_firstlineno);
    uint64_t h = ((uint64_t)code ^ ((uint64_t)off << 40)) * 0x9E3779B97F4A7C15ull;
    struct site *s = &sites[(h >> 40) & (SITE_SLOTS - 1)];
    uint32_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    uint64_t e = atomic_load_explicit(&s->entry, memory_order_relaxed);
    if (atomic_load_explicit(&s->code, memory_order_relaxed) == code &&
        atomic_load_explicit(&s->offset, memory_order_relaxed) == (uint64_t)off &&
        atomic_load_explicit(&s->filename, memory_order_relaxed) == filename &&
        atomic_load_explicit(&s->name, memory_order_relaxed) == name &&
        atomic_load_explicit(&s->table, memory_order_relaxed) == table &&
        atomic_load_explicit(&s->firstlineno, memory_order_relaxed) == first && !(seq & 1)) {
        atomic_thread_fence(memory_order_acquire);
        if (__builtin_expect(atomic_load_explicit(&s->seq, memory_order_relaxed) == seq, 1))
            return e;
    }
    return fill(s, seq, code, off, filename, name, table, first);
}

/* ---- finding the interpreter ------------------------------------------- */

/* The span of the executable segments of the object that holds *arg. */
static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t here = *(uintptr_t *)arg, lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            uintptr_t a = info->dlpi_addr + ph->p_vaddr;
            lo = a < lo ? a : lo;
            hi = a + ph->p_memsz > hi ? a + ph->p_memsz : hi;
        }
    }
    if (here < lo || here >= hi)
        return 0;
    py.text_lo = lo;
    py.text_size = hi - lo;
    return 1;
}

/* "3.10.13 (main, ...": the version of an interpreter before 3.11. */
static bool parse_version(const char *s, int *major, int *minor)
{
    return s && sscanf(s, "%d.%d", major, minor) == 2;
}

static inline int type_basicsize(uintptr_t type)
{
    return (int)RD(intptr_t, type + 32); /* PyTypeObject.tp_basicsize */
}

void coll_python_init(bool enable)
{
    static bool settled; /* found, or found unreadable (said once); control side only */
    if (!enable || settled)
        return;
    void *initialized = dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    if (!initialized)
        return; /* no Python (yet): the record path's check stays false */
    settled = true;
    int major = 0, minor = 0;
    const uint32_t *hex = dlsym(RTLD_DEFAULT, "Py_Version");
    const char *(*get_version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
    if (hex) {
        major = (int)(*hex >> 24);
        minor = (int)((*hex >> 16) & 0xFF);
    } else if (!get_version || !parse_version(get_version(), &major, &minor)) {
        coll_log(COLL_LOG_WARN, "python", "cannot tell this Python's version; stacks stay native");
        return;
    }
    const struct coll_py_layout *l = layout_of(major, minor);
    void *tstate = dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
    void *finalizing = dlsym(RTLD_DEFAULT, minor >= 13 ? "Py_IsFinalizing" : "_Py_IsFinalizing");
    uintptr_t code = (uintptr_t)dlsym(RTLD_DEFAULT, "PyCode_Type");
    uintptr_t str = (uintptr_t)dlsym(RTLD_DEFAULT, "PyUnicode_Type");
    uintptr_t bytes = (uintptr_t)dlsym(RTLD_DEFAULT, "PyBytes_Type");
    void *eval = dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
    void *runtime = dlsym(RTLD_DEFAULT, "_PyRuntime");
    if (!l) {
        coll_log(COLL_LOG_WARN, "python",
                 "Python %d.%d's frame layout is unknown to omniprof (3.8 to 3.13 are known); "
                 "stacks stay native",
                 major, minor);
        return;
    }
    if (!tstate || !finalizing || !code || !str || !bytes || !eval ||
        type_basicsize(code) != l->code_size || type_basicsize(str) != l->str_size ||
        type_basicsize(bytes) != 33 || !matches_debug_offsets(l, runtime)) {
        coll_log(COLL_LOG_WARN, "python",
                 "this Python %d.%d is not a build omniprof can read (a debug or free-threaded "
                 "build?); stacks stay native",
                 major, minor);
        return;
    }
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    uintptr_t at = (uintptr_t)eval;
    if (!dladdr1(eval, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || sym->st_size == 0 ||
        !dl_iterate_phdr(find_text, &at)) {
        coll_log(COLL_LOG_WARN, "python",
                 "cannot find Python's evaluation loop; stacks stay native");
        return;
    }
    struct coll_py_types t = {.code = code, .str = str, .bytes = bytes};
    sites = mmap(NULL, SITE_SLOTS * sizeof *sites, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (sites == MAP_FAILED || coll_py_tables_init(l, &t) < 0) {
        coll_log(COLL_LOG_ERROR, "python", "cannot map the Python tables; stacks stay native");
        return;
    }
    py.layout = (int)(l - layouts);
    py.this_thread_state = (void *(*)(void))tstate;
    py.initialized = (int (*)(void))initialized;
    py.finalizing = (int (*)(void))finalizing;
    py.code_type = code;
    py.eval_lo = (uintptr_t)eval;
    py.eval_size = sym->st_size;
    atomic_store_explicit(&on, 1, memory_order_release);
    coll_log(COLL_LOG_DEBUG, "python", "Python %d.%d found: Python frames in stacks", major, minor);
}

/* ---- walking ------------------------------------------------------------ */

static inline bool running(void)
{
    return py.initialized() && !py.finalizing();
}

static uintptr_t top_frame(const struct coll_py_layout *l, uintptr_t ts)
{
    uintptr_t f = RD(uintptr_t, ts + l->ts_frame);
    if (l->cframe_frame >= 0 && f)
        f = RD(uintptr_t, f + l->cframe_frame);
    return f;
}

static inline uintptr_t instr_of(const struct coll_py_layout *l, uintptr_t f)
{
    return l->instr_kind == COLL_PY_INSTR_PTR ? RD(uintptr_t, f + l->f_instr)
                                              : (uintptr_t)RD(int32_t, f + l->f_instr);
}

/* The walk, compiled once per layout (l is a constant where it is inlined):
 * frames from f outwards, at most max of them. */
static inline __attribute__((always_inline)) void
walk(const struct coll_py_layout *l, uintptr_t ts, uintptr_t f, struct coll_py_stack *s, int max)
{
    int n = 0, g = 0;
    /* 3.11: each evaluation loop's _PyCFrame, innermost first (the last,
     * the thread state's own, has no previous) */
    uintptr_t cframe = l->minor == 11 ? RD(uintptr_t, ts + l->ts_frame) : 0;
    for (int guard = 0; f && guard < 4 * COLL_PY_MAX_FRAMES && n < max; guard++) {
        int owner = l->f_owner >= 0 ? RD(unsigned char, f + l->f_owner) : 0;
        bool ends_loop = l->minor < 11; /* one evaluation loop per frame */
        uintptr_t anchor = 0;
        if (l->minor >= 12 && owner == COLL_PY_OWNED_BY_CSTACK) {
            ends_loop = true; /* the shim below an evaluation loop's first frame */
            anchor = f;       /* a local of that loop's native frame */
        } else {
            uintptr_t code = RD(uintptr_t, f + l->f_code);
            /* 3.13: f_executable need not be code */
            if (code && RD(uintptr_t, code + 8) == py.code_type) {
                int64_t off;
                bool shown = true;
                if (l->instr_kind == COLL_PY_INSTR_PTR) {
                    uintptr_t start = code + (uintptr_t)l->co_code_adaptive;
                    uintptr_t ip = RD(uintptr_t, f + l->f_instr);
                    /* not started yet: 3.13's __init__ shim, a 3.11 generator
                     * prologue (Python's own tracebacks hide them too) */
                    shown = owner == COLL_PY_OWNED_BY_GENERATOR ||
                            ip >= start + 2 * (uintptr_t)RD(int32_t, code + l->co_firsttraceable);
                    off = (int64_t)(ip - start);
                } else {
                    off = RD(int32_t, f + l->f_instr);
                    if (l->instr_kind == COLL_PY_LASTI_UNITS && off > 0)
                        off *= 2;
                }
                if (shown)
                    s->frame[n++] = locate(l, code, off);
            }
            if (l->f_is_entry >= 0 && RD(unsigned char, f + l->f_is_entry)) {
                ends_loop = true;
                uintptr_t previous = cframe ? RD(uintptr_t, cframe + l->cframe_frame + 8) : 0;
                anchor = previous ? cframe : 0;
                cframe = previous;
            }
        }
        if (ends_loop && g < COLL_PY_MAX_FRAMES) {
            s->anchor[g] = anchor;
            s->group_end[g++] = (uint16_t)n;
        }
        f = RD(uintptr_t, f + l->f_back);
    }
    if (n && (g == 0 || s->group_end[g - 1] != n)) {
        uintptr_t previous = cframe ? RD(uintptr_t, cframe + l->cframe_frame + 8) : 0;
        s->anchor[g] = previous ? cframe : 0; /* cut short: 3.11 still knows its loop */
        s->group_end[g++] = (uint16_t)n;
    }
    s->n_frames = n;
    s->n_groups = g;
}

int coll_python_walk(struct coll_py_stack *s, int max)
{
    if (!atomic_load_explicit(&on, memory_order_acquire))
        return 0;
    s->n_frames = s->n_groups = 0;
    if (!running())
        return 0;
    uintptr_t ts = (uintptr_t)py.this_thread_state();
    const struct coll_py_layout *l = &layouts[py.layout];
    uintptr_t f = ts ? top_frame(l, ts) : 0;
    if (!f)
        return 0;
    if (atomic_load_explicit(&fork_hold, memory_order_relaxed)) {
        if (ts == fork_mark.tstate && f == fork_mark.frame && instr_of(l, f) == fork_mark.instr)
            return 0; /* a fork child that has not run Python since */
        atomic_store_explicit(&fork_hold, 0, memory_order_relaxed);
    }
    if (max > COLL_PY_MAX_FRAMES)
        max = COLL_PY_MAX_FRAMES;
    switch (py.layout) {
    case PY38: walk(&layouts[PY38], ts, f, s, max); break;
    case PY39: walk(&layouts[PY39], ts, f, s, max); break;
    case PY310: walk(&layouts[PY310], ts, f, s, max); break;
    case PY311: walk(&layouts[PY311], ts, f, s, max); break;
    case PY312: walk(&layouts[PY312], ts, f, s, max); break;
    case PY313: walk(&layouts[PY313], ts, f, s, max); break;
    }
    return s->n_frames;
}

/* ---- merging ------------------------------------------------------------ */

/* Parts of the evaluation loop outside its symbol's range (a build's cold
 * part, .cold, has no symbol when the binary is stripped), learned from
 * anchored stacks (find_hosts): [lo, hi), published when hi is set. */
#define MAX_COLD 4
static struct {
    _Atomic uintptr_t lo, hi;
} cold[MAX_COLD];
static _Atomic int n_cold;

static bool in_cold(uintptr_t ip, int n)
{
    for (int i = 0; i < n; i++) {
        uintptr_t hi = atomic_load_explicit(&cold[i].hi, memory_order_acquire);
        if (ip < hi && ip >= atomic_load_explicit(&cold[i].lo, memory_order_relaxed))
            return true;
    }
    return false;
}

/* nat[i] is a return address: the call is just before it.  n: n_cold. */
static inline bool in_eval(void *ret, int n)
{
    uintptr_t ip = (uintptr_t)ret - 1;
#ifdef OMNIPROF_TEST_ANCHORS /* a test build: the symbol is not trusted, anchors find it */
    return n && in_cold(ip, n);
#endif
    return ip - py.eval_lo < py.eval_size || (n && in_cold(ip, n));
}

static inline bool in_interpreter(void *ret)
{
    return (uintptr_t)ret - 1 - py.text_lo < py.text_size;
}

static void learn_cold(uintptr_t lo, uintptr_t hi)
{
    int n = atomic_load(&n_cold);
    for (int i = 0; i < n; i++)
        if (atomic_load(&cold[i].lo) == lo)
            return;
    int i = atomic_fetch_add(&n_cold, 1);
    if (i >= MAX_COLD) {
        atomic_store(&n_cold, MAX_COLD);
        return;
    }
    atomic_store_explicit(&cold[i].lo, lo, memory_order_relaxed);
    atomic_store_explicit(&cold[i].hi, hi, memory_order_release);
}

/* The rare path, when fewer evaluation loops were recognised among the
 * native frames than the walk found (3.11+ only, which knows where each
 * loop's native frame is): unwinds again with the stack pointers, and marks
 * in host[] the frame holding each group's anchor.  A marked frame outside
 * the loop's symbol is a part of it that has none: its range is learned, so
 * that the fast path knows it from then on.  False when the frames do not
 * line up as expected (the caller then merges by addresses). */
static bool find_hosts(const struct coll_py_stack *s, void *const *nat, int n, uint8_t *host)
{
    enum { MAX = 2 * COLL_PY_MAX_FRAMES };
    uintptr_t sp[MAX + 1];
    unw_context_t uc;
    unw_cursor_t c;
    unw_word_t ip = 0, v;
    if (n > MAX || unw_getcontext(&uc) < 0 || unw_init_local(&c, &uc) < 0)
        return false;
    for (int guard = 0; guard < 64; guard++) { /* omniprof's own frames */
        if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || (void *)(uintptr_t)ip == nat[0] ||
            unw_step(&c) <= 0)
            break;
    }
    if ((void *)(uintptr_t)ip != nat[0])
        return false;
    /* sp[i]: the stack pointer in frame i when its callee returns; frame i
     * spans [sp[i], sp[i + 1]) */
    int m = 0;
    bool more = true;
    while (m < n && more) {
        if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || (void *)(uintptr_t)ip != nat[m] ||
            unw_get_reg(&c, UNW_REG_SP, &v) < 0)
            return false;
        sp[m++] = (uintptr_t)v;
        more = unw_step(&c) > 0;
    }
    sp[m] = more && unw_get_reg(&c, UNW_REG_SP, &v) == 0 ? (uintptr_t)v : UINTPTR_MAX;
    memset(host, 0, (size_t)n);
    int at = 0;
    for (int g = 0; g < s->n_groups; g++) {
        uintptr_t a = s->anchor[g];
        if (!a)
            return g == s->n_groups - 1; /* only a walk cut short ends unknown */
        while (at < m && !(sp[at] <= a && a < sp[at + 1]))
            at++;
        if (at == m || !in_interpreter(nat[at]))
            return false;
        host[at] = 1;
        if (!in_eval(nat[at], atomic_load(&n_cold))) {
            unw_proc_info_t pi;
            if (unw_get_proc_info_by_ip(unw_local_addr_space, (unw_word_t)nat[at] - 1, &pi, NULL) ==
                    0 &&
                in_interpreter((void *)(uintptr_t)(pi.start_ip + 1)) && pi.end_ip > pi.start_ip &&
                pi.end_ip - pi.start_ip < (1u << 20)) /* a part of one function */
                learn_cold((uintptr_t)pi.start_ip, (uintptr_t)pi.end_ip);
        }
        at++;
    }
    return true;
}

/* The first native frames of a stack with Python frames, those between
 * the call and the program's innermost Python frame, are kept up to
 * native_cap (stack_depth); the Python frames after them are kept whole,
 * as torch.profiler shows them (PyTorch's dispatcher alone can be 30 frames
 * deep between a kernel's launch and the Python line that asked for it).
 * Those left out are counted, and one entry says how many. */
struct first_frames {
    int omitted;     /* native frames left out */
    int interpreter; /* of them, the run of the interpreter's last left out */
};

/* nat[i], one of the first native frames: into out, or counted out. */
static void first_frame(struct first_frames *ff, void *frame, uint64_t *out, int *k, int native_cap)
{
    if (*k < native_cap && !ff->omitted) {
        out[(*k)++] = (uint64_t)(uintptr_t)frame;
        return;
    }
    ff->omitted++;
    ff->interpreter = in_interpreter(frame) ? ff->interpreter + 1 : 0;
}

/* Where the first native frames end (an evaluation loop, or the Python
 * frames placed without one): the entry saying how many were left out (the
 * interpreter's own right above the Python frames are left out of every
 * stack, so they are not counted); without one, the interpreter's frames
 * copied last are taken back. */
static void first_frames_end(const struct first_frames *ff, uint64_t *out, int *k, int cap)
{
    int left_out = ff->omitted - ff->interpreter;
    if (left_out > 0 && *k < cap)
        out[(*k)++] = COLL_PY_OMITTED | (uint32_t)left_out;
    else if (left_out <= 0)
        while (*k > 0 && in_interpreter((void *)(uintptr_t)out[*k - 1]))
            (*k)--;
}

/* No evaluation loop among the native frames (a custom evaluator, or an
 * unwind cut short): the Python frames go where the interpreter's first
 * frames are, in place of them. */
static int merge_unanchored(const struct coll_py_stack *s, void *const *nat, int n, bool cut,
                            uint64_t *out, int cap, int native_cap)
{
    int k = 0, i = 0;
    struct first_frames ff = {0};
    for (; i < n && !in_interpreter(nat[i]) && k < cap; i++)
        first_frame(&ff, nat[i], out, &k, native_cap);
    if (ff.omitted && k < cap)
        out[k++] = COLL_PY_OMITTED | (uint32_t)ff.omitted;
    for (; i < n && in_interpreter(nat[i]); i++)
        ;
    for (int j = 0; j < s->n_frames && k < cap; j++)
        out[k++] = s->frame[j];
    for (; i < n && k < cap && !cut; i++)
        out[k++] = (uint64_t)(uintptr_t)nat[i];
    return k;
}

/* One pass.  Native frames above the innermost evaluation loop are copied
 * as they come (the interpreter's right above it are taken back when it is
 * met); frames after an evaluation loop wait (pending) until the next one,
 * which keeps only those of other libraries, or the end, which keeps them
 * all: they entered the interpreter.  host: the evaluation loops' frames
 * when known (find_hosts), else recognised by address.  *short_of_loops:
 * all frames were seen and some groups found no loop.  *read: how many
 * native frames the output took when it filled up (cap entries, an
 * evaluation loop met): the frames further out cannot change it; 0 when it
 * did not fill. */
static int merge(const struct coll_py_stack *s, void *const *nat, int n, bool cut,
                 const uint8_t *host, uint64_t *out, int cap, int native_cap, bool *short_of_loops,
                 int *read)
{
    int k = 0, g = 0, from = 0, pending = -1, i = 0;
    struct first_frames ff = {0};
    int learned = atomic_load_explicit(&n_cold, memory_order_acquire);
    for (; i < n && k < cap; i++) {
        if (!(host ? host[i] : in_eval(nat[i], learned))) {
            if (pending < 0)
                first_frame(&ff, nat[i], out, &k, native_cap);
            continue;
        }
        if (pending < 0) {
            first_frames_end(&ff, out, &k, cap);
        } else {
            for (int j = pending; j < i && k < cap; j++)
                if (!in_interpreter(nat[j]))
                    out[k++] = (uint64_t)(uintptr_t)nat[j];
        }
        if (g < s->n_groups) {
            int end = s->group_end[g++];
            if (end == from + 1 && k < cap) /* always before 3.11 */
                out[k++] = s->frame[from++];
            else
                while (from < end && k < cap)
                    out[k++] = s->frame[from++];
        }
        pending = i + 1;
    }
    *read = k == cap && pending >= 0 ? i : 0;
    *short_of_loops = i == n && !cut && g < s->n_groups;
    if (pending < 0)
        return merge_unanchored(s, nat, n, cut, out, cap, native_cap);
    while (from < s->n_frames && k < cap) /* more runs than loops found */
        out[k++] = s->frame[from++];
    /* unless the unwind was cut short: then these are the interpreter's
     * frames between two Python frames */
    for (int j = pending; j < n && k < cap && !cut; j++)
        out[k++] = (uint64_t)(uintptr_t)nat[j];
    return k;
}

int coll_python_merge(const struct coll_py_stack *s, void *const *nat, int n, bool cut,
                      uint64_t *out, int cap, int native_cap, int *read)
{
    bool short_of_loops;
    int k = merge(s, nat, n, cut, NULL, out, cap, native_cap, &short_of_loops, read);
    uint8_t host[2 * COLL_PY_MAX_FRAMES];
    if (short_of_loops && layouts[py.layout].minor >= 11 && find_hosts(s, nat, n, host))
        k = merge(s, nat, n, cut, host, out, cap, native_cap, &short_of_loops, read);
    return running() ? k : 0;
}

/* ---- fork --------------------------------------------------------------- */

void coll_python_atfork_prepare(void)
{
    fork_mark.tstate = fork_mark.frame = fork_mark.instr = 0;
    if (!atomic_load_explicit(&on, memory_order_acquire) || !running())
        return;
    const struct coll_py_layout *l = &layouts[py.layout];
    uintptr_t ts = (uintptr_t)py.this_thread_state();
    uintptr_t f = ts ? top_frame(l, ts) : 0;
    fork_mark.tstate = ts;
    fork_mark.frame = f;
    fork_mark.instr = f ? instr_of(l, f) : 0;
}

void coll_python_atfork_child(void)
{
    if (atomic_load_explicit(&on, memory_order_acquire))
        atomic_store_explicit(&fork_hold, 1, memory_order_relaxed);
}
