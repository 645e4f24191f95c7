/*
 * The trace reader: one streaming reader of trace files for the omniprof
 * command (summary, merge, diff and report).  It reads the files
 * omniprof writes and those of torch.profiler / Kineto (Chrome's trace
 * format: an object with "traceEvents", or a bare array of events), gzip'd
 * or not, through a read buffer as large as its largest event, and hands
 * the caller
 *   - each trace event, as a struct tr_event (event callback), and
 *   - the top-level fields around traceEvents (baseTimeNanoseconds,
 *     distributedInfo.rank, omniprof.stage, ...) as struct tr_field.
 *
 * Names (ph, cat, name, argument keys, string pids and tids) are interned:
 * a name pointer lives as long as the reader, and equal names are equal
 * pointers, across every file the reader reads.  Everything else a callback
 * gets is valid only during the call.  Memory: the distinct names, plus
 * buffers the size of the largest event; no per-event allocation is kept.
 *
 * Times: "ts" and "dur" are microseconds in the file ("12.345" = 12345 ns);
 * the reader converts the decimal text exactly to int64 nanoseconds (a
 * fourth decimal rounds; 2^63 ns is 292 years), so nothing is lost to
 * doubles (Kineto's ts of 4986136362507.141 µs needs 52 bits).
 *
 * Not thread-safe: one reader per thread.
 */
#ifndef OMNIPROF_TRACE_READER_H
#define OMNIPROF_TRACE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tr_type { TR_NULL, TR_BOOL, TR_INT, TR_REAL, TR_STRING, TR_ARRAY, TR_OBJECT };

/* A JSON value.  s: for TR_STRING the text (NUL-terminated; len counts a
 * NUL escaped inside it); for numbers the text as written (for integers
 * beyond int64, read it with strtoull); for an array or object in an event
 * its compact JSON text; NULL for an array or object at top level. */
struct tr_value {
    enum tr_type type;
    bool b;    /* TR_BOOL */
    int64_t i; /* TR_INT */
    double d;  /* TR_INT and TR_REAL */
    const char *s;
    size_t len;
};

struct tr_arg {
    const char *key; /* interned */
    struct tr_value v;
};

/* pid, tid or flow id: a number or a string (Kineto's "Spans", "stream 7"). */
struct tr_id {
    bool present, is_str;
    int64_t num;
    const char *str; /* pid and tid: interned; id: valid during the call */
};

struct tr_event {
    size_t index;                /* position in traceEvents */
    const char *ph, *cat, *name; /* interned; NULL when absent */
    const char *bp;              /* flow binding point; interned; NULL when absent */
    struct tr_id pid, tid, id;
    bool has_ts, has_dur;
    int64_t ts_ns, dur_ns;
    const struct tr_arg *args; /* members of "args", in file order */
    size_t n_args;
    /* with tr_options.args_text: "args" as it stands in the file (an object,
     * checked, whitespace and escapes as written; not NUL-terminated), and
     * args and n_args empty until tr_event_args; else NULL */
    const char *args_text;
    size_t args_len;
    const struct tr_arg *extra; /* the event's other keys ("s", "tts", "id2", ...) */
    size_t n_extra;
};

/* A top-level field, or a member of one (one level down; deeper ones are
 * not reported, except with tr_options.member_fields, below):
 *   "baseTimeNanoseconds": 17...         {NULL, -1, "baseTimeNanoseconds", int}
 *   "distributedInfo": {"rank": 1, ...}  {NULL, -1, "distributedInfo", TR_OBJECT},
 *                                        then {"distributedInfo", -1, "rank", int}
 *   "deviceProperties": [{"id": 0, ..}]  {NULL, -1, "deviceProperties", TR_ARRAY},
 *                                        {"deviceProperties", 0, NULL, TR_OBJECT},
 *                                        then {"deviceProperties", 0, "id", int}
 * An array or object is reported when it opens (v.s is NULL), its members
 * after.  traceEvents itself is not reported.
 * With tr_options.member_fields, the members of an object that is a member
 * of a top-level object are reported too (omniprof's "stackFrames"), as
 * {object, member, index, key, value}:
 *   "stackFrames": {"7": {"name": "f", "parent": "3"}}
 *                                        {NULL, NULL, -1, "stackFrames", TR_OBJECT},
 *                                        {"stackFrames", NULL, -1, "7", TR_OBJECT},
 *                                        {"stackFrames", "7", -1, "name", string}, ... */
