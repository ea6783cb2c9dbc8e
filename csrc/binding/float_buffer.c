#include "float_buffer.h"

#include <string.h>

/* struct-module codes that mean a native-size, native-order or
 * little-endian float32 on the platforms the extension builds on. */
static int is_float32_format(const char *fmt)
{
    if (fmt == NULL)
        return 0;
    if (fmt[0] == '@' || fmt[0] == '=' || fmt[0] == '<')
        fmt++;
    return strcmp(fmt, "f") == 0;
}

int sp_float_buffer_get(PyObject *obj, Py_buffer *view, Py_ssize_t multiple, const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous float32 buffer, not %.80s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (view->itemsize != (Py_ssize_t)sizeof(float) || !is_float32_format(view->format)) {
        PyErr_Format(PyExc_TypeError, "%s must hold float32 items (format 'f'), not '%s'", what,
                     view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    if (multiple > 0 && sp_float_buffer_count(view) % multiple != 0) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd floats, not a multiple of %zd", what,
                     sp_float_buffer_count(view), multiple);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}
