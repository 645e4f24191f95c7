/*
 * Names and domains of the recordable APIs, indexed by enum coll_api; the
 * writer takes event names and categories from here.
 */
#include <string.h>

#include "internal.h"

/* the API list expands here: one entry a line */
/* clang-format off */
static const struct {
    const char *name;
    int domain;
} apis[COLL_API_COUNT] = {
    [COLL_API_NONE] = {"unknown", COLL_DOMAIN_NONE},
#define API_ENTRY(n, domain) [COLL_API_##n] = {#n, COLL_DOMAIN_##domain},
    COLL_API_LIST(API_ENTRY)
#undef API_ENTRY
    [COLL_API_omni_step] = {"omni_step", COLL_DOMAIN_NONE},
};
/* clang-format on */

const char *coll_api_name(int api)
{
    if (api <= 0 || api >= COLL_API_COUNT)
        return apis[COLL_API_NONE].name;
    return apis[api].name;
}

int coll_api_by_name(const char *name)
{
    for (int api = 1; api < COLL_API_omni_step; api++)
        if (strcmp(apis[api].name, name) == 0)
            return api;
    return 0;
}

int coll_api_domain(int api)
{
    if (api <= 0 || api >= COLL_API_COUNT)
        return COLL_DOMAIN_NONE;
    return apis[api].domain;
}

const char *coll_copy_kind_name(int kind)
{
    switch (kind) {
    case COLL_COPY_HTOD: return "Memcpy HtoD (Host -> Device)";
    case COLL_COPY_DTOH: return "Memcpy DtoH (Device -> Host)";
    case COLL_COPY_DTOD: return "Memcpy DtoD (Device -> Device)";
    case COLL_COPY_HTOH: return "Memcpy HtoH (Host -> Host)";
    default: return "Memcpy (unified)";
    }
}
