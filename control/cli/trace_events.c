/*
 * The trace reader's parse side: JSON (found by trace_lex.c) turned into
 * trace events and top-level fields.
 *
 * An event is one unit: it is parsed whole, by recursive descent, from the
 * bytes read so far, and handed over at its close.  When the bytes run out
 * inside it, nothing has been handed over yet, and it is parsed again from
 * its start once more bytes are read (the file side reads at least as much
 * again as is pending, so a large event is parsed a bounded number of
 * times).  Around the events, the top levels are read a token at a time
 * with a stack of frames (bounded: tr_options.max_depth, so hostile nesting
 * is an error, not a crash) saying what each open array or object is: the
 * top-level object, traceEvents, a top-level field being reported, or
 * content skipped.  Recursion inside an event is bounded the same way.
 *
 * An event's strings go into one buffer (r->text) that is reused for the
 * next event; names are interned.  Values inside an event that are arrays
 * or objects ("Input Dims", omniprof's "Call stack") are rebuilt as compact
 * JSON, their strings escaped by the writer's one escaper (wr_json_escape)
 * unless they need no escaping (no backslash, and the lexer has checked
 * them), which is most.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace_internal.h"
#include "writer.h"

#define NO_TEXT SIZE_MAX
/* a value whose text is where it was read, in r->in: NUL-terminated in
 * place (end_event) once the event is whole */
#define IN_PLACE (SIZE_MAX - 1)

static struct tr_frame *top(struct tr_reader *r)
{
    return r->depth ? &r->stack[r->depth - 1] : NULL;
}

static void reset_event(struct tr_reader *r)
{
    memset(&r->ev, 0, sizeof r->ev);
    r->args.n = r->extra.n = 0;
    r->text.len = 0;
    r->n_ends = 0;
    r->id_off = NO_TEXT;
}

void tr_events_begin(struct tr_reader *r)
{
    r->depth = 0;
    r->saw_events = r->done = false;
    r->key = r->meta = r->meta_member = NULL;
    r->field = TR_K_OTHER;
    r->meta_index = -1;
    r->n_events = 0;
    reset_event(r);
}

/* Appends s[0..len) to b, NUL-terminated (the NUL not counted). */
static int put(struct tr_reader *r, struct tr_buf *b, const char *s, size_t len)
{
    int rc = tr_buf_reserve(b, len, r->lim.max_token);
    if (rc == -E2BIG)
        return tr_fail(r, rc, "an event or field larger than %zu bytes", r->lim.max_token);
    if (rc < 0)
        return tr_fail(r, rc, "out of memory");
    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

/* A number's type and value from its (NUL-terminated) text; integers of
 * up to 18 digits, the common case, without strtoll. */
static void classify(struct tr_value *v, const char *text)
{
    const char *p = text + (text[0] == '-');
    int64_t i = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 18; p++, digits++)
        i = i * 10 + (*p - '0');
    if (*p == '\0') {
        v->type = TR_INT;
        v->i = text[0] == '-' ? -i : i;
        v->d = (double)v->i;
        return;
    }
    if (!strpbrk(p, ".eE")) {
        errno = 0;
        long long big = strtoll(text, NULL, 10);
        if (errno != ERANGE) {
            v->type = TR_INT;
            v->i = big;
            v->d = (double)big;
            return;
        }
    }
    v->type = TR_REAL;
    v->d = strtod(text, NULL);
}

/* Keeps a string's or number's text in b at *off (NUL-terminated) and
 * completes v from it. */
static int hold(struct tr_reader *r, struct tr_buf *b, struct tr_value *v, const char *raw,
                size_t len, size_t *off)
{
    *off = b->len;
    int rc = put(r, b, raw, len);
    if (rc < 0)
        return rc;
    b->len++;
    v->len = len;
    if (v->type != TR_STRING)
        classify(v, b->p + *off);
    return 0;
}

/* classify() for text that is not NUL-terminated: integers of up to 18
 * digits in place, anything else through a copy in r->tmp. */
