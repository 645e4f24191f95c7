/*
 * What fuzz_trace.c holds the trace reader's events against: the same bytes
 * parsed whole by yajl's tree parser (yajl_tree), and each event's fields
 * found in the tree by rules written apart from the reader's.
 */
#ifndef OMNIPROF_TRACE_ORACLE_H
#define OMNIPROF_TRACE_ORACLE_H

#include <stddef.h>
#include <stdint.h>

#include "trace_reader.h"

struct oracle;

/* NULL when the bytes are not one JSON document that yajl_tree reads (or
 * hold a NUL byte, which it cannot be given). */
struct oracle *oracle_new(const uint8_t *data, size_t size);
void oracle_free(struct oracle *o);

/* The events in the tree: the elements of a top-level array, or of every
 * top-level "traceEvents" array, in order. */
size_t oracle_events(const struct oracle *o);

/* NULL when ev is event ev->index of the tree, else what differs. */
const char *oracle_differs(const struct oracle *o, const struct tr_event *ev);

#endif
