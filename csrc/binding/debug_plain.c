/* Test hook for sp_plain (see debug_plain.h). */
#include "debug_plain.h"

#include <string.h>

#include "sp_scan.h"
#include "sp_status.h"

PyObject *sp_debug_plain_streams(PyObject *self, PyObject *args)
{
    Py_buffer view;
    sp_limits limits;
    sp_result *res = NULL;
    sp_error err;
    sp_status status;
    PyObject *out = NULL;

    (void)self;
    if (!PyArg_ParseTuple(args, "y*:_plain_streams", &view))
        return NULL;
    sp_limits_default(&limits);
    limits.result_unread = 1;
    memset(&err, 0, sizeof(err));
    status = sp_scan_pickles(view.buf, (size_t)view.len, &limits, &res, &err);
    if (status != SP_OK) {
        PyErr_SetString(PyExc_RuntimeError, err.message);
        goto done;
    }
    out = PyList_New(res->n_streams);
    if (out == NULL)
        goto done;
    for (uint32_t i = 0; i < res->n_streams; i++)
        PyList_SET_ITEM(out, i, PyBool_FromLong(res->streams[i].plain));

done:
    sp_result_free(res);
    PyBuffer_Release(&view);
    return out;
}
