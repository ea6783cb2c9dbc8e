/* Test hook for the plain-data walk (sp_plain.c): which streams of a
 * buffer it took over from the machine, so the test suite can check that
 * both readings reach the same verdict and that the walk is really taken;
 * nothing else in the package calls it. */
#ifndef SP_BINDING_DEBUG_PLAIN_H
#define SP_BINDING_DEBUG_PLAIN_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>

/* [bool per top-level stream] */
PyObject *sp_debug_plain_streams(PyObject *self, PyObject *args);

#define SP_DEBUG_PLAIN_METHODS                                                                     \
    {"_plain_streams", sp_debug_plain_streams, METH_VARARGS,                                       \
     "_plain_streams(data) -> [bool]: per pickle of the buffer, whether the plain-data walk "      \
     "read it instead of the machine (default limits, verdict only)"},

#endif
