/* Configuration: defaults, aliases, sources and precedence, validation
 * messages, and the k=v round trip. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "collector.h"
#include "control.h"

static struct ctl_config c;
static struct ctl_error err;

static void setup(void)
{
    ctl_config_defaults(&c);
    memset(&err, 0, sizeof err);
}

TestSuite(config, .init = setup);

Test(config, defaults_are_the_seed_defaults)
{
    cr_expect_eq(c.profiler, CTL_PROFILER_NONE);
    cr_expect_str_empty(c.dir);
    cr_expect(c.with_stack);
    cr_expect(!c.with_flops);
    cr_expect(c.use_gzip);
    cr_expect(c.dump_cuda_time_total);
    cr_expect(!c.record_shapes);
    cr_expect(!c.with_memory);
    cr_expect_eq(c.delay_iterations, 0);
    cr_expect_eq(c.max_iterations, 0);
    cr_expect_eq(c.stage, -1);
    cr_expect_eq(c.n_stages, 0);
    cr_expect(!c.autostart);
    cr_expect_eq(c.toggle_signal, SIGUSR1);
    cr_expect_eq(c.stop_signal, SIGUSR2);
    cr_expect_eq(c.buffer_size, 64);
    cr_expect_eq(c.stack_depth, 32);
    cr_expect_eq(c.gzip_level, 1);
    cr_expect_eq(c.table_rows, 100);
    cr_expect_eq(c.log_level, COLL_LOG_INFO);
    cr_expect_str_eq(ctl_config_dir(&c), "omniprof_traces");
}

Test(config, long_and_short_names_set_the_same_field)
{
    cr_assert_eq(ctl_config_set(&c, "torch_profiler_with_stack", "false", "t", &err), 0);
    cr_expect(!c.with_stack);
    cr_assert_eq(ctl_config_set(&c, "with_stack", "on", "t", &err), 0);
    cr_expect(c.with_stack);
    cr_assert_eq(ctl_config_set(&c, "dir", "/tmp/x", "t", &err), 0);
    cr_expect_str_eq(c.dir, "/tmp/x");
    cr_assert_eq(ctl_config_set(&c, "torch_profiler_use_gzip", "no", "t", &err), 0);
    cr_expect(!c.use_gzip);
}

Test(config, values_of_every_type)
{
    cr_assert_eq(ctl_config_set(&c, "profiler", "cuda", "t", &err), 0);
    cr_expect_eq(c.profiler, CTL_PROFILER_CUDA);
    cr_assert_eq(ctl_config_set(&c, "stages", "0, 2,5", "t", &err), 0);
    cr_expect_eq(c.n_stages, 3);
    cr_expect_eq(c.stages[1], 2);
    cr_expect_eq(c.stages[2], 5);
    cr_assert_eq(ctl_config_set(&c, "toggle_signal", "SIGRTMIN+3", "t", &err), 0);
    cr_expect_eq(c.toggle_signal, SIGRTMIN + 3);
    cr_assert_eq(ctl_config_set(&c, "stop_signal", "rtmax", "t", &err), 0);
    cr_expect_eq(c.stop_signal, SIGRTMAX);
    cr_assert_eq(ctl_config_set(&c, "stop_signal", "none", "t", &err), 0);
    cr_expect_eq(c.stop_signal, 0);
    cr_assert_eq(ctl_config_set(&c, "log_level", "debug", "t", &err), 0);
    cr_expect_eq(c.log_level, COLL_LOG_DEBUG);
    cr_assert_eq(ctl_config_set(&c, "stage", "2", "t", &err), 0);
    cr_expect_eq(c.stage, 2);
}

struct bad {
    const char *key, *value, *expect;
};

Test(config, bad_values_name_key_source_and_value)
{
    static const struct bad cases[] = {
        {"delay_iterations", "-1", "src:7: delay_iterations: -1 is negative"},
        {"max_iterations", "ten", "src:7: max_iterations: 'ten' is not a whole number"},
        {"max_iterations", "", "src:7: max_iterations: '' is not a whole number"},
        {"torch_profiler_with_stack", "maybe",
         "src:7: torch_profiler_with_stack: 'maybe' is not a boolean"},
        {"no_such_key", "1", "src:7: unknown key 'no_such_key'"},
        {"profiler", "nsys", "src:7: profiler: 'nsys' is not a profiler"},
        {"gzip_level", "10", "src:7: gzip_level: 10 is out of range [0, 9]"},
        {"stages", "0,x", "src:7: stages: '0,x' is not a list"},
        {"toggle_signal", "SIGKILL", "src:7: toggle_signal: SIGKILL cannot be caught"},
        {"toggle_signal", "SIGNOPE", "src:7: toggle_signal: 'SIGNOPE' is not a signal"},
        {"log_level", "loud", "src:7: log_level: 'loud' is not a log level"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ctl_config before = c;
        cr_expect_neq(ctl_config_set(&c, cases[i].key, cases[i].value, "src:7", &err), 0, "%s=%s",
                      cases[i].key, cases[i].value);
        cr_expect(strstr(err.msg, cases[i].expect) != NULL, "message '%s' lacks '%s'", err.msg,
                  cases[i].expect);
        cr_expect(ctl_config_equal(&before, &c), "a rejected value changed the config");
    }
}

Test(config, validation_follows_vllm)
{
    c.profiler = CTL_PROFILER_TORCH;
    cr_expect_neq(ctl_config_validate(&c, "here", &err), 0);
    cr_expect(strstr(err.msg, "profiler=torch needs torch_profiler_dir") != NULL, "%s", err.msg);
    strcpy(c.dir, "/tmp/p");
    cr_expect_eq(ctl_config_validate(&c, "here", &err), 0);
    c.profiler = CTL_PROFILER_CUDA;
    cr_expect_neq(ctl_config_validate(&c, "here", &err), 0);
    cr_expect(strstr(err.msg, "torch_profiler_dir: only applies to profiler=torch") != NULL, "%s",
              err.msg);
    c.dir[0] = '\0';
    cr_expect_eq(ctl_config_validate(&c, "here", &err), 0);
    c.stop_signal = c.toggle_signal;
    cr_expect_neq(ctl_config_validate(&c, "here", &err), 0);
}

Test(config, rules_between_keys_name_where_the_keys_were_set)
{
    cr_assert_eq(ctl_config_parse_string(&c, "autostart=1,profiler=torch", "OMNIPROF", &err), 0);
    cr_expect_neq(ctl_config_validate(&c, "here", &err), 0);
    cr_expect(strstr(err.msg, "OMNIPROF item 2: profiler: profiler=torch needs") != NULL, "%s",
              err.msg);
    cr_assert_eq(ctl_config_set(&c, "profiler", "cuda", "a.ini:4", &err), 0);
    cr_assert_eq(ctl_config_set(&c, "dir", "/tmp", "OMNIPROF_DIR", &err), 0);
    cr_expect_neq(ctl_config_validate(&c, "here", &err), 0);
    cr_expect(strstr(err.msg, "OMNIPROF_DIR: torch_profiler_dir: only applies to profiler=torch; "
                              "profiler=cuda (set at a.ini:4)") != NULL,
              "%s", err.msg);
}

Test(config, kv_string_with_lists_and_escapes)
{
    cr_assert_eq(ctl_config_parse_string(
                     &c, "delay_iterations=2, stages=0,2 ,dir=/tmp/a\\,b,max_iterations=3",
                     "OMNIPROF", &err),
                 0, "%s", err.msg);
    cr_expect_eq(c.delay_iterations, 2);
    cr_expect_eq(c.max_iterations, 3);
    cr_expect_eq(c.n_stages, 2);
    cr_expect_eq(c.stages[0], 0);
    cr_expect_eq(c.stages[1], 2);
    cr_expect_str_eq(c.dir, "/tmp/a,b");
}

Test(config, kv_string_errors_name_the_item)
{
    cr_expect_neq(ctl_config_parse_string(&c, "autostart=1,max_iterations=-4", "OMNIPROF", &err),
                  0);
    cr_expect(strstr(err.msg, "OMNIPROF item 2: max_iterations: -4 is negative") != NULL, "%s",
              err.msg);
    cr_expect_neq(ctl_config_parse_string(&c, "oops", "OMNIPROF", &err), 0);
    cr_expect(strstr(err.msg, "OMNIPROF item 1: 'oops' is not key=value") != NULL, "%s", err.msg);
}

static char *write_bytes(const char *text, size_t len)
{
    static char path[] = "/tmp/omniprof-test-XXXXXX";
    strcpy(path, "/tmp/omniprof-test-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static char *write_ini(const char *text)
{
    return write_bytes(text, strlen(text));
}

Test(config, ini_file_with_sections_and_comments)
{
    char *path = write_ini("; omniprof settings\n"
                           "[omniprof]\n"
                           "profiler = torch\n"
                           "torch_profiler_dir = /tmp/traces\n"
                           "delay_iterations = 2\n"
                           "# a comment\n"
                           "max_iterations = 3\n");
    cr_assert_eq(ctl_config_load_ini(&c, path, &err), 0, "%s", err.msg);
    unlink(path);
    cr_expect_eq(c.profiler, CTL_PROFILER_TORCH);
    cr_expect_str_eq(c.dir, "/tmp/traces");
    cr_expect_eq(c.delay_iterations, 2);
    cr_expect_eq(c.max_iterations, 3);
}

Test(config, ini_errors_name_file_and_line)
{
    char *path = write_ini("[omniprof]\ndelay_iterations = 1\n\nmax_iterations = -2\n");
    cr_expect_neq(ctl_config_load_ini(&c, path, &err), 0);
    char want[256];
    snprintf(want, sizeof want, "%s:4: max_iterations: -2 is negative", path);
    cr_expect(strstr(err.msg, want) != NULL, "%s", err.msg);
    unlink(path);

    path = write_ini("delay_iterations = 1\nthis line is not ini\n");
    cr_expect_neq(ctl_config_load_ini(&c, path, &err), 0);
    snprintf(want, sizeof want, "%s:2:", path);
    cr_expect(strstr(err.msg, want) != NULL, "%s", err.msg);
    unlink(path);

    path = write_ini("[gpu]\nstage = 1\n");
    cr_expect_neq(ctl_config_load_ini(&c, path, &err), 0);
    cr_expect(strstr(err.msg, "unknown section [gpu]") != NULL, "%s", err.msg);
    unlink(path);

    cr_expect_neq(ctl_config_load_ini(&c, "/nonexistent/omniprof.ini", &err), 0);
    cr_expect(strstr(err.msg, "cannot read /nonexistent/omniprof.ini") != NULL, "%s", err.msg);
}

Test(config, precedence_ini_then_string_then_variables)
{
    char *path = write_ini("delay_iterations = 1\nmax_iterations = 1\nstage = 1\n");
    char cfg_var[300], omni[] = "OMNIPROF=max_iterations=2,stage=2";
    snprintf(cfg_var, sizeof cfg_var, "OMNIPROF_CONFIG=%s", path);
    char stage[] = "OMNIPROF_STAGE=3", other[] = "PATH=/bin";
    /* environ order must not matter: variables beat the string beat the file */
    char *env[] = {stage, omni, other, cfg_var, NULL};
    cr_assert_eq(ctl_config_load_env(&c, env, &err), 0, "%s", err.msg);
    unlink(path);
    cr_expect_eq(c.delay_iterations, 1);
    cr_expect_eq(c.max_iterations, 2);
    cr_expect_eq(c.stage, 3);
}

