/*
 * omniprof diff's parts:
 *   cmd_diff.c   the command and its tables;
 *   diff_read.c  each side's traces read into (row, stage) cells;
 *   diff_rows.c  what is not about files: the cells' table, the names rows
 *                are made of, the innermost range enclosing an instant.
 */
#ifndef OMNIPROF_DIFF_H
#define OMNIPROF_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_reader.h"
#include "trace_set.h"

/* ---- rows: a hash table keyed by (name, group) ---------------------------- */

struct diff_cell {
    const char *name; /* interned; NULL: an empty slot */
    int64_t group;    /* a stage, or a pid until the stage is known */
    uint64_t calls, ns;
};

struct diff_table {
    struct diff_cell *v; /* cap slots, a power of two, at most half full */
    size_t cap, n;
};

/* The cell of (name, group), made on first use; NULL when out of memory. */
struct diff_cell *diff_cell(struct diff_table *t, const char *name, int64_t group);
void diff_table_free(struct diff_table *t);

/* ---- names ------------------------------------------------------------------ */

/* A kernel's row name, malloc'd: demangled when it is a mangled C++ name
 * ("_Z..."), and with --group-templates every outermost <...> written as
 * "<...>" (names whose brackets do not balance are kept whole). */
char *diff_kernel_name(const char *raw, bool group_templates);
/* Whether s looks like a Python frame, "path/file.py(123): function". */
bool diff_python_frame(const char *s);
/* The innermost Python frame of a "Call stack" value (omniprof's array of
 * frames, innermost first, or Kineto's "a;b;c" text) into buf. */
bool diff_call_stack_python(const struct tr_value *stack, char *buf, size_t cap);

/* ---- enclosing ranges --------------------------------------------------------- */

/* A track: a (pid, tid) pair, each a number or an interned string. */
struct diff_track {
    int64_t pid, tid;
    uint8_t strs; /* bit 0: pid is a string pointer; bit 1: tid */
};
struct diff_track diff_track_of(const struct tr_event *ev);

struct diff_span {
    struct diff_track track;
    int64_t start, end;
    const char *name;
};

struct diff_query {
    struct diff_track track;
    int64_t at;
    size_t ref;        /* the caller's */
    const char *found; /* the innermost span of the track holding `at`, or NULL */
};

/* Sets each query's found; sorts both arrays.  0 or -ENOMEM. */
int diff_enclose(struct diff_span *spans, size_t n_spans, struct diff_query *q, size_t n_q);

/* ---- reading a side (diff_read.c) ---------------------------------------- */

enum diff_by { DIFF_BY_KERNEL, DIFF_BY_STAGE, DIFF_BY_PYTHON, DIFF_BY_NVTX };

struct diff_names {
    const char *X, *kernel, *gpu_memcpy, *gpu_memset, *cuda_runtime, *cuda_driver;
    const char *python_function, *user_annotation, *gpu_user_annotation, *mergedPids;
    const char *correlation, *call_stack, *copy_kind, *value, *input, *stage, *empty;
    const char *no_python, *no_nvtx;
};

/* A GPU record and a launch, kept for python and nvtx while their file is
 * read: joined by (input, correlation) at its end, input being which input
 * of a merged trace the pid came from (0 in any other trace). */
struct diff_gpu {
    int64_t pid, corr, dur;
};
struct diff_launch {
    int64_t pid, input, corr;
    uint64_t dur;
    bool counted;       /* its host time is a row when no side has GPU activity */
    const char *python; /* from its call stack */
    const char *found;  /* its row, once resolved */
};

/* What one side (BEFORE or AFTER) adds up to. */
struct diff_side {
    const char *arg;
    size_t files;
    uint64_t gpu_records, api_calls, host_records;
    struct diff_table gpu, host; /* by (row, stage) */
    bool stages;                 /* some process had a stage */
};

struct diff {
    enum diff_by by;
    bool templates;
    struct diff_names is;
    struct tr_reader *r;
    struct diff_table raw_rows; /* raw kernel name -> row name (group 0) via .calls */
    const char **row_names;     /* rows made by diff_kernel_name, by raw_rows' calls - 1 */
    size_t n_row_names, cap_row_names;

    /* the file being read */
    const struct cli_trace *t;
    struct diff_side *side;
    struct diff_table fgpu, fhost;          /* by (row, pid) */
    struct diff_table pid_input, pid_stage; /* merged traces: by (empty, pid) */
    struct diff_gpu *recs;
    size_t n_recs, cap_recs;
    struct diff_query *gq, *lq; /* GPU records' and launches' instants */
    size_t n_gq, cap_gq, n_lq, cap_lq;
    struct diff_launch *launches;
    size_t n_launches, cap_launches;
    struct diff_span *spans;
    size_t n_spans, cap_spans;
    int64_t pending_pid; /* mergedPids: the pid whose members come */
};

/* The names diff compares by pointer, interned in d->r; 0 or -ENOMEM. */
int diff_names(struct diff *d);
/* Reads every trace of s->arg (a trace, a directory, a merged trace) into
 * s->gpu and s->host; 0, or -1 after one message. */
int diff_read_side(struct diff *d, struct diff_side *s);
/* Frees what reading kept (not the sides, nor the reader). */
void diff_free(struct diff *d);
/* Makes room in a growing array for one more element. */
bool diff_grow(void **v, size_t *n, size_t *cap, size_t size);

#endif
