/*
 * omniprof list: the live profiled processes, one line each, sorted by
 * stage then pid; entries of exited processes are removed on the way.  A
 * process whose stage rules have not matched yet shows stage "?".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_cmd_list(int argc, char **argv)
{
    if (argc > 1)
        return cli_bad_value("list", argv[1], "unexpected argument");
    char registry[PATH_MAX];
    if (cli_registry(registry, sizeof registry) < 0)
        return 2;
    struct ctl_entry *all;
    size_t n;
    int cleaned = 0;
    struct cli_untrusted *skipped;
    size_t n_skipped;
    int rc = cli_registry_scan_all(registry, &all, &n, &cleaned, &skipped, &n_skipped);
    if (rc < 0) {
        char shown[COLL_SHOWN_CAP];
        coll_escape(shown, sizeof shown, registry, COLL_SHOWN_MAX);
        fprintf(stderr, "omniprof: cannot read %s: %s\n", shown, strerror(-rc));
        return 2;
    }
    printf("%-8s %-5s %-4s %-10s %-11s %-10s %-12s %s\n", "PID", "STAGE", "RANK", "JOB", "STATE",
           "HOST", "STEP SIGNAL", "COMMAND");
    for (size_t i = 0; i < n; i++) {
        char stage[24], rank[24], step[32];
        cli_stage_text(all[i].stage, stage, sizeof stage);
        if (all[i].stage_pending)
            snprintf(stage, sizeof stage, "?"); /* a stage rule has not matched yet */
        cli_stage_text(all[i].rank, rank, sizeof rank);
        ctl_signal_name(all[i].step_signal, step, sizeof step);
        /* the process wrote these: shown escaped, the command cut */
        char state[4 * sizeof all[i].state], host[4 * sizeof all[i].host], command[4 * 120 + 4];
        char job[4 * sizeof all[i].job];
        coll_escape(state, sizeof state, all[i].state, SIZE_MAX);
        coll_escape(host, sizeof host, all[i].host, SIZE_MAX);
        coll_escape(job, sizeof job, all[i].job[0] ? all[i].job : "-", SIZE_MAX);
        coll_escape(command, sizeof command, all[i].cmdline, 120);
        printf("%-8d %-5s %-4s %-10s %-11s %-10s %-12s %s\n", all[i].pid, stage, rank, job, state,
               host, step, command);
    }
    if (cleaned)
        printf("(%d stale entr%s of exited processes removed)\n", cleaned,
               cleaned == 1 ? "y" : "ies");
    for (size_t i = 0; i < n_skipped; i++)
        printf("(pid %d not listed: %s)\n", skipped[i].pid, skipped[i].why);
    free(all);
    free(skipped);
    return 0;
}
