/* str objects for C strings with static storage (dict keys, type and
 * opcode names), made once per process and found again by address. */
#ifndef SP_BINDING_STATIC_STR_H
#define SP_BINDING_STATIC_STR_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* New reference to the interned str of s, which must outlive the process's
 * use of it (a literal or a table entry). Needs the GIL. */
PyObject *sp_static_str(const char *s);

#endif
