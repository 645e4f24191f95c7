/*
 * Stage rules: the stage of a process that only it can tell, after it
 * started.  A server's launcher starts its stage workers (multiprocessing
 * spawn, forkserver or fork, subprocess) with one environment, so
 * OMNIPROF_STAGE cannot tell them apart; each worker then says who it is
 * by what it sets before it starts CUDA:
 *
 *   stage_env=VAR     a variable the worker sets (CUDA_VISIBLE_DEVICES),
 *                     read through stage_map=VALUE:STAGE,A-B:STAGE,... or,
 *                     without stage_map, as the stage number itself;
 *   stage_title=ERE   its process title (prctl(PR_SET_NAME), setproctitle)
 *                     or command line, whose first group is the stage.
 *
 * Pure functions of the configuration and a text: control.c reads the
 * variable and the title, and when (CUDA's start, each start request).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

bool ctl_stage_by_rule(const struct ctl_config *c)
{
    return c->stage < 0 && (c->stage_env[0] || c->stage_title[0]);
}

/* [s, end) as a whole number within [0, max]; -1 otherwise. */
static long number(const char *s, const char *end, long max)
{
    long v = 0;
    if (s == end || end - s > 9)
        return -1;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v <= max ? v : -1;
}

/* One stage_map entry [s, end): VALUE:STAGE or A-B:STAGE.  Returns its
 * stage (>= 0) when it is well formed; *hit: whether value matches it. */
static long entry(const char *s, const char *end, const char *value, size_t vlen, bool *hit)
{
    const char *colon = NULL;
    for (const char *p = s; p < end; p++)
        if (*p == ':')
            colon = p; /* the last one: a value (a MIG id) may hold colons */
    long stage = colon ? number(colon + 1, end, CTL_MAX_STAGE) : -1;
    if (stage < 0 || colon == s)
        return -1;
    const char *dash = memchr(s + 1, '-', (size_t)(colon - s - 1));
    long lo = dash ? number(s, dash, 1L << 30) : -1,
         hi = dash ? number(dash + 1, colon, 1L << 30) : -1;
    if (lo >= 0 && hi >= lo) {
        long v = value ? number(value, value + vlen, 1L << 30) : -1;
        *hit = v >= lo && v <= hi;
    } else {
        *hit = value && (size_t)(colon - s) == vlen && memcmp(s, value, vlen) == 0;
    }
    return stage;
}

/* Walks stage_map: the stage value maps to, -1 when none does; with value
 * NULL, checks the syntax (-1: an entry is malformed, else 0). */
static long walk_map(const char *map, const char *value, size_t vlen)
{
    const char *p = map;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        while (p < end && *p == ' ')
            p++;
        const char *e = end;
        while (e > p && e[-1] == ' ')
            e--;
        bool hit = false;
        long stage = entry(p, e, value, vlen, &hit);
        if (stage < 0 && !value)
            return -1;
        if (hit)
            return stage;
        p = *end ? end + 1 : end;
    }
    return value ? -1 : 0;
}

long ctl_stage_of_value(const struct ctl_config *c, const char *value)
{
    if (!value)
        return -1;
    size_t vlen = strcspn(value, ",");
    while (vlen && value[0] == ' ')
        value++, vlen--;
    while (vlen && value[vlen - 1] == ' ')
        vlen--;
    if (!vlen)
        return -1;
    if (!c->stage_map[0])
        return number(value, value + vlen, CTL_MAX_STAGE);
    return walk_map(c->stage_map, value, vlen);
}

long ctl_stage_of_title(const struct ctl_config *c, const char *text)
{
    regex_t re;
    regmatch_t m[2];
    if (!c->stage_title[0] || !text || regcomp(&re, c->stage_title, REG_EXTENDED) != 0)
        return -1;
    long stage = -1;
    if (re.re_nsub >= 1 && regexec(&re, text, 2, m, 0) == 0 && m[1].rm_so >= 0)
        stage = number(text + m[1].rm_so, text + m[1].rm_eo, CTL_MAX_STAGE);
    regfree(&re);
    return stage;
}

int ctl_stage_rules_check(const struct ctl_config *c, const char *source, struct ctl_error *err)
{
    char shown[160];
    struct ctl_error ignored;
    if (!err)
        err = &ignored;
    if (c->stage_map[0] && !c->stage_env[0]) {
        snprintf(err->msg, sizeof err->msg,
                 "%s: stage_map: maps the values of stage_env's variable; set stage_env too "
                 "(e.g. stage_env=CUDA_VISIBLE_DEVICES)",
                 source);
        return -EINVAL;
    }
    if (c->stage_env[0] && (strchr(c->stage_env, '=') || strchr(c->stage_env, ' '))) {
        snprintf(err->msg, sizeof err->msg, "%s: stage_env: '%s' is not a variable name", source,
                 ctl_config_show(c->stage_env, shown, sizeof shown));
        return -EINVAL;
    }
    if (c->stage_map[0] && walk_map(c->stage_map, NULL, 0) < 0) {
        snprintf(err->msg, sizeof err->msg,
                 "%s: stage_map: '%s' is not a list of VALUE:STAGE or A-B:STAGE (e.g. "
                 "0:0,1:1,2-3:2)",
                 source, ctl_config_show(c->stage_map, shown, sizeof shown));
        return -EINVAL;
    }
    if (c->stage_title[0]) {
        regex_t re;
        int rc = regcomp(&re, c->stage_title, REG_EXTENDED);
        char why[128] = "";
        if (rc != 0)
            regerror(rc, &re, why, sizeof why);
        else if (re.re_nsub < 1)
            snprintf(why, sizeof why, "it has no group ( ) to hold the stage number");
        if (rc == 0)
            regfree(&re);
        if (why[0]) {
            snprintf(err->msg, sizeof err->msg,
                     "%s: stage_title: '%s' is not a POSIX extended regular expression with a "
                     "group for the stage (e.g. stage-([0-9]+)): %s",
                     source, ctl_config_show(c->stage_title, shown, sizeof shown), why);
            return -EINVAL;
        }
    }
    return 0;
}
