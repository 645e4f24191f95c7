/*
 * omniprof start | stop [--stages 0,2] [--pid PID]... [--wait] [--timeout S]:
 * sends the request to the selected processes (request.c) and prints what
 * each did; with --wait, the result and the files a stop wrote.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void print_outcome(const struct cli_outcome *o, bool wait)
{
    char stage[24];
    cli_stage_text(o->entry.stage, stage, sizeof stage);
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
