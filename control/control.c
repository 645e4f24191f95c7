/*
 * The process side of control: reading the configuration, the control
 * thread, signals, and the slow work of starting, stopping and writing.
 *
 * Threads:
 *   - Signal handlers write one byte into a pipe and return (errno kept).
 *   - The control thread (all signals blocked) reads the pipe and does the
 *     work: 'T' toggle, 'S' stop, 'F' write a session that max_iterations
 *     ended.
 *   - ctl_start/ctl_stop (the exported API) and ctl_shutdown (exit) do the
 *     same work on the caller's thread: the caller asked to wait for it.
 * work_lock serialises all of it, so a session is collected and written by
 * exactly one thread and a new one starts only after the last was written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "control.h"
#include "writer.h"

extern char **environ;

/* Distinct host stacks kept (x stack_depth frames), and live allocations
 * tracked with with_memory: mapped once, touched as they fill. */
#define MAX_STACKS 16384
#define MAX_LIVE_ALLOCATIONS (1u << 18)

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;

/* Written once by init (and again in a fork child), read-only after. */
static struct ctl_config cfg;
static bool enabled; /* configuration valid and buffers ready */
static char worker[256];
static char config_text[8192];
static int rank = -1;
static pid_t owner_pid; /* the process this state belongs to (not a vfork child) */
static int pipe_fd[2] = {-1, -1};

/* Guarded by work_lock. */
static bool shut_down;
static ctl_cuda_profiler_fn cuda_profiler;

/* ---- naming ------------------------------------------------------------- */

static int rank_from_env(void)
{
    static const char *const vars[] = {"RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID",
                                       "LOCAL_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        char *end;
        if (v && *v) {
            long r = strtol(v, &end, 10);
            if (!*end && r >= 0 && r < 1 << 24)
                return (int)r;
        }
    }
    return -1;
}

/* [prefix]stage-S_<host>_<pid>[_rankR], as DESIGN.md "Output" names files. */
static void name_worker(void)
{
    char host[128] = "localhost";
    gethostname(host, sizeof host - 1);
    for (char *p = host; *p; p++)
        if (*p == '/' || *p == ' ')
            *p = '_';
    char stage[32] = "", rk[32] = "";
    if (cfg.stage >= 0)
        snprintf(stage, sizeof stage, "stage-%ld_", cfg.stage);
    rank = rank_from_env();
    owner_pid = getpid();
    if (rank >= 0)
        snprintf(rk, sizeof rk, "_rank%d", rank);
    snprintf(worker, sizeof worker, "%s%s%s_%d%s", cfg.file_prefix, stage, host, (int)getpid(), rk);
}

/* ---- the slow work (work_lock held) --------------------------------------- */

static void write_session(bool keep_empty);

static void write_pending(void)
{
    write_session(true);
}

/* Collects a stopped session and writes it; keep_empty=false drops a
 * session without events (e.g. a fork child that exec'd at once). */
static void write_session(bool keep_empty)
{
    if (!coll_pending())
        return;
    if (coll_state() == COLL_GATE_DONE)
        coll_log(COLL_LOG_INFO, NULL, "max_iterations (%ld) reached", cfg.max_iterations);
    struct coll_session *s = coll_collect();
    if (!s)
        return;
    if (!keep_empty && s->n_events == 0) {
        coll_session_free(s);
        return;
    }
    struct wr_options o = {
        .dir = ctl_config_dir(&cfg),
        .worker = worker,
        .gzip = cfg.use_gzip,
        .gzip_level = (int)cfg.gzip_level,
        .table = cfg.dump_cuda_time_total,
        .version = OMNIPROF_VERSION,
        .config = config_text,
        .process_name = program_invocation_short_name,
        .pid = (int)getpid(),
        .stage = (int)cfg.stage,
        .rank = rank,
        .with_stack = cfg.with_stack,
        .record_shapes = cfg.record_shapes,
        .profile_memory = cfg.with_memory,
        .table_to_stderr = cfg.log_level >= COLL_LOG_DEBUG,
    };
    struct wr_result r;
    if (wr_write_session(s, &o, &r) == 0) {
        coll_log(COLL_LOG_INFO, NULL, "wrote %s (%zu events)%s%s", r.trace_path, s->n_events,
                 r.table_path[0] ? " and " : "", r.table_path[0] ? r.table_path : "");
        if (s->dropped)
            coll_log(COLL_LOG_WARN, NULL,
                     "%llu events were dropped because the buffers were full; raise buffer_size "
                     "(now %ld MiB)",
                     (unsigned long long)s->dropped, cfg.buffer_size);
    }
    coll_session_free(s);
}

