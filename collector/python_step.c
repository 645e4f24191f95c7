/*
 * step_on=py:MODULE:QUALNAME: every call of one Python function is an
 * iteration boundary, in a program that is not changed for it.
 *
 * Installing needs the GIL, which omniprof never takes in a hooked call nor
 * on its control thread.  So the control thread asks the interpreter to run
 * the installation for it: Py_AddPendingCall (documented as callable from
 * any thread, without a thread state or the GIL, in every version 3.8-3.13)
 * queues a C callback that the main thread runs between two bytecodes, GIL
 * held.  The callback looks MODULE up in sys.modules (the program imported
 * it: omniprof imports nothing), resolves QUALNAME attribute by attribute,
 * and replaces the function on its owner (the module, or the class for a
 * method) with a wrapper.  Until that succeeds the control thread asks
 * again, every 100 ms and later every second; a name still missing after
 * MISSES_BEFORE_WARNING attempts made while a session waits gets one
 * warning, and is still looked for.
 *
 * The wrapper is an instance of a small type made with PyType_FromSpec.
 * Its tp_call calls the original and then coll_step() (a completed call is
 * a step, as step_on=<API> counts them and as vLLM steps after each
 * execute_model); its tp_descr_get binds it to an instance as a function
 * does, so instance.method() and bound methods made later go through it;
 * a staticmethod or classmethod stays one around it; __wrapped__, __name__,
 * __doc__ and the like answer for the original.  Calls of every other
 * function cost nothing: nothing else is touched.  Only functions of
 * CPython's C API are used, found with dlsym: no Python source is run.
 *
 * Limits: a name imported by value before the installation (`from m import
 * f` copies f) keeps calling the original; a C type's method cannot be
 * replaced (one warning); the callback runs when the main thread runs
 * Python, so a main thread blocked in C for good never installs it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "python.h"

#define MISSES_BEFORE_WARNING 20
#define FAST_TICKS 50 /* 5 s every 100 ms, then once a second */

/* CPython's type slot ids (typeslots.h, stable ABI) and type flags. */
enum {
    SLOT_TP_ALLOC = 47,
    SLOT_TP_CALL = 50,
    SLOT_TP_DEALLOC = 52,
    SLOT_TP_DESCR_GET = 54,
    SLOT_TP_GETATTRO = 58,
    SLOT_TP_SETATTRO = 69,
    SLOT_TP_FREE = 74,
};
#define TPFLAGS_DEFAULT (1ul << 18) /* Py_TPFLAGS_HAVE_VERSION_TAG */

typedef void obj; /* a PyObject */

struct type_slot {
    int slot;
    void *fn;
};
struct type_spec {
    const char *name;
    int basicsize, itemsize;
    unsigned int flags;
    struct type_slot *slots;
};

/* PyObject_HEAD (a release build's), then the original callable. */
struct wrapper {
    intptr_t refcnt;
    obj *type;
    obj *original;
    int binds; /* the original is a descriptor (a function): bind like one */
};

/* The C API, from dlsym (resolve_api, control thread, before any pending
 * call is queued; read-only after). */
static struct {
    int (*add_pending_call)(int (*fn)(void *), void *arg);
    int (*is_initialized)(void);
    int (*is_finalizing)(void);
    obj *(*module_dict)(void);
    obj *(*dict_get)(obj *d, const char *key);
    obj *(*getattr_s)(obj *o, const char *name);
    int (*setattr_s)(obj *o, const char *name, obj *v);
    int (*hasattr_s)(obj *o, const char *name);
    obj *(*getattr)(obj *o, obj *name);
    int (*setattr)(obj *o, obj *name, obj *v);
    obj *(*generic_getattr)(obj *o, obj *name);
    obj *(*getitem)(obj *o, obj *key);
    intptr_t (*tuple_size)(obj *t);
    obj *(*tuple_item)(obj *t, intptr_t i); /* borrowed */
    obj *(*call)(obj *f, obj *args, obj *kwargs);
    obj *(*call_objargs)(obj *f, ...);
    obj *(*method_new)(obj *f, obj *self);
    obj *(*type_from_spec)(struct type_spec *spec);
    void *(*type_slot)(obj *type, int slot);
    int (*isinstance)(obj *o, obj *cls);
    int (*callable)(obj *o);
    void (*err_clear)(void);
    int (*err_matches)(obj *exc);
    obj *(*str)(const char *s);
    int (*str_eq_ascii)(obj *s, const char *ascii);
    void (*incref)(obj *o);
    void (*decref)(obj *o);
    obj **attribute_error;
    obj *type_type, *staticmethod_type, *classmethod_type, *none, *object_type;
} api;
static bool have_api;

