/*
 * nvtx_ranges: a program annotated with NVTX (the toolkit's v3 headers),
 * as an unmodified binary: it knows nothing of omniprof.
 *
 *   nvtx_ranges [ITERATIONS]
 *
 * Names its main thread "main loop" (and the worker, in a wide string,
 * "nvtx wörker"), device 0 "omni GPU", a second stream "side stream",
 * category 1 "compute" and, in domain "omni.sample", category 7 "io".
 * Begins "handoff" (start/end) on the main thread; the worker ends it
 * once the main thread's iterations are done.
 * Each iteration I (1-based) of the main thread:
 *
 *   iteration                      push/pop
 *     forward                      push/pop Ex: category 1, colour, payload I
 *       2 x nvtx_k1                default stream
 *     mark "after forward"
 *     "registered step"            domain omni.sample, registered string, category 7
 *       1 x nvtx_k2                side stream
 *
 * and of the worker, at the same time:
 *
 *   worker                         push/pop
 *     wörker inner                 push/pop W
 *       1 x nvtx_k2                side stream
 *
 * Prints the launches made.
 */
#define _GNU_SOURCE
#include <nvtx3/nvToolsExt.h>
#include <nvtx3/nvToolsExtCuda.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("nvtx_k1") PTX_KERNEL("nvtx_k2");
static CUcontext ctx;
static CUfunction k1, k2;
static CUstream side;
static int iterations;
static nvtxRangeId_t handoff;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int main_done;

static int launch(CUfunction f, CUstream s)
{
    return cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, s, NULL, NULL) == CUDA_SUCCESS ? 1 : 0;
}

static void *worker(void *arg)
{
    int *launched = arg;
    nvtxNameOsThreadW((uint32_t)gettid(), L"nvtx w\u00f6rker");
    if (cuCtxSetCurrent(ctx) != CUDA_SUCCESS)
        return NULL;
    for (int i = 0; i < iterations; i++) {
        nvtxRangePushA("worker");
        nvtxRangePushW(L"w\u00f6rker inner");
        *launched += launch(k2, side);
        nvtxRangePop();
        nvtxRangePop();
    }
    pthread_mutex_lock(&lock);
    while (!main_done)
        pthread_cond_wait(&done_cond, &lock);
    pthread_mutex_unlock(&lock);
    nvtxRangeEnd(handoff); /* begun on the main thread */
    return NULL;
}

int main(int argc, char **argv)
{
    iterations = argc > 1 ? atoi(argv[1]) : 3;
    CHECK(load_kernel(ptx, "nvtx_k1", &k1));
    CUmodule mod;
    CHECK(cuModuleLoadData(&mod, ptx));
    CHECK(cuModuleGetFunction(&k2, mod, "nvtx_k2"));
    CHECK(cuCtxGetCurrent(&ctx));
    CHECK(cuStreamCreate(&side, 0));
    CUdevice dev;
    CHECK(cuDeviceGet(&dev, 0));

    nvtxNameOsThreadA((uint32_t)gettid(), "main loop");
    nvtxNameCuDeviceA(dev, "omni GPU");
    nvtxNameCuStreamA(side, "side stream");
    nvtxNameCategoryA(1, "compute");
    nvtxDomainHandle_t domain = nvtxDomainCreateA("omni.sample");
    nvtxDomainNameCategoryA(domain, 7, "io");
    nvtxStringHandle_t step = nvtxDomainRegisterStringA(domain, "registered step");

    handoff = nvtxRangeStartA("handoff");
    int main_launched = 0, worker_launched = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, &worker_launched));
    for (int i = 1; i <= iterations; i++) {
        nvtxRangePushA("iteration");

        nvtxEventAttributes_t fwd = {0};
        fwd.version = NVTX_VERSION;
        fwd.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
        fwd.category = 1;
        fwd.colorType = NVTX_COLOR_ARGB;
        fwd.color = 0xFF76B900;
        fwd.payloadType = NVTX_PAYLOAD_TYPE_UNSIGNED_INT64;
        fwd.payload.ullValue = (uint64_t)i;
        fwd.messageType = NVTX_MESSAGE_TYPE_ASCII;
        fwd.message.ascii = "forward";
        nvtxRangePushEx(&fwd);
        main_launched += launch(k1, NULL);
        main_launched += launch(k1, NULL);
        nvtxRangePop();

        nvtxMarkA("after forward");

        nvtxEventAttributes_t reg = {0};
        reg.version = NVTX_VERSION;
        reg.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
        reg.category = 7;
        reg.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
        reg.message.registered = step;
        nvtxDomainRangePushEx(domain, &reg);
        main_launched += launch(k2, side);
        nvtxDomainRangePop(domain);

        nvtxRangePop();
    }
    pthread_mutex_lock(&lock);
    main_done = 1;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&lock);
    pthread_join(t, NULL);
    CHECK(cuCtxSynchronize());
    printf("nvtx_ranges: iterations=%d main_launches=%d worker_launches=%d\n", iterations,
           main_launched, worker_launched);
    return main_launched == 3 * iterations && worker_launched == iterations ? 0 : 1;
}
