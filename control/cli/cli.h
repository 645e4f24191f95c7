/*
 * The omniprof command's own parts (linked into the command only, never
 * into libomniprof.so): reading the registry, controlling processes, the
 * HTTP server and the trace summary.
 */
#ifndef OMNIPROF_CLI_H
#define OMNIPROF_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "control.h"

/* registry_read.c */
int ctl_registry_read(const char *dir, int pid, struct ctl_entry *e);
bool ctl_entry_alive(const struct ctl_entry *e);
/* Live entries sorted by stage then pid; entries of dead processes are
 * removed (cleaned counts them). */
int ctl_registry_scan(const char *dir, struct ctl_entry **out, size_t *count, int *cleaned);

/* commands.c: selecting processes and sending them requests. */
struct cli_selection {
    int stages[CTL_MAX_STAGES];
    int n_stages; /* 0: every process */
    int pids[64];
    int n_pids; /* 0: every process */
};

/* One process's answer to a request. */
struct cli_outcome {
    struct ctl_entry entry; /* as read after the request */
    bool answered;          /* the process reported back (with wait) */
    char error[256];        /* why it could not be reached, or "" */
};

/* Sends start or stop (CTL_SIGNAL_*) to the selected processes; with
 * wait, waits (up to timeout_ms) for each to report the result.  Returns
 * the number of processes reached, or a negative errno; *out is malloc'ed. */
int cli_request(const char *registry, const struct cli_selection *sel, int what, bool wait,
                int timeout_ms, struct cli_outcome **out, size_t *n_out);
/* Stages asked for that no live process has, as text ("" if none). */
void cli_missing_stages(const char *registry, const struct cli_selection *sel, char *buf,
                        size_t cap);
int cli_parse_stages(const char *text, struct cli_selection *sel);

int cli_cmd_list(int argc, char **argv);
int cli_cmd_control(int argc, char **argv, int what);
int cli_cmd_status(int argc, char **argv);
/* serve.c */
int cli_cmd_serve(int argc, char **argv);
/* summary.c */
int cli_cmd_summary(int argc, char **argv);
/* The registry directory from the environment's configuration. */
int cli_registry(char *out, size_t cap);

#endif
