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

#define CHILD_ENV(envp, name)                                                                      \
    char **name##_array = ctl_follow_exec() ? NULL : alloca((MAX_FILTERED_ENV + 1) * sizeof(char *)); \
    char *name##_preload = name##_array ? alloca(4096) : NULL;                                     \
    char *const *name = name##_array ? filter_env(envp, name##_array, name##_preload, 4096) : envp

typedef int (*exec_fn)(const char *, char *const[], char *const[]);

/* execve and execvpe: write a running session, replace the image with the
 * environment children should get, and restart the session if that failed. */
static int exec_image(exec_fn real, const char *what, char *const argv[], char *const envp[])
{
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    CHILD_ENV(envp, env);
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

/* Collects a NULL-terminated variadic argument list into argv. */
#define VA_ARGV(first, ap, argv, extra_env)                                                        \
    size_t argc_ = 1;                                                                              \
    va_start(ap, first);                                                                           \
    while (va_arg(ap, const char *))                                                               \
        argc_++;                                                                                   \
    va_end(ap);                                                                                    \
    char **argv = alloca((argc_ + 1) * sizeof(char *));                                            \
    va_start(ap, first);                                                                           \
    argv[0] = (char *)(first);                                                                     \
    for (size_t i_ = 1; i_ <= argc_; i_++)                                                         \
        argv[i_] = va_arg(ap, char *);                                                             \
    extra_env;                                                                                     \
    va_end(ap)

PL_EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    VA_ARGV(arg, ap, argv, (void)0);
    return execve(path, argv, environ);
}

PL_EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    VA_ARGV(arg, ap, argv, (void)0);
    return execvpe(file, argv, environ);
}

PL_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    char **envp;
    VA_ARGV(arg, ap, argv, envp = va_arg(ap, char **));
    return execve(path, argv, envp);
}

PL_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (!PL_REAL(posix_spawn))
        return ENOSYS;
    CHILD_ENV(envp, env);
    return pl_real.posix_spawn(pid, path, actions, attr, argv, env);
}

PL_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (!PL_REAL(posix_spawnp))
        return ENOSYS;
    CHILD_ENV(envp, env);
    return pl_real.posix_spawnp(pid, file, actions, attr, argv, env);
}
