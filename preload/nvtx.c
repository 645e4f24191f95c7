/*
 * The NVTX tool.  Each NVTX instance in the process (every library built
 * with the NVTX v3 headers has its own) calls InitializeInjectionNvtx2 at
 * its first NVTX call when NVTX_INJECTION64_PATH names this library; it is
 * given the instance's export table and fills the instance's callback
 * tables (NvtxGetExportTableFunc -> NVTX_ETID_CALLBACKS ->
 * GetModuleFunctionTable(module) -> one slot per callback id): the core and
 * core2 modules (ranges, marks, domains, registered strings, categories,
 * threads) and the CUDA driver's and runtime's naming of devices and
 * streams.  Slots left empty (OpenCL, sync objects, contexts, events,
 * resources) NVTX makes no-ops.
 *
 * The callbacks are thin: they turn NVTX's arguments into a struct
 * coll_nvtx (and the message's text, not interned) and hand it to
 * collector/ (nvtx.c, nvtx_names.c).  Range calls reach collector/ in any
 * state, which holds ranges begun while idle too (a copy of their
 * description, no time); with no session started push and pop return
 * NVTX's own answer for "no tool", NVTX_NO_PUSH_POP_TRACKING, and a start
 * its range's id.  Marks are dropped at once unless recording.  Names,
 * domains and registered strings are kept in any state: they hold for the
 * process.  errno is kept.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVTX_NO_IMPL /* a tool: NVTX's types and declarations, none of its code */
#include <nvtx3/nvToolsExt.h>
#include <nvtx3/nvToolsExtCuda.h>
#include <nvtx3/nvToolsExtCudaRt.h>

#include "preload.h"

/* ---- what NVTX says, as collector/ takes it -------------------------------------- */

static uint16_t domain_of(nvtxDomainHandle_t h)
{
    uintptr_t d = (uintptr_t)h; /* our handles are domain indexes; NULL: the default */
    return d < 256 ? (uint16_t)d : 0;
}

static const struct coll_nvtx_text no_text;

/* A message: its text, for collector/ to intern or copy, or a registered
 * string's id (into r). */
static struct coll_nvtx_text message(int32_t type, nvtxMessageValue_t m, struct coll_nvtx *r)
{
    switch (type) {
    case NVTX_MESSAGE_TYPE_ASCII: return (struct coll_nvtx_text){.s = m.ascii};
    case NVTX_MESSAGE_TYPE_UNICODE: return (struct coll_nvtx_text){.w = m.unicode};
    case NVTX_MESSAGE_TYPE_REGISTERED: {
        uintptr_t id = (uintptr_t)m.registered;
        r->message = id <= UINT32_MAX && coll_nvtx_string_valid((uint32_t)id) ? (uint32_t)id : 0;
        return no_text;
    }
    default: return no_text;
    }
}

static uint64_t payload_bits(const nvtxEventAttributes_t *a)
{
    switch (a->payloadType) {
    case NVTX_PAYLOAD_TYPE_UNSIGNED_INT32: return a->payload.uiValue;
    case NVTX_PAYLOAD_TYPE_INT32: return (uint64_t)(int64_t)a->payload.iValue;
    case NVTX_PAYLOAD_TYPE_FLOAT: {
        uint32_t bits;
        memcpy(&bits, &a->payload.fValue, sizeof bits);
        return bits;
    }
    default: return a->payload.ullValue; /* the 64-bit types, as bits */
    }
}

/* An nvtxEventAttributes_t (of any size the program declares) as a range,
 * its message's text in *t. */
static struct coll_nvtx attributes(const nvtxEventAttributes_t *a, uint16_t domain,
                                   struct coll_nvtx_text *t)
{
    struct coll_nvtx r = {.domain = domain};
    *t = no_text;
    if (!a || a->size < offsetof(nvtxEventAttributes_t, message) + sizeof a->message)
        return r;
    *t = message(a->messageType, a->message, &r);
    r.category = a->category;
    if (a->colorType == NVTX_COLOR_ARGB) {
        r.flags |= COLL_NVTX_COLOR;
        r.color = a->color;
    }
    if (a->payloadType >= NVTX_PAYLOAD_TYPE_UNSIGNED_INT64 &&
        a->payloadType <= NVTX_PAYLOAD_TYPE_FLOAT) {
        r.payload_type = (uint8_t)a->payloadType;
        r.payload = payload_bits(a);
    }
    return r;
}

