/*
 * control/ — configuration (defaults < INI file < OMNIPROF="k=v,..." <
 * OMNIPROF_<KEY>), signals and the control thread, and the process's
 * start/stop/step entry points.  Drives collector/ and writer/.
 */
#ifndef OMNIPROF_CONTROL_H
#define OMNIPROF_CONTROL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define OMNIPROF_VERSION "0.1.0"
#define CTL_MAX_STAGES 64

enum ctl_profiler { CTL_PROFILER_NONE = 0, CTL_PROFILER_TORCH, CTL_PROFILER_CUDA };

struct ctl_config {
    int profiler;       /* enum ctl_profiler; NONE: omniprof's own trace */
    char dir[PATH_MAX]; /* torch_profiler_dir */
    bool with_stack, with_flops, use_gzip, dump_cuda_time_total, record_shapes, with_memory;
    long delay_iterations;
    long max_iterations; /* 0 = unlimited */
    long stage;          /* -1 = none */
    int stages[CTL_MAX_STAGES];
    int n_stages; /* 0 = every stage reacts */
    bool autostart;
    int toggle_signal; /* 0 = none */
    int stop_signal;   /* 0 = none */
    long buffer_size;  /* MiB of event buffers */
    long max_threads;
    long stack_depth;
    long gzip_level;
    long log_level; /* enum coll_log_level */
    char file_prefix[128];
    bool follow_exec; /* exec'd and spawned children are profiled too */
    /* Where profiler and torch_profiler_dir were last set, for the messages
     * of rules between keys; not part of the value (not compared). */
    char profiler_source[96];
    char dir_source[96];
};

struct ctl_error {
    char msg[768];
};

void ctl_config_defaults(struct ctl_config *c);
/* Sets one key (full name or short alias).  source names where the value
 * came from ("file.ini:3", "OMNIPROF", "OMNIPROF_STAGE") for the message. */
int ctl_config_set(struct ctl_config *c, const char *key, const char *value, const char *source,
                   struct ctl_error *err);
/* Rules between keys, as vLLM's ProfilerConfig checks them. */
int ctl_config_validate(const struct ctl_config *c, const char *source, struct ctl_error *err);
/* "k=v,k=v": a comma in a value is written "\,"; a piece without '='
 * continues the previous value ("stages=0,2"). */
int ctl_config_parse_string(struct ctl_config *c, const char *s, const char *source,
                            struct ctl_error *err);
int ctl_config_load_ini(struct ctl_config *c, const char *path, struct ctl_error *err);
/* Everything from the environment: OMNIPROF_CONFIG, OMNIPROF, OMNIPROF_<KEY>
 * (not validated: call ctl_config_validate when all sources are in). */
int ctl_config_load_env(struct ctl_config *c, char *const *env, struct ctl_error *err);
/* Every key as k=v, parseable back into an equal config. */
int ctl_config_serialize(const struct ctl_config *c, char *buf, size_t cap);
bool ctl_config_equal(const struct ctl_config *a, const struct ctl_config *b);
/* The directory traces go to (torch_profiler_dir, or ./omniprof_traces). */
const char *ctl_config_dir(const struct ctl_config *c);
/* Signal names: "SIGUSR1", "USR1", "10", "SIGRTMIN+2", "none". */
int ctl_signal_parse(const char *s);
void ctl_signal_name(int sig, char *buf, size_t cap);

/* Key names, for the CLI's help and the README. */
size_t ctl_config_key_count(void);
const char *ctl_config_key_name(size_t i);
const char *ctl_config_key_alias(size_t i);

/* ---- the process side (control.c) --------------------------------------- */

/* Reads the configuration, prepares the collector, installs the signals and
 * starts the control thread.  Idempotent; never fails the host. */
void ctl_init(void);
/* Stops and writes a running session; called at exit.  Idempotent. */
void ctl_shutdown(void);
/* The exported API's entry points (synchronous: stop returns when written). */
void ctl_start(void);
void ctl_stop(void);
void ctl_step(void);
bool ctl_is_running(void);
/* exec: stops and writes a running session before the image is replaced
 * (returns whether one was recording; a no-op in a vfork child), and
 * restarts it when the exec failed. */
bool ctl_exec_prepare(void);
void ctl_exec_failed(bool was_recording);
/* follow_exec: whether children keep omniprof in their environment. */
bool ctl_follow_exec(void);
/* fork(): prepare/parent/child handlers for pthread_atfork. */
void ctl_atfork_prepare(void);
void ctl_atfork_parent(void);
void ctl_atfork_child(void);

/* Called by preload/ to enter and leave the cuProfilerStart/Stop window of
 * profiler=cuda; NULL until preload has resolved them. */
typedef void (*ctl_cuda_profiler_fn)(bool start);
void ctl_set_cuda_profiler(ctl_cuda_profiler_fn fn);

#endif