static char module_name[256], qualname[256];
static bool configured;

/* The installation's state: the control thread queues an attempt (queued
 * set), the main thread makes it and publishes its outcome (queued cleared
 * with release; outcome and why written before). */
enum { WAITING, INSTALLED, FAILED };
static _Atomic int queued;
static int outcome = WAITING; /* after an attempt */
static char why[1024];        /* what the last attempt found */
static obj *wrapper_type;     /* made by the first installation (main thread) */

/* Control thread only.  finished: installed, or never will be. */
static int attempts, misses, ticks;
static bool warned, finished;

/* ---- the wrapper (main thread or any thread calling it, GIL held) ------ */

static obj *wrapper_call(obj *self, obj *args, obj *kwargs)
{
    obj *r = api.call(((struct wrapper *)self)->original, args, kwargs);
    int saved = errno;
    coll_step();
    errno = saved;
    return r;
}

static obj *wrapper_get(obj *self, obj *instance, obj *owner)
{
    (void)owner;
    if (!instance || instance == api.none || !((struct wrapper *)self)->binds) {
        api.incref(self);
        return self;
    }
    return api.method_new(self, instance);
}

/* Names that describe the function: the original's. */
static bool described(obj *name)
{
    static const char *const names[] = {"__doc__",      "__module__",   "__name__",
                                        "__qualname__", "__dict__",     "__annotations__",
                                        "__code__",     "__defaults__", "__kwdefaults__",
                                        "__globals__",  "__closure__",  "__text_signature__"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (api.str_eq_ascii(name, names[i]) == 0)
            return true;
    return false;
}

static obj *wrapper_getattro(obj *self, obj *name)
{
    obj *original = ((struct wrapper *)self)->original;
    if (api.str_eq_ascii(name, "__wrapped__") == 0) {
        api.incref(original);
        return original;
    }
    if (described(name))
        return api.getattr(original, name);
    obj *r = api.generic_getattr(self, name);
    if (r || !api.err_matches(*api.attribute_error))
        return r;
    api.err_clear();
    return api.getattr(original, name);
}

static int wrapper_setattro(obj *self, obj *name, obj *value)
{
    return api.setattr(((struct wrapper *)self)->original, name, value);
}

static void wrapper_dealloc(obj *self)
{
    struct wrapper *w = self;
    obj *type = w->type;
    api.decref(w->original);
    void (*tp_free)(void *) = (void (*)(void *))api.type_slot(type, SLOT_TP_FREE);
    tp_free(self);
    api.decref(type);
}

/* ---- installing (the main thread, GIL held) --------------------------- */

static obj *type_of(obj *o)
{
    return ((struct wrapper *)o)->type; /* ob_type, in every object's header */
}

static bool is_wrapper(obj *o)
{
    return wrapper_type && o && type_of(o) == wrapper_type;
}

/* A new wrapper around original (a new reference), or NULL. */
static obj *wrap(obj *original)
{
    if (!wrapper_type) {
        static struct type_slot slots[] = {
            {SLOT_TP_CALL, (void *)wrapper_call},
            {SLOT_TP_DESCR_GET, (void *)wrapper_get},
            {SLOT_TP_GETATTRO, (void *)wrapper_getattro},
            {SLOT_TP_SETATTRO, (void *)wrapper_setattro},
            {SLOT_TP_DEALLOC, (void *)wrapper_dealloc},
            {0, NULL},
        };
        static struct type_spec spec = {"omniprof.step_on", (int)sizeof(struct wrapper), 0,
                                        TPFLAGS_DEFAULT, slots};
        wrapper_type = api.type_from_spec(&spec); /* kept for the process's life */
        if (!wrapper_type)
            return NULL;
    }
    obj *(*alloc)(obj *, intptr_t) =
        (obj * (*)(obj *, intptr_t)) api.type_slot(wrapper_type, SLOT_TP_ALLOC);
    struct wrapper *w = alloc ? alloc(wrapper_type, 0) : NULL;
    if (!w)
        return NULL;
    api.incref(original);
    w->original = original;
    w->binds = api.hasattr_s(original, "__get__");
    return w;
}

/* The attribute as the class dictionaries along owner's MRO hold it (a
 * staticmethod or classmethod object, not what getattr makes of it), or
 * value when owner is not a class; a new reference. */
static obj *raw_attribute(obj *owner, const char *name, obj *value)
{
    obj *found = NULL;
    if (api.isinstance(owner, api.type_type) == 1) {
        obj *mro = api.getattr_s(owner, "__mro__"), *key = api.str(name);
        intptr_t n = mro && key ? api.tuple_size(mro) : 0;
        for (intptr_t i = 0; i < n && !found; i++) {
            obj *dict = api.getattr_s(api.tuple_item(mro, i), "__dict__");
            found = dict ? api.getitem(dict, key) : NULL;
            if (dict)
                api.decref(dict);
        }
        if (mro)
            api.decref(mro);
        if (key)
            api.decref(key);
    }
    api.err_clear();
    if (!found) {
        api.incref(value);
        found = value;
    }
    return found;
}

/* Replaces owner.name (value: getattr's answer) with its wrapper. */
static int replace(obj *owner, const char *name, obj *value)
{
    obj *raw = raw_attribute(owner, name, value), *func = NULL, *w = NULL, *put = NULL;
    bool method_kind = api.isinstance(raw, api.staticmethod_type) == 1 ||
                       api.isinstance(raw, api.classmethod_type) == 1;
    int rc = 0;
    if (method_kind)
        func = api.getattr_s(raw, "__func__");
    else
        api.incref(func = raw);
    if (is_wrapper(func)) {
        rc = 0; /* installed already (a fork child, or a second attempt) */
    } else if (!func || !api.callable(func)) {
        snprintf(why, sizeof why, "%s is not callable", qualname);
        rc = -EINVAL;
    } else if (!(w = wrap(func))) {
        snprintf(why, sizeof why, "cannot make its wrapper");
        rc = -ENOMEM;
    } else {
        /* a staticmethod or classmethod stays one, around the wrapper */
        put = method_kind ? api.call_objargs(type_of(raw), w, NULL) : (api.incref(w), w);
        if (!put || api.setattr_s(owner, name, put) < 0) {
            snprintf(why, sizeof why, "cannot replace %s on its owner (a C type's method?)",
                     qualname);
            rc = -EPERM;
        }
    }
    api.err_clear();
    if (put)
        api.decref(put);
    if (w)
        api.decref(w);
    if (func)
        api.decref(func);
    api.decref(raw);
    return rc;
}

/* sys.modules[MODULE], then QUALNAME's parts; 0 when installed, -ENOENT
 * when a name is not there (yet), another -errno for good. */
static int install_now(void)
{
    obj *modules = api.module_dict(), *at = modules ? api.dict_get(modules, module_name) : NULL;
    if (!at) {
        api.err_clear();
        snprintf(why, sizeof why, "module %s is not imported", module_name);
        return -ENOENT;
    }
    api.incref(at);
    char parts[sizeof qualname];
    snprintf(parts, sizeof parts, "%s", qualname);
    obj *owner = NULL;
    const char *name = parts;
    for (char *p = parts, *dot; at; p = dot + 1) {
        dot = strchr(p, '.');
        if (dot)
            *dot = '\0';
        if (owner)
            api.decref(owner);
        owner = at;
        name = p;
        at = api.getattr_s(owner, p);
        if (!at) {
            api.err_clear();
            snprintf(why, sizeof why, "no attribute %s on the way to %s in %s (yet)", p, qualname,
                     module_name);
            api.decref(owner);
            return -ENOENT;
        }
        if (!dot)
            break;
    }
    int rc = replace(owner, name, at);
    api.decref(at);
    api.decref(owner);
    return rc;
}

/* The pending call: never raises (an exception would surface in whatever
 * the main thread was running). */
static int install(void *arg)
{
    (void)arg;
    int rc = install_now();
    outcome = rc == 0 ? INSTALLED : rc == -ENOENT ? WAITING : FAILED;
    atomic_store_explicit(&queued, 0, memory_order_release);
    return 0;
}

/* ---- the control side ---------------------------------------------------- */

#define SYM(field, name) (api.field = (__typeof__(api.field))dlsym(RTLD_DEFAULT, name)) != NULL

/* Whether every C API function is there (an interpreter in the process). */
static bool resolve_api(void)
{
    if (have_api)
        return true;
    if (!dlsym(RTLD_DEFAULT, "Py_IsInitialized"))
        return false;
    bool ok =
        SYM(add_pending_call, "Py_AddPendingCall") && SYM(is_initialized, "Py_IsInitialized") &&
        (SYM(is_finalizing, "Py_IsFinalizing") || SYM(is_finalizing, "_Py_IsFinalizing")) &&
        SYM(module_dict, "PyImport_GetModuleDict") && SYM(dict_get, "PyDict_GetItemString") &&
        SYM(getattr_s, "PyObject_GetAttrString") && SYM(setattr_s, "PyObject_SetAttrString") &&
        SYM(hasattr_s, "PyObject_HasAttrString") && SYM(getattr, "PyObject_GetAttr") &&
        SYM(setattr, "PyObject_SetAttr") && SYM(generic_getattr, "PyObject_GenericGetAttr") &&
        SYM(getitem, "PyObject_GetItem") && SYM(call, "PyObject_Call") &&
        SYM(call_objargs, "PyObject_CallFunctionObjArgs") && SYM(method_new, "PyMethod_New") &&
        SYM(type_from_spec, "PyType_FromSpec") && SYM(type_slot, "PyType_GetSlot") &&
        SYM(isinstance, "PyObject_IsInstance") && SYM(callable, "PyCallable_Check") &&
        SYM(err_clear, "PyErr_Clear") && SYM(err_matches, "PyErr_ExceptionMatches") &&
        SYM(str, "PyUnicode_FromString") && SYM(str_eq_ascii, "PyUnicode_CompareWithASCIIString") &&
        SYM(tuple_size, "PyTuple_Size") && SYM(tuple_item, "PyTuple_GetItem") &&
        SYM(incref, "Py_IncRef") && SYM(decref, "Py_DecRef") &&
        SYM(attribute_error, "PyExc_AttributeError") && SYM(type_type, "PyType_Type") &&
        SYM(staticmethod_type, "PyStaticMethod_Type") &&
        SYM(classmethod_type, "PyClassMethod_Type") && SYM(none, "_Py_NoneStruct") &&
        SYM(object_type, "PyBaseObject_Type");
    /* a release build's object header: object's basic size is 16 bytes
     * (a debug or free-threaded build lays objects out otherwise) */
    if (ok && *(const intptr_t *)((const char *)api.object_type + 32) != 16) {
        if (!finished)
            coll_log(COLL_LOG_WARN, "step_on",
                     "this Python is not a build omniprof can install py: steps in (a debug or "
                     "free-threaded build?); step_on=py:%s:%s counts nothing",
                     module_name, qualname);
        finished = true;
        return false;
    }
    have_api = ok;
    return ok;
}
#undef SYM

void coll_python_step_on(const char *module, const char *name)
{
    snprintf(module_name, sizeof module_name, "%s", module);
    snprintf(qualname, sizeof qualname, "%s", name);
    configured = true;
}

int coll_python_step_tick(bool session)
{
    if (!configured || finished)
        return -1;
    int wait = ++ticks < FAST_TICKS ? 100 : 1000;
    if (atomic_load_explicit(&queued, memory_order_acquire))
        return wait; /* the main thread has not run Python since */
    if (attempts > 0 && outcome == INSTALLED) {
        coll_log(warned ? COLL_LOG_INFO : COLL_LOG_DEBUG, "step_on",
                 "py:%s:%s installed: each of its calls is a step", module_name, qualname);
        finished = true; /* nothing more to do */
        return -1;
    }
    if (attempts > 0 && outcome == FAILED) {
        coll_log(COLL_LOG_WARN, "step_on", "py:%s:%s cannot be installed: %s; it counts no steps",
                 module_name, qualname, why);
        finished = true;
        return -1;
    }
    if (attempts > 0 && session && ++misses == MISSES_BEFORE_WARNING && !warned) {
        coll_log(COLL_LOG_WARN, "step_on",
                 "py:%s:%s is not there after %d tries: %s; steps are counted once it is",
                 module_name, qualname, misses, why);
        warned = true;
    }
    /* Checked just before: Py_AddPendingCall on an interpreter past its
     * finalisation would use what it freed (only a control thread held up
     * here for all of the interpreter's finalisation could see that). */
    if (!resolve_api() || !api.is_initialized() || api.is_finalizing())
        return finished ? -1 : wait;
    attempts++;
    atomic_store_explicit(&queued, 1, memory_order_relaxed);
    if (api.add_pending_call(install, NULL) != 0) /* the queue is full: later */
        atomic_store_explicit(&queued, 0, memory_order_relaxed);
    return wait;
}

void coll_python_step_atfork_child(void)
{
    /* the parent's queued call may never run here (it may run: install
     * then finds its wrapper in place) */
    atomic_store_explicit(&queued, 0, memory_order_relaxed);
}
