/* safepickle._native.Classifier: a loaded model, shareable by threads. */
#ifndef SP_BINDING_CLASSIFIER_H
#define SP_BINDING_CLASSIFIER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "sp_classifier.h"

/* Create the type and add it to the module (state->ClassifierType). */
int Classifier_add_type(PyObject *module);

/* The core classifier of obj, or NULL with TypeError when obj is not a
 * Classifier of this module. */
const sp_classifier *Classifier_core(PyObject *module, PyObject *obj);

#endif
