/*
 * The table of recordable APIs: name and domain (driver or runtime), indexed
 * by enum coll_api.  The writer takes event names and categories from here.
 */
#include "collector.h"

static const struct {
    const char *name;
    int domain;
} apis[COLL_API_COUNT] = {
    [COLL_API_NONE] = {"unknown", COLL_DOMAIN_NONE},
    [COLL_API_cuLaunchKernel] = {"cuLaunchKernel", COLL_DOMAIN_DRIVER},
    [COLL_API_cuMemAlloc_v2] = {"cuMemAlloc_v2", COLL_DOMAIN_DRIVER},
    [COLL_API_cuMemFree_v2] = {"cuMemFree_v2", COLL_DOMAIN_DRIVER},
    [COLL_API_cudaMalloc] = {"cudaMalloc", COLL_DOMAIN_RUNTIME},
    [COLL_API_cudaFree] = {"cudaFree", COLL_DOMAIN_RUNTIME},
    [COLL_API_omni_step] = {"omni_step", COLL_DOMAIN_NONE},
};

const char *coll_api_name(int api)
{
    if (api <= 0 || api >= COLL_API_COUNT)
        return apis[COLL_API_NONE].name;
    return apis[api].name;
}

int coll_api_domain(int api)
{
    if (api <= 0 || api >= COLL_API_COUNT)
        return COLL_DOMAIN_NONE;
    return apis[api].domain;
}
