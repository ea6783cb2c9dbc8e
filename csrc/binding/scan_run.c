/* One scan from the bytes to the verdict (scan_run.h). */
#include "scan_run.h"

#include "sp_features.h"
#include "sp_scan.h"

void scan_outputs_free(scan_outputs *o)
{
    PyMem_RawFree(o->rows);
    PyMem_RawFree(o->record_scores);
}

/* Each record's features are computed once: the classifier scores every
 * row of a record that reaches a callable, the full report shows the
 * primary record's, per-record features show all. Rows nobody reads are
 * left at zero. */
static sp_status compute_rows(const sp_file *f, int scored, int all, int primary, float *rows,
                              size_t n, sp_error *err)
{
    for (uint32_t i = 0; i < f->n_records; i++) {
        const sp_record *r = &f->records[i];

        if (r->result == NULL)
            continue;
        if (!(all || (primary && r->primary) || (scored && sp_result_reaches_callables(r->result))))
            continue;
        if (sp_features_compute(r->result, rows + (size_t)i * n) != SP_OK) {
            sp_error_set(err, SP_ERR_NOMEM, "out of memory computing features");
            return SP_ERR_NOMEM;
        }
    }
    return SP_OK;
}

/* Only the raw allocator may be used here. */
sp_status scan_run(const uint8_t *data, size_t len, const sp_limits *limits,
                   const sp_decide_options *decide, int want_features, int want_record_features,
                   sp_file **file, scan_outputs *o, sp_error *err)
{
    size_t n = sp_feature_count();
    size_t n_rows;
    sp_status status;

    status = sp_scan_file(data, len, limits, file, err);
    if (status != SP_OK)
        goto done;
    n_rows = (*file)->n_records ? (*file)->n_records : 1;
    o->record_scores = PyMem_RawCalloc(n_rows, sizeof(double));
    o->rows = PyMem_RawCalloc(n_rows * (n ? n : 1), sizeof(float));
    if (o->record_scores == NULL || o->rows == NULL) {
        sp_error_set(err, SP_ERR_NOMEM, "out of memory");
        status = SP_ERR_NOMEM;
        goto done;
    }
    status = compute_rows(*file, decide->classifier != NULL, want_record_features, want_features,
                          o->rows, n, err);
    if (status != SP_OK)
        goto done;
    o->features = o->rows; /* all zero when no record is primary */
    for (uint32_t i = 0; i < (*file)->n_records; i++)
        if ((*file)->records[i].primary)
            o->features = o->rows + (size_t)i * n;
    sp_file_decide(*file, decide, o->rows, o->record_scores, o->verdict);

done:
    return status;
}

PyObject *scan_raise(module_state *st, const sp_error *err, sp_status status)
{
    const char *msg = err->message[0] ? err->message : sp_status_name(status);
    if (status == SP_ERR_NOMEM)
        return PyErr_Format(PyExc_MemoryError, "%s", msg ? msg : "out of memory");
    return PyErr_Format(st->ScanError, "%s", msg ? msg : "scan failed");
}
