/*
 * GPU time and calls per kernel name over a set of traces: what the
 * report's before/after chart compares, and what `omniprof diff` is to
 * compare.  Names are the reader's interned pointers, so two sets read
 * through one reader are joined by pointer.
 *
 * A name is a GPU activity's (kernel, gpu_memcpy, gpu_memset: its GPU time
 * and records); in a trace without GPU activity (omniprof's interposed
 * record) it is the kernel an API call launched (its launches).
 */
#ifndef OMNIPROF_KERNEL_TOTALS_H
#define OMNIPROF_KERNEL_TOTALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_reader.h"

struct kt_row {
    const char *name; /* interned */
    uint64_t gpu_ns, gpu_records;
    uint64_t launches; /* API calls naming the kernel (traces without GPU activity) */
};

struct kernel_totals {
    struct kt_row *rows;
    size_t n, cap;
    uint32_t *index; /* row + 1 by name pointer; n_index slots, a power of two */
    size_t n_index;
    size_t files;
    struct {
        const char *X, *kernel, *gpu_memcpy, *gpu_memset, *cuda_runtime, *cuda_driver;
    } is;
};

/* 0, or -ENOMEM.  r: the reader every file of the set is read with. */
int kt_init(struct kernel_totals *t, struct tr_reader *r);
void kt_free(struct kernel_totals *t);
/* Counts one event (from any event callback of r); 0 or -ENOMEM. */
int kt_event(struct kernel_totals *t, struct tr_reader *r, const struct tr_event *ev);
/* Reads a file into the set on its own: 0 or the reader's error. */
int kt_read(struct kernel_totals *t, struct tr_reader *r, const char *path);
/* Whether the set has GPU times (else only launches). */
bool kt_has_gpu(const struct kernel_totals *t);

struct kt_delta {
    const char *name;
    uint64_t before_ns, after_ns, before_calls, after_calls;
};
/* Every name of either set, the largest change first: of GPU time when
 * both sets have it (*gpu set), else of calls.  *out is malloc'd. */
int kt_compare(const struct kernel_totals *before, const struct kernel_totals *after,
               struct kt_delta **out, size_t *n, bool *gpu);

#endif