static int classify_n(struct tr_reader *r, struct tr_value *v, const char *s, size_t len)
{
    size_t i = len && s[0] == '-';
    int64_t n = 0;
    if (len - i <= 18 && i < len) {
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            n = n * 10 + (s[i] - '0');
        if (i == len) {
            v->type = TR_INT;
            v->i = s[0] == '-' ? -n : n;
            v->d = (double)v->i;
            return 0;
        }
    }
    r->tmp.len = 0;
    int rc = put(r, &r->tmp, s, len);
    if (rc == 0)
        classify(v, r->tmp.p);
    return rc;
}

/* Keeps a string's or number's text where it was read when it is in the
 * read buffer (most are: a string without escapes, any number), else in
 * r->text as hold() does; completes v. */
static int hold_event_text(struct tr_reader *r, struct tr_value *v, const char *raw, size_t len,
                           size_t *off)
{
    if (raw < r->in.p || raw >= r->in.p + r->in.len || r->ev.args_text)
        return hold(r, &r->text, v, raw, len, off); /* (args_text stays as read) */
    if (r->n_ends == r->cap_ends) {
        size_t cap = r->cap_ends ? r->cap_ends * 2 : 64;
        char **grown = realloc(r->ends, cap * sizeof *grown);
        if (!grown)
            return tr_fail(r, -ENOMEM, "out of memory");
        r->ends = grown;
        r->cap_ends = cap;
    }
    r->ends[r->n_ends++] = (char *)raw + len;
    *off = IN_PLACE;
    v->s = raw;
    v->len = len;
    return v->type == TR_STRING ? 0 : classify_n(r, v, raw, len);
}

static bool has_text(const struct tr_value *v)
{
    return v->type == TR_STRING || v->type == TR_INT || v->type == TR_REAL;
}

/* Microseconds as written ("12.3456", "-1") to nanoseconds, exactly (the
 * fourth decimal rounds); 1 when the text needs a double (an exponent, a
 * huge value): us_to_ns_double. */
static int us_to_ns(const char *s, size_t len, int64_t *out)
{
    size_t i = s[0] == '-';
    int64_t whole = 0, frac = 0;
    int digits = 0;
    bool up = false;
    const int64_t max_whole = INT64_MAX / 1000 - 1; /* room for ns and the rounding */
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (whole > (max_whole - 9) / 10)
            return 1;
        whole = whole * 10 + (s[i] - '0');
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (digits < 3)
                frac = frac * 10 + (s[i] - '0');
            else if (digits == 3)
                up = s[i] >= '5';
        }
    }
    if (i < len)
        return 1;
    for (; digits < 3; digits++)
        frac *= 10;
    int64_t ns = whole * 1000 + frac + up;
    *out = s[0] == '-' ? -ns : ns;
    return 0;
}

/* The same through a double, for NUL-terminated text; -ERANGE beyond
 * int64. */
static int us_to_ns_double(const char *s, int64_t *out)
{
    double d = strtod(s, NULL) * 1000.0;
    if (!(d < 9.2e18 && d > -9.2e18))
        return -ERANGE;
    *out = (int64_t)(d < 0 ? d - 0.5 : d + 0.5);
    return 0;
}

/* ---- what a value becomes ------------------------------------------------ */

static int push(struct tr_reader *r, struct tr_list *l, const char *key, const struct tr_value *v,
                size_t off)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        if (cap * sizeof *l->v > r->lim.max_token)
            return tr_fail(r, -E2BIG, "an event with too many arguments");
        struct tr_arg *grown = realloc(l->v, cap * sizeof *grown);
        if (grown)
            l->v = grown;
        size_t *offs = grown ? realloc(l->off, cap * sizeof *offs) : NULL;
        if (!offs)
            return tr_fail(r, -ENOMEM, "out of memory");
        l->off = offs;
        l->cap = cap;
    }
    l->v[l->n] = (struct tr_arg){key, *v};
    l->off[l->n++] = off;
    return 0;
}

static int list_scalar(struct tr_reader *r, struct tr_list *l, struct tr_value *v, const char *raw,
                       size_t len)
{
    size_t off = NO_TEXT;
    int rc = has_text(v) ? hold_event_text(r, v, raw, len, &off) : 0;
    return rc < 0 ? rc : push(r, l, r->key, v, off);
}

/* A top-level field or a member of one, to the field callback.  Elements of
 * a reported array are counted here. */
