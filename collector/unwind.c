/*
 * A host-stack unwinder of omniprof's own for the Python case (x86-64):
 * the same frames as libunwind's unw_backtrace, but the outer part of the
 * stack that is provably unchanged since the thread's last capture is not
 * unwound again.
 *
 * Before CPython 3.11 every Python call is 2-3 native frames, so a launch
 * 30 Python frames deep unwinds ~100 of them, ~85 instructions each in
 * libunwind; from one launch of a loop to the next only the innermost few
 * differ.  unw_backtrace gives no frame's stack address to check that
 * against, so this file steps frames itself from each function's DWARF CFI
 * (.eh_frame), reduced to the one kind of row libunwind's fast path also
 * handles: CFA = rsp+K or rbp+K, return address at CFA-8, rbp saved at
 * CFA+N or unchanged.  Rules are cached per address in a fixed lock-free
 * table; anything else (no FDE, an expression, a signal frame, a read out
 * of bounds) makes coll_unwind_backtrace return -1 and the caller uses
 * unw_backtrace for the whole stack.
 *
 * Reuse.  The thread's last capture is kept: each frame's return address
 * (pc), stack pointer on entry to its row (sp) and whether its rule and all
 * rules further out are rsp-based.  When a new capture reaches a frame
 * with the same (pc, sp) as a kept one whose rules out to the end are all
 * rsp-based, the frames further out are a function of those pcs and sps
 * and of the return-address slots *(sp[k+1] - 8) alone (rbp is never
 * read), so when every slot still holds the kept pc they are the same
 * frames: they are copied instead of unwound.
 *
 * Equivalence with libunwind 1.6 (src/x86_64/Gtrace.c, tdep_trace): the
 * first frame (the unwinder's own) is not recorded; each later frame's row
 * is found at pc-1 (the call); a frame whose rule leaves the return address
 * or rbp undefined is the last one (unw_step returned 0); a return address
 * below 0x4000 ends the trace without being recorded.  OMNI_FAST_UNWIND=check
 * (stack.c) computes both ways at every capture and aborts on a difference.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "unwind.h"

/* libgcc_s: the FDE covering pc (dl_find_object, or dl_iterate_phdr on an
 * older glibc, plus the frames registered by JITs); not in <unwind.h>. */
struct dwarf_eh_bases {
    void *tbase, *dbase, *func;
};
extern const void *_Unwind_Find_FDE(void *pc, struct dwarf_eh_bases *bases);

/* ---- rules: one row of CFI, reduced ------------------------------------- */

/* A rule packed in 64 bits so that a table entry's value is one atomic word:
 * bit 0 ready, bit 1 usable (else: fall back), bit 2 last frame, bit 3 CFA
 * is rsp-based (else rbp), bit 4 rbp saved (else unchanged), bits 16-31 rbp's
 * offset from the CFA, bits 32-63 the CFA's offset. */
enum { R_READY = 1, R_OK = 2, R_LAST = 4, R_RSP = 8, R_RBP_SAVED = 16 };

static inline int32_t cfa_off(uint64_t r)
{
    return (int32_t)(r >> 32);
}
static inline int16_t rbp_off(uint64_t r)
{
    return (int16_t)(r >> 16);
}

/* DWARF registers */
enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };
enum { W_SAME, W_UNDEF, W_OFFSET, W_OTHER }; /* where a register is saved */

struct row {
    int cfa_reg;
    int64_t cfa_off;
    uint8_t where[3]; /* rbp, rsp, ra */
    int64_t off[3];
};

static int slot_of(uint64_t reg)
{
    return reg == REG_RBP ? 0 : reg == REG_RSP ? 1 : reg == REG_RA ? 2 : -1;
}

struct reader {
    const uint8_t *p, *end;
    bool bad;
};

