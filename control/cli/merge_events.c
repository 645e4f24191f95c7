/*
 * One input of omniprof merge, rewritten into the output as the reader hands
 * its events over (cmd_merge.c says what is rewritten and why):
 *   - names, categories and keys, interned by the reader, are escaped once
 *     and their JSON literals kept by pointer;
 *   - pids get their new numbers on first sight, metadata notes which are
 *     GPUs and what the input called them; its process_name and
 *     process_sort_index events are dropped (cmd_merge.c writes its own);
 *   - ts moves by the input's shift, ids and stack frames get the input's
 *     mark; every other member is written back as it was read;
 *   - stackFrames, reported as fields, are spooled to a temporary file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "writer.h"

int cli_merge_names(struct merge *m)
{
#define NAME(field, text) (m->is.field = tr_intern(m->r, text, sizeof text - 1)) != NULL
    bool ok = NAME(M, "M") && NAME(process_name, "process_name") &&
              NAME(process_sort_index, "process_sort_index") &&
              NAME(process_labels, "process_labels") && NAME(name, "name") &&
              NAME(labels, "labels") && NAME(kernel, "kernel") && NAME(gpu_memcpy, "gpu_memcpy") &&
              NAME(gpu_memset, "gpu_memset") && NAME(gpu_user_annotation, "gpu_user_annotation") &&
              NAME(stackFrames, "stackFrames") && NAME(sf, "sf") && NAME(esf, "esf") &&
              NAME(parent, "parent");
#undef NAME
    return ok ? 0 : -ENOMEM;
}

/* ---- literals of interned names ---------------------------------------------- */

static size_t ptr_hash(const void *p, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (cap - 1);
}

static int lits_grow(struct merge *m)
{
    size_t cap = m->cap_lits ? m->cap_lits * 2 : 1024;
    struct lit *v = calloc(cap, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < m->cap_lits; i++) {
        if (!m->lits[i].key)
            continue;
        size_t j = ptr_hash(m->lits[i].key, cap);
        while (v[j].key)
            j = (j + 1) & (cap - 1);
        v[j] = m->lits[i];
    }
    free(m->lits);
    m->lits = v;
    m->cap_lits = cap;
    return 0;
}

/* Writes name (interned) as a JSON string, escaped the first time only. */
static void put_name(struct merge *m, const char *name)
{
    if ((m->n_lits + 1) * 2 > m->cap_lits && lits_grow(m) < 0) {
        m->err = -ENOMEM;
        return;
    }
    size_t j = ptr_hash(name, m->cap_lits);
    while (m->lits[j].key && m->lits[j].key != name)
        j = (j + 1) & (m->cap_lits - 1);
    struct lit *l = &m->lits[j];
    if (!l->key) {
        size_t n = wr_json_escape(NULL, 0, name);
        if (m->arena_len + n + 1 > m->arena_cap) {
            size_t cap = m->arena_cap ? m->arena_cap : 1 << 16;
            while (cap < m->arena_len + n + 1)
                cap *= 2;
            char *a = n > UINT32_MAX || cap > UINT32_MAX ? NULL : realloc(m->arena, cap);
            if (!a) {
                m->err = -ENOMEM;
                return;
            }
            m->arena = a;
            m->arena_cap = cap;
        }
        wr_json_escape(m->arena + m->arena_len, n + 1, name);
        *l = (struct lit){name, (uint32_t)m->arena_len, (uint32_t)n};
        m->arena_len += n;
        m->n_lits++;
    }
    cli_out_write(m->out, m->arena + l->off, l->len);
}

/* ---- pids ------------------------------------------------------------------ */

static bool same_id(const struct tr_id *a, const struct tr_id *b)
{
    return a->is_str == b->is_str && (a->is_str ? a->str == b->str : a->num == b->num);
}

static size_t id_slot(const struct tr_id *id, size_t cap)
{
    uint64_t key = id->is_str ? (uint64_t)(uintptr_t)id->str : (uint64_t)id->num;
    uint64_t h = (key ^ (uint64_t)id->is_str << 63) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 29) & (cap - 1);
}

/* The pids' index (entry number + 1 by pid), rebuilt for twice the room. */
static int index_pids(struct merge *m)
{
    size_t cap = m->cap_index ? m->cap_index * 2 : 64;
    uint32_t *v = calloc(cap, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < m->n_pids; i++) {
        size_t j = id_slot(&m->pids[i].orig, cap);
        while (v[j])
            j = (j + 1) & (cap - 1);
        v[j] = (uint32_t)i + 1;
    }
    free(m->pid_index);
    m->pid_index = v;
    m->cap_index = cap;
    return 0;
}

/* The entry of an input pid, made on first sight: nearly every event has
 * the last one's, the others are found by hash (a merged trace given as an
 * input has hundreds). */
