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
#include <stdint.h>
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
    {"torch_profiler_dump_cuda_time_total", "dump_cuda_time_total", T_BOOL, F(dump_cuda_time_total),
     0, 0, 0},
    {"torch_profiler_record_shapes", "record_shapes", T_BOOL, F(record_shapes), 0, 0, 0},
    {"torch_profiler_with_memory", "with_memory", T_BOOL, F(with_memory), 0, 0, 0},
    {"delay_iterations", NULL, T_LONG, F(delay_iterations), 0, 0, LONG_MAX},
    {"max_iterations", NULL, T_LONG, F(max_iterations), 0, 0, LONG_MAX},
    {"stage", NULL, T_STAGE, F(stage), 0, 0, CTL_MAX_STAGE},
    {"stage_env", NULL, T_STRING, F(stage_env), sizeof(((struct ctl_config *)0)->stage_env), 0, 0},
    {"stage_map", NULL, T_STRING, F(stage_map), sizeof(((struct ctl_config *)0)->stage_map), 0, 0},
    {"stage_title", NULL, T_STRING, F(stage_title), sizeof(((struct ctl_config *)0)->stage_title),
     0, 0},
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
    {"runtime_dir", NULL, T_STRING, F(runtime_dir), sizeof(((struct ctl_config *)0)->runtime_dir),
     0, 0},
    {"cupti", NULL, T_BOOL, F(cupti), 0, 0, 0},
    {"cupti_buffer_size", NULL, T_LONG, F(cupti_buffer_size), 0, 8, 128},
    {"cupti_path", NULL, T_STRING, F(cupti_path), sizeof(((struct ctl_config *)0)->cupti_path), 0,
     0},
    {"report", NULL, T_BOOL, F(report), 0, 0, 0},
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

/* ---- byte strings as text ---------------------------------------------------- */

/* The length of the valid UTF-8 sequence at s (1 for ASCII), 0 when none
 * starts there.  Stops at a NUL (never a continuation byte). */
static int utf8_len(const unsigned char *s)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned c = s[0];
    int n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        n = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        n = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Appends n bytes at buf[len] (as far as cap allows, NUL-terminated);
 * returns the length the whole text would have. */
static size_t put_bytes(char *buf, size_t cap, size_t len, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++, len++)
        if (len + 1 < cap)
            buf[len] = p[i];
    if (cap)
        buf[len < cap ? len : cap - 1] = '\0';
    return len;
}

/* Appends v as text: control bytes, DEL and bytes that are not UTF-8
 * become \xHH, so the text is one printable line whatever v holds.  kv:
 * the k=v form besides, where a backslash or comma is escaped with a
 * backslash and a space at either end (which parsing trims) is \x20. */
static size_t put_text(char *buf, size_t cap, size_t len, const char *v, bool kv)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)v;
    size_t n = strlen(v), lead = 0, trail = n;
    len = put_bytes(buf, cap, len, "", 0); /* terminated even when v is empty */
    while (kv && lead < n && s[lead] == ' ')
        lead++;
    while (kv && trail > lead && s[trail - 1] == ' ')
        trail--;
    for (size_t i = 0; i < n;) {
        int u = utf8_len(s + i);
        char esc[4] = {'\\', 'x', hex[s[i] >> 4], hex[s[i] & 15]};
        if (kv && (s[i] == '\\' || s[i] == ',')) {
            esc[1] = (char)s[i];
            len = put_bytes(buf, cap, len, esc, 2);
        } else if (u == 0 || s[i] < 0x20 || s[i] == 0x7f ||
                   (s[i] == ' ' && (i < lead || i >= trail))) {
            len = put_bytes(buf, cap, len, esc, 4);
        } else {
            len = put_bytes(buf, cap, len, (const char *)s + i, (size_t)u);
        }
        i += u ? (size_t)u : 1;
    }
    return len;
}

