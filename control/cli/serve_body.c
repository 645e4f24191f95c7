/*
 * omniprof serve's request body, with no socket in sight: the bounded
 * accumulator and the {"stages": [...]} parse (serve.h).
 *
 * The body is parsed as a stream of yajl events, never as a tree: no
 * NUL-terminated copy, no memory but the parser's own whatever the text
 * (yajl 2.1.0's yajl_tree_parse() leaks the half-built tree of a text that
 * is not JSON, CVE-2023-33460, where the distribution has not patched it),
 * and the depth is a counter.  The first error is kept while the rest of
 * the text is still checked, so that a syntax error anywhere outranks it
 * ("not JSON" first, as with a tree).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "serve.h"

enum { BAD_REQUEST = 400, SERVER_ERROR = 500 };

int cli_serve_body_add(struct cli_serve_body *b, const char *bytes, size_t n)
{
    if (b->state == CLI_SERVE_BODY_TOO_LARGE)
        return -EFBIG;
    if (b->state == CLI_SERVE_BODY_NO_MEMORY)
        return -ENOMEM;
    if (n == 0)
        return 0;
    if (n > b->limit - b->len) { /* len <= limit holds throughout */
        cli_serve_body_free(b);
        b->state = CLI_SERVE_BODY_TOO_LARGE;
        return -EFBIG;
    }
    size_t need = b->len + n + 1;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        if (cap > b->limit + 1)
            cap = b->limit + 1;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            cli_serve_body_free(b);
            b->state = CLI_SERVE_BODY_NO_MEMORY;
            return -ENOMEM;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void cli_serve_body_free(struct cli_serve_body *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

bool cli_serve_declared_too_large(const char *content_length, size_t limit)
{
    const char *s = content_length;
    size_t n = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    for (; *s >= '0' && *s <= '9'; s++) {
        size_t digit = (size_t)(*s - '0');
        if (n > limit / 10 || n * 10 + digit > limit)
            return true;
        n = n * 10 + digit;
    }
    return false;
}

/* The parse in progress: where in the body the next event is. */
struct parse {
    struct cli_selection *sel;
    int depth;        /* 0: the body itself; 1: inside its object; ... */
    bool stages_next; /* the next value at depth 1 is "stages"'s */
    bool in_stages;   /* inside the "stages" list */
    int seen;         /* "stages" keys so far */
    unsigned status;  /* the first error, 0 while none */
    char *msg;
    size_t cap;
};

enum kind { K_NULL, K_NUMBER, K_OTHER, K_MAP, K_LIST };

static void fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct parse *p, const char *fmt, ...)
{
    if (p->status)
        return;
    p->status = BAD_REQUEST;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, p->cap, fmt, ap);
    va_end(ap);
}

/* A number's text as a stage, or -1 (a sign, fraction, exponent, or above
 * CTL_MAX_STAGE). */
static long stage_number(const char *s, size_t n)
{
    long v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > CTL_MAX_STAGE)
            return -1;
    }
    return v;
}

static void stage(struct parse *p, enum kind k, const char *num, size_t n)
{
    long v = k == K_NUMBER ? stage_number(num, n) : -1;
    if (v < 0)
        fail(p, "\"stages\" must hold stage numbers (0, 1, 2, ...)");
    else if (p->sel->n_stages == CTL_MAX_STAGES)
        fail(p, "\"stages\" holds more than %d stages", CTL_MAX_STAGES);
    else
        p->sel->stages[p->sel->n_stages++] = (int)v;
}

/* A value begins: a scalar, or the opening of an object or a list. */
static int value(struct parse *p, enum kind k, const char *num, size_t n)
{
    if (p->depth == 0) {
        if (k != K_NULL && k != K_MAP)
            fail(p, "the body must be an object like {\"stages\": [0, 1]}");
    } else if (p->depth == 1 && p->stages_next) {
        p->stages_next = false;
        if (k == K_LIST)
            p->in_stages = true;
        else if (k != K_NULL)
            fail(p, "\"stages\" must be a list of stage numbers or null");
    } else if (p->depth == 2 && p->in_stages) {
        stage(p, k, num, n);
    }
    if (k == K_MAP || k == K_LIST)
        p->depth++;
    return 1;
}

static int on_end(void *ctx)
{
    struct parse *p = ctx;
    if (--p->depth == 1 && p->in_stages) {
        p->in_stages = false;
        if (p->sel->n_stages == 0)
            fail(p, "\"stages\" is empty: name at least one stage, or use null");
    }
    return 1;
}

/* The length of at most max bytes of UTF-8 text s[0..n) that ends on a
 * character boundary. */
static int utf8_cut(const unsigned char *s, size_t n, size_t max)
{
    if (n <= max)
        return (int)n;
    while (max > 0 && (s[max] & 0xC0) == 0x80)
        max--;
    return (int)max;
}

static int on_key(void *ctx, const unsigned char *key, size_t n)
{
    struct parse *p = ctx;
    if (p->depth != 1) /* a key inside a refused value */
        return 1;
    if (n == 6 && memcmp(key, "stages", 6) == 0) {
        if (p->seen++)
            fail(p, "\"stages\" is given twice");
        else
            p->stages_next = true;
    } else {
        fail(p, "unknown field \"%.*s\" (only \"stages\" is accepted)", utf8_cut(key, n, 100),
             (const char *)key);
    }
    return 1;
}

static int on_null(void *ctx)
{
    return value(ctx, K_NULL, NULL, 0);
}

static int on_bool(void *ctx, int b)
{
    (void)b;
    return value(ctx, K_OTHER, NULL, 0);
}

static int on_number(void *ctx, const char *num, size_t n)
{
    return value(ctx, K_NUMBER, num, n);
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
    (void)s, (void)n;
    return value(ctx, K_OTHER, NULL, 0);
}

static int on_map(void *ctx)
{
    return value(ctx, K_MAP, NULL, 0);
}

static int on_list(void *ctx)
{
    return value(ctx, K_LIST, NULL, 0);
}

static const yajl_callbacks events = {
    .yajl_null = on_null,
    .yajl_boolean = on_bool,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_list,
    .yajl_end_array = on_end,
};

/* The parser's own words for a syntax error, on one line. */
static void syntax_error(yajl_handle h, const char *body, size_t len, char *msg, size_t cap)
{
    unsigned char *why = yajl_get_error(h, 0, (const unsigned char *)body, len);
    snprintf(msg, cap, "the body is not JSON: %s", why ? (const char *)why : "?");
    if (why)
        yajl_free_error(h, why);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
}

unsigned cli_serve_parse_body(const char *body, size_t len, struct cli_selection *sel, char *msg,
                              size_t cap)
{
    memset(sel, 0, sizeof *sel);
    msg[0] = '\0';
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (i == len)
        return 0;
    struct parse p = {.sel = sel, .msg = msg, .cap = cap};
    yajl_handle h = yajl_alloc(&events, NULL, &p);
    if (!h) {
        snprintf(msg, cap, "out of memory");
        return SERVER_ERROR;
    }
    yajl_config(h, yajl_allow_comments, 1); /* as yajl_tree_parse() did */
    yajl_status st = yajl_parse(h, (const unsigned char *)body, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    if (st != yajl_status_ok) {
        syntax_error(h, body, len, msg, cap);
        p.status = BAD_REQUEST;
    }
    yajl_free(h);
    if (p.status)
        memset(sel, 0, sizeof *sel);
    return p.status;
}
