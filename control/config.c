/*
 * The configuration: keys, defaults, parsing and validation of one value,
 * the rules between keys, and the k=v form the CLI hands to children.
 *
 * Keys keep the names and defaults of vLLM's ProfilerConfig (profiler,
 * torch_profiler_*, delay_iterations, max_iterations), accept the short
 * forms without "torch_profiler_", and add omniprof's own.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collector.h"
#include "control.h"

enum type { T_PROFILER, T_STRING, T_BOOL, T_LONG, T_STAGE, T_STAGES, T_SIGNAL, T_LOGLEVEL };

static const struct key {
    const char *name;
    const char *alias; /* short form, or NULL */
    enum type type;
    size_t off;
    size_t size; /* T_STRING: buffer size */
    long min, max;
} keys[] = {
#define F(field) offsetof(struct ctl_config, field)
    {"profiler", NULL, T_PROFILER, F(profiler), 0, 0, 0},
    {"torch_profiler_dir", "dir", T_STRING, F(dir), sizeof(((struct ctl_config *)0)->dir), 0, 0},
    {"torch_profiler_with_stack", "with_stack", T_BOOL, F(with_stack), 0, 0, 0},
    {"torch_profiler_with_flops", "with_flops", T_BOOL, F(with_flops), 0, 0, 0},
    {"torch_profiler_use_gzip", "use_gzip", T_BOOL, F(use_gzip), 0, 0, 0},
    {"torch_profiler_dump_cuda_time_total", "dump_cuda_time_total", T_BOOL,
     F(dump_cuda_time_total), 0, 0, 0},
    {"torch_profiler_record_shapes", "record_shapes", T_BOOL, F(record_shapes), 0, 0, 0},
    {"torch_profiler_with_memory", "with_memory", T_BOOL, F(with_memory), 0, 0, 0},
    {"delay_iterations", NULL, T_LONG, F(delay_iterations), 0, 0, LONG_MAX},
    {"max_iterations", NULL, T_LONG, F(max_iterations), 0, 0, LONG_MAX},
    {"stage", NULL, T_STAGE, F(stage), 0, 0, CTL_MAX_STAGE},
    {"stages", NULL, T_STAGES, F(stages), 0, 0, CTL_MAX_STAGE},
    {"autostart", NULL, T_BOOL, F(autostart), 0, 0, 0},
    {"toggle_signal", NULL, T_SIGNAL, F(toggle_signal), 0, 0, 0},
    {"stop_signal", NULL, T_SIGNAL, F(stop_signal), 0, 0, 0},
    {"buffer_size", NULL, T_LONG, F(buffer_size), 0, 1, 1 << 20},
    {"max_threads", NULL, T_LONG, F(max_threads), 0, 1, 1 << 16},
    {"stack_depth", NULL, T_LONG, F(stack_depth), 0, 1, 256},
    {"python_stack", NULL, T_BOOL, F(python_stack), 0, 0, 0},
    {"gzip_level", NULL, T_LONG, F(gzip_level), 0, 0, 9},
    {"table_rows", NULL, T_LONG, F(table_rows), 0, 0, LONG_MAX},
    {"log_level", NULL, T_LOGLEVEL, F(log_level), 0, 0, 0},
    {"file_prefix", NULL, T_STRING, F(file_prefix), sizeof(((struct ctl_config *)0)->file_prefix),
     0, 0},
    {"follow_exec", NULL, T_BOOL, F(follow_exec), 0, 0, 0},
    {"step_signal", NULL, T_SIGNAL, F(step_signal), 0, -1, 0},
    {"step_on", NULL, T_STRING, F(step_on), sizeof(((struct ctl_config *)0)->step_on), 0, 0},
    {"runtime_dir", NULL, T_STRING, F(runtime_dir), sizeof(((struct ctl_config *)0)->runtime_dir), 0,
     0},
    {"cupti", NULL, T_BOOL, F(cupti), 0, 0, 0},
    {"cupti_buffer_size", NULL, T_LONG, F(cupti_buffer_size), 0, 8, 128},
    {"cupti_path", NULL, T_STRING, F(cupti_path), sizeof(((struct ctl_config *)0)->cupti_path), 0,
     0},
#undef F
};
#define N_KEYS (sizeof keys / sizeof keys[0])

static const char *const log_levels[] = {"error", "warn", "info", "debug"};

size_t ctl_config_key_count(void)
{
    return N_KEYS;
}

const char *ctl_config_key_name(size_t i)
{
    return i < N_KEYS ? keys[i].name : NULL;
}

const char *ctl_config_key_alias(size_t i)
{
    return i < N_KEYS ? keys[i].alias : NULL;
}

