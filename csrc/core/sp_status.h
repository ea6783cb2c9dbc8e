/* Status codes of the SafePickle core.
 *
 * The core never raises or prints: every fallible function returns one of
 * these and, where it has more to say, writes a message into an sp_error.
 * The binding layer is the only place that turns them into exceptions. */
#ifndef SP_STATUS_H
#define SP_STATUS_H

#include <stddef.h>

typedef enum sp_status {
    SP_OK = 0,
    SP_ERR_NOMEM,   /* the allocator failed or the allocation cap was hit */
    SP_ERR_LIMIT,   /* a documented resource cap was hit */
    SP_ERR_ARG,     /* the caller passed something invalid */
    SP_ERR_FORMAT,  /* the input is not what it claims to be */
    SP_ERR_MODEL,   /* classifier could not be loaded or run */
    SP_ERR_INTERNAL /* a bug: an invariant of the core failed */
} sp_status;

#define SP_ERROR_MAX 256

typedef struct sp_error {
    sp_status status;
    char message[SP_ERROR_MAX];
} sp_error;

/* printf-style; always NUL-terminates, truncates long messages. */
void sp_error_set(sp_error *err, sp_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

const char *sp_status_name(sp_status status);

#endif