static uint64_t uleb(struct reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; r->p < r->end && shift < 64; shift += 7) {
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

static int64_t sleb(struct reader *r)
{
    int64_t v = 0;
    int shift = 0;
    while (r->p < r->end && shift < 64) {
        uint8_t b = *r->p++;
        v |= (int64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (shift < 64 && (b & 0x40))
                v |= -((int64_t)1 << shift);
            return v;
        }
    }
    r->bad = true;
    return 0;
}

static uint64_t fixed(struct reader *r, int bytes)
{
    if (r->end - r->p < bytes) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, r->p, (size_t)bytes); /* little-endian */
    r->p += bytes;
    return v;
}

/* A pointer in encoding enc (DW_EH_PE_*); indirect ones are not followed
 * (only the personality's is, and it is skipped). */
static uint64_t encoded(struct reader *r, uint8_t enc, const struct dwarf_eh_bases *b)
{
    if (enc == 0xff) /* omit */
        return 0;
    const uint8_t *at = r->p;
    uint64_t v;
    switch (enc & 0x0f) {
    case 0x00: v = fixed(r, 8); break;
    case 0x01: v = uleb(r); break;
    case 0x02: v = fixed(r, 2); break;
    case 0x03: v = fixed(r, 4); break;
    case 0x04: v = fixed(r, 8); break;
    case 0x09: v = (uint64_t)sleb(r); break;
    case 0x0a: v = (uint64_t)(int64_t)(int16_t)fixed(r, 2); break;
    case 0x0b: v = (uint64_t)(int64_t)(int32_t)fixed(r, 4); break;
    case 0x0c: v = fixed(r, 8); break;
    default: r->bad = true; return 0;
    }
    switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += (uint64_t)(uintptr_t)at; break;
    case 0x20: v += (uint64_t)(uintptr_t)b->tbase; break;
    case 0x30: v += (uint64_t)(uintptr_t)b->dbase; break;
    case 0x40: v += (uint64_t)(uintptr_t)b->func; break;
    default: r->bad = true; return 0;
    }
    return v;
}

struct cie {
    uint64_t code_align;
    int64_t data_align;
    uint8_t fde_enc;
    bool has_z;
    struct reader init; /* initial instructions */
};

static bool parse_cie(const uint8_t *at, const struct dwarf_eh_bases *b, struct cie *c)
{
    uint32_t len;
    memcpy(&len, at, 4);
    if (len == 0 || len == 0xffffffffu) /* 64-bit DWARF: not emitted on x86-64 */
        return false;
    struct reader r = {at + 4, at + 4 + len, false};
    if (fixed(&r, 4) != 0) /* CIE id */
        return false;
    uint8_t version = (uint8_t)fixed(&r, 1);
    if (version != 1 && version != 3 && version != 4)
        return false;
    const char *aug = (const char *)r.p;
    size_t aug_len = strnlen(aug, (size_t)(r.end - r.p));
    if (r.p + aug_len >= r.end)
        return false;
    r.p += aug_len + 1;
    if (version == 4 && fixed(&r, 2) != 0x0008) /* address size 8, segment 0 */
        return false;
    c->code_align = uleb(&r);
    c->data_align = sleb(&r);
    uint64_t ra = version == 1 ? fixed(&r, 1) : uleb(&r);
    if (ra != REG_RA)
        return false;
    c->fde_enc = 0;
    c->has_z = aug[0] == 'z';
    if (aug[0] && !c->has_z) /* "eh" and other old forms */
        return false;
    if (c->has_z) {
        uint64_t n = uleb(&r);
        const uint8_t *after = r.p + n;
        if (r.bad || n > (uint64_t)(r.end - r.p))
            return false;
        for (const char *a = aug + 1; *a; a++) {
            if (*a == 'R') {
                c->fde_enc = (uint8_t)fixed(&r, 1);
            } else if (*a == 'L') {
                fixed(&r, 1);
            } else if (*a == 'P') {
                uint8_t enc = (uint8_t)fixed(&r, 1);
                encoded(&r, enc & 0x7f, b);
            } else { /* 'S' (a signal frame), 'B', anything unknown */
                return false;
            }
        }
        r.p = after;
    }
    c->init = r;
    return !r.bad;
}

#define STATE_STACK 8

/* Runs CFI instructions until the row for pc; loc: the address the row
 * starts at; init: the CIE's initial row (for DW_CFA_restore). Returns
 * false on anything this file does not handle. */
