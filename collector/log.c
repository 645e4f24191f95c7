/*
 * The one logging helper: "omniprof: <tag>: message" on stderr.
 *
 * Safe from any thread (one write(2) per line, no stdio locks), never from a
 * signal handler (vsnprintf).  errno is preserved so that hooks may log.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Written by the control side when the configuration is read. */
static _Atomic int log_level = COLL_LOG_INFO;

void coll_log_set_level(int level)
{
    atomic_store(&log_level, level);
}

int coll_log_level(void)
{
    return atomic_load(&log_level);
}

void coll_log(int level, const char *tag, const char *fmt, ...)
{
    if (level > atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    int saved = errno;
    char line[1024];
    int n = snprintf(line, sizeof line, "omniprof: %s%s", tag ? tag : "", tag ? ": " : "");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
    errno = saved;
}
