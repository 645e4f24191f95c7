/*
 * omniprof start | stop [--stages 0,2] [--pid PID]... [--wait] [--timeout S]
 * [--report[=FILE]]: sends the request to the selected processes
 * (request.c) and prints what each did; with --wait, the result and the
 * files a stop wrote; stop --report (which waits) then makes one report
 * page of the traces those stops wrote (cmd_report.c), by default
 * report.html beside the first.
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
#include "report_read.h"

#define MAX_TIMEOUT_S 86400
#define STR_(x) #x
#define STR(x) STR_(x)

static void print_outcome(const struct cli_outcome *o, bool wait)
{
    char stage[24];
    cli_stage_text(o->entry.stage, stage, sizeof stage);
    if (o->entry.rank >= 0)
        printf("pid %d (stage %s, rank %d): ", o->entry.pid, stage, o->entry.rank);
    else
        printf("pid %d (stage %s): ", o->entry.pid, stage);
    if (o->error[0]) {
        printf("%s\n", o->error);
        return;
    }
    if (!wait) {
        printf("signalled\n");
        return;
    }
    /* what the process wrote in its entry, shown as text */
    char shown[4 * PATH_MAX];
    coll_escape(shown, sizeof shown, o->entry.last_result[0] ? o->entry.last_result : "done",
                SIZE_MAX);
    printf("%s\n", shown);
    for (int f = 0; f < o->entry.n_files; f++) {
        coll_escape(shown, sizeof shown, o->entry.last_files[f], SIZE_MAX);
        printf("  %s%s\n", shown, access(o->entry.last_files[f], R_OK) == 0 ? "" : "  (missing!)");
    }
}

static bool is_trace(const char *path)
{
    return strstr(path, ".pt.trace.json") != NULL;
}

/* One page for the traces the stops wrote (in the order of the outcomes:
 * stage, then pid). */
static int report_stops(const struct cli_outcome *res, size_t n, const char *out)
{
    const char **files = calloc(n * CTL_MAX_FILES + 1, sizeof *files);
    size_t k = 0;
    if (!files)
        return 1;
    for (size_t i = 0; i < n; i++)
        for (int f = 0; !res[i].error[0] && f < res[i].entry.n_files; f++)
            if (is_trace(res[i].entry.last_files[f]))
                files[k++] = res[i].entry.last_files[f];
    int rc = 1;
    char page[PATH_MAX];
    if (k == 0) {
        fprintf(stderr, "omniprof: stop --report: no trace was written; no page\n");
    } else {
        if (!out) {
            const char *slash = strrchr(files[0], '/');
            int len = slash ? (int)(slash - files[0]) : 1;
            snprintf(page, sizeof page, "%.*s/report.html", len, slash ? files[0] : ".");
            out = page;
        }
        rc = cli_report_files(files, k, out);
    }
    free(files);
    return rc;
}

int cli_cmd_control(int argc, char **argv, int what)
{
    static const struct option opts[] = {
        {"stages", required_argument, NULL, 's'}, {"pid", required_argument, NULL, 'p'},
        {"wait", no_argument, NULL, 'w'},         {"timeout", required_argument, NULL, 't'},
        {"report", optional_argument, NULL, 'r'}, {NULL, 0, NULL, 0},
    };
    struct cli_selection sel = {0};
    bool wait = false, report = false;
    const char *report_out = NULL;
    int timeout_ms = 30000, opt;
    long number;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (cli_parse_stages(optarg, &sel) < 0)
                return cli_bad_value("--stages", optarg,
                                     "expected stage numbers 0.." STR(CTL_MAX_STAGE) ", e.g. 0,2");
            break;
        case 'p':
            if (cli_parse_number(optarg, 1, CLI_PID_MAX, &number) < 0)
                return cli_bad_value("--pid", optarg,
                                     "expected a process id (1.." STR(CLI_PID_MAX) ")");
            if (sel.n_pids == (int)(sizeof sel.pids / sizeof sel.pids[0]))
                return cli_bad_value("--pid", optarg, "too many --pid (at most 64)");
            sel.pids[sel.n_pids++] = (int)number;
            break;
        case 'w': wait = true; break;
        case 'r':
            if (what != CTL_SIGNAL_STOP)
                return cli_bad_value(argv[0], "--report", "only stop writes files to report on");
            if (optarg && !optarg[0])
                return cli_bad_value("--report", optarg, "expected a file name");
            report = wait = true;
            report_out = optarg;
            break;
        case 't':
            if (cli_parse_number(optarg, 0, MAX_TIMEOUT_S, &number) < 0)
                return cli_bad_value("--timeout", optarg,
                                     "expected whole seconds (0.." STR(MAX_TIMEOUT_S) ")");
            timeout_ms = (int)number * 1000;
            break;
        default: return 2;
        }
    }
    if (optind < argc)
        return cli_bad_value(argv[0], argv[optind],
                             "unexpected argument (select processes with --pid or --stages)");
    char registry[PATH_MAX];
    if (cli_registry(registry, sizeof registry) < 0)
        return 2;
    char missing[256];
    cli_resolve_pending(registry, &sel, 2000);
    cli_missing_stages(registry, &sel, missing, sizeof missing);
    if (missing[0])
        fprintf(stderr, "omniprof: no profiled process has stage %s\n", missing);
    struct cli_outcome *res;
    size_t n;
    int reached = cli_request(registry, &sel, what, wait, timeout_ms, &res, &n);
    if (reached < 0) {
        return cli_bad_value("cannot read", registry, strerror(-reached));
    }
    if (n == 0)
        fprintf(stderr, "omniprof: no profiled process matches (see omniprof list)\n");
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        print_outcome(&res[i], wait);
        failed |= res[i].error[0] != '\0';
    }
    fflush(stdout);
    if (report && n > 0)
        failed |= report_stops(res, n, report_out) != 0;
    free(res);
    return n == 0 || failed ? 1 : 0;
}
