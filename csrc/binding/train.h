/* safepickle._native.train: fit a model with the libxgboost that serves. */
#ifndef SP_BINDING_TRAIN_H
#define SP_BINDING_TRAIN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *module_train(PyObject *module, PyObject *args, PyObject *kwargs);
extern const char module_train_doc[];

#define SP_TRAIN_METHODS                                                                           \
    {"train", (PyCFunction)(void (*)(void))module_train, METH_VARARGS | METH_KEYWORDS,             \
     module_train_doc},

#endif