static int report(struct tr_reader *r, struct tr_frame *f, const struct tr_value *v)
{
    struct tr_field field = {.object = NULL, .index = -1, .key = r->key, .v = *v};
    if (f->role == TR_ROLE_META || f->role == TR_ROLE_META_ELEM) {
        field.object = r->meta;
        if (f->role == TR_ROLE_META_ELEM) {
            field.index = r->meta_index;
            field.member = r->meta_member;
        } else if (f->is_array) {
            field.index = (long)f->count++;
        }
        if (f->is_array)
            field.key = NULL;
    }
    int rc = r->cb->field ? r->cb->field(r->ctx, &field) : 0;
    return rc ? tr_stop(r, rc) : 0;
}

static int field_scalar(struct tr_reader *r, struct tr_frame *f, struct tr_value *v,
                        const char *raw, size_t len)
{
    if (f->role == TR_ROLE_ROOT && r->key == r->trace_events)
        return tr_fail(r, -ENOMSG, "traceEvents is not an array");
    size_t off;
    r->tmp.len = 0;
    if (has_text(v)) {
        int rc = hold(r, &r->tmp, v, raw, len, &off);
        if (rc < 0)
            return rc;
        v->s = r->tmp.p + off;
    }
    return report(r, f, v);
}

/* ---- the event's own keys ------------------------------------------------- */

static const char *wanted(enum tr_key k)
{
    switch (k) {
    case TR_K_PID:
    case TR_K_TID:
    case TR_K_ID: return "a number or a string";
    case TR_K_TS:
    case TR_K_DUR: return "a number";
    case TR_K_ARGS: return "an object";
    default: return "a string";
    }
}

static int wrong_type(struct tr_reader *r)
{
    return tr_fail(r, -EPROTO, "event %zu: \"%s\" is not %s", r->n_events, r->key,
                   wanted(r->field));
}

static int name_field(struct tr_reader *r, const char **dst, const struct tr_value *v,
                      const char *raw, size_t len)
{
    if (v->type != TR_STRING)
        return wrong_type(r);
    *dst = tr_intern(r, raw, len);
    return *dst ? 0 : tr_fail(r, -ENOMEM, "out of memory");
}

static int id_field(struct tr_reader *r, struct tr_id *id, struct tr_value *v, const char *raw,
                    size_t len)
{
    *id = (struct tr_id){.present = true, .is_str = v->type == TR_STRING};
    if (v->type == TR_STRING && r->field == TR_K_ID)
        return hold(r, &r->text, v, raw, len, &r->id_off);
    if (v->type == TR_STRING)
        return (id->str = tr_intern(r, raw, len)) ? 0 : tr_fail(r, -ENOMEM, "out of memory");
    if (v->type != TR_INT && v->type != TR_REAL)
        return wrong_type(r);
    size_t off;
    r->tmp.len = 0;
    int rc = hold(r, &r->tmp, v, raw, len, &off);
    if (rc < 0)
        return rc;
    /* a real beyond int64 ("pid": 1e300, "id": 2^64 - 1) has no int64 value */
    if (v->type == TR_REAL && !(v->d >= -0x1p63 && v->d < 0x1p63))
        return tr_fail(r, -EPROTO, "event %zu: \"%s\" is out of range", r->n_events, r->key);
    id->num = v->type == TR_INT ? v->i : (int64_t)v->d;
    return 0;
}

static int time_field(struct tr_reader *r, int64_t *ns, bool *has, const struct tr_value *v,
                      const char *raw, size_t len)
{
    if (v->type != TR_INT && v->type != TR_REAL)
        return wrong_type(r);
    int rc = us_to_ns(raw, len, ns);
    if (rc > 0) {
        r->tmp.len = 0;
        rc = put(r, &r->tmp, raw, len); /* NUL-terminated, for strtod */
        if (rc < 0)
            return rc;
        rc = us_to_ns_double(r->tmp.p, ns);
    }
    if (rc < 0)
        return tr_fail(r, -EPROTO, "event %zu: \"%s\" is out of range", r->n_events, r->key);
    *has = true;
    return 0;
}

