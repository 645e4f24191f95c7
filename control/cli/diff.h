/*
 * omniprof diff's parts (cmd_diff.c reads and prints; diff_rows.c holds
 * what is not about files): a table of rows, the names rows are made of,
 * and the innermost enclosing range of an instant.
 */
#ifndef OMNIPROF_DIFF_H
#define OMNIPROF_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_reader.h"

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

#endif
