/*
 * omniprof status PID: one profiled process's registry entry, in full.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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
    if (cli_registry_read(registry, pid, &e) < 0 || !cli_entry_alive(&e)) {
        fprintf(stderr, "omniprof: process %d is not profiled (or has exited)\n", pid);
        return 1;
    }
    char stage[24], rank[24], toggle[32], stop[32], step[32];
    cli_stage_text(e.stage, stage, sizeof stage);
    cli_stage_text(e.rank, rank, sizeof rank);
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
