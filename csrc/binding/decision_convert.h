/* The classifier's part of the report: who decided, the score per record,
 * the features that drove it. Added to a report dict that
 * sp_report_from_file built. Needs the GIL. */
#ifndef SP_BINDING_DECISION_CONVERT_H
#define SP_BINDING_DECISION_CONVERT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "sp_file.h"
#include "sp_verdict.h"

/* record_scores: one per record (-1: none); record_features: NULL, or
 * n_records rows of n_features floats to attach to each record. */
int sp_report_add_decision(PyObject *report, const sp_file *file, const sp_verdict *verdict,
                           const double *record_scores, const float *record_features,
                           size_t n_features);

/* "rules", "model" or None: who settled the verdict. */
PyObject *sp_decider_name_object(sp_decider decided_by);

#endif
