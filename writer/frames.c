/*
 * Host stacks as Chrome's "stackFrames" dictionary: a tree in which each
 * frame names its caller as "parent", referenced by "sf" on each event
 * (chrome://tracing shows it when an event is selected).  Stacks share
 * their outer frames, so the tree is built once per session.  The readable
 * "Call stack" list in each event's args (Perfetto, TensorBoard) is written
 * by trace.c.  Python frames are written as Kineto names them,
 * "file.py(LINE): function", with "python" as their category.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "python.h"

struct node {
    uint32_t parent; /* 0: root */
    uint64_t ip;
    const struct coll_frame *frame;
};

void wr_frame_text(const struct coll_frame *f, char *buf, size_t cap)
{
    if (coll_python_frame(f->ip)) /* "file.py(LINE): function" as it is */
        snprintf(buf, cap, "%s", f->function ? f->function : "?");
    else if (f->function)
        snprintf(buf, cap, "%s (%s+0x%" PRIx64 ")", f->function, f->module, f->offset);
    else
        snprintf(buf, cap, "%s+0x%" PRIx64, f->module, f->offset);
}

static uint64_t key_hash(uint32_t parent, uint64_t ip)
{
    uint64_t h = (ip ^ ((uint64_t)parent << 40)) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 31);
}

int wr_frames_build(struct wr_frames *t, const struct coll_session *s)
{
    memset(t, 0, sizeof *t);
    size_t frames = 0;
    for (size_t i = 0; i < s->n_stacks; i++)
        frames += s->stacks[i].depth;
    t->cap = 16;
    while (t->cap < frames * 2 + 16)
        t->cap <<= 1;
    t->slots = calloc(t->cap, sizeof *t->slots);     /* node ids, 0: empty */
    t->nodes = calloc(frames + 1, sizeof *t->nodes); /* 1-based */
    t->leaf = calloc(s->n_stacks ? s->n_stacks : 1, sizeof *t->leaf);
    if (!t->slots || !t->nodes || !t->leaf) {
        wr_frames_free(t);
        return -1;
    }
    for (size_t i = 0; i < s->n_stacks; i++) {
        const struct coll_stack *st = &s->stacks[i];
        uint32_t parent = 0;
        for (uint32_t k = st->depth; k-- > 0;) { /* outermost first */
            const struct coll_frame *f = &st->frames[k];
            size_t h = key_hash(parent, f->ip) & (t->cap - 1);
            while (t->slots[h] &&
                   !(t->nodes[t->slots[h]].parent == parent && t->nodes[t->slots[h]].ip == f->ip))
                h = (h + 1) & (t->cap - 1);
            if (!t->slots[h]) {
                t->slots[h] = ++t->n_nodes;
                t->nodes[t->n_nodes] = (struct node){parent, f->ip, f};
            }
            parent = t->slots[h];
        }
        t->leaf[i] = parent;
    }
    return 0;
}

void wr_frames_free(struct wr_frames *t)
{
    free(t->slots);
    free(t->nodes);
    free(t->leaf);
    memset(t, 0, sizeof *t);
}

uint32_t wr_frames_leaf(const struct wr_frames *t, const struct coll_session *s, uint32_t stack)
{
    const struct coll_stack *st = coll_session_stack(s, stack);
    return st ? t->leaf[st - s->stacks] : 0;
}

void wr_frames_write(const struct wr_frames *t, struct wr_out *o)
{
    char text[1024];
    wr_out_puts(o, "  \"stackFrames\": {");
    for (uint32_t i = 1; i <= t->n_nodes; i++) {
        const struct node *n = &t->nodes[i];
        wr_frame_text(n->frame, text, sizeof text);
        wr_out_printf(o, "%s\n    \"%u\": {\"name\": ", i > 1 ? "," : "", i);
        wr_json_string(o, text);
        wr_out_puts(o, ", \"category\": ");
        wr_json_string(o, n->frame->module);
        if (n->parent)
            wr_out_printf(o, ", \"parent\": \"%u\"", n->parent);
        wr_out_puts(o, "}");
    }
    wr_out_puts(o, "\n  },\n");
}