/* level: COLL_LOG_INFO, or COLL_LOG_DEBUG where starting is routine (a
 * fork child under autostart). */
static void start_session(int level)
{
    if (shut_down)
        return;
    write_pending();
    enum coll_gate_state before = coll_state();
    if (before == COLL_GATE_RECORDING) {
        coll_log(level, NULL, "already recording");
        return;
    }
    if (coll_start() == COLL_GATE_BEGIN)
        coll_log(level, NULL, "recording started");
    else
        coll_log(level, NULL, "armed: recording begins after %ld steps", cfg.delay_iterations);
}

static void do_start(void)
{
    start_session(COLL_LOG_INFO);
}

static void do_stop(void)
{
    write_pending(); /* one that max_iterations ended, not written yet */
    enum coll_gate_state before = coll_state();
    coll_stop();
    if (before == COLL_GATE_RECORDING)
        coll_log(COLL_LOG_INFO, NULL, "recording stopped");
    write_pending();
}

static bool stage_selected(void)
{
    if (cfg.n_stages == 0)
        return true;
    for (int i = 0; i < cfg.n_stages; i++)
        if (cfg.stages[i] == cfg.stage)
            return true;
    return false;
}

static void handle_request(char req)
{
    pthread_mutex_lock(&work_lock);
    if (req == 'F') {
        write_pending();
    } else if (!stage_selected()) {
        coll_log(COLL_LOG_INFO, NULL, "stage %ld is not in stages; signal ignored", cfg.stage);
    } else if (req == 'S') {
        do_stop();
    } else if (req == 'T') {
        enum coll_gate_state st = coll_state();
        if (st == COLL_GATE_RECORDING || st == COLL_GATE_ARMED)
            do_stop();
        else
            do_start();
    }
    pthread_mutex_unlock(&work_lock);
}

/* ---- signals and the control thread ------------------------------------- */

static void post(char req)
{
    if (pipe_fd[1] < 0)
        return;
    int saved = errno;
    ssize_t w = write(pipe_fd[1], &req, 1);
    (void)w;
    errno = saved;
}

static void on_signal(int sig)
{
    post(sig == cfg.stop_signal ? 'S' : 'T');
}

static void on_session_end(void)
{
    post('F');
}

