/* Borrowing float32 arrays from Python objects (array('f'), numpy float32,
 * memoryviews of those) without a copy. */
#ifndef SP_BINDING_FLOAT_BUFFER_H
#define SP_BINDING_FLOAT_BUFFER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Get a C-contiguous buffer of float32 from obj, holding a multiple of
 * `multiple` items (1 for any length). -1 with TypeError or ValueError,
 * naming `what`. Release with PyBuffer_Release. */
int sp_float_buffer_get(PyObject *obj, Py_buffer *view, Py_ssize_t multiple, const char *what);

static inline Py_ssize_t sp_float_buffer_count(const Py_buffer *view)
{
    return view->len / (Py_ssize_t)sizeof(float);
}

#endif
