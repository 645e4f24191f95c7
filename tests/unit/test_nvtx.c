/* NVTX in the collector: interning, domains and names, and ranges through
 * sessions (levels, domains' own stacks, clipping at a session's edges,
 * start/end across threads, step_on=nvtx:). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "collector/internal.h"

Test(nvtx, interning_is_by_content)
{
    char a[] = "forward", b[] = "forward";
    uint32_t id = coll_nvtx_intern(a);
    cr_expect_geq(id, 2);
    cr_expect_eq(coll_nvtx_intern(b), id, "same text, other pointer: same id");
    cr_expect_neq(coll_nvtx_intern("backward"), id);
    cr_expect_str_eq(coll_nvtx_string(id), "forward");
    cr_expect_eq(coll_nvtx_intern_wide(L"forward"), id, "wide strings as UTF-8");
    uint32_t w = coll_nvtx_intern_wide(L"w\u00f6rker \U0001F600");
    cr_expect_str_eq(coll_nvtx_string(w), "w\xc3\xb6rker \xf0\x9f\x98\x80");
    cr_expect_eq(coll_nvtx_intern(NULL), 0);
    cr_expect_str_eq(coll_nvtx_string(0), "");
    cr_expect(coll_nvtx_string_valid(id));
    cr_expect(!coll_nvtx_string_valid(1u << 30));
}

Test(nvtx, long_strings_are_cut_between_characters)
{
    static char text[3000];
    memset(text, 'x', 1022);
    strcpy(text + 1022, "\xc3\xb6tail"); /* a 2-byte character across byte 1023 */
    const char *kept = coll_nvtx_string(coll_nvtx_intern(text));
    cr_expect_eq(strlen(kept), 1022);
    memset(text, 'y', sizeof text - 1);
    cr_expect_eq(strlen(coll_nvtx_string(coll_nvtx_intern(text))), 1023);
}

Test(nvtx, the_string_table_is_bounded)
{
    uint32_t kept = coll_nvtx_intern("kept");
    char text[32];
    uint32_t last = 0;
    for (int i = 0; i < 40000; i++) {
        snprintf(text, sizeof text, "step %d", i);
        last = coll_nvtx_intern(text);
    }
    cr_expect_eq(last, 1, "a full table gives the one id for all");
    cr_expect_str_eq(coll_nvtx_string(last), "(NVTX string table full)");
    cr_expect_gt(coll_nvtx_strings_dropped(), 40000 - 32768);
    cr_expect_eq(coll_nvtx_intern("kept"), kept, "strings already in are still found");
}

Test(nvtx, domains_and_names)
{
    uint32_t name = coll_nvtx_intern("omni.sample");
    uint16_t d = coll_nvtx_domain(name);
    cr_expect_gt(d, 0);
    cr_expect_eq(coll_nvtx_domain(coll_nvtx_intern("omni.sample")), d, "one domain per name");
    cr_expect_neq(coll_nvtx_domain(coll_nvtx_intern("other")), d);
    cr_expect_eq(coll_nvtx_domain_name(d), name);
    cr_expect_eq(coll_nvtx_name_of(COLL_NVTX_THREAD, 42), 0);
    coll_nvtx_name(COLL_NVTX_THREAD, 42, coll_nvtx_intern("first"));
    coll_nvtx_name(COLL_NVTX_STREAM, 42, coll_nvtx_intern("a stream"));
    coll_nvtx_name(COLL_NVTX_THREAD, 42, coll_nvtx_intern("main loop"));
    cr_expect_str_eq(coll_nvtx_string(coll_nvtx_name_of(COLL_NVTX_THREAD, 42)), "main loop",
                     "the latest name holds");
    cr_expect_str_eq(coll_nvtx_string(coll_nvtx_name_of(COLL_NVTX_STREAM, 42)), "a stream");
    struct coll_options o = {0};
    coll_nvtx_step_on("omni.sample/registered step", &o);
    cr_expect_eq(o.step_on_nvtx_domain, name);
    cr_expect_str_eq(coll_nvtx_string(o.step_on_nvtx), "registered step");
    coll_nvtx_step_on("/a/b", &o);
    cr_expect_eq(o.step_on_nvtx_domain, 0, "an empty domain: any");
    cr_expect_str_eq(coll_nvtx_string(o.step_on_nvtx), "a/b");
}

/* ---- ranges through sessions --------------------------------------------------- */

/* A message already interned (in r), no text to copy. */
#define NO_TEXT ((struct coll_nvtx_text){0})