struct tr_field {
    const char *object; /* the top-level key this is inside of; NULL at top level */
    const char *member; /* with member_fields: the member of object this is inside of */
    long index;         /* element of a top-level array, else -1 */
    const char *key;    /* interned; NULL for an array element */
    struct tr_value v;
};

/* Callbacks return 0 to go on; a negative errno stops the read, and
 * tr_read returns it.  Either may be NULL. */
struct tr_callbacks {
    int (*event)(void *ctx, const struct tr_event *ev);
    int (*field)(void *ctx, const struct tr_field *f);
};

/* Bounds on what one file may make the reader hold, and its read size;
 * 0 takes the default. */
struct tr_options {
    size_t max_token;   /* longest string, number or event; default TR_MAX_TOKEN */
    int max_depth;      /* deepest nesting of arrays and objects; default TR_MAX_DEPTH */
    size_t read_size;   /* bytes asked of each read; default TR_READ_SIZE */
    bool member_fields; /* report members two levels down in objects (tr_field) */
    /* hand each event's args as its JSON text (tr_event.args_text), parsed
     * only when the callback asks (tr_event_args): for a caller that copies
     * most events' args through as they are (merge) */
    bool args_text;
};
#define TR_MAX_TOKEN ((size_t)256 << 20)
#define TR_MAX_DEPTH 64
#define TR_READ_SIZE ((size_t)256 << 10)

struct tr_reader;

/* opt may be NULL (the defaults).  NULL when out of memory. */
struct tr_reader *tr_reader_new(const struct tr_options *opt);
void tr_reader_free(struct tr_reader *r);

/* Reads one file, calling cb for each event and field.  Returns 0, the
 * callback's own negative value, or
 *   -errno     the file cannot be opened (ENOENT, EACCES, ...)
 *   -EIO       read error, corrupt or truncated gzip
 *   -EBADMSG   not valid JSON (the message says at which byte)
 *   -ENOMSG    valid JSON, but not a trace (no traceEvents array)
 *   -EPROTO    a trace with a field of the wrong type ("ts" a string, ...)
 *   -E2BIG     beyond a tr_options bound (a token too long, nesting too deep)
 *   -ENOMEM    out of memory
 * and keeps a one-line message for tr_error.  Events already handed over
 * before an error stay handed over. */
int tr_read(struct tr_reader *r, const char *path, const struct tr_callbacks *cb, void *ctx);

/* The last tr_read's failure, one line naming the file: "cannot open F: No
 * such file or directory", "F is not a readable trace: truncated gzip";
 * "" after a success. */
const char *tr_error(const struct tr_reader *r);

/* How far the current tr_read has read its file, in bytes of the file as
 * stored (compressed, for a gzip'd one): for progress against its size,
 * from a callback.  0 outside tr_read. */
uint64_t tr_position(const struct tr_reader *r);

/* The interned copy of s[0..len) (cut at a NUL: names are C strings), so a
 * caller can compare names by pointer; NULL when out of memory. */
const char *tr_intern(struct tr_reader *r, const char *s, size_t len);
/* How many distinct names the reader holds. */
size_t tr_interned(const struct tr_reader *r);

/* With tr_options.args_text, from the event callback: parses ev's args
 * into ev->args and ev->n_args (ev is the event the callback was given);
 * 0 or -ENOMEM.  Without args_text they are there already: 0.  The
 * event's other strings may move meanwhile (ev points to where they are):
 * call it before keeping pointers to them. */
int tr_event_args(struct tr_reader *r, const struct tr_event *ev);

/* The last argument of ev named key (by pointer or by text), or NULL. */
const struct tr_value *tr_arg(const struct tr_event *ev, const char *key);

#endif
