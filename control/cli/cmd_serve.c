/*
 * omniprof serve: vLLM-Omni's profiling endpoints for any program.
 *
 *   POST /start_profile   body {"stages": [0, 1]} (optional; absent or null: all)
 *   POST /stop_profile    the same; the answer names the files each stop wrote
 *   GET  /processes       the live profiled processes
 *
 * Loopback by default (--listen 127.0.0.1:8000; port 0 picks a free one).
 * A malformed body or a stage no process has gets a 4xx with a message.
 * Built on libmicrohttpd (HTTP) and yajl (JSON).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "cli.h"
#include "writer.h"

#define MAX_BODY 65536

static char registry[PATH_MAX];

struct buf {
    char *data;
    size_t len, cap;
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

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, struct buf *b)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(b->len, b->data ? b->data : (char *)"", MHD_RESPMEM_MUST_COPY);
    free(b->data);
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

static void entry_json(struct buf *b, const struct ctl_entry *e)
{
    add(b, "{\"pid\": %d, \"stage\": %ld, \"rank\": %d, \"state\": ", e->pid, e->stage, e->rank);
    add_string(b, e->state);
    add(b, ", \"host\": ");
    add_string(b, e->host);
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

/* Parses an optional {"stages": [...]} body; returns an HTTP status on error. */
static unsigned parse_body(const char *body, size_t len, struct cli_selection *sel, char *msg,
                           size_t cap)
{
    memset(sel, 0, sizeof *sel);
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (i == len)
        return 0;
    char err[256];
    yajl_val root = yajl_tree_parse(body, err, sizeof err);
    if (!root) {
        snprintf(msg, cap, "the body is not JSON: %s", err);
        return MHD_HTTP_BAD_REQUEST;
    }
    unsigned status = 0;
    if (YAJL_IS_NULL(root)) {
        yajl_tree_free(root);
        return 0;
    }
    if (!YAJL_IS_OBJECT(root)) {
        snprintf(msg, cap, "the body must be an object like {\"stages\": [0, 1]}");
        yajl_tree_free(root);
        return MHD_HTTP_BAD_REQUEST;
    }
    int seen = 0; /* "stages" keys so far */
    for (size_t k = 0; k < YAJL_GET_OBJECT(root)->len && !status; k++) {
        const char *key = YAJL_GET_OBJECT(root)->keys[k];
        yajl_val v = YAJL_GET_OBJECT(root)->values[k];
        if (strcmp(key, "stages") != 0) {
            snprintf(msg, cap, "unknown field \"%.100s\" (only \"stages\" is accepted)", key);
            status = MHD_HTTP_BAD_REQUEST;
        } else if (seen++) {
            snprintf(msg, cap, "\"stages\" is given twice");
            status = MHD_HTTP_BAD_REQUEST;
        } else if (YAJL_IS_NULL(v)) {
            sel->n_stages = 0;
        } else if (!YAJL_IS_ARRAY(v)) {
            snprintf(msg, cap, "\"stages\" must be a list of stage numbers or null");
            status = MHD_HTTP_BAD_REQUEST;
        } else {
            for (size_t j = 0; j < YAJL_GET_ARRAY(v)->len && !status; j++) {
                yajl_val s = YAJL_GET_ARRAY(v)->values[j];
                if (!YAJL_IS_INTEGER(s) || YAJL_GET_INTEGER(s) < 0 ||
                    YAJL_GET_INTEGER(s) > CTL_MAX_STAGE || sel->n_stages == CTL_MAX_STAGES) {
                    snprintf(msg, cap, "\"stages\" must hold stage numbers (0, 1, 2, ...)");
                    status = MHD_HTTP_BAD_REQUEST;
                } else {
                    sel->stages[sel->n_stages++] = (int)YAJL_GET_INTEGER(s);
                }
            }
            if (!status && sel->n_stages == 0) {
                snprintf(msg, cap, "\"stages\" is empty: name at least one stage, or use null");
                status = MHD_HTTP_BAD_REQUEST;
            }
        }
    }
    yajl_tree_free(root);
    return status;
}

