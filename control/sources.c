/*
 * Where configuration comes from, later wins:
 *   defaults < INI file named by OMNIPROF_CONFIG (inih) < OMNIPROF="k=v,..."
 *   < OMNIPROF_<KEY> variables (OMNIPROF_DELAY_ITERATIONS, OMNIPROF_DIR, ...).
 * The first bad value stops loading with one message naming key, source
 * and line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "control.h"

struct ini_ctx {
    struct ctl_config *c;
    struct ctl_error *err;
    const char *path;
    FILE *f;
    int line;
    int rc;
};

/* fgets that counts lines, so the handler can name the line it is on. */
static char *ini_read_line(char *str, int num, void *stream)
{
    struct ini_ctx *x = stream;
    char *r = fgets(str, num, x->f);
    if (r)
        x->line++;
    return r;
}

static int on_ini_pair(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *x = user;
    if (x->rc < 0)
        return 0;
    char where[PATH_MAX + 32];
    snprintf(where, sizeof where, "%s:%d", x->path, x->line);
    if (section[0] && strcmp(section, "omniprof") != 0 && strcmp(section, "profiler") != 0) {
        snprintf(x->err->msg, sizeof x->err->msg,
                 "%.300s: unknown section [%.100s]; keys go at the top or under [omniprof]", where,
                 section);
        x->rc = -EINVAL;
        return 0;
    }
    x->rc = ctl_config_set(x->c, name, value, where, x->err);
    return x->rc == 0;
}

static int cannot_read(struct ctl_error *err, const char *path, int e)
{
    snprintf(err->msg, sizeof err->msg, "OMNIPROF_CONFIG: cannot read %.400s: %s", path, strerror(e));
    return -e;
}

int ctl_config_load_ini(struct ctl_config *c, const char *path, struct ctl_error *err)
{
    struct ini_ctx x = {.c = c, .err = err, .path = path};
    x.f = fopen(path, "re");
    if (!x.f)
        return cannot_read(err, path, errno);
    int line = ini_parse_stream(ini_read_line, &x, on_ini_pair, &x);
    int read_error = ferror(x.f) ? (errno ? errno : EIO) : 0; /* e.g. a directory */
    fclose(x.f);
    if (x.rc < 0)
        return x.rc;
    if (read_error)
        return cannot_read(err, path, read_error);
    if (line != 0) {
        snprintf(err->msg, sizeof err->msg, "%.400s:%d: not a key = value line or [section]", path,
                 line < 0 ? 0 : line);
        return -EINVAL;
    }
    return 0;
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
