/*
 * omniprof serve: vLLM-Omni's profiling endpoints for any program.
 *
 *   POST /start_profile   body {"stages": [0, 1]} (optional; absent or null: all)
 *   POST /stop_profile    the same; the answer names the files each stop wrote
 *   GET  /processes       the live profiled processes
 *
 * Loopback by default (--listen 127.0.0.1:8000; port 0 picks a free one).
 * A malformed body or a stage no process has gets a 4xx with a message.
 * Built on libmicrohttpd (HTTP) and yajl (JSON); what a request's body
 * becomes is serve_body.c's, which needs no socket.
 *
 * Open to any client, so no client may hurt the others:
 *
 * - One thread (serve_loop) runs every connection with libmicrohttpd on
 *   epoll.  A slow or idle connection costs a socket and its buffers, never
 *   a thread: thread-per-connection needs a low cap on threads, and that
 *   cap is exactly what a handful of idle sockets use up.  At most PER_IP
 *   connections come from one address, CONNECTIONS from all.
 * - Nothing in that thread blocks.  start and stop wait (up to WAIT_MS) for
 *   each process to report back: the request runs on a thread of its own
 *   while its connection is suspended (MHD_suspend_connection), at most
 *   JOBS at once (more get 503).  A pool of polling threads would not do: a
 *   waiting request would stall every connection of its thread.  Reading
 *   the registry (/processes, the stage check) is a directory scan, done in
 *   place.
 * - Each request must arrive whole, headers and body, within
 *   --request-timeout seconds (default 10) of the connection opening or of
 *   the previous answer on it; the loop shuts the socket of one that has
 *   not, however slowly it trickles in.  libmicrohttpd's own timeout (the
 *   same length) counts only silence: it also ends stalled answers.  (On
 *   epoll, libmicrohttpd 0.9.75 can miss a client's close that comes with
 *   its last bytes; the deadline ends those connections too.)
 * - A body is at most CLI_SERVE_BODY_MAX bytes, chunked or not.  A larger
 *   one is read to its end (within the deadline), dropped as it comes,
 *   then answered 413, so that a client still sending it reads the answer;
 *   one that declares more than DRAIN_MAX gets 413 before any of it is
 *   read, and the connection closes.  libmicrohttpd keeps at most
 *   CONN_MEMORY bytes per connection (headers and buffers).
 *
 * Threads: the loop thread owns the daemon, the connection list and every
 * request's state (libmicrohttpd's callbacks run in it).  A job's thread
 * touches only its struct job, until it resumes the connection and wakes
 * the loop (an eventfd: libmicrohttpd wakes nobody when it runs no thread).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "serve.h"
#include "writer.h"

#define CONNECTIONS 512         /* open connections, from all clients */
#define PER_IP 64               /* open connections from one address */
#define CONN_MEMORY (16 * 1024) /* libmicrohttpd's memory per connection */
#define DRAIN_MAX (1024 * 1024) /* a body declared larger is not read at all */
#define JOBS 16                 /* start/stop requests waiting at once */
#define WAIT_MS 30000           /* how long a start/stop waits for each process */

static char registry[PATH_MAX];
static unsigned request_timeout = 10; /* seconds: --request-timeout */
/* Kept past an exit with jobs running (the exit closes it): volatile, so the
 * store is not optimised away and a leak checker sees it reachable. */
static struct MHD_Daemon *volatile server;

/* An open connection and the time its current request must have arrived
 * by.  The list is the loop thread's. */
struct conn {
    struct conn *prev, *next;
    int fd;
    uint64_t deadline; /* ms (CLOCK_MONOTONIC); 0 while its request is answered */
};
static struct conn *conns;

struct buf {
    char *data;
    size_t len, cap;
};

/* A start or stop waiting for processes on its own thread. */
struct job {
    struct MHD_Connection *c;
    int what; /* CTL_SIGNAL_* */
    struct cli_selection sel;
    unsigned status; /* the answer, written by the job's thread */
    struct buf answer;
};
static atomic_int jobs; /* running: counted up by the loop, down by each job */
static int wake = -1;   /* eventfd: a job resumed its connection (libmicrohttpd
                         * has no wake-up of its own without its own thread) */

/* One request (libmicrohttpd's per-request pointer). */
struct request {
    struct cli_serve_body body;
    struct job *job; /* set while and after its start/stop runs */
};