static bool run_cfi(struct reader *r, const struct cie *c, uint64_t *loc, uint64_t pc,
                    struct row *row, const struct row *init, const struct dwarf_eh_bases *b,
                    struct row *stack, int *depth)
{
    while (r->p < r->end && !r->bad) {
        uint8_t op = *r->p++;
        uint64_t reg, delta = 0;
        int s;
        switch (op & 0xc0) {
        case 0x40: delta = op & 0x3f; goto advance;
        case 0x80:
            s = slot_of(op & 0x3f);
            if (s >= 0) {
                row->where[s] = W_OFFSET;
                row->off[s] = (int64_t)uleb(r) * c->data_align;
            } else {
                uleb(r);
            }
            continue;
        case 0xc0:
            s = slot_of(op & 0x3f);
            if (s >= 0) {
                row->where[s] = init->where[s];
                row->off[s] = init->off[s];
            }
            continue;
        }
        switch (op) {
        case 0x00: continue; /* nop */
        case 0x01: {         /* set_loc */
            uint64_t to = encoded(r, c->fde_enc, b);
            if (pc < to)
                return !r->bad;
            *loc = to;
            continue;
        }
        case 0x02: delta = fixed(r, 1); goto advance;
        case 0x03: delta = fixed(r, 2); goto advance;
        case 0x04: delta = fixed(r, 4); goto advance;
        case 0x05: /* offset_extended */
        case 0x11: /* offset_extended_sf */
            reg = uleb(r);
            s = slot_of(reg);
            {
                int64_t off =
                    op == 0x05 ? (int64_t)uleb(r) * c->data_align : sleb(r) * c->data_align;
                if (s >= 0) {
                    row->where[s] = W_OFFSET;
                    row->off[s] = off;
                }
            }
            continue;
        case 0x06: /* restore_extended */
            s = slot_of(uleb(r));
            if (s >= 0) {
                row->where[s] = init->where[s];
                row->off[s] = init->off[s];
            }
            continue;
        case 0x07: /* undefined */
        case 0x08: /* same_value */
            s = slot_of(uleb(r));
            if (s >= 0)
                row->where[s] = op == 0x07 ? W_UNDEF : W_SAME;
            continue;
        case 0x09: /* register: only for registers this file does not read */
            s = slot_of(uleb(r));
            uleb(r);
            if (s >= 0)
                row->where[s] = W_OTHER;
            continue;
        case 0x0a: /* remember_state */
            if (*depth == STATE_STACK)
                return false;
            stack[(*depth)++] = *row;
            continue;
        case 0x0b: /* restore_state: the CFA rule too, as libunwind 1.6 does */
            if (*depth == 0)
                return false;
            *row = stack[--*depth];
            continue;
        case 0x0c: /* def_cfa */
            row->cfa_reg = (int)uleb(r);
            row->cfa_off = (int64_t)uleb(r);
            continue;
        case 0x12: /* def_cfa_sf */
            row->cfa_reg = (int)uleb(r);
            row->cfa_off = sleb(r) * c->data_align;
            continue;
        case 0x0d: row->cfa_reg = (int)uleb(r); continue;
        case 0x0e: row->cfa_off = (int64_t)uleb(r); continue;
        case 0x13: row->cfa_off = sleb(r) * c->data_align; continue;
        case 0x10: /* expression */
        case 0x16: /* val_expression */
        case 0x14: /* val_offset */
        case 0x15: /* val_offset_sf */
            s = slot_of(uleb(r));
            if (s >= 0) /* rbp, rsp or the return address computed: not handled */
                return false;
            if (op == 0x14)
                uleb(r);
            else if (op == 0x15)
                sleb(r);
            else {
                uint64_t n = uleb(r);
                if (n > (uint64_t)(r->end - r->p))
                    return false;
                r->p += n;
            }
            continue;
        case 0x2e: uleb(r); continue; /* GNU_args_size */
        default: return false;        /* def_cfa_expression and the rest */
        }
    advance:
        if (pc < *loc + delta * c->code_align)
            return !r->bad;
        *loc += delta * c->code_align;
    }
    return !r->bad;
}

