/*
 * omniprof's own unwinder for stacks with Python frames (unwind.c): the
 * frames unw_backtrace gives, with the outer part that is unchanged since
 * the thread's last capture reused instead of unwound again.
 */
#ifndef OMNIPROF_COLLECTOR_UNWIND_H
#define OMNIPROF_COLLECTOR_UNWIND_H

#include <stdint.h>

/* frames kept per capture, the unwinder's own included */
#define COLL_UNWIND_MAX 272

/* The record path (inside a record's busy window: the thread owns a buffer
 * slot): what unw_backtrace(buf, size) would return, called from the same
 * place, or -1 when some frame is one this unwinder does not handle (the
 * caller then uses unw_backtrace).  No lock, malloc or syscall, but on the
 * first sight of an address (its unwind rule is looked up once). */
int coll_unwind_backtrace(void **buf, int size);

/* For the tests: captures unwound, of which reused a tail, and those that
 * fell back to libunwind, summed over the threads (read racily). */
void coll_unwind_counts(uint64_t out[3]);

#endif