static struct coll_nvtx range(const char *message, uint16_t domain)
{
    return (struct coll_nvtx){.message = coll_nvtx_intern(message), .domain = domain};
}

/* The session's NVTX records named message, with what. */
static size_t count(const struct coll_session *s, const char *message, int what,
                    const struct coll_event **last)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_events; i++) {
        const struct coll_event *ev = s->events[i];
        if (ev->kind == COLL_EV_NVTX && ev->u.nvtx.what == what &&
            strcmp(coll_nvtx_string(ev->u.nvtx.message), message) == 0) {
            n++;
            if (last)
                *last = ev;
        }
    }
    return n;
}

static void init(void)
{
    cr_assert_eq(coll_buffers_init(1 << 20, 16), 0);
    cr_assert_eq(coll_nvtx_init(), 0);
}

Test(nvtx, idle_calls_are_not_followed)
{
    init();
    coll_configure(0, 0, true);
    struct coll_nvtx r = range("idle", 0);
    cr_expect_eq(coll_nvtx_push(&r, NO_TEXT), -2, "NVTX_NO_PUSH_POP_TRACKING");
    cr_expect_eq(coll_nvtx_pop(0), -2);
    cr_expect_eq(coll_nvtx_pop(0), -2, "more pops than pushes, idle");
    uint64_t id = coll_nvtx_start(&r, NO_TEXT);
    cr_expect_gt(id, 0, "held while idle too");
    coll_nvtx_end(id);
}

Test(nvtx, levels_and_domain_stacks)
{
    init();
    coll_configure(0, 0, true);
    coll_start();
    uint16_t d = coll_nvtx_domain(coll_nvtx_intern("dom"));
    struct coll_nvtx a = range("a", 0), b = range("b", d), c = range("c", 0);
    cr_expect_eq(coll_nvtx_push(&a, NO_TEXT), 0);
    cr_expect_eq(coll_nvtx_push(&b, NO_TEXT), 0, "its domain's first level");
    cr_expect_eq(coll_nvtx_push(&c, NO_TEXT), 1);
    cr_expect_eq(coll_nvtx_pop(d), 0, "ends b, under c");
    cr_expect_eq(coll_nvtx_pop(0), 1, "ends c");
    cr_expect_eq(coll_nvtx_pop(0), 0, "ends a");
    cr_expect_eq(coll_nvtx_pop(0), -1, "nothing left");
    coll_stop();
    struct coll_session *s = coll_collect();
    cr_assert_not_null(s);
    const struct coll_event *ev;
    cr_expect_eq(count(s, "b", COLL_NVTX_RANGE, &ev), 1);
    cr_expect_eq(ev->u.nvtx.domain, d);
    cr_expect_eq(count(s, "a", COLL_NVTX_RANGE, NULL) + count(s, "c", COLL_NVTX_RANGE, NULL), 2);
    coll_session_free(s);
}

Test(nvtx, ranges_open_at_the_edges_are_clipped)
{
    init();
    coll_configure(1, 0, true); /* armed at start: ranges followed, not recorded */
    coll_start();
    struct coll_nvtx outer = range("outer", 0), before = range("before", 0),
                     after = range("after", 0);
    coll_nvtx_push(&outer, NO_TEXT);
    coll_nvtx_push(&before, NO_TEXT);
    uint64_t handoff =
        coll_nvtx_start(&(struct coll_nvtx){.message = coll_nvtx_intern("h")}, NO_TEXT);
    cr_expect_gt(handoff, 0);
    coll_step();      /* recording begins */
    coll_nvtx_pop(0); /* "before": begun before the session */
    coll_nvtx_push(&after, NO_TEXT);
    coll_stop(); /* "outer" and "after" still open; "h" too */
    coll_nvtx_pop(0);
    coll_nvtx_pop(0);
    coll_nvtx_end(handoff);
    struct coll_session *s = coll_collect();
    cr_assert_not_null(s);
    const struct coll_event *ev;
    cr_expect_eq(count(s, "before", COLL_NVTX_RANGE, &ev), 1);
    cr_expect_lt(ev->start_ns, s->begin_ns, "its real start: the writer clips it");
    cr_expect_eq(count(s, "outer", COLL_NVTX_OPEN, &ev), 1);
    cr_expect_lt(ev->start_ns, s->begin_ns);
    cr_expect_eq(count(s, "after", COLL_NVTX_OPEN, &ev), 1);
    cr_expect_geq(ev->start_ns, s->begin_ns);
    cr_expect_eq(count(s, "h", COLL_NVTX_OPEN, &ev), 1);
    cr_expect(ev->u.nvtx.flags & COLL_NVTX_STARTEND);
    cr_expect_eq(count(s, "outer", COLL_NVTX_RANGE, NULL), 0, "ended after the session");
    coll_session_free(s);
}