static int event_scalar(struct tr_reader *r, struct tr_value *v, const char *raw, size_t len)
{
    struct tr_event *ev = &r->ev;
    switch (r->field) {
    case TR_K_PH: return name_field(r, &ev->ph, v, raw, len);
    case TR_K_CAT: return name_field(r, &ev->cat, v, raw, len);
    case TR_K_NAME: return name_field(r, &ev->name, v, raw, len);
    case TR_K_BP: return name_field(r, &ev->bp, v, raw, len);
    case TR_K_PID: return id_field(r, &ev->pid, v, raw, len);
    case TR_K_TID: return id_field(r, &ev->tid, v, raw, len);
    case TR_K_ID: return id_field(r, &ev->id, v, raw, len);
    case TR_K_TS: return time_field(r, &ev->ts_ns, &ev->has_ts, v, raw, len);
    case TR_K_DUR: return time_field(r, &ev->dur_ns, &ev->has_dur, v, raw, len);
    case TR_K_ARGS: return wrong_type(r);
    default: return list_scalar(r, &r->extra, v, raw, len);
    }
}

static void resolve(struct tr_list *l, const struct tr_buf *text)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->off[i] != IN_PLACE)
            l->v[i].v.s = l->off[i] == NO_TEXT ? NULL : text->p + l->off[i];
}

/* The event's lists and string id pointed into r->text, where it is now
 * (it moves when it grows, as tr_event_args may make it). */
static void point_into_text(struct tr_reader *r)
{
    struct tr_event *ev = &r->ev;
    resolve(&r->args, &r->text);
    resolve(&r->extra, &r->text);
    ev->args = r->args.v;
    ev->n_args = r->args.n;
    ev->extra = r->extra.v;
    ev->n_extra = r->extra.n;
    if (ev->id.is_str)
        ev->id.str = r->text.p + r->id_off;
}

static int end_event(struct tr_reader *r)
{
    struct tr_event *ev = &r->ev;
    point_into_text(r);
    /* the event is whole: the bytes after its values in r->in (a closing
     * quote, a comma, a brace) are not read again */
    for (size_t i = 0; i < r->n_ends; i++)
        *r->ends[i] = '\0';
    ev->index = r->n_events++;
    int rc = r->cb->event ? r->cb->event(r->ctx, ev) : 0;
    reset_event(r);
    return rc ? tr_stop(r, rc) : 0;
}

/* ---- values kept as compact JSON ------------------------------------------ */

static int put_escaped(struct tr_reader *r, const char *raw, size_t len)
{
    r->tmp.len = 0;
    int rc = put(r, &r->tmp, raw, len);
    size_t n = rc ? 0 : wr_json_escape(NULL, 0, r->tmp.p);
    if (rc == 0)
        rc = tr_buf_reserve(&r->text, n, r->lim.max_token);
    if (rc == 0) {
        wr_json_escape(r->text.p + r->text.len, n + 1, r->tmp.p);
        r->text.len += n;
    }
    return rc == -E2BIG ? tr_fail(r, rc, "an event larger than %zu bytes", r->lim.max_token)
           : rc < 0     ? tr_fail(r, rc, "out of memory")
                        : 0;
}

/* ---- scalars ---------------------------------------------------------------- */

/* A scalar token's text: a string's decoded (in r->dec when it holds
 * escapes), a number's or a literal's as written. */
static int text_of(struct tr_reader *r, const struct tr_value *v, const struct tr_tok *t,
                   const char **s, size_t *len)
{
    *s = t->s;
    *len = t->len;
    if (v->type != TR_STRING || !t->escaped)
        return 0;
    int rc = tr_lex_decode(r, t, &r->dec);
    *s = r->dec.p;
    *len = r->dec.len;
    return rc;
}

/* The next scalar, its text in *s and *len. */
static int scalar(struct tr_reader *r, struct tr_cur *c, struct tr_value *v, const char **s,
                  size_t *len)
{
    struct tr_tok t;
    int rc = tr_lex_scalar(r, c, v, &t);
    return rc ? rc : text_of(r, v, &t, s, len);
}

/* Whitespace and a colon, after a key. */
static int colon(struct tr_reader *r, struct tr_cur *c)
{
    int rc = tr_lex_space(r, c, false);
    if (rc)
        return rc;
    if (*c->p != ':')
        return tr_syntax(r, c, c->p, "parse error: a colon (':') must follow an object key");
    c->p++;
    return 0;
}

