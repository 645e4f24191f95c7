/*
 * The process side of control: reading the configuration, the control
 * thread, signals, and the slow work of starting, stopping and writing.
 *
 * Threads:
 *   - Signal handlers (signals.c) write one byte into a pipe and return.
 *   - The control thread (all signals blocked) reads the pipe and does the
 *     work (CTL_REQ_*: start, stop, toggle, step, write a session that
 *     max_iterations ended, update the registry), then publishes the
 *     process's registry entry with the result (registry.c).
 *   - ctl_start/ctl_stop (the exported API) and ctl_shutdown (exit) do the
 *     same work on the caller's thread: the caller asked to wait for it.
 *   - A process ending without exit() (_exit, a termination signal) hands
 *     the last write to the control thread (CTL_REQ_END): the ending thread
 *     may be in a signal handler or hold locks the write needs, so it only
 *     posts and waits, bounded (ctl_process_ending).
 * work_lock serialises all of it, so a session is collected and written by
 * exactly one thread and a new one starts only after the last was written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "internal.h"
#include "python.h"
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
static char config_text[CTL_CONFIG_TEXT_MAX];
static int rank = -1;
static int world_size = -1, local_rank = -1; /* from rank's launcher; -1: not set */
static char host[128];                       /* gethostname's, as it is */
static char job[64];                         /* the launcher's job id; "" none */
static pid_t owner_pid;    /* the process this state belongs to (not a vfork child) */
static sigset_t init_mask; /* the constructor's thread's blocked signals */

/* What an ending process reads, from any thread or signal handler. */
static _Atomic bool control_alive; /* the control thread reads the pipe */
static _Atomic int busy;           /* work_lock is held: slow work under way */
static _Atomic bool session_due;   /* max_iterations ended a session; not written yet */
static _Atomic bool end_written;   /* CTL_REQ_END: the last session is written */
static _Atomic bool endings_taken; /* ctl_signals_take_endings has run */
static __thread bool working;      /* this thread holds work_lock */

/* Guarded by work_lock. */
static bool shut_down;
static ctl_cuda_profiler_fn cuda_profiler;
static struct ctl_entry entry;  /* what the registry shows of this process */
static char registry[PATH_MAX]; /* its directory; "" when unusable */
/* Stage rules (stage.c): the stage is not known yet; it was found by one.
 * Written under work_lock; stage_pending is read without it first. */
static _Atomic bool stage_pending;
static bool stage_by_rule;

/* ---- work_lock ------------------------------------------------------------ */

static void work_begin(void)
{
    pthread_mutex_lock(&work_lock);
    working = true;
    atomic_fetch_add(&busy, 1);
}

static void work_end(void)
{
    atomic_fetch_sub(&busy, 1);
    working = false;
    pthread_mutex_unlock(&work_lock);
}

/* ---- naming ------------------------------------------------------------- */

/* A launcher's variable as a number, or -1. */
static int env_number(const char *name)
{
    const char *v = name ? getenv(name) : NULL;
    char *end;
    if (!v || !*v)
        return -1;
    long r = strtol(v, &end, 10);
    return !*end && r >= 0 && r < 1 << 24 ? (int)r : -1;
}

/* The rank, and the world size and local rank the same launcher set:
 * torchrun, Open MPI, PMI (MPICH, Intel MPI), Slurm, PMIx (whose size and
 * local rank come from the MPI that runs over it); a LOCAL_RANK alone
 * still names the process.  Each column lists the names to try, in order. */
static void rank_from_env(void)
{
    static const struct {
        const char *rank, *size[2], *local[2];
    } launchers[] = {
        {"RANK", {"WORLD_SIZE"}, {"LOCAL_RANK"}},
        {"OMPI_COMM_WORLD_RANK", {"OMPI_COMM_WORLD_SIZE"}, {"OMPI_COMM_WORLD_LOCAL_RANK"}},
        {"PMI_RANK", {"PMI_SIZE"}, {"MPI_LOCALRANKID"}},
        {"SLURM_PROCID", {"SLURM_NTASKS"}, {"SLURM_LOCALID"}},
        {"PMIX_RANK",
         {"PMI_SIZE", "OMPI_COMM_WORLD_SIZE"},
         {"MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK"}},
        {"LOCAL_RANK", {"LOCAL_WORLD_SIZE"}, {"LOCAL_RANK"}},
    };
    rank = world_size = local_rank = -1;
    for (size_t i = 0; i < sizeof launchers / sizeof launchers[0] && rank < 0; i++) {
        if ((rank = env_number(launchers[i].rank)) < 0)
            continue;
        for (int k = 0; k < 2 && world_size < 0; k++)
            world_size = env_number(launchers[i].size[k]);
        for (int k = 0; k < 2 && local_rank < 0; k++)
            local_rank = env_number(launchers[i].local[k]);
    }
}

