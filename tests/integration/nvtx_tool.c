/*
 * A stand-in for another NVTX tool (tests only): an injection library that
 * a program names in NVTX_INJECTION64_PATH itself.  When NVTX initialises
 * it, it appends "initialised" to $NVTX_TOOL_REPORT; it counts the
 * program's nvtxRangePushA calls and appends "pushes=N" at unload.
 */
#define NVTX_NO_IMPL
#include <nvtx3/nvToolsExt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_int pushes;

static void report(const char *line)
{
    const char *path = getenv("NVTX_TOOL_REPORT");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (!f)
        return;
    fprintf(f, "%s\n", line);
    fclose(f);
}

static int push_a(const char *message)
{
    (void)message;
    return atomic_fetch_add(&pushes, 1);
}

static int pop(void)
{
    return 0;
}

__attribute__((destructor)) static void at_unload(void)
{
    char line[32];
    snprintf(line, sizeof line, "pushes=%d", atomic_load(&pushes));
    report(line);
}

__attribute__((visibility("default"))) int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t get)
{
    const NvtxExportTableCallbacks *etbl = get(NVTX_ETID_CALLBACKS);
    NvtxFunctionTable table;
    unsigned int size;
    if (!etbl || !etbl->GetModuleFunctionTable(NVTX_CB_MODULE_CORE, &table, &size))
        return 0;
    *table[NVTX_CBID_CORE_RangePushA] = (NvtxFunctionPointer)(void (*)(void))push_a;
    *table[NVTX_CBID_CORE_RangePop] = (NvtxFunctionPointer)(void (*)(void))pop;
    report("initialised");
    return 1;
}
