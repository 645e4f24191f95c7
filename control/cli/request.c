/*
 * Finding profiled processes in the registry and sending them requests:
 * what list, status, start, stop and serve share.
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
    if (cli_registry_scan(registry, &all, &n, NULL) < 0)
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
    int rc = cli_registry_scan(registry, &all, &n, NULL);
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
            if (cli_registry_read(registry, o->entry.pid, &now) < 0 || !cli_entry_alive(&now)) {
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

/* A stage or rank for display: "-" when there is none. */
void cli_stage_text(long stage, char *buf, size_t cap)
{
    if (stage < 0)
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%ld", stage);
}
