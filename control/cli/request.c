/*
 * omniprof list | start | stop | status: finding profiled processes in the
 * registry and sending them requests.
 *
 * start and stop are sent as sigqueue() on the process's toggle signal with
 * a value saying which (a plain `kill -USR1` toggles).  --wait then watches
 * the process's registry entry until its request count moves and reports
 * what the request did and the files it wrote.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

int cli_registry(char *out, size_t cap)
{
    struct ctl_config c;
    struct ctl_error err;
    ctl_config_defaults(&c);
    if (ctl_config_load_env(&c, environ, &err) < 0) {
        fprintf(stderr, "omniprof: config: %s\n", err.msg);
        return -EINVAL;
    }
    if (ctl_registry_dir(&c, out, cap, &err) < 0) {
        fprintf(stderr, "omniprof: registry: %s\n", err.msg);
        return -EPERM;
    }
    return 0;
}

int cli_parse_stages(const char *text, struct cli_selection *sel)
{
    struct ctl_config c;
    struct ctl_error err;
    ctl_config_defaults(&c);
    if (ctl_config_set(&c, "stages", text, "--stages", &err) < 0)
        return -EINVAL;
    memcpy(sel->stages, c.stages, sizeof sel->stages);
    sel->n_stages = c.n_stages;
    return 0;
}

static bool selected(const struct cli_selection *sel, const struct ctl_entry *e)
{
    bool stage_ok = sel->n_stages == 0, pid_ok = sel->n_pids == 0;
    for (int i = 0; i < sel->n_stages; i++)
        stage_ok |= e->stage == sel->stages[i];
    for (int i = 0; i < sel->n_pids; i++)
        pid_ok |= e->pid == sel->pids[i];
    return stage_ok && pid_ok;
}

void cli_missing_stages(const char *registry, const struct cli_selection *sel, char *buf,
                        size_t cap)
{
    struct ctl_entry *all;
    size_t n, len = 0;
    buf[0] = '\0';
    if (ctl_registry_scan(registry, &all, &n, NULL) < 0)
        return;
    for (int i = 0; i < sel->n_stages; i++) {
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = all[k].stage == sel->stages[i];
        if (!found && len < cap)
            len += (size_t)snprintf(buf + len, cap - len, "%s%d", len ? "," : "", sel->stages[i]);
    }
    free(all);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int cli_request(const char *registry, const struct cli_selection *sel, int what, bool wait,
                int timeout_ms, struct cli_outcome **out, size_t *n_out)
{
    struct ctl_entry *all;
    size_t n;
    *out = NULL;
    *n_out = 0;
    int rc = ctl_registry_scan(registry, &all, &n, NULL);
    if (rc < 0)
        return rc;
    struct cli_outcome *res = calloc(n ? n : 1, sizeof *res);
    if (!res) {
        free(all);
        return -ENOMEM;
    }
    size_t k = 0;
    int reached = 0;
    for (size_t i = 0; i < n; i++) {
        if (!selected(sel, &all[i]))
            continue;
        struct cli_outcome *o = &res[k++];
        o->entry = all[i];
        if (all[i].toggle_signal <= 0) {
            snprintf(o->error, sizeof o->error,
                     "its toggle signal is not available (the program handles it)");
            continue;
        }
        union sigval v = {.sival_int = what};
        if (sigqueue(all[i].pid, all[i].toggle_signal, v) < 0) {
            snprintf(o->error, sizeof o->error, "cannot signal it: %s", strerror(errno));
            continue;
        }
        reached++;
    }
    /* Wait for every reached process to report the request back. */
    for (int waited = 0; wait && waited <= timeout_ms; waited += 20) {
        bool pending = false;
        for (size_t i = 0; i < k; i++) {
            struct cli_outcome *o = &res[i];
            if (o->error[0] || o->answered)
                continue;
            struct ctl_entry now;
            if (ctl_registry_read(registry, o->entry.pid, &now) < 0 || !ctl_entry_alive(&now)) {
                snprintf(o->error, sizeof o->error, "the process exited before answering");
                continue;
            }
            if (now.requests > o->entry.requests) {
                o->entry = now;
                o->answered = true;
            } else {
                pending = true;
            }
        }
        if (!pending)
            break;
        sleep_ms(20);
    }
    for (size_t i = 0; wait && i < k; i++)
        if (!res[i].error[0] && !res[i].answered)
            snprintf(res[i].error, sizeof res[i].error, "no answer within %d ms", timeout_ms);
    free(all);
    *out = res;
    *n_out = k;
    return reached;
}

static void stage_text(long stage, char *buf, size_t cap)
{
    if (stage < 0)
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%ld", stage);
}

