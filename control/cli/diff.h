/*
 * omniprof diff's parts, also the before/after of omniprof report:
 *   cmd_diff.c   the command and its tables;
 *   diff_read.c  each side's traces read into (row, stage) cells, by its own
 *                reads or fed by another pass of the reader (the report's);
 *   diff_rows.c  what is not about files: the cells' table, the names rows
 *                are made of, the innermost range enclosing an instant, and
 *                the two sides' cells compared into rows.
 */
#ifndef OMNIPROF_DIFF_H
#define OMNIPROF_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "progress.h"
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
/* Whether s is a Python frame of the program's own, "path/file.py(123):
 * function" outside the library (the rule of summary --by python,
 * cli_py_library_file), so both group GPU time by the same call sites. */
bool diff_python_frame(const char *s);
/* The innermost such Python frame of a "Call stack" value (omniprof's array of
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
    struct cli_traces set; /* its files (diff_find_side) */
    size_t files;          /* read */
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

    struct cli_progress *progress; /* or NULL */

    /* the file being read */
    const struct cli_trace *t; /* NULL: a file known by its events only */
    struct diff_side *side;
    /* its counts, the side's once the file is read whole */
    uint64_t gpu_records, api_calls, host_records;
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
/* The traces s->arg names (a trace, a directory, a merged trace) into
 * s->set, each one's top read; 0, or -1 after one message. */
int diff_find_side(struct diff_side *s);
/* Reads every trace of s->set into s->gpu and s->host (ticking
 * d->progress); 0, or -1 after one message. */
int diff_read_side(struct diff *d, struct diff_side *s);
/* Frees what reading kept (not the sides, nor the reader). */
void diff_free(struct diff *d);
/* Frees what a side holds (its files and cells). */
void diff_side_free(struct diff_side *s);

/* A file of side s read in someone else's pass of d->r (omniprof report):
 * diff_file_begin, then the file's events and fields given to diff_event
 * and diff_field as they come, then diff_file_end once the whole file was
 * read (a file that failed is simply not ended: the next begin forgets
 * it).  t: what the file's top says (NULL: no stage, not merged). */
void diff_file_begin(struct diff *d, struct diff_side *s, const struct cli_trace *t);
int diff_event(void *d, const struct tr_event *ev);
int diff_field(void *d, const struct tr_field *f);
/* The file's cells into its side's; 0 or -ENOMEM. */
int diff_file_end(struct diff *d);
/* Makes room in a growing array for one more element. */
bool diff_grow(void **v, size_t *n, size_t *cap, size_t size);

/* ---- the two sides compared (diff_rows.c) ------------------------------------- */

/* One row of the comparison: [0] before, [1] after. */
struct diff_row {
    const char *name;
    uint64_t calls[2], ns[2];
};

struct diff_rows {
    struct diff_row *v; /* the biggest change of time first, then the most time, then by name */
    size_t n, cap;
    struct diff_row total; /* named "Total" */
    size_t added, gone;    /* rows diff_change_of calls new and gone */
};

#define DIFF_ALL_STAGES INT64_MIN

/* Whether the sides are compared on GPU time (both have GPU records), else
 * on the host time of the launching calls. */
bool diff_on_gpu(const struct diff_side sides[2]);
/* The rows of the sides' cells (GPU or host), of one stage or of
 * DIFF_ALL_STAGES, sorted, with their total; 0 or -ENOMEM. */
int diff_compare(const struct diff_side sides[2], bool gpu, int64_t stage, struct diff_rows *out);
void diff_rows_free(struct diff_rows *rows);

/* A row with calls after only is new; with calls before only, gone. */
enum diff_change { DIFF_BOTH, DIFF_NEW, DIFF_GONE };
enum diff_change diff_change_of(const struct diff_row *r);

#endif
