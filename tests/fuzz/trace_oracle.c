/*
 * The trace reader's oracle for fuzz_trace.c: yajl_tree parses the bytes
 * whole, and an event's fields are looked up in its object as the trace
 * format says, not as the reader streams them:
 *   - ph, cat, name, bp, pid, tid, id, ts, dur: the last member of the key
 *     (a string; pid, tid, id a number or a string; ts, dur a number);
 *   - args: the members of every "args" object, in order;
 *   - extra: every other member, in order;
 * strings compare up to a NUL (names are C strings), numbers by their text,
 * arrays and objects kept as text by parsing that text and comparing trees.
 * Times: a plain decimal of microseconds is exact nanoseconds (the fourth
 * decimal rounds half up); one with an exponent is within 1 ns of
 * llround(strtod * 1000).
 */
#include "trace_oracle.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

struct oracle {
    yajl_val root;
    yajl_val *events;
    size_t n;
};

static bool push(struct oracle *o, yajl_val v)
{
    yajl_val *grown = realloc(o->events, (o->n + 1) * sizeof *grown);
    if (!grown)
        return false;
    o->events = grown;
    o->events[o->n++] = v;
    return true;
}

/* Whether data holds a \uD800-\uDFFF escape.  yajl decodes a lone or
 * mismatched surrogate its own way (a lone low one as its 3-byte form,
 * which is no UTF-8; a high one before any other \u as one code point made
 * of both); the reader makes a lone half U+FFFD and only a true pair one
 * code point (test_trace_reader.c checks that): no oracle for such bytes. */
static bool has_surrogate_escape(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i + 3 < size; i++)
        if (data[i] == '\\' && data[i + 1] == 'u' && (data[i + 2] | 0x20) == 'd' &&
            strchr("89abcdefABCDEF", data[i + 3]) && data[i + 3])
            return true;
    return false;
}

struct oracle *oracle_new(const uint8_t *data, size_t size)
{
    if (memchr(data, '\0', size) || has_surrogate_escape(data, size))
        return NULL;
    char *text = malloc(size + 1);
    struct oracle *o = calloc(1, sizeof *o);
    if (!text || !o) {
        free(text);
        free(o);
        return NULL;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    char why[128];
    o->root = yajl_tree_parse(text, why, sizeof why);
    free(text);
    bool ok = o->root != NULL;
    if (YAJL_IS_ARRAY(o->root)) {
        for (size_t i = 0; ok && i < o->root->u.array.len; i++)
            ok = push(o, o->root->u.array.values[i]);
    } else if (YAJL_IS_OBJECT(o->root)) {
        for (size_t k = 0; ok && k < o->root->u.object.len; k++) {
            yajl_val v = o->root->u.object.values[k];
            if (strcmp(o->root->u.object.keys[k], "traceEvents") != 0 || !YAJL_IS_ARRAY(v))
                continue;
            for (size_t i = 0; ok && i < v->u.array.len; i++)
                ok = push(o, v->u.array.values[i]);
        }
    }
    if (!ok) {
        oracle_free(o);
        return NULL;
    }
    return o;
}

void oracle_free(struct oracle *o)
{
    if (!o)
        return;
    yajl_tree_free(o->root);
    free(o->events);
    free(o);
}

size_t oracle_events(const struct oracle *o)
{
    return o->n;
}

/* ---- comparing values ----------------------------------------------------- */

/* a's bytes up to a NUL are b's (yajl_tree's strings are C strings). */
static bool same_cstr(const char *a, size_t a_len, const char *b)
{
    size_t n = strlen(b);
    return n <= a_len && memcmp(a, b, n) == 0 && (n == a_len || a[n] == '\0');
}

static bool same_tree(yajl_val a, yajl_val b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case yajl_t_string: return strcmp(a->u.string, b->u.string) == 0;
    case yajl_t_number: return strcmp(a->u.number.r, b->u.number.r) == 0;
    case yajl_t_object:
        if (a->u.object.len != b->u.object.len)
            return false;
        for (size_t i = 0; i < a->u.object.len; i++)
            if (strcmp(a->u.object.keys[i], b->u.object.keys[i]) != 0 ||
                !same_tree(a->u.object.values[i], b->u.object.values[i]))
                return false;
        return true;
    case yajl_t_array:
        if (a->u.array.len != b->u.array.len)
            return false;
        for (size_t i = 0; i < a->u.array.len; i++)
            if (!same_tree(a->u.array.values[i], b->u.array.values[i]))
                return false;
        return true;
    default: return true;
    }
}

/* A value the reader handed over against the tree's. */
static bool same_value(const struct tr_value *v, yajl_val t)
{
    switch (t->type) {
    case yajl_t_string: return v->type == TR_STRING && same_cstr(v->s, v->len, t->u.string);
    case yajl_t_number:
        return (v->type == TR_INT || v->type == TR_REAL) && strcmp(v->s, t->u.number.r) == 0;
    case yajl_t_true: return v->type == TR_BOOL && v->b;
    case yajl_t_false: return v->type == TR_BOOL && !v->b;
    case yajl_t_null: return v->type == TR_NULL;
    case yajl_t_object:
    case yajl_t_array: {
        if (v->type != (t->type == yajl_t_object ? TR_OBJECT : TR_ARRAY) || !v->s)
            return false;
        char why[128];
        yajl_val kept = yajl_tree_parse(v->s, why, sizeof why);
        bool same = kept && same_tree(kept, t);
        yajl_tree_free(kept);
        return same;
    }
    default: return false;
    }
}

