#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#include "zip_entries.h"
#include "dict_set.h"
#include "sp_container.h"
#include "sp_zip.h"

static PyObject *bytes_or_none(const uint8_t *p, uint64_t n)
{
    if (p == NULL)
        Py_RETURN_NONE;
    if (n > (uint64_t)PY_SSIZE_T_MAX)
        return PyErr_NoMemory();
    return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n);
}

static PyObject *entry_dict(const sp_zip_entry *e)
{
    PyObject *d = PyDict_New();

    if (d == NULL)
        return NULL;
    if (sp_dict_set_new(d, "name", bytes_or_none(e->name, e->name_len)) < 0 ||
        sp_dict_set_new(d, "local_name", bytes_or_none(e->local_name, e->local_name_len)) < 0 ||
        sp_dict_set_new(d, "local_offset", PyLong_FromUnsignedLongLong(e->local_offset)) < 0 ||
        sp_dict_set_new(d, "data_offset",
                        e->has_local ? PyLong_FromUnsignedLongLong(e->data_offset)
                                     : Py_NewRef(Py_None)) < 0 ||
        sp_dict_set_new(d, "comp_size", PyLong_FromUnsignedLongLong(e->comp_size)) < 0 ||
        sp_dict_set_new(d, "uncomp_size", PyLong_FromUnsignedLongLong(e->uncomp_size)) < 0 ||
        sp_dict_set_new(d, "method", PyLong_FromLong(e->method)) < 0 ||
        sp_dict_set_new(d, "flags", PyLong_FromLong(e->flags)) < 0 ||
        sp_dict_set_new(d, "local_flags",
                        e->has_local ? PyLong_FromLong(e->local_flags) : Py_NewRef(Py_None)) < 0 ||
        sp_dict_set_new(d, "crc", PyLong_FromUnsignedLong(e->crc)) < 0 ||
        sp_dict_set_new(d, "external_attr", PyLong_FromUnsignedLong(e->external_attr)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *anomaly_lists(const sp_zip *z, PyObject *d)
{
    PyObject *names = PyList_New(0), *details = PyList_New(0);

    if (names == NULL || details == NULL)
        goto fail;
    for (int code = 0; code < SP_CA_COUNT; code++) {
        PyObject *s;
        if (!sp_zip_has_anomaly(z, code))
            continue;
        s = PyUnicode_FromString(sp_container_anomaly_name(code));
        if (s == NULL || PyList_Append(names, s) < 0) {
            Py_XDECREF(s);
            goto fail;
        }
        Py_DECREF(s);
    }
    for (uint32_t i = 0; i < z->n_anomalies; i++) {
        const sp_zip_anomaly *a = &z->anomalies[i];
        PyObject *t = Py_BuildValue("(sLK)", sp_container_anomaly_name(a->code),
                                    (long long)a->entry, (unsigned long long)a->offset);
        if (t == NULL || PyList_Append(details, t) < 0) {
            Py_XDECREF(t);
            goto fail;
        }
        Py_DECREF(t);
    }
    if (sp_dict_set_new(d, "anomalies", names) < 0) {
        names = NULL;
        goto fail;
    }
    if (sp_dict_set_new(d, "anomaly_details", details) < 0)
        return NULL;
    return d;
fail:
    Py_XDECREF(names);
    Py_XDECREF(details);
    return NULL;
}

PyObject *sp_binding_zip_entries(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    sp_zip z;
    sp_error err = {0};
    sp_error torch_err = {0};
    sp_status st, torch_st = SP_ERR_FORMAT;
    const uint8_t *pkl = NULL;
    uint64_t pkl_len = 0;
    PyObject *d = NULL, *entries = NULL;

    if (!PyArg_ParseTuple(args, "y*", &buf))
        return NULL;
    st = sp_zip_open((const uint8_t *)buf.buf, (size_t)buf.len, &z, &err);
    if (st == SP_ERR_NOMEM || st == SP_ERR_ARG) {
        PyErr_SetString(st == SP_ERR_NOMEM ? PyExc_MemoryError : PyExc_ValueError, err.message);
        goto done;
    }
    if (st == SP_OK || !z.torch_magic)
        torch_st = sp_zip_torch_pickle(&z, &pkl, &pkl_len, &torch_err);
    else
        memcpy(&torch_err, &err, sizeof(err));
    if (torch_st == SP_ERR_NOMEM) {
        PyErr_SetString(PyExc_MemoryError, torch_err.message);
        goto done;
    }

    d = PyDict_New();
    entries = PyList_New(0);
    if (d == NULL || entries == NULL)
        goto fail;
    for (uint32_t i = 0; i < z.n_entries; i++) {
        PyObject *e = entry_dict(&z.entries[i]);
        if (e == NULL || PyList_Append(entries, e) < 0) {
            Py_XDECREF(e);
            goto fail;
        }
        Py_DECREF(e);
    }
    if (sp_dict_set_new(d, "ok", PyBool_FromLong(st == SP_OK)) < 0 ||
        sp_dict_set_new(d, "error",
                        st == SP_OK ? Py_NewRef(Py_None) : PyUnicode_FromString(err.message)) < 0 ||
        sp_dict_set_new(d, "torch_zip", PyBool_FromLong(z.torch_magic)) < 0 ||
        sp_dict_set_new(d, "prefix",
                        z.has_prefix ? bytes_or_none(z.prefix, z.prefix_len) : Py_NewRef(Py_None)) <
            0 ||
        sp_dict_set_new(d, "zip64", PyBool_FromLong(z.zip64)) < 0 ||
        sp_dict_set_new(d, "eocd_count", PyLong_FromUnsignedLong(z.eocd_count)) < 0 ||
        sp_dict_set_new(d, "eocd_offset",
                        st == SP_OK || z.eocd_offset ? PyLong_FromUnsignedLongLong(z.eocd_offset)
                                                     : Py_NewRef(Py_None)) < 0 ||
        sp_dict_set_new(d, "torchscript", PyBool_FromLong(z.torchscript)) < 0 ||
        sp_dict_set_new(d, "torch_pickle",
                        torch_st == SP_OK ? bytes_or_none(pkl, pkl_len) : Py_NewRef(Py_None)) < 0 ||
        sp_dict_set_new(d, "torch_refusal",
                        torch_st == SP_OK ? Py_NewRef(Py_None)
                                          : PyUnicode_FromString(torch_err.message)) < 0) {
        goto fail;
    }
    if (sp_dict_set_new(d, "entries", entries) < 0) {
        entries = NULL;
        goto fail;
    }
    entries = NULL;
    if (anomaly_lists(&z, d) == NULL)
        goto fail;
    goto done;
fail:
    Py_XDECREF(entries);
    Py_CLEAR(d);
done:
    sp_zip_close(&z);
    PyBuffer_Release(&buf);
    return d;
}

PyObject *sp_binding_zip_record(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    const char *name;
    sp_zip z;
    sp_error err = {0};
    sp_status st;
    const uint8_t *rec = NULL;
    uint64_t rec_len = 0;
    PyObject *result = NULL;

    if (!PyArg_ParseTuple(args, "y*s", &buf, &name))
        return NULL;
    st = sp_zip_open((const uint8_t *)buf.buf, (size_t)buf.len, &z, &err);
    if (st == SP_OK && z.torch_magic)
        st = sp_zip_torch_record(&z, name, &rec, &rec_len, &err);
    else if (st == SP_OK)
        st = SP_ERR_FORMAT;
    if (st == SP_OK)
        result = bytes_or_none(rec, rec_len);
    else if (st == SP_ERR_NOMEM)
        PyErr_SetString(PyExc_MemoryError, err.message);
    else if (st == SP_ERR_ARG)
        PyErr_SetString(PyExc_ValueError, err.message);
    else
        result = Py_NewRef(Py_None);
    sp_zip_close(&z);
    PyBuffer_Release(&buf);
    return result;
}
