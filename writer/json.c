/*
 * JSON string escaping.  Kernel and symbol names are arbitrary bytes (a
 * mangled name, a path, a user string): every string goes through here so
 * the trace is valid JSON whatever they hold.  Valid UTF-8 passes through;
 * each byte of an invalid sequence becomes U+FFFD.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int wr_utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Calls emit(piece, len) for each piece of the escaped literal. */
typedef void (*emit_fn)(void *ctx, const char *p, size_t n);

static void escape(const char *str, emit_fn emit, void *ctx)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    emit(ctx, "\"", 1);
    while (*s) {
        const unsigned char *run = s;
        int n;
        while (*s >= 0x20 && *s != '"' && *s != '\\' && (n = wr_utf8_len(s)) > 0)
            s += n;
        if (s > run)
            emit(ctx, (const char *)run, (size_t)(s - run));
        if (!*s)
            break;
        char esc[8];
        if (*s == '"' || *s == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*s;
            emit(ctx, esc, 2);
        } else if (*s < 0x20) {
            const char *named = NULL;
            switch (*s) {
            case '\n': named = "\\n"; break;
            case '\r': named = "\\r"; break;
            case '\t': named = "\\t"; break;
            case '\b': named = "\\b"; break;
            case '\f': named = "\\f"; break;
            }
            if (named) {
                emit(ctx, named, 2);
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[*s >> 4];
                esc[5] = hex[*s & 15];
                emit(ctx, esc, 6);
            }
        } else {
            emit(ctx, "\xEF\xBF\xBD", 3); /* invalid byte: U+FFFD */
        }
        s++;
    }
    emit(ctx, "\"", 1);
}

static void emit_out(void *ctx, const char *p, size_t n)
{
    wr_out_write(ctx, p, n);
}

void wr_json_string(struct wr_out *o, const char *s)
{
    escape(s, emit_out, o);
}

struct membuf {
    char *dst;
    size_t cap, len;
};

static void emit_mem(void *ctx, const char *p, size_t n)
{
    struct membuf *m = ctx;
    for (size_t i = 0; i < n; i++, m->len++)
        if (m->len + 1 < m->cap)
            m->dst[m->len] = p[i];
}

size_t wr_json_escape(char *dst, size_t cap, const char *s)
{
    struct membuf m = {dst, cap, 0};
    escape(s, emit_mem, &m);
    if (cap)
        dst[m.len < cap ? m.len : cap - 1] = '\0';
    return m.len;
}

char *wr_json_literal(const char *s)
{
    size_t n = wr_json_escape(NULL, 0, s);
    char *lit = malloc(n + 1);
    if (lit)
        wr_json_escape(lit, n + 1, s);
    return lit;
}

void wr_json_us(struct wr_out *o, uint64_t ns)
{
    char frac[4] = {'.', (char)('0' + ns % 1000 / 100), (char)('0' + ns % 100 / 10),
                    (char)('0' + ns % 10)};
    wr_out_u64(o, ns / 1000);
    wr_out_write(o, frac, 4);
}
