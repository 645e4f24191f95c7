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
    const char *host;           /* the machine's name; NULL: not known */
    const char *job;            /* the launcher's job id; NULL or "": none */
    bool with_stack, record_shapes, profile_memory;
    bool table_to_stderr; /* also print the table on stderr */
    /* write report_<worker>.html (report.c) */
    bool report;
};

struct wr_result {
    char trace_path[PATH_MAX];
    char table_path[PATH_MAX]; /* empty when no table was written */
    /* empty when no report was written */
    char report_path[PATH_MAX];
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
/* src as a table shows a name: printable UTF-8 (control bytes and invalid
 * UTF-8 as '?') of at most WR_NAME_MAX_WIDTH code points, a longer one
 * ending in "..."; returns its width in code points. */
int wr_name_printable(char *dst, size_t cap, const char *src);

/* Row numbers by name (name_index.c). */
struct wr_name_index {
    uint32_t *slots; /* row + 1; 0: empty */
    size_t n_slots;  /* a power of two */
};
/* The name of row r of rows. */
typedef const char *(*wr_name_of)(const void *rows, size_t r);
/* The row named name among n_rows, or -ENOENT with *where the slot to give
 * wr_name_add for a row made now; -ENOMEM.  Grows (rebuilds) the index as
 * needed, so call it with the table's current row count. */
long wr_name_find(struct wr_name_index *ix, const char *name, size_t n_rows, wr_name_of name_of,
                  const void *rows, size_t *where);
void wr_name_add(struct wr_name_index *ix, size_t where, size_t row);
void wr_name_index_free(struct wr_name_index *ix);

struct wr_rows {
    struct wr_row *rows;
    size_t n, cap;
    /* by name; empty until a lookup, dropped when printing sorts the rows */
    struct wr_name_index index;
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

/* ---- the report page (report*.c) ---------------------------------------- */

/* One self-contained HTML page (charts, tables, the numbers behind them)
 * for one or more runs: a process or stage each.  Both the process (from
 * its session, at stop) and `omniprof report` (from trace files) feed the
 * same model through these calls, so both write the same page: events go
 * in one at a time, and only aggregates (rows, time bins, gaps, steps) go
 * into the page, never the events themselves.  Times are ns relative to
 * info.base_ns, as a trace's ts are relative to baseTimeNanoseconds. */
struct wr_report;
struct wr_report_run;

/* What a run's header shows.  Strings are malloc'd and owned by the run
 * (set them with wr_report_text); NULL or -1: unknown. */
struct wr_report_info {
    char *program, *host, *worker, *config;
    char *trace;  /* the trace file, as the page links to it */
    char *source; /* "omniprof" or "torch.profiler" */
    char *set;    /* "before" / "after" in a comparison, else NULL */
    int pid, stage, rank;
    int64_t base_ns;          /* ns since the epoch that event times count from */
    bool has_session;         /* the recording window is known: */
    int64_t begin_ns, end_ns; /* else the events' extent is used */
    int64_t steps, events, dropped, dropped_gpu;
};

enum wr_report_kind { WR_REPORT_KERNEL, WR_REPORT_MEMCPY, WR_REPORT_MEMSET, WR_REPORT_CALL };

/* One record of GPU work. */
struct wr_report_gpu {
    int kind; /* enum wr_report_kind, not CALL */
    const char *name;
    int64_t device, stream;
    int64_t start_ns, end_ns;
    uint64_t bytes; /* copies and memsets */
};

struct wr_report *wr_report_new(void);
void wr_report_free(struct wr_report *rep);
/* A new run of the page (its info zeroed, numbers -1); NULL when out of memory. */
struct wr_report_run *wr_report_add_run(struct wr_report *rep);
struct wr_report_info *wr_report_info(struct wr_report_run *run);
/* *field = a copy of s (NULL clears it); 0 or -ENOMEM. */
int wr_report_text(char **field, const char *s);
int wr_report_device(struct wr_report_run *run, int id, const char *name);
/* The row of the GPU record (>= 0), or -ENOMEM. */
long wr_report_gpu(struct wr_report_run *run, const struct wr_report_gpu *g);
/* The host time of the call that made GPU work of a row. */
void wr_report_row_host(struct wr_report_run *run, long row, uint64_t ns);
/* A host API call on thread tid; row: the kernel, copy kind or memset it
 * names (rows of a run without GPU records), or NULL. */
int wr_report_call(struct wr_report_run *run, const char *row, int64_t tid, int64_t start_ns,
                   int64_t end_ns);
/* An iteration boundary: an instant (omni_step #N: end_ns < start_ns) or a
 * span (ProfilerStep#N).  Spans, when a run has any, are its iterations;
 * else each instant begins one that lasts until the next (the last until
 * the end of the session), as ProfilerStep#N does. */
int wr_report_step(struct wr_report_run *run, uint64_t number, int64_t start_ns, int64_t end_ns);
/* The memory of a device (-1: host) after an allocation or free. */
int wr_report_memory(struct wr_report_run *run, int device, int64_t ts_ns, uint64_t allocated,
                     uint64_t reserved);
/* A before/after comparison, as `omniprof diff` makes it (the command's
 * control/cli/diff.h): a row per name, the largest change first, marked
 * new (calls after only) or gone (calls before only), and their total. */
enum wr_report_change { WR_REPORT_BOTH, WR_REPORT_NEW, WR_REPORT_GONE };
struct wr_report_delta {
    const char *name;
    uint64_t before_ns, after_ns, before_calls, after_calls;
    enum wr_report_change change;
};
struct wr_report_comparison {
    const struct wr_report_delta *rows;
    size_t n;
    struct wr_report_delta total; /* its name is not used */
    size_t added, gone;           /* rows new, rows gone */
    bool gpu;                     /* GPU time, else host time of the launching calls */
    const char *before, *after;   /* what each side holds */
};
/* Copies the comparison (rows, names, texts) into the page. */
int wr_report_diff(struct wr_report *rep, const struct wr_report_comparison *c);
/* Writes the page to path (a temporary file renamed when complete). */
int wr_report_save(struct wr_report *rep, const char *path);
/* The process side: the page of a stopped session, beside its trace
 * (report_<worker>.html in dir_fd, r->trace_path already written). */
int wr_report_session(const struct coll_session *s, const struct wr_options *o, int dir_fd,
                      const char *name, const char *trace_path);

#endif
