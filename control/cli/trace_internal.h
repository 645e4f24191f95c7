/*
 * The trace reader's insides, shared by its three files:
 *   trace_reader.c  the file: gzread through a fixed buffer, cut at token
 *                   boundaries, into yajl; errors and their messages;
 *   trace_events.c  yajl's callbacks: the nesting, events, args, fields;
 *   trace_names.c   the interned names (open addressing, FNV-1a).
 * Nothing here is for the reader's callers: they have trace_reader.h.
 */
#ifndef OMNIPROF_TRACE_INTERNAL_H
#define OMNIPROF_TRACE_INTERNAL_H

#include <yajl/yajl_parse.h>

#include "trace_reader.h"

/* A growing byte buffer: capacity doubles, so appending n bytes in any
 * number of pieces costs O(n). */
struct tr_buf {
    char *p;
    size_t len, cap;
};
/* Makes room for n more bytes (and a NUL) up to limit in all; 0, -ENOMEM
 * or -E2BIG. */
int tr_buf_reserve(struct tr_buf *b, size_t n, size_t limit);

/* ---- interned names (trace_names.c) ------------------------------------- */

struct tr_name;
struct tr_block;
struct tr_names {
    struct tr_name *slots; /* cap slots, a power of two, at most half full */
    size_t cap, n;
    struct tr_block *blocks; /* where the names' bytes live */
    char *at;                /* free space in the newest block */
    size_t left;
    /* names found lately, by their length and three of their bytes: the keys
     * and categories of every event are found here without hashing them */
    struct tr_recent {
        const char *s;
        size_t len;
    } recent[256];
};
const char *tr_names_intern(struct tr_names *t, const char *s, size_t len);
void tr_names_free(struct tr_names *t);

/* ---- the nesting being read (trace_events.c) ----------------------------- */

/* What an open array or object is. */
enum tr_role {
    TR_ROLE_ROOT,      /* the top-level object */
    TR_ROLE_EVENTS,    /* traceEvents, or a top-level array of events */
    TR_ROLE_EVENT,     /* one event */
    TR_ROLE_ARGS,      /* its "args" */
    TR_ROLE_CAPTURE,   /* a value inside an event kept as compact JSON */
    TR_ROLE_META,      /* a top-level field that is an array or object */
    TR_ROLE_META_ELEM, /* an element of a top-level array */
    TR_ROLE_SKIP,      /* deeper top-level content, not reported */
};

struct tr_frame {
    enum tr_role role;
    bool is_array;
    size_t count; /* elements or members seen so far */
};

/* The event keys the reader knows; any other goes to tr_event.extra. */
enum tr_key {
    TR_K_OTHER,
    TR_K_PH,
    TR_K_CAT,
    TR_K_NAME,
    TR_K_BP,
    TR_K_PID,
    TR_K_TID,
    TR_K_ID,
    TR_K_TS,
    TR_K_DUR,
    TR_K_ARGS,
    TR_K_COUNT
};

/* args or extra of the event being read; values' text lives in r->text at
 * off[i] (SIZE_MAX: none) until the event is handed over. */
struct tr_list {
    struct tr_arg *v;
    size_t *off;
    size_t n, cap;
};

struct tr_reader {
    struct tr_options lim;
    struct tr_names names;
    const char *keys[TR_K_COUNT]; /* the known event keys, interned */
    const char *trace_events;     /* "traceEvents", interned */
    char err[512];

    /* one tr_read */
    const char *path;
    const struct tr_callbacks *cb;
    void *ctx;
    int status;             /* the first failure, or 0 */
    struct tr_frame *stack; /* lim.max_depth frames */
    int depth;
    bool saw_events;
    const char *key;   /* the member whose value comes next; interned */
    enum tr_key field; /* that key, inside an event */
    const char *meta;  /* the top-level key being reported into */
    long meta_index;
    const char *meta_member; /* the member of meta being reported into (member_fields) */
    size_t n_events;

    /* the event being read */
    struct tr_event ev;
    size_t id_off; /* ev.id's string in text */
    struct tr_list args, extra;
    struct tr_buf text;       /* its strings and captured values */
    struct tr_list *cap_into; /* where the value being captured goes */
    const char *cap_key;
    size_t cap_off;
    struct tr_buf tmp; /* a scalar's text for the moment of a call */

    struct tr_buf in; /* the read buffer */
    /* the file being read (zlib's gzFile); NULL between reads */
    struct gzFile_s *gz;
};

/* Sets r->status (once) and the message "<path> is not a readable trace:
 * <what>"; returns rc. */
int tr_fail(struct tr_reader *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same when a callback stops the read with rc: "<path>: reading
 * stopped: <strerror(-rc)>". */
int tr_stop(struct tr_reader *r, int rc);

extern const yajl_callbacks tr_yajl_callbacks;
/* Resets the nesting and the event for a new file. */
void tr_events_begin(struct tr_reader *r);

#endif