static enum MHD_Result control(struct MHD_Connection *c, int what, const char *body, size_t len)
{
    struct cli_selection sel;
    char msg[512];
    unsigned status = parse_body(body, len, &sel, msg, sizeof msg);
    if (status)
        return error(c, status, msg);
    char missing[256];
    cli_missing_stages(registry, &sel, missing, sizeof missing);
    if (missing[0]) {
        snprintf(msg, sizeof msg, "no profiled process has stage %s", missing);
        return error(c, MHD_HTTP_NOT_FOUND, msg);
    }
    struct cli_outcome *res;
    size_t n;
    if (cli_request(registry, &sel, what, true, 30000, &res, &n) < 0)
        return error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the registry");
    struct buf b = {0};
    add(&b, "{\"status\": \"ok\", \"processes\": [");
    for (size_t i = 0; i < n; i++) {
        const struct ctl_entry *e = &res[i].entry;
        add(&b, "%s{\"pid\": %d, \"stage\": %ld, \"result\": ", i ? ", " : "", e->pid, e->stage);
        add_string(&b, res[i].error[0] ? res[i].error : e->last_result);
        add(&b, ", \"ok\": %s", res[i].error[0] ? "false" : "true");
        if (what == CTL_SIGNAL_STOP) {
            add(&b, ", \"files\": [");
            for (int f = 0; !res[i].error[0] && f < e->n_files; f++) {
                add(&b, "%s", f ? ", " : "");
                add_string(&b, e->last_files[f]);
            }
            add(&b, "]");
        }
        add(&b, "}");
    }
    add(&b, "]}\n");
    free(res);
    return reply(c, n ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND, &b);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)cls, (void)version;
    struct buf *body = *state;
    if (!body) {
        body = calloc(1, sizeof *body);
        if (!body)
            return MHD_NO;
        *state = body;
        return MHD_YES;
    }
    if (*upload_size) {
        if (body->len + *upload_size > MAX_BODY) {
            *upload_size = 0;
            body->cap = (size_t)-1; /* too large: answered below */
            return MHD_YES;
        }
        add(body, "%.*s", (int)*upload_size, upload);
        *upload_size = 0;
        return MHD_YES;
    }
    const char *text = body->data ? body->data : "";
    size_t len = body->len;
    bool too_large = body->cap == (size_t)-1;
    enum MHD_Result r;
    bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    if (too_large)
        r = error(c, MHD_HTTP_CONTENT_TOO_LARGE, "the body is larger than 64 KiB");
    else if (strcmp(url, "/start_profile") == 0 || strcmp(url, "/stop_profile") == 0)
        r = post ? control(c, url[1] == 's' && url[3] == 'a' ? CTL_SIGNAL_START : CTL_SIGNAL_STOP,
                           text, len)
                 : error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    else if (strcmp(url, "/processes") == 0)
        r = get ? processes(c) : error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
    else
        r = error(c, MHD_HTTP_NOT_FOUND,
                  "unknown path; use POST /start_profile, POST /stop_profile or GET /processes");
    return r;
}

static void done(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    struct buf *body = *state;
    if (body) {
        if (body->cap != (size_t)-1)
            free(body->data);
        free(body);
    }
    *state = NULL;
}

int cli_cmd_serve(int argc, char **argv)
{
    const char *listen = "127.0.0.1:8000";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            listen = argv[++i];
        else {
            fprintf(stderr, "usage: omniprof serve [--listen HOST:PORT]\n");
            return 2;
        }
    }
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host) {
        fprintf(stderr, "omniprof: --listen %s: expected HOST:PORT\n", listen);
        return 2;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "omniprof: --listen %s: %s is not an IPv4 address\n", listen, host);
        return 2;
    }
    if (cli_registry(registry, sizeof registry) < 0)
        return 2;
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* the server's threads inherit it */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, handle,
        NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, done,
        NULL,
        /* a client that connects and sends nothing goes after 30 s, and
         * at most 64 connections (threads) are served at once */
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)64, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "omniprof: cannot listen on %s: %s\n", listen, strerror(errno));
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("omniprof: serving on http://%s:%u (POST /start_profile, POST /stop_profile, "
           "GET /processes)\n",
           host, info ? info->port : (unsigned)ntohs(addr.sin_port));
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    return 0;
}