/* A key (c->p at its quote) and its colon, at the top levels: the key's
 * decoded text.  The whitespace after the colon is the next step's, so that
 * a unit never holds more than one token's worth of it. */
static int top_key(struct tr_reader *r, struct tr_cur *c, const char **s, size_t *len)
{
    if (*c->p != '"')
        return tr_syntax(r, c, c->p, "parse error: an object key must be a string");
    struct tr_tok t;
    struct tr_value v = {.type = TR_STRING};
    int rc = tr_lex_string(r, c, &t);
    if (rc == 0)
        rc = text_of(r, &v, &t, s, len);
    return rc ? rc : colon(r, c);
}

/* A key (c->p at its quote), its colon and the whitespace after, inside an
 * event: the key's decoded text. */
static int key(struct tr_reader *r, struct tr_cur *c, const char **s, size_t *len)
{
    int rc = top_key(r, c, s, len);
    return rc ? rc : tr_lex_space(r, c, false);
}

/* After a member or element: whitespace, then a comma (0) or the close
 * (*closed), else a syntax error. */
static int after(struct tr_reader *r, struct tr_cur *c, char close, bool *closed)
{
    int rc = tr_lex_space(r, c, false);
    if (rc)
        return rc;
    *closed = *c->p == close;
    if (*c->p != ',' && *c->p != close)
        return tr_syntax(r, c, c->p,
                         close == '}' ? "parse error: a comma or '}' must follow an object member"
                                      : "parse error: a comma or ']' must follow an array element");
    c->p++;
    return *closed ? 0 : tr_lex_space(r, c, false);
}

static int too_deep(struct tr_reader *r, int depth)
{
    return depth > r->lim.max_depth ? tr_fail(r, -E2BIG, "nested deeper than %d", r->lim.max_depth)
                                    : 0;
}

/* ---- values kept as compact JSON ------------------------------------------ */

/* The array or object at c->p, at nesting depth, appended to r->text as
 * compact JSON. */
static int capture(struct tr_reader *r, struct tr_cur *c, int depth)
{
    bool is_array = *c->p == '[', closed = false;
    char close = is_array ? ']' : '}';
    int rc = too_deep(r, depth);
    if (rc == 0)
        rc = put(r, &r->text, c->p++, 1);
    if (rc == 0)
        rc = tr_lex_space(r, c, false);
    if (rc == 0 && *c->p == close) {
        c->p++;
        return put(r, &r->text, &close, 1);
    }
    while (rc == 0 && !closed) {
        if (!is_array) {
            const char *k;
            size_t len;
            rc = key(r, c, &k, &len);
            if (rc == 0)
                rc = put_escaped(r, k, len);
            if (rc == 0)
                rc = put(r, &r->text, ":", 1);
            if (rc)
                break;
        }
        if (*c->p == '{' || *c->p == '[') {
            rc = capture(r, c, depth + 1);
        } else {
            struct tr_value v;
            struct tr_tok t;
            rc = tr_lex_scalar(r, c, &v, &t);
            if (rc == 0 && v.type == TR_STRING && t.escaped) {
                rc = tr_lex_decode(r, &t, &r->dec);
                if (rc == 0)
                    rc = put_escaped(r, r->dec.p, r->dec.len);
            } else if (rc == 0) {
                /* checked by the lexer: nothing in it to escape, quotes kept */
                bool quoted = v.type == TR_STRING;
                rc = put(r, &r->text, t.s - quoted, t.len + 2 * quoted);
            }
        }
        if (rc == 0)
            rc = after(r, c, close, &closed);
        if (rc == 0)
            rc = put(r, &r->text, closed ? &close : ",", 1);
    }
    return rc;
}

/* A captured value, whole, as a member of l under r->key. */
static int capture_into(struct tr_reader *r, struct tr_cur *c, int depth, struct tr_list *l)
{
    const char *k = r->key;
    bool is_array = *c->p == '[';
    size_t off = r->text.len;
    int rc = capture(r, c, depth);
    if (rc)
        return rc;
    struct tr_value v = {.type = is_array ? TR_ARRAY : TR_OBJECT, .len = r->text.len - off};
    r->text.len++; /* keep the NUL */
    return push(r, l, k, &v, off);
}