/* ---- ranges and marks ------------------------------------------------------------ */

/* Every range call reaches collector/, idle or not: a range begun while
 * idle is held (its description copied) so that a session started before
 * it ends shows it.  collector/ keeps errno on these paths itself: idle,
 * they touch nothing that sets it, and saving it there would be most of
 * their cost. */
static int push(const struct coll_nvtx *r, struct coll_nvtx_text t)
{
    return coll_nvtx_push(r, t);
}

static int pop(uint16_t domain)
{
    return coll_nvtx_pop(domain);
}

static nvtxRangeId_t start_range(const struct coll_nvtx *r, struct coll_nvtx_text t)
{
    return coll_nvtx_start(r, t);
}

static void end_range(nvtxRangeId_t id)
{
    coll_nvtx_end(id);
}

static void mark(const struct coll_nvtx *r, struct coll_nvtx_text t)
{
    int saved = errno;
    coll_nvtx_mark(r, t);
    errno = saved;
}

static int NVTX_API push_ex(const nvtxEventAttributes_t *a)
{
    struct coll_nvtx_text t;
    struct coll_nvtx r = attributes(a, 0, &t);
    return push(&r, t);
}

static int NVTX_API push_a(const char *m)
{
    return push(&(struct coll_nvtx){0}, (struct coll_nvtx_text){.s = m});
}

static int NVTX_API push_w(const wchar_t *m)
{
    return push(&(struct coll_nvtx){0}, (struct coll_nvtx_text){.w = m});
}

static int NVTX_API range_pop(void)
{
    return pop(0);
}

static nvtxRangeId_t NVTX_API start_ex(const nvtxEventAttributes_t *a)
{
    struct coll_nvtx_text t;
    struct coll_nvtx r = attributes(a, 0, &t);
    return start_range(&r, t);
}

static nvtxRangeId_t NVTX_API start_a(const char *m)
{
    return start_range(&(struct coll_nvtx){0}, (struct coll_nvtx_text){.s = m});
}

static nvtxRangeId_t NVTX_API start_w(const wchar_t *m)
{
    return start_range(&(struct coll_nvtx){0}, (struct coll_nvtx_text){.w = m});
}

static void NVTX_API range_end(nvtxRangeId_t id)
{
    end_range(id);
}

static void NVTX_API mark_ex(const nvtxEventAttributes_t *a)
{
    if (!coll_recording())
        return;
    struct coll_nvtx_text t;
    struct coll_nvtx r = attributes(a, 0, &t);
    mark(&r, t);
}

static void NVTX_API mark_a(const char *m)
{
    if (coll_recording())
        mark(&(struct coll_nvtx){0}, (struct coll_nvtx_text){.s = m});
}

static void NVTX_API mark_w(const wchar_t *m)
{
    if (coll_recording())
        mark(&(struct coll_nvtx){0}, (struct coll_nvtx_text){.w = m});
}

/* ---- domains ----------------------------------------------------------------------- */

static int NVTX_API domain_push(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a)
{
    struct coll_nvtx_text t;
    struct coll_nvtx r = attributes(a, domain_of(d), &t);
    return push(&r, t);
}

static int NVTX_API domain_pop(nvtxDomainHandle_t d)
{
    return pop(domain_of(d));
}

static nvtxRangeId_t NVTX_API domain_start(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a)
{
    struct coll_nvtx_text t;
    struct coll_nvtx r = attributes(a, domain_of(d), &t);
    return start_range(&r, t);
}

static void NVTX_API domain_end(nvtxDomainHandle_t d, nvtxRangeId_t id)
{
    (void)d;
    end_range(id);
}

static void NVTX_API domain_mark(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a)
{
    if (!coll_recording())
        return;
    struct coll_nvtx_text t;
    struct coll_nvtx r = attributes(a, domain_of(d), &t);
    mark(&r, t);
}