static void *control_thread(void *arg)
{
    (void)arg;
    char buf[64];
    for (;;) {
        ssize_t n = read(pipe_fd[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        for (ssize_t i = 0; i < n; i++)
            handle_request(buf[i]);
    }
}

static int start_thread(void)
{
    if (pipe2(pipe_fd, O_CLOEXEC) < 0)
        return -errno;
    fcntl(pipe_fd[1], F_SETFL, O_NONBLOCK);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread inherits "all blocked" */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &attr, control_thread, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        pthread_setname_np(t, "omniprof");
    return -rc;
}

static void take_signal(int sig, const char *key)
{
    if (!sig)
        return;
    char name[32];
    ctl_signal_name(sig, name, sizeof name);
    struct sigaction old;
    if (sigaction(sig, NULL, &old) == 0 && old.sa_handler != SIG_DFL) {
        coll_log(COLL_LOG_WARN, "signals",
                 "%s is already handled by the program; omniprof leaves it alone (set %s= to "
                 "another signal, e.g. OMNIPROF_%s=SIGRTMIN+3)",
                 name, key, strcmp(key, "toggle_signal") == 0 ? "TOGGLE_SIGNAL" : "STOP_SIGNAL");
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* ---- entry points ----------------------------------------------------------- */

static void cuda_window(bool begin)
{
    if (cuda_profiler)
        cuda_profiler(begin);
}

static void init(void)
{
    ctl_config_defaults(&cfg);
    struct ctl_error err = {{0}};
    if (ctl_config_load_env(&cfg, environ, &err) < 0 ||
        ctl_config_validate(&cfg, "configuration", &err) < 0) {
        coll_log(COLL_LOG_ERROR, "config", "%s; profiling is off", err.msg);
        return;
    }
    coll_log_set_level((int)cfg.log_level);
    ctl_config_serialize(&cfg, config_text, sizeof config_text);
    name_worker();
    bool own_trace = cfg.profiler != CTL_PROFILER_CUDA;
    if (own_trace && coll_buffers_init((size_t)cfg.buffer_size << 20, (unsigned)cfg.max_threads) < 0)
        return;
    if (own_trace) {
        coll_opt.stack_depth = (int)cfg.stack_depth;
        coll_opt.with_stack = cfg.with_stack && coll_stacks_init(MAX_STACKS, (int)cfg.stack_depth) == 0;
        coll_opt.with_memory = cfg.with_memory && coll_memory_init(MAX_LIVE_ALLOCATIONS) == 0;
        coll_opt.record_shapes = cfg.record_shapes;
    }
    coll_configure(cfg.delay_iterations, cfg.max_iterations, own_trace);
    coll_set_flush_notify(on_session_end);
    coll_set_transition_hook(own_trace ? NULL : cuda_window);
    if (start_thread() < 0) {
        coll_log(COLL_LOG_ERROR, NULL, "cannot start the control thread; signals are not taken");
    } else {
        take_signal(cfg.toggle_signal, "toggle_signal");
        take_signal(cfg.stop_signal, "stop_signal");
    }
    enabled = true;
    if (cfg.autostart) {
        /* Quiet: under autostart every process of a tree (shells, shims,
         * launchers) starts a session; the files written say what happened. */
        pthread_mutex_lock(&work_lock);
        start_session(COLL_LOG_DEBUG);
        pthread_mutex_unlock(&work_lock);
    }
}

void ctl_init(void)
{
    pthread_once(&init_once, init);
}

void ctl_set_cuda_profiler(ctl_cuda_profiler_fn fn)
{
    cuda_profiler = fn;
}

void ctl_start(void)
{
    ctl_init();
    if (!enabled)
        return;
    pthread_mutex_lock(&work_lock);
    do_start();
    pthread_mutex_unlock(&work_lock);
}

void ctl_stop(void)
{
    ctl_init();
    if (!enabled)
        return;
    pthread_mutex_lock(&work_lock);
    do_stop();
    pthread_mutex_unlock(&work_lock);
}

void ctl_step(void)
{
    if (enabled)
        coll_step();
}

bool ctl_is_running(void)
{
    return enabled && coll_state() == COLL_GATE_RECORDING;
}

void ctl_shutdown(void)
{
    if (!enabled)
        return;
    pthread_mutex_lock(&work_lock);
    if (!shut_down) {
        /* At exit a session without a single event is not worth a file
         * (a shell or launcher under autostart that ran no CUDA). */
        write_session(true);
        coll_stop();
        write_session(false);
        shut_down = true;
    }
    pthread_mutex_unlock(&work_lock);
}

bool ctl_follow_exec(void)
{
    return !enabled || cfg.follow_exec;
}

bool ctl_exec_prepare(void)
{
    if (!enabled || getpid() != owner_pid)
        return false;
    pthread_mutex_lock(&work_lock);
    bool recording = coll_state() == COLL_GATE_RECORDING;
    write_session(false); /* one that max_iterations ended */
    if (coll_stop() == COLL_GATE_END)
        write_session(false);
    pthread_mutex_unlock(&work_lock);
    return recording;
}

void ctl_exec_failed(bool was_recording)
{
    if (was_recording && getpid() == owner_pid)
        ctl_start();
}

void ctl_atfork_prepare(void)
{
    pthread_mutex_lock(&work_lock);
}

void ctl_atfork_parent(void)
{
    pthread_mutex_unlock(&work_lock);
}

void ctl_atfork_child(void)
{
    pthread_mutex_init(&work_lock, NULL);
    if (!enabled)
        return;
    /* The parent's session stays the parent's: the child starts idle, with
     * its own name, pipe and control thread. */
    coll_session_atfork_child();
    name_worker();
    if (pipe_fd[0] >= 0) {
        close(pipe_fd[0]);
        close(pipe_fd[1]);
        pipe_fd[0] = pipe_fd[1] = -1;
    }
    if (start_thread() < 0)
        coll_log(COLL_LOG_ERROR, NULL, "cannot start the control thread in the child");
    if (cfg.autostart)
        start_session(COLL_LOG_DEBUG); /* the child is a process of its own: its own session */
}
