/* Per-module state of safepickle._native: the exception and the types the
 * binding's files share. */
#ifndef SP_BINDING_MODULE_STATE_H
#define SP_BINDING_MODULE_STATE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct module_state {
    PyObject *ScanError;
    PyObject *ClassifierType;
} module_state;

static inline module_state *sp_module_state(PyObject *module)
{
    return (module_state *)PyModule_GetState(module);
}

#endif
