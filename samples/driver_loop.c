/*
 * driver_loop: a CUDA driver-API program, unmodified by omniprof.
 *
 *   driver_loop [ITERATIONS [SLEEP_MS [STREAMS]]]
 *
 * Loads two kernels from PTX, and each iteration marks an iteration
 * boundary (omni_step, when omniprof is loaded), launches vec_add and then
 * scale, and synchronises.  With STREAMS=2 each kernel has a stream of its
 * own and the streams are ordered with CUDA events: scale's stream waits
 * for an event recorded after vec_add, the host waits for an event
 * recorded after scale and for vec_add's stream.  Prints how many launches
 * it made and a checksum of the result, so runs with and without omniprof
 * can be compared.
 */
#include <cuda.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"

static const char ptx[] =
    ".version 8.0\n"
    ".target sm_80\n"
    ".address_size 64\n"
    "\n"
    ".visible .entry vec_add(\n"
    "    .param .u64 a, .param .u64 b, .param .u32 n)\n"
    "{\n"
    "    .reg .pred %p<2>; .reg .b32 %r<6>; .reg .f32 %f<4>; .reg .b64 %rd<8>;\n"
    "    ld.param.u64 %rd1, [a]; ld.param.u64 %rd2, [b]; ld.param.u32 %r2, [n];\n"
    "    mov.u32 %r3, %ctaid.x; mov.u32 %r4, %ntid.x; mov.u32 %r5, %tid.x;\n"
    "    mad.lo.s32 %r1, %r3, %r4, %r5;\n"
    "    setp.ge.u32 %p1, %r1, %r2; @%p1 bra DONE;\n"
    "    cvta.to.global.u64 %rd3, %rd1; cvta.to.global.u64 %rd4, %rd2;\n"
    "    mul.wide.u32 %rd5, %r1, 4; add.s64 %rd6, %rd3, %rd5; add.s64 %rd7, %rd4, %rd5;\n"
    "    ld.global.f32 %f1, [%rd6]; ld.global.f32 %f2, [%rd7];\n"
    "    add.f32 %f3, %f1, %f2; st.global.f32 [%rd6], %f3;\n"
    "DONE:\n"
    "    ret;\n"
    "}\n"
    "\n"
    ".visible .entry scale(\n"
    "    .param .u64 a, .param .f32 s, .param .u32 n)\n"
    "{\n"
    "    .reg .pred %p<2>; .reg .b32 %r<6>; .reg .f32 %f<3>; .reg .b64 %rd<5>;\n"
    "    ld.param.u64 %rd1, [a]; ld.param.f32 %f1, [s]; ld.param.u32 %r2, [n];\n"
    "    mov.u32 %r3, %ctaid.x; mov.u32 %r4, %ntid.x; mov.u32 %r5, %tid.x;\n"
    "    mad.lo.s32 %r1, %r3, %r4, %r5;\n"
    "    setp.ge.u32 %p1, %r1, %r2; @%p1 bra DONE;\n"
    "    cvta.to.global.u64 %rd2, %rd1; mul.wide.u32 %rd3, %r1, 4; add.s64 %rd4, %rd2, %rd3;\n"
    "    ld.global.f32 %f2, [%rd4]; mul.f32 %f2, %f2, %f1; st.global.f32 [%rd4], %f2;\n"
    "DONE:\n"
    "    ret;\n"
    "}\n";

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 10;
    int sleep_ms = argc > 2 ? atoi(argv[2]) : 0;
    int streams = argc > 3 ? atoi(argv[3]) : 1;
    enum { N = 1024 };

    CUfunction vec_add, scale;
    CHECK(load_kernel(ptx, "vec_add", &vec_add));
    CHECK(load_kernel(ptx, "scale", &scale));
    CUstream s_add = NULL, s_scale = NULL;
    CUevent added = NULL, scaled = NULL;
    if (streams > 1) {
        CHECK(cuStreamCreate(&s_add, 0));
        CHECK(cuStreamCreate(&s_scale, 0));
        CHECK(cuEventCreate(&added, 0));
        CHECK(cuEventCreate(&scaled, 0));
    }

    static float host[N];
    for (int i = 0; i < N; i++)
        host[i] = (float)(i % 7);
    CUdeviceptr a, b;
    CHECK(cuMemAlloc(&a, sizeof host));
    CHECK(cuMemAlloc(&b, sizeof host));
    CHECK(cuMemcpyHtoD(a, host, sizeof host));
    CHECK(cuMemsetD32(b, 0, N));

    unsigned n = N;
    float factor = 1.0f;
    void *add_args[] = {&a, &b, &n};
    void *scale_args[] = {&a, &factor, &n};
    int launches = 0;
    for (int it = 0; it < iterations; it++) {
        step();
        CHECK(cuLaunchKernel(vec_add, N / 256, 1, 1, 256, 1, 1, 0, s_add, add_args, NULL));
        if (added) {
            CHECK(cuEventRecord(added, s_add));
            CHECK(cuStreamWaitEvent(s_scale, added, 0));
        }
        CHECK(cuLaunchKernel(scale, N / 128, 1, 1, 128, 1, 1, 64, s_scale, scale_args, NULL));
        launches += 2;
        if (scaled) {
            CHECK(cuEventRecord(scaled, s_scale));
            CHECK(cuEventSynchronize(scaled));
            CHECK(cuStreamSynchronize(s_add));
        }
        CHECK(cuCtxSynchronize());
        if (sleep_ms > 0) {
            struct timespec ts = {sleep_ms / 1000, (long)(sleep_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    CHECK(cuMemcpyDtoH(host, a, sizeof host));
    double sum = 0;
    for (int i = 0; i < N; i++)
        sum += host[i];
    CHECK(cuMemFree(a));
    CHECK(cuMemFree(b));
    CUdevice dev;
    CHECK(cuCtxGetDevice(&dev));
    CHECK(cuDevicePrimaryCtxRelease(dev));
    printf("driver_loop: iterations=%d launches=%d vec_add=%d scale=%d checksum=%.1f\n", iterations,
           launches, launches / 2, launches / 2, sum);
    return 0;
}
