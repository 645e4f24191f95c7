/*
 * What omniprof serve does with a request that needs no socket
 * (serve_body.c): the bounded body accumulator and the parse of the
 * {"stages": [...]} body.  cmd_serve.c drives them from libmicrohttpd;
 * tests/fuzz/fuzz_http.c and tests/unit/test_serve_body.c from bytes.
 */
#ifndef OMNIPROF_SERVE_H
#define OMNIPROF_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"

/* The largest body omniprof serve accepts (a real one is a few bytes). */
#define CLI_SERVE_BODY_MAX 65536

enum cli_serve_body_state {
    CLI_SERVE_BODY_OK,
    CLI_SERVE_BODY_TOO_LARGE, /* more than limit bytes came: all are dropped */
    CLI_SERVE_BODY_NO_MEMORY,
};

/* A request body as it arrives, in pieces of any size (chunked or not).
 * Zero it and set limit; data is NUL-terminated after len bytes (or NULL
 * while nothing came).  Once over the limit it holds nothing and drops
 * whatever else arrives, so a body costs at most limit + 1 bytes. */
struct cli_serve_body {
    size_t limit;
    enum cli_serve_body_state state;
    char *data;
    size_t len, cap;
};

/* Appends n bytes; 0, or a negative errno once the body is refused
 * (-EFBIG: over the limit, -ENOMEM). */
int cli_serve_body_add(struct cli_serve_body *b, const char *bytes, size_t n);
void cli_serve_body_free(struct cli_serve_body *b);

/* Whether a Content-Length header value declares more than limit bytes
 * (the body can then be refused before it is read). */
bool cli_serve_declared_too_large(const char *content_length, size_t limit);

/* Reads the len bytes of an optional {"stages": [0, 1]} body (absent,
 * blank, null or "stages": null: every process) into sel.  Returns 0, or
 * an HTTP status (400; 500 out of memory) with a message in msg (cap > 0);
 * sel is then empty.  Reads nothing past len; any bytes are welcome. */
unsigned cli_serve_parse_body(const char *body, size_t len, struct cli_selection *sel, char *msg,
                              size_t cap);

#endif
