/*
 * What the report's own files share (report.c: the model and its feeding;
 * report_bins.c: time bins, gaps, iterations and memory curves;
 * report_json.c: the page).  No other file includes this; the interface is
 * writer.h's "report page" section.
 */
#ifndef OMNIPROF_WRITER_REPORT_INTERNAL_H
#define OMNIPROF_WRITER_REPORT_INTERNAL_H

#include "internal.h"

/* Time bins of the overview timeline, utilisation and memory curves: fine
 * enough to zoom into, small enough for a page (a few KiB per track). */
#define RP_BINS 4000
/* Rows of the page's table (the rest are counted, as the text table does),
 * bars of the kernel chart, idle gaps listed per device, iterations drawn. */
#define RP_TABLE_ROWS 1000
#define RP_TOP_KERNELS 15
#define RP_GAPS 10
#define RP_MAX_STEPS 20000

/* One row of the time table, as profiler_out_*.txt has it. */
struct rp_row {
    char *name;
    int kind; /* enum wr_report_kind */
    uint64_t calls, host_total, host_min, host_max;
    uint64_t gpu_calls, gpu_total, gpu_min, gpu_max;
    uint64_t bytes;
};

/* Rows by name (the raw bytes: names are escaped only when written). */
struct rp_rows {
    struct rp_row *v;
    size_t n, cap;
    struct wr_name_index index;
};

/* A busy interval of a track: GPU work on a stream, or a host call. */
struct rp_interval {
    int64_t start, end;
    uint32_t track, row;
};

/* A stream of a device, or a host thread (device -1, stream = tid). */
struct rp_track {
    int64_t device, stream;
};

struct rp_step {
    uint64_t number;
    int64_t start, end;
};

struct rp_mem {
    int64_t ts;
    uint64_t allocated, reserved;
    int device;
};

struct rp_device {
    int id;
    char *name;
};

/* Growable arrays: data, count, capacity. */
#define RP_VEC(type)                                                                               \
    struct {                                                                                       \
        type *v;                                                                                   \
        size_t n, cap;                                                                             \
    }

struct rp_intervals {
    struct rp_interval *v;
    size_t n, cap;
};

struct wr_report_run {
    struct wr_report_info info;
    RP_VEC(struct rp_device) devices;
    struct rp_rows gpu, host; /* GPU records' rows; host calls' rows */
    RP_VEC(struct rp_track) tracks;
    struct rp_intervals gpu_busy, host_busy;
    RP_VEC(struct rp_step) spans, instants;
    RP_VEC(struct rp_mem) memory;
    uint32_t last_track;       /* the track found last: most records follow one */
    int64_t first_ns, last_ns; /* the extent of everything fed; first > last: nothing */
};

struct wr_report {
    RP_VEC(struct wr_report_run *) runs;
    struct wr_report_delta *diff; /* names malloc'd */
    size_t n_diff;
    struct wr_report_delta diff_total; /* name NULL */
    size_t diff_added, diff_gone;
    bool diff_gpu, has_diff;
    char *before, *after;
};

/* Makes room for one more element of size bytes: 0, or -ENOMEM. */
int rp_grow(void **v, size_t *cap, size_t n, size_t size);
#define RP_PUSH(vec) rp_grow((void **)&(vec).v, &(vec).cap, (vec).n, sizeof *(vec).v)

/* ---- what the page shows of a run, worked out when it is written ---------- */

/* Busy time of one track or one device, in bins of the run's window. */
struct rp_series {
    int64_t device, stream;
    uint64_t busy_ns;
    uint16_t *permille; /* RP_BINS: the share of each bin that was busy, 0..1000 */
};

struct rp_gap {
    int64_t start, end;
    uint32_t before, after; /* rows of the work around it; UINT32_MAX: the window's edge */
};

struct rp_device_busy {
    struct rp_series s;
    struct rp_gap gaps[RP_GAPS]; /* the longest, longest first */
    size_t n_gaps;
};

struct rp_mem_curve {
    int device;
    uint64_t peak_allocated, peak_reserved;
    size_t points;
    int64_t *allocated_kib, *reserved_kib; /* RP_BINS each; -1: before the first point */
};

struct rp_view {
    int64_t t0, t1, bin_ns;
    size_t bins;
    bool gpu; /* from GPU records; else from the host calls */
    struct rp_rows *rows;
    uint32_t *order; /* rows sorted as the table (GPU, then host time) */
    struct rp_series *tracks;
    size_t n_tracks;
    struct rp_device_busy *devices;
    size_t n_devices;
    struct rp_step *steps; /* the run's iterations, in order */
    size_t n_steps;
    const char *step_source;
    struct rp_mem_curve *memory;
    size_t n_memory;
};

int rp_view_build(struct wr_report_run *run, struct rp_view *v);
void rp_view_free(struct rp_view *v);

/* The page of a report into an open stream, and into a file of dir_fd
 * (a temporary file renamed to name when complete) (report_json.c). */
int rp_write_page(struct wr_report *rep, struct wr_out *o);
int rp_save_in(struct wr_report *rep, int dir_fd, const char *name);

#endif
