/* The scan report dict of docs/report-schema.md, built from a core result.
 *
 * Strings in the result point into the scanned buffer: the conversion must
 * run before that buffer is released. Needs the GIL. */
#ifndef SP_BINDING_REPORT_CONVERT_H
#define SP_BINDING_REPORT_CONVERT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>

#include "sp_file.h"
#include "sp_format.h"
#include "sp_trace.h"
#include "sp_verdict.h"

/* The report of a scanned file: the primary record's streams at the top,
 * every record and the container's anomalies beside them. Without detail,
 * call arguments and the values pickles return are None: what a guard needs
 * costs little even for a trace of a million calls. */
PyObject *sp_report_from_file(const sp_file *file, uint64_t input_len, const float *features,
                              size_t n_features, const sp_verdict *verdict, int detail);

#endif