/* The job the process belongs to, as its launcher names it: Slurm's job
 * (JOB.STEP inside a job step, as scancel takes it), Open MPI's mpirun job,
 * a PMIx namespace, torchrun's run id; "" when none is set. */
static void job_from_env(char *out, size_t cap)
{
    static const char *const names[] = {"SLURM_JOB_ID", "OMPI_MCA_ess_base_jobid", "PMIX_NAMESPACE",
                                        "TORCHELASTIC_RUN_ID"};
    out[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !out[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v)
            snprintf(out, cap, "%s", v);
    }
    /* a step of the job (the batch script's and the interactive one's are
     * numbers Slurm keeps for itself, from 0xfffffff0 up) */
    long step = env_number("SLURM_STEP_ID");
    if (step < 0)
        step = env_number("SLURM_STEPID");
    if (getenv("SLURM_JOB_ID") && out[0] && step >= 0) {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, ".%ld", step);
    }
}

/* [prefix]stage-S_<host>_<pid>[_rankR], as DESIGN.md "Output" names files. */
static void name_worker(void)
{
    memset(host, 0, sizeof host);
    if (gethostname(host, sizeof host - 1) < 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    char name[sizeof host];
    memcpy(name, host, sizeof name);
    for (char *p = name; *p; p++)
        if (*p == '/' || *p == ' ')
            *p = '_';
    char stage[32] = "", rk[32] = "";
    if (cfg.stage >= 0)
        snprintf(stage, sizeof stage, "stage-%ld_", cfg.stage);
    rank_from_env();
    job_from_env(job, sizeof job);
    owner_pid = getpid();
    if (rank >= 0)
        snprintf(rk, sizeof rk, "_rank%d", rank);
    snprintf(worker, sizeof worker, "%s%s%s_%d%s", cfg.file_prefix, stage, name, (int)getpid(), rk);
}

/* ---- the registry entry (work_lock held) ----------------------------------- */

static void result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What the last control request did, for `omniprof start/stop --wait`. */
static void result(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(entry.last_result, sizeof entry.last_result, fmt, ap);
    va_end(ap);
}

static const char *state_name(void)
{
    if (cfg.profiler == CTL_PROFILER_CUDA && coll_state() == COLL_GATE_RECORDING)
        return "cuda-window";
    switch (coll_state()) {
    case COLL_GATE_ARMED: return "armed";
    case COLL_GATE_RECORDING: return "recording";
    case COLL_GATE_DONE: return "done";
    default: return "idle";
    }
}

static void publish(const char *state)
{
    if (!registry[0] || shut_down)
        return;
    snprintf(entry.state, sizeof entry.state, "%s", state ? state : state_name());
    int rc = ctl_registry_publish(registry, &entry);
    if (rc < 0) {
        coll_log(COLL_LOG_WARN, "registry",
                 "cannot write %s/%d.json: %s; omniprof list will not "
                 "see this process",
                 registry, entry.pid, strerror(-rc));
        registry[0] = '\0';
    }
}

/* A /proc/self file of NUL-separated text (cmdline) or one line (comm) as
 * one line: NULs become spaces, trailing spaces and the newline go. */
static void proc_text(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, cap - 1) : 0;
    if (fd >= 0)
        close(fd);
    n = n < 0 ? 0 : n;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\n'))
        n--;
    buf[n] = '\0';
}

