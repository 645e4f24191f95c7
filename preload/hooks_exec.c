/*
 * exec and posix_spawn.
 *
 * exec replaces the process image without running atexit handlers, so a
 * running session is stopped and written first (and restarted if the exec
 * fails).  Children inherit LD_PRELOAD and the OMNIPROF* variables and are
 * profiled too; follow_exec=false removes omniprof from the environment
 * they get instead.
 *
 * In a vfork child (which shares the parent's memory and runs no atfork
 * handler) nothing of the parent's state is touched and nothing is
 * allocated: ctl_exec_prepare() recognises it by its pid.
 */
#include <alloca.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "preload.h"

extern char **environ;

#define MAX_FILTERED_ENV 4096

static bool is_ours(const char *path, size_t len)
{
    const char *base = path;
    for (size_t i = 0; i < len; i++)
        if (path[i] == '/')
            base = path + i + 1;
    return (size_t)(path + len - base) >= 14 && strncmp(base, "libomniprof.so", 14) == 0;
}

/* LD_PRELOAD without omniprof's entries, written into out. */
static void strip_preload(const char *value, char *out)
{
    size_t n = 0;
    for (const char *p = value; *p;) {
        size_t len = strcspn(p, ": ");
        if (len && !is_ours(p, len)) {
            if (n)
                out[n++] = ':';
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
        if (*p)
            p++;
    }
    out[n] = '\0';
}

/* Fills out (room for MAX_FILTERED_ENV + 1) with envp minus omniprof;
 * preload_buf holds the rewritten LD_PRELOAD.  Returns out, or envp when
 * it is too large to filter on the stack. */
static char *const *filter_env(char *const *envp, char **out, char *preload_buf, size_t cap)
{
    size_t n = 0;
    for (char *const *e = envp; e && *e; e++) {
        if (n == MAX_FILTERED_ENV)
            return envp;
        if (strncmp(*e, "OMNIPROF", 8) == 0 && ((*e)[8] == '=' || (*e)[8] == '_'))
            continue;
        if (strncmp(*e, "CUDA_INJECTION64_PATH=", 22) == 0 && is_ours(*e + 22, strlen(*e + 22)))
            continue;
        if (strncmp(*e, "NVTX_INJECTION64_PATH=", 22) == 0 && is_ours(*e + 22, strlen(*e + 22)))
            continue;
        if (strncmp(*e, "LD_PRELOAD=", 11) == 0 && strlen(*e) < cap) {
            memcpy(preload_buf, "LD_PRELOAD=", 11);
            strip_preload(*e + 11, preload_buf + 11);
            if (preload_buf[11]) /* nothing else was preloaded: drop the variable */
                out[n++] = preload_buf;
            continue;
        }
        out[n++] = *e;
    }
    out[n] = NULL;
    return out;
}

/* Room for a filtered environment: the pointers, then LD_PRELOAD's text. */
enum { ENV_POINTERS_ROOM = (MAX_FILTERED_ENV + 1) * sizeof(char *), PRELOAD_ROOM = 4096 };
enum { CHILD_ENV_ROOM = ENV_POINTERS_ROOM + PRELOAD_ROOM };

/* The environment children get: envp itself (follow_exec) or, when room
 * (CHILD_ENV_ROOM bytes) is given, a copy without omniprof built in it.
 * The room is the caller's alloca: nothing is allocated, as a vfork child
 * must not. */
static char *const *child_env(char *const *envp, void *room)
{
    if (!room)
        return envp;
    return filter_env(envp, room, (char *)room + ENV_POINTERS_ROOM, PRELOAD_ROOM);
}

typedef int (*exec_fn)(const char *, char *const[], char *const[]);

/* execve and execvpe: write a running session, replace the image with the
 * environment children should get, and restart the session if that failed. */
static int exec_image(exec_fn real, const char *what, char *const argv[], char *const envp[])
{
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    void *room = ctl_follow_exec() ? NULL : alloca(CHILD_ENV_ROOM);
    char *const *env = child_env(envp, room);
    bool was_running = ctl_exec_prepare();
    int r = real(what, argv, env);
    int saved = errno;
    ctl_exec_failed(was_running);
    errno = saved;
    return r;
}

PL_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return exec_image(PL_REAL(execve), path, argv, envp);
}

PL_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return exec_image(PL_REAL(execvpe), file, argv, envp);
}

/* glibc's execv/execvp/execl* call its internal execve, not ours. */
PL_EXPORT int execv(const char *path, char *const argv[])
{
    return execve(path, argv, environ);
}

PL_EXPORT int execvp(const char *file, char *const argv[])
{
    return execvpe(file, argv, environ);
}

/* execl*: the arguments after `first`, up to the NULL, as an argv.  The
 * caller counts them (count_args), makes room for argc + 1 pointers on its
 * stack, and fills it (fill_args), leaving ap after the NULL (execle's
 * envp follows). */
static size_t count_args(va_list ap)
{
    size_t argc = 1;
    while (va_arg(ap, const char *))
        argc++;
    return argc;
}

static void fill_args(char **argv, const char *first, size_t argc, va_list *ap)
{
    argv[0] = (char *)first;
    for (size_t i = 1; i <= argc; i++)
        argv[i] = va_arg(*ap, char *); /* argv[argc] takes the NULL */
}

PL_EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t argc = count_args(ap);
    va_end(ap);
    char **argv = alloca((argc + 1) * sizeof *argv);
    va_start(ap, arg);
    fill_args(argv, arg, argc, &ap);
    va_end(ap);
    return execve(path, argv, environ);
}

PL_EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t argc = count_args(ap);
    va_end(ap);
    char **argv = alloca((argc + 1) * sizeof *argv);
    va_start(ap, arg);
    fill_args(argv, arg, argc, &ap);
    va_end(ap);
    return execvpe(file, argv, environ);
}

PL_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t argc = count_args(ap);
    va_end(ap);
    char **argv = alloca((argc + 1) * sizeof *argv);
    va_start(ap, arg);
    fill_args(argv, arg, argc, &ap);
    char **envp = va_arg(ap, char **);
    va_end(ap);
    return execve(path, argv, envp);
}

PL_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (!PL_REAL(posix_spawn))
        return ENOSYS;
    void *room = ctl_follow_exec() ? NULL : alloca(CHILD_ENV_ROOM);
    char *const *env = child_env(envp, room);
    return pl_real.posix_spawn(pid, path, actions, attr, argv, env);
}

PL_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (!PL_REAL(posix_spawnp))
        return ENOSYS;
    void *room = ctl_follow_exec() ? NULL : alloca(CHILD_ENV_ROOM);
    char *const *env = child_env(envp, room);
    return pl_real.posix_spawnp(pid, file, actions, attr, argv, env);
}
