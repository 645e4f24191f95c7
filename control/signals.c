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
 * A signal the program already handles (or ignores) is not taken: one
 * warning names the key that picks another.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector.h"
#include "control.h"

/* Written before the handlers are installed (and again when the pipe is
 * made anew).  The inode tells our pipe from a file the program may have
 * opened under the same number after closing all its descriptors. */
static volatile int pipe_out = -1;
static volatile ino_t pipe_ino;
static int sig_toggle, sig_stop, sig_step;

void ctl_signals_set_pipe(int fd)
{
    struct stat st;
    pipe_ino = fstat(fd, &st) == 0 ? st.st_ino : 0;
    pipe_out = fd;
}

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
    struct stat st; /* fstat is async-signal-safe */
    if (pipe_out >= 0 && fstat(pipe_out, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_ino == pipe_ino) {
        ssize_t w = write(pipe_out, &req, 1);
        (void)w;
    }
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
    if (sig <= 0)
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

void ctl_signals_take(struct ctl_config *c)
{
    sig_toggle = take(c->toggle_signal, "toggle_signal", "OMNIPROF_TOGGLE_SIGNAL");
    sig_stop = take(c->stop_signal, "stop_signal", "OMNIPROF_STOP_SIGNAL");
    int step = c->step_signal < 0 ? free_realtime_signal() : c->step_signal;
    sig_step = take(step, "step_signal", "OMNIPROF_STEP_SIGNAL");
    /* what the registry shows is what was really taken */
    c->toggle_signal = sig_toggle;
    c->stop_signal = sig_stop;
    c->step_signal = sig_step;
}