const char *ctl_config_show(const char *v, char *buf, size_t cap)
{
    if (cap < 8)
        return "...";
    coll_escape(buf, cap, v, (cap - 4) / 4); /* the one way messages show input */
    return buf;
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

/* Names glibc's sigabbrev_np() does not give. */
static const struct {
    const char *name;
    int sig;
} signal_aliases[] = {{"IO", SIGIO}, {"POLL", SIGPOLL}, {"IOT", SIGABRT}, {"CLD", SIGCHLD}};

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
    for (size_t i = 0; i < sizeof signal_aliases / sizeof signal_aliases[0]; i++)
        if (strcasecmp(signal_aliases[i].name, s) == 0)
            return signal_aliases[i].sig;
    for (int sig = 1; sig < SIGRTMIN; sig++) {
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev && strcasecmp(abbrev, s) == 0)
            return sig;
    }
    return -1;
}

bool ctl_signal_allowed(int sig)
{
    return sig == SIGUSR1 || sig == SIGUSR2 || (sig >= SIGRTMIN && sig <= SIGRTMAX);
}

/* Why sig cannot be a control signal (one that is not ctl_signal_allowed). */
static const char *refusal(int sig)
{
    switch (sig) {
    case SIGKILL:
    case SIGSTOP: return "cannot be caught";
    /* default action: core.  A handler that returns from a fault re-runs
     * the faulting instruction: a crash would become a loop. */
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGABRT:
    case SIGTRAP:
    case SIGSYS:
    case SIGQUIT:
    case SIGXCPU:
    case SIGXFSZ: return "is a crash signal; taking it would change how the program crashes";
    /* sent by terminals, shells and supervisors to end a program */
    case SIGHUP:
    case SIGINT:
    case SIGTERM: return "asks the program to end; taking it would change how the program ends";
    case SIGPIPE:
    case SIGCHLD:
    case SIGALRM:
    case SIGVTALRM:
    case SIGPROF:
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
    case SIGCONT:
    case SIGWINCH:
    case SIGURG:
    case SIGIO:
#ifdef SIGPWR
    case SIGPWR:
#endif
#ifdef SIGSTKFLT
    case SIGSTKFLT:
#endif
        return "is one the system sends on its own; taking it would change how the program runs";
    }
    if (sig < SIGRTMIN && sig > SIGSYS)
        return "is reserved by the C library";
    return "is not a control signal";
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
    char shown[160];
    if (!k)
        return fail(err, "%s: unknown key '%s' (see the README's table of keys)", source,
                    ctl_config_show(name, shown, sizeof shown));
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
    char sv[160]; /* v as messages show it */
    ctl_config_show(v, sv, sizeof sv);
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
                        k->name, sv);
        return 0;
    case T_STRING:
        if (strlen(v) >= k->size)
            return fail(err, "%s: %s: value is longer than %zu bytes", source, k->name,
                        k->size - 1);
        memcpy(field, v, strlen(v) + 1);
        return 0;
    case T_BOOL:
        if (parse_bool(v, &b) < 0)
            return fail(err,
                        "%s: %s: '%s' is not a boolean; expected true/false, 1/0, yes/no or on/off",
                        source, k->name, sv);
        *(bool *)field = b;
        return 0;
    case T_LONG:
        if (parse_long(v, &n) < 0)
            return fail(err, "%s: %s: '%s' is not a whole number", source, k->name, sv);
        if (n < k->min || n > k->max) {
            if (k->min == 0 && n < 0)
                return fail(err, "%s: %s: %ld is negative; expected a count >= 0", source, k->name,
                            n);
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
            return fail(err, "%s: %s: '%s' is not a stage number (0, 1, 2, ...)", source, k->name,
                        sv);
        c->stage = n;
        return 0;
    case T_STAGES:
        if (parse_stages(v, c) < 0)
            return fail(err, "%s: %s: '%s' is not a list of stage numbers (e.g. 0,2; at most %d)",
                        source, k->name, sv, CTL_MAX_STAGES);
        return 0;
    case T_SIGNAL: {
        if (k->min == -1 && strcasecmp(v, "auto") == 0) {
            *(int *)field = -1;
            return 0;
        }
        char allowed[160], name[32];
        snprintf(allowed, sizeof allowed,
                 "allowed: SIGUSR1, SIGUSR2, SIGRTMIN..SIGRTMAX (SIGRTMIN+n or SIGRTMAX-n, n = "
                 "0..%d), %snone",
                 SIGRTMAX - SIGRTMIN, k->min == -1 ? "auto, " : "");
        i = ctl_signal_parse(v);
        if (i < 0)
            return fail(err, "%s: %s: '%s' is not a signal; %s", source, k->name, sv, allowed);
        if (i > 0 && !ctl_signal_allowed(i)) {
            ctl_signal_name(i, name, sizeof name);
            return fail(err, "%s: %s: %s %s; %s", source, k->name, name, refusal(i), allowed);
        }
        *(int *)field = i;
        return 0;
    }
    case T_LOGLEVEL:
        for (i = 0; i < 4; i++)
            if (strcasecmp(v, log_levels[i]) == 0)
                return c->log_level = i, 0;
        return fail(err, "%s: %s: '%s' is not a log level; expected error, warn, info or debug",
                    source, k->name, sv);
    }
    return fail(err, "%s: %s: unsupported key type", source, k->name);
}