/* Fills the entry's fixed fields (at start and in a fork child). */
static void describe_process(void)
{
    entry.pid = (int)getpid();
    entry.start_time = ctl_process_start_time(entry.pid);
    entry.stage = cfg.stage;
    entry.stage_pending = stage_pending;
    entry.rank = rank;
    entry.world_size = world_size;
    entry.local_rank = local_rank;
    snprintf(entry.host, sizeof entry.host, "%s", host);
    snprintf(entry.job, sizeof entry.job, "%s", job);
    snprintf(entry.worker, sizeof entry.worker, "%s", worker);
    snprintf(entry.config, sizeof entry.config, "%s", config_text);
    entry.toggle_signal = cfg.toggle_signal;
    entry.stop_signal = cfg.stop_signal;
    entry.step_signal = cfg.step_signal;
    entry.requests = 0;
    entry.last_result[0] = '\0';
    entry.n_files = 0;
    const char *dir = ctl_config_dir(&cfg);
    char cwd[PATH_MAX] = "";
    if (dir[0] != '/' && getcwd(cwd, sizeof cwd))
        snprintf(entry.dir, sizeof entry.dir, "%.2000s/%.2000s", cwd, dir);
    else
        snprintf(entry.dir, sizeof entry.dir, "%s", dir);
    proc_text("/proc/self/cmdline", entry.cmdline, sizeof entry.cmdline);
}

/* A pending stage, from the rules (work_lock held): stage_env's variable
 * as the process's environment has it now (Python's os.environ writes
 * through to it), then the process title and command line as they are now.
 * Once found the stage is kept, and the file names, the registry entry and
 * the stages filter follow it.  Returns whether it was found now. */
static bool resolve_stage(void)
{
    if (!stage_pending)
        return false;
    long stage = -1;
    char why[sizeof cfg.stage_env + 32] = "";
    if (cfg.stage_env[0]) {
        stage = ctl_stage_of_value(&cfg, getenv(cfg.stage_env));
        snprintf(why, sizeof why, "%s", cfg.stage_env);
    }
    static char text[sizeof entry.cmdline];
    const char *const sources[] = {"/proc/self/comm", "/proc/self/cmdline"};
    for (size_t i = 0; stage < 0 && cfg.stage_title[0] && i < 2; i++) {
        proc_text(sources[i], text, sizeof text);
        stage = ctl_stage_of_title(&cfg, text);
        snprintf(why, sizeof why, "%s", i ? "the command line" : "the process title");
    }
    if (stage < 0)
        return false;
    cfg.stage = stage;
    stage_by_rule = true;
    stage_pending = false;
    name_worker();
    entry.stage = stage;
    entry.stage_pending = false;
    snprintf(entry.worker, sizeof entry.worker, "%s", worker);
    proc_text("/proc/self/cmdline", entry.cmdline, sizeof entry.cmdline);
    coll_log(COLL_LOG_DEBUG, NULL, "stage %ld, from %s", stage, why);
    return true;
}

/* ---- the slow work (work_lock held) --------------------------------------- */

static bool write_session(bool keep_empty);

static bool write_pending(void)
{
    return write_session(true);
}

/* Collects a stopped session and writes it; keep_empty=false drops a
 * session that recorded and counted nothing (e.g. a fork child that exec'd
 * at once).  The result and the files go into the registry entry; true
 * when it set them. */
