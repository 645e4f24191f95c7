/*
 * What the commands that read several traces share (merge, diff):
 *   trace_set.c  the inputs: files, or directories of them, and what each
 *                file says about the process that wrote it (stage, rank,
 *                host, pid, clock base), from its top-level fields and,
 *                where those are silent, its name;
 *   trace_out.c  a buffered output stream, gzip'd or plain, for the trace
 *                merge writes (JSON strings through the writer's escaper).
 * Everything reads through the trace reader (trace_reader.h).
 */
#ifndef OMNIPROF_TRACE_SET_H
#define OMNIPROF_TRACE_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trace_reader.h"

/* ---- inputs (trace_set.c) ------------------------------------------------ */

/* One trace file.  Numbers are -1 and strings NULL when unknown. */
struct cli_trace {
    char *path;
    bool from_dir; /* found in a directory given as an input */
    bool has_base;
    int64_t base_ns; /* baseTimeNanoseconds: every ts is relative to it */
    long stage, rank, pid, world_size, local_rank;
    bool pid_from_name; /* pid: only the file name says so */
    char *host, *worker;
    char *job;   /* the launcher's job (omniprof's "job") */
    bool merged; /* written by omniprof merge: its processes are named already */
};

struct cli_traces {
    struct cli_trace *v;
    size_t n, cap;
};

/* Adds what arg names: a trace file, or a directory's trace files (its
 * *.json and *.json.gz, not hidden ones, sorted by name), leaving out the
 * file `exclude` (an output path; may be NULL or not exist yet).  0, or -1
 * after one "omniprof: ..." line on stderr. */
int cli_traces_add(struct cli_traces *set, const char *arg, const char *exclude);
/* Reads each file's top-level fields (stopping at its first event when the
 * clock base came before it): baseTimeNanoseconds, omniprof's stage, rank,
 * pid, host, job and worker, distributedInfo's rank, world_size and local_rank
 * (omniprof's win), omniprof_merge; then, where still unknown, stage, rank,
 * host and pid from omniprof's worker name and from the file name
 * (<worker>[.<number>].pt.trace.json[.gz], worker being
 * [prefix]stage-S_host_pid[_rankR], or torch's host_pid).  A file
 * found in a directory that is JSON but not a trace is left out with a
 * note; any other failure, or no trace left, is one line and -1. */
int cli_traces_peek(struct cli_traces *set);
void cli_traces_free(struct cli_traces *set);

/* "stage-2 · rank 1 · host · 4242" with sep " · ": the parts known, pid
 * the given one (-1: the trace's); led by the file's name (less its trace
 * suffixes) when neither stage, rank nor host is known. */
void cli_trace_label(const struct cli_trace *t, long pid, const char *sep, char *buf, size_t cap);
/* The order processes are shown in: stage, then rank, then pid (unknown
 * after known), then position. */
int cli_trace_cmp(const struct cli_trace *a, const struct cli_trace *b);

/* ---- clocks (trace_align.c) ------------------------------------------------ */

/* --align=collective: reads every input's kernels whose names hold "nccl"
 * (any case) and, per host (one clock; a trace without a host is one of
 * its own), finds the offset that lines the ends of the same collectives
 * (by name and order of ending) up with the reference input's (rank 0, else
 * the first in order that has collectives): the median of ref_end - end.
 * offset[i] gets it in ns; one line per input on stderr says what was
 * applied.  order: the inputs in output order.  0, or -1 after a message. */
int cli_align_collectives(const struct cli_traces *set, const size_t *order, int64_t *offset);

/* ---- output (trace_out.c) ------------------------------------------------ */

struct cli_out;
/* Creates a temporary file beside path, written gzip'd (level 1) when path
 * ends in ".gz"; cli_out_close renames it to path when all went well. */
int cli_out_open(struct cli_out **o, const char *path);
void cli_out_write(struct cli_out *o, const char *p, size_t n);
void cli_out_puts(struct cli_out *o, const char *s);
void cli_out_i64(struct cli_out *o, int64_t v);
/* ns as microseconds with three decimals: exact. */
void cli_out_us(struct cli_out *o, int64_t ns);
/* s as a JSON string literal (wr_json_escape). */
void cli_out_string(struct cli_out *o, const char *s);
/* Appends what a FILE holds (from its start). */
void cli_out_copy(struct cli_out *o, FILE *f);
/* Completes (keep) or removes the file; 0 or a negative errno (the first
 * error seen) with a message in why. */
int cli_out_close(struct cli_out *o, bool keep, char *why, size_t cap);

#endif
