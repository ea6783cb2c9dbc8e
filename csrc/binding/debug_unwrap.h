/* Test hooks exposing the container unwrappers (decompression, .npy
 * headers) to Python, so the test suite can compare them with joblib and
 * numpy on the same bytes; nothing else in the package calls them. */
#ifndef SP_BINDING_DEBUG_UNWRAP_H
#define SP_BINDING_DEBUG_UNWRAP_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>

/* (bytes, [anomaly names], error message or None) */
PyObject *sp_debug_unwrap_decompress(PyObject *self, PyObject *args, PyObject *kwargs);
/* codec name or None */
PyObject *sp_debug_unwrap_detect_codec(PyObject *self, PyObject *args);
/* dict of the sp_npy_header fields, plus "error" (message or None) */
PyObject *sp_debug_unwrap_npy_header(PyObject *self, PyObject *args);

#define SP_DEBUG_UNWRAP_METHODS                                                                    \
    {"_decompress", (PyCFunction)(void (*)(void))sp_debug_unwrap_decompress,                       \
     METH_VARARGS | METH_KEYWORDS,                                                                 \
     "_decompress(codec_name, data, max_out=None, max_ratio=None, ratio_floor=None) -> "           \
     "(bytes, [anomaly names], error or None)"},                                                   \
        {"_detect_codec", sp_debug_unwrap_detect_codec, METH_VARARGS,                              \
         "_detect_codec(data) -> codec name joblib would use, or None"},                           \
        {"_npy_header", sp_debug_unwrap_npy_header, METH_VARARGS,                                  \
         "_npy_header(data) -> dict of the parsed .npy header"},

#endif
