/*
 * omniprof merge INPUTS... -o FILE [--align=none|wall|collective]: one
 * Kineto/Chrome trace of many processes (pipeline stages, ranks, hosts),
 * each input process its own group of tracks.
 *
 * Streamed: the inputs' tops are read first (trace_set.c; with
 * --align=collective every NCCL kernel's end too, trace_align.c), then each
 * input's events go through the trace reader straight into the output,
 * rewritten on the way:
 *   - pids: every pid of every input (host processes, GPU devices, Kineto's
 *     "Spans") becomes one of its own, (position+1)*1000 + the order it was
 *     first seen in, so a GPU "pid 0" of two inputs is two processes;
 *   - ts: every input's ts is relative to its baseTimeNanoseconds; out, to
 *     the smallest base (plus the clock offset of --align), in exact integer
 *     nanoseconds, written with three decimals;
 *   - flow and async ids: id * inputs + position (strings: "position:id"),
 *     so no two inputs share one; "sf"/"esf" and the stackFrames they name
 *     get "position-" in front;
 *   - process_name and process_sort_index: replaced by the command's own,
 *     written after each input's events: "stage-S · rank R · host · pid"
 *     for a process, "GPU N (stage-S, rank R, host, pid)" for its devices,
 *     sorted by stage, rank, pid (an input that is itself a merged trace
 *     keeps its names).
 * Progress goes to stderr on a terminal (progress.c).
 * Memory: one event at a time, plus the distinct names (the reader's) and a
 * few bytes per pid; stackFrames and the per-input records are spooled.
 * Here: the command, the clocks, and each input's processes; the events
 * themselves are merge_events.c's.
 * After traceEvents the output records what each input had (mergedInputs:
 * file, stage, rank, host, pid, base, the offset applied; mergedPids: what
 * each new pid was) for readers such as omniprof diff.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "merge.h"
#include "writer.h"

enum align { ALIGN_NONE, ALIGN_WALL, ALIGN_COLLECTIVE };
static const char *const align_names[] = {"none", "wall", "collective"};

/* ---- the processes of an input ---------------------------------------------------- */

enum kind { KIND_PROCESS, KIND_GPU, KIND_OTHER };
static const char *const kind_names[] = {"process", "gpu", "other"};

static enum kind kind_of(const struct pid_entry *p)
{
    if (p->gpu)
        return KIND_GPU;
    return !p->orig.is_str && p->orig.num > 0 ? KIND_PROCESS : KIND_OTHER;
}

static void id_text(const struct tr_id *id, char *buf, size_t cap)
{
    if (id->is_str)
        snprintf(buf, cap, "%s", id->str[0] ? id->str : "\"\"");
    else
        snprintf(buf, cap, "%lld", (long long)id->num);
}

/* The pid of the input's own process: as its top says, else its first
 * process's, else as its file name says (a process in a container has
 * another pid inside than the host gave the file name). */
static long main_pid(const struct merge *m)
{
    if (m->t->pid >= 0 && !m->t->pid_from_name)
        return m->t->pid;
    for (size_t i = 0; i < m->n_pids; i++)
        if (kind_of(&m->pids[i]) == KIND_PROCESS)
            return (long)m->pids[i].orig.num;
    return m->t->pid;
}

static void process_name(const struct merge *m, const struct pid_entry *p, char *buf, size_t cap)
{
    char parts[512], orig[128];
    id_text(&p->orig, orig, sizeof orig);
    switch (kind_of(p)) {
    case KIND_PROCESS: cli_trace_label(m->t, (long)p->orig.num, " \xC2\xB7 ", buf, cap); return;
    case KIND_GPU:
        cli_trace_label(m->t, main_pid(m), ", ", parts, sizeof parts);
        snprintf(buf, cap, "GPU %s (%s)", orig, parts);
        return;
    default:
        cli_trace_label(m->t, main_pid(m), ", ", parts, sizeof parts);
        if (p->own_name)
            snprintf(buf, cap, "%s (%s)", p->own_name, parts);
        else
            snprintf(buf, cap, "pid %s (%s)", orig, parts);
        return;
    }
}