/* Python identifiers joined by dots: "a.b_c.D" (ASCII; a name of other
 * letters is taken as it is written). */
static bool dotted_name(const char *s)
{
    bool start = true;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '.' && !start)
            start = true;
        else if (isalpha(ch) || ch == '_' || ch >= 0x80 || (!start && isdigit(ch)))
            start = false;
        else
            return false;
    }
    return !start;
}

bool ctl_step_on_python(const struct ctl_config *c, char *module, size_t mcap, char *qualname,
                        size_t qcap)
{
    if (strncmp(c->step_on, "py:", 3) != 0)
        return false;
    const char *m = c->step_on + 3, *colon = strchr(m, ':');
    snprintf(module, mcap, "%.*s", colon ? (int)(colon - m) : (int)strlen(m), m);
    snprintf(qualname, qcap, "%s", colon ? colon + 1 : "");
    return true;
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
    if (c->step_signal > 0 &&
        (c->step_signal == c->toggle_signal || c->step_signal == c->stop_signal))
        return fail(err, "%s: step_signal: same signal as toggle_signal or stop_signal", source);
    char shown[160], module[256], qualname[256];
    if (ctl_stage_rules_check(c, source, err) < 0)
        return -EINVAL;
    if (strncmp(c->step_on, "nvtx:", 5) == 0) {
        const char *slash = strchr(c->step_on + 5, '/');
        if (!(slash ? slash + 1 : c->step_on + 5)[0])
            return fail(err,
                        "%s: step_on: '%s' names no NVTX range (nvtx:NAME or nvtx:DOMAIN/NAME)",
                        source, ctl_config_show(c->step_on, shown, sizeof shown));
    } else if (ctl_step_on_python(c, module, sizeof module, qualname, sizeof qualname)) {
        if (!dotted_name(module) || !dotted_name(qualname))
            return fail(err,
                        "%s: step_on: '%s' is not py:MODULE:QUALNAME (e.g. "
                        "py:vllm.v1.worker.gpu_model_runner:GPUModelRunner.execute_model)",
                        source, ctl_config_show(c->step_on, shown, sizeof shown));
    } else if (c->step_on[0] && coll_api_by_name(c->step_on) <= 0) {
        return fail(err,
                    "%s: step_on: '%s' is not a call omniprof intercepts (e.g. cuGraphLaunch, "
                    "cuStreamSynchronize, cudaDeviceSynchronize, cuLaunchKernel), "
                    "nvtx:NAME (the end of each NVTX range NAME) nor py:MODULE:QUALNAME (each "
                    "call of a Python function)",
                    source, ctl_config_show(c->step_on, shown, sizeof shown));
    }
    return 0;
}

const char *ctl_config_dir(const struct ctl_config *c)
{
    return c->dir[0] ? c->dir : "omniprof_traces";
}

/* ---- k=v strings ---------------------------------------------------------- */

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
        len = put_bytes(buf, cap, len, ",", i ? 1 : 0);
        len = put_bytes(buf, cap, len, keys[i].name, strlen(keys[i].name));
        len = put_bytes(buf, cap, len, "=", 1);
        if (keys[i].type == T_STAGES) /* digits and the commas of a list */
            len = put_bytes(buf, cap, len, v, strlen(v));
        else
            len = put_text(buf, cap, len, v, true);
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