/* The rule for pc (a call's address, or the capture point), from its FDE.
 * May call _Unwind_Find_FDE: the first sight of a pc only (the table below
 * keeps the answer), as libunwind itself looks an address up on a miss. */
static uint64_t compute_rule(uintptr_t pc)
{
    struct dwarf_eh_bases b;
    const uint8_t *fde = _Unwind_Find_FDE((void *)pc, &b);
    if (!fde)
        return R_READY;
    uint32_t len, cie_off;
    memcpy(&len, fde, 4);
    memcpy(&cie_off, fde + 4, 4);
    if (len == 0 || len == 0xffffffffu || cie_off == 0)
        return R_READY;
    struct cie c;
    if (!parse_cie(fde + 4 - cie_off, &b, &c))
        return R_READY;
    struct reader r = {fde + 8, fde + 4 + len, false};
    uint64_t start = encoded(&r, c.fde_enc, &b);
    uint64_t range = encoded(&r, c.fde_enc & 0x0f, &b);
    if (r.bad || pc < start || pc >= start + range)
        return R_READY;
    if (c.has_z) {
        uint64_t n = uleb(&r);
        if (r.bad || n > (uint64_t)(r.end - r.p))
            return R_READY;
        r.p += n;
    }
    /* registers not mentioned keep their value (libunwind's default too) */
    struct row row = {.cfa_reg = -1}, init, stack[STATE_STACK];
    int depth = 0;
    uint64_t loc = start;
    struct reader ir = c.init;
    if (!run_cfi(&ir, &c, &loc, UINT64_MAX, &row, &row, &b, stack, &depth))
        return R_READY;
    init = row;
    loc = start;
    if (!run_cfi(&r, &c, &loc, pc, &row, &init, &b, stack, &depth))
        return R_READY;
    /* ends of the call chain (libunwind's unw_step returns 0) */
    if (row.where[2] == W_UNDEF || row.where[0] == W_UNDEF)
        return R_READY | R_OK | R_LAST;
    /* the standard frame of libunwind's fast trace, less saved rsp */
    if ((row.cfa_reg != REG_RSP && row.cfa_reg != 6) || row.cfa_off <= 0 ||
        row.cfa_off >= (1 << 28) || row.where[2] != W_OFFSET || row.off[2] != -8 ||
        row.where[1] != W_SAME)
        return R_READY;
    uint64_t rule = R_READY | R_OK | ((uint64_t)(uint32_t)(int32_t)row.cfa_off << 32);
    if (row.cfa_reg == REG_RSP)
        rule |= R_RSP;
    if (row.where[0] == W_OFFSET) {
        if (row.off[0] <= -(1 << 14) || row.off[0] >= (1 << 14) || row.off[0] == -1)
            return R_READY;
        rule |= R_RBP_SAVED | ((uint64_t)(uint16_t)(int16_t)row.off[0] << 16);
    } else if (row.where[0] != W_SAME) {
        return R_READY;
    }
    return rule;
}

/* pc -> rule, insert-only: a key is claimed once by CAS and never changes;
 * its value is 0 until written (a reader then computes the rule itself), and
 * every writer of a key writes the same word, so no entry is ever torn.  A
 * full neighbourhood leaves the rule uncached (computed each time). */
#define RULES (1u << 14)
#define PROBES 16
static struct {
    _Atomic uintptr_t pc;
    _Atomic uint64_t rule;
} rules[RULES];

static uint64_t rule_of(uintptr_t pc)
{
    uint32_t h = (uint32_t)((pc * 0x9e3779b97f4a7c15ull) >> 40);
    for (uint32_t i = 0; i < PROBES; i++) {
        uint32_t at = (h + i) & (RULES - 1);
        uintptr_t k = atomic_load_explicit(&rules[at].pc, memory_order_acquire);
        if (k == pc) {
            uint64_t v = atomic_load_explicit(&rules[at].rule, memory_order_acquire);
            if (v)
                return v;
            v = compute_rule(pc);
            atomic_store_explicit(&rules[at].rule, v, memory_order_release);
            return v;
        }
        if (k == 0) {
            uintptr_t expected = 0;
            if (!atomic_compare_exchange_strong(&rules[at].pc, &expected, pc) && expected != pc)
                continue;
            uint64_t v = compute_rule(pc);
            atomic_store_explicit(&rules[at].rule, v, memory_order_release);
            return v;
        }
    }
    return compute_rule(pc);
}