static nvtxDomainHandle_t domain_create(uint32_t text)
{
    return (nvtxDomainHandle_t)(uintptr_t)coll_nvtx_domain(text);
}

static nvtxDomainHandle_t NVTX_API domain_create_a(const char *text)
{
    int saved = errno;
    nvtxDomainHandle_t h = domain_create(coll_nvtx_intern(text));
    errno = saved;
    return h;
}

static nvtxDomainHandle_t NVTX_API domain_create_w(const wchar_t *text)
{
    int saved = errno;
    nvtxDomainHandle_t h = domain_create(coll_nvtx_intern_wide(text));
    errno = saved;
    return h;
}

static void NVTX_API domain_destroy(nvtxDomainHandle_t d)
{
    (void)d; /* its ranges may still be written: the domain stays */
}

static void NVTX_API initialize(const void *reserved)
{
    (void)reserved;
}

/* A registered string's handle is its interned id. */
static nvtxStringHandle_t NVTX_API register_a(nvtxDomainHandle_t d, const char *s)
{
    (void)d;
    int saved = errno;
    nvtxStringHandle_t h = (nvtxStringHandle_t)(uintptr_t)coll_nvtx_intern(s);
    errno = saved;
    return h;
}

static nvtxStringHandle_t NVTX_API register_w(nvtxDomainHandle_t d, const wchar_t *s)
{
    (void)d;
    int saved = errno;
    nvtxStringHandle_t h = (nvtxStringHandle_t)(uintptr_t)coll_nvtx_intern_wide(s);
    errno = saved;
    return h;
}

/* ---- names --------------------------------------------------------------------------- */

static void NVTX_API category_a(uint32_t category, const char *s)
{
    int saved = errno;
    coll_nvtx_name(COLL_NVTX_CATEGORY, category, coll_nvtx_intern(s));
    errno = saved;
}

static void NVTX_API category_w(uint32_t category, const wchar_t *s)
{
    int saved = errno;
    coll_nvtx_name(COLL_NVTX_CATEGORY, category, coll_nvtx_intern_wide(s));
    errno = saved;
}

static void NVTX_API domain_category_a(nvtxDomainHandle_t d, uint32_t category, const char *s)
{
    int saved = errno;
    coll_nvtx_name(COLL_NVTX_CATEGORY, (uint64_t)domain_of(d) << 32 | category,
                   coll_nvtx_intern(s));
    errno = saved;
}

static void NVTX_API domain_category_w(nvtxDomainHandle_t d, uint32_t category, const wchar_t *s)
{
    int saved = errno;
    coll_nvtx_name(COLL_NVTX_CATEGORY, (uint64_t)domain_of(d) << 32 | category,
                   coll_nvtx_intern_wide(s));
    errno = saved;
}

static void NVTX_API thread_a(uint32_t tid, const char *s)
{
    int saved = errno;
    coll_nvtx_name(COLL_NVTX_THREAD, tid, coll_nvtx_intern(s));
    errno = saved;
}

static void NVTX_API thread_w(uint32_t tid, const wchar_t *s)
{
    int saved = errno;
    coll_nvtx_name(COLL_NVTX_THREAD, tid, coll_nvtx_intern_wide(s));
    errno = saved;
}

static void NVTX_API device_a(int device, const char *s)
{
    int saved = errno;
    coll_nvtx_name(COLL_NVTX_DEVICE, (uint64_t)device, coll_nvtx_intern(s));
    errno = saved;
}

static void NVTX_API device_w(int device, const wchar_t *s)
{
    int saved = errno;
    coll_nvtx_name(COLL_NVTX_DEVICE, (uint64_t)device, coll_nvtx_intern_wide(s));
    errno = saved;
}

/* A stream is named by the id the driver gives it, the one GPU records
 * carry; a stream the driver cannot place keeps no name. */
static void name_stream(CUstream s, uint32_t text)
{
    unsigned long long id;
    if (!PL_REAL(cuStreamGetId))
        return;
    bool outer = !pl_in_hook;
    pl_in_hook = true;
    CUresult r = pl_real.cuStreamGetId(s, &id);
    if (outer)
        pl_in_hook = false;
    if (r == CUDA_SUCCESS)
        coll_nvtx_name(COLL_NVTX_STREAM, id, text);
}