static bool write_session(bool keep_empty)
{
    if (!coll_pending())
        return false;
    publish("writing");
    if (coll_state() == COLL_GATE_DONE)
        coll_log(COLL_LOG_INFO, NULL, "max_iterations (%ld) reached", cfg.max_iterations);
    struct coll_session *s = coll_collect();
    if (!s) {
        result("the session was lost (out of memory)");
        return true;
    }
    if (!keep_empty && coll_session_empty(s)) {
        coll_session_free(s);
        return false;
    }
    struct wr_options o = {
        .dir = ctl_config_dir(&cfg),
        .worker = worker,
        .gzip = cfg.use_gzip,
        .gzip_level = (int)cfg.gzip_level,
        .table_rows = (size_t)cfg.table_rows,
        .table = cfg.dump_cuda_time_total,
        .version = OMNIPROF_VERSION,
        .config = config_text,
        .process_name = program_invocation_short_name,
        .pid = (int)getpid(),
        .stage = (int)cfg.stage,
        .rank = rank,
        .world_size = world_size,
        .local_rank = local_rank,
        .host = host,
        .job = job,
        .with_stack = cfg.with_stack,
        .record_shapes = cfg.record_shapes,
        .profile_memory = cfg.with_memory,
        .table_to_stderr = cfg.log_level >= COLL_LOG_DEBUG,
        .report = cfg.report,
    };
    struct wr_result r;
    int rc = wr_write_session(s, &o, &r);
    entry.n_files = 0;
    if (rc == 0) {
        coll_log(COLL_LOG_INFO, NULL, "wrote %s (%zu events)%s%s%s%s", r.trace_path, s->n_events,
                 r.table_path[0] ? " and " : "", r.table_path[0] ? r.table_path : "",
                 r.report_path[0] ? " and " : "", r.report_path[0] ? r.report_path : "");
        result("wrote %zu events", s->n_events);
        snprintf(entry.last_files[entry.n_files++], PATH_MAX, "%s", r.trace_path);
        if (r.table_path[0])
            snprintf(entry.last_files[entry.n_files++], PATH_MAX, "%s", r.table_path);
        if (r.report_path[0])
            snprintf(entry.last_files[entry.n_files++], PATH_MAX, "%s", r.report_path);
        /* each cause named as it is: a full table of threads is not full buffers */
        if (s->dropped_no_slot)
            coll_log(COLL_LOG_WARN, NULL,
                     "max_threads (%ld) exhausted: thread %d records nothing (%llu events "
                     "dropped); raise max_threads",
                     cfg.max_threads, (int)s->no_slot_tid, (unsigned long long)s->dropped_no_slot);
        if (s->dropped > s->dropped_no_slot)
            coll_log(COLL_LOG_WARN, NULL,
                     "%llu events dropped: event buffers full (buffer_size=%ld MiB); raise "
                     "buffer_size",
                     (unsigned long long)(s->dropped - s->dropped_no_slot), cfg.buffer_size);
        if (s->gpu_dropped_cupti)
            coll_log(COLL_LOG_WARN, "cupti",
                     "CUPTI dropped %llu activity records (its buffers were full); raise "
                     "cupti_buffer_size",
                     (unsigned long long)s->gpu_dropped_cupti);
    } else {
        result("writing to %s failed: %s", o.dir, strerror(-rc));
    }
    coll_session_free(s);
    return true;
}

/* The process ends: stops and writes a running session, and leaves the
 * registry.  Nothing starts after it. */
static void finish(void)
{
    if (shut_down)
        return;
    /* At exit a session without a single event is not worth a file (a shell
     * or launcher under autostart that ran no CUDA). */
    write_session(true);
    coll_stop();
    write_session(false);
    if (registry[0] && getpid() == owner_pid)
        ctl_registry_remove(registry, entry.pid);
    shut_down = true;
}

/* level: COLL_LOG_INFO, or COLL_LOG_DEBUG where starting is routine (a
 * fork child under autostart). */
static void start_session(int level)
{
    if (shut_down)
        return;
    write_pending();
    coll_python_init(coll_opt.with_stack && cfg.python_stack); /* a libpython opened since */
    enum coll_gate_state before = coll_state();
    if (before == COLL_GATE_RECORDING) {
        coll_log(level, NULL, "already recording");
        result("already recording");
        return;
    }
    if (coll_start() == COLL_GATE_BEGIN) {
        coll_log(level, NULL, "recording started");
        result("recording");
    } else {
        coll_log(level, NULL, "armed: recording begins after %ld steps", cfg.delay_iterations);
        result("armed: recording begins after %ld steps", cfg.delay_iterations);
    }
}

static void do_start(void)
{
    start_session(COLL_LOG_INFO);
}

static void do_stop(void)
{
    int last_files = entry.n_files;
    entry.n_files = 0;
    bool wrote = write_pending(); /* one that max_iterations ended, not written yet */
    enum coll_gate_state before = coll_state();
    coll_stop();
    if (before == COLL_GATE_RECORDING)
        coll_log(COLL_LOG_INFO, NULL, "recording stopped");
    wrote |= write_pending();
    if (wrote)
        return;
    if (before == COLL_GATE_DONE) {
        /* max_iterations ended the session and it was written then: those
         * are the files this stop would have written */
        entry.n_files = last_files;
        result("max_iterations (%ld) had ended the session; it was written", cfg.max_iterations);
    } else {
        result(before == COLL_GATE_ARMED ? "armed, nothing recorded yet: disarmed"
                                         : "not recording: nothing to write");
    }
}

