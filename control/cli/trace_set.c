/*
 * The inputs of merge and diff: trace files named on the command line or
 * found in directories, and what each says about the process that wrote
 * it.  Only the top of a file is read here (its fields up to the first
 * event), so looking at a 2 GB trace costs a few kilobytes; a file whose
 * clock base comes after its events is read to the end.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trace_set.h"

static void trace_init(struct cli_trace *t)
{
    memset(t, 0, sizeof *t);
    t->stage = t->rank = t->pid = t->world_size = t->local_rank = -1;
}

static int push(struct cli_traces *set, const char *path, bool from_dir)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        struct cli_trace *v = realloc(set->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        set->v = v;
        set->cap = cap;
    }
    struct cli_trace *t = &set->v[set->n];
    trace_init(t);
    t->from_dir = from_dir;
    if (!(t->path = strdup(path)))
        return -ENOMEM;
    set->n++;
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir that look like traces, sorted, less exclude. */
static int add_dir(struct cli_traces *set, const char *dir, const struct stat *exclude)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "omniprof: cannot open %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (e->d_name[0] == '.' ||
            !(ends_with(e->d_name, ".json") || ends_with(e->d_name, ".json.gz")))
            continue;
        char *path;
        struct stat st;
        if (asprintf(&path, "%s/%s", dir, e->d_name) < 0) {
            rc = -ENOMEM;
            break;
        }
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
            (exclude && st.st_dev == exclude->st_dev && st.st_ino == exclude->st_ino)) {
            free(path);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown) {
                free(path);
                rc = -ENOMEM;
                break;
            }
            names = grown;
        }
        names[n++] = path;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = push(set, names[i], true);
        free(names[i]);
    }
    free(names);
    if (rc < 0) {
        fprintf(stderr, "omniprof: %s: %s\n", dir, strerror(-rc));
        return -1;
    }
    if (n == 0) {
        fprintf(stderr, "omniprof: %s holds no trace files (*.json, *.json.gz)\n", dir);
        return -1;
    }
    return 0;
}

int cli_traces_add(struct cli_traces *set, const char *arg, const char *exclude)
{
    struct stat st, out;
    bool have_out = exclude && stat(exclude, &out) == 0;
    if (stat(arg, &st) < 0) {
        fprintf(stderr, "omniprof: cannot open %s: %s\n", arg, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode))
        return add_dir(set, arg, have_out ? &out : NULL);
    if (push(set, arg, false) < 0) {
        fprintf(stderr, "omniprof: out of memory\n");
        return -1;
    }
    return 0;
}

void cli_traces_free(struct cli_traces *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->v[i].path);
        free(set->v[i].host);
        free(set->v[i].worker);
        free(set->v[i].job);
    }
    free(set->v);
    memset(set, 0, sizeof *set);
}

/* ---- names ------------------------------------------------------------------- */

static bool digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static void set_number(long *dst, const char *s)
{
    if (*dst < 0)
        *dst = strtol(s, NULL, 10);
}

/* [prefix]stage-S_host_pid[_rankR] or host_pid[_rankR], filling what is
 * unknown; w is cut up in the process. */
static void parse_worker(struct cli_trace *t, char *w)
{
    char *u = strrchr(w, '_'), *rank = NULL;
    if (u && strncmp(u, "_rank", 5) == 0 && digits(u + 5)) {
        rank = u + 5;
        *u = '\0';
        u = strrchr(w, '_');
    }
    if (!u || !digits(u + 1))
        return; /* not a worker name: nothing in it is believed */
    char *pid = u + 1, *host = w, *stage = NULL;
    *u = '\0';
    for (char *s = strstr(w, "stage-"); s; s = strstr(s + 1, "stage-")) {
        size_t n = strspn(s + 6, "0123456789");
        if (n && s[6 + n] == '_') {
            stage = s + 6;
            s[6 + n] = '\0';
            host = s + 6 + n + 1;
            break;
        }
    }
    if (rank)
        set_number(&t->rank, rank);
    set_number(&t->pid, pid);
    if (stage)
        set_number(&t->stage, stage);
    if (!t->host && *host)
        t->host = strdup(host);
}

/* The file's base name without its trace suffixes, into buf. */
static void stem(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    snprintf(buf, cap, "%s", slash ? slash + 1 : path);
    static const char *const suffixes[] = {".gz", ".json", ".pt.trace"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t n = strlen(buf), k = strlen(suffixes[i]);
        if (n > k && strcmp(buf + n - k, suffixes[i]) == 0)
            buf[n - k] = '\0';
    }
}

static void from_names(struct cli_trace *t)
{
    if (t->worker) {
        char *w = strdup(t->worker);
        if (w)
            parse_worker(t, w);
        free(w);
    }
    t->pid_from_name = t->pid < 0;
    char name[256];
    stem(t->path, name, sizeof name);
    char *dot = strrchr(name, '.');
    if (dot && digits(dot + 1))
        *dot = '\0';
    parse_worker(t, name);
    t->pid_from_name &= t->pid >= 0;
}

/* ---- the top of a file ------------------------------------------------------ */

struct peek {
    struct cli_trace *t;
    bool omni_rank; /* rank came from "omniprof" */
    bool stopped;   /* stopped at the first event, the base known */
};

