/*
 * The one logging helper: "omniprof: <tag>: message" on stderr, and the one
 * way text from outside (a config value, a path, a command-line argument)
 * is shown: control bytes escaped and long text cut (coll_escape).
 *
 * Safe from any thread (one write(2) per line, no stdio locks), never from a
 * signal handler (vsnprintf).  errno is preserved so that hooks may log.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Written by the control side when the configuration is read. */
static _Atomic int log_level = COLL_LOG_INFO;

/* The longest line coll_log writes, escapes included, before "...\n". */
#define LINE_MAX_BYTES 1024

void coll_log_set_level(int level)
{
    atomic_store(&log_level, level);
}

int coll_log_level(void)
{
    return atomic_load(&log_level);
}

/* Length of the UTF-8 sequence at s if it is valid and prints (not a C1
 * control, U+0080..U+009F), else 0. */
static int printable_utf8(const unsigned char *s)
{
    int n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (n == 0 || s[0] > 0xF4)
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    uint32_t cp = s[0] & (0x7F >> n);
    for (int i = 1; i < n; i++)
        cp = cp << 6 | (s[i] & 0x3F);
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp < 0xA0)
        return 0;
    return n;
}

size_t coll_escape(char *dst, size_t cap, const char *text, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)text;
    size_t in = 0, out = 0;
    if (cap == 0)
        return 0;
    /* room kept for "..." and the NUL */
    size_t room = cap > 4 ? cap - 4 : 0;
    while (s[in]) {
        char piece[4];
        size_t len, take = 1;
        int u = s[in] >= 0x80 ? printable_utf8(s + in) : 0;
        if (s[in] >= 0x20 && s[in] < 0x7F) {
            piece[0] = (char)s[in], len = 1;
        } else if (u > 0) {
            take = len = (size_t)u;
        } else if (s[in] == '\n' || s[in] == '\t' || s[in] == '\r') {
            piece[0] = '\\', piece[1] = s[in] == '\n' ? 'n' : s[in] == '\t' ? 't' : 'r';
            len = 2;
        } else {
            piece[0] = '\\', piece[1] = 'x', piece[2] = hex[s[in] >> 4], piece[3] = hex[s[in] & 15];
            len = 4;
        }
        if (in + take > max || out + len > room)
            break;
        memcpy(dst + out, u > 0 ? (const char *)s + in : piece, len);
        out += len;
        in += take;
    }
    if (s[in] && cap > 4) {
        memcpy(dst + out, "...", 3);
        out += 3;
    }
    dst[out] = '\0';
    return out;
}

void coll_log(int level, const char *tag, const char *fmt, ...)
{
    if (level > atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    int saved = errno;
    char message[4 * LINE_MAX_BYTES], line[LINE_MAX_BYTES + 8];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (m < 0)
        message[0] = '\0';
    int n = snprintf(line, sizeof line, "omniprof: %s%s", tag ? tag : "", tag ? ": " : "");
    /* Whatever the message holds (a value from the environment, a path, a
     * name from the program), it leaves as one short line of text. */
    size_t len = (size_t)n + coll_escape(line + n, LINE_MAX_BYTES - (size_t)n, message, SIZE_MAX);
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
    errno = saved;
}
