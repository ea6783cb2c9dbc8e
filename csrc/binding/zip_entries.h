/* The sp_zip reader's view of an archive, for Python.
 *
 * zip_entries is how the guard checks that the holes it leaves in a torch
 * zip's snapshot are bytes the scanner never reads (zip_payloads.py); the
 * tests compare both functions with what torch.load really does on the
 * same bytes. */
#ifndef SP_BINDING_ZIP_ENTRIES_H
#define SP_BINDING_ZIP_ENTRIES_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>

/* dict: ok, error, torch_zip, prefix, entries, anomalies, anomaly_details,
 * eocd_count, zip64, torch_pickle, torch_refusal, torchscript */
PyObject *sp_binding_zip_entries(PyObject *self, PyObject *args);
/* bytes of torch's getRecord(name), or None where it raises */
PyObject *sp_binding_zip_record(PyObject *self, PyObject *args);

#define SP_ZIP_ENTRIES_METHODS                                                                     \
    {"zip_entries", sp_binding_zip_entries, METH_VARARGS,                                          \
     "zip_entries(data) -> dict: the archive as torch.load reads it"},                             \
        {"zip_record", sp_binding_zip_record, METH_VARARGS,                                        \
         "zip_record(data, name) -> bytes torch reads for record name, or None"},

#endif