/* Processes first (by pid), then GPUs (by device), then the rest as seen. */
static int by_kind(const void *a, const void *b)
{
    const struct pid_entry *x = *(const struct pid_entry *const *)a;
    const struct pid_entry *y = *(const struct pid_entry *const *)b;
    enum kind kx = kind_of(x), ky = kind_of(y);
    if (kx != ky)
        return kx < ky ? -1 : 1;
    if (kx != KIND_OTHER && !x->orig.is_str && !y->orig.is_str && x->orig.num != y->orig.num)
        return x->orig.num < y->orig.num ? -1 : 1;
    return (x->seen > y->seen) - (x->seen < y->seen);
}

static void put_metadata(struct merge *m, const char *what, long pid, const char *key,
                         const char *text, long number)
{
    cli_out_write(m->out, m->any_event ? ",\n" : "\n", m->any_event ? 2 : 1);
    m->any_event = true;
    cli_out_puts(m->out, "{\"name\":\"");
    cli_out_puts(m->out, what);
    cli_out_puts(m->out, "\",\"ph\":\"M\",\"pid\":");
    cli_out_i64(m->out, pid);
    cli_out_puts(m->out, ",\"tid\":0,\"args\":{\"");
    cli_out_puts(m->out, key);
    cli_out_puts(m->out, "\":");
    if (text)
        cli_out_string(m->out, text);
    else
        cli_out_i64(m->out, number);
    cli_out_puts(m->out, "}}");
}

static void record_number(FILE *f, const char *key, long long v)
{
    if (v >= 0)
        fprintf(f, ",\"%s\":%lld", key, v);
}

/* process_name and process_sort_index of every pid of the input, and what
 * the output keeps about it (mergedPids, mergedInputs). */
static int finish_input(struct merge *m, int64_t offset)
{
    struct pid_entry **order = malloc((m->n_pids ? m->n_pids : 1) * sizeof *order);
    if (!order)
        return -ENOMEM;
    for (size_t i = 0; i < m->n_pids; i++)
        order[i] = &m->pids[i];
    qsort(order, m->n_pids, sizeof *order, by_kind);
    char name[1024];
    for (size_t i = 0; i < m->n_pids; i++) {
        const struct pid_entry *p = order[i];
        if (!(m->t->merged && p->own_name)) {
            process_name(m, p, name, sizeof name);
            put_metadata(m, "process_name", p->out, "name", name, 0);
        }
        put_metadata(m, "process_sort_index", p->out, "sort_index", NULL,
                     (long)m->k * 100000 + (long)(i < 99999 ? i : 99999));
        fprintf(m->pid_recs, "%s\n\"%ld\":{\"input\":%zu,\"pid\":", m->n_pid_recs++ ? "," : "",
                p->out, m->k);
        if (p->orig.is_str)
            cli_merge_literal(m->pid_recs, p->orig.str, false, 0, 0);
        else
            fprintf(m->pid_recs, "%lld", (long long)p->orig.num);
        fprintf(m->pid_recs, ",\"kind\":\"%s\"", kind_names[kind_of(p)]);
        record_number(m->pid_recs, "stage", m->t->stage);
        record_number(m->pid_recs, "rank", m->t->rank);
        fputc('}', m->pid_recs);
    }
    free(order);
    const struct cli_trace *t = m->t;
    fprintf(m->records, "%s\n{\"file\":", m->k ? "," : "");
    cli_merge_literal(m->records, t->path, false, 0, 0);
    if (t->worker) {
        fputs(",\"worker\":", m->records);
        cli_merge_literal(m->records, t->worker, false, 0, 0);
    }
    record_number(m->records, "stage", t->stage);
    record_number(m->records, "rank", t->rank);
    if (t->host) {
        fputs(",\"host\":", m->records);
        cli_merge_literal(m->records, t->host, false, 0, 0);
    }
    if (t->job) {
        fputs(",\"job\":", m->records);
        cli_merge_literal(m->records, t->job, false, 0, 0);
    }
    record_number(m->records, "pid", main_pid(m));
    record_number(m->records, "world_size", t->world_size);
    record_number(m->records, "local_rank", t->local_rank);
    if (t->has_base)
        fprintf(m->records, ",\"baseTimeNanoseconds\":%lld", (long long)t->base_ns);
    fprintf(m->records, ",\"clock_offset_ns\":%lld,\"ts_shift_ns\":%lld,\"events\":%llu}",
            (long long)offset, (long long)m->shift, (unsigned long long)m->events);
    return ferror(m->records) || ferror(m->pid_recs) ? -EIO : 0;
}