Test(config, unknown_variable_is_an_error)
{
    char bad[] = "OMNIPROF_DELAY=3";
    char *env[] = {bad, NULL};
    cr_expect_neq(ctl_config_load_env(&c, env, &err), 0);
    cr_expect(strstr(err.msg, "OMNIPROF_DELAY: unknown key 'delay'") != NULL, "%s", err.msg);
}

/* A value other than the default for every key, in the order of the key
 * table: a key added without a line here fails the test below. */
static const struct {
    const char *key, *value;
} changed[] = {
    {"profiler", "torch"},
    {"torch_profiler_dir", "/tmp/with,comma\\and backslash"},
    {"torch_profiler_with_stack", "false"},
    {"torch_profiler_with_flops", "true"},
    {"torch_profiler_use_gzip", "false"},
    {"torch_profiler_dump_cuda_time_total", "false"},
    {"torch_profiler_record_shapes", "true"},
    {"torch_profiler_with_memory", "true"},
    {"delay_iterations", "7"},
    {"max_iterations", "11"},
    {"stage", "2"},
    {"stage_env", "CUDA_VISIBLE_DEVICES"},
    {"stage_map", "0:0,1:1,2-3:2,GPU-a\\,b:4"},
    {"stage_title", "omni-stage([0-9]+)"},
    {"stages", "0,2,9"},
    {"autostart", "true"},
    {"toggle_signal", "SIGRTMIN+2"},
    {"stop_signal", "none"},
    {"buffer_size", "16"},
    {"max_threads", "77"},
    {"stack_depth", "12"},
    {"python_stack", "false"},
    {"gzip_level", "6"},
    {"table_rows", "0"},
    {"log_level", "warn"},
    {"file_prefix", "run1_"},
    {"follow_exec", "false"},
    {"step_signal", "SIGRTMIN+5"},
    {"step_on", "cuStreamSynchronize"},
    {"runtime_dir", "/tmp/registry"},
    {"cupti", "false"},
    {"cupti_buffer_size", "16"},
    {"cupti_path", "/opt/cupti/libcupti.so"},
    {"report", "true"},
};
#define N_CHANGED (sizeof changed / sizeof changed[0])

