/*
 * omniprof status PID: one profiled process's registry entry, in full.
 * What the entry holds came from the process: it is shown escaped.
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

/* One "label: value" line, the value escaped and whole. */
static void line(const char *label, const char *value)
{
    size_t cap = 4 * strlen(value) + 8;
    char *shown = malloc(cap);
    if (!shown)
        return;
    coll_escape(shown, cap, value, SIZE_MAX);
    printf("%-14s%s\n", label, shown);
    free(shown);
}

int cli_cmd_status(int argc, char **argv)
{
    long pid;
    if (argc != 2) {
        fprintf(stderr, "usage: omniprof status PID\n");
        return 2;
    }
    if (cli_parse_number(argv[1], 1, CLI_PID_MAX, &pid) < 0)
        return cli_bad_value("status", argv[1], "expected a process id (1..4194304)");
    char registry[PATH_MAX];
    if (cli_registry(registry, sizeof registry) < 0)
        return 2;
    struct ctl_entry *e = malloc(sizeof *e);
    if (!e)
        return 1;
    char why[192];
    if (cli_registry_read(registry, (int)pid, e) < 0 ||
        cli_entry_check(e, why, sizeof why) == CLI_GONE) {
        fprintf(stderr, "omniprof: process %ld is not profiled (or has exited)\n", pid);
        free(e);
        return 1;
    }
    if (why[0]) {
        fprintf(stderr, "omniprof: process %ld: not shown: %s\n", pid, why);
        free(e);
        return 1;
    }
    char stage[48], rank[64], toggle[32], stop[32], step[32], signals[128], requests[32];
    cli_stage_text(e->stage, stage, sizeof stage);
    if (e->stage_pending)
        snprintf(stage, sizeof stage, "? (no stage rule has matched yet)");
    cli_stage_text(e->rank, rank, sizeof rank);
    ctl_signal_name(e->toggle_signal, toggle, sizeof toggle);
    ctl_signal_name(e->stop_signal, stop, sizeof stop);
    ctl_signal_name(e->step_signal, step, sizeof step);
    snprintf(signals, sizeof signals, "toggle %s, stop %s, step %s", toggle, stop, step);
    snprintf(requests, sizeof requests, "%lu", e->requests);
    printf("%-14s%d\n", "pid:", e->pid);
    line("stage:", stage);
    /* "2 of 4, local rank 0": what the launcher said */
    size_t at = strlen(rank);
    if (e->rank >= 0 && e->world_size > 0)
        at += (size_t)snprintf(rank + at, sizeof rank - at, " of %d", e->world_size);
    if (e->rank >= 0 && e->local_rank >= 0 && at < sizeof rank)
        snprintf(rank + at, sizeof rank - at, ", local rank %d", e->local_rank);
    line("rank:", rank);
    line("host:", e->host);
    line("job:", e->job[0] ? e->job : "-");
    line("worker:", e->worker);
    line("command:", e->cmdline);
    line("state:", e->state);
    line("output:", e->dir);
    line("signals:", signals);
    line("requests:", requests);
    line("last result:", e->last_result[0] ? e->last_result : "-");
    for (int f = 0; f < e->n_files; f++)
        line("last file:", e->last_files[f]);
    line("config:", e->config);
    free(e);
    return 0;
}