void ctl_config_defaults(struct ctl_config *c)
{
    memset(c, 0, sizeof *c);
    c->profiler = CTL_PROFILER_NONE;
    c->with_stack = true;
    c->with_flops = false;
    c->use_gzip = true;
    c->dump_cuda_time_total = true;
    c->record_shapes = false;
    c->with_memory = false;
    c->delay_iterations = 0;
    c->max_iterations = 0;
    c->stage = -1;
    c->autostart = false;
    c->toggle_signal = SIGUSR1;
    c->stop_signal = SIGUSR2;
    c->buffer_size = 64;
    c->max_threads = 1024;
    c->stack_depth = 32;
    c->python_stack = true;
    c->gzip_level = 1;
    c->table_rows = 100; /* torch: key_averages().table(row_limit=100) */
    c->log_level = COLL_LOG_INFO;
    c->follow_exec = true;
    c->step_signal = -1;
    c->cupti = true;
    c->cupti_buffer_size = 32;
}

static int fail(struct ctl_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct ctl_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0 || (keys[i].alias && strcmp(keys[i].alias, name) == 0))
            return &keys[i];
    return NULL;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

static int parse_long(const char *v, long *out)
{
    if (!*v || isspace((unsigned char)*v))
        return -1;
    errno = 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

int ctl_signal_parse(const char *s)
{
    if (!*s || strcasecmp(s, "none") == 0 || strcasecmp(s, "off") == 0 || strcmp(s, "0") == 0)
        return 0;
    long n;
    if (parse_long(s, &n) == 0)
        return n > 0 && n < NSIG ? (int)n : -1;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    if (strncasecmp(s, "RTMIN", 5) == 0 || strncasecmp(s, "RTMAX", 5) == 0) {
        bool min = toupper((unsigned char)s[3]) == 'I';
        long off = 0;
        if (s[5] && (parse_long(s + 5, &off) < 0 || (min ? off < 0 : off > 0)))
            return -1;
        long sig = (min ? SIGRTMIN : SIGRTMAX) + off;
        return sig >= SIGRTMIN && sig <= SIGRTMAX ? (int)sig : -1;
    }
    for (int sig = 1; sig < SIGRTMIN; sig++) {
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev && strcasecmp(abbrev, s) == 0)
            return sig;
    }
    return -1;
}

void ctl_signal_name(int sig, char *buf, size_t cap)
{
    if (sig < 0)
        snprintf(buf, cap, "auto");
    else if (sig == 0)
        snprintf(buf, cap, "none");
    else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
        snprintf(buf, cap, "SIGRTMIN+%d", sig - SIGRTMIN);
    else if (sigabbrev_np(sig))
        snprintf(buf, cap, "SIG%s", sigabbrev_np(sig));
    else
        snprintf(buf, cap, "%d", sig);
}

static int parse_stages(const char *v, struct ctl_config *c)
{
    int n = 0;
    const char *p = v;
    while (*p) {
        while (*p == ' ')
            p++;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > CTL_MAX_STAGE || n == CTL_MAX_STAGES)
            return -1;
        c->stages[n++] = (int)x;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',' || *p == ':' || *p == ';')
            p++;
        else if (*p)
            return -1;
    }
    c->n_stages = n;
    return 0;
}

static int set_value(struct ctl_config *c, const struct key *k, const char *v, const char *source,
                     struct ctl_error *err);

int ctl_config_set(struct ctl_config *c, const char *name, const char *v, const char *source,
                   struct ctl_error *err)
{
    const struct key *k = find_key(name);
    if (!k)
        return fail(err, "%s: unknown key '%s' (see the README's table of keys)", source, name);
    int rc = set_value(c, k, v, source, err);
    if (rc == 0 && k->off == offsetof(struct ctl_config, profiler))
        snprintf(c->profiler_source, sizeof c->profiler_source, "%s", source);
    if (rc == 0 && k->off == offsetof(struct ctl_config, dir))
        snprintf(c->dir_source, sizeof c->dir_source, "%s", source);
    return rc;
}