int cli_cmd_list(int argc, char **argv)
{
    (void)argc, (void)argv;
    char registry[PATH_MAX];
    if (cli_registry(registry, sizeof registry) < 0)
        return 2;
    struct ctl_entry *all;
    size_t n;
    int cleaned = 0;
    if (ctl_registry_scan(registry, &all, &n, &cleaned) < 0) {
        fprintf(stderr, "omniprof: cannot read %s: %s\n", registry, strerror(errno));
        return 2;
    }
    printf("%-8s %-5s %-4s %-11s %-10s %-12s %s\n", "PID", "STAGE", "RANK", "STATE", "HOST",
           "STEP SIGNAL", "COMMAND");
    for (size_t i = 0; i < n; i++) {
        char stage[24], rank[24], step[32];
        stage_text(all[i].stage, stage, sizeof stage);
        stage_text(all[i].rank, rank, sizeof rank);
        ctl_signal_name(all[i].step_signal, step, sizeof step);
        printf("%-8d %-5s %-4s %-11s %-10s %-12s %.120s\n", all[i].pid, stage, rank, all[i].state,
               all[i].host, step, all[i].cmdline);
    }
    if (cleaned)
        printf("(%d stale entr%s of exited processes removed)\n", cleaned, cleaned == 1 ? "y" : "ies");
    free(all);
    return 0;
}

static void print_outcome(const struct cli_outcome *o, bool wait)
{
    char stage[24];
    stage_text(o->entry.stage, stage, sizeof stage);
    printf("pid %d (stage %s): ", o->entry.pid, stage);
    if (o->error[0]) {
        printf("%s\n", o->error);
        return;
    }
    if (!wait) {
        printf("signalled\n");
        return;
    }
    printf("%s\n", o->entry.last_result[0] ? o->entry.last_result : "done");
    for (int f = 0; f < o->entry.n_files; f++)
        printf("  %s%s\n", o->entry.last_files[f],
               access(o->entry.last_files[f], R_OK) == 0 ? "" : "  (missing!)");
}

int cli_cmd_control(int argc, char **argv, int what)
{
    static const struct option opts[] = {
        {"stages", required_argument, NULL, 's'}, {"pid", required_argument, NULL, 'p'},
        {"wait", no_argument, NULL, 'w'},         {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    struct cli_selection sel = {0};
    bool wait = false;
    int timeout_ms = 30000, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (cli_parse_stages(optarg, &sel) < 0) {
                fprintf(stderr, "omniprof: --stages %s: expected stage numbers, e.g. 0,2\n", optarg);
                return 2;
            }
            break;
        case 'p':
            if (sel.n_pids < 64 && atoi(optarg) > 0)
                sel.pids[sel.n_pids++] = atoi(optarg);
            break;
        case 'w': wait = true; break;
        case 't': timeout_ms = atoi(optarg) * 1000; break;
        default: return 2;
        }
    }
    char registry[PATH_MAX];
    if (cli_registry(registry, sizeof registry) < 0)
        return 2;
    char missing[256];
    cli_missing_stages(registry, &sel, missing, sizeof missing);
    if (missing[0])
        fprintf(stderr, "omniprof: no profiled process has stage %s\n", missing);
    struct cli_outcome *res;
    size_t n;
    int reached = cli_request(registry, &sel, what, wait, timeout_ms, &res, &n);
    if (reached < 0) {
        fprintf(stderr, "omniprof: cannot read %s: %s\n", registry, strerror(-reached));
        return 2;
    }
    if (n == 0)
        fprintf(stderr, "omniprof: no profiled process matches (see omniprof list)\n");
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        print_outcome(&res[i], wait);
        failed |= res[i].error[0] != '\0';
    }
    free(res);
    return n == 0 || failed ? 1 : 0;
}

int cli_cmd_status(int argc, char **argv)
{
    if (argc < 2 || atoi(argv[1]) <= 0) {
        fprintf(stderr, "usage: omniprof status PID\n");
        return 2;
    }
    char registry[PATH_MAX];
    if (cli_registry(registry, sizeof registry) < 0)
        return 2;
    struct ctl_entry e;
    int pid = atoi(argv[1]);
    if (ctl_registry_read(registry, pid, &e) < 0 || !ctl_entry_alive(&e)) {
        fprintf(stderr, "omniprof: process %d is not profiled (or has exited)\n", pid);
        return 1;
    }
    char stage[24], rank[24], toggle[32], stop[32], step[32];
    stage_text(e.stage, stage, sizeof stage);
    stage_text(e.rank, rank, sizeof rank);
    ctl_signal_name(e.toggle_signal, toggle, sizeof toggle);
    ctl_signal_name(e.stop_signal, stop, sizeof stop);
    ctl_signal_name(e.step_signal, step, sizeof step);
    printf("pid:          %d\nstage:        %s\nrank:         %s\nhost:         %s\n"
           "worker:       %s\ncommand:      %s\nstate:        %s\noutput:       %s\n"
           "signals:      toggle %s, stop %s, step %s\nrequests:     %lu\nlast result:  %s\n",
           e.pid, stage, rank, e.host, e.worker, e.cmdline, e.state, e.dir, toggle, stop, step,
           e.requests, e.last_result[0] ? e.last_result : "-");
    for (int f = 0; f < e.n_files; f++)
        printf("last file:    %s\n", e.last_files[f]);
    printf("config:       %s\n", e.config);
    return 0;
}