Test(config, serialise_and_parse_back_is_equal)
{
    static char text[16384];
    struct ctl_config defaults, all, one;
    ctl_config_defaults(&defaults);

    /* every key, each on its own: a value equal() tells from the default */
    cr_assert_eq(N_CHANGED, ctl_config_key_count(), "a key without a changed value here");
    ctl_config_defaults(&all);
    for (size_t i = 0; i < N_CHANGED; i++) {
        cr_assert_str_eq(changed[i].key, ctl_config_key_name(i));
        one = defaults;
        cr_assert_eq(ctl_config_set(&one, changed[i].key, changed[i].value, "t", &err), 0, "%s",
                     err.msg);
        cr_assert_eq(ctl_config_set(&all, changed[i].key, changed[i].value, "t", &err), 0, "%s",
                     err.msg);
        cr_expect(!ctl_config_equal(&one, &defaults), "%s=%s", changed[i].key, changed[i].value);
    }
    cr_expect_str_eq(all.dir, "/tmp/with,comma\\and backslash");

    /* the defaults' text, parsed over the changed config, gives back every
     * default: the text names every key, with a value that parses */
    cr_assert_eq(ctl_config_serialize(&defaults, text, sizeof text), 0);
    for (size_t i = 0; i < N_CHANGED; i++) {
        char item[64];
        snprintf(item, sizeof item, ",%s=", changed[i].key);
        cr_expect(strstr(text, item) || strncmp(text, item + 1, strlen(item + 1)) == 0,
                  "%s is missing from %s", changed[i].key, text);
    }
    struct ctl_config back = all;
    cr_assert_eq(ctl_config_parse_string(&back, text, "OMNIPROF", &err), 0, "%s", err.msg);
    cr_expect(ctl_config_equal(&back, &defaults), "defaults: %s", text);

    /* and the changed config's text, parsed over the defaults, every change */
    cr_assert_eq(ctl_config_serialize(&all, text, sizeof text), 0);
    back = defaults;
    cr_assert_eq(ctl_config_parse_string(&back, text, "OMNIPROF", &err), 0, "%s", err.msg);
    cr_expect(ctl_config_equal(&back, &all), "changed: %s", text);
    cr_expect_str_eq(back.dir, all.dir);
    cr_expect_eq(back.n_stages, 3);
    cr_expect_eq(back.stages[2], 9);
    cr_expect_eq(back.toggle_signal, SIGRTMIN + 2);
    cr_expect_eq(back.step_signal, SIGRTMIN + 5);
}

