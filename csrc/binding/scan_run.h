/* One scan of a buffer, from the bytes to the verdict: what scan() and a
 * GatedScan's thread both run, without the GIL. */
#ifndef SP_BINDING_SCAN_RUN_H
#define SP_BINDING_SCAN_RUN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdint.h>

#include "module_state.h"
#include "sp_decide.h"
#include "sp_file.h"
#include "sp_status.h"
#include "sp_trace.h"
#include "sp_verdict.h"

/* What one scan computes besides the file itself; all of it allocated with
 * the raw allocator or on the caller's side, filled without the GIL. */
typedef struct scan_outputs {
    float *rows;           /* one feature row per record (at least one row, zero) */
    const float *features; /* the report's vector: the primary record's row */
    double *record_scores; /* one per record */
    sp_verdict *verdict;   /* the caller's */
} scan_outputs;

void scan_outputs_free(scan_outputs *o);

/* Scans data into *file and o (whose verdict the caller provides) and
 * decides. Touches no Python object: callable without the GIL, from any
 * thread. On an error *file may still need sp_file_free. */
sp_status scan_run(const uint8_t *data, size_t len, const sp_limits *limits,
                   const sp_decide_options *decide, int want_features, int want_record_features,
                   sp_file **file, scan_outputs *o, sp_error *err);

/* Raises what a failed scan_run means: MemoryError for SP_ERR_NOMEM,
 * else the module's ScanError. Returns NULL. */
PyObject *scan_raise(module_state *st, const sp_error *err, sp_status status);

#endif