/* ---- an event's fields ------------------------------------------------------ */

/* The last member of key in the event's object, or NULL. */
static yajl_val last(yajl_val ev, const char *key)
{
    yajl_val found = NULL;
    for (size_t i = 0; i < ev->u.object.len; i++)
        if (strcmp(ev->u.object.keys[i], key) == 0)
            found = ev->u.object.values[i];
    return found;
}

static bool same_name(const char *name, yajl_val t)
{
    if (!t)
        return name == NULL;
    return name && YAJL_IS_STRING(t) && same_cstr(name, strlen(name), t->u.string);
}

/* pid, tid, id: a string (up to a NUL), or a number's value: an integer's
 * (written without '.', 'e' or 'E' and within int64), else the double's
 * toward zero. */
static bool same_id(const struct tr_id *id, yajl_val t)
{
    if (!t)
        return !id->present;
    if (!id->present)
        return false;
    if (YAJL_IS_STRING(t))
        return id->is_str && id->str && same_cstr(id->str, strlen(id->str), t->u.string);
    if (!YAJL_IS_NUMBER(t) || id->is_str)
        return false;
    const char *s = t->u.number.r;
    errno = 0;
    long long i = strtoll(s, NULL, 10);
    if (!strpbrk(s, ".eE") && errno != ERANGE)
        return id->num == i;
    double d = strtod(s, NULL);
    return d >= -0x1p63 && d < 0x1p63 && id->num == (int64_t)d;
}

/* Microseconds as written to nanoseconds: exact for a plain decimal of up
 * to 15 whole digits, else near llround(strtod * 1000). */
static bool same_time(bool has, int64_t ns, yajl_val t)
{
    if (!t)
        return !has && ns == 0;
    if (!has || !YAJL_IS_NUMBER(t))
        return false;
    const char *s = t->u.number.r;
    bool minus = *s == '-';
    const char *p = s + minus;
    int64_t whole = 0, frac = 0;
    int digits = 0, decimals = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++)
        whole = digits < 15 ? whole * 10 + (*p - '0') : whole;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, decimals++)
            if (decimals < 4)
                frac = frac * 10 + (*p - '0');
    if (*p == '\0' && digits <= 15) {
        for (; decimals < 4; decimals++)
            frac *= 10;
        int64_t want = whole * 1000 + frac / 10 + (frac % 10 >= 5);
        return ns == (minus ? -want : want);
    }
    double want = round(strtod(s, NULL) * 1000.0);
    return fabs((double)ns - want) <= 1.0 + fabs(want) * 1e-15;
}

static bool known_key(const char *k)
{
    static const char *const known[] = {"ph",  "cat", "name", "bp",  "pid",
                                        "tid", "id",  "ts",   "dur", "args"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(k, known[i]) == 0)
            return true;
    return false;
}

/* The members of ev's "args" objects (args) or its other keys (extra)
 * against the reader's list. */
static bool same_members(yajl_val ev, bool args, const struct tr_arg *m, size_t n)
{
    size_t at = 0;
    for (size_t i = 0; i < ev->u.object.len; i++) {
        const char *k = ev->u.object.keys[i];
        yajl_val v = ev->u.object.values[i];
        if (args && strcmp(k, "args") == 0) {
            if (!YAJL_IS_OBJECT(v))
                return false;
            for (size_t j = 0; j < v->u.object.len; j++, at++)
                if (at >= n || !same_cstr(m[at].key, strlen(m[at].key), v->u.object.keys[j]) ||
                    !same_value(&m[at].v, v->u.object.values[j]))
                    return false;
        } else if (!args && !known_key(k)) {
            if (at >= n || !same_cstr(m[at].key, strlen(m[at].key), k) || !same_value(&m[at].v, v))
                return false;
            at++;
        }
    }
    return at == n;
}

const char *oracle_differs(const struct oracle *o, const struct tr_event *ev)
{
    if (ev->index >= o->n)
        return "an event the tree does not have";
    yajl_val t = o->events[ev->index];
    if (!YAJL_IS_OBJECT(t))
        return "an event where the tree has no object";
    if (!same_name(ev->ph, last(t, "ph")) || !same_name(ev->cat, last(t, "cat")) ||
        !same_name(ev->name, last(t, "name")) || !same_name(ev->bp, last(t, "bp")))
        return "ph, cat, name or bp differs from the tree's";
    if (!same_id(&ev->pid, last(t, "pid")) || !same_id(&ev->tid, last(t, "tid")) ||
        !same_id(&ev->id, last(t, "id")))
        return "pid, tid or id differs from the tree's";
    if (!same_time(ev->has_ts, ev->ts_ns, last(t, "ts")) ||
        !same_time(ev->has_dur, ev->dur_ns, last(t, "dur")))
        return "ts or dur differs from the tree's";
    if (!same_members(t, true, ev->args, ev->n_args))
        return "args differ from the tree's";
    if (!same_members(t, false, ev->extra, ev->n_extra))
        return "the other keys differ from the tree's";
    return NULL;
}