static void add(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return;
        b->data = grown;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void add_string(struct buf *b, const char *s)
{
    char *lit = wr_json_literal(s);
    if (!lit)
        return;
    add(b, "%s", lit);
    free(lit);
}

/* Queues b as the JSON answer; frees b's text. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, struct buf *b)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(b->len, b->data ? b->data : (char *)"",
                                                             MHD_RESPMEM_MUST_COPY);
    free(b->data);
    b->data = NULL;
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    struct buf b = {0};
    add(&b, "{\"status\": \"error\", \"error\": ");
    add_string(&b, msg);
    add(&b, "}\n");
    return reply(c, status, &b);
}

static enum MHD_Result too_large(struct MHD_Connection *c)
{
    char msg[64];
    snprintf(msg, sizeof msg, "the body is larger than %d KiB", CLI_SERVE_BODY_MAX / 1024);
    return error(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
}

static void entry_json(struct buf *b, const struct ctl_entry *e)
{
    add(b, "{\"pid\": %d, \"stage\": %ld, \"rank\": %d, \"state\": ", e->pid, e->stage, e->rank);
    add_string(b, e->state);
    add(b, ", \"world_size\": %d, \"local_rank\": %d", e->world_size, e->local_rank);
    add(b, ", \"host\": ");
    add_string(b, e->host);
    add(b, ", \"job\": ");
    add_string(b, e->job);
    add(b, ", \"command\": ");
    add_string(b, e->cmdline);
    add(b, "}");
}

static enum MHD_Result processes(struct MHD_Connection *c)
{
    struct ctl_entry *all;
    size_t n;
    if (cli_registry_scan(registry, &all, &n, NULL) < 0)
        return error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the registry");
    struct buf b = {0};
    add(&b, "{\"status\": \"ok\", \"processes\": [");
    for (size_t i = 0; i < n; i++) {
        add(&b, "%s", i ? ", " : "");
        entry_json(&b, &all[i]);
    }
    add(&b, "]}\n");
    free(all);
    return reply(c, MHD_HTTP_OK, &b);
}

/* ---- start and stop, on a thread of their own ---------------------------- */

/* Sends the request, waits for the answers, writes the JSON; the status. */
static unsigned control_answer(int what, const struct cli_selection *sel, struct buf *b)
{
    struct cli_outcome *res;
    size_t n;
    if (cli_request(registry, sel, what, true, WAIT_MS, &res, &n) < 0) {
        add(b, "{\"status\": \"error\", \"error\": \"cannot read the registry\"}\n");
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    add(b, "{\"status\": \"ok\", \"processes\": [");
    for (size_t i = 0; i < n; i++) {
        const struct ctl_entry *e = &res[i].entry;
        add(b, "%s{\"pid\": %d, \"stage\": %ld, \"result\": ", i ? ", " : "", e->pid, e->stage);
        add_string(b, res[i].error[0] ? res[i].error : e->last_result);
        add(b, ", \"ok\": %s", res[i].error[0] ? "false" : "true");
        if (what == CTL_SIGNAL_STOP) {
            add(b, ", \"files\": [");
            for (int f = 0; !res[i].error[0] && f < e->n_files; f++) {
                add(b, "%s", f ? ", " : "");
                add_string(b, e->last_files[f]);
            }
            add(b, "]");
        }
        add(b, "}");
    }
    add(b, "]}\n");
    free(res);
    return n ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND;
}

static void *run_job(void *arg)
{
    struct job *j = arg;
    j->status = control_answer(j->what, &j->sel, &j->answer);
    /* from here on the job belongs to the loop again */
    MHD_resume_connection(j->c);
    eventfd_write(wake, 1);
    atomic_fetch_sub(&jobs, 1);
    return NULL;
}

/* Suspends the connection and runs its start/stop on a new thread (every
 * signal blocked); the handler answers once it resumes (finish). */
static enum MHD_Result start_job(struct MHD_Connection *c, struct request *req, int what,
                                 const struct cli_selection *sel)
{
    if (atomic_fetch_add(&jobs, 1) >= JOBS) {
        atomic_fetch_sub(&jobs, 1);
        return error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                     "too many start/stop requests are waiting for processes; retry later");
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        atomic_fetch_sub(&jobs, 1);
        return error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    }
    *j = (struct job){.c = c, .what = what, .sel = *sel};
    req->job = j;
    MHD_suspend_connection(c);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int rc = pthread_create(&t, &attr, run_job, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        j->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        add(&j->answer, "{\"status\": \"error\", \"error\": \"cannot start a thread\"}\n");
        MHD_resume_connection(c);
        eventfd_write(wake, 1);
        atomic_fetch_sub(&jobs, 1);
    }
    return MHD_YES;
}

static enum MHD_Result finish(struct MHD_Connection *c, struct request *req)
{
    struct job *j = req->job;
    req->job = NULL;
    enum MHD_Result r = reply(c, j->status, &j->answer);
    free(j);
    return r;
}

static enum MHD_Result control(struct MHD_Connection *c, struct request *req, int what)
{
    struct cli_selection sel;
    char msg[512];
    unsigned status = cli_serve_parse_body(req->body.data, req->body.len, &sel, msg, sizeof msg);
    if (status)
        return error(c, status, msg);
    char missing[256];
    cli_missing_stages(registry, &sel, missing, sizeof missing);
    if (missing[0]) {
        snprintf(msg, sizeof msg, "no profiled process has stage %s", missing);
        return error(c, MHD_HTTP_NOT_FOUND, msg);
    }
    return start_job(c, req, what, &sel);
}

/* ---- requests and connections --------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

/* The whole request is in: the time it takes to answer is the server's. */
static void received(struct MHD_Connection *c)
{
    struct conn *k = conn_of(c);
    if (k)
        k->deadline = 0;
}

/* The headers are in.  A body declared much larger than the limit is
 * refused now, before any of it is read. */
static enum MHD_Result begin(struct MHD_Connection *c, void **state)
{
    struct request *req = calloc(1, sizeof *req);
    if (!req)
        return MHD_NO;
    req->body.limit = CLI_SERVE_BODY_MAX;
    *state = req;
    const char *declared =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (declared && cli_serve_declared_too_large(declared, DRAIN_MAX))
        return too_large(c);
    return MHD_YES;
}

static enum MHD_Result route(struct MHD_Connection *c, struct request *req, const char *url,
                             const char *method)
{
    bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    if (req->body.state == CLI_SERVE_BODY_TOO_LARGE)
        return too_large(c);
    if (req->body.state == CLI_SERVE_BODY_NO_MEMORY)
        return error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    if (strcmp(url, "/start_profile") == 0)
        return post ? control(c, req, CTL_SIGNAL_START)
                    : error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    if (strcmp(url, "/stop_profile") == 0)
        return post ? control(c, req, CTL_SIGNAL_STOP)
                    : error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    if (strcmp(url, "/processes") == 0)
        return get ? processes(c) : error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
    return error(c, MHD_HTTP_NOT_FOUND,
                 "unknown path; use POST /start_profile, POST /stop_profile or GET /processes");
}

/* libmicrohttpd calls this once the headers are in, once per piece of body
 * (any size), once the body is complete, and again after a resume. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)cls, (void)version;
    struct request *req = *state;
    if (!req)
        return begin(c, state);
    if (*upload_size) {
        cli_serve_body_add(&req->body, upload, *upload_size); /* over the limit: dropped */
        *upload_size = 0;
        return MHD_YES;
    }
    if (req->job)
        return finish(c, req);
    received(c);
    return route(c, req, url, method);
}

