/*
 * The trace reader's parse side: yajl's callbacks, turning the stream of
 * JSON tokens into trace events and top-level fields.
 *
 * A stack of frames (bounded: tr_options.max_depth, so hostile nesting is an
 * error, not a crash) says what each open array or object is: the top-level
 * object, traceEvents, an event, its args, a value kept as JSON text, a
 * top-level field being reported, or content skipped.  An event's strings
 * go into one buffer (r->text) that is reused for the next event; names are
 * interned.  Values inside an event that are arrays or objects ("Input
 * Dims", omniprof's "Call stack") are rebuilt as compact JSON, their strings
 * escaped by the writer's one escaper (wr_json_escape).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace_internal.h"
#include "writer.h"

#define NO_TEXT SIZE_MAX

static struct tr_frame *top(struct tr_reader *r)
{
    return r->depth ? &r->stack[r->depth - 1] : NULL;
}

static void reset_event(struct tr_reader *r)
{
    memset(&r->ev, 0, sizeof r->ev);
    r->args.n = r->extra.n = 0;
    r->text.len = 0;
    r->id_off = NO_TEXT;
}

void tr_events_begin(struct tr_reader *r)
{
    r->depth = 0;
    r->saw_events = false;
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

static bool has_text(const struct tr_value *v)
{
    return v->type == TR_STRING || v->type == TR_INT || v->type == TR_REAL;
}

/* Microseconds as written ("12.3456", "-1", "1e3") to nanoseconds: exact
 * for plain decimals (the fourth decimal rounds), through a double for
 * exponents; -ERANGE beyond int64. */
static int us_to_ns(const char *s, size_t len, int64_t *out)
{
    size_t i = s[0] == '-';
    int64_t whole = 0, frac = 0;
    int digits = 0;
    bool up = false;
    const int64_t max_whole = INT64_MAX / 1000 - 1; /* room for ns and the rounding */
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (whole > (max_whole - 9) / 10)
            goto through_double;
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
        goto through_double;
    for (; digits < 3; digits++)
        frac *= 10;
    int64_t ns = whole * 1000 + frac + up;
    *out = s[0] == '-' ? -ns : ns;
    return 0;
through_double:;
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
    int rc = has_text(v) ? hold(r, &r->text, v, raw, len, &off) : 0;
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
    r->tmp.len = 0;
    int rc = put(r, &r->tmp, raw, len); /* NUL-terminated, for strtod */
    if (rc < 0)
        return rc;
    if (us_to_ns(r->tmp.p, len, ns) < 0)
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
        l->v[i].v.s = l->off[i] == NO_TEXT ? NULL : text->p + l->off[i];
}

static int end_event(struct tr_reader *r)
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

/* The comma before an element of a captured array. */
static int separate(struct tr_reader *r, struct tr_frame *f)
{
    return f->is_array && f->count++ > 0 ? put(r, &r->text, ",", 1) : 0;
}

static int capture_scalar(struct tr_reader *r, struct tr_frame *f, const struct tr_value *v,
                          const char *raw, size_t len)
{
    int rc = separate(r, f);
    if (rc < 0)
        return rc;
    return v->type == TR_STRING ? put_escaped(r, raw, len) : put(r, &r->text, raw, len);
}

static int capture_key(struct tr_reader *r, struct tr_frame *f, const char *k, size_t len)
{
    int rc = f->count++ ? put(r, &r->text, ",", 1) : 0;
    if (rc == 0)
        rc = put_escaped(r, k, len);
    return rc ? rc : put(r, &r->text, ":", 1);
}

static int begin_capture(struct tr_reader *r, struct tr_list *into, bool is_array)
{
    r->cap_into = into;
    r->cap_key = r->key;
    r->cap_off = r->text.len;
    return put(r, &r->text, is_array ? "[" : "{", 1);
}

static int end_capture(struct tr_reader *r, bool is_array)
{
    int rc = put(r, &r->text, is_array ? "]" : "}", 1);
    if (rc < 0 || (r->depth && top(r)->role == TR_ROLE_CAPTURE))
        return rc;
    struct tr_value v = {.type = is_array ? TR_ARRAY : TR_OBJECT, .len = r->text.len - r->cap_off};
    r->text.len++; /* keep the NUL */
    return push(r, r->cap_into, r->cap_key, &v, r->cap_off);
}

/* ---- nesting ----------------------------------------------------------------- */

static int child_of_event(struct tr_reader *r, bool is_array, enum tr_role *role)
{
    *role = TR_ROLE_CAPTURE;
    if (r->field == TR_K_ARGS) {
        *role = TR_ROLE_ARGS;
        return is_array ? wrong_type(r) : 0;
    }
    if (r->field != TR_K_OTHER)
        return wrong_type(r);
    return begin_capture(r, &r->extra, is_array);
}

/* What an array or object opening under up is; reports it when it is a
 * top-level field. */
