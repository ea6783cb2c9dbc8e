/* Test hooks for sp_decompress and sp_npy (see debug_unwrap.h). */
#include "debug_unwrap.h"

#include <string.h>

#include "dict_set.h"
#include "sp_container.h"
#include "sp_decompress.h"
#include "sp_npy.h"
#include "sp_status.h"

static PyObject *anomaly_list(uint32_t bits)
{
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    for (int code = 0; code < SP_CA_COUNT && code < 32; code++) {
        if (!(bits & (1u << code)))
            continue;
        PyObject *name = PyUnicode_FromString(sp_container_anomaly_name(code));
        if (name == NULL || PyList_Append(list, name) < 0) {
            Py_XDECREF(name);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(name);
    }
    return list;
}

static int optional_u64(PyObject *obj, uint64_t *out)
{
    if (obj == NULL || obj == Py_None)
        return 0;
    unsigned long long v = PyLong_AsUnsignedLongLong(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    *out = v;
    return 0;
}

PyObject *sp_debug_unwrap_decompress(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"codec", "data", "max_out", "max_ratio", "ratio_floor", NULL};
    const char *name;
    Py_buffer view;
    PyObject *max_out = NULL, *max_ratio = NULL, *ratio_floor = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sy*|OOO:_decompress", kwlist, &name, &view,
                                     &max_out, &max_ratio, &ratio_floor))
        return NULL;
    int codec = sp_codec_from_name(name);
    if (codec <= SP_CODEC_NONE) {
        PyBuffer_Release(&view);
        return PyErr_Format(PyExc_ValueError, "unknown codec %s", name);
    }
    sp_decompress_caps caps;
    memset(&caps, 0, sizeof(caps));
    uint64_t ratio = 0;
    if (optional_u64(max_out, &caps.max_out) < 0 || optional_u64(max_ratio, &ratio) < 0 ||
        optional_u64(ratio_floor, &caps.ratio_floor) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    caps.max_ratio = ratio > UINT32_MAX ? UINT32_MAX : (uint32_t)ratio;
    uint8_t *out = NULL;
    size_t out_len = 0;
    uint32_t anomalies = 0;
    sp_error err;
    memset(&err, 0, sizeof(err));
    sp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = sp_decompress(codec, (const uint8_t *)view.buf, (size_t)view.len, &caps, &out, &out_len,
                       &anomalies, &err);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (st == SP_ERR_NOMEM || st == SP_ERR_ARG) {
        sp_decompress_free(out);
        if (st == SP_ERR_NOMEM)
            return PyErr_NoMemory();
        return PyErr_Format(PyExc_ValueError, "%s", err.message);
    }
    PyObject *data = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)out_len);
    sp_decompress_free(out);
    PyObject *names = data ? anomaly_list(anomalies) : NULL;
    PyObject *msg = NULL;
    if (names != NULL)
        msg = st == SP_OK ? Py_NewRef(Py_None) : PyUnicode_FromString(err.message);
    if (msg == NULL) {
        Py_XDECREF(data);
        Py_XDECREF(names);
        return NULL;
    }
    return Py_BuildValue("(NNN)", data, names, msg);
}

PyObject *sp_debug_unwrap_detect_codec(PyObject *self, PyObject *args)
{
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*:_detect_codec", &view))
        return NULL;
    int codec = sp_detect_codec((const uint8_t *)view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    if (codec == SP_CODEC_NONE)
        Py_RETURN_NONE;
    return PyUnicode_FromString(sp_codec_name(codec));
}

PyObject *sp_debug_unwrap_npy_header(PyObject *self, PyObject *args)
{
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*:_npy_header", &view))
        return NULL;
    sp_npy_header h;
    sp_error err;
    memset(&err, 0, sizeof(err));
    sp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = sp_npy_parse((const uint8_t *)view.buf, (size_t)view.len, &h, &err);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (st == SP_ERR_NOMEM)
        return PyErr_NoMemory();
    if (st == SP_ERR_ARG)
        return PyErr_Format(PyExc_ValueError, "%s", err.message);
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    PyObject *shape = Py_NewRef(Py_None);
    if (h.shape_known) {
        Py_DECREF(shape);
        size_t n = h.ndim < SP_NPY_MAX_DIMS ? h.ndim : SP_NPY_MAX_DIMS;
        shape = PyTuple_New((Py_ssize_t)n);
        for (size_t i = 0; shape != NULL && i < n; i++) {
            PyObject *v = PyLong_FromLongLong(h.shape[i]);
            if (v == NULL) {
                Py_CLEAR(shape);
                break;
            }
            PyTuple_SET_ITEM(shape, (Py_ssize_t)i, v);
        }
    }
    if (sp_dict_set_new(d, "ok", PyBool_FromLong(st == SP_OK)) < 0 ||
        sp_dict_set_new(d, "status", PyUnicode_FromString(sp_status_name(st))) < 0 ||
        sp_dict_set_new(d, "error",
                        st == SP_OK ? Py_NewRef(Py_None) : PyUnicode_FromString(err.message)) < 0 ||
        sp_dict_set_new(d, "version", Py_BuildValue("(ii)", h.major, h.minor)) < 0 ||
        sp_dict_set_new(d, "header_len", PyLong_FromUnsignedLongLong(h.header_len)) < 0 ||
        sp_dict_set_new(d, "data_offset", PyLong_FromUnsignedLongLong(h.data_offset)) < 0 ||
        sp_dict_set_new(d, "has_object", PyBool_FromLong(h.has_object)) < 0 ||
        sp_dict_set_new(d, "object_certain", PyBool_FromLong(h.object_certain)) < 0 ||
        sp_dict_set_new(d, "pickle_runs", PyBool_FromLong(h.pickle_runs)) < 0 ||
        sp_dict_set_new(d, "fortran_order",
                        h.fortran_order < 0 ? Py_NewRef(Py_None)
                                            : PyBool_FromLong(h.fortran_order)) < 0 ||
        sp_dict_set_new(d, "shape", shape) < 0 ||
        sp_dict_set_new(d, "ndim", PyLong_FromSize_t(h.ndim)) < 0 ||
        sp_dict_set_new(d, "count",
                        h.count_known ? PyLong_FromUnsignedLongLong(h.count) : Py_NewRef(Py_None)) <
            0 ||
        sp_dict_set_new(d, "itemsize",
                        h.itemsize_known ? PyLong_FromUnsignedLongLong(h.itemsize)
                                         : Py_NewRef(Py_None)) < 0 ||
        sp_dict_set_new(d, "header_chars_over_default",
                        PyBool_FromLong(h.header_chars_over_default)) < 0 ||
        sp_dict_set_new(d, "py2_long_suffix", PyBool_FromLong(h.py2_long_suffix)) < 0 ||
        sp_dict_set_new(d, "descr",
                        PyUnicode_DecodeUTF8(h.descr, (Py_ssize_t)strlen(h.descr), "replace")) <
            0 ||
        sp_dict_set_new(d, "anomalies", anomaly_list(h.anomalies)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}