/* ---- events ------------------------------------------------------------------ */

/* The event key s[0..len) is one the reader knows: which.  Its bytes as
 * one little-endian word, against the known keys' (no call per key). */
#define TR_WORD(a, b, c, d)                                                                        \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
static enum tr_key known_key(const char *s, size_t len)
{
    if (len < 2 || len > 4)
        return TR_K_OTHER;
    const unsigned char *u = (const unsigned char *)s;
    uint32_t w = 0;
    for (size_t i = 0; i < len; i++)
        w |= (uint32_t)u[i] << (8 * i);
    switch (w) {
    case TR_WORD('p', 'h', 0, 0): return TR_K_PH;
    case TR_WORD('b', 'p', 0, 0): return TR_K_BP;
    case TR_WORD('i', 'd', 0, 0): return TR_K_ID;
    case TR_WORD('t', 's', 0, 0): return TR_K_TS;
    case TR_WORD('c', 'a', 't', 0): return TR_K_CAT;
    case TR_WORD('p', 'i', 'd', 0): return TR_K_PID;
    case TR_WORD('t', 'i', 'd', 0): return TR_K_TID;
    case TR_WORD('d', 'u', 'r', 0): return TR_K_DUR;
    case TR_WORD('n', 'a', 'm', 'e'): return TR_K_NAME;
    case TR_WORD('a', 'r', 'g', 's'): return TR_K_ARGS;
    default: return TR_K_OTHER;
    }
}

static int intern_key(struct tr_reader *r, const char *s, size_t len)
{
    r->key = tr_intern(r, s, len);
    return r->key ? 0 : tr_fail(r, -ENOMEM, "out of memory");
}

/* "args": an object; scalars to r->args, arrays and objects as JSON. */
static int event_args(struct tr_reader *r, struct tr_cur *c, int depth)
{
    bool closed = false;
    int rc = too_deep(r, depth);
    c->p++;
    if (rc == 0)
        rc = tr_lex_space(r, c, false);
    if (rc == 0 && *c->p == '}') {
        c->p++;
        return 0;
    }
    while (rc == 0 && !closed) {
        const char *s;
        size_t len;
        rc = key(r, c, &s, &len);
        if (rc == 0)
            rc = intern_key(r, s, len);
        if (rc == 0 && (*c->p == '{' || *c->p == '[')) {
            rc = capture_into(r, c, depth + 1, &r->args);
        } else if (rc == 0) {
            struct tr_value v;
            rc = scalar(r, c, &v, &s, &len);
            if (rc == 0)
                rc = list_scalar(r, &r->args, &v, s, len);
        }
        if (rc == 0)
            rc = after(r, c, '}', &closed);
    }
    return rc;
}

/* The value at c->p, checked and passed over. */
static int skip(struct tr_reader *r, struct tr_cur *c, int depth)
{
    if (*c->p != '{' && *c->p != '[') {
        struct tr_value v;
        struct tr_tok t;
        return tr_lex_scalar(r, c, &v, &t);
    }
    bool is_array = *c->p == '[', closed = false;
    char close = is_array ? ']' : '}';
    int rc = too_deep(r, depth);
    c->p++;
    if (rc == 0)
        rc = tr_lex_space(r, c, false);
    if (rc == 0 && *c->p == close) {
        c->p++;
        return 0;
    }
    while (rc == 0 && !closed) {
        struct tr_tok t;
        if (!is_array) {
            if (*c->p != '"')
                return tr_syntax(r, c, c->p, "parse error: an object key must be a string");
            rc = tr_lex_string(r, c, &t);
            if (rc == 0)
                rc = colon(r, c);
            if (rc == 0)
                rc = tr_lex_space(r, c, false);
        }
        if (rc == 0)
            rc = skip(r, c, depth + 1);
        if (rc == 0)
            rc = after(r, c, close, &closed);
    }
    return rc;
}

/* The args kept as text, parsed into r->args (their values copied: the
 * text stays as read). */
