/*
 * control/'s internal header: what its own files share and no other
 * folder may call.  The interface is control.h.
 */
#ifndef OMNIPROF_CONTROL_INTERNAL_H
#define OMNIPROF_CONTROL_INTERNAL_H

#include <sys/types.h>

#include "control.h"

/* Bytes on the control pipe. */
enum {
    CTL_REQ_TOGGLE = 'T',
    CTL_REQ_START = 'B',
    CTL_REQ_STOP = 'S',
    CTL_REQ_STEP = 'P',
    CTL_REQ_FLUSH = 'F',   /* max_iterations ended a session: write it */
    CTL_REQ_PUBLISH = 'R', /* the state changed: update the registry */
    CTL_REQ_RESOLVE = 'Q', /* evaluate the stage rules again, and answer */
};
/* The signals really taken (0: none), which may differ from the
 * configuration's: a signal the program owns is left alone. */
struct ctl_signals {
    int toggle, stop, step;
};
/* Installs the handlers (signals.c). */
void ctl_signals_take(const struct ctl_config *c, struct ctl_signals *taken);

/* ---- the control pipe (pipe.c: its one owner) ------------------------------ */

/* Makes the pipe (again): 0 or -errno. */
int ctl_pipe_open(void);
/* Puts one request byte in; async-signal-safe, keeps errno, never blocks. */
void ctl_pipe_post(char req);
/* The control thread's read, waiting at most timeout_ms (-1: as long as it
 * takes): bytes read (> 0), 0 when the time ran out, or -errno when the
 * pipe was lost and could not be made anew (said once). */
ssize_t ctl_pipe_read(char *buf, size_t cap, int timeout_ms);
/* fork child: closes the parent's ends that are still ours. */
void ctl_pipe_drop_inherited(void);

#endif
