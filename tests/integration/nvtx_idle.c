/*
 * Test helper: NVTX ranges begun while omniprof is idle (no session
 * started yet) that end inside a session the test starts and stops
 * (test_nvtx.py).  Driven by lines on stdin, so each step happens in the
 * state the test has set:
 *
 *   nvtx_idle
 *   -> "idle"   after beginning, with no session started, on the main thread:
 *                 LONG               push A, longer than omniprof's idle copy
 *                                    (63 bytes); still open at the stop
 *                 "idle outer"       omni.idle domain push Ex, category 2
 *                                    ("phase"), colour; its text in a heap
 *                                    buffer overwritten and freed at once
 *                 "idle registered"  omni.idle domain push Ex, registered string
 *                 L"idle w\u00efde"       push W
 *                 "idle handoff"     start Ex, category 4 ("handoff cat"),
 *                                    payload 9; its text in a stack buffer
 *                                    overwritten at once
 *   <- "go"     (the test has started a session)
 *                 2 x nvtx_k1, pop (the wide one); 1 x nvtx_k2, domain pop
 *                 ("idle registered"); 1 x nvtx_k1, domain pop ("idle
 *                 outer"); a worker thread ends "idle handoff"
 *   -> "ended"
 *   <- "exit"   (the session has stopped): pops LONG, returns 0
 */
#define _GNU_SOURCE
#include <nvtx3/nvToolsExt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define LONG "a range begun while omniprof is idle, its name longer than the copy's 63 bytes"

static const char ptx[] = PTX_HEADER PTX_KERNEL("nvtx_k1") PTX_KERNEL("nvtx_k2");

static void expect(const char *line)
{
    char buf[64];
    if (!fgets(buf, sizeof buf, stdin) || strncmp(buf, line, strlen(line)) != 0) {
        fprintf(stderr, "nvtx_idle: expected %s\n", line);
        exit(2);
    }
}

static void say(const char *line)
{
    printf("%s\n", line);
    fflush(stdout);
}

static void *end_range(void *arg)
{
    nvtxRangeEnd(*(nvtxRangeId_t *)arg);
    return NULL;
}

static nvtxEventAttributes_t attributes(uint32_t category)
{
    nvtxEventAttributes_t a = {0};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.category = category;
    return a;
}

int main(void)
{
    CUfunction k1, k2;
    CUmodule mod;
    CUstream side;
    CHECK(load_kernel(ptx, "nvtx_k1", &k1));
    CHECK(cuModuleLoadData(&mod, ptx));
    CHECK(cuModuleGetFunction(&k2, mod, "nvtx_k2"));
    CHECK(cuStreamCreate(&side, 0));
    nvtxDomainHandle_t domain = nvtxDomainCreateA("omni.idle");
    nvtxDomainNameCategoryA(domain, 2, "phase");
    nvtxNameCategoryA(4, "handoff cat");
    nvtxStringHandle_t registered = nvtxDomainRegisterStringA(domain, "idle registered");

    nvtxRangePushA(LONG);

    char *heap = strdup("idle outer");
    nvtxEventAttributes_t outer = attributes(2);
    outer.colorType = NVTX_COLOR_ARGB;
    outer.color = 0xFF112233;
    outer.messageType = NVTX_MESSAGE_TYPE_ASCII;
    outer.message.ascii = heap;
    nvtxDomainRangePushEx(domain, &outer);
    memset(heap, 'X', strlen(heap)); /* as a temporary string's c_str() would go */
    free(heap);

    nvtxEventAttributes_t reg = attributes(0);
    reg.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
    reg.message.registered = registered;
    nvtxDomainRangePushEx(domain, &reg);

    nvtxRangePushW(L"idle w\u00efde");

    char text[32];
    strcpy(text, "idle handoff");
    nvtxEventAttributes_t handoff = attributes(4);
    handoff.payloadType = NVTX_PAYLOAD_TYPE_INT32;
    handoff.payload.iValue = 9;
    handoff.messageType = NVTX_MESSAGE_TYPE_ASCII;
    handoff.message.ascii = text;
    nvtxRangeId_t id = nvtxRangeStartEx(&handoff);
    strcpy(text, "overwritten");
    say("idle");

    expect("go");
    CHECK(cuLaunchKernel(k1, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
    CHECK(cuLaunchKernel(k1, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
    nvtxRangePop();
    CHECK(cuLaunchKernel(k2, 1, 1, 1, 32, 1, 1, 0, side, NULL, NULL));
    nvtxDomainRangePop(domain);
    CHECK(cuLaunchKernel(k1, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
    nvtxDomainRangePop(domain);
    CHECK(cuCtxSynchronize());
    pthread_t t;
    CHECK(pthread_create(&t, NULL, end_range, &id));
    pthread_join(t, NULL);
    say("ended");

    expect("exit");
    nvtxRangePop();
    return 0;
}