static int child_role(struct tr_reader *r, struct tr_frame *up, bool is_array, enum tr_role *role)
{
    struct tr_value flag = {.type = is_array ? TR_ARRAY : TR_OBJECT};
    *role = TR_ROLE_SKIP;
    if (!up) {
        r->saw_events |= is_array;
        *role = is_array ? TR_ROLE_EVENTS : TR_ROLE_ROOT;
        return 0;
    }
    switch (up->role) {
    case TR_ROLE_ROOT:
        if (r->key == r->trace_events) {
            r->saw_events = true;
            *role = TR_ROLE_EVENTS;
            return is_array ? 0 : tr_fail(r, -ENOMSG, "traceEvents is not an array");
        }
        r->meta = r->key;
        *role = TR_ROLE_META;
        return report(r, up, &flag);
    case TR_ROLE_META:
        r->meta_index = up->is_array ? (long)up->count : -1;
        r->meta_member = up->is_array ? NULL : r->key;
        *role = up->is_array || r->lim.member_fields ? TR_ROLE_META_ELEM : TR_ROLE_SKIP;
        return report(r, up, &flag);
    case TR_ROLE_META_ELEM: return report(r, up, &flag);
    case TR_ROLE_SKIP: return 0;
    case TR_ROLE_EVENTS:
        *role = TR_ROLE_EVENT;
        return is_array ? tr_fail(r, -EPROTO, "traceEvents[%zu] is not an object", r->n_events) : 0;
    case TR_ROLE_EVENT: return child_of_event(r, is_array, role);
    case TR_ROLE_ARGS: *role = TR_ROLE_CAPTURE; return begin_capture(r, &r->args, is_array);
    case TR_ROLE_CAPTURE: {
        *role = TR_ROLE_CAPTURE;
        int rc = separate(r, up);
        return rc ? rc : put(r, &r->text, is_array ? "[" : "{", 1);
    }
    }
    return 0;
}

static int open_container(struct tr_reader *r, bool is_array)
{
    if (r->depth >= r->lim.max_depth)
        return tr_fail(r, -E2BIG, "nested deeper than %d", r->lim.max_depth);
    enum tr_role role;
    int rc = child_role(r, top(r), is_array, &role);
    if (rc < 0)
        return rc;
    r->stack[r->depth++] = (struct tr_frame){role, is_array, 0};
    return 0;
}

static int close_container(struct tr_reader *r)
{
    struct tr_frame f = r->stack[--r->depth];
    switch (f.role) {
    case TR_ROLE_EVENT: return end_event(r);
    case TR_ROLE_CAPTURE: return end_capture(r, f.is_array);
    default: return 0;
    }
}

/* ---- yajl's callbacks: 1 goes on, 0 stops (r->status says why) ------------ */

static int scalar(struct tr_reader *r, struct tr_value *v, const char *raw, size_t len)
{
    struct tr_frame *f = top(r);
    if (!f)
        return 0; /* a bare scalar: not a trace, said at the end */
    switch (f->role) {
    case TR_ROLE_CAPTURE: return capture_scalar(r, f, v, raw, len);
    case TR_ROLE_SKIP: return 0;
    case TR_ROLE_EVENTS:
        return tr_fail(r, -EPROTO, "traceEvents[%zu] is not an object", r->n_events);
    case TR_ROLE_EVENT: return event_scalar(r, v, raw, len);
    case TR_ROLE_ARGS: return list_scalar(r, &r->args, v, raw, len);
    default: return field_scalar(r, f, v, raw, len);
    }
}

static int on_null(void *ctx)
{
    struct tr_value v = {.type = TR_NULL};
    return scalar(ctx, &v, "null", 4) == 0;
}

static int on_boolean(void *ctx, int b)
{
    struct tr_value v = {.type = TR_BOOL, .b = b != 0};
    return scalar(ctx, &v, b ? "true" : "false", b ? 4 : 5) == 0;
}

static int on_number(void *ctx, const char *s, size_t len)
{
    struct tr_value v = {.type = TR_REAL}; /* made exact by classify() */
    return scalar(ctx, &v, s, len) == 0;
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    struct tr_value v = {.type = TR_STRING};
    return scalar(ctx, &v, (const char *)s, len) == 0;
}

static enum tr_key event_key(const struct tr_reader *r, const char *key)
{
    for (int k = TR_K_OTHER + 1; k < TR_K_COUNT; k++)
        if (r->keys[k] == key)
            return (enum tr_key)k;
    return TR_K_OTHER;
}

static int on_map_key(void *ctx, const unsigned char *k, size_t len)
{
    struct tr_reader *r = ctx;
    struct tr_frame *f = top(r);
    if (f->role == TR_ROLE_SKIP)
        return 1;
    if (f->role == TR_ROLE_CAPTURE)
        return capture_key(r, f, (const char *)k, len) == 0;
    r->key = tr_intern(r, (const char *)k, len);
    if (!r->key)
        return tr_fail(r, -ENOMEM, "out of memory"), 0;
    if (f->role == TR_ROLE_EVENT)
        r->field = event_key(r, r->key);
    return 1;
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, false) == 0;
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, true) == 0;
}

static int on_end(void *ctx)
{
    return close_container(ctx) == 0;
}

const yajl_callbacks tr_yajl_callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};