static void *end_it(void *arg)
{
    coll_nvtx_end(*(uint64_t *)arg);
    return NULL;
}

Test(nvtx, start_end_across_threads_and_steps)
{
    init();
    struct coll_options o = {0};
    coll_nvtx_step_on("iter", &o);
    coll_set_options(&o);
    coll_configure(1, 1, true);
    coll_start();
    struct coll_nvtx iter = range("iter", 0);
    for (int i = 0; i < 4; i++) { /* recording from the 1st end of "iter" to the 2nd */
        coll_nvtx_push(&iter, NO_TEXT);
        if (i == 1) {
            uint64_t id =
                coll_nvtx_start(&(struct coll_nvtx){.message = coll_nvtx_intern("x")}, NO_TEXT);
            pthread_t t;
            pthread_create(&t, NULL, end_it, &id);
            pthread_join(t, NULL);
        }
        coll_nvtx_pop(0);
    }
    struct coll_session *s = coll_collect();
    cr_assert_not_null(s);
    cr_expect_eq(count(s, "iter", COLL_NVTX_RANGE, NULL), 1, "one iteration recorded");
    const struct coll_event *ev;
    cr_expect_eq(count(s, "x", COLL_NVTX_RANGE, &ev), 1);
    cr_expect_neq(ev->tid, ev->u.nvtx.begin_tid, "ended on another thread");
    cr_expect_eq(ev->u.nvtx.begin_tid, coll_thread_id());
    coll_session_free(s);
}

/* ---- ranges begun while idle --------------------------------------------------- */

Test(nvtx, copies_are_bounded_and_marked_when_cut)
{
    char out[64], text[200];
    coll_nvtx_copy(out, sizeof out, "short");
    cr_expect_str_eq(out, "short");
    memset(text, 'x', 63);
    text[63] = '\0';
    coll_nvtx_copy(out, sizeof out, text);
    cr_expect_str_eq(out, text, "63 bytes fit");
    memset(text, 'y', 100);
    text[100] = '\0';
    coll_nvtx_copy(out, sizeof out, text);
    cr_expect_eq(strlen(out), 63);
    cr_expect_eq(strncmp(out, text, 60), 0);
    cr_expect_str_eq(out + 60, "\xe2\x80\xa6", "cut: ends in an ellipsis");
    memset(text, 'z', 59);
    strcpy(text + 59, "\xc3\xb6 and more text"); /* a character across byte 60 */
    coll_nvtx_copy(out, sizeof out, text);
    cr_expect_eq(strlen(out), 62, "cut before the character");
    cr_expect_str_eq(out + 59, "\xe2\x80\xa6");
    coll_nvtx_copy_wide(out, sizeof out, L"w\u00f6rker");
    cr_expect_str_eq(out, "w\xc3\xb6rker");
    wchar_t wide[100];
    wmemset(wide, L'\u00e9', 99); /* 2 bytes each */
    wide[99] = L'\0';
    coll_nvtx_copy_wide(out, sizeof out, wide);
    cr_expect_eq(strlen(out), 63, "30 characters and the ellipsis");
    cr_expect_str_eq(out + 60, "\xe2\x80\xa6");
    coll_nvtx_copy(out, sizeof out, NULL);
    cr_expect_str_eq(out, "");
}

static void *end_idle_range(void *arg)
{
    coll_nvtx_end(*(uint64_t *)arg);
    return NULL;
}