static bool stage_selected(void)
{
    resolve_stage(); /* a stage known only since start-up is found at a request */
    if (cfg.n_stages == 0)
        return true;
    for (int i = 0; i < cfg.n_stages; i++)
        if (cfg.stages[i] == cfg.stage)
            return true;
    return false;
}

static void handle_request(char req)
{
    bool selected;
    work_begin();
    switch (req) {
    case CTL_REQ_FLUSH:
        write_pending();
        atomic_store(&session_due, false);
        break;
    case CTL_REQ_END: finish(); break;
    case CTL_REQ_PUBLISH: break;
    case CTL_REQ_STEP:
        /* a step signal marks the process's iteration: its main thread's */
        coll_step_as((int32_t)getpid());
        break;
    case CTL_REQ_RESOLVE:
        resolve_stage();
        entry.requests++; /* the answer `omniprof start --stages` waits for */
        break;
    case CTL_REQ_START:
    case CTL_REQ_STOP:
    case CTL_REQ_TOGGLE:
        selected = stage_selected();
        if (!selected && stage_pending) {
            coll_log(COLL_LOG_INFO, NULL, "no stage rule has matched yet; signal ignored");
            result("stage not known yet (no stage rule has matched): ignored");
            entry.n_files = 0;
        } else if (!selected) {
            coll_log(COLL_LOG_INFO, NULL, "stage %ld is not in stages; signal ignored", cfg.stage);
            result("stage %ld is not in stages: ignored", cfg.stage);
            entry.n_files = 0;
        } else if (req == CTL_REQ_START) {
            start_session(COLL_LOG_INFO);
        } else if (req == CTL_REQ_STOP) {
            do_stop();
        } else {
            enum coll_gate_state st = coll_state();
            if (st == COLL_GATE_RECORDING || st == COLL_GATE_ARMED)
                do_stop();
            else
                do_start();
        }
        /* Counted only now: `omniprof start/stop --wait` takes a moved count
         * as the answer, and a stop publishes "writing" on its way. */
        entry.requests++;
        break;
    }
    publish(NULL);
    work_end();
    if (req == CTL_REQ_END) {
        atomic_store(&end_written, true);
        int sig = atomic_load(&ctl_end_signal);
        if (sig)
            ctl_die_by(sig);
    }
}

/* ---- the control thread ----------------------------------------------------- */

/* A step began or ended a session (on the stepping thread). */
static void on_state_change(enum coll_gate_action action)
{
    if (action == COLL_GATE_END)
        atomic_store(&session_due, true);
    ctl_pipe_post(action == COLL_GATE_END ? CTL_REQ_FLUSH : CTL_REQ_PUBLISH);
}

/* Reads requests; between them, installs step_on=py: when it waits to be
 * (coll_python_step_tick says when to look again). */
static void *control_thread(void *arg)
{
    (void)arg;
    char buf[64];
    ssize_t n;
    do {
        n = ctl_pipe_read(buf, sizeof buf, coll_python_step_tick(coll_state() != COLL_GATE_IDLE));
        for (ssize_t i = 0; i < n; i++)
            handle_request(buf[i]);
    } while (n >= 0);
    atomic_store(&control_alive, false); /* nobody reads requests any more */
    return NULL;
}

static int start_thread(void)
{
    atomic_store(&control_alive, false);
    int made = ctl_pipe_open();
    if (made < 0)
        return made;
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
    atomic_store(&control_alive, rc == 0);
    return -rc;
}

/* ---- entry points ----------------------------------------------------------- */

static void cuda_window(bool begin)
{
    if (cuda_profiler)
        cuda_profiler(begin);
}