static struct pid_entry *pid_of(struct merge *m, const struct tr_id *id)
{
    if (m->last_pid < m->n_pids && same_id(&m->pids[m->last_pid].orig, id))
        return &m->pids[m->last_pid];
    if ((m->n_pids + 1) * 2 > m->cap_index && index_pids(m) < 0)
        return NULL;
    size_t j = id_slot(id, m->cap_index);
    for (; m->pid_index[j]; j = (j + 1) & (m->cap_index - 1)) {
        size_t i = m->pid_index[j] - 1;
        if (same_id(&m->pids[i].orig, id)) {
            m->last_pid = i;
            return &m->pids[i];
        }
    }
    if (m->n_pids == m->cap_pids) {
        size_t cap = m->cap_pids ? m->cap_pids * 2 : 8;
        struct pid_entry *v = realloc(m->pids, cap * sizeof *v);
        if (!v)
            return NULL;
        m->pids = v;
        m->cap_pids = cap;
    }
    struct pid_entry *e = &m->pids[m->n_pids];
    *e = (struct pid_entry){.orig = *id, .seen = m->n_pids};
    e->out = m->n_pids < 1000 ? (long)(m->k + 1) * 1000 + (long)m->n_pids : m->overflow_pid++;
    m->pid_index[j] = (uint32_t)m->n_pids + 1;
    m->last_pid = m->n_pids++;
    return e;
}

static bool gpu_label(const char *s)
{
    return s && strncmp(s, "GPU", 3) == 0;
}

/* What metadata events say about a pid; whether the event is dropped
 * (the command writes its own process_name and process_sort_index). */
static bool note_metadata(struct merge *m, struct pid_entry *p, const struct tr_event *ev)
{
    if (tr_event_args(m->r, ev) < 0)
        m->err = -ENOMEM;
    if (ev->name == m->is.process_name) {
        const struct tr_value *v = tr_arg(ev, m->is.name);
        if (v && v->type == TR_STRING) {
            p->own_name = tr_intern(m->r, v->s, strlen(v->s));
            p->gpu |= gpu_label(v->s);
        }
        return !m->t->merged;
    }
    if (ev->name == m->is.process_labels) {
        const struct tr_value *v = tr_arg(ev, m->is.labels);
        p->gpu |= v && v->type == TR_STRING && gpu_label(v->s);
    }
    return ev->name == m->is.process_sort_index;
}

/* ---- one event ------------------------------------------------------------------ */

static void put_value(struct cli_out *o, const struct tr_value *v)
{
    switch (v->type) {
    case TR_NULL: cli_out_write(o, "null", 4); break;
    case TR_BOOL: cli_out_puts(o, v->b ? "true" : "false"); break;
    case TR_STRING: cli_out_string(o, v->s); break;
    default: cli_out_write(o, v->s, v->len); break; /* numbers as written; compact JSON */
    }
}

/* "<k><sep><text of v>" as a JSON string: ids and stack frames of input k. */
static void put_prefixed(struct cli_out *o, size_t k, char sep, const char *text)
{
    char small[256], *s = small;
    if (snprintf(small, sizeof small, "%zu%c%s", k, sep, text) >= (int)sizeof small &&
        asprintf(&s, "%zu%c%s", k, sep, text) < 0)
        s = NULL;
    cli_out_string(o, s ? s : "?");
    if (s != small)
        free(s);
}

static void put_id(struct merge *m, const struct tr_id *id)
{
    int64_t n = (int64_t)m->n_inputs, k = (int64_t)m->k;
    if (!id->is_str && id->num <= (INT64_MAX - k) / n && id->num >= (INT64_MIN + n) / n) {
        cli_out_i64(m->out, id->num * n + k);
    } else if (id->is_str) {
        put_prefixed(m->out, m->k, ':', id->str);
    } else {
        char text[24];
        snprintf(text, sizeof text, "%lld", (long long)id->num);
        put_prefixed(m->out, m->k, ':', text);
    }
}

/* The separator and key (interned) of an event member. */
static void put_member(struct merge *m, bool *first, const char *key)
{
    cli_out_write(m->out, *first ? "{" : ",", 1);
    *first = false;
    put_name(m, key);
    cli_out_write(m->out, ":", 1);
}

/* The same for one of the keys the reader knows, given as a literal: the
 * text is made at compile time ("{\"ph\":" and ",\"ph\":"). */
static void put_known(struct merge *m, bool *first, const char *opening, const char *next, size_t n)
{
    cli_out_write(m->out, *first ? opening : next, n);
    *first = false;
}
#define put_key(m, first, key) put_known(m, first, "{" key, "," key, sizeof key)

static void put_extra(struct merge *m, const struct tr_arg *a)
{
    if ((a->key == m->is.sf || a->key == m->is.esf) &&
        (a->v.type == TR_STRING || a->v.type == TR_INT))
        put_prefixed(m->out, m->k, '-', a->v.s);
    else
        put_value(m->out, &a->v);
}

