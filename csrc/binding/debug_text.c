#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

#include "debug_text.h"
#include "sp_arena.h"
#include "sp_text.h"

/* Generous, but small enough that a runaway input in a test fails cleanly
 * instead of exhausting memory. */
#define DEBUG_TEXT_ARENA_CAP ((size_t)1 << 30)

typedef sp_intparse (*int_parser)(const uint8_t *, size_t);

static PyObject *int_result(PyObject *args, int_parser parse)
{
    Py_buffer buf;
    sp_intparse r;

    if (!PyArg_ParseTuple(args, "y*", &buf))
        return NULL;
    r = parse((const uint8_t *)buf.buf, (size_t)buf.len);
    PyBuffer_Release(&buf);
    return Py_BuildValue("(NNLNN)", PyBool_FromLong(r.ok), PyBool_FromLong(r.big),
                         (long long)r.value, PyBool_FromLong(r.is_bool),
                         PyBool_FromLong(r.noncanonical));
}

PyObject *sp_debug_text_parse_int_line(PyObject *self, PyObject *args)
{
    return int_result(args, sp_parse_int_line);
}

PyObject *sp_debug_text_parse_long_line(PyObject *self, PyObject *args)
{
    return int_result(args, sp_parse_long_line);
}

PyObject *sp_debug_text_parse_index_line(PyObject *self, PyObject *args)
{
    return int_result(args, sp_parse_index_line);
}

PyObject *sp_debug_text_parse_float_line(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    sp_floatparse r;

    if (!PyArg_ParseTuple(args, "y*", &buf))
        return NULL;
    r = sp_parse_float_line((const uint8_t *)buf.buf, (size_t)buf.len);
    PyBuffer_Release(&buf);
    return Py_BuildValue("(NdN)", PyBool_FromLong(r.ok), r.value, PyBool_FromLong(r.noncanonical));
}

typedef int (*decoder)(sp_arena *, const uint8_t *, size_t, const uint8_t **, size_t *);

/* Runs a decoder in a private arena; raw == 1 returns bytes, raw == 0 a
 * str decoded from the UTF-8 (with surrogates) the decoder produces. */
static PyObject *decode_result(PyObject *args, decoder decode, int raw)
{
    Py_buffer buf;
    sp_arena arena;
    const uint8_t *out = NULL;
    size_t out_len = 0;
    PyObject *result = NULL;
    int rc;

    if (!PyArg_ParseTuple(args, "y*", &buf))
        return NULL;
    sp_arena_init(&arena, DEBUG_TEXT_ARENA_CAP);
    rc = decode(&arena, (const uint8_t *)buf.buf, (size_t)buf.len, &out, &out_len);
    PyBuffer_Release(&buf);
    if (rc == -1)
        PyErr_SetString(PyExc_ValueError, "the loader rejects this text");
    else if (rc != 0)
        PyErr_NoMemory();
    else if (out_len > (size_t)PY_SSIZE_T_MAX)
        PyErr_NoMemory();
    else if (raw)
        result = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)out_len);
    else {
        result = PyUnicode_DecodeUTF8((const char *)out, (Py_ssize_t)out_len, "surrogatepass");
        /* Not a ValueError: the tests must not mistake a broken decoder
         * for one that rejected its input. */
        if (result == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_RuntimeError, "the decoder produced invalid UTF-8");
        }
    }
    sp_arena_release(&arena);
    return result;
}

PyObject *sp_debug_text_decode_escape(PyObject *self, PyObject *args)
{
    return decode_result(args, sp_decode_escape, 1);
}

PyObject *sp_debug_text_decode_raw_unicode_escape(PyObject *self, PyObject *args)
{
    return decode_result(args, sp_decode_raw_unicode_escape, 0);
}

PyObject *sp_debug_text_utf8_valid(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    int allow_surrogates = 0;
    int ok;

    if (!PyArg_ParseTuple(args, "y*|p", &buf, &allow_surrogates))
        return NULL;
    ok = sp_utf8_valid((const uint8_t *)buf.buf, (size_t)buf.len, allow_surrogates);
    PyBuffer_Release(&buf);
    return PyBool_FromLong(ok);
}

PyObject *sp_debug_text_ascii_valid(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    int ok;

    if (!PyArg_ParseTuple(args, "y*", &buf))
        return NULL;
    ok = sp_ascii_valid((const uint8_t *)buf.buf, (size_t)buf.len);
    PyBuffer_Release(&buf);
    return PyBool_FromLong(ok);
}
