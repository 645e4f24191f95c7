/*
 * The signals omniprof takes.  Handlers only write one byte into the
 * control pipe (errno kept) and return; the control thread does the work.
 *
 *   toggle_signal (SIGUSR1): start when idle, stop and write when running.
 *     Sent with sigqueue() and a value (what the omniprof command does),
 *     it says exactly what to do: CTL_SIGNAL_START or CTL_SIGNAL_STOP (or
 *     CTL_SIGNAL_RESOLVE: find a pending stage and answer).
 *   stop_signal (SIGUSR2): stop and write.
 *   step_signal (a free real-time signal by default): an iteration boundary.
 *
 * Only SIGUSR1, SIGUSR2 and the real-time signals are ever taken
 * (ctl_signal_allowed): a crash signal, one the system sends on its own or
 * one that ends the program keeps its meaning.  A signal the program
 * already handles (or ignores) is not taken: one warning names the key that
 * picks another.
 *
 * SIGTERM and SIGINT at their default action end the process without any
 * exit code running, and a recording session with it.  Where the program
 * leaves them so, omniprof takes them once CUDA has started (see
 * ctl_cuda_arrived) and keeps their meaning: the handler puts the signal
 * back to its default action (a second one ends the process at once) and
 * either asks the control thread to write the session and then end the
 * process by the same signal (CTL_REQ_END, ctl_end_signal), or, with
 * nothing to write, sends it again at once.  A program that installs its
 * own handler later replaces ours, as sigaction does.  One blocked on the
 * thread that starts CUDA, or on the constructor's, is waited for with
 * sigwait and left alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collector.h"
#include "internal.h"

static int sig_toggle, sig_stop, sig_step;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int saved = errno;
    char req = CTL_REQ_TOGGLE;
    if (sig == sig_step)
        req = CTL_REQ_STEP;
    else if (sig == sig_stop)
        req = CTL_REQ_STOP;
    else if (si && si->si_code == SI_QUEUE && si->si_value.sival_int == CTL_SIGNAL_START)
        req = CTL_REQ_START;
    else if (si && si->si_code == SI_QUEUE && si->si_value.sival_int == CTL_SIGNAL_STOP)
        req = CTL_REQ_STOP;
    else if (si && si->si_code == SI_QUEUE && si->si_value.sival_int == CTL_SIGNAL_RESOLVE)
        req = CTL_REQ_RESOLVE;
    ctl_pipe_post(req);
    errno = saved;
}

static bool owned_by_program(int sig)
{
    struct sigaction old;
    return sigaction(sig, NULL, &old) == 0 && old.sa_handler != SIG_DFL;
}

/* Installs the handler for sig; returns sig, or 0 when the program owns it. */
static int take(int sig, const char *key, const char *var)
{
    if (sig <= 0 || !ctl_signal_allowed(sig)) /* the config refuses them too */
        return 0;
    char name[32];
    ctl_signal_name(sig, name, sizeof name);
    if (owned_by_program(sig)) {
        coll_log(COLL_LOG_WARN, "signals",
                 "%s is already handled by the program; omniprof leaves it alone (set %s= to "
                 "another signal, e.g. %s=SIGRTMIN+3)",
                 name, key, var);
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_RESTART | SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL) == 0 ? sig : 0;
}

/* step_signal=auto: the first real-time signal nobody handles. */
static int free_realtime_signal(void)
{
    for (int sig = SIGRTMIN + 2; sig <= SIGRTMAX - 2; sig++)
        if (sig != sig_toggle && sig != sig_stop && !owned_by_program(sig))
            return sig;
    return 0;
}

void ctl_signals_take(const struct ctl_config *c, struct ctl_signals *taken)
{
    sig_toggle = take(c->toggle_signal, "toggle_signal", "OMNIPROF_TOGGLE_SIGNAL");
    sig_stop = take(c->stop_signal, "stop_signal", "OMNIPROF_STOP_SIGNAL");
    int step = c->step_signal < 0 ? free_realtime_signal() : c->step_signal;
    sig_step = take(step, "step_signal", "OMNIPROF_STEP_SIGNAL");
    taken->toggle = sig_toggle;
    taken->stop = sig_stop;
    taken->step = sig_step;
}

/* ---- the process ending ------------------------------------------------------ */

_Atomic int ctl_end_signal;

static void default_action(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* sig to the calling thread, by system call: libomniprof.so's own kill and
 * raise are the interposed ones (preload/hooks_exit.c). */
static void resend(int sig)
{
    syscall(SYS_tgkill, (long)getpid(), (long)syscall(SYS_gettid), (long)sig);
}

static void on_ending(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    int saved = errno;
    default_action(sig);
    int none = 0;
    if (!ctl_end_worth_writing() || !atomic_compare_exchange_strong(&ctl_end_signal, &none, sig) ||
        !ctl_pipe_post(CTL_REQ_END))
        resend(sig); /* pending while the handler runs; the default action after it */
    errno = saved;
}

void ctl_signals_take_endings(const sigset_t *init_mask)
{
    static const int endings[] = {SIGTERM, SIGINT};
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    for (size_t i = 0; i < sizeof endings / sizeof *endings; i++) {
        int sig = endings[i];
        char name[32];
        ctl_signal_name(sig, name, sizeof name);
        if (sigismember(init_mask, sig) == 1 || sigismember(&now, sig) == 1 ||
            owned_by_program(sig)) {
            coll_log(COLL_LOG_DEBUG, "signals",
                     "%s is the program's: a session running when it arrives is lost", name);
            continue;
        }
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_ending;
        sa.sa_flags = SA_RESTART | SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        if (sigaction(sig, &sa, NULL) == 0)
            coll_log(COLL_LOG_DEBUG, "signals",
                     "%s: a running session is written before the process ends by it", name);
    }
}

void ctl_die_by(int sig)
{
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    default_action(sig);
    resend(sig);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
}
