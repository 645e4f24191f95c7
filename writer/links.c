/*
 * How the trace's events point at each other (the spans and the GPU side
 * are worked out once per session before anything is written; a call's
 * External id is looked up in the spans as it is written):
 *   - iterations as spans: each step event opens Kineto's ProfilerStep#N on
 *     the thread that marked it, until the next step (the last one until the
 *     session stopped);
 *   - "External id", Kineto's host-to-GPU link that TensorBoard's kernel
 *     view joins by: a call inside a ProfilerStep span of its own thread
 *     carries the span's id, as Kineto's runtime events carry their
 *     operator's; any other call carries its correlation id; GPU records
 *     carry their call's (their own correlation when the call is not in
 *     the session).  Span ids come after every correlation id of the
 *     session, so the two never meet;
 *   - ac2g flow ids: one flow per GPU record whose call is in the session.
 *     The first record of a call uses the call's correlation id (as Kineto
 *     does); the others of the same call (a graph's kernels) take ids after
 *     the span ids, so every flow has one start and one end.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The largest correlation id of any event or GPU record of the session, and
 * how many steps it has: one pass over the events. */
static uint64_t scan(const struct coll_session *s, size_t *steps)
{
    uint64_t max = 0;
    *steps = 0;
    for (size_t i = 0; i < s->n_events; i++) {
        const struct coll_event *ev = s->events[i];
        if (ev->correlation > max)
            max = ev->correlation;
        *steps += ev->kind == COLL_EV_STEP;
    }
    for (size_t i = 0; i < s->n_gpu; i++)
        if (s->gpu[i].correlation > max)
            max = s->gpu[i].correlation;
    return max;
}

/* Spans from the step events (in start order, as s->events is). */
static int build_spans(struct wr_links *l, const struct coll_session *s, size_t n,
                       uint64_t first_id)
{
    l->spans = malloc((n ? n : 1) * sizeof *l->spans);
    if (!l->spans)
        return -1;
    for (size_t i = 0; n && i < s->n_events; i++) {
        const struct coll_event *ev = s->events[i];
        if (ev->kind != COLL_EV_STEP)
            continue;
        if (l->n_spans)
            l->spans[l->n_spans - 1].end_ns = ev->start_ns;
        l->spans[l->n_spans] = (struct wr_span){
            .event = i, .tid = ev->tid, .start_ns = ev->start_ns, .ext = first_id + l->n_spans};
        l->n_spans++;
    }
    if (l->n_spans) {
        struct wr_span *last = &l->spans[l->n_spans - 1];
        last->end_ns = s->end_ns > last->start_ns ? s->end_ns : last->start_ns;
    }
    return 0;
}

uint64_t wr_links_ext(const struct wr_links *l, const struct coll_event *ev)
{
    size_t lo = 0, hi = l->n_spans; /* the first span begun after ev */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->spans[mid].start_ns <= ev->start_ns)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct wr_span *in = lo ? &l->spans[lo - 1] : NULL;
    return in && in->tid == ev->tid && ev->start_ns < in->end_ns ? in->ext : ev->correlation;
}

/* GPU records: their call's External id, and their flow ids. */
static void gpu_ids(struct wr_links *l, const struct coll_session *s, const struct wr_gpu_index *ix,
                    uint64_t next_flow)
{
    for (size_t i = 0; i < s->n_gpu; i++)
        l->gpu_ext[i] = s->gpu[i].correlation;
    for (size_t j = 0; j < ix->n_gpu; j++) {
        const struct wr_corr *c = &ix->gpu[j];
        size_t api = wr_api_index(ix, c->correlation);
        if (api == SIZE_MAX)
            continue;
        l->gpu_ext[c->index] = wr_links_ext(l, s->events[api]);
        bool first = j == 0 || ix->gpu[j - 1].correlation != c->correlation;
        l->flow[c->index] = first ? c->correlation : next_flow++;
    }
}

int wr_links_build(struct wr_links *l, const struct coll_session *s, const struct wr_gpu_index *ix)
{
    memset(l, 0, sizeof *l);
    size_t steps;
    uint64_t max = scan(s, &steps);
    l->gpu_ext = malloc((s->n_gpu ? s->n_gpu : 1) * sizeof *l->gpu_ext);
    l->flow = calloc(s->n_gpu ? s->n_gpu : 1, sizeof *l->flow);
    if (!l->gpu_ext || !l->flow || build_spans(l, s, steps, max + 1) < 0) {
        wr_links_free(l);
        return -1;
    }
    gpu_ids(l, s, ix, max + 1 + l->n_spans);
    return 0;
}

void wr_links_free(struct wr_links *l)
{
    free(l->gpu_ext);
    free(l->flow);
    free(l->spans);
    memset(l, 0, sizeof *l);
}
