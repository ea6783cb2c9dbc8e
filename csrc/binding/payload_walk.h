/* The planning walk of sp_payloads.h, for the guard: where the large bytes
 * payloads of a pickle file lie, one window of the file at a time. */
#ifndef SP_BINDING_PAYLOAD_WALK_H
#define SP_BINDING_PAYLOAD_WALK_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>

/* (span or None, next offset or None, opcodes left) */
PyObject *sp_binding_payload_walk(PyObject *self, PyObject *args);

#define SP_PAYLOAD_WALK_METHODS                                                                    \
    {"payload_walk", sp_binding_payload_walk, METH_VARARGS,                                        \
     "payload_walk(window, base, min_len, ops) -> (span, next, ops_left)\n\n"                      \
     "Walk the opcodes of window (the input from offset base on) without\n"                        \
     "interpreting them, up to the first BINBYTES, BINBYTES8 or BYTEARRAY8\n"                      \
     "payload of at least min_len bytes, spending at most ops opcodes.\n"                          \
     "span: that payload's (start, end), or None. next: where to go on\n"                          \
     "(an opcode the window cut starts again there), or None when the walk\n"                      \
     "is over (STOP, a byte that is no opcode, the budget spent). A plan\n"                        \
     "only: nothing here is a verdict."},

#endif
