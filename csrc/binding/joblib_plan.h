/* The planning walk of sp_joblib_plan.h, for the guard: where joblib
 * wrote array data in a file, read window by window from a descriptor. */
#ifndef SP_BINDING_JOBLIB_PLAN_H
#define SP_BINDING_JOBLIB_PLAN_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>

/* [(start, end)] */
PyObject *sp_binding_joblib_arrays(PyObject *self, PyObject *args);

#define SP_JOBLIB_PLAN_METHODS                                                                     \
    {"joblib_arrays", sp_binding_joblib_arrays, METH_VARARGS,                                      \
     "joblib_arrays(fd, size, min_len, ops) -> [(start, end)]\n\n"                                 \
     "Where the array data of the joblib pickle in the first size bytes of\n"                      \
     "file descriptor fd lies: spans of at least min_len bytes, in file order,\n"                  \
     "found by a walk of at most ops opcodes that reads the file with pread,\n"                    \
     "a window at a time, and never reads the data itself. A plan only:\n"                         \
     "nothing here is a verdict; OSError when a read fails."},

#endif
