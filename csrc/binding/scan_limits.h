/* The limits dict of safepickle._native.scan and default_limits().
 *
 * Keys are the field names of sp_limits. A dict may name only some of them:
 * the rest keep their defaults, so callers tighten one cap without having
 * to know the others.
 *
 * Named scan_limits.h, not limits.h: csrc/binding is on the include path
 * and that name would hide the C library header. */
#ifndef SP_BINDING_SCAN_LIMITS_H
#define SP_BINDING_SCAN_LIMITS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "sp_trace.h"

/* Fill *out from None or a dict. -1 with TypeError (not a dict, key not a
 * str, value not an int) or ValueError (unknown key, out of range). */
int sp_limits_from_object(PyObject *obj, sp_limits *out);

/* New dict holding every field of limits. */
PyObject *sp_limits_to_dict(const sp_limits *limits);

#endif