/* ---- the command -------------------------------------------------------------- */

static int write_input(struct merge *m, size_t k, const struct cli_trace *t, int64_t shift,
                       int64_t offset)
{
    m->t = t;
    m->k = k;
    m->shift = shift;
    m->n_pids = m->last_pid = 0;
    if (m->pid_index)
        memset(m->pid_index, 0, m->cap_index * sizeof *m->pid_index);
    m->events = 0;
    m->frame_open = false;
    cli_progress_file(m->progress, t->path);
    int rc = tr_read(m->r, t->path,
                     &(struct tr_callbacks){.event = cli_merge_event, .field = cli_merge_field}, m);
    cli_progress_done_file(m->progress, cli_file_size(t->path));
    cli_merge_close_frame(m);
    if (rc < 0) {
        cli_progress_end(m->progress); /* the message on a line of its own */
        fprintf(stderr, "omniprof: %s\n", tr_error(m->r)[0] ? tr_error(m->r) : strerror(-rc));
        return rc;
    }
    rc = finish_input(m, offset);
    if (rc < 0)
        fprintf(stderr, "omniprof: merge: %s\n", strerror(-rc));
    return rc;
}

static void write_head(struct merge *m, int64_t base, enum align align)
{
    cli_out_puts(m->out, "{\n\"schemaVersion\":1,\n\"displayTimeUnit\":\"ms\",\n"
                         "\"baseTimeNanoseconds\":");
    cli_out_i64(m->out, base);
    cli_out_puts(m->out,
                 ",\n\"omniprof_merge\":{\"version\":\"" OMNIPROF_VERSION "\",\"align\":\"");
    cli_out_puts(m->out, align_names[align]);
    cli_out_puts(m->out, "\",\"inputs\":");
    cli_out_i64(m->out, (int64_t)m->n_inputs);
    cli_out_puts(m->out, "},\n\"traceEvents\":[");
}

static void write_tail(struct merge *m, const char *path)
{
    fflush(m->records);
    fflush(m->pid_recs);
    cli_out_puts(m->out, "\n],\n\"mergedInputs\":[");
    cli_out_write(m->out, m->records_text, m->records_len);
    cli_out_puts(m->out, "\n],\n\"mergedPids\":{");
    cli_out_write(m->out, m->pid_text, m->pid_len);
    cli_out_puts(m->out, "\n}");
    if (m->n_frames) {
        cli_out_puts(m->out, ",\n\"stackFrames\":{");
        cli_out_copy(m->out, m->frames);
        cli_out_puts(m->out, "\n}");
    }
    cli_out_puts(m->out, ",\n\"traceName\":");
    cli_out_string(m->out, path);
    cli_out_puts(m->out, "\n}\n");
}

static void merge_free(struct merge *m)
{
    tr_reader_free(m->r);
    free(m->lits);
    free(m->arena);
    free(m->pids);
    free(m->pid_index);
    if (m->frames)
        fclose(m->frames);
    if (m->records)
        fclose(m->records);
    if (m->pid_recs)
        fclose(m->pid_recs);
    free(m->records_text);
    free(m->pid_text);
}

/* Output order: stage, rank, pid, then as given. */
static int by_process(const void *a, const void *b, void *set)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    const struct cli_traces *s = set;
    int c = cli_trace_cmp(&s->v[x], &s->v[y]);
    return c ? c : (x > y) - (x < y);
}

/* Each input's shift (ns added to its ts) and the output's base. */
static int64_t plan_clocks(const struct cli_traces *set, enum align align, const int64_t *offset,
                           int64_t *shift)
{
    int64_t base = INT64_MAX;
    for (size_t i = 0; i < set->n; i++) {
        int64_t b = set->v[i].has_base ? set->v[i].base_ns : 0;
        b += align == ALIGN_NONE ? 0 : offset[i];
        base = b < base ? b : base;
    }
    for (size_t i = 0; i < set->n; i++) {
        int64_t b = set->v[i].has_base ? set->v[i].base_ns : 0;
        shift[i] = align == ALIGN_NONE ? 0 : b + offset[i] - base;
    }
    return base;
}

