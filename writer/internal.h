/*
 * writer/'s internal header: what its own files share and no other folder
 * may call.  The interface is writer.h.
 */
#ifndef OMNIPROF_WRITER_INTERNAL_H
#define OMNIPROF_WRITER_INTERNAL_H

#include <string.h>
#include <zlib.h>

#include "writer.h"

/* ---- output stream (out.c): buffered, into zlib or a plain file -------- */

#define WR_OUT_BUF (256u * 1024u)

/* Open only for the inline fast path below: out.c owns the fields. */
struct wr_out {
    size_t len;
    int fd;
    int err;
    gzFile gz;
    char buf[WR_OUT_BUF];
};
/* Takes fd (closed by wr_out_close, or here on failure). */
int wr_out_open(struct wr_out **out, int fd, bool gzip, int level);
/* Appends what does not fit the buffer (flushing it). */
void wr_out_write_slow(struct wr_out *o, const void *p, size_t n);
/* The writer's hot path: a copy into the buffer, inline (a few calls per
 * field of a million events). */
static inline void wr_out_write(struct wr_out *o, const void *p, size_t n)
{
    if (n < WR_OUT_BUF - o->len) {
        memcpy(o->buf + o->len, p, n);
        o->len += n;
    } else {
        wr_out_write_slow(o, p, n);
    }
}
static inline void wr_out_puts(struct wr_out *o, const char *s)
{
    wr_out_write(o, s, strlen(s));
}
void wr_out_printf(struct wr_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Integers without printf: the writer's hot path. */
void wr_out_u64(struct wr_out *o, uint64_t v);
void wr_out_i64(struct wr_out *o, int64_t v);
/* Flushes and closes; returns the first error seen since open. */
int wr_out_close(struct wr_out *o);

/* ---- JSON (json.c) -------------------------------------------------- */

/* Writes s as a JSON string literal (see wr_json_escape). */
void wr_json_string(struct wr_out *o, const char *s);
/* ns since base as Kineto's microseconds with three decimals. */
void wr_json_us(struct wr_out *o, uint64_t ns);

/* ---- files (file.c) -------------------------------------------------------- */

/* The directory dir, made if missing (mkdir -p, 0777 less the umask),
 * reached without following a symbolic link that neither the user nor root
 * owns: an O_PATH descriptor, or -errno with why saying what was refused. */
int wr_open_dir(const char *dir, char *why, size_t cap);
/* Creates <dir_fd>/.<name>.tmp.<pid>.<start>.<key>.<n> (O_EXCL, O_NOFOLLOW,
 * 0666 less the umask) and returns its descriptor, its name in tmp; or
 * -errno.  <start> is the process's start time and <key> (8 hex digits) its
 * pid namespace's, so that another process can tell whether the writer
 * still runs. */
int wr_create_temp(int dir_fd, const char *name, char *tmp, size_t cap);
/* The most bytes the temporary's name adds to the final name's. */
#define WR_TEMP_EXTRA 60
/* Removes the temporaries in the directory that processes of this user in
 * this pid namespace left when they ended during a write (their pid is gone,
 * a zombie, or another process's now); leaves those of live processes,
 * other users, other machines or containers, and every other name.  Returns
 * how many it removed. */
int wr_remove_stale_temps(int dir_fd);
/* Renames a completed temporary file to name (or removes it on error). */
int wr_commit(int dir_fd, const char *tmp, const char *name, int status);

/* ---- the two outputs ---------------------------------------------------- */

/* baseTimeNanoseconds of a session that began at ns (trace.c). */
uint64_t wr_base_time(uint64_t ns);
/* fd: where to write (always closed); trace_name: the final path, recorded
 * as traceName. */
int wr_trace(const struct coll_session *s, const struct wr_options *o, int fd,
             const char *trace_name);
int wr_table(const struct coll_session *s, const struct wr_options *o, int fd);
/* The table row an event counts in (a kernel's name, a copy's direction,
 * "Memset (Device)"), as the trace's args name them; NULL for events that
 * have no row.  buf holds a name made up for an unknown kernel. */
const char *wr_row_name(const struct coll_session *s, const struct coll_event *ev, char *buf,
                        size_t cap);
/* The table rows as text into any stdio stream (used by wr_table). */
int wr_table_print(const struct coll_session *s, const struct wr_options *o, FILE *f);

/* ---- the GPU side (gpu.c) ------------------------------------------------ */

struct wr_corr {
    uint64_t correlation;
    size_t index;
};
/* GPU records and CUPTI API events by correlation id, for linking, and the
 * device of each context (synchronisation records name only a context). */
struct wr_gpu_index {
    struct wr_corr *gpu, *api;
    size_t n_gpu, n_api;
    struct wr_context {
        uint32_t context, device;
    } contexts[32];
    size_t n_contexts;
};
int wr_gpu_index(struct wr_gpu_index *ix, const struct coll_session *s);
void wr_gpu_index_free(struct wr_gpu_index *ix);
/* The first GPU record of a call, and the call of a GPU record, or NULL. */
const struct coll_gpu *wr_gpu_of(const struct wr_gpu_index *ix, const struct coll_session *s,
                                 uint64_t correlation);
const struct coll_event *wr_api_of(const struct wr_gpu_index *ix, const struct coll_session *s,
                                   uint64_t correlation);
/* The call's index in s->events, or SIZE_MAX. */
size_t wr_api_index(const struct wr_gpu_index *ix, uint64_t correlation);
/* The device a GPU record ran on (a synchronisation's: its context's). */
uint32_t wr_gpu_device(const struct wr_gpu_index *ix, const struct coll_gpu *g);

/* ---- links between events (links.c) ------------------------------------- */

struct wr_links {
    uint64_t *gpu_ext; /* "External id" of each GPU record, in s->gpu order */
    uint64_t *flow;    /* ac2g flow id of each GPU record; 0: its call is not here */
    struct wr_span {   /* ProfilerStep#N: one per step event, in order */
        size_t event;  /* the step event's index in s->events */
        int32_t tid;
        uint64_t start_ns, end_ns, ext;
    } * spans;
    size_t n_spans;
};
int wr_links_build(struct wr_links *l, const struct coll_session *s, const struct wr_gpu_index *ix);
void wr_links_free(struct wr_links *l);
/* An event's "External id": its ProfilerStep's, or its correlation id. */
uint64_t wr_links_ext(const struct wr_links *l, const struct coll_event *ev);

void wr_gpu_device_properties(struct wr_out *o, const struct coll_session *s);
void wr_gpu_metadata(struct wr_out *o, const struct coll_session *s, const struct wr_options *opt,
                     const struct wr_gpu_index *ix, uint64_t ts);
void wr_gpu_events(struct wr_out *o, const struct coll_session *s, const struct wr_options *opt,
                   const struct wr_gpu_index *ix, const struct wr_links *l, uint64_t base);
/* The "s" ends of a call's flows, one per GPU record it made. */
void wr_gpu_flow_start(struct wr_out *o, const struct wr_gpu_index *ix, const struct wr_links *l,
                       const struct wr_options *opt, const struct coll_event *ev, uint64_t base);

/* ---- host stacks (frames.c) --------------------------------------------- */

/* "function (module+0x1f)" for a symbolized frame. */
void wr_frame_text(const struct coll_frame *f, char *buf, size_t cap);

struct node;

struct wr_frames {
    size_t cap;      /* hash slots, a power of two */
    uint32_t *slots; /* node ids by (parent, ip) hash */
    struct node *nodes;
    uint32_t n_nodes;
    uint32_t *leaf; /* node id of each session stack's innermost frame */
};

int wr_frames_build(struct wr_frames *t, const struct coll_session *s);
void wr_frames_free(struct wr_frames *t);
/* The "sf" id of an event's stack, 0 when it has none. */
uint32_t wr_frames_leaf(const struct wr_frames *t, const struct coll_session *s, uint32_t stack);
/* "stackFrames": {...}, at the top level of the trace. */
void wr_frames_write(const struct wr_frames *t, struct wr_out *o);

/* ---- NVTX (nvtx.c) ---------------------------------------------------------- */

/* The session's NVTX ranges and marks, on the host and projected onto the
 * GPU streams; 0 or -ENOMEM (logged). */
int wr_nvtx_events(struct wr_out *o, const struct coll_session *s, const struct wr_options *opt,
                   const struct wr_gpu_index *ix, uint64_t base);
/* The NVTX section of the table (nothing when the session has no range). */
int wr_nvtx_table(const struct coll_session *s, const struct wr_options *opt, FILE *f);
/* "thread TID (NAME)" when the program named the thread; false if not. */
bool wr_nvtx_thread_name(int tid, char *name, size_t cap);
/* The name the program gave a stream ("" when none) or a device (NULL). */
const char *wr_nvtx_stream_name(uint32_t stream);
const char *wr_nvtx_device_name(uint32_t device);

#endif
