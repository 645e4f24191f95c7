/*
 * The trace reader's lexer: JSON's tokens (RFC 8259) found in place in the
 * read buffer, without copying them.  Each function looks at the unread
 * bytes c->p..c->end and either takes one whole token (moving c->p past
 * it), says TR_MORE when the token may go on past what has been read, or
 * fails with the byte where the text stops being JSON.
 *
 * Strings are checked as they are scanned: escapes, control characters and
 * UTF-8 sequences (valid UTF-8 only, as the writer's escaper passes it);
 * eight bytes at a time in long strings while none of those appear.  Their
 * decoded text is made only on request (tr_lex_decode), and only strings
 * that hold a backslash need it.
 *
 * Why a lexer of its own, when yajl (still used for the registry and
 * request bodies) reads JSON: with yajl's callbacks, and the pre-scan for
 * token boundaries that feeding it in pieces needs, the reader alone read
 * 1.27 M events per CPU second of a Kineto-like trace and `omniprof merge`
 * 0.7 M (one core; the target is 1 M); yajl's share alone was about 0.9 M.
 * Reading whole events in place from the buffer, 2.3 M (tests/bench,
 * bench_reader).  The trace fuzzer (tests/fuzz/fuzz_trace.c) holds every
 * input the reader reads against yajl's tree parser (the same events;
 * inputs with surrogate escapes aside, which yajl decodes its own way).
 * The reader is the stricter of the two: it takes valid UTF-8 only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "trace_internal.h"
#include "writer.h"

int tr_syntax(struct tr_reader *r, const struct tr_cur *c, const char *at, const char *what)
{
    /* a bad byte is numbered from 1; the end of the file is after its last */
    uint64_t n = r->base + (uint64_t)(at - r->in.p) + (at < c->end);
    return tr_fail(r, -EBADMSG, "invalid JSON at byte %llu: %s", (unsigned long long)n, what);
}

/* At the end of the bytes read: more to read, or the file ends mid-token. */
static int ran_out(struct tr_reader *r, const struct tr_cur *c, const char *token)
{
    if (!c->eof) {
        r->token = token;
        return TR_MORE;
    }
    return tr_syntax(r, c, c->end, "unexpected end of file");
}

int tr_lex_space_slow(struct tr_reader *r, struct tr_cur *c, bool end_ok)
{
    const char *p = c->p;
    while (p < c->end && tr_is_space(*p))
        p++;
    c->p = p;
    if (p < c->end || (end_ok && c->eof))
        return 0;
    return ran_out(r, c, NULL);
}

/* The bytes of w (eight of a string, the first in the low bits) that need
 * a look inside a string: '"', '\\', a control character or a byte of a
 * UTF-8 sequence, as the high bit of each (the zero-byte test on w xor the
 * byte repeated, and the less-than test for 0x20).  The lowest bit set is
 * always a byte that needs it (borrows only reach higher bytes). */
static uint64_t special(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & highs;
}

/* The bytes special() finds, one at a time. */
static const bool in_string_special[256] = {
    [0 ... 0x1f] = true, ['"'] = true, ['\\'] = true, [0x80 ... 0xff] = true};

/* The length of the UTF-8 sequence a lead byte u begins; 0 when u cannot
 * begin one. */
