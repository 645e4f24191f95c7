/*
 * control/ — the interface other folders use:
 *   - preload/ calls the process side: ctl_init, ctl_start/stop/step,
 *     exec and fork care, CUDA's arrival;
 *   - the omniprof command (control/cli/) and the process side share the
 *     configuration (keys, sources, serialisation) and the registry format.
 * What only control/'s own files share (the control pipe, the signal
 * handlers, request bytes) is in internal.h.
 */
#ifndef OMNIPROF_CONTROL_H
#define OMNIPROF_CONTROL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define OMNIPROF_VERSION "0.1.0"
#define CTL_MAX_STAGES 64
#define CTL_MAX_STAGE 1000000 /* the largest stage number */

enum ctl_profiler { CTL_PROFILER_NONE = 0, CTL_PROFILER_TORCH, CTL_PROFILER_CUDA };

struct ctl_config {
    int profiler;       /* enum ctl_profiler; NONE: omniprof's own trace */
    char dir[PATH_MAX]; /* torch_profiler_dir */
    bool with_stack, with_flops, use_gzip, dump_cuda_time_total, record_shapes, with_memory;
    long delay_iterations;
    long max_iterations; /* 0 = unlimited */
    long stage;          /* -1 = none */
    /* Stage rules, for a process whose stage is not set: the stage is found
     * when CUDA starts in the process and at each start request. */
    char stage_env[128];   /* a variable whose value gives the stage, or "" */
    char stage_map[512];   /* "VALUE:STAGE,A-B:STAGE,...": stage_env's values */
    char stage_title[256]; /* an ERE whose first group in the title is the stage */
    int stages[CTL_MAX_STAGES];
    int n_stages; /* 0 = every stage reacts */
    bool autostart;
    int toggle_signal; /* 0 = none */
    int stop_signal;   /* 0 = none */
    long buffer_size;  /* MiB of event buffers */
    long max_threads;
    long stack_depth;
    bool python_stack; /* Python frames in stacks (with_stack) */
    long gzip_level;
    long table_rows; /* rows of profiler_out_*.txt; 0: all */
    long log_level;  /* enum coll_log_level */
    char file_prefix[128];
    bool follow_exec; /* exec'd and spawned children are profiled too */
    int step_signal;  /* iteration boundary; -1: a free real-time signal, 0: none */
    /* an API whose every completed call is a step, nvtx:[DOMAIN/]NAME: every
     * end of an NVTX range of that name, or py:MODULE:QUALNAME: every
     * completed call of that Python function; "" none */
    char step_on[256];
    char runtime_dir[PATH_MAX]; /* the registry; "" = $XDG_RUNTIME_DIR/omniprof or
                                   /tmp/omniprof-<uid> */
    char cupti_path[PATH_MAX];  /* a libcupti to try first */
    bool cupti;                 /* use CUPTI when CUDA is in the process */
    long cupti_buffer_size;     /* MiB of CUPTI activity buffers */
    /* also write report_<worker>.html at each stop */
    bool report;
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
/* "k=v,k=v": a piece without '=' continues the previous value
 * ("stages=0,2"); spaces around keys and values are dropped.  In a value,
 * \, \\ \= "\ " and \xHH stand for one byte (a backslash before anything
 * else is itself); \x00 is an error. */
int ctl_config_parse_string(struct ctl_config *c, const char *s, const char *source,
                            struct ctl_error *err);
/* The INI file: a regular file (a FIFO, device, directory or socket is
 * refused without waiting) of at most CTL_CONFIG_FILE_MAX bytes.  Comment
 * lines may have any length; a setting line longer than inih's line buffer
 * is an error naming it. */
#define CTL_CONFIG_FILE_MAX (1 << 20)
int ctl_config_load_ini(struct ctl_config *c, const char *path, struct ctl_error *err);
/* The same from text in memory; name stands for the file in messages. */
int ctl_config_parse_ini(struct ctl_config *c, const char *text, size_t len, const char *name,
                         struct ctl_error *err);
/* Everything from the environment: OMNIPROF_CONFIG, OMNIPROF, OMNIPROF_<KEY>
 * (not validated: call ctl_config_validate when all sources are in). */
int ctl_config_load_env(struct ctl_config *c, char *const *env, struct ctl_error *err);
/* The longest k=v text of a config: every path (3 of PATH_MAX) with each
 * byte escaped as \xHH, plus the other keys. */
#define CTL_CONFIG_TEXT_MAX (3 * 4 * PATH_MAX + 12288)
/* Every key as k=v, parseable back into an equal config: 0, or -ENOSPC
 * when cap is too small (never with CTL_CONFIG_TEXT_MAX).  Any byte string
 * comes back unchanged; the text is printable UTF-8 on one line (control
 * bytes, bytes that are not UTF-8 and spaces at a value's ends are \xHH). */
int ctl_config_serialize(const struct ctl_config *c, char *buf, size_t cap);
bool ctl_config_equal(const struct ctl_config *a, const struct ctl_config *b);
/* The directory traces go to (torch_profiler_dir, or ./omniprof_traces). */
const char *ctl_config_dir(const struct ctl_config *c);
/* Signal names: "SIGUSR1", "USR1", "10", "SIGRTMIN+2", "none". */
int ctl_signal_parse(const char *s);
void ctl_signal_name(int sig, char *buf, size_t cap);
/* Whether sig may be a control signal: SIGUSR1, SIGUSR2 or SIGRTMIN..
 * SIGRTMAX.  Never a crash signal, one the system sends on its own, one
 * that ends the program or one that cannot be caught: taking it would
 * change how the program runs or dies. */
bool ctl_signal_allowed(int sig);
/* v as messages show it (coll_escape: one line, \n \t \r, other control
 * bytes and bytes that are not UTF-8 as \xHH), cut with "..." to fit
 * cap.  Returns buf. */
const char *ctl_config_show(const char *v, char *buf, size_t cap);

/* Stage rules (stage.c) ---------------------------------------------------- */

/* Whether c finds the stage by a rule: stage not set, stage_env or
 * stage_title set. */
bool ctl_stage_by_rule(const struct ctl_config *c);
/* The stage a value of stage_env's variable gives: through stage_map (an
 * entry VALUE:STAGE matches that exact value, A-B:STAGE a whole number from
 * A to B), or without stage_map the value as a stage number.  A list
 * ("2,3", as CUDA_VISIBLE_DEVICES may be) is taken by its first item.
 * -1 when value is NULL or nothing matches. */
long ctl_stage_of_value(const struct ctl_config *c, const char *value);
/* The stage stage_title's first group gives in text (a process title or
 * command line), when it matches and the group is a stage number; -1
 * otherwise. */
long ctl_stage_of_title(const struct ctl_config *c, const char *text);
/* Checks stage_map's and stage_title's syntax (for ctl_config_validate). */
int ctl_stage_rules_check(const struct ctl_config *c, const char *source, struct ctl_error *err);
/* step_on=py:MODULE:QUALNAME: whether step_on names a Python function, and
 * its two parts (cut to the caps given). */
bool ctl_step_on_python(const struct ctl_config *c, char *module, size_t mcap, char *qualname,
                        size_t qcap);

/* Key names, for the CLI's help and the README. */
size_t ctl_config_key_count(void);
const char *ctl_config_key_name(size_t i);
const char *ctl_config_key_alias(size_t i);

/* ---- the registry (registry.c: written by processes; cli/registry_read.c:
 * read by the omniprof command) ------------------------------------------- */

#define CTL_MAX_FILES 3 /* the trace, its table, its report page */

/* What a profiled process publishes about itself. */
struct ctl_entry {
    int pid;
    unsigned long long start_time; /* /proc/<pid>/stat starttime: tells pid reuse apart */
    long stage;                    /* -1: none */
    bool stage_pending;            /* a stage rule has not matched yet */
    int rank;                      /* -1: none */
    int world_size, local_rank;    /* from the rank's launcher; -1: not known */
    char host[128];
    /* the launcher's job: SLURM_JOB_ID (JOB.STEP in a step),
     * OMPI_MCA_ess_base_jobid, PMIX_NAMESPACE or TORCHELASTIC_RUN_ID; "" none */
    char job[64];
    char worker[256];
    char cmdline[1024];
    char state[16]; /* idle, armed, recording, writing, done, off */
    char dir[PATH_MAX];
    char config[CTL_CONFIG_TEXT_MAX];
    int toggle_signal, stop_signal, step_signal;
    unsigned long requests; /* control requests handled so far */
    char last_result[512];  /* what the last one did */
    char last_files[CTL_MAX_FILES][PATH_MAX];
    int n_files;
    /* The file omniprof runs from, as /proc/<pid>/maps shows it (written by
     * ctl_registry_publish): the command checks that the process maps it. */
    char library[PATH_MAX];
    char library_dev[24]; /* "major:minor" in hex, as in maps */
    unsigned long long library_ino;
};

/* Resolves, creates and checks the registry directory. */
int ctl_registry_dir(const struct ctl_config *c, char *out, size_t cap, struct ctl_error *err);
int ctl_registry_publish(const char *dir, const struct ctl_entry *e);
void ctl_registry_remove(const char *dir, int pid);
/* 0 when the process is gone or a zombie (exited, not yet reaped). */
unsigned long long ctl_process_start_time(int pid);
/* One line of /proc/<pid>/maps: the mapping's range, device, inode and
 * path (NULL for an anonymous mapping; " (deleted)" is left on).  Returns
 * false for a line that does not parse. */
struct ctl_mapping {
    unsigned long start, end;
    unsigned major, minor;
    unsigned long long ino;
    const char *path;
};
bool ctl_maps_line(char *line, struct ctl_mapping *m);

/* ---- signals (signals.c) ------------------------------------------------------ */

/* sigqueue() values on the toggle signal: what the omniprof command sends. */
enum { CTL_SIGNAL_START = 1, CTL_SIGNAL_STOP = 2, CTL_SIGNAL_RESOLVE = 3 };
/* CTL_SIGNAL_RESOLVE: a process whose stage is pending evaluates its stage
 * rules again and publishes (what `omniprof start --stages` asks first). */

/* ---- the process side (control.c) --------------------------------------- */

/* Reads the configuration, prepares the collector, installs the signals and
 * starts the control thread.  Idempotent; never fails the host. */
void ctl_init(void);
/* Stops and writes a running session; called at exit.  Idempotent.  When
 * a termination signal is ending the process (see ctl_process_ending), the
 * process then ends by it. */
void ctl_shutdown(void);
/* The process is about to end without exit() (_exit, _Exit, a termination
 * signal it sends itself): hands a running session to the control thread to
 * write and waits for it, at most 10 s plus 0.25 s per MiB of buffer_size.
 * Async-signal-safe; returns at once when nothing records, in a vfork child,
 * or on a thread in the middle of omniprof's own work.  When a termination
 * signal omniprof took is ending the process meanwhile, the process ends by
 * that signal instead of returning. */
void ctl_process_ending(void);
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
/* CUDA was initialised in the process: set CUPTI up (once), and bring it
 * into a session that is already recording. */
void ctl_cuda_arrived(void);
/* fork(): pthread_atfork handlers.  Prepare waits only for records in
 * flight (microseconds, see coll_buffers_atfork_prepare), never for a
 * trace being written. */
void ctl_atfork_prepare(void);
void ctl_atfork_parent(void);
void ctl_atfork_child(void);

/* Called by preload/ to enter and leave the cuProfilerStart/Stop window of
 * profiler=cuda; NULL until preload has resolved them. */
typedef void (*ctl_cuda_profiler_fn)(bool start);
void ctl_set_cuda_profiler(ctl_cuda_profiler_fn fn);

#endif
