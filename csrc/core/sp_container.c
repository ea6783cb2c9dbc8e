/* Names of the container anomaly codes, for reports and documentation. */
#include "sp_container.h"

static const char *const names[SP_CA_COUNT] = {
#define SP_X(name, text) #name,
    SP_CONTAINER_ANOMALY_LIST(SP_X)
#undef SP_X
};

static const char *const texts[SP_CA_COUNT] = {
#define SP_X(name, text) text,
    SP_CONTAINER_ANOMALY_LIST(SP_X)
#undef SP_X
};

const char *sp_container_anomaly_name(int code)
{
    return code >= 0 && code < SP_CA_COUNT ? names[code] : 0;
}

const char *sp_container_anomaly_description(int code)
{
    return code >= 0 && code < SP_CA_COUNT ? texts[code] : 0;
}