/* ---- the threads' last captures ----------------------------------------- */

#define MAX_FRAMES COLL_UNWIND_MAX
#define STACK_SPAN (8u << 20) /* reads stay in [rsp, rsp + 8 MiB), and below the stack's top */

/* ld.so's: where the main thread's stack ends (its highest address). */
extern void *__libc_stack_end;

/* The highest address the calling thread's stack may be read up to, from
 * sp: a thread glibc made keeps its descriptor (pthread_self()) right above
 * its stack; the main thread's stack ends at __libc_stack_end.  A rule gone
 * wrong (a library unloaded and another loaded where it was, whose code the
 * rule cache still knows) can then only give wrong frames, never a read
 * outside the stack.  The lowest of those above sp (the other one is then
 * elsewhere, or the top of another stack), else sp + STACK_SPAN (a stack of
 * the program's own making, a sigaltstack). */
static uintptr_t stack_top(uintptr_t sp)
{
    uintptr_t self = (uintptr_t)pthread_self(), main_end = (uintptr_t)__libc_stack_end;
    uintptr_t top = sp + STACK_SPAN;
    if (self > sp && self < top)
        top = self;
    if (main_end > sp && main_end < top)
        top = main_end;
    return top;
}
#define TAILS 128 /* threads with a kept capture: buffer slots 0..127 */

enum { END_LAST = 1, END_LOW, END_CUT };

struct capture {
    int n;            /* frames, the unwinder's own first */
    int end;          /* END_*: how the unwind ended */
    uintptr_t low_at; /* END_LOW: the slot that held a return address < 0x4000 */
    uintptr_t pc[MAX_FRAMES];
    uintptr_t sp[MAX_FRAMES];
    uint8_t rsp_out[MAX_FRAMES]; /* this frame's rule and all further out are rsp-based */
    uint8_t rsp[MAX_FRAMES];     /* this frame's rule is */
    bool reused;                 /* a tail was copied from the last capture */
};

/* Written by its thread only (the owner of buffer slot i); in a signal
 * handler that interrupts a capture, busy sends the inner one to libunwind.
 * A slot reused by another thread starts afresh (tid). */
static struct tail {
    int32_t tid;
    volatile int busy;
    int cur;            /* which capture is the last one */
    uint64_t counts[3]; /* unwound, of which reused a tail, fell back */
    struct capture c[2];
} tails[TAILS];

static inline uintptr_t load(uintptr_t at)
{
    return *(const volatile uintptr_t *)at;
}

/* Whether old's frames from j on are still the stack's: j's (pc, sp) were
 * matched; each further frame's return-address slot must hold its pc. */
static bool tail_holds(const struct capture *old, int j, uintptr_t hi)
{
    if (!old->rsp_out[j] || old->sp[old->n - 1] >= hi - 8)
        return false;
    for (int k = j + 1; k < old->n; k++)
        if (load(old->sp[k] - 8) != old->pc[k])
            return false;
    return old->end != END_LOW || (old->low_at < hi - 8 && load(old->low_at) < 0x4000);
}

