/* Names of the trace's enumerations, for reports and documentation. */
#include "sp_trace.h"

#include <stddef.h>

static const char *const anomaly_names[SP_AN_COUNT] = {
#define SP_X(name, text) #name,
    SP_ANOMALY_LIST(SP_X)
#undef SP_X
};

static const char *const anomaly_texts[SP_AN_COUNT] = {
#define SP_X(name, text) text,
    SP_ANOMALY_LIST(SP_X)
#undef SP_X
};

const char *sp_anomaly_name(int code)
{
    return code >= 0 && code < SP_AN_COUNT ? anomaly_names[code] : NULL;
}

const char *sp_anomaly_description(int code)
{
    return code >= 0 && code < SP_AN_COUNT ? anomaly_texts[code] : NULL;
}

const char *sp_vkind_name(int kind)
{
    static const char *const names[SP_V_KIND_COUNT] = {
        "none",   "bool",  "int",  "bigint", "float", "str",       "bytes",  "bytearray",
        "buffer", "tuple", "list", "dict",   "set",   "frozenset", "global", "result",
    };

    return kind >= 0 && kind < SP_V_KIND_COUNT ? names[kind] : NULL;
}