/* The longest config (every string full and every byte escaped as \xHH)
 * fits CTL_CONFIG_TEXT_MAX and comes back equal; a smaller buffer is
 * -ENOSPC, never a text cut short. */
Test(config, longest_config_fits_and_too_small_a_buffer_is_an_error)
{
    static char text[CTL_CONFIG_TEXT_MAX];
    memset(c.file_prefix, '\x01', sizeof c.file_prefix - 1);
    memset(c.step_on, '\xff', sizeof c.step_on - 1);
    memset(c.stage_env, '\x02', sizeof c.stage_env - 1);
    memset(c.stage_map, ',', sizeof c.stage_map - 1);
    memset(c.stage_title, '\\', sizeof c.stage_title - 1);
    char *fields[] = {c.dir, c.runtime_dir, c.cupti_path};
    for (size_t f = 0; f < 3; f++) {
        memset(fields[f], f == 1 ? '\xfe' : '\x01', PATH_MAX - 1);
        fields[f][0] = '/';
        fields[f][PATH_MAX - 1] = '\0';
    }
    cr_assert_eq(ctl_config_serialize(&c, text, sizeof text), 0);
    struct ctl_config back;
    ctl_config_defaults(&back);
    cr_assert_eq(ctl_config_parse_string(&back, text, "OMNIPROF", &err), 0, "%s", err.msg);
    cr_expect(ctl_config_equal(&c, &back));
    cr_expect_eq(strlen(back.cupti_path), PATH_MAX - 1);
    char small[8192];
    cr_expect_eq(ctl_config_serialize(&c, small, sizeof small), -ENOSPC);
}

Test(config, signal_names)
{
    cr_expect_eq(ctl_signal_parse("SIGUSR1"), SIGUSR1);
    cr_expect_eq(ctl_signal_parse("usr2"), SIGUSR2);
    cr_expect_eq(ctl_signal_parse("12"), 12);
    cr_expect_eq(ctl_signal_parse("RTMAX-1"), SIGRTMAX - 1);
    cr_expect_eq(ctl_signal_parse("SIGRTMIN+100"), -1);
    cr_expect_eq(ctl_signal_parse("SIGNOPE"), -1);
    char name[32];
    ctl_signal_name(SIGUSR1, name, sizeof name);
    cr_expect_str_eq(name, "SIGUSR1");
    ctl_signal_name(SIGRTMIN + 4, name, sizeof name);
    cr_expect_str_eq(name, "SIGRTMIN+4");
}

/* ---- control signals: only those nobody else sends ------------------------ */

static const char *const signal_keys[] = {"toggle_signal", "stop_signal", "step_signal"};

/* Every key refuses every signal of names[], naming key, source, signal,
 * why, and what is allowed; the config is left as it was. */
static void expect_refused(const char *const *names, size_t n, const char *why)
{
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i < n; i++) {
            struct ctl_config before = c;
            cr_expect_neq(ctl_config_set(&c, signal_keys[k], names[i], "src:7", &err), 0, "%s=%s",
                          signal_keys[k], names[i]);
            char want[128];
            snprintf(want, sizeof want, "src:7: %s: ", signal_keys[k]);
            cr_expect(strstr(err.msg, want) == err.msg, "%s", err.msg);
            cr_expect(strstr(err.msg, why) != NULL, "'%s' lacks '%s'", err.msg, why);
            cr_expect(strstr(err.msg, "allowed: SIGUSR1, SIGUSR2, SIGRTMIN..SIGRTMAX") != NULL,
                      "%s", err.msg);
            cr_expect(ctl_config_equal(&before, &c), "a refused signal changed the config");
        }
    }
}

Test(config, crash_signals_are_refused)
{
    /* a handler that returns from a fault re-runs the faulting instruction */
    static const char *const names[] = {"SIGSEGV", "SIGBUS", "SIGILL",  "SIGFPE",  "SIGABRT",
                                        "SIGTRAP", "SIGSYS", "SIGQUIT", "SIGXCPU", "SIGXFSZ",
                                        "segv",    "11",     "6"};
    expect_refused(names, sizeof names / sizeof names[0], "crash");
}

Test(config, signals_the_system_sends_are_refused)
{
    static const char *const names[] = {"SIGPIPE", "SIGCHLD", "SIGALRM", "SIGVTALRM", "SIGPROF",
                                        "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGCONT",   "SIGWINCH",
                                        "SIGURG",  "SIGIO",   "SIGPWR",  "SIGSTKFLT", "13"};
    expect_refused(names, sizeof names / sizeof names[0], "the system sends");
}

