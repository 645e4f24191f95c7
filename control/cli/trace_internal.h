/*
 * The trace reader's insides, shared by its four files:
 *   trace_reader.c  the file: gzread into a buffer that grows with the
 *                   largest unit; errors and their messages;
 *   trace_lex.c     JSON's tokens, found in place in that buffer;
 *   trace_events.c  the parse: the nesting, events, args, fields;
 *   trace_names.c   the interned names (open addressing).
 * Nothing here is for the reader's callers: they have trace_reader.h.
 */
#ifndef OMNIPROF_TRACE_INTERNAL_H
#define OMNIPROF_TRACE_INTERNAL_H

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

/* What an open array or object is.  An event, with everything in it, is
 * read as one unit and has no frame of its own. */
enum tr_role {
    TR_ROLE_ROOT,      /* the top-level object */
    TR_ROLE_EVENTS,    /* traceEvents, or a top-level array of events */
    TR_ROLE_META,      /* a top-level field that is an array or object */
    TR_ROLE_META_ELEM, /* an element of a top-level array (or a member, with member_fields) */
    TR_ROLE_SKIP,      /* deeper top-level content, not reported */
};

/* What comes next in an open array or object. */
enum tr_expect {
    TR_FIRST, /* a key, a value or the close */
    TR_KEY,   /* a key (after a comma) */
    TR_VALUE, /* a value (after a key, or a comma in an array) */
    TR_NEXT,  /* a comma or the close */
};

struct tr_frame {
    enum tr_role role;
    enum tr_expect expect;
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

/* The unread bytes of the read buffer, for one parse. */
struct tr_cur {
    const char *p, *end;
    bool eof; /* end is the end of the file */
};

/* A string, number or literal as it stands in the read buffer: a string's
 * bytes between its quotes, still escaped when escaped is set. */
struct tr_tok {
    const char *s;
    size_t len;
    bool escaped;
};

/* Returned (positive) when a unit runs past the bytes read so far: read
 * more and parse again from where the unit began. */
#define TR_MORE 1
/* Returned by tr_parse when the file has been read to its end. */
#define TR_DONE 2

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
    bool done;         /* the top-level value is complete */
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
    struct tr_buf text; /* its strings and captured values */
    struct tr_buf tmp;  /* a scalar's text for the moment of a call */
    struct tr_buf dec;  /* an escaped string, decoded */
    char **ends;        /* where values read in place end (IN_PLACE) */
    size_t n_ends, cap_ends;

    struct tr_buf in; /* the read buffer */
    uint64_t base;    /* the file offset of in.p[0] (uncompressed) */
    /* a string that ran out of bytes: its file offset, and how many of its
     * bytes were checked (0: none kept), with a backslash among them */
    struct tr_resume {
        uint64_t at;
        size_t len;
        bool escaped;
    } resume;
    /* on TR_MORE: the token that ran out of bytes (NULL: between tokens),
     * and whether an event did */
    const char *token;
    bool in_event;
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

/* ---- the lexer (trace_lex.c): 0, TR_MORE or -EBADMSG ------------------- */

/* "invalid JSON at byte N: <what>", N the byte at (from 1), or the file's
 * length when at is its end. */
int tr_syntax(struct tr_reader *r, const struct tr_cur *c, const char *at, const char *what);
/* JSON's whitespace (and \v, \f, as yajl took them). */
static inline bool tr_is_space(char ch)
{
    return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t' || ch == '\v' || ch == '\f';
}
int tr_lex_space_slow(struct tr_reader *r, struct tr_cur *c, bool end_ok);
/* Skips whitespace; at the end of the bytes read, TR_MORE, or 0 when
 * end_ok and the file ends there.  Inline: it runs between every two
 * tokens, and mostly finds one space or none. */
static inline int tr_lex_space(struct tr_reader *r, struct tr_cur *c, bool end_ok)
{
    if (c->p < c->end && !tr_is_space(*c->p))
        return 0;
    if (c->end - c->p >= 2 && *c->p == ' ' && !tr_is_space(c->p[1])) {
        c->p++;
        return 0;
    }
    return tr_lex_space_slow(r, c, end_ok);
}
/* The string at c->p (a '"'), checked; t without the quotes. */
int tr_lex_string(struct tr_reader *r, struct tr_cur *c, struct tr_tok *t);
int tr_lex_number(struct tr_reader *r, struct tr_cur *c, struct tr_tok *t);
/* A string, number, true, false or null at c->p: v->type (TR_REAL for any
 * number, TR_BOOL with v->b) and its token. */
int tr_lex_scalar(struct tr_reader *r, struct tr_cur *c, struct tr_value *v, struct tr_tok *t);
/* A string token's text with its escapes decoded, into b (from its start,
 * NUL-terminated); 0 or -ENOMEM. */
int tr_lex_decode(struct tr_reader *r, const struct tr_tok *t, struct tr_buf *b);

/* ---- the parse (trace_events.c) ---------------------------------------- */

/* Resets the nesting and the event for a new file. */
void tr_events_begin(struct tr_reader *r);
/* Parses c->p..c->end as far as whole units go, calling the callbacks:
 * TR_MORE with c->p where the next unit begins, TR_DONE at the end of the
 * file, or a negative errno. */
int tr_parse(struct tr_reader *r, struct tr_cur *c);

#endif
