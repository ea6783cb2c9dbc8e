/* The compact report of docs/report-schema.md ("verdict" mode): only what
 * deciding to load a file needs, without one dict per trace record.
 *
 * Like the full report it reads strings that point into the scanned
 * buffer: build it before the buffer is released. Needs the GIL. */
#ifndef SP_BINDING_VERDICT_CONVERT_H
#define SP_BINDING_VERDICT_CONVERT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

#include "sp_file.h"
#include "sp_verdict.h"

/* format, verdict, score, decided_by, reasons, globals ("module.name" of
 * every record's streams and the pickles nested in them, the primary
 * record first, first occurrence order, no repeats: what Report.globals
 * lists for the full report), input_len, limit_hit, feature_version. */
PyObject *sp_verdict_report_from_file(const sp_file *file, uint64_t input_len,
                                      const sp_verdict *verdict);

#endif