static void init(void)
{
    pthread_sigmask(SIG_BLOCK, NULL, &init_mask);
    ctl_config_defaults(&cfg);
    struct ctl_error err = {{0}};
    if (ctl_config_load_env(&cfg, environ, &err) < 0 ||
        ctl_config_validate(&cfg, "configuration", &err) < 0) {
        coll_log(COLL_LOG_ERROR, "config", "%s; profiling is off", err.msg);
        return;
    }
    coll_log_set_level((int)cfg.log_level);
    if (ctl_config_serialize(&cfg, config_text, sizeof config_text) < 0) {
        /* cannot happen with CTL_CONFIG_TEXT_MAX; a cut text would lie */
        coll_log(COLL_LOG_ERROR, "config",
                 "the configuration does not fit %zu bytes; "
                 "profiling is off",
                 sizeof config_text);
        return;
    }
    name_worker();
    bool own_trace = cfg.profiler != CTL_PROFILER_CUDA;
    if (own_trace &&
        coll_buffers_init((size_t)cfg.buffer_size << 20, (unsigned)cfg.max_threads) < 0)
        return;
    struct coll_options opt = {.step_on = coll_api_by_name(cfg.step_on)};
    if (strncmp(cfg.step_on, "nvtx:", 5) == 0)
        coll_nvtx_step_on(cfg.step_on + 5, &opt);
    char module[sizeof cfg.step_on], qualname[sizeof cfg.step_on];
    if (ctl_step_on_python(&cfg, module, sizeof module, qualname, sizeof qualname))
        coll_python_step_on(module, qualname);
    if (own_trace) {
        opt.stack_depth = (int)cfg.stack_depth;
        opt.with_stack = cfg.with_stack && coll_stacks_init(MAX_STACKS, (int)cfg.stack_depth) == 0;
        coll_python_init(opt.with_stack && cfg.python_stack);
        opt.with_memory = cfg.with_memory && coll_memory_init(MAX_LIVE_ALLOCATIONS) == 0;
        opt.record_shapes = cfg.record_shapes;
    }
    coll_set_options(&opt);
    coll_configure(cfg.delay_iterations, cfg.max_iterations, own_trace);
    coll_set_state_notify(on_state_change);
    coll_set_transition_hook(own_trace ? NULL : cuda_window);
    if (start_thread() < 0) {
        coll_log(COLL_LOG_ERROR, NULL, "cannot start the control thread; signals are not taken");
        cfg.toggle_signal = cfg.stop_signal = cfg.step_signal = 0;
    } else {
        struct ctl_signals taken;
        ctl_signals_take(&cfg, &taken);
        /* what the registry shows is what was really taken */
        cfg.toggle_signal = taken.toggle;
        cfg.stop_signal = taken.stop;
        cfg.step_signal = taken.step;
    }
    enabled = true;
    struct ctl_error rerr;
    if (ctl_registry_dir(&cfg, registry, sizeof registry, &rerr) < 0) {
        coll_log(COLL_LOG_WARN, "registry",
                 "%s; omniprof list/start/stop will not see this process", rerr.msg);
        registry[0] = '\0';
    }
    work_begin();
    stage_pending = ctl_stage_by_rule(&cfg);
    describe_process();
    if (cfg.autostart) {
        /* Quiet: under autostart every process of a tree (shells, shims,
         * launchers) starts a session; the files written say what happened. */
        start_session(COLL_LOG_DEBUG);
    }
    publish(NULL);
    work_end();
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
    work_begin();
    do_start();
    publish(NULL);
    work_end();
}

void ctl_stop(void)
{
    ctl_init();
    if (!enabled)
        return;
    work_begin();
    do_stop();
    publish(NULL);
    work_end();
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

/* A termination signal omniprof took arrived and the session is written:
 * the process ends by it now, as it would have at once without omniprof. */
static void end_if_signalled(void)
{
    int sig = atomic_load(&ctl_end_signal);
    if (sig && getpid() == owner_pid)
        ctl_die_by(sig);
}

void ctl_shutdown(void)
{
    if (!enabled)
        return;
    work_begin();
    finish();
    work_end();
    end_if_signalled();
}

bool ctl_end_worth_writing(void)
{
    return enabled && atomic_load(&control_alive) && getpid() == owner_pid &&
           (coll_recording() || atomic_load(&session_due) || atomic_load(&busy) > 0);
}

/* How long an ending process waits for the control thread: events write
 * at about 0.1 s per MiB of buffer at gzip level 9 (measured on a 2-core
 * machine; stacks cost more), and the rest is for symbolizing and CUPTI's
 * last records. */
static double end_wait_limit(void)
{
    return 10.0 + 0.25 * (double)cfg.buffer_size;
}

/* Waits (async-signal-safe: clock_gettime, nanosleep) until the control
 * thread has written the last session, or the limit passed. */
static void wait_end_written(void)
{
    struct timespec t0, now, nap = {0, 100 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!atomic_load(&end_written)) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 >
            end_wait_limit()) {
            static const char msg[] = "omniprof: the session was not written in time; the "
                                      "process ends without it\n";
            ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
            (void)w;
            return;
        }
        nanosleep(&nap, NULL);
        if (nap.tv_nsec < 10 * 1000 * 1000)
            nap.tv_nsec *= 2;
    }
}

