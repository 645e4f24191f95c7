/*
 * The omniprof command: one file per subcommand (cmd_*.c), as a table here.
 *
 *   omniprof run [options] -- CMD [ARGS]         cmd_run.c
 *   omniprof list                                cmd_list.c
 *   omniprof status PID                          cmd_status.c
 *   omniprof start|stop [--stages] [--pid] ...   cmd_control.c
 *   omniprof serve [--listen HOST:PORT]          cmd_serve.c
 *   omniprof summary TRACE [--top N] [--by ...]  cmd_summary.c
 *   omniprof merge INPUTS... -o FILE [--align]   cmd_merge.c
 *   omniprof diff BEFORE AFTER [--by] [--top]    cmd_diff.c
 *   omniprof report TRACE|DIR... [-o FILE]       cmd_report.c
 *   omniprof keys | version                      cmd_keys.c
 *
 * Shared parts: request.c (selecting processes, sending requests),
 * registry_read.c (reading the registry), trace_reader.c (reading traces),
 * trace_set.c / trace_out.c / trace_align.c (merge's and diff's inputs,
 * output and clocks).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

void cli_usage(FILE *f)
{
    fputs("usage: omniprof run [-o DIR] [--stage N] [--delay N] [--max N] [--autostart]\n"
          "                    [--config FILE] [--set KEY=VALUE]... [--no-stack] [--memory]\n"
          "                    [--shapes] [--profiler cuda] [--report] -- CMD [ARGS...]\n"
          "       omniprof list\n"
          "       omniprof status PID\n"
          "       omniprof start|stop [--stages 0,2] [--pid PID]... [--wait] [--timeout S]\n"
          "       omniprof stop ... --report[=FILE]   (waits; one page for the files written)\n"
          "       omniprof serve [--listen 127.0.0.1:8000] [--request-timeout S]\n"
          "       omniprof summary TRACE [--top N] [--by kernel|nvtx|python|python-stack]\n"
          "                        [--frames-from PREFIX]\n"
          "       omniprof merge TRACE|DIR... -o FILE[.gz] [--align=none|wall|collective]\n"
          "       omniprof diff BEFORE AFTER [--by kernel|stage|python|nvtx] [--top N]\n"
          "                     [--fail-above PCT] [--group-templates]\n"
          "       omniprof report TRACE|DIR... [-o report.html] [--before A --after B]\n"
          "       omniprof keys | version\n"
          "\n"
          "run: starts CMD under libomniprof.so.  Profile it with omniprof start/stop, the\n"
          "HTTP endpoints of omniprof serve, kill -USR1 PID (toggle) and kill -USR2 PID\n"
          "(stop and write), or from the start with --autostart.  Traces go to DIR\n"
          "(default ./omniprof_traces).  The exit code is CMD's.\n"
          "merge: one trace of many processes, stages, ranks and hosts (Perfetto, TensorBoard).\n"
          "diff: GPU time per kernel, stage, Python frame or NVTX range, before and after.\n",
          f);
}

static int cmd_start(int argc, char **argv)
{
    return cli_cmd_control(argc, argv, CTL_SIGNAL_START);
}

static int cmd_stop(int argc, char **argv)
{
    return cli_cmd_control(argc, argv, CTL_SIGNAL_STOP);
}

static int cmd_help(int argc, char **argv)
{
    (void)argc, (void)argv;
    cli_usage(stdout);
    return 0;
}

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"run", cli_cmd_run},           {"list", cli_cmd_list},   {"status", cli_cmd_status},
    {"start", cmd_start},           {"stop", cmd_stop},       {"serve", cli_cmd_serve},
    {"summary", cli_cmd_summary},   {"merge", cli_cmd_merge}, {"diff", cli_cmd_diff},
    {"report", cli_cmd_report},     {"keys", cli_cmd_keys},   {"version", cli_cmd_version},
    {"--version", cli_cmd_version}, {"help", cmd_help},       {"-h", cmd_help},
    {"--help", cmd_help},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_usage(stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "omniprof: unknown command '%s'\n", argv[1]);
    cli_usage(stderr);
    return 2;
}