Test(config, signals_that_end_the_program_are_refused)
{
    static const char *const names[] = {"SIGHUP", "SIGINT", "SIGTERM", "term", "15"};
    expect_refused(names, sizeof names / sizeof names[0], "end");
}

Test(config, uncatchable_and_reserved_signals_are_refused)
{
    static const char *const uncatchable[] = {"SIGKILL", "SIGSTOP", "9"};
    expect_refused(uncatchable, 3, "cannot be caught");
    /* the real-time signals below SIGRTMIN belong to the C library's threads */
    char low[2][16];
    snprintf(low[0], sizeof low[0], "%d", SIGRTMIN - 1);
    snprintf(low[1], sizeof low[1], "%d", SIGRTMIN - 2);
    const char *const reserved[] = {low[0], low[1]};
    expect_refused(reserved, 2, "C library");
}

Test(config, allowed_control_signals)
{
    char rtmin5[16];
    snprintf(rtmin5, sizeof rtmin5, "%d", SIGRTMIN + 5);
    const struct {
        const char *text;
        int sig;
    } ok[] = {{"SIGUSR1", SIGUSR1},   {"usr2", SIGUSR2},         {"10", SIGUSR1},
              {"SIGRTMIN", SIGRTMIN}, {"RTMIN+3", SIGRTMIN + 3}, {rtmin5, SIGRTMIN + 5},
              {"SIGRTMAX", SIGRTMAX}, {"rtmax-2", SIGRTMAX - 2}, {"none", 0}};
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
            cr_expect_eq(ctl_config_set(&c, signal_keys[k], ok[i].text, "t", &err), 0, "%s=%s: %s",
                         signal_keys[k], ok[i].text, err.msg);
            cr_expect_eq(*(k == 0   ? &c.toggle_signal
                           : k == 1 ? &c.stop_signal
                                    : &c.step_signal),
                         ok[i].sig, "%s=%s", signal_keys[k], ok[i].text);
        }
    cr_expect_eq(ctl_config_set(&c, "step_signal", "auto", "t", &err), 0);
    cr_expect_eq(c.step_signal, -1);
    cr_expect_neq(ctl_config_set(&c, "toggle_signal", "auto", "t", &err), 0);
}

/* A message quotes what it refuses on one line, whatever bytes it holds. */
Test(config, messages_are_one_line)
{
    cr_expect_neq(ctl_config_set(&c, "toggle_signal", "x\ny", "t", &err), 0);
    cr_expect(strchr(err.msg, '\n') == NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "'x\\ny'") != NULL, "%s", err.msg);
    cr_expect_neq(ctl_config_set(&c, "no\rkey", "1", "t", &err), 0);
    cr_expect(strchr(err.msg, '\r') == NULL, "%s", err.msg);
    cr_expect_neq(ctl_config_parse_string(&c, "autostart=1,\x01oops\n", "OMNIPROF", &err), 0);
    cr_expect(strchr(err.msg, '\n') == NULL && strchr(err.msg, '\x01') == NULL, "%s", err.msg);
}

/* ---- the INI file: any line length, only regular files -------------------- */

/* The tail of a comment longer than the INI reader's line buffer must
 * not be read as a setting. */
Test(config, a_long_comment_is_only_a_comment)
{
    static const char *const starts[] = {";", "#", "   ;", "\t# "};
    for (size_t s = 0; s < 4; s++) {
        size_t n = 300;
        char *text = malloc(n + 64);
        size_t len = (size_t)sprintf(text, "%s", starts[s]);
        memset(text + len, 'x', n - len);
        len = n;
        len += (size_t)sprintf(text + len, "autostart = 1\nmax_iterations = 4\n");
        char *path = write_bytes(text, len);
        cr_expect_eq(ctl_config_load_ini(&c, path, &err), 0, "%s", err.msg);
        unlink(path);
        free(text);
        cr_expect(!c.autostart, "a comment's tail switched autostart on");
        cr_expect_eq(c.max_iterations, 4);
    }
}

Test(config, a_comment_of_almost_a_mebibyte_is_read_as_a_comment)
{
    size_t n = (1 << 20) - 64;
    char *text = malloc(n + 64);
    text[0] = '#';
    memset(text + 1, 'y', n - 1);
    size_t len = n + (size_t)sprintf(text + n, "\ndelay_iterations = 3\n");
    char *path = write_bytes(text, len);
    free(text);
    cr_expect_eq(ctl_config_load_ini(&c, path, &err), 0, "%s", err.msg);
    unlink(path);
    cr_expect_eq(c.delay_iterations, 3);
}

/* A setting line longer than the INI reader's buffer is read whole, its
 * value trimmed as inih trims values (whitespace, an inline "; comment"). */
Test(config, a_setting_line_of_any_length_is_read_whole)
{
    static char text[12000], want[5000];
    want[0] = '/';
    memset(want + 1, 'd', 4000);
    memcpy(want + 2000, "with;semicolon", 14); /* ';' not after a space: part of the value */
    want[4001] = '\0';
    snprintf(text, sizeof text,
             "delay_iterations = 1\ntorch_profiler_dir =   %s   ; the comment\n"
             "runtime_dir:%s\nautostart = 1\n",
             want, want);
    char *path = write_ini(text);
    cr_assert_eq(ctl_config_load_ini(&c, path, &err), 0, "%s", err.msg);
    unlink(path);
    cr_expect_str_eq(c.dir, want);
    cr_expect_str_eq(c.runtime_dir, want);
    cr_expect(c.autostart);
    cr_expect_eq(c.delay_iterations, 1);
}

