/*
 * How a process ends besides exit(): _exit and _Exit (a multiprocessing
 * fork worker ends with os._exit, a fork child and many servers with
 * _exit), and a termination signal at its default action that it sends
 * itself (Python ends so after an unhandled KeyboardInterrupt: SIGINT, with
 * kill).  Neither runs atexit handlers, so a recording session would be
 * lost.  The hooks hand it to the control thread to write and wait for it,
 * bounded (ctl_process_ending); then the real call goes ahead with the same
 * status or signal.
 *
 * Signal-safety: _exit is called from signal handlers and in vfork
 * children, so the calling thread only posts a byte and waits (write,
 * clock_gettime, nanosleep).  It forwards at once when nothing records, in
 * a vfork child (its pid is not the process's), inside a hooked call (a
 * handler that interrupted one: what that call holds may be what the write
 * needs) and inside omniprof's own work.  The real functions are resolved
 * by the constructor (pl_resolve_endings), never here; a raw
 * syscall(SYS_exit_group) or SYS_kill is not seen.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "control.h"
#include "preload.h"

void pl_resolve_endings(void)
{
    static const enum pl_sym syms[] = {PL__exit, PL__Exit, PL_kill, PL_raise};
    for (size_t i = 0; i < sizeof syms / sizeof *syms; i++)
        pl_resolve(syms[i]); /* without one, its system call (below) */
}

static _Noreturn void end_with(void (*real)(int), int status)
{
    if (!pl_in_hook)
        ctl_process_ending();
    if (real)
        real(status);
    for (;;)
        syscall(SYS_exit_group, (long)status);
}

PL_EXPORT void _exit(int status)
{
    end_with(pl_real._exit, status);
}

PL_EXPORT void _Exit(int status)
{
    end_with(pl_real._Exit, status);
}

/* Whether sig, sent to this process now, ends it by its default action:
 * SIGTERM or SIGINT at their default action (not one omniprof took: its
 * handler writes the session) and unblocked on the calling thread, so that
 * some thread takes it.  Where the caller blocks it, a thread in sigwait
 * may be the one waiting for it. */
static bool ends_the_process(int sig)
{
    if ((sig != SIGTERM && sig != SIGINT) || pl_in_hook)
        return false;
    struct sigaction sa;
    sigset_t mask;
    return sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
           pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0 && sigismember(&mask, sig) == 0;
}

PL_EXPORT int kill(pid_t pid, int sig)
{
    int saved = errno;
    if ((pid == 0 || pid == getpid()) && ends_the_process(sig))
        ctl_process_ending();
    errno = saved;
    if (pl_real.kill)
        return pl_real.kill(pid, sig);
    return (int)syscall(SYS_kill, (long)pid, (long)sig);
}

PL_EXPORT int raise(int sig)
{
    int saved = errno;
    if (ends_the_process(sig))
        ctl_process_ending();
    errno = saved;
    if (pl_real.raise)
        return pl_real.raise(sig);
    return (int)syscall(SYS_tgkill, (long)getpid(), (long)syscall(SYS_gettid), (long)sig);
}