static void NVTX_API stream_a(CUstream s, const char *text)
{
    int saved = errno;
    name_stream(s, coll_nvtx_intern(text));
    errno = saved;
}

static void NVTX_API stream_w(CUstream s, const wchar_t *text)
{
    int saved = errno;
    name_stream(s, coll_nvtx_intern_wide(text));
    errno = saved;
}

static void NVTX_API rt_stream_a(cudaStream_t s, const char *text)
{
    stream_a((CUstream)s, text);
}

static void NVTX_API rt_stream_w(cudaStream_t s, const wchar_t *text)
{
    stream_w((CUstream)s, text);
}

static void NVTX_API cu_device_a(CUdevice device, const char *s)
{
    device_a((int)device, s);
}

static void NVTX_API cu_device_w(CUdevice device, const wchar_t *s)
{
    device_w((int)device, s);
}

/* ---- the tables ---------------------------------------------------------------------- */

/* Any function as NVTX's generic function pointer (void (*)(void) may
 * stand for any function type). */
#define FN(f) ((NvtxFunctionPointer)(void (*)(void))(f))

struct callback {
    unsigned id;
    NvtxFunctionPointer fn;
};

static const struct callback core[] = {
    {NVTX_CBID_CORE_MarkEx, FN(mark_ex)},
    {NVTX_CBID_CORE_MarkA, FN(mark_a)},
    {NVTX_CBID_CORE_MarkW, FN(mark_w)},
    {NVTX_CBID_CORE_RangeStartEx, FN(start_ex)},
    {NVTX_CBID_CORE_RangeStartA, FN(start_a)},
    {NVTX_CBID_CORE_RangeStartW, FN(start_w)},
    {NVTX_CBID_CORE_RangeEnd, FN(range_end)},
    {NVTX_CBID_CORE_RangePushEx, FN(push_ex)},
    {NVTX_CBID_CORE_RangePushA, FN(push_a)},
    {NVTX_CBID_CORE_RangePushW, FN(push_w)},
    {NVTX_CBID_CORE_RangePop, FN(range_pop)},
    {NVTX_CBID_CORE_NameCategoryA, FN(category_a)},
    {NVTX_CBID_CORE_NameCategoryW, FN(category_w)},
    {NVTX_CBID_CORE_NameOsThreadA, FN(thread_a)},
    {NVTX_CBID_CORE_NameOsThreadW, FN(thread_w)},
};

static const struct callback core2[] = {
    {NVTX_CBID_CORE2_DomainMarkEx, FN(domain_mark)},
    {NVTX_CBID_CORE2_DomainRangeStartEx, FN(domain_start)},
    {NVTX_CBID_CORE2_DomainRangeEnd, FN(domain_end)},
    {NVTX_CBID_CORE2_DomainRangePushEx, FN(domain_push)},
    {NVTX_CBID_CORE2_DomainRangePop, FN(domain_pop)},
    {NVTX_CBID_CORE2_DomainNameCategoryA, FN(domain_category_a)},
    {NVTX_CBID_CORE2_DomainNameCategoryW, FN(domain_category_w)},
    {NVTX_CBID_CORE2_DomainRegisterStringA, FN(register_a)},
    {NVTX_CBID_CORE2_DomainRegisterStringW, FN(register_w)},
    {NVTX_CBID_CORE2_DomainCreateA, FN(domain_create_a)},
    {NVTX_CBID_CORE2_DomainCreateW, FN(domain_create_w)},
    {NVTX_CBID_CORE2_DomainDestroy, FN(domain_destroy)},
    {NVTX_CBID_CORE2_Initialize, FN(initialize)},
};

static const struct callback cuda[] = {
    {NVTX_CBID_CUDA_NameCuDeviceA, FN(cu_device_a)},
    {NVTX_CBID_CUDA_NameCuDeviceW, FN(cu_device_w)},
    {NVTX_CBID_CUDA_NameCuStreamA, FN(stream_a)},
    {NVTX_CBID_CUDA_NameCuStreamW, FN(stream_w)},
};