int cli_merge_event(void *ctx, const struct tr_event *ev)
{
    struct merge *m = ctx;
    struct cli_out *o = m->out;
    struct pid_entry *p = NULL;
    m->events++;
    cli_progress_tick(m->progress, m->r);
    if (ev->pid.present && !(p = pid_of(m, &ev->pid)))
        return -ENOMEM;
    if (p && ev->ph == m->is.M && note_metadata(m, p, ev))
        return 0;
    if (p && (ev->cat == m->is.kernel || ev->cat == m->is.gpu_memcpy ||
              ev->cat == m->is.gpu_memset || ev->cat == m->is.gpu_user_annotation))
        p->gpu = true;
    cli_out_write(o, m->any_event ? ",\n" : "\n", m->any_event ? 2 : 1);
    m->any_event = true;
    bool first = true;
    if (ev->ph) {
        put_key(m, &first, "\"ph\":");
        put_name(m, ev->ph);
    }
    if (ev->cat) {
        put_key(m, &first, "\"cat\":");
        put_name(m, ev->cat);
    }
    if (ev->name) {
        put_key(m, &first, "\"name\":");
        put_name(m, ev->name);
    }
    if (p) {
        put_key(m, &first, "\"pid\":");
        cli_out_i64(o, p->out);
    }
    if (ev->tid.present) {
        put_key(m, &first, "\"tid\":");
        if (ev->tid.is_str)
            put_name(m, ev->tid.str);
        else
            cli_out_i64(o, ev->tid.num);
    }
    if (ev->has_ts) {
        put_key(m, &first, "\"ts\":");
        cli_out_us(o, ev->ts_ns + m->shift);
    }
    if (ev->has_dur) {
        put_key(m, &first, "\"dur\":");
        cli_out_us(o, ev->dur_ns);
    }
    if (ev->id.present) {
        put_key(m, &first, "\"id\":");
        put_id(m, &ev->id);
    }
    if (ev->bp) {
        put_key(m, &first, "\"bp\":");
        put_name(m, ev->bp);
    }
    for (size_t i = 0; i < ev->n_extra; i++) {
        put_member(m, &first, ev->extra[i].key);
        put_extra(m, &ev->extra[i]);
    }
    if (ev->args_text && memchr(ev->args_text, '"', ev->args_len)) {
        /* as read (checked JSON): only an empty object is left out */
        put_key(m, &first, "\"args\":");
        cli_out_write(o, ev->args_text, ev->args_len);
    } else if (ev->n_args) {
        put_key(m, &first, "\"args\":");
        for (size_t i = 0; i < ev->n_args; i++) {
            cli_out_write(o, i ? "," : "{", 1);
            put_name(m, ev->args[i].key);
            cli_out_write(o, ":", 1);
            put_value(o, &ev->args[i].v);
        }
        cli_out_write(o, "}", 1);
    }
    cli_out_write(o, first ? "{}" : "}", first ? 2 : 1);
    return m->err;
}

/* ---- stackFrames --------------------------------------------------------------- */

void cli_merge_literal(FILE *f, const char *s, bool prefixed, size_t k, char sep)
{
    char *text = NULL;
    if (prefixed && asprintf(&text, "%zu%c%s", k, sep, s) < 0)
        text = NULL;
    char *lit = wr_json_literal(text ? text : s);
    fputs(lit ? lit : "\"?\"", f);
    free(lit);
    free(text);
}

void cli_merge_close_frame(struct merge *m)
{
    if (m->frame_open)
        fputc('}', m->frames);
    m->frame_open = false;
}

/* The input's stackFrames, spooled with "k-" in front of every id. */
int cli_merge_field(void *ctx, const struct tr_field *f)
{
    struct merge *m = ctx;
    if (f->object != m->is.stackFrames) {
        cli_merge_close_frame(m);
        return 0;
    }
    if (!f->member) { /* a frame opens */
        cli_merge_close_frame(m);
        if (f->v.type != TR_OBJECT || !f->key)
            return 0;
        fputs(m->n_frames++ ? ",\n" : "\n", m->frames);
        cli_merge_literal(m->frames, f->key, true, m->k, '-');
        fputs(":{", m->frames);
        m->frame_open = true;
        m->frame_fields = 0;
        return 0;
    }
    if (!m->frame_open || !f->key || f->v.type == TR_OBJECT || f->v.type == TR_ARRAY)
        return 0;
    if (m->frame_fields++)
        fputc(',', m->frames);
    cli_merge_literal(m->frames, f->key, false, 0, 0);
    fputc(':', m->frames);
    if (f->key == m->is.parent && (f->v.type == TR_STRING || f->v.type == TR_INT))
        cli_merge_literal(m->frames, f->v.s, true, m->k, '-');
    else if (f->v.type == TR_STRING)
        cli_merge_literal(m->frames, f->v.s, false, 0, 0);
    else if (f->v.type == TR_NULL || f->v.type == TR_BOOL)
        fputs(f->v.type == TR_NULL ? "null" : f->v.b ? "true" : "false", m->frames);
    else
        fwrite(f->v.s, 1, f->v.len, m->frames);
    return ferror(m->frames) ? -EIO : 0;
}