/* The end of the item that starts at p: the first comma that no backslash
 * escapes, or the NUL; *eq: its first '=' that no backslash escapes. */
static const char *item_end(const char *p, const char **eq)
{
    *eq = NULL;
    for (; *p && *p != ','; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (*p == '=' && !*eq)
            *eq = p;
    }
    return p;
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* ASCII white space, whatever the program's locale (in ISO-8859-1,
 * isspace(0xA0) holds, and 0xA0 ends the UTF-8 of many letters). */
static bool blank(unsigned char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

/* Unescapes [p, end) into out (NUL-terminated): \\ \, \= "\ " and \xHH
 * stand for one byte; a backslash before anything else is itself.  Spaces
 * at either end are dropped unless escaped.  Returns the length, or -1
 * for \x00 (a value is a C string). */
static long unescape(char *out, const char *p, const char *end)
{
    size_t len = 0, keep = 0;
    while (p < end) {
        unsigned char ch = (unsigned char)*p++;
        bool escaped = false;
        if (ch == '\\' && p < end) {
            if (*p == '\\' || *p == ',' || *p == '=' || *p == ' ') {
                ch = (unsigned char)*p++;
                escaped = true;
            } else if (*p == 'x' && end - p >= 3 && hex_digit(p[1]) >= 0 && hex_digit(p[2]) >= 0) {
                ch = (unsigned char)(hex_digit(p[1]) << 4 | hex_digit(p[2]));
                p += 3;
                escaped = true;
                if (!ch)
                    return -1;
            }
        }
        if (!escaped && blank(ch) && len == 0)
            continue;
        out[len++] = (char)ch;
        if (escaped || !blank(ch))
            keep = len;
    }
    out[keep] = '\0';
    return (long)keep;
}

/* Sets one item of a k=v string. */
static int set_item(struct ctl_config *c, const char *key, const char *value, const char *source,
                    int index, struct ctl_error *err)
{
    char where[96];
    snprintf(where, sizeof where, "%s item %d", source, index);
    return ctl_config_set(c, key, value, where, err);
}

int ctl_config_parse_string(struct ctl_config *c, const char *s, const char *source,
                            struct ctl_error *err)
{
    char *value = malloc(strlen(s) + 2); /* unescaping never lengthens */
    if (!value)
        return fail(err, "%s: out of memory", source);
    int rc = 0, index = 0;
    char key[128] = "", shown[160];
    size_t vlen = 0;
    for (const char *p = s, *end, *eq; rc == 0; p = end + 1) {
        end = item_end(p, &eq);
        if (eq) {
            /* key=value: set the previous item, then start this one */
            if (key[0] && (rc = set_item(c, key, value, source, index, err)) < 0)
                break;
            index++;
            const char *k = p, *ke = eq;
            while (k < ke && blank((unsigned char)*k))
                k++;
            while (ke > k && blank((unsigned char)ke[-1]))
                ke--;
            snprintf(key, sizeof key, "%.*s", (int)(ke - k), k);
            if (!key[0]) {
                rc = fail(err, "%s item %d: empty key", source, index);
                break;
            }
            long n = unescape(value, eq + 1, end);
            if (n < 0) {
                rc = fail(err, "%s item %d: %s: a value cannot hold a NUL byte (\\x00)", source,
                          index, ctl_config_show(key, shown, sizeof shown));
                break;
            }
            vlen = (size_t)n;
        } else {
            /* no '=': continues the previous value ("stages=0,2") */
            long n = unescape(value + vlen + 1, p, end);
            if (n < 0) {
                rc = fail(err, "%s item %d: %s: a value cannot hold a NUL byte (\\x00)", source,
                          index, ctl_config_show(key, shown, sizeof shown));
                break;
            }
            if (n > 0 && !key[0]) {
                rc = fail(err, "%s item %d: '%s' is not key=value", source, index + 1,
                          ctl_config_show(value + vlen + 1, shown, sizeof shown));
                break;
            }
            if (n > 0) {
                value[vlen] = ',';
                vlen += 1 + (size_t)n;
            }
        }
        if (!*end)
            break;
    }
    if (rc == 0 && key[0])
        rc = set_item(c, key, value, source, index, err);
    free(value);
    return rc;
}