/* Fills now from the capture point; -1 when a frame cannot be stepped. */
static int unwind(struct capture *now, const struct capture *old, uintptr_t pc, uintptr_t sp,
                  uintptr_t bp)
{
    const uintptr_t lo = sp, hi = stack_top(sp);
    int i = 0, j = 0, prev = 0;
    bool reused = false;
    for (;; i++) {
        if (i == MAX_FRAMES) {
            now->n = i;
            now->end = END_CUT;
            break;
        }
        now->pc[i] = pc;
        now->sp[i] = sp;
        if (i > 0 && old) {
            while (j < old->n && old->sp[j] < sp)
                j++;
            if (j < old->n && old->sp[j] == sp && old->pc[j] == pc &&
                (old->end != END_CUT || i + old->n - j >= MAX_FRAMES) && tail_holds(old, j, hi)) {
                int take = old->n - j < MAX_FRAMES - i ? old->n - j : MAX_FRAMES - i;
                memcpy(&now->pc[i], &old->pc[j], (size_t)take * sizeof *now->pc);
                memcpy(&now->sp[i], &old->sp[j], (size_t)take * sizeof *now->sp);
                memcpy(&now->rsp[i], &old->rsp[j], (size_t)take);
                memcpy(&now->rsp_out[i], &old->rsp_out[j], (size_t)take);
                now->n = i + take;
                now->end = i + take == MAX_FRAMES && take < old->n - j ? END_CUT : old->end;
                now->low_at = old->low_at;
                reused = true;
                break;
            }
        }
        uint64_t r = rule_of(pc - (uintptr_t)prev);
        if (!(r & R_OK))
            return -1;
        if (r & R_LAST) {
            now->rsp[i] = 1;
            now->n = i + 1;
            now->end = END_LAST;
            break;
        }
        uintptr_t cfa = ((r & R_RSP) ? sp : bp) + (uintptr_t)(intptr_t)cfa_off(r);
        uintptr_t bp_at = cfa + (uintptr_t)(intptr_t)rbp_off(r);
        if (cfa <= sp || cfa - 8 < lo || cfa >= hi ||
            ((r & R_RBP_SAVED) && (bp_at < lo || bp_at >= hi - 8)))
            return -1;
        now->rsp[i] = (r & R_RSP) != 0;
        uintptr_t ra = load(cfa - 8);
        if (r & R_RBP_SAVED)
            bp = load(bp_at);
        sp = cfa;
        pc = ra;
        prev = 1;
        if (ra < 0x4000) {
            now->n = i + 1;
            now->end = END_LOW;
            now->low_at = cfa - 8;
            break;
        }
    }
    /* a copied tail's flags stand (frames i on); the stepped frames' are set
     * outwards in; the last frame's rule was applied unless it was the end */
    int k = reused ? i - 1 : now->n - 2;
    if (!reused)
        now->rsp_out[now->n - 1] = now->end == END_LAST || now->rsp[now->n - 1];
    for (; k >= 0; k--)
        now->rsp_out[k] = now->rsp[k] && now->rsp_out[k + 1];
    now->reused = reused;
    return now->n;
}

__attribute__((noinline)) int coll_unwind_backtrace(void **buf, int size)
{
    int slot = coll_record_slot_index();
    if (slot < 0 || slot >= TAILS || size <= 0)
        return -1;
    struct tail *t = &tails[slot];
    if (t->busy)
        return -1;
    t->busy = 1;
    atomic_signal_fence(memory_order_seq_cst);
    int32_t tid = coll_thread_id();
    const struct capture *old = &t->c[t->cur];
    if (t->tid != tid) {
        t->tid = tid;
        t->c[0].n = t->c[1].n = 0;
    }
    uintptr_t pc, sp, bp;
    __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
                     : "=r"(pc), "=r"(sp), "=r"(bp));
    struct capture *now = &t->c[!t->cur];
    int n = unwind(now, old->n ? old : NULL, pc, sp, bp);
    t->counts[n > 0 ? 0 : 2]++;
    if (n > 0) {
        t->counts[1] += now->reused;
        t->cur = !t->cur;
        /* frame 0 is this function's own: not recorded, as in unw_backtrace */
        n = n - 1 < size ? n - 1 : size;
        for (int k = 0; k < n; k++)
            buf[k] = (void *)now->pc[k + 1];
    } else {
        n = -1; /* the last capture stays kept */
    }
    atomic_signal_fence(memory_order_seq_cst);
    t->busy = 0;
    return n;
}

void coll_unwind_counts(uint64_t out[3])
{
    out[0] = out[1] = out[2] = 0;
    for (int i = 0; i < TAILS; i++)
        for (int k = 0; k < 3; k++)
            out[k] += tails[i].counts[k];
}
