/*
 * Python call stacks: the calling thread's CPython frames (3.8 to 3.13),
 * merged into its native stack in place of the interpreter's own frames.
 *
 * omniprof never links or opens libpython: it finds an interpreter already
 * in the process with dlsym(RTLD_DEFAULT), checks that the running version's
 * layout is one it knows, and then reads the calling thread's own frames
 * read-only (python.c), copying file, function and line into its own
 * tables (python_code.c).  No Python API that needs the GIL is called, no
 * Python code runs, no reference is taken.
 *
 * A recorded stack's entry is either a native return address or a Python
 * frame: bit 63 set, the code id (file and function, interned) in bits
 * 32-62 and the line (signed) in bits 0-31.  User-space addresses never
 * have bit 63 set.
 */
#ifndef OMNIPROF_COLLECTOR_PYTHON_H
#define OMNIPROF_COLLECTOR_PYTHON_H

#include "collector.h"

#define COLL_PY_FRAME (1ull << 63)

static inline bool coll_python_frame(uint64_t entry)
{
    return (entry & COLL_PY_FRAME) != 0;
}
/* An entry in place of native frames left out (stack_depth) between the
 * call and the Python frames: code id 0 (no Python code has it), the count
 * in the low 32 bits.  coll_python_frame() is true of it. */
#define COLL_PY_OMITTED COLL_PY_FRAME

/* Control side, at start and as each session starts (serialised by the
 * caller): finds CPython in the process (a libpython opened later is found
 * at the next session) and its layout.  on=false (python_stack=false):
 * stays off.  A process without Python pays one cached check per stack; an
 * unknown version gets one warning and native stacks. */
void coll_python_init(bool on);
/* fork(): the child reads no Python frame until its thread has run Python
 * again (it is then at another frame or instruction than at the fork). */
void coll_python_atfork_prepare(void);
void coll_python_atfork_child(void);

/* ---- step_on=py:MODULE:QUALNAME (python_step.c) ------------------------ */

/* Names the Python function whose every completed call is a step. */
void coll_python_step_on(const char *module, const char *qualname);
/* The control thread, between requests: asks the interpreter (when there
 * is one, running) to install the step in its main thread, until it is
 * installed or cannot be; session: a session is armed or recording (only
 * then does a missing name count towards its one warning).  Returns the ms
 * to wait before the next call, -1 when none is needed. */
int coll_python_step_tick(bool session);
void coll_python_step_atfork_child(void);

/* ---- the record path (stack.c): no lock, no malloc, no syscall --------- */

#define COLL_PY_MAX_FRAMES 256

/* The calling thread's Python frames, innermost first, cut into the runs
 * that one native call of the interpreter's evaluation loop executes. */
struct coll_py_stack {
    int n_frames, n_groups;
    uint64_t frame[COLL_PY_MAX_FRAMES];         /* Python entries (COLL_PY_FRAME) */
    uint16_t group_end[COLL_PY_MAX_FRAMES + 1]; /* run g is frame[end(g-1)..end(g)) */
    /* 3.11+: an address inside the native frame of the evaluation loop that
     * runs group g (its _PyCFrame, or its shim frame); 0: unknown */
    uintptr_t anchor[COLL_PY_MAX_FRAMES + 1];
};

/* Walks at most max of the calling thread's Python frames into s.  Returns
 * how many, 0 when the thread runs no Python code, Python stacks are off or
 * the interpreter is starting or finalising. */
int coll_python_walk(struct coll_py_stack *s, int max);
/* Merges the walk with the native frames nat[0..n) (innermost first, without
 * omniprof's own; cut: the unwind stopped before the stack's end): each
 * evaluation-loop frame becomes its run of Python frames, the interpreter's
 * frames between Python frames are left out.  Of the native frames before
 * the first Python frame, native_cap are kept, and one COLL_PY_OMITTED
 * entry stands for the rest.  Writes at most cap entries to
 * out and returns how many; 0 when the interpreter began finalising
 * meanwhile (the caller keeps the native stack).  *read: how many of nat
 * decided the output, when it filled up before they ran out (the frames
 * further out cannot change it, so an unwind cut there gives the same
 * stack); 0 when it needed them all (a cut unwind must then be redone in
 * full). */
int coll_python_merge(const struct coll_py_stack *s, void *const *nat, int n, bool cut,
                      uint64_t *out, int cap, int native_cap, int *read);

/* ---- collection (control thread) ---------------------------------------- */

/* Fills a Python entry's frame: function = "file.py(LINE): qualname"
 * (malloc'ed), module = "python". */
void coll_python_describe(uint64_t entry, struct coll_frame *frame);
/* Python names lost because omniprof's tables were full. */
uint64_t coll_py_dropped(void);

/* ---- between python*.c only --------------------------------------------- */

/* Offsets into one CPython version's structures (python_layouts.h). */
struct coll_py_layout {
    int minor; /* 3.minor */
    /* thread state -> innermost frame: ts_frame holds the frame, or (when
     * cframe_frame >= 0) a _PyCFrame whose field cframe_frame holds it */
    int ts_frame, cframe_frame;
    /* frames */
    int f_code, f_back, f_instr;
    int instr_kind; /* COLL_PY_LASTI_BYTES, _UNITS or COLL_PY_INSTR_PTR */
    int f_owner;    /* char, -1: none (before 3.11) */
    int f_is_entry; /* bool, 3.11 only; -1: none */
    /* code objects */
    int co_firstlineno, co_filename, co_name, co_qualname; /* qualname -1: none */
    int co_linetable;                                      /* co_lnotab before 3.10 */
    int lines;                               /* COLL_PY_LNOTAB, _LINETABLE or _LOCATIONS */
    int co_firsttraceable, co_code_adaptive; /* 3.11+; -1: none */
    /* str: compact ASCII data, compact non-ASCII data */
    int str_ascii_data, str_data;
    /* sizes checked against the running interpreter's types */
    int code_size, str_size;
    bool debug_offsets; /* _PyRuntime begins with _Py_DebugOffsets (3.13) */
};

enum { COLL_PY_LASTI_BYTES = 1, COLL_PY_LASTI_UNITS, COLL_PY_INSTR_PTR };
enum { COLL_PY_LNOTAB = 1, COLL_PY_LINETABLE, COLL_PY_LOCATIONS };
enum { COLL_PY_OWNED_BY_GENERATOR = 1, COLL_PY_OWNED_BY_CSTACK = 3 };

/* The running interpreter's type objects, set once by coll_python_init. */
struct coll_py_types {
    uintptr_t code, str, bytes;
};

/* python_code.c: the tables (mapped by coll_py_tables_init), and the entry
 * of a code object at a byte offset, its names interned (python.c caches
 * it). */
int coll_py_tables_init(const struct coll_py_layout *l, const struct coll_py_types *t);
uint64_t coll_py_resolve(const unsigned char *code, int64_t offset);
/* Line of a byte offset in a code object's line table (for the tests too). */
int coll_py_line(int kind, const unsigned char *table, int64_t size, int firstlineno,
                 int64_t offset);

#endif
