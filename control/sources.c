/*
 * Where configuration comes from, later wins:
 *   defaults < INI file named by OMNIPROF_CONFIG (inih) < OMNIPROF="k=v,..."
 *   < OMNIPROF_<KEY> variables (OMNIPROF_DELAY_ITERATIONS, OMNIPROF_DIR, ...).
 * The first bad value stops loading with one message naming key, source
 * and line.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "control.h"

/* inih reads the text line by line into a buffer of its own, whose size
 * (INI_MAX_LINE, 200 in Debian's build) is fixed where the library was
 * built.  It cuts a longer line and reads the rest as a line of its own,
 * so the tail of a long comment could be taken for a setting.  The reader
 * below hands it whole lines only: a comment or blank line of any length
 * goes in as ";"; a setting line that does not fit goes in as its key with
 * a placeholder value (LONG_VALUE), and the handler takes the value from
 * the text itself, trimmed as inih trims values.  A line of any length is
 * read whole; a key too long for inih's buffer is an error naming the
 * line, never a value cut short. */
#define LONG_VALUE "\x01"
struct ini_ctx {
    struct ctl_config *c;
    struct ctl_error *err;
    const char *name;    /* the file, as messages show it */
    const char *p, *end; /* the text not yet read */
    int line;
    bool nul;        /* the reader stopped at .line: a NUL byte */
    size_t too_long; /* or: a key this long, more than inih takes */
    int max;         /* inih's buffer */
    /* the value of the setting line now in inih, when it went in as
     * LONG_VALUE: its text up to the end of the line */
    const char *long_value, *long_end;
    int rc; /* the first handler error */
};

/* A line inih takes as a comment (or as nothing): after optional
 * whitespace (and the UTF-8 byte order mark on line 1), ';', '#' or the
 * end of the line. */