static void free_request(struct request *req)
{
    if (!req)
        return;
    cli_serve_body_free(&req->body);
    if (req->job)
        free(req->job->answer.data);
    free(req->job);
    free(req);
}

/* A request ended (answered, or its connection closed): the next one on
 * this connection has its own time to arrive. */
static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)why;
    free_request(*state);
    *state = NULL;
    struct conn *k = conn_of(c);
    if (k)
        k->deadline = now_ms() + request_timeout * 1000ULL;
}

static void connection(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    struct conn *k = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (!k)
            return;
        if (k->prev)
            k->prev->next = k->next;
        else
            conns = k->next;
        if (k->next)
            k->next->prev = k->prev;
        free(k);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!i)
        return;
    k = calloc(1, sizeof *k);
    if (!k) {
        shutdown(i->connect_fd, SHUT_RDWR); /* a connection without a deadline: refused */
        return;
    }
    *k = (struct conn){
        .next = conns, .fd = i->connect_fd, .deadline = now_ms() + request_timeout * 1000ULL};
    if (conns)
        conns->prev = k;
    conns = k;
    *socket_context = k;
}

/* Shuts the socket of each connection past its deadline (libmicrohttpd
 * then reads its end and closes it); the ms until the next deadline, or
 * -1 if none. */
static int expire(void)
{
    uint64_t now = now_ms(), next = UINT64_MAX;
    for (struct conn *k = conns; k; k = k->next) {
        if (!k->deadline)
            continue;
        if (k->deadline <= now) {
            shutdown(k->fd, SHUT_RDWR);
            k->deadline = 0;
        } else if (k->deadline < next) {
            next = k->deadline;
        }
    }
    return next == UINT64_MAX ? -1 : (int)(next - now < INT_MAX ? next - now : INT_MAX);
}

