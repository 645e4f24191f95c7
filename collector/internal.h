/*
 * collector/'s internal header: what its own files share and nobody else
 * uses (unit tests in tests/unit may include it to test these parts).
 * The interface the other folders use is collector.h, included here.
 */
#ifndef OMNIPROF_COLLECTOR_INTERNAL_H
#define OMNIPROF_COLLECTOR_INTERNAL_H

#include "collector.h"

/* ---- gating (gate.c) ------------------------------------------------------ */

/* vLLM's WorkerProfiler counters, as a pure state machine; session.c holds
 * the process's one gate and serialises the calls. */
struct coll_gate {
    long delay_iterations;
    long max_iterations; /* 0 = unlimited */
    bool active;         /* start() seen, stop() not yet */
    bool running;        /* recording */
    bool done;           /* auto-stopped after max_iterations */
    long active_iterations;
    long profiling_iterations;
};

void coll_gate_init(struct coll_gate *g, long delay_iterations, long max_iterations);
enum coll_gate_state coll_gate_state(const struct coll_gate *g);
enum coll_gate_action coll_gate_start(struct coll_gate *g);
enum coll_gate_action coll_gate_step(struct coll_gate *g);
enum coll_gate_action coll_gate_stop(struct coll_gate *g);

/* ---- buffers (buffer.c): session.c's side of collection ------------------- */

/* The calling thread's id (cached; no syscall after the first call). */
int32_t coll_thread_id(void);
/* The index of the calling thread's buffer slot (owned by it while it
 * lives), -1 when it has none; inside a record's busy window. */
int coll_record_slot_index(void);
/* Instead of coll_record_commit: the reserved record is not written (its
 * place is reused). */
void coll_record_cancel(struct coll_event *ev);
/* Counts, on the record path (no lock, no contention: the thread's own
 * slot), a call taken at its start whose record may follow at its end
 * (CUPTI's entry callback); coll_buffers_take_calls, after the quiesce,
 * sums those taken since its last call.  Every record committed was
 * counted before it, so a session's records are among the calls taken
 * before its collection. */
void coll_record_take_call(void);
uint64_t coll_buffers_take_calls(void);
/* The bytes of the event pool (buffer_size), 0 before coll_buffers_init. */
size_t coll_buffers_size(void);

typedef void (*coll_event_visitor)(const struct coll_event *ev, void *arg);
/* Waits until no thread is inside a record (recording already off). */
void coll_buffers_quiesce(void);
void coll_buffers_visit(coll_event_visitor visit, void *arg);
void coll_buffers_reset(void);
uint64_t coll_buffers_take_dropped(void);
/* Of those, the events of threads that got no slot, and one such thread. */
uint64_t coll_buffers_take_no_slot(int32_t *tid);
/* Set between coll_buffers_atfork_prepare and the end of the fork: records
 * take no stack (stack.c).  The child's copy also forgets every other
 * thread (coll_buffers_atfork_child). */
extern _Atomic int coll_forking;
void coll_buffers_atfork_child(void);

/* ---- host stacks (stack.c) -------------------------------------------------- */

/* Leaves the frames of the module containing addr out of every stack (the
 * CUDA libraries' and CUPTI's own frames above a callback).  0, or -ENOENT
 * (no loaded module holds addr), -ENOSPC (too many modules skipped). */
int coll_stacks_skip_module(const void *addr);
uint64_t coll_stacks_dropped(void);
/* Symbolizes every stack the session's events use (0, or -ENOMEM); frees
 * them. */
int coll_stacks_collect(struct coll_session *s);
void coll_stacks_free(struct coll_session *s);

/* ---- CUDA versions (versions.c) ------------------------------------------------- */

/* The versions of the driver and runtime the process has loaded, into s
 * (0 for one it has not). */
void coll_versions_collect(struct coll_session *s);

/* ---- symbols (symbols.c) ------------------------------------------------------ */

/* Fills frame from ip: module, function and offset. */
void coll_symbolize(uint64_t ip, struct coll_frame *frame);
/* In a fork child: the lock the parent's control thread may have held
 * while symbolizing is made anew (the module list is always consistent). */
void coll_symbols_atfork_child(void);

/* ---- live allocations (memory.c) ------------------------------------------- */

/* Frees of pointers the table did not know, since the process began. */
uint64_t coll_memory_unknown_frees(void);

/* ---- CUPTI (cupti.c) ---------------------------------------------------------- */

/* The session's end, from the gate (apply()): callbacks and activity off.
 * A failure is warned about once; it costs time, not records (callbacks
 * record only while recording), so there is nothing for the caller to do. */
void coll_cupti_end(void);
/* At collection (control thread, after the record path is quiet): flushes
 * CUPTI and moves the session's GPU records into s; fills s->gpu, s->n_gpu,
 * s->devices and the counts of what was not written since the last
 * collection (s->gpu_dropped*, s->api_dropped).  Records beyond the
 * session's cap are warned about once per session; a failed flush or count
 * once per process.  Returns 0. */
int coll_cupti_collect(struct coll_session *s);
void coll_cupti_free(struct coll_session *s);
void coll_cupti_atfork_child(void);

/* ---- NVTX (nvtx.c) ------------------------------------------------------------ */

/* After each gate operation (gate lock held): ranges are followed (timed,
 * their messages interned, recorded when they end) while the gate is
 * active, and always with step_on=nvtx:.  Stacks and open ranges are kept
 * in every state, so turning it on forgets nothing. */
void coll_nvtx_follow(bool active);
/* When recording ends (gate lock held, recording flag still set): one
 * COLL_NVTX_OPEN record for each range still open, whenever it began. */
void coll_nvtx_session_end(void);
/* In a fork child: only the calling thread's push/pop ranges remain. */
void coll_nvtx_atfork_child(void);
/* A message copied into out (cap bytes, NUL-terminated, as UTF-8), for a
 * range begun while not followed: cut between characters, and ending in
 * U+2026 (an ellipsis) when it was longer.  No allocation, no lock. */
void coll_nvtx_copy(char *out, size_t cap, const char *s);
void coll_nvtx_copy_wide(char *out, size_t cap, const wchar_t *s);

#endif