static int sequence_length(unsigned char u)
{
    if (u >> 5 == 0x6)
        return 2;
    if (u >> 4 == 0xe)
        return 3;
    if (u >> 3 == 0x1e)
        return 4;
    return 0;
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* An escape at p (p[0] == '\\'); its length in *n. */
static int escape(struct tr_reader *r, const struct tr_cur *c, const char *p, const char *token,
                  size_t *n)
{
    if (c->end - p < 2)
        return ran_out(r, c, token);
    if (strchr("\"\\/bfnrt", p[1]) && p[1]) {
        *n = 2;
        return 0;
    }
    if (p[1] != 'u')
        return tr_syntax(r, c, p + 1,
                         "lexical error: a backslash before a character that cannot be escaped");
    for (int i = 2; i < 6; i++) {
        if (p + i == c->end)
            return ran_out(r, c, token);
        if (hex_digit(p[i]) < 0)
            return tr_syntax(r, c, p + i, "lexical error: a non-hex character after \\u");
    }
    *n = 6;
    return 0;
}

/* The string at c->p from p on (all before p plain): escapes, UTF-8, the
 * end of the bytes read. */
/* The file offset of p, a byte of the read buffer. */
static uint64_t offset_of(const struct tr_reader *r, const char *p)
{
    return r->base + (uint64_t)(p - r->in.p);
}

/* The string at c->p from p on (all before p checked; escaped: a backslash
 * among them): escapes, UTF-8, the end of the bytes read.  When the bytes
 * run out, how far it got is kept (r->resume), so that the next attempt
 * at the same string, once more is read, goes on from there: a string of
 * n bytes is scanned once, not once per read. */
static __attribute__((noinline)) int string_rest(struct tr_reader *r, struct tr_cur *c,
                                                 struct tr_tok *t, const char *p, bool escaped)
{
    const char *token = c->p, *end = c->end;
    int rc = TR_MORE;
    for (;;) {
        uint64_t w, m = 0;
        while (end - p >= 8 && (memcpy(&w, p, 8), !(m = special(w))))
            p += 8;
        if (m)
            p += __builtin_ctzll(m) / 8;
        else
            while (p < end && !in_string_special[(unsigned char)*p])
                p++;
        if (p == end) {
            rc = ran_out(r, c, token);
            break;
        }
        unsigned char u = (unsigned char)*p;
        size_t n = 1;
        if (u == '"') {
            *t = (struct tr_tok){token + 1, (size_t)(p - token - 1), escaped};
            c->p = p + 1;
            if (r->resume.at == offset_of(r, token))
                r->resume.len = 0; /* done with; another string's stays kept */
            return 0;
        }
        if (u == '\\') {
            escaped = true;
            if ((rc = escape(r, c, p, token, &n)) != 0)
                break;
        } else if (u < 0x20) {
            return tr_syntax(r, c, p, "lexical error: a control character inside a string");
        } else {
            /* valid UTF-8 only (no overlong form, surrogate or code point
             * past U+10FFFF), as the writer's escaper passes it through */
            int len = sequence_length(u);
            if (end - p < len) {
                rc = ran_out(r, c, token);
                break;
            }
            if (len == 0 || wr_utf8_len((const unsigned char *)p) != len)
                return tr_syntax(r, c, p, "lexical error: invalid bytes in UTF8 string");
            n = (size_t)len;
        }
        p += n;
    }
    if (rc == TR_MORE) /* p: the first byte not yet checked */
        r->resume = (struct tr_resume){offset_of(r, token), (size_t)(p - token), escaped};
    return rc;
}

int tr_lex_string(struct tr_reader *r, struct tr_cur *c, struct tr_tok *t)
{
    if (r->resume.len && r->resume.at == offset_of(r, c->p)) /* again, with more read */
        return string_rest(r, c, t, c->p + r->resume.len, r->resume.escaped);
    /* the common case, kept small: plain ASCII up to the closing quote */
    const char *p = c->p + 1;
    uint64_t w, m;
    while (c->end - p >= 8) {
        memcpy(&w, p, 8);
        if ((m = special(w))) {
            p += __builtin_ctzll(m) / 8;
            if (*p != '"')
                break;
            t->s = c->p + 1;
            t->len = (size_t)(p - t->s);
            t->escaped = false;
            c->p = p + 1;
            return 0;
        }
        p += 8;
    }
    return string_rest(r, c, t, p, false);
}

static const char *digits(const char *p, const char *end)
{
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p;
}

/* One or more digits at p: where they end, or NULL (*rc says why). */
static const char *some_digits(struct tr_reader *r, const struct tr_cur *c, const char *p,
                               const char *token, const char *what, int *rc)
{
    if (p == c->end) {
        *rc = ran_out(r, c, token);
        return NULL;
    }
    if (*p < '0' || *p > '9') {
        *rc = tr_syntax(r, c, p, what);
        return NULL;
    }
    return digits(p, c->end);
}

/* tr_lex_number, every case: signs, exponents, errors, the end of the
 * bytes read. */
static __attribute__((noinline)) int number_rest(struct tr_reader *r, struct tr_cur *c,
                                                 struct tr_tok *t)
{
    const char *token = c->p, *p = c->p, *end = c->end;
    int rc = 0;
    if (*p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if (!(p = some_digits(r, c, p, token,
                               "lexical error: a digit is required after the minus sign", &rc)))
        return rc;
    if (p < end && *p == '.' &&
        !(p = some_digits(r, c, p + 1, token,
                          "lexical error: a digit is required after the decimal point", &rc)))
        return rc;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!(p = some_digits(r, c, p, token, "lexical error: a digit is required in the exponent",
                              &rc)))
            return rc;
    }
    if (p == end && !c->eof)
        return ran_out(r, c, token); /* more digits may follow */
    *t = (struct tr_tok){token, (size_t)(p - token), false};
    c->p = p;
    return 0;
}

int tr_lex_number(struct tr_reader *r, struct tr_cur *c, struct tr_tok *t)
{
    /* the common case, kept small: digits, maybe a fraction, then a byte
     * that is not part of a number */
    const char *p = c->p + (*c->p == '-'), *end = c->end, *d = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    bool whole = p > d && (*d != '0' || p == d + 1);
    if (whole && p < end && *p == '.') {
        d = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        whole = p > d;
    }
    if (!whole || p == end || *p == 'e' || *p == 'E')
        return number_rest(r, c, t);
    *t = (struct tr_tok){c->p, (size_t)(p - c->p), false};
    c->p = p;
    return 0;
}

static int literal(struct tr_reader *r, struct tr_cur *c, const char *word, struct tr_tok *t)
{
    size_t n = strlen(word);
    for (size_t i = 0; i < n; i++) {
        if (c->p + i == c->end)
            return ran_out(r, c, c->p);
        if (c->p[i] != word[i])
            return tr_syntax(r, c, c->p + i, "lexical error: invalid string in json text");
    }
    *t = (struct tr_tok){c->p, n, false};
    c->p += n;
    return 0;
}

int tr_lex_scalar(struct tr_reader *r, struct tr_cur *c, struct tr_value *v, struct tr_tok *t)
{
    *v = (struct tr_value){.type = TR_NULL};
    switch (*c->p) {
    case '"': v->type = TR_STRING; return tr_lex_string(r, c, t);
    case 't':
        v->type = TR_BOOL;
        v->b = true;
        return literal(r, c, "true", t);
    case 'f': v->type = TR_BOOL; return literal(r, c, "false", t);
    case 'n': return literal(r, c, "null", t);
    case '-':
    case '0' ... '9': v->type = TR_REAL; return tr_lex_number(r, c, t);
    default: return tr_syntax(r, c, c->p, "lexical error: invalid char in json text");
    }
}

/* Appends the UTF-8 form of code point cp to out. */
static size_t utf8(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static unsigned hex4(const char *p)
{
    return (unsigned)(hex_digit(p[0]) << 12 | hex_digit(p[1]) << 8 | hex_digit(p[2]) << 4 |
                      hex_digit(p[3]));
}

/* The text of the escape at s[0..) (already checked by the lexer) into
 * out; how many bytes of s it took in *used. */
static size_t unescape(const char *s, const char *end, char *out, size_t *used)
{
    static const char plain[256] = {['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
                                    ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};
    if (s[1] != 'u') {
        *used = 2;
        out[0] = plain[(unsigned char)s[1]];
        return 1;
    }
    unsigned cp = hex4(s + 2);
    *used = 6;
    if (cp >= 0xd800 && cp < 0xdc00 && end - s >= 12 && s[6] == '\\' && s[7] == 'u') {
        unsigned low = hex4(s + 8);
        if (low >= 0xdc00 && low < 0xe000) {
            *used = 12;
            return utf8(0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00), out);
        }
    }
    if (cp >= 0xd800 && cp < 0xe000)
        cp = 0xfffd; /* half of a surrogate pair */
    return utf8(cp, out);
}

int tr_lex_decode(struct tr_reader *r, const struct tr_tok *t, struct tr_buf *b)
{
    b->len = 0;
    /* decoded text is never longer than the escaped text */
    int rc = tr_buf_reserve(b, t->len, SIZE_MAX);
    if (rc < 0)
        return tr_fail(r, rc, "out of memory");
    const char *s = t->s, *end = t->s + t->len;
    while (s < end) {
        const char *bs = memchr(s, '\\', (size_t)(end - s));
        size_t run = (size_t)((bs ? bs : end) - s), used;
        memcpy(b->p + b->len, s, run);
        b->len += run;
        s += run;
        if (s < end) {
            b->len += unescape(s, end, b->p + b->len, &used);
            s += used;
        }
    }
    b->p[b->len] = '\0';
    return 0;
}
