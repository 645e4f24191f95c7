/*
 * omniprof list: the live profiled processes, one line each, sorted by
 * stage then pid; entries of exited processes are removed on the way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_cmd_list(int argc, char **argv)
{
    (void)argc, (void)argv;
    char registry[PATH_MAX];
    if (cli_registry(registry, sizeof registry) < 0)
        return 2;
    struct ctl_entry *all;
    size_t n;
    int cleaned = 0;
    if (cli_registry_scan(registry, &all, &n, &cleaned) < 0) {
        fprintf(stderr, "omniprof: cannot read %s: %s\n", registry, strerror(errno));
        return 2;
    }
    printf("%-8s %-5s %-4s %-11s %-10s %-12s %s\n", "PID", "STAGE", "RANK", "STATE", "HOST",
           "STEP SIGNAL", "COMMAND");
    for (size_t i = 0; i < n; i++) {
        char stage[24], rank[24], step[32];
        cli_stage_text(all[i].stage, stage, sizeof stage);
        cli_stage_text(all[i].rank, rank, sizeof rank);
        ctl_signal_name(all[i].step_signal, step, sizeof step);
        printf("%-8d %-5s %-4s %-11s %-10s %-12s %.120s\n", all[i].pid, stage, rank, all[i].state,
               all[i].host, step, all[i].cmdline);
    }
    if (cleaned)
        printf("(%d stale entr%s of exited processes removed)\n", cleaned, cleaned == 1 ? "y" : "ies");
    free(all);
    return 0;
}
