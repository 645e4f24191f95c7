/*
 * The signals omniprof takes.  Handlers only write one byte into the
 * control pipe (errno kept) and return; the control thread does the work.
 *
 *   toggle_signal (SIGUSR1): start when idle, stop and write when running.
 *     Sent with sigqueue() and a value (what the omniprof command does),
 *     it says exactly what to do: CTL_SIGNAL_START or CTL_SIGNAL_STOP.
 *   stop_signal (SIGUSR2): stop and write.
 *   step_signal (a free real-time signal by default): an iteration boundary.
 *
 * Only SIGUSR1, SIGUSR2 and the real-time signals are ever taken
 * (ctl_signal_allowed): a crash signal, one the system sends on its own or
 * one that ends the program keeps its meaning.  A signal the program
 * already handles (or ignores) is not taken: one warning names the key that
 * picks another.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
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
