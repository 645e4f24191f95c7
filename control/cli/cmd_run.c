/*
 * omniprof run [options] -- CMD [ARGS]: runs CMD with libomniprof.so
 * prepended to LD_PRELOAD, named as the NVTX tool (NVTX_INJECTION64_PATH,
 * unless CMD's environment names one) and the whole configuration handed
 * over as OMNIPROF="k=v,...".  Its exit code is CMD's (exec).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

/* libomniprof.so beside the command: build/bin -> build/lib, or prefix/bin -> prefix/lib. */
static int find_library(char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0)
        return -errno;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    static const char *const rel[] = {"../lib/libomniprof.so", "libomniprof.so",
                                      "../lib64/libomniprof.so"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char cand[PATH_MAX + 32];
        snprintf(cand, sizeof cand, "%s/%s", exe, rel[i]);
        if (access(cand, R_OK) == 0 && realpath(cand, out) && strlen(out) < cap)
            return 0;
    }
    return -ENOENT;
}

static int set(struct ctl_config *c, const char *key, const char *value, const char *source)
{
    struct ctl_error err;
    if (ctl_config_set(c, key, value, source, &err) < 0) {
        fprintf(stderr, "omniprof: config: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int cli_cmd_run(int argc, char **argv)
{
    struct ctl_config c;
    struct ctl_error err;
    ctl_config_defaults(&c);
    if (ctl_config_load_env(&c, environ, &err) < 0) {
        fprintf(stderr, "omniprof: config: %s\n", err.msg);
        return 2;
    }
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'o'},    {"set", required_argument, NULL, 's'},
        {"config", required_argument, NULL, 'c'}, {"autostart", no_argument, NULL, 'a'},
        {"stage", required_argument, NULL, 'S'},  {"delay", required_argument, NULL, 'd'},
        {"max", required_argument, NULL, 'm'},    {"help", no_argument, NULL, 'h'},
        {"no-stack", no_argument, NULL, 'N'},     {"memory", no_argument, NULL, 'M'},
        {"shapes", no_argument, NULL, 'H'},       {"profiler", required_argument, NULL, 'P'},
        {"report", no_argument, NULL, 'R'},       {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "+o:s:c:h", opts, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
        case 'o': rc = set(&c, "torch_profiler_dir", optarg, "-o"); break;
        case 'a': rc = set(&c, "autostart", "true", "--autostart"); break;
        case 'S': rc = set(&c, "stage", optarg, "--stage"); break;
        case 'd': rc = set(&c, "delay_iterations", optarg, "--delay"); break;
        case 'm': rc = set(&c, "max_iterations", optarg, "--max"); break;
        case 'N': rc = set(&c, "with_stack", "false", "--no-stack"); break;
        case 'M': rc = set(&c, "with_memory", "true", "--memory"); break;
        case 'H': rc = set(&c, "record_shapes", "true", "--shapes"); break;
        case 'R': rc = set(&c, "report", "true", "--report"); break;
        case 'P':
            rc = set(&c, "profiler", optarg, "--profiler");
            /* --profiler cuda writes no trace: -o does not apply, so drop the
             * directory a default or the environment may have given */
            if (rc == 0 && c.profiler == CTL_PROFILER_CUDA)
                c.dir[0] = '\0';
            break;
        case 'c':
            if (ctl_config_load_ini(&c, optarg, &err) < 0) {
                fprintf(stderr, "omniprof: config: %s\n", err.msg);
                return 2;
            }
            break;
        case 's': {
            char *eq = strchr(optarg, '=');
            if (!eq) {
                fprintf(stderr, "omniprof: config: --set %s: expected KEY=VALUE\n", optarg);
                return 2;
            }
            *eq = '\0';
            rc = set(&c, optarg, eq + 1, "--set");
            break;
        }
        case 'h': cli_usage(stdout); return 0;
        default: cli_usage(stderr); return 2;
        }
        if (rc < 0)
            return 2;
    }
    if (optind >= argc) {
        cli_usage(stderr);
        return 2;
    }
    if (ctl_config_validate(&c, "omniprof run", &err) < 0) {
        fprintf(stderr, "omniprof: config: %s\n", err.msg);
        return 2;
    }
    char lib[PATH_MAX];
    if (find_library(lib, sizeof lib) < 0) {
        fprintf(stderr, "omniprof: cannot find libomniprof.so beside this command\n");
        return 2;
    }
    /* The whole configuration travels as OMNIPROF; the variables it was
     * built from are removed so they cannot override the command line. */
    static char text[CTL_CONFIG_TEXT_MAX];
    if (ctl_config_serialize(&c, text, sizeof text) < 0) {
        fprintf(stderr, "omniprof: configuration too long\n");
        return 2;
    }
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "OMNIPROF", 8) == 0 && ((*e)[8] == '_' || (*e)[8] == '=')) {
                char name[256];
                size_t n = strcspn(*e, "=");
                snprintf(name, sizeof name, "%.*s", (int)n, *e);
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
    setenv("OMNIPROF", text, 1);
    /* NVTX reads its tool's path at the program's first NVTX call, which
     * may come before omniprof's constructor runs (in another library's
     * constructor); a tool the user names is kept (the library says so). */
    const char *nvtx = getenv("NVTX_INJECTION64_PATH");
    if (!nvtx || !*nvtx)
        setenv("NVTX_INJECTION64_PATH", lib, 1);
    const char *old = getenv("LD_PRELOAD");
    char *preload;
    if (asprintf(&preload, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "") < 0)
        return 2;
    setenv("LD_PRELOAD", preload, 1);
    execvp(argv[optind], argv + optind);
    fprintf(stderr, "omniprof: cannot run %s: %s\n", argv[optind], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
