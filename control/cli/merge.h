/*
 * omniprof merge's two parts and what they share:
 *   cmd_merge.c     the command: inputs, clocks, the output's top and tail,
 *                   and after each input its processes' names and records;
 *   merge_events.c  one input's events and stackFrames, rewritten into the
 *                   output as the reader hands them over.
 */
#ifndef OMNIPROF_MERGE_H
#define OMNIPROF_MERGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "progress.h"
#include "trace_reader.h"
#include "trace_set.h"

/* Names compared by pointer (interned by the reader). */
struct names {
    const char *M, *process_name, *process_sort_index, *process_labels, *name, *labels;
    const char *kernel, *gpu_memcpy, *gpu_memset, *gpu_user_annotation, *stackFrames;
    const char *sf, *esf, *parent;
};

/* A pid of the input being written and the pid it becomes. */
struct pid_entry {
    struct tr_id orig; /* str interned */
    long out;
    bool gpu;
    const char *own_name; /* its process_name in the input, interned */
    size_t seen;          /* order of first sight */
};

/* The JSON literal of an interned name, written once. */
struct lit {
    const char *key;
    uint32_t off, len;
};

struct merge {
    struct names is;
    struct tr_reader *r;
    struct cli_out *out;
    struct lit *lits; /* open addressing by pointer */
    size_t n_lits, cap_lits;
    char *arena;
    size_t arena_len, arena_cap;
    size_t n_inputs;
    long overflow_pid; /* pids past an input's block of 1000 */
    bool any_event;
    int err; /* out of memory while writing */
    /* on stderr, when it is a terminal */
    struct cli_progress *progress;

    /* the input being written */
    const struct cli_trace *t;
    size_t k;      /* its position in the output */
    int64_t shift; /* added to its ts */
    struct pid_entry *pids;
    size_t n_pids, cap_pids, last_pid;
    uint32_t *pid_index; /* entry + 1 by pid hash; 0: empty */
    size_t cap_index;
    uint64_t events;
    bool frame_open;
    size_t frame_fields;

    FILE *frames; /* stackFrames, spooled */
    size_t n_frames;
    FILE *records; /* mergedInputs */
    char *records_text;
    size_t records_len;
    FILE *pid_recs; /* mergedPids */
    char *pid_text;
    size_t pid_len, n_pid_recs;
};

/* The names merge compares by pointer, interned in m->r; 0 or -ENOMEM. */
int cli_merge_names(struct merge *m);
/* The reader's callbacks for the input being written (m->t, m->k, m->shift). */
int cli_merge_event(void *ctx, const struct tr_event *ev);
int cli_merge_field(void *ctx, const struct tr_field *f);
/* Ends the stackFrames entry being spooled, if one is. */
void cli_merge_close_frame(struct merge *m);
/* s as a JSON string into f, with "<k><sep>" in front when prefixed. */
void cli_merge_literal(FILE *f, const char *s, bool prefixed, size_t k, char sep);

#endif