static const struct callback cudart[] = {
    {NVTX_CBID_CUDART_NameCudaDeviceA, FN(device_a)},
    {NVTX_CBID_CUDART_NameCudaDeviceW, FN(device_w)},
    {NVTX_CBID_CUDART_NameCudaStreamA, FN(rt_stream_a)},
    {NVTX_CBID_CUDART_NameCudaStreamW, FN(rt_stream_w)},
};

/* Fills one module's slots; 0, or -ENOENT when the instance has no such
 * module (an older NVTX). */
static int fill(const NvtxExportTableCallbacks *etbl, NvtxCallbackModule module,
                const struct callback *cb, size_t n)
{
    NvtxFunctionTable table = NULL;
    unsigned int size = 0;
    if (!etbl->GetModuleFunctionTable(module, &table, &size) || !table)
        return -ENOENT;
    /* slots 1 .. size-1; slot 0 and the one past the end are NULL */
    for (size_t i = 0; i < n; i++)
        if (cb[i].id < size && table[cb[i].id])
            *table[cb[i].id] = cb[i].fn;
    return 0;
}

PL_EXPORT int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t get)
{
    pl_init();
    int saved = errno;
    const NvtxExportTableCallbacks *etbl = get ? get(NVTX_ETID_CALLBACKS) : NULL;
    if (!etbl || etbl->struct_size < sizeof *etbl || !etbl->GetModuleFunctionTable ||
        fill(etbl, NVTX_CB_MODULE_CORE, core, sizeof core / sizeof *core) < 0) {
        coll_log(COLL_LOG_WARN, "nvtx",
                 "an NVTX instance gave no callback table; its ranges "
                 "are not recorded");
        errno = saved;
        return 0;
    }
    coll_nvtx_init(); /* its failure is warned about and costs no records */
    if (fill(etbl, NVTX_CB_MODULE_CORE2, core2, sizeof core2 / sizeof *core2) < 0)
        coll_log(COLL_LOG_DEBUG, "nvtx", "an NVTX instance without domains (core2)");
    fill(etbl, NVTX_CB_MODULE_CUDA, cuda, sizeof cuda / sizeof *cuda);
    fill(etbl, NVTX_CB_MODULE_CUDART, cudart, sizeof cudart / sizeof *cudart);
    const NvtxExportTableVersionInfo *v = get(NVTX_ETID_VERSIONINFO);
    if (v && v->struct_size >= sizeof *v && v->SetInjectionNvtxVersion)
        v->SetInjectionNvtxVersion(NVTX_VERSION);
    coll_log(COLL_LOG_DEBUG, "nvtx", "attached to an NVTX instance (version %u)",
             v && v->struct_size >= sizeof *v ? v->version : 0);
    errno = saved;
    return 1;
}

/* ---- NVTX_INJECTION64_PATH ------------------------------------------------------------- */

static bool names_omniprof(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, "libomniprof.so", 14) == 0;
}

/* Another tool's path, found at load, for pl_nvtx_report. */
static char other_tool[PATH_MAX];

/* Only when preloaded: setenv is then safe (the constructor runs before
 * the program, and before omniprof's own thread, starts threads), and no
 * NVTX instance has read the variable yet.  A variable that names another
 * omniprof library is made to name this one: NVTX never loads a second
 * copy. */
void pl_nvtx_environment(void)
{
    const char *preload = getenv("LD_PRELOAD");
    if (!preload || !strstr(preload, "libomniprof.so"))
        return;
    Dl_info info;
    char self[PATH_MAX];
    if (!dladdr((void *)&InitializeInjectionNvtx2, &info) || !info.dli_fname ||
        !realpath(info.dli_fname, self))
        return;
    const char *current = getenv("NVTX_INJECTION64_PATH");
    if (current && *current && !names_omniprof(current))
        snprintf(other_tool, sizeof other_tool, "%s", current);
    else if (!current || strcmp(current, self) != 0)
        setenv("NVTX_INJECTION64_PATH", self, 1);
}

void pl_nvtx_report(void)
{
    if (other_tool[0])
        coll_log(COLL_LOG_WARN, "nvtx",
                 "NVTX_INJECTION64_PATH names another NVTX tool (%s); the "
                 "program's NVTX ranges go to it, not into omniprof's traces",
                 other_tool);
}
