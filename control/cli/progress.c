/*
 * Progress on stderr for long commands (progress.h).  Only on a terminal:
 * a pipe or a log file gets nothing, so scripts see the output they did.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t cli_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

void cli_progress_begin(struct cli_progress *p, const char *what, uint64_t total)
{
    const char *force = getenv("OMNIPROF_PROGRESS");
    memset(p, 0, sizeof *p);
    p->on = force && *force ? strcmp(force, "0") != 0 : isatty(STDERR_FILENO) == 1;
    p->what = what;
    p->total = total;
    p->last_ms = now_ms();
}

void cli_progress_file(struct cli_progress *p, const char *path)
{
    p->file = path;
}

static void draw(struct cli_progress *p, uint64_t at)
{
    char shown[COLL_SHOWN_CAP];
    const char *base = p->file ? strrchr(p->file, '/') : NULL;
    coll_escape(shown, sizeof shown, base ? base + 1 : p->file ? p->file : "", 60);
    double pct = p->total ? 100.0 * (double)at / (double)p->total : 0.0;
    /* \r and erase-to-end: the line is redrawn in place */
    fprintf(stderr, "\romniprof %s: %5.1f%% (%.1f of %.1f MiB) %s\033[K", p->what,
            pct > 100.0 ? 100.0 : pct, (double)at / 1048576.0, (double)p->total / 1048576.0, shown);
    fflush(stderr);
    p->drawn = true;
}

void cli_progress_tick(struct cli_progress *p, const struct tr_reader *r)
{
    if (!p || !p->on || ++p->ticks < 4096)
        return;
    p->ticks = 0;
    int64_t t = now_ms();
    if (t - p->last_ms < 100)
        return;
    p->last_ms = t;
    draw(p, p->done + tr_position(r));
}

void cli_progress_done_file(struct cli_progress *p, uint64_t size)
{
    p->done += size;
    p->file = NULL;
}

void cli_progress_end(struct cli_progress *p)
{
    if (p->on && p->drawn)
        fputs("\r\033[K", stderr);
    p->drawn = false;
}
