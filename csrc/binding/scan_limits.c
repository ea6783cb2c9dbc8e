/* Conversion between sp_limits and a Python dict.
 *
 * One table drives both directions so that a field added to sp_limits only
 * needs one new line here to be settable and reported. */
#include "scan_limits.h"

#include <stddef.h>
#include <stdint.h>

typedef struct limit_field {
    const char *name;
    size_t offset;
    size_t size; /* 4 or 8: the fields are uint32_t or uint64_t */
} limit_field;

#define FIELD(n)                                                                                   \
    {                                                                                              \
#n, offsetof(sp_limits, n), sizeof(((sp_limits *)0)->n)                                    \
    }

static const limit_field limit_fields[] = {
    FIELD(max_ops),   FIELD(max_stack),   FIELD(max_marks),  FIELD(max_memo),    FIELD(max_string),
    FIELD(max_alloc), FIELD(max_streams), FIELD(max_events), FIELD(max_nesting), FIELD(max_depth),
};

#undef FIELD

#define N_FIELDS (sizeof(limit_fields) / sizeof(limit_fields[0]))

static uint64_t field_get(const sp_limits *limits, const limit_field *f)
{
    const char *base = (const char *)limits + f->offset;
    if (f->size == sizeof(uint32_t))
        return *(const uint32_t *)base;
    return *(const uint64_t *)base;
}

static void field_set(sp_limits *limits, const limit_field *f, uint64_t value)
{
    char *base = (char *)limits + f->offset;
    if (f->size == sizeof(uint32_t))
        *(uint32_t *)base = (uint32_t)value;
    else
        *(uint64_t *)base = value;
}

static const limit_field *field_find(PyObject *key)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (PyUnicode_CompareWithASCIIString(key, limit_fields[i].name) == 0)
            return &limit_fields[i];
    }
    return NULL;
}

/* The known names, for an error message that tells the caller what to use. */
static PyObject *known_names(void)
{
    PyObject *names = PyList_New(N_FIELDS);
    if (names == NULL)
        return NULL;
    for (size_t i = 0; i < N_FIELDS; i++) {
        PyObject *s = PyUnicode_FromString(limit_fields[i].name);
        if (s == NULL) {
            Py_DECREF(names);
            return NULL;
        }
        PyList_SET_ITEM(names, (Py_ssize_t)i, s);
    }
    PyObject *sep = PyUnicode_FromString(", ");
    PyObject *joined = sep ? PyUnicode_Join(sep, names) : NULL;
    Py_XDECREF(sep);
    Py_DECREF(names);
    return joined;
}

static int set_one(sp_limits *out, PyObject *key, PyObject *value)
{
    if (!PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError, "limit names must be str, not %.100s", Py_TYPE(key)->tp_name);
        return -1;
    }
    const limit_field *f = field_find(key);
    if (f == NULL) {
        PyObject *known = known_names();
        if (known != NULL) {
            PyErr_Format(PyExc_ValueError, "unknown limit %R (known: %U)", key, known);
            Py_DECREF(known);
        }
        return -1;
    }
    /* bool is an int subclass, but True as a byte count is a caller bug. */
    if (!PyLong_Check(value) || PyBool_Check(value)) {
        PyErr_Format(PyExc_TypeError, "limit %U must be an int, not %.100s", key,
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    uint64_t max = f->size == sizeof(uint32_t) ? UINT32_MAX : UINT64_MAX;
    unsigned long long v = PyLong_AsUnsignedLongLong(value);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
        v = max;
        goto out_of_range;
    }
    if (v > max)
        goto out_of_range;
    field_set(out, f, v);
    return 0;

out_of_range:
    PyErr_Format(PyExc_ValueError, "limit %U must be between 0 and %llu", key,
                 (unsigned long long)max);
    return -1;
}

int sp_limits_from_object(PyObject *obj, sp_limits *out)
{
    sp_limits_default(out);
    if (obj == NULL || obj == Py_None)
        return 0;
    if (!PyDict_Check(obj)) {
        PyErr_Format(PyExc_TypeError,
                     "limits must be a dict or None, not "
                     "%.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(obj, &pos, &key, &value)) {
        if (set_one(out, key, value) < 0)
            return -1;
    }
    return 0;
}

PyObject *sp_limits_to_dict(const sp_limits *limits)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < N_FIELDS; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(field_get(limits, &limit_fields[i]));
        if (v == NULL || PyDict_SetItemString(d, limit_fields[i].name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}