static int args_from_text(struct tr_reader *r)
{
    struct tr_cur c = {r->ev.args_text, r->ev.args_text + r->ev.args_len, true};
    const char *key = r->key;
    /* checked when it was read: nothing here fails but memory */
    int rc = event_args(r, &c, 0);
    r->key = key;
    return rc;
}

int tr_event_args(struct tr_reader *r, const struct tr_event *ev)
{
    if (ev != &r->ev || !ev->args_text || r->args.n)
        return 0;
    int rc = args_from_text(r);
    point_into_text(r);
    return rc;
}

/* One member of an event, its key read. */
static int event_member(struct tr_reader *r, struct tr_cur *c, int depth)
{
    if (*c->p == '{' || *c->p == '[') {
        if (r->field == TR_K_ARGS && *c->p == '{' && r->lim.args_text && !r->ev.args_text) {
            const char *start = c->p;
            int rc = skip(r, c, depth + 1);
            r->ev.args_text = start;
            r->ev.args_len = (size_t)(c->p - start);
            return rc;
        }
        if (r->field == TR_K_ARGS && *c->p == '{') {
            /* a second "args": both parsed, in order, as without args_text */
            int rc = r->ev.args_text ? args_from_text(r) : 0;
            r->ev.args_text = NULL;
            return rc ? rc : event_args(r, c, depth + 1);
        }
        if (r->field != TR_K_OTHER)
            return wrong_type(r);
        return capture_into(r, c, depth + 1, &r->extra);
    }
    struct tr_value v;
    const char *s;
    size_t len;
    int rc = scalar(r, c, &v, &s, &len);
    return rc ? rc : event_scalar(r, &v, s, len);
}

/* The event at c->p (a '{') at nesting depth, whole, to the callback. */
static int event(struct tr_reader *r, struct tr_cur *c, int depth)
{
    bool closed = false;
    int rc = too_deep(r, depth);
    reset_event(r);
    r->in_event = true;
    c->p++;
    if (rc == 0)
        rc = tr_lex_space(r, c, false);
    if (rc == 0 && *c->p == '}') {
        c->p++;
        closed = true;
    }
    while (rc == 0 && !closed) {
        const char *s;
        size_t len;
        rc = key(r, c, &s, &len);
        if (rc)
            break;
        r->field = known_key(s, len);
        if (r->field != TR_K_OTHER)
            r->key = r->keys[r->field];
        else
            rc = intern_key(r, s, len);
        if (rc == 0)
            rc = event_member(r, c, depth);
        if (rc == 0)
            rc = after(r, c, '}', &closed);
    }
    if (rc)
        return rc;
    r->in_event = false;
    return end_event(r);
}

/* ---- the top levels, a token at a time ----------------------------------------- */

static int open_frame(struct tr_reader *r, struct tr_cur *c, enum tr_role role)
{
    if (r->depth >= r->lim.max_depth)
        return tr_fail(r, -E2BIG, "nested deeper than %d", r->lim.max_depth);
    bool is_array = *c->p++ == '[';
    r->saw_events |= role == TR_ROLE_EVENTS;
    r->stack[r->depth++] = (struct tr_frame){role, TR_FIRST, is_array, 0};
    return 0;
}

/* An array or object opening in frame f: what it is; reported when it is
 * a top-level field or a member of one. */
static int open_child(struct tr_reader *r, struct tr_cur *c, struct tr_frame *f)
{
    bool is_array = *c->p == '[';
    struct tr_value flag = {.type = is_array ? TR_ARRAY : TR_OBJECT};
    enum tr_role role = TR_ROLE_SKIP;
    int rc = 0;
    switch (f->role) {
    case TR_ROLE_ROOT:
        if (r->key == r->trace_events) {
            if (!is_array)
                return tr_fail(r, -ENOMSG, "traceEvents is not an array");
            return open_frame(r, c, TR_ROLE_EVENTS);
        }
        r->meta = r->key;
        role = TR_ROLE_META;
        rc = report(r, f, &flag);
        break;
    case TR_ROLE_META:
        r->meta_index = f->is_array ? (long)f->count : -1;
        r->meta_member = f->is_array ? NULL : r->key;
        role = f->is_array || r->lim.member_fields ? TR_ROLE_META_ELEM : TR_ROLE_SKIP;
        rc = report(r, f, &flag);
        break;
    case TR_ROLE_META_ELEM: rc = report(r, f, &flag); break;
    default: break;
    }
    return rc ? rc : open_frame(r, c, role);
}

