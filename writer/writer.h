/*
 * writer/ — the interface other folders use.  writer/ turns a finished
 * session into files: the Kineto-style trace (gzip'd through zlib, or plain
 * JSON) and the profiler_out_<worker>.txt table, each created under a
 * temporary name and renamed when complete.  Runs on the control thread
 * (or the exiting thread); touches no CUDA and no signals.  Functions
 * return 0 or a negative errno.
 *
 * Other folders call wr_write_session (control/), the JSON string escaper
 * (control/, the command) and the table's rows (`omniprof summary`); the
 * stream, the trace's parts and the files are internal.h's.
 */
#ifndef OMNIPROF_WRITER_H
#define OMNIPROF_WRITER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collector.h"

struct wr_options {
    const char *dir;
    const char *worker; /* file-name stem: [prefix]stage-S_host_pid[_rankR] */
    bool gzip;
    int gzip_level;
    bool table;        /* write profiler_out_<worker>.txt */
    size_t table_rows; /* its rows, the most costly first; 0: all */
    /* metadata written into the trace */
    const char *version;
    const char *config; /* the configuration as a k=v string */
    const char *process_name;
    int pid;
    int stage;                  /* -1: none */
    int rank;                   /* -1: none */
    int world_size, local_rank; /* from the rank's launcher; -1: not known */
    bool with_stack, record_shapes, profile_memory;
    bool table_to_stderr; /* also print the table on stderr */
};

struct wr_result {
    char trace_path[PATH_MAX];
    char table_path[PATH_MAX]; /* empty when no table was written */
};

int wr_write_session(const struct coll_session *s, const struct wr_options *o, struct wr_result *r);

/* ---- JSON (json.c): the one JSON string escaper of the tree ----------- */

/* s as a JSON string literal into a buffer (NUL-terminated, truncated to
 * fit): quotes, backslashes and control bytes escaped, invalid UTF-8
 * replaced by U+FFFD, so any bytes give valid JSON.  Returns the length the
 * full literal needs (call with cap 0 to size a buffer). */
size_t wr_json_escape(char *dst, size_t cap, const char *s);
/* The same, malloc'd to fit; NULL when out of memory. */
char *wr_json_literal(const char *s);
/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
int wr_utf8_len(const unsigned char *s);

/* The table's rows, for any source of times (a session here; a trace file
 * for `omniprof summary`).  Names are sanitised when a row is made. */
#define WR_NAME_MAX_WIDTH 100
struct wr_row {
    char name[4 * WR_NAME_MAX_WIDTH + 8]; /* sanitised, possibly shortened */
    int width;                            /* display width in code points */
    uint64_t calls, host_total, host_min, host_max;
    uint64_t gpu_calls, gpu_total, gpu_min, gpu_max;
};
struct wr_rows {
    struct wr_row *rows;
    size_t n, cap;
    /* row number + 1 by name hash (0: empty slot); n_index slots, a power of
     * two; NULL until a lookup, dropped when printing sorts the rows */
    uint32_t *index;
    size_t n_index;
};
/* The row named name, made on first use (a hash lookup); NULL on allocation
 * failure. */
struct wr_row *wr_rows_get(struct wr_rows *t, const char *name);
void wr_row_host(struct wr_row *r, uint64_t ns);
void wr_row_gpu(struct wr_row *r, uint64_t ns);
/* Rules, header, rows sorted by GPU then host time (the first `top`; 0:
 * all), rules, totals. */
int wr_rows_print(FILE *f, struct wr_rows *t, size_t top);
void wr_rows_free(struct wr_rows *t);

#endif
