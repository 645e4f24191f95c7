/*
 * writer/ — turns a finished session into files: the Kineto-style trace
 * (gzip'd through zlib, or plain JSON) and the profiler_out_<worker>.txt
 * table, each created under a temporary name and renamed when complete.
 * Runs on the control thread (or the exiting thread); touches no CUDA and
 * no signals.  Functions return 0 or a negative errno.
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
    bool table; /* write profiler_out_<worker>.txt */
    size_t table_rows; /* its rows, the most costly first; 0: all */
    /* metadata written into the trace */
    const char *version;
    const char *config; /* the configuration as a k=v string */
    const char *process_name;
    int pid;
    int stage; /* -1: none */
    int rank;  /* -1: none */
    bool with_stack, record_shapes, profile_memory;
    bool table_to_stderr; /* also print the table on stderr */
};

struct wr_result {
    char trace_path[PATH_MAX];
    char table_path[PATH_MAX]; /* empty when no table was written */
};

int wr_write_session(const struct coll_session *s, const struct wr_options *o, struct wr_result *r);

/* ---- output stream (out.c): buffered, into zlib or a plain file -------- */

struct wr_out;
int wr_out_open(struct wr_out **out, const char *path, bool gzip, int level);
void wr_out_write(struct wr_out *o, const void *p, size_t n);
void wr_out_puts(struct wr_out *o, const char *s);
void wr_out_printf(struct wr_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Integers without printf: the writer's hot path. */
void wr_out_u64(struct wr_out *o, uint64_t v);
void wr_out_i64(struct wr_out *o, int64_t v);
/* Flushes and closes; returns the first error seen since open. */
int wr_out_close(struct wr_out *o);

/* ---- JSON (json.c) -------------------------------------------------- */

/* Writes s as a JSON string literal: quotes, backslashes and control bytes
 * escaped, invalid UTF-8 replaced by U+FFFD, so any bytes give valid JSON. */
void wr_json_string(struct wr_out *o, const char *s);
/* The same into a buffer (NUL-terminated, truncated to fit); returns the
 * length the full literal would need.  For tests and small fields. */
size_t wr_json_escape(char *dst, size_t cap, const char *s);
/* The same, malloc'd to fit; NULL when out of memory. */
char *wr_json_literal(const char *s);
/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
int wr_utf8_len(const unsigned char *s);
/* ns since base as Kineto's microseconds with three decimals. */
void wr_json_us(struct wr_out *o, uint64_t ns);

/* ---- files (file.c) -------------------------------------------------------- */

/* mkdir -p with mode 0755. */
int wr_make_dir(const char *dir);
/* Creates <dir>/.<name>.tmp.<pid> and returns its path for wr_out_open. */
int wr_temp_path(char *tmp, size_t cap, const char *final_path);
/* Renames a completed temporary file into place (or removes it on error). */
int wr_commit(const char *tmp, const char *final_path, int status);

/* ---- the two outputs ---------------------------------------------------- */

/* path: where to write; trace_name: the final path, recorded as traceName. */
int wr_trace(const struct coll_session *s, const struct wr_options *o, const char *path,
             const char *trace_name);
int wr_table(const struct coll_session *s, const struct wr_options *o, const char *path);
/* The table rows as text into any stdio stream (used by wr_table). */
int wr_table_print(const struct coll_session *s, const struct wr_options *o, FILE *f);

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

/* ---- the GPU side (gpu.c) ------------------------------------------------ */

struct wr_corr {
    uint64_t correlation;
    size_t index;
};
/* GPU records and CUPTI API events by correlation id, for linking. */
struct wr_gpu_index {
    struct wr_corr *gpu, *api;
    size_t n_gpu, n_api;
};
int wr_gpu_index(struct wr_gpu_index *ix, const struct coll_session *s);
void wr_gpu_index_free(struct wr_gpu_index *ix);
/* The first GPU record of a call, and the call of a GPU record, or NULL. */
const struct coll_gpu *wr_gpu_of(const struct wr_gpu_index *ix, const struct coll_session *s,
                                 uint64_t correlation);
const struct coll_event *wr_api_of(const struct wr_gpu_index *ix, const struct coll_session *s,
                                   uint64_t correlation);
void wr_gpu_device_properties(struct wr_out *o, const struct coll_session *s);
void wr_gpu_metadata(struct wr_out *o, const struct coll_session *s, uint64_t ts);
void wr_gpu_events(struct wr_out *o, const struct coll_session *s, const struct wr_options *opt,
                   const struct wr_gpu_index *ix, uint64_t base);
/* The "s" end of a call's flow, when it made GPU work. */
void wr_gpu_flow_start(struct wr_out *o, const struct coll_session *s,
                       const struct wr_gpu_index *ix, const struct wr_options *opt,
                       const struct coll_event *ev, uint64_t base);

/* ---- host stacks (frames.c) --------------------------------------------- */

/* "function (module+0x1f)" for a symbolized frame. */
void wr_frame_text(const struct coll_frame *f, char *buf, size_t cap);

struct node;

struct wr_frames {
    size_t cap;       /* hash slots, a power of two */
    uint32_t *slots;  /* node ids by (parent, ip) hash */
    struct node *nodes;
    uint32_t n_nodes;
    uint32_t *leaf; /* node id of each session stack's innermost frame */
};

int wr_frames_build(struct wr_frames *t, const struct coll_session *s);
void wr_frames_free(struct wr_frames *t);
/* The "sf" id of an event's stack, 0 when it has none. */
uint32_t wr_frames_leaf(const struct wr_frames *t, const struct coll_session *s, uint32_t stack);
/* "stackFrames": {...}, at the top level of the trace. */
void wr_frames_write(const struct wr_frames *t, struct wr_out *o);


#endif
