/* safepickle._native.GatedScan: a scan in a thread of its own that a
 * loader started at once reads behind (csrc/core/sp_progress.h). */
#ifndef SP_BINDING_GATED_SCAN_H
#define SP_BINDING_GATED_SCAN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Create the type and add it to the module. */
int GatedScan_add_type(PyObject *module);

#endif