static int set_value(struct ctl_config *c, const struct key *k, const char *v, const char *source,
                     struct ctl_error *err)
{
    void *field = (char *)c + k->off;
    long n;
    bool b;
    int i;
    switch (k->type) {
    case T_PROFILER:
        if (!*v || strcasecmp(v, "none") == 0)
            c->profiler = CTL_PROFILER_NONE;
        else if (strcasecmp(v, "torch") == 0)
            c->profiler = CTL_PROFILER_TORCH;
        else if (strcasecmp(v, "cuda") == 0)
            c->profiler = CTL_PROFILER_CUDA;
        else
            return fail(err, "%s: %s: '%s' is not a profiler; expected torch or cuda", source,
                        k->name, v);
        return 0;
    case T_STRING:
        if (strlen(v) >= k->size)
            return fail(err, "%s: %s: value is longer than %zu bytes", source, k->name, k->size - 1);
        memcpy(field, v, strlen(v) + 1);
        return 0;
    case T_BOOL:
        if (parse_bool(v, &b) < 0)
            return fail(err, "%s: %s: '%s' is not a boolean; expected true/false, 1/0, yes/no or on/off",
                        source, k->name, v);
        *(bool *)field = b;
        return 0;
    case T_LONG:
        if (parse_long(v, &n) < 0)
            return fail(err, "%s: %s: '%s' is not a whole number", source, k->name, v);
        if (n < k->min || n > k->max) {
            if (k->min == 0 && n < 0)
                return fail(err, "%s: %s: %ld is negative; expected a count >= 0", source, k->name, n);
            return fail(err, "%s: %s: %ld is out of range [%ld, %ld]", source, k->name, n, k->min,
                        k->max);
        }
        *(long *)field = n;
        return 0;
    case T_STAGE:
        if (!*v || strcasecmp(v, "none") == 0) {
            c->stage = -1;
            return 0;
        }
        if (parse_long(v, &n) < 0 || n < 0 || n > k->max)
            return fail(err, "%s: %s: '%s' is not a stage number (0, 1, 2, ...)", source, k->name, v);
        c->stage = n;
        return 0;
    case T_STAGES:
        if (parse_stages(v, c) < 0)
            return fail(err, "%s: %s: '%s' is not a list of stage numbers (e.g. 0,2; at most %d)",
                        source, k->name, v, CTL_MAX_STAGES);
        return 0;
    case T_SIGNAL:
        if (k->min == -1 && strcasecmp(v, "auto") == 0) {
            *(int *)field = -1;
            return 0;
        }
        i = ctl_signal_parse(v);
        if (i < 0 || i == SIGKILL || i == SIGSTOP)
            return fail(err, "%s: %s: '%s' is not a usable signal (e.g. SIGUSR1, SIGRTMIN+3, none)",
                        source, k->name, v);
        *(int *)field = i;
        return 0;
    case T_LOGLEVEL:
        for (i = 0; i < 4; i++)
            if (strcasecmp(v, log_levels[i]) == 0)
                return c->log_level = i, 0;
        return fail(err, "%s: %s: '%s' is not a log level; expected error, warn, info or debug",
                    source, k->name, v);
    }
    return fail(err, "%s: %s: unsupported key type", source, k->name);
}

int ctl_config_validate(const struct ctl_config *c, const char *source, struct ctl_error *err)
{
    if (c->profiler == CTL_PROFILER_TORCH && !c->dir[0])
        return fail(err, "%s: profiler: profiler=torch needs torch_profiler_dir (or dir) to be set",
                    c->profiler_source[0] ? c->profiler_source : source);
    if (c->profiler == CTL_PROFILER_CUDA && c->dir[0])
        return fail(err,
                    "%s: torch_profiler_dir: only applies to profiler=torch; profiler=cuda (set at "
                    "%s) writes no trace of its own",
                    c->dir_source[0] ? c->dir_source : source,
                    c->profiler_source[0] ? c->profiler_source : source);
    if (c->toggle_signal && c->toggle_signal == c->stop_signal)
        return fail(err, "%s: stop_signal: same signal as toggle_signal", source);
    if (c->step_signal > 0 && (c->step_signal == c->toggle_signal || c->step_signal == c->stop_signal))
        return fail(err, "%s: step_signal: same signal as toggle_signal or stop_signal", source);
    if (c->step_on[0] && coll_api_by_name(c->step_on) <= 0)
        return fail(err,
                    "%s: step_on: '%s' is not a call omniprof intercepts (e.g. cuGraphLaunch, "
                    "cuStreamSynchronize, cudaDeviceSynchronize, cuLaunchKernel)",
                    source, c->step_on);
    return 0;
}

const char *ctl_config_dir(const struct ctl_config *c)
{
    return c->dir[0] ? c->dir : "omniprof_traces";
}

/* ---- k=v strings ---------------------------------------------------------- */

static size_t put(char *buf, size_t cap, size_t len, const char *s, bool escape)
{
    for (; *s; s++) {
        if (escape && (*s == ',' || *s == '\\')) {
            if (len + 1 < cap)
                buf[len] = '\\';
            len++;
        }
        if (len + 1 < cap)
            buf[len] = *s;
        len++;
    }
    if (cap)
        buf[len < cap ? len : cap - 1] = '\0';
    return len;
}