static bool is(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

static bool number(const struct tr_value *v, long *out)
{
    if (v->type != TR_INT)
        return false;
    *out = (long)v->i;
    return true;
}

static void omniprof_field(struct peek *p, const struct tr_field *f)
{
    struct cli_trace *t = p->t;
    long n;
    if (is(f->key, "stage") && number(&f->v, &n) && n >= 0) {
        t->stage = n;
    } else if (is(f->key, "rank") && number(&f->v, &n) && n >= 0) {
        t->rank = n;
        p->omni_rank = true;
    } else if (is(f->key, "pid") && number(&f->v, &n) && n >= 0) {
        t->pid = n;
    } else if ((is(f->key, "host") || is(f->key, "worker") || is(f->key, "job")) &&
               f->v.type == TR_STRING && f->v.s[0]) {
        char **dst = is(f->key, "host") ? &t->host : is(f->key, "worker") ? &t->worker : &t->job;
        free(*dst);
        *dst = strdup(f->v.s);
    }
}

static int on_field(void *ctx, const struct tr_field *f)
{
    struct peek *p = ctx;
    struct cli_trace *t = p->t;
    long n;
    if (!f->object && is(f->key, "baseTimeNanoseconds")) {
        if (f->v.type == TR_INT || f->v.type == TR_REAL) {
            t->base_ns = f->v.type == TR_INT ? f->v.i : (int64_t)f->v.d;
            t->has_base = true;
        }
    } else if (!f->object && is(f->key, "omniprof_merge")) {
        t->merged = true;
    } else if (is(f->object, "omniprof") && !f->member) {
        omniprof_field(p, f);
    } else if (is(f->object, "distributedInfo") && number(&f->v, &n) && n >= 0) {
        if (is(f->key, "rank") && !p->omni_rank)
            t->rank = n;
        else if (is(f->key, "world_size"))
            t->world_size = n;
        else if (is(f->key, "local_rank"))
            t->local_rank = n;
    }
    return 0;
}

static int on_event(void *ctx, const struct tr_event *ev)
{
    struct peek *p = ctx;
    (void)ev;
    if (!p->t->has_base)
        return 0; /* the base may come after the events: read on */
    p->stopped = true;
    return -ECANCELED;
}

static int peek(struct tr_reader *r, struct cli_trace *t)
{
    struct peek p = {.t = t};
    int rc = tr_read(r, t->path, &(struct tr_callbacks){.event = on_event, .field = on_field}, &p);
    if (rc == -ECANCELED && p.stopped)
        rc = 0;
    if (rc == 0)
        from_names(t);
    return rc;
}

int cli_traces_peek(struct cli_traces *set)
{
    struct tr_reader *r = tr_reader_new(NULL);
    if (!r) {
        fprintf(stderr, "omniprof: out of memory\n");
        return -1;
    }
    size_t kept = 0;
    int rc = 0;
    for (size_t i = 0; i < set->n; i++) {
        struct cli_trace *t = &set->v[i];
        if (rc == 0) {
            int got = peek(r, t);
            if (got == -ENOMSG && t->from_dir) {
                fprintf(stderr, "omniprof: note: left out %s\n", tr_error(r));
            } else if (got < 0) {
                fprintf(stderr, "omniprof: %s\n", tr_error(r)[0] ? tr_error(r) : strerror(-got));
                rc = -1;
            } else {
                set->v[kept++] = *t;
                continue;
            }
        }
        free(t->path);
        free(t->host);
        free(t->worker);
        free(t->job);
    }
    set->n = kept;
    tr_reader_free(r);
    if (rc == 0 && kept == 0) {
        fprintf(stderr, "omniprof: no trace among the inputs\n");
        rc = -1;
    }
    return rc;
}

/* ---- labels and order --------------------------------------------------------- */

void cli_trace_label(const struct cli_trace *t, long pid, const char *sep, char *buf, size_t cap)
{
    size_t len = 0;
    char name[256];
    buf[0] = '\0';
#define PART(...)                                                                                  \
    do {                                                                                           \
        if (len < cap)                                                                             \
            len += (size_t)snprintf(buf + len, cap - len, "%s", len ? sep : "");                   \
        if (len < cap)                                                                             \
            len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__);                            \
    } while (0)
    if (pid < 0)
        pid = t->pid;
    if (t->stage < 0 && t->rank < 0 && !t->host) {
        stem(t->path, name, sizeof name); /* nothing else tells the processes apart */
        PART("%s", name);
    }
    if (t->stage >= 0)
        PART("stage-%ld", t->stage);
    if (t->rank >= 0)
        PART("rank %ld", t->rank);
    if (t->host)
        PART("%s", t->host);
    if (pid >= 0)
        PART("%ld", pid);
#undef PART
}

static int cmp_long(long a, long b)
{
    /* unknown (-1) after every known value */
    unsigned long x = (unsigned long)a, y = (unsigned long)b;
    return (x > y) - (x < y);
}

int cli_trace_cmp(const struct cli_trace *a, const struct cli_trace *b)
{
    int c = cmp_long(a->stage, b->stage);
    if (!c)
        c = cmp_long(a->rank, b->rank);
    if (!c)
        c = cmp_long(a->pid, b->pid);
    return c;
}
