#include "sp_status.h"

#include <stdarg.h>
#include <stdio.h>

void sp_error_set(sp_error *err, sp_status status, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    err->status = status;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

const char *sp_status_name(sp_status status)
{
    switch (status) {
    case SP_OK:
        return "ok";
    case SP_ERR_NOMEM:
        return "out of memory";
    case SP_ERR_LIMIT:
        return "resource limit";
    case SP_ERR_ARG:
        return "invalid argument";
    case SP_ERR_FORMAT:
        return "invalid format";
    case SP_ERR_MODEL:
        return "model error";
    case SP_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown status";
}
