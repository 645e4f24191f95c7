/*
 * How the fake CUDA libraries report to the fake CUPTI (tests only).  The
 * fake libcupti, once subscribed, registers these functions with the fake
 * libcuda (fake_cuda_set_tracer); the fake driver and runtime then report
 * every traced API call and the GPU work it makes, as the real driver does
 * to the real CUPTI.
 */
#ifndef FAKE_TRACER_H
#define FAKE_TRACER_H

#include <stdint.h>

/* CUPTI's CUpti_CallbackDomain values. */
enum { FAKE_DOMAIN_DRIVER = 1, FAKE_DOMAIN_RUNTIME = 2 };

/* CUPTI's stream id for "no stream" (CUPTI_SYNCHRONIZATION_INVALID_VALUE). */
#define FAKE_NO_STREAM UINT32_MAX

struct fake_tracer {
    /* An API call's entry (site 0) or exit (site 1), in a FAKE_DOMAIN_*.
     * *slot is the call's correlationData; params its parameters (CUPTI's
     * <name>_params layout) or NULL. */
    void (*api)(int domain, int cbid, const char *name, int site, uint64_t *slot,
                const void *params);
    /* GPU work made by the current API call of this thread. */
    void (*kernel)(const char *name, const uint32_t grid[3], const uint32_t block[3],
                   uint32_t dynamic_shared, uint32_t stream, int registers, int static_shared,
                   const uint32_t cluster[3], uint32_t graph_id);
    void (*memcpy)(int copy_kind, int src_kind, int dst_kind, uint64_t bytes, uint32_t stream);
    void (*memset)(uint32_t value, uint64_t bytes, uint32_t stream);
    /* The current call records CUDA event `event` on `stream`. */
    void (*event_record)(uint32_t event, uint32_t stream);
    /* The current call synchronises (CUpti_ActivitySynchronizationType
     * `type`) with a stream, an event, or (both FAKE_NO_STREAM / 0) the
     * whole device: the fake GPU's work it waits for is done when this
     * returns, as with a real GPU.  A stream wait (type 2) makes `stream`
     * wait for `event` on the GPU and returns at once. */
    void (*sync)(int type, uint32_t stream, uint32_t event);
};

/* In the fake libcuda. */
void fake_cuda_set_tracer(const struct fake_tracer *t);
const struct fake_tracer *fake_cuda_tracer(void);

#endif
