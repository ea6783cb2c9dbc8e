/* Test hooks exposing the sp_zip reader to Python.
 *
 * They let the test suite compare the reader's view of an archive with what
 * torch.load really does on the same bytes; nothing else in the package
 * calls them. */
#ifndef SP_BINDING_DEBUG_ZIP_H
#define SP_BINDING_DEBUG_ZIP_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>

/* dict: ok, error, torch_zip, prefix, entries, anomalies, anomaly_details,
 * eocd_count, zip64, torch_pickle, torch_refusal, torchscript */
PyObject *sp_debug_zip_entries(PyObject *self, PyObject *args);
/* bytes of torch's getRecord(name), or None where it raises */
PyObject *sp_debug_zip_record(PyObject *self, PyObject *args);

#define SP_DEBUG_ZIP_METHODS                                                                       \
    {"_zip_entries", sp_debug_zip_entries, METH_VARARGS,                                           \
     "_zip_entries(data) -> dict: the archive as torch.load reads it"},                            \
        {"_zip_record", sp_debug_zip_record, METH_VARARGS,                                         \
         "_zip_record(data, name) -> bytes torch reads for record name, or None"},

#endif
