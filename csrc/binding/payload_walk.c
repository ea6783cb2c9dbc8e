#include "payload_walk.h"

#include "sp_payloads.h"

PyObject *sp_binding_payload_walk(PyObject *self, PyObject *args)
{
    Py_buffer view;
    unsigned long long base, min_len, ops;
    uint64_t ops_left, start = 0, end = 0, next = 0;
    sp_walk_end how;

    (void)self;
    if (!PyArg_ParseTuple(args, "y*KKK:payload_walk", &view, &base, &min_len, &ops))
        return NULL;
    ops_left = ops;
    how =
        sp_payload_walk(view.buf, (size_t)view.len, base, min_len, &ops_left, &start, &end, &next);
    PyBuffer_Release(&view);
    if (how == SP_WALK_PAYLOAD)
        return Py_BuildValue("(KK)KK", (unsigned long long)start, (unsigned long long)end,
                             (unsigned long long)next, (unsigned long long)ops_left);
    if (how == SP_WALK_MORE)
        return Py_BuildValue("OKK", Py_None, (unsigned long long)next,
                             (unsigned long long)ops_left);
    return Py_BuildValue("OOK", Py_None, Py_None, (unsigned long long)ops_left);
}