/* A value in frame f: an event, a field reported, or content skipped. */
static int value(struct tr_reader *r, struct tr_cur *c, struct tr_frame *f)
{
    if (f->role == TR_ROLE_EVENTS) {
        if (*c->p == '{')
            return event(r, c, r->depth + 1);
        struct tr_value v;
        struct tr_tok t;
        /* a scalar is lexed first: bad JSON is said before a bad trace */
        int rc = *c->p == '[' ? 0 : tr_lex_scalar(r, c, &v, &t);
        return rc ? rc : tr_fail(r, -EPROTO, "traceEvents[%zu] is not an object", r->n_events);
    }
    if (*c->p == '{' || *c->p == '[')
        return open_child(r, c, f);
    struct tr_value v;
    const char *s;
    size_t len;
    int rc = scalar(r, c, &v, &s, &len);
    return rc || f->role == TR_ROLE_SKIP ? rc : field_scalar(r, f, &v, s, len);
}

static int close_frame(struct tr_reader *r, struct tr_cur *c)
{
    c->p++;
    if (--r->depth == 0)
        r->done = true;
    else
        r->stack[r->depth - 1].expect = TR_NEXT;
    return 0;
}

/* The top-level value, when nothing is open: the trace object, a bare
 * array of events, or a scalar (not a trace: said at the end). */
static int top_value(struct tr_reader *r, struct tr_cur *c)
{
    if (r->done)
        return tr_syntax(r, c, c->p, "parse error: trailing garbage");
    if (*c->p == '{' || *c->p == '[')
        return open_frame(r, c, *c->p == '{' ? TR_ROLE_ROOT : TR_ROLE_EVENTS);
    struct tr_value v;
    struct tr_tok t;
    int rc = tr_lex_scalar(r, c, &v, &t);
    r->done = rc == 0;
    return rc;
}

/* One unit, after whitespace: a token, a key with its colon, or an event. */
static int step(struct tr_reader *r, struct tr_cur *c)
{
    int rc;
    if (c->p == c->end) /* the end of the file */
        return r->done ? TR_DONE : tr_syntax(r, c, c->p, "unexpected end of file");
    if (r->depth == 0)
        return top_value(r, c);
    struct tr_frame *f = top(r);
    char close = f->is_array ? ']' : '}';
    switch (f->expect) {
    case TR_NEXT:
        if (*c->p == close)
            return close_frame(r, c);
        if (*c->p != ',')
            return tr_syntax(r, c, c->p,
                             f->is_array
                                 ? "parse error: a comma or ']' must follow an array element"
                                 : "parse error: a comma or '}' must follow an object member");
        c->p++;
        f->expect = f->is_array ? TR_VALUE : TR_KEY;
        return 0;
    case TR_FIRST:
        if (*c->p == close)
            return close_frame(r, c);
        /* fall through */
    case TR_KEY:
        if (!f->is_array) {
            const char *s = NULL;
            size_t len = 0;
            rc = top_key(r, c, &s, &len);
            if (rc == 0 && f->role != TR_ROLE_SKIP)
                rc = intern_key(r, s, len);
            if (rc == 0)
                f->expect = TR_VALUE;
            return rc;
        }
        /* fall through */
    case TR_VALUE: break;
    }
    rc = value(r, c, f);
    /* an event or scalar is whole: the frame goes on; a child that opened
     * is the top frame now, and sets f's expect when it closes */
    if (rc == 0)
        f->expect = TR_NEXT;
    return rc;
}

int tr_parse(struct tr_reader *r, struct tr_cur *c)
{
    for (;;) {
        /* whitespace between units is passed over for good, however long */
        r->token = NULL;
        r->in_event = false;
        int rc = tr_lex_space(r, c, true);
        if (rc)
            return rc;
        const char *unit = c->p;
        rc = step(r, c);
        if (rc == TR_MORE)
            c->p = unit;
        if (rc)
            return rc;
    }
}