void ctl_process_ending(void)
{
    int saved = errno;
    /* A thread holding work_lock (a handler that interrupted omniprof's own
     * work on it) would wait for itself. */
    if (!working && ctl_end_worth_writing() && ctl_pipe_post(CTL_REQ_END))
        wait_end_written();
    if (!working)
        end_if_signalled();
    errno = saved;
}

void ctl_cuda_arrived(void)
{
    if (!enabled)
        return;
    if (stage_pending) { /* what the program set before it started CUDA */
        work_begin();
        if (resolve_stage())
            publish(NULL);
        work_end();
    }
    /* SIGTERM and SIGINT are taken only now: an interpreter (Python) has set
     * up its own signal handling by the time it starts CUDA, and one that
     * found a handler of ours at its start would leave SIGINT alone (no
     * KeyboardInterrupt).  Before CUDA there is nothing worth writing. */
    if (cfg.profiler != CTL_PROFILER_CUDA && atomic_load(&control_alive) &&
        !atomic_exchange(&endings_taken, true))
        ctl_signals_take_endings(&init_mask);
    if (!cfg.cupti || cfg.profiler == CTL_PROFILER_CUDA || atomic_load(&coll_cupti_active))
        return;
    if (coll_cupti_setup(cfg.cupti_path, (size_t)cfg.cupti_buffer_size << 20) == 0 &&
        coll_recording() && coll_cupti_begin() < 0) /* a session that began before CUDA did */
        coll_log(COLL_LOG_DEBUG, "cupti", "this session records through the hooks");
}

bool ctl_follow_exec(void)
{
    return !enabled || cfg.follow_exec;
}

bool ctl_exec_prepare(void)
{
    if (!enabled || getpid() != owner_pid)
        return false;
    work_begin();
    bool recording = coll_state() == COLL_GATE_RECORDING;
    write_session(false); /* one that max_iterations ended */
    if (coll_stop() == COLL_GATE_END)
        write_session(false);
    /* The new image registers itself if it is profiled; if it is not, an
     * entry left here would look alive under the same pid. */
    if (registry[0])
        ctl_registry_remove(registry, entry.pid);
    work_end();
    return recording;
}

void ctl_exec_failed(bool was_recording)
{
    if (getpid() != owner_pid)
        return;
    if (was_recording)
        ctl_start();
    work_begin();
    publish(NULL);
    work_end();
}

/* No lock is held across fork(): a fork in the program never waits for a
 * trace being written, only for records in flight (no unwind may be under
 * way as the child is copied).  The child takes nothing of the parent's
 * control state as it is: it makes its own lock, pipe, thread and entry. */
void ctl_atfork_prepare(void)
{
    coll_python_atfork_prepare();
    coll_buffers_atfork_prepare();
}

void ctl_atfork_parent(void)
{
    coll_buffers_atfork_parent();
}

void ctl_atfork_child(void)
{
    pthread_mutex_init(&work_lock, NULL);
    coll_python_atfork_child();
    coll_python_step_atfork_child();
    working = false;
    atomic_store(&busy, 0);
    atomic_store(&session_due, false);
    atomic_store(&end_written, false);
    atomic_store(&ctl_end_signal, 0); /* the parent's ending is not the child's */
    if (!enabled)
        return;
    /* The parent's session stays the parent's: the child starts idle, with
     * its own name, pipe and control thread. */
    coll_session_atfork_child();
    if (stage_by_rule) {
        /* a fork worker says who it is after the fork, as a spawned one does */
        cfg.stage = -1;
        stage_by_rule = false;
        stage_pending = true;
    }
    name_worker();
    ctl_pipe_drop_inherited();
    if (start_thread() < 0)
        coll_log(COLL_LOG_ERROR, NULL, "cannot start the control thread in the child");
    describe_process();
    if (cfg.autostart)
        start_session(COLL_LOG_DEBUG); /* the child is a process of its own: its own session */
    publish(NULL);
}