static int run_merge(struct cli_traces *set, const char *path, enum align align)
{
    struct merge m = {.n_inputs = set->n, .overflow_pid = ((long)set->n + 1) * 1000};
    size_t *order = calloc(set->n, sizeof *order);
    int64_t *offset = calloc(set->n, sizeof *offset), *shift = calloc(set->n, sizeof *shift);
    int rc = order && offset && shift ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < set->n; i++)
        order[i] = i;
    if (rc == 0)
        qsort_r(order, set->n, sizeof *order, by_process, set);
    if (rc == 0 && align == ALIGN_COLLECTIVE && cli_align_collectives(set, order, offset) < 0)
        rc = -EINVAL; /* said */
    int64_t base = rc == 0 ? plan_clocks(set, align, offset, shift) : 0;
    if (rc == 0) {
        m.r = tr_reader_new(&(struct tr_options){.member_fields = true, .args_text = true});
        m.frames = tmpfile();
        m.records = open_memstream(&m.records_text, &m.records_len);
        m.pid_recs = open_memstream(&m.pid_text, &m.pid_len);
        rc = m.r && m.frames && m.records && m.pid_recs ? cli_merge_names(&m) : -ENOMEM;
        if (rc < 0)
            fprintf(stderr, "omniprof: merge: %s\n", strerror(-rc));
    }
    if (rc == 0 && (rc = cli_out_open(&m.out, path)) < 0)
        fprintf(stderr, "omniprof: cannot create %s: %s\n", path, strerror(-rc));
    uint64_t events = 0, bytes = 0;
    struct cli_progress progress;
    for (size_t i = 0; i < set->n; i++)
        bytes += cli_file_size(set->v[i].path);
    cli_progress_begin(&progress, "merge", bytes);
    m.progress = &progress;
    if (rc == 0) {
        write_head(&m, base, align);
        for (size_t k = 0; rc == 0 && k < set->n; k++) {
            size_t i = order[k];
            rc = write_input(&m, k, &set->v[i], shift[i], offset[i]);
            events += m.events;
        }
        cli_progress_end(&progress);
        if (rc == 0)
            write_tail(&m, path);
        char why[512];
        int closed = cli_out_close(m.out, rc == 0, why, sizeof why);
        if (rc == 0 && closed < 0) {
            fprintf(stderr, "omniprof: %s\n", why);
            rc = closed;
        }
    }
    if (rc == 0)
        printf("omniprof: merged %zu traces (%llu events) into %s\n", set->n,
               (unsigned long long)events, path);
    merge_free(&m);
    free(order);
    free(offset);
    free(shift);
    return rc < 0 ? 2 : 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: omniprof merge TRACE|DIR... -o FILE[.gz] [--align=none|wall|collective]\n");
    return 2;
}

int cli_cmd_merge(int argc, char **argv)
{
    const char *out = NULL;
    enum align align = ALIGN_WALL;
    char **inputs = calloc((size_t)argc, sizeof *inputs);
    int n = 0;
    if (!inputs)
        return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value = NULL;
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && i + 1 < argc) {
            out = argv[++i];
        } else if (strncmp(a, "--output=", 9) == 0) {
            out = a + 9;
        } else if (strcmp(a, "--align") == 0 && i + 1 < argc) {
            value = argv[++i];
        } else if (strncmp(a, "--align=", 8) == 0) {
            value = a + 8;
        } else if (a[0] == '-' && a[1]) {
            free(inputs);
            fprintf(stderr, "omniprof: merge: unknown option '%s'\n", a);
            return usage();
        } else {
            inputs[n++] = argv[i];
        }
        if (value) {
            int k = 0;
            while (k < 3 && strcmp(value, align_names[k]) != 0)
                k++;
            if (k == 3) {
                free(inputs);
                return cli_bad_value("--align", value, "none, wall or collective");
            }
            align = (enum align)k;
        }
    }
    if (!out || !out[0] || n == 0) {
        free(inputs);
        return usage();
    }
    struct cli_traces set = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++)
        rc = cli_traces_add(&set, inputs[i], out);
    free(inputs);
    if (rc == 0)
        rc = cli_traces_peek(&set);
    int code = rc == 0 ? run_merge(&set, out, align) : 2;
    cli_traces_free(&set);
    return code;
}