Test(nvtx, ranges_begun_while_idle_end_in_the_session_by_name)
{
    init();
    coll_configure(0, 0, true); /* idle: nothing followed */
    uint16_t d = coll_nvtx_domain(coll_nvtx_intern("idle.dom"));
    char temp[32];
    strcpy(temp, "outer");
    cr_expect_eq(coll_nvtx_push(&(struct coll_nvtx){0}, (struct coll_nvtx_text){.s = temp}), -2);
    strcpy(temp, "overwritten"); /* the program's buffer is gone: the copy holds */
    struct coll_nvtx attrs = {.domain = d,
                              .category = 5,
                              .flags = COLL_NVTX_COLOR,
                              .color = 0xFF00FF00,
                              .payload_type = 1,
                              .payload = 42};
    coll_nvtx_push(&attrs, (struct coll_nvtx_text){.w = L"w\u00f6de"});
    char longer[100];
    memset(longer, 'n', 99);
    longer[99] = '\0';
    coll_nvtx_push(&(struct coll_nvtx){0}, (struct coll_nvtx_text){.s = longer});
    uint64_t handoff =
        coll_nvtx_start(&(struct coll_nvtx){.category = 3}, (struct coll_nvtx_text){.s = temp});
    strcpy(temp, "gone");
    struct coll_nvtx reg = {.message = coll_nvtx_intern("registered"), .domain = d};
    uint64_t open_one = coll_nvtx_start(&reg, NO_TEXT);

    coll_start(); /* recording */
    cr_expect_eq(coll_nvtx_pop(0), 1, "the long one, over \"outer\" (begun while idle)");
    pthread_t t;
    pthread_create(&t, NULL, end_idle_range, &handoff);
    pthread_join(t, NULL);
    cr_expect_eq(coll_nvtx_pop(d), 0, "the domain's own level");
    coll_stop(); /* "outer" and "registered" still open */
    struct coll_session *s = coll_collect();
    cr_assert_not_null(s);

    const struct coll_event *ev;
    char cut[64];
    memset(cut, 'n', 60);
    strcpy(cut + 60, "\xe2\x80\xa6");
    cr_expect_eq(count(s, cut, COLL_NVTX_RANGE, &ev), 1, "a long name, cut and marked");
    cr_expect_eq(ev->start_ns, 0, "begun while idle: before the session");
    cr_expect_eq(ev->u.nvtx.begin_tid, coll_thread_id());
    cr_expect_eq(count(s,
                       "w\xc3\xb6"
                       "de",
                       COLL_NVTX_RANGE, &ev),
                 1);
    cr_expect_eq(ev->u.nvtx.domain, d);
    cr_expect_eq(ev->u.nvtx.category, 5);
    cr_expect_eq(ev->u.nvtx.color, 0xFF00FF00);
    cr_expect_eq(ev->u.nvtx.payload, 42);
    cr_expect_eq(count(s, "overwritten", COLL_NVTX_RANGE, &ev), 1, "the start/end range");
    cr_expect_eq(ev->u.nvtx.id, handoff);
    cr_expect_eq(ev->u.nvtx.category, 3);
    cr_expect(ev->u.nvtx.flags & COLL_NVTX_STARTEND);
    cr_expect_eq(ev->start_ns, 0);
    cr_expect_neq(ev->tid, ev->u.nvtx.begin_tid, "ended on another thread");
    cr_expect_eq(count(s, "outer", COLL_NVTX_OPEN, &ev), 1, "open at the stop: recorded then");
    cr_expect_eq(ev->start_ns, 0);
    cr_expect_eq(ev->end_ns, s->end_ns > ev->end_ns ? ev->end_ns : s->end_ns);
    cr_expect_eq(count(s, "registered", COLL_NVTX_OPEN, &ev), 1);
    cr_expect_eq(ev->u.nvtx.id, open_one);
    cr_expect_eq(count(s, "gone", COLL_NVTX_RANGE, NULL) + count(s, "gone", COLL_NVTX_OPEN, NULL),
                 0);
    coll_session_free(s);
}

Test(nvtx, ranges_held_across_sessions_are_clipped_to_each)
{
    init();
    coll_configure(0, 0, true);
    coll_start();
    struct coll_nvtx across = range("across", 0);
    coll_nvtx_push(&across, NO_TEXT);
    coll_stop();
    struct coll_session *s = coll_collect();
    cr_assert_not_null(s);
    const struct coll_event *ev;
    cr_expect_eq(count(s, "across", COLL_NVTX_OPEN, &ev), 1);
    uint64_t id = ev->u.nvtx.id, start_ns = ev->start_ns;
    cr_expect_geq(start_ns, s->begin_ns);
    coll_session_free(s);
    cr_expect_eq(coll_nvtx_pop(0), -2, "idle: still held, not ended");
    coll_nvtx_push(&across, NO_TEXT); /* again, while idle */

    coll_start(); /* a second session */
    cr_expect_eq(coll_nvtx_pop(0), 0);
    coll_stop();
    s = coll_collect();
    cr_assert_not_null(s);
    cr_expect_eq(count(s, "across", COLL_NVTX_RANGE, &ev), 1, "the one pushed while idle");
    cr_expect_eq(ev->start_ns, 0);
    cr_expect_neq(ev->u.nvtx.id, id);
    cr_expect_eq(count(s, "across", COLL_NVTX_OPEN, NULL), 0, "the first one ended while idle");
    coll_session_free(s);
    (void)start_ns;
}