/* Runs the daemon until SIGINT or SIGTERM arrives on sigfd. */
static void serve_loop(struct MHD_Daemon *d, int sigfd)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
    struct pollfd fds[3] = {{.fd = info->epoll_fd, .events = POLLIN},
                            {.fd = wake, .events = POLLIN},
                            {.fd = sigfd, .events = POLLIN}};
    for (;;) {
        int wait = expire();
        MHD_UNSIGNED_LONG_LONG mhd;
        if (MHD_get_timeout(d, &mhd) == MHD_YES && (wait < 0 || mhd < (unsigned)wait))
            wait = mhd < INT_MAX ? (int)mhd : INT_MAX;
        if (poll(fds, 3, wait) < 0 && errno != EINTR)
            return;
        if (fds[2].revents)
            return;
        if (fds[1].revents) {
            eventfd_t n;
            eventfd_read(wake, &n);
        }
        MHD_run(d);
    }
}

/* ---- the command ------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: omniprof serve [--listen HOST:PORT] [--request-timeout S]\n");
    return 2;
}

static int parse_listen(const char *listen, struct sockaddr_in *addr, char *host, size_t cap)
{
    const char *colon = strrchr(listen, ':');
    long port;
    if (!colon || (size_t)(colon - listen) >= cap ||
        cli_parse_number(colon + 1, 0, 65535, &port) < 0) {
        cli_bad_value("--listen", listen, "expected HOST:PORT (an IPv4 address, a port 0..65535)");
        return -EINVAL;
    }
    snprintf(host, cap, "%.*s", (int)(colon - listen), listen);
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr->sin_addr) != 1) {
        cli_bad_value("--listen", listen, "the host is not an IPv4 address");
        return -EINVAL;
    }
    return 0;
}

static struct MHD_Daemon *start_daemon(struct sockaddr_in *addr)
{
    /* one option and its value a line */
    /* clang-format off */
    return MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, handle, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)addr,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, connection, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, request_timeout,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_IP,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
        MHD_OPTION_END);
    /* clang-format on */
}

int cli_cmd_serve(int argc, char **argv)
{
    const char *listen = "127.0.0.1:8000";
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen = argv[++i];
        } else if (strcmp(argv[i], "--request-timeout") == 0 && i + 1 < argc) {
            unsigned long s = strtoul(argv[++i], &end, 10);
            if (*end || s < 1 || s > 3600) {
                fprintf(stderr, "omniprof: --request-timeout %s: expected seconds, 1 to 3600\n",
                        argv[i]);
                return 2;
            }
            request_timeout = (unsigned)s;
        } else {
            return usage();
        }
    }
    char host[64];
    struct sockaddr_in addr;
    if (parse_listen(listen, &addr, host, sizeof host) < 0)
        return 2;
    if (cli_registry(registry, sizeof registry) < 0)
        return 2;
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    int sigfd = signalfd(-1, &stop, SFD_CLOEXEC);
    wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct MHD_Daemon *d = server = sigfd < 0 || wake < 0 ? NULL : start_daemon(&addr);
    if (!d) {
        fprintf(stderr, "omniprof: cannot listen on %s: %s\n", listen, strerror(errno));
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("omniprof: serving on http://%s:%u (POST /start_profile, POST /stop_profile, "
           "GET /processes)\n",
           host, info ? info->port : (unsigned)ntohs(addr.sin_port));
    fflush(stdout);
    serve_loop(d, sigfd);
    /* libmicrohttpd must not stop with a connection suspended: with a
     * start/stop still waiting, the exit closes everything instead. */
    if (atomic_load(&jobs) == 0)
        MHD_stop_daemon(d);
    return 0;
}