/* The same trimming at a length inih reads itself, so both agree. */
Test(config, a_short_setting_line_is_trimmed_the_same_way)
{
    char *path = write_ini("torch_profiler_dir =   /d/with;semicolon   ; the comment\n");
    cr_assert_eq(ctl_config_load_ini(&c, path, &err), 0, "%s", err.msg);
    unlink(path);
    cr_expect_str_eq(c.dir, "/d/with;semicolon");
}

Test(config, a_key_too_long_for_the_reader_is_an_error_naming_the_line)
{
    char text[600];
    int n = snprintf(text, sizeof text, "delay_iterations = 1\n");
    memset(text + n, 'k', 400);
    strcpy(text + n + 400, " = 1\nautostart = 1\n");
    char *path = write_ini(text);
    cr_expect_neq(ctl_config_load_ini(&c, path, &err), 0);
    char want[256];
    snprintf(want, sizeof want, "%s:2: ", path);
    cr_expect(strstr(err.msg, want) == err.msg, "%s", err.msg);
    unlink(path);
    cr_expect(!c.autostart);
}

Test(config, a_nul_byte_in_the_file_is_an_error_naming_the_line)
{
    static const char text[] = "autostart = 0\nmax_iterations = 2\0autostart = 1\n";
    char *path = write_bytes(text, sizeof text - 1);
    cr_expect_neq(ctl_config_load_ini(&c, path, &err), 0);
    char want[256];
    snprintf(want, sizeof want, "%s:2: ", path);
    cr_expect(strstr(err.msg, want) == err.msg, "%s", err.msg);
    cr_expect(strstr(err.msg, "NUL") != NULL, "%s", err.msg);
    unlink(path);
}

Test(config, a_config_file_larger_than_a_mebibyte_is_refused)
{
    size_t n = (1 << 20) + 1;
    char *text = malloc(n);
    memset(text, '\n', n);
    char *path = write_bytes(text, n);
    free(text);
    cr_expect_neq(ctl_config_load_ini(&c, path, &err), 0);
    cr_expect(strstr(err.msg, "larger than 1 MiB") != NULL, "%s", err.msg);
    unlink(path);
}

static void expect_not_a_file(const char *path, const char *what)
{
    cr_expect_neq(ctl_config_load_ini(&c, path, &err), 0, "%s", path);
    char want[PATH_MAX + 100];
    snprintf(want, sizeof want, "OMNIPROF_CONFIG: %s is %s, not a regular file", path, what);
    cr_expect(strstr(err.msg, want) != NULL, "'%s' lacks '%s'", err.msg, want);
}

/* Opening a FIFO for reading waits for a writer; reading /dev/zero never
 * ends: both must be refused at once. */
Test(config, a_config_path_that_is_not_a_regular_file_is_refused_at_once, .timeout = 10)
{
    char dir[] = "/tmp/omniprof-test-XXXXXX";
    cr_assert(mkdtemp(dir));
    char fifo[64], sock[64];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(sock, sizeof sock, "%s/sock", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);

    expect_not_a_file(fifo, "a FIFO");
    expect_not_a_file("/dev/zero", "a character device");
    expect_not_a_file(dir, "a directory");
    expect_not_a_file("/", "a directory");
    expect_not_a_file(sock, "a socket");

    close(s);
    unlink(sock);
    unlink(fifo);
    rmdir(dir);
}

Test(config, a_symbolic_link_to_a_config_file_is_followed)
{
    char *path = write_ini("max_iterations = 9\n");
    char link[64];
    snprintf(link, sizeof link, "%s.link", path);
    cr_assert_eq(symlink(path, link), 0);
    cr_expect_eq(ctl_config_load_ini(&c, link, &err), 0, "%s", err.msg);
    cr_expect_eq(c.max_iterations, 9);
    unlink(link);
    unlink(path);
}

/* ---- the k=v text carries any byte string but NUL ------------------------- */

static const char *const hostile_values[] = {
    "/tmp/trailing space ",
    "  leading",
    " ",
    "com,ma,,",
    "eq=ual=",
    "back\\slash\\",
    "\\,\\\\\\=\\x41\\x0 \\",
    "new\nline",
    "tab\tcr\rvt\vff\f",
    "\x01\x1f\x7f",
    "not utf-8 \xff\xfe\xc3",
    "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
    "autostart=1,max_iterations=1",
    ",",
    "=",
    "\\",
};

/* Every byte of the serialised text is printable ASCII or part of valid
 * UTF-8: it reads on one line in a log and in the registry's JSON. */
