/*
 * omniprof — the public C API of libomniprof.so.
 *
 * A program never needs this header: omniprof profiles unmodified binaries.
 * Programs that want exact iteration boundaries or programmatic control can
 * call these functions, preferably through a weak reference or dlsym so the
 * program still runs without omniprof:
 *
 *     extern void omni_step(void) __attribute__((weak));
 *     ...
 *     if (omni_step) omni_step();
 *
 * Semantics follow vLLM's profiler: start() arms (recording begins at once,
 * or after delay_iterations steps), step() marks an iteration boundary,
 * stop() ends the session and writes its files before returning.
 */
#ifndef OMNIPROF_H
#define OMNIPROF_H

#ifdef __cplusplus
extern "C" {
#endif

/* An iteration boundary (same as omniprof_step). */
void omni_step(void);

void omniprof_start(void);
void omniprof_stop(void);
void omniprof_step(void);
/* 1 while recording, 0 otherwise (idle, armed and waiting, or stopped). */
int omniprof_is_running(void);
/* Stops and writes a running session; later starts are ignored. */
void omniprof_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif
