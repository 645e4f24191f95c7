/*
 * The omniprof command's internal header (control/cli/: linked into the
 * command only, never into libomniprof.so): reading the registry,
 * selecting and controlling processes, and one entry point per subcommand
 * (cmd_<name>.c).
 */
#ifndef OMNIPROF_CLI_H
#define OMNIPROF_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "collector.h"
#include "control.h"

/* registry_read.c: reading what processes publish (registry.c) and
 * deciding whether to believe it. */
int cli_registry_read(const char *dir, int pid, struct ctl_entry *e);
/* An entry from its text (NUL at text[len]), checked to name pid. */
int cli_registry_parse(const char *text, size_t len, int pid, struct ctl_entry *e);
/* Whether the entry's process still runs (same pid, same start time). */
bool cli_entry_alive(const struct ctl_entry *e);
enum cli_trust {
    CLI_TRUSTED,   /* a live process of the caller's user with omniprof loaded */
    CLI_GONE,      /* the process has exited (or its pid is another's now) */
    CLI_UNTRUSTED, /* a live process the entry cannot be believed about */
};
/* Whether the command may act on the entry's process; why says why not. */
enum cli_trust cli_entry_check(const struct ctl_entry *e, char *why, size_t cap);
/* A live process's entry that is not believed, and why. */
struct cli_untrusted {
    int pid;
    long stage; /* as the entry claims */
    char why[192];
};
/* Trusted entries sorted by stage then pid; entries of processes that are
 * gone are removed (cleaned counts them); with skipped, the entries of live
 * processes that are not trusted (malloc'ed). */
int cli_registry_scan_all(const char *dir, struct ctl_entry **out, size_t *count, int *cleaned,
                          struct cli_untrusted **skipped, size_t *n_skipped);
int cli_registry_scan(const char *dir, struct ctl_entry **out, size_t *count, int *cleaned);

/* request.c: selecting processes and sending them requests. */
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
/* With --stages: the selected processes whose stage is still pending are
 * asked to evaluate their stage rules again (CTL_SIGNAL_RESOLVE), and
 * waited for up to timeout_ms, so that a stage known only since start-up
 * is selected by the request that follows. */
void cli_resolve_pending(const char *registry, const struct cli_selection *sel, int timeout_ms);
/* Stages asked for that no live process has, as text ("" if none). */
void cli_missing_stages(const char *registry, const struct cli_selection *sel, char *buf,
                        size_t cap);
int cli_parse_stages(const char *text, struct cli_selection *sel);
/* The largest pid Linux gives (PID_MAX_LIMIT). */
#define CLI_PID_MAX 4194304
/* text as a whole decimal number within [min, max] (no sign but '-', no
 * spaces, no suffix): 0, or -EINVAL. */
int cli_parse_number(const char *text, long min, long max, long *out);
/* "omniprof: WHAT 'VALUE': WANT" on stderr, VALUE escaped and cut
 * (coll_escape); returns 2, the exit code of bad usage. */
int cli_bad_value(const char *what, const char *value, const char *want);
/* Signals a request may be sent with: SIGUSR1, SIGUSR2, SIGRTMIN..SIGRTMAX. */
bool cli_control_signal(int sig);

/* The registry directory from the environment's configuration; 0, or a
 * negative errno after one message. */
int cli_registry(char *out, size_t cap);
/* A stage or rank for display: "-" when there is none. */
void cli_stage_text(long stage, char *buf, size_t cap);

/* summary_python.c: summary --by python | python-stack, the row of a
 * launching call from its "Call stack" argument. */
enum cli_py_group { CLI_PY_SITE = 1, CLI_PY_STACK };
struct tr_reader;
struct tr_value;
struct wr_rows;
struct cli_py_sites;
/* frames_from: --frames-from PREFIX, or NULL (the library rule).  NULL
 * when out of memory. */
struct cli_py_sites *cli_py_sites_new(struct tr_reader *r, enum cli_py_group by,
                                      const char *frames_from);
void cli_py_sites_free(struct cli_py_sites *p);
/* The row (a name interned by the reader) of a call whose "Call stack" is
 * stack (NULL: none); NULL when out of memory. */
const char *cli_py_site(struct cli_py_sites *p, const struct tr_value *stack);
/* Whether some call had a Python frame to group by. */
bool cli_py_sites_seen(const struct cli_py_sites *p);
/* python-stack: the stacks of the first `top` rows of t (0: all), in full. */
void cli_py_sites_legend(const struct cli_py_sites *p, FILE *f, const struct wr_rows *t,
                         size_t top);
/* Whether text is a Python frame, "FILE(LINE): NAME"; *file_len: FILE's. */
bool cli_py_frame(const char *text, size_t *file_len);
/* Whether a Python file is the library's: "<frozen ...>", under
 * lib/python3* or lib64/python3*, or under site-packages or dist-packages. */
bool cli_py_library_file(const char *file, size_t len);

/* The subcommands: each takes its own argv (argv[0] is its name) and
 * returns the command's exit code (0 done, 1 not everything done, 2 bad
 * usage or input). */
void cli_usage(FILE *f);
int cli_cmd_run(int argc, char **argv);
int cli_cmd_list(int argc, char **argv);
int cli_cmd_status(int argc, char **argv);
/* start or stop: what is CTL_SIGNAL_START or CTL_SIGNAL_STOP */
int cli_cmd_control(int argc, char **argv, int what);
int cli_cmd_serve(int argc, char **argv);
int cli_cmd_summary(int argc, char **argv);
int cli_cmd_merge(int argc, char **argv);
int cli_cmd_diff(int argc, char **argv);
int cli_cmd_report(int argc, char **argv);
int cli_cmd_keys(int argc, char **argv);
int cli_cmd_version(int argc, char **argv);

#endif
