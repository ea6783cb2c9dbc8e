/* Filling dicts with new references, the way every converter here does. */
#ifndef SP_BINDING_DICT_SET_H
#define SP_BINDING_DICT_SET_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "static_str.h"

/* d[key] = value, stealing the new reference value; -1 when value is NULL
 * (its constructor failed, the exception is set) or the store fails. key
 * has static storage (every caller passes a literal). */
static inline int sp_dict_set_new(PyObject *d, const char *key, PyObject *value)
{
    int rc;

    if (value == NULL)
        return -1;
    PyObject *k = sp_static_str(key);
    rc = k ? PyDict_SetItem(d, k, value) : -1;
    Py_XDECREF(k);
    Py_DECREF(value);
    return rc;
}

#endif
