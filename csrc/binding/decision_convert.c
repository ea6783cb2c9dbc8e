#include "decision_convert.h"

#include "dict_set.h"
#include "sp_features.h"

static PyObject *score_or_none(double score)
{
    return score < 0 ? Py_NewRef(Py_None) : PyFloat_FromDouble(score);
}

PyObject *sp_decider_name_object(sp_decider d)
{
    switch (d) {
    case SP_DECIDED_RULES:
        return sp_static_str("rules");
    case SP_DECIDED_MODEL:
        return sp_static_str("model");
    default:
        return Py_NewRef(Py_None);
    }
}

static PyObject *drivers_list(const sp_verdict *v)
{
    PyObject *list = PyList_New(0);

    for (int i = 0; list != NULL && i < v->n_drivers && i < SP_MAX_DRIVERS; i++) {
        const sp_driver *dr = &v->drivers[i];
        const char *name = sp_feature_name((size_t)dr->feature);
        PyObject *item = Py_BuildValue("{s:s,s:d,s:d}", "feature", name ? name : "?", "value",
                                       (double)dr->value, "contribution", (double)dr->contribution);
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(item);
    }
    return list;
}

static PyObject *float_row(const float *row, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);

    for (size_t i = 0; list != NULL && i < n; i++) {
        PyObject *f = PyFloat_FromDouble(row[i]);
        if (f == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, f);
    }
    return list;
}

/* The rules' verdict on one record alone: which records of a malicious
 * file carry the payload, for training. */
static PyObject *record_rule_verdict(const sp_record *r)
{
    sp_verdict *v;
    PyObject *name;

    if (r->result == NULL)
        return Py_NewRef(Py_None);
    v = PyMem_Malloc(sizeof(*v));
    if (v == NULL)
        return PyErr_NoMemory();
    sp_verdict_decide(r->result, v);
    name = PyUnicode_FromString(sp_verdict_name(v->kind));
    PyMem_Free(v);
    return name;
}

int sp_report_add_decision(PyObject *report, const sp_file *file, const sp_verdict *v,
                           const double *record_scores, const float *record_features,
                           size_t n_features)
{
    PyObject *records = PyDict_GetItemString(report, "records"); /* borrowed */
    const char *scored = NULL;

    if (v->scored_record >= 0 && (uint32_t)v->scored_record < file->n_records)
        scored = file->records[v->scored_record].name;
    if (sp_dict_set_new(report, "decided_by", sp_decider_name_object(v->decided_by)) < 0 ||
        sp_dict_set_new(report, "drivers", drivers_list(v)) < 0 ||
        sp_dict_set_new(report, "scored_record",
                        scored ? PyUnicode_DecodeUTF8(scored, (Py_ssize_t)strlen(scored), "replace")
                               : Py_NewRef(Py_None)) < 0)
        return -1;
    if (records == NULL || !PyList_Check(records) ||
        PyList_GET_SIZE(records) != (Py_ssize_t)file->n_records) {
        PyErr_SetString(PyExc_SystemError, "report records do not match the file");
        return -1;
    }
    for (uint32_t i = 0; i < file->n_records; i++) {
        PyObject *rec = PyList_GET_ITEM(records, (Py_ssize_t)i);

        if (sp_dict_set_new(rec, "score", score_or_none(record_scores ? record_scores[i] : -1)) < 0)
            return -1;
        if (record_features != NULL &&
            sp_dict_set_new(rec, "rule_verdict", record_rule_verdict(&file->records[i])) < 0)
            return -1;
        if (record_features != NULL &&
            sp_dict_set_new(rec, "features",
                            file->records[i].result == NULL
                                ? Py_NewRef(Py_None)
                                : float_row(record_features + (size_t)i * n_features, n_features)) <
                0)
            return -1;
    }
    return 0;
}