static bool printable(const char *t)
{
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

Test(config, any_byte_string_but_nul_round_trips)
{
    static char text[CTL_CONFIG_TEXT_MAX];
    for (size_t i = 0; i < sizeof hostile_values / sizeof hostile_values[0]; i++) {
        const char *v = hostile_values[i];
        ctl_config_defaults(&c);
        cr_assert_eq(ctl_config_set(&c, "dir", v, "t", &err), 0, "%s", err.msg);
        cr_assert_eq(ctl_config_set(&c, "file_prefix", v, "t", &err), 0, "%s", err.msg);
        cr_assert_eq(ctl_config_serialize(&c, text, sizeof text), 0);
        cr_expect(printable(text), "value %zu: %s", i, text);
        struct ctl_config back;
        ctl_config_defaults(&back);
        cr_assert_eq(ctl_config_parse_string(&back, text, "OMNIPROF", &err), 0, "value %zu: %s", i,
                     err.msg);
        cr_expect_str_eq(back.dir, v, "value %zu: %s", i, text);
        cr_expect_str_eq(back.file_prefix, v, "value %zu", i);
        cr_expect(ctl_config_equal(&c, &back), "value %zu", i);
        /* the text of the text is the same text */
        static char again[CTL_CONFIG_TEXT_MAX];
        cr_assert_eq(ctl_config_serialize(&back, again, sizeof again), 0);
        cr_expect_str_eq(again, text);
    }
}

Test(config, kv_escapes_and_the_forms_people_type)
{
    static const struct {
        const char *text, *dir;
    } cases[] = {
        {"dir=x,autostart=1,stages=0,2", "x"},
        {"dir = /tmp/a\\,b , autostart=1", "/tmp/a,b"},
        {"dir=\\x20a\\x2cb\\x20", " a,b "},
        {"dir=a\\=b=c", "a=b=c"},
        {"dir=a\\ ", "a "},
        {"dir=\\\\server\\share", "\\server\\share"},
        {"dir=C:\\temp", "C:\\temp"},   /* a backslash before anything else is itself */
        {"dir=\\x4", "\\x4"},           /* so is an incomplete \x */
        {"dir=\\xC3\\xA9", "\xc3\xa9"}, /* hex digits of either case */
        {"dir=tail\\", "tail\\"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctl_config_defaults(&c);
        cr_expect_eq(ctl_config_parse_string(&c, cases[i].text, "OMNIPROF", &err), 0, "%s: %s",
                     cases[i].text, err.msg);
        cr_expect_str_eq(c.dir, cases[i].dir, "%s", cases[i].text);
    }
    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_parse_string(&c, cases[0].text, "OMNIPROF", &err), 0);
    cr_expect(c.autostart);
    cr_expect_eq(c.n_stages, 2);
}

Test(config, a_nul_byte_cannot_be_a_value)
{
    cr_expect_neq(ctl_config_parse_string(&c, "autostart=1,dir=/tmp/a\\x00b", "OMNIPROF", &err), 0);
    cr_expect(strstr(err.msg, "OMNIPROF item 2: torch_profiler_dir: ") == err.msg ||
                  strstr(err.msg, "OMNIPROF item 2: dir: ") == err.msg,
              "%s", err.msg);
    cr_expect(strstr(err.msg, "NUL") != NULL, "%s", err.msg);
    cr_expect_str_empty(c.dir);
}

Test(config, a_path_longer_than_path_max_is_an_error)
{
    char *v = malloc(PATH_MAX + 1);
    memset(v, 'p', PATH_MAX);
    v[PATH_MAX] = '\0';
    cr_expect_neq(ctl_config_set(&c, "dir", v, "-o", &err), 0);
    cr_expect(strstr(err.msg, "-o: torch_profiler_dir: value is longer than 4095 bytes") != NULL,
              "%s", err.msg);
    free(v);
}

/* The INI text from memory (what the fuzz harness drives): a byte order
 * mark before a long comment, CRLF lines, a last line without newline. */
Test(config, ini_text_in_memory)
{
    char text[512];
    int n = snprintf(text, sizeof text, "\xEF\xBB\xBF;");
    memset(text + n, 'c', 300);
    n += 300;
    n += snprintf(text + n, sizeof text - (size_t)n, " autostart = 1\r\n[omniprof]\r\nstage = 4");
    cr_assert_eq(ctl_config_parse_ini(&c, text, (size_t)n, "mem.ini", &err), 0, "%s", err.msg);
    cr_expect(!c.autostart);
    cr_expect_eq(c.stage, 4);
    cr_expect_neq(ctl_config_parse_ini(&c, "stage = 1\n\x01\n", 12, "mem\n.ini", &err), 0);
    cr_expect(strstr(err.msg, "mem\\n.ini:2: ") == err.msg, "%s", err.msg);
}

/* ---- stage rules (stage.c) and step_on=py: ------------------------------ */

Test(config, stage_from_a_variable_through_the_map)
{
    cr_assert_eq(ctl_config_parse_string(&c,
                                         "stage_env=CUDA_VISIBLE_DEVICES,stage_map=0:0,1:1,"
                                         "2-3:2, GPU-abc:7 ,MIG-1:2:5",
                                         "OMNIPROF", &err),
                 0, "%s", err.msg);
    cr_assert_eq(ctl_config_validate(&c, "t", &err), 0, "%s", err.msg);
    cr_expect(ctl_stage_by_rule(&c));
    static const struct {
        const char *value;
        long stage;
    } cases[] = {
        {"0", 0},   {"1", 1},     {"2", 2},       {"3", 2},       {"4", -1},
        {"2,3", 2}, {" 3 ,0", 2}, {"GPU-abc", 7}, {"GPU-ab", -1}, {"MIG-1:2", 5},
        {"", -1},   {"-1", -1},   {"02", 2},      {"x", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(ctl_stage_of_value(&c, cases[i].value), cases[i].stage, "'%s'",
                     cases[i].value);
    cr_expect_eq(ctl_stage_of_value(&c, NULL), -1);
    /* without a map the value is the stage number itself */
    c.stage_map[0] = '\0';
    cr_expect_eq(ctl_stage_of_value(&c, "3"), 3);
    cr_expect_eq(ctl_stage_of_value(&c, "3,4"), 3);
    cr_expect_eq(ctl_stage_of_value(&c, "GPU-abc"), -1);
    cr_expect_eq(ctl_stage_of_value(&c, "2000000"), -1);
    /* an explicit stage wins over the rules */
    c.stage = 4;
    cr_expect(!ctl_stage_by_rule(&c));
}

Test(config, stage_from_the_title_or_command_line)
{
    cr_assert_eq(ctl_config_set(&c, "stage_title", "omni-stage([0-9]+)", "t", &err), 0);
    cr_assert_eq(ctl_config_validate(&c, "t", &err), 0, "%s", err.msg);
    cr_expect(ctl_stage_by_rule(&c));
    cr_expect_eq(ctl_stage_of_title(&c, "omni-stage2"), 2);
    cr_expect_eq(ctl_stage_of_title(&c, "python3 server.py --name omni-stage13 -v"), 13);
    cr_expect_eq(ctl_stage_of_title(&c, "python3"), -1);
    cr_expect_eq(ctl_stage_of_title(&c, NULL), -1);
    /* the group must be a stage number */
    cr_assert_eq(ctl_config_set(&c, "stage_title", "worker-([a-z]+)", "t", &err), 0);
    cr_expect_eq(ctl_stage_of_title(&c, "worker-abc"), -1);
    cr_assert_eq(ctl_config_set(&c, "stage_title", "(VllmWorker|stage)-?([0-9]+)", "t", &err), 0);
    cr_expect_eq(ctl_stage_of_title(&c, "VllmWorker-1"), -1, "the first group is the stage");
}

Test(config, stage_rules_that_cannot_work_are_errors)
{
    static const struct {
        const char *text, *message;
    } cases[] = {
        {"stage_map=0:1", "stage_map: maps the values of stage_env's variable; set stage_env"},
        {"stage_env=A=B", "stage_env: 'A=B' is not a variable name"},
        {"stage_env=V,stage_map=0", "stage_map: '0' is not a list of VALUE:STAGE"},
        {"stage_env=V,stage_map=0:x", "is not a list of VALUE:STAGE"},
        {"stage_env=V,stage_map=0:1,2:", "is not a list of VALUE:STAGE"},
        {"stage_env=V,stage_map=:1", "is not a list of VALUE:STAGE"},
        {"stage_title=stage[0-9]+", "stage_title: 'stage[0-9]+' is not a POSIX extended regular "
                                    "expression with a group"},
        {"stage_title=stage-([0-9]+", "stage_title: 'stage-([0-9]+' is not a POSIX extended"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctl_config_defaults(&c);
        cr_assert_eq(ctl_config_parse_string(&c, cases[i].text, "OMNIPROF", &err), 0, "%s",
                     err.msg);
        cr_expect_eq(ctl_config_validate(&c, "OMNIPROF", &err), -EINVAL, "%s", cases[i].text);
        cr_expect(strstr(err.msg, cases[i].message), "%s: %s", cases[i].text, err.msg);
    }
}

Test(config, step_on_a_python_function)
{
    char module[256], qualname[256];
    cr_assert_eq(ctl_config_set(&c, "step_on",
                                "py:vllm.v1.worker.gpu_model_runner:GPUModelRunner.execute_model",
                                "t", &err),
                 0);
    cr_expect_eq(ctl_config_validate(&c, "t", &err), 0, "%s", err.msg);
    cr_assert(ctl_step_on_python(&c, module, sizeof module, qualname, sizeof qualname));
    cr_expect_str_eq(module, "vllm.v1.worker.gpu_model_runner");
    cr_expect_str_eq(qualname, "GPUModelRunner.execute_model");
    cr_expect_eq(coll_api_by_name(c.step_on), 0);
    static const char *const bad[] = {
        "py:",     "py:m",      "py:m:",    "py::f",          "py:m:f.",
        "py:m:1f", "py:a..b:f", "py:m:f:g", "py:m:<locals>.f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(ctl_config_set(&c, "step_on", bad[i], "t", &err), 0);
        cr_expect_eq(ctl_config_validate(&c, "OMNIPROF", &err), -EINVAL, "%s", bad[i]);
        cr_expect(strstr(err.msg, "is not py:MODULE:QUALNAME"), "%s: %s", bad[i], err.msg);
    }
    cr_assert_eq(ctl_config_set(&c, "step_on", "cuGraphLaunch", "t", &err), 0);
    cr_expect(!ctl_step_on_python(&c, module, sizeof module, qualname, sizeof qualname));
}