static bool comment_line(const char *p, const char *end, bool first)
{
    if (first && end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (p < end && isspace((unsigned char)*p))
        p++;
    return p == end || *p == ';' || *p == '#';
}

/* A setting line longer than inih's buffer: "key=" LONG_VALUE into str,
 * the value kept aside.  0, or -1 when even the key does not fit (or the
 * line is not a plain key line: a section, a continuation). */
static int long_setting(struct ini_ctx *x, char *str, int num, size_t text)
{
    const char *delim = x->p;
    while (delim < x->p + text && *delim != '=' && *delim != ':')
        delim++;
    size_t key = (size_t)(delim - x->p);
    if (delim == x->p + text || *x->p == '[' || isspace((unsigned char)*x->p) ||
        key + sizeof "=" LONG_VALUE "\n" > (size_t)num) {
        x->too_long = text;
        x->max = num - 3;
        return -1;
    }
    memcpy(str, x->p, key);
    memcpy(str + key, "=" LONG_VALUE "\n", sizeof "=" LONG_VALUE "\n");
    x->long_value = delim + 1;
    x->long_end = x->p + text;
    return 0;
}

/* The kept-aside value as inih gives values: leading and trailing
 * whitespace off, and an inline comment (";" after whitespace) off. */
static char *long_value_text(const struct ini_ctx *x)
{
    const char *p = x->long_value, *end = x->long_end;
    while (p < end && isspace((unsigned char)*p))
        p++;
    for (const char *q = p; q < end; q++) {
        if (*q == ';' && q > p && isspace((unsigned char)q[-1])) {
            end = q;
            break;
        }
    }
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    return strndup(p, (size_t)(end - p));
}

static char *ini_read_line(char *str, int num, void *stream)
{
    struct ini_ctx *x = stream;
    if (x->p >= x->end || x->rc < 0 || num < 3)
        return NULL;
    const char *nl = memchr(x->p, '\n', (size_t)(x->end - x->p));
    const char *next = nl ? nl + 1 : x->end;
    size_t n = (size_t)(next - x->p);
    x->line++;
    if (memchr(x->p, '\0', n)) {
        x->nul = true;
        return NULL;
    }
    /* the line, its newline, its NUL and a byte to spare, so that a line
     * never fills inih's buffer (a full buffer reads as a line cut) */
    size_t text = n - (nl ? 1 : 0);
    x->long_value = NULL;
    if (text + 3 > (size_t)num) {
        if (comment_line(x->p, next, x->line == 1))
            memcpy(str, ";\n", 3);
        else if (long_setting(x, str, num, text) < 0)
            return NULL;
    } else {
        memcpy(str, x->p, n);
        str[n] = '\0';
    }
    x->p = next;
    return str;
}

static int on_ini_pair(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *x = user;
    if (x->rc < 0)
        return 0;
    char where[400];
    snprintf(where, sizeof where, "%s:%d", x->name, x->line);
    if (section[0] && strcmp(section, "omniprof") != 0 && strcmp(section, "profiler") != 0) {
        char shown[128];
        snprintf(x->err->msg, sizeof x->err->msg,
                 "%s: unknown section [%s]; keys go at the top or under [omniprof]", where,
                 ctl_config_show(section, shown, sizeof shown));
        x->rc = -EINVAL;
        return 0;
    }
    if (x->long_value && strcmp(value, LONG_VALUE) == 0) {
        char *whole = long_value_text(x);
        if (!whole) {
            snprintf(x->err->msg, sizeof x->err->msg, "%s: out of memory", where);
            x->rc = -ENOMEM;
            return 0;
        }
        x->rc = ctl_config_set(x->c, name, whole, where, x->err);
        free(whole);
        return x->rc == 0;
    }
    x->rc = ctl_config_set(x->c, name, value, where, x->err);
    return x->rc == 0;
}

int ctl_config_parse_ini(struct ctl_config *c, const char *text, size_t len, const char *name,
                         struct ctl_error *err)
{
    char shown[300];
    struct ini_ctx x = {.c = c,
                        .err = err,
                        .name = ctl_config_show(name, shown, sizeof shown),
                        .p = text,
                        .end = text + len};
    int line = ini_parse_stream(ini_read_line, &x, on_ini_pair, &x);
    if (x.rc < 0)
        return x.rc;
    if (line != 0) {
        snprintf(err->msg, sizeof err->msg, "%s:%d: not a key = value line or [section]", x.name,
                 line < 0 ? 0 : line);
        return -EINVAL;
    }
    if (x.nul) {
        snprintf(err->msg, sizeof err->msg, "%s:%d: a NUL byte; a config file is text", x.name,
                 x.line);
        return -EINVAL;
    }
    if (x.too_long) {
        snprintf(err->msg, sizeof err->msg,
                 "%s:%d: a line of %zu bytes whose key (or section) does not fit the INI "
                 "reader's %d bytes",
                 x.name, x.line, x.too_long, x.max);
        return -EINVAL;
    }
    return 0;
}

/* ---- the file ------------------------------------------------------------- */

static int cannot_read(struct ctl_error *err, const char *path, int e)
{
    char shown[400];
    snprintf(err->msg, sizeof err->msg, "OMNIPROF_CONFIG: cannot read %s: %s",
             ctl_config_show(path, shown, sizeof shown), strerror(e));
    return -e;
}

/* The refusal of anything but a regular file: a FIFO would block the
 * program before main, a device could be read forever. */
static int not_a_file(struct ctl_error *err, const char *path, mode_t mode)
{
    const char *what = S_ISDIR(mode)    ? "a directory"
                       : S_ISFIFO(mode) ? "a FIFO"
                       : S_ISCHR(mode)  ? "a character device"
                       : S_ISBLK(mode)  ? "a block device"
                       : S_ISSOCK(mode) ? "a socket"
                                        : "something else";
    char shown[400];
    snprintf(err->msg, sizeof err->msg, "OMNIPROF_CONFIG: %s is %s, not a regular file",
             ctl_config_show(path, shown, sizeof shown), what);
    return -EINVAL;
}

static int too_large(struct ctl_error *err, const char *path)
{
    char shown[400];
    snprintf(err->msg, sizeof err->msg,
             "OMNIPROF_CONFIG: %s is larger than 1 MiB (%d bytes), "
             "the most a config file may hold",
             ctl_config_show(path, shown, sizeof shown), CTL_CONFIG_FILE_MAX);
    return -EFBIG;
}

/* Reads the whole of fd (a regular file) into a new buffer: 0, -EFBIG
 * past CTL_CONFIG_FILE_MAX, or -errno. */
static int read_all(int fd, off_t size, char **out, size_t *len)
{
    size_t cap = (size_t)(size < CTL_CONFIG_FILE_MAX ? size : CTL_CONFIG_FILE_MAX) + 1;
    char *buf = malloc(cap);
    size_t n = 0;
    for (;;) {
        if (!buf)
            return -ENOMEM;
        if (n == cap) { /* the file grew since fstat */
            if (cap > CTL_CONFIG_FILE_MAX) {
                free(buf);
                return -EFBIG;
            }
            cap = cap * 2 < (size_t)CTL_CONFIG_FILE_MAX + 1 ? cap * 2
                                                            : (size_t)CTL_CONFIG_FILE_MAX + 1;
            char *grown = realloc(buf, cap);
            if (!grown)
                free(buf);
            buf = grown;
            continue;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            return -e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > CTL_CONFIG_FILE_MAX) {
        free(buf);
        return -EFBIG;
    }
    *out = buf;
    *len = n;
    return 0;
}

int ctl_config_load_ini(struct ctl_config *c, const char *path, struct ctl_error *err)
{
    /* Look before opening: opening a FIFO waits for a writer, opening a
     * device may act on it.  fstat below closes the race with a swap. */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return not_a_file(err, path, st.st_mode);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return cannot_read(err, path, errno);
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return cannot_read(err, path, e);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return not_a_file(err, path, st.st_mode);
    }
    if (st.st_size > CTL_CONFIG_FILE_MAX) {
        close(fd);
        return too_large(err, path);
    }
    char *text = NULL;
    size_t len = 0;
    int rc = read_all(fd, st.st_size, &text, &len);
    close(fd);
    if (rc == -EFBIG)
        return too_large(err, path);
    if (rc < 0)
        return cannot_read(err, path, -rc);
    rc = ctl_config_parse_ini(c, text, len, path, err);
    free(text);
    return rc;
}

#define PREFIX "OMNIPROF_"

int ctl_config_load_env(struct ctl_config *c, char *const *env, struct ctl_error *err)
{
    int rc;
    for (char *const *e = env; *e; e++)
        if (strncmp(*e, "OMNIPROF_CONFIG=", 16) == 0 && (*e)[16] &&
            (rc = ctl_config_load_ini(c, *e + 16, err)) < 0)
            return rc;
    for (char *const *e = env; *e; e++)
        if (strncmp(*e, "OMNIPROF=", 9) == 0 &&
            (rc = ctl_config_parse_string(c, *e + 9, "OMNIPROF", err)) < 0)
            return rc;
    for (char *const *e = env; *e; e++) {
        if (strncmp(*e, PREFIX, sizeof PREFIX - 1) != 0 || strncmp(*e, "OMNIPROF_CONFIG=", 16) == 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char var[128], key[128];
        size_t n = (size_t)(eq - *e);
        if (n >= sizeof var)
            n = sizeof var - 1;
        memcpy(var, *e, n);
        var[n] = '\0';
        size_t k = 0;
        for (const char *p = var + sizeof PREFIX - 1; *p && k + 1 < sizeof key; p++)
            key[k++] = (char)tolower((unsigned char)*p);
        key[k] = '\0';
        if ((rc = ctl_config_set(c, key, eq + 1, var, err)) < 0)
            return rc;
    }
    return 0;
}