static void value_text(const struct ctl_config *c, const struct key *k, char *v, size_t cap)
{
    static const char *const profilers[] = {"", "torch", "cuda"};
    const void *field = (const char *)c + k->off;
    switch (k->type) {
    case T_PROFILER: snprintf(v, cap, "%s", profilers[c->profiler]); break;
    case T_STRING: snprintf(v, cap, "%s", (const char *)field); break;
    case T_BOOL: snprintf(v, cap, "%s", *(const bool *)field ? "true" : "false"); break;
    case T_LONG: snprintf(v, cap, "%ld", *(const long *)field); break;
    case T_STAGE:
        if (c->stage < 0)
            v[0] = '\0';
        else
            snprintf(v, cap, "%ld", c->stage);
        break;
    case T_STAGES: {
        size_t len = 0;
        v[0] = '\0';
        for (int i = 0; i < c->n_stages && len < cap; i++)
            len += (size_t)snprintf(v + len, cap - len, "%s%d", i ? "," : "", c->stages[i]);
        break;
    }
    case T_SIGNAL: ctl_signal_name(*(const int *)field, v, cap); break;
    case T_LOGLEVEL: snprintf(v, cap, "%s", log_levels[c->log_level]); break;
    }
}

int ctl_config_serialize(const struct ctl_config *c, char *buf, size_t cap)
{
    size_t len = 0;
    char v[PATH_MAX + 16];
    for (size_t i = 0; i < N_KEYS; i++) {
        value_text(c, &keys[i], v, sizeof v);
        len = put(buf, cap, len, i ? "," : "", false);
        len = put(buf, cap, len, keys[i].name, false);
        len = put(buf, cap, len, "=", false);
        len = put(buf, cap, len, v, true);
    }
    return len < cap ? 0 : -ENOSPC;
}

bool ctl_config_equal(const struct ctl_config *a, const struct ctl_config *b)
{
    char va[PATH_MAX + 16], vb[PATH_MAX + 16];
    for (size_t i = 0; i < N_KEYS; i++) {
        value_text(a, &keys[i], va, sizeof va);
        value_text(b, &keys[i], vb, sizeof vb);
        if (strcmp(va, vb) != 0)
            return false;
    }
    return true;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Sets one item of a k=v string, turning kept-aside escaped commas back. */
static int set_item(struct ctl_config *c, const char *key, char *value, const char *source,
                    int index, struct ctl_error *err)
{
    char where[96];
    snprintf(where, sizeof where, "%s item %d", source, index);
    for (char *p = value; *p; p++)
        if (*p == '\x1f')
            *p = ',';
    return ctl_config_set(c, key, value, where, err);
}

int ctl_config_parse_string(struct ctl_config *c, const char *s, const char *source,
                            struct ctl_error *err)
{
    size_t n = strlen(s);
    char *items = malloc(n + 1);
    char *value = malloc(n + 1);
    if (!items || !value) {
        free(items);
        free(value);
        return fail(err, "%s: out of memory", source);
    }
    /* Unescape into NUL-separated pieces, splitting on unescaped commas;
     * a piece without '=' is joined to the previous one with a comma. */
    size_t len = 0;
    for (size_t i = 0; i <= n; i++) {
        if (s[i] == '\\' && (s[i + 1] == ',' || s[i + 1] == '\\'))
            items[len++] = s[++i] == ',' ? '\x1f' : '\\'; /* an escaped comma, kept aside */
        else
            items[len++] = s[i] == ',' ? '\0' : s[i];
    }
    int rc = 0;
    char key[128] = "";
    size_t vlen = 0;
    int index = 0;
    char where[96];
    for (char *p = items, *next; p < items + len; p = next) {
        next = p + strlen(p) + 1; /* before trim() and *eq shorten the piece */
        char *eq = strchr(p, '=');
        if (!eq) {
            char *piece = trim(p);
            if (!*piece)
                continue;
            if (!key[0]) {
                snprintf(where, sizeof where, "%s item %d", source, index + 1);
                rc = fail(err, "%s: '%s' is not key=value", where, piece);
                break;
            }
            value[vlen++] = ',';
            memcpy(value + vlen, piece, strlen(piece) + 1);
            vlen += strlen(piece);
            continue;
        }
        if (key[0] && (rc = set_item(c, key, value, source, index, err)) < 0)
            break;
        *eq = '\0';
        snprintf(key, sizeof key, "%s", trim(p));
        char *v = trim(eq + 1);
        vlen = strlen(v);
        memcpy(value, v, vlen + 1);
        index++;
        if (!key[0]) {
            snprintf(where, sizeof where, "%s item %d", source, index);
            rc = fail(err, "%s: empty key", where);
            break;
        }
    }
    if (rc == 0 && key[0])
        rc = set_item(c, key, value, source, index, err);
    free(items);
    free(value);
    return rc;
}
