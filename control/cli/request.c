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
#include <sys/pidfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

/* "omniprof: TAG: MESSAGE", the message escaped (it quotes the environment). */
static void cli_print_error(const char *tag, const char *message)
{
    char shown[4 * sizeof((struct ctl_error *)0)->msg];
    coll_escape(shown, sizeof shown, message, 1000);
    fprintf(stderr, "omniprof: %s: %s\n", tag, shown);
}

int cli_registry(char *out, size_t cap)
{
    struct ctl_config c;
    struct ctl_error err;
    ctl_config_defaults(&c);
    if (ctl_config_load_env(&c, environ, &err) < 0) {
        cli_print_error("config", err.msg);
        return -EINVAL;
    }
    if (ctl_registry_dir(&c, out, cap, &err) < 0) {
        cli_print_error("registry", err.msg);
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

int cli_parse_number(const char *text, long min, long max, long *out)
{
    if (!((text[0] >= '0' && text[0] <= '9') ||
          (text[0] == '-' && text[1] >= '0' && text[1] <= '9')))
        return -EINVAL;
    char *end;
    errno = 0;
    long x = strtol(text, &end, 10);
    if (errno || *end || x < min || x > max)
        return -EINVAL;
    *out = x;
    return 0;
}

int cli_bad_value(const char *what, const char *value, const char *want)
{
    char shown[COLL_SHOWN_CAP];
    coll_escape(shown, sizeof shown, value, COLL_SHOWN_MAX);
    fprintf(stderr, "omniprof: %s '%s': %s\n", what, shown, want);
    return 2;
}

bool cli_control_signal(int sig)
{
    return sig == SIGUSR1 || sig == SIGUSR2 || (sig >= SIGRTMIN && sig <= SIGRTMAX);
}

static bool selected(const struct cli_selection *sel, int pid, long stage)
{
    bool stage_ok = sel->n_stages == 0, pid_ok = sel->n_pids == 0;
    for (int i = 0; i < sel->n_stages; i++)
        stage_ok |= stage == sel->stages[i];
    for (int i = 0; i < sel->n_pids; i++)
        pid_ok |= pid == sel->pids[i];
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

/* Sends the request to the process an entry names, through a pidfd taken
 * before the entry is checked once more: the signal reaches the process
 * that was checked, even if it exits and its pid is reused meanwhile. */
static int send_request(const struct ctl_entry *e, int what, char *why, size_t cap)
{
    int pidfd = pidfd_open(e->pid, 0);
    if (pidfd < 0 && errno != ENOSYS) {
        snprintf(why, cap, "cannot signal it: %s", strerror(errno));
        return -1;
    }
    if (cli_entry_check(e, why, cap) != CLI_TRUSTED) {
        if (pidfd >= 0)
            close(pidfd);
        return -1;
    }
    union sigval v = {.sival_int = what};
    int rc;
    if (pidfd >= 0) {
        /* what sigqueue() sends: SI_QUEUE with our pid, uid and the value */
        siginfo_t info;
        memset(&info, 0, sizeof info);
        info.si_signo = e->toggle_signal;
        info.si_code = SI_QUEUE;
        info.si_pid = getpid();
        info.si_uid = getuid();
        info.si_value = v;
        rc = pidfd_send_signal(pidfd, e->toggle_signal, &info, 0);
        close(pidfd);
    } else {
        rc = sigqueue(e->pid, e->toggle_signal, v);
    }
    if (rc < 0) {
        snprintf(why, cap, "cannot signal it: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int cli_request(const char *registry, const struct cli_selection *sel, int what, bool wait,
                int timeout_ms, struct cli_outcome **out, size_t *n_out)
{
    struct ctl_entry *all;
    struct cli_untrusted *skipped;
    size_t n, n_skipped;
    *out = NULL;
    *n_out = 0;
    int rc = cli_registry_scan_all(registry, &all, &n, NULL, &skipped, &n_skipped);
    if (rc < 0)
        return rc;
    struct cli_outcome *res = calloc(n + n_skipped ? n + n_skipped : 1, sizeof *res);
    if (!res) {
        free(all);
        free(skipped);
        return -ENOMEM;
    }
    size_t k = 0;
    int reached = 0;
    for (size_t i = 0; i < n; i++) {
        if (!selected(sel, all[i].pid, all[i].stage))
            continue;
        struct cli_outcome *o = &res[k++];
        o->entry = all[i];
        char signame[32];
        ctl_signal_name(all[i].toggle_signal, signame, sizeof signame);
        if (all[i].toggle_signal == 0) {
            snprintf(o->error, sizeof o->error,
                     "not signalled: its toggle signal is not available (the program handles it)");
        } else if (!cli_control_signal(all[i].toggle_signal)) {
            snprintf(o->error, sizeof o->error,
                     "not signalled: its toggle signal %d (%s) is not a control signal "
                     "(SIGUSR1, SIGUSR2, SIGRTMIN..SIGRTMAX)",
                     all[i].toggle_signal, signame);
        } else {
            char why[sizeof o->error - 16];
            if (send_request(&all[i], what, why, sizeof why) < 0)
                snprintf(o->error, sizeof o->error, "not signalled: %s", why);
            else
                reached++;
        }
    }
    /* Live processes whose entries are not believed: named, never signalled. */
    for (size_t i = 0; i < n_skipped; i++) {
        if (!selected(sel, skipped[i].pid, skipped[i].stage))
            continue;
        struct cli_outcome *o = &res[k++];
        o->entry.pid = skipped[i].pid;
        o->entry.stage = skipped[i].stage;
        o->entry.rank = -1;
        snprintf(o->error, sizeof o->error, "not signalled: %s", skipped[i].why);
    }
    free(skipped);
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
