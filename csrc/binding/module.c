/* safepickle._native: the Python face of the C core.
 *
 * The core never sees a Python object and never raises: this module turns
 * buffers into (pointer, length), status codes into exceptions and results
 * into the report dict. The scan itself runs without the GIL, so scanning
 * in threads uses every core. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <zip.h>

#include "classifier.h"
#include "debug_plain.h"
#include "debug_text.h"
#include "debug_unwrap.h"
#include "decision_convert.h"
#include "gated_scan.h"
#include "module_state.h"
#include "joblib_plan.h"
#include "payload_walk.h"
#include "report_convert.h"
#include "scan_run.h"
#include "scan_limits.h"
#include "sp_arena.h"
#include "sp_decide.h"
#include "sp_features.h"
#include "sp_format.h"
#include "sp_holes.h"
#include "sp_opcodes.h"
#include "sp_scan.h"
#include "sp_status.h"
#include "sp_trace.h"
#include "sp_verdict.h"
#include "train.h"
#include "verdict_convert.h"
#include "zip_entries.h"

static inline module_state *get_state(PyObject *module)
{
    return sp_module_state(module);
}

/* ---- scan ------------------------------------------------------------- */

/* Runs without the GIL. */
static sp_status scan_without_gil(const uint8_t *data, size_t len, const sp_limits *limits,
                                  const sp_decide_options *decide, int want_features,
                                  int want_record_features, sp_file **file, scan_outputs *o,
                                  sp_error *err)
{
    sp_status status;
    PyThreadState *save = PyEval_SaveThread();

    status = scan_run(data, len, limits, decide, want_features, want_record_features, file, o, err);
    PyEval_RestoreThread(save);
    return status;
}

PyDoc_STRVAR(module_scan_doc, "scan(buffer, limits=None, detail=True, classifier=None,\n\
     threshold=0.5, explain=False, record_features=False, report='full',\n\
     holes=None) -> dict\n\
\n\
Scan a bytes-like object without running it and return the report dict\n\
described in docs/report-schema.md. limits is None or a dict overriding\n\
some of default_limits(). detail=False leaves call arguments and returned\n\
values out (None), which is all a guard needs and much cheaper. With a\n\
Classifier, every record holding a pickle is scored and a file the rules\n\
leave benign is unsafe when its highest score reaches threshold; explain\n\
fills the report's drivers even when the model did not decide. With\n\
record_features, every record carries its own feature vector.\n\
report='verdict' returns the compact report instead (verdict, score,\n\
decided_by, reasons, globals, format, input_len, limit_hit,\n\
feature_version): the same verdict without the trace, for callers that\n\
only decide whether to load. holes (report='verdict' only): sorted,\n\
disjoint (start, end) ranges of the buffer left unread, none before\n\
HOLE_FILE_HEAD; the report then says in holes_touched whether the verdict\n\
relied on any of their bytes (see csrc/core/sp_holes.h). Raises\n\
ScanError when the core fails and MemoryError when it runs out of memory.");

/* holes: a sequence of (start, end) offsets into the buffer, sorted and
 * disjoint, past the head format checks read. */
static int holes_from_object(PyObject *obj, const uint8_t *data, size_t len, sp_holes *h)
{
    PyObject *seq = PySequence_Fast(obj, "holes must be a sequence of (start, end) pairs");
    Py_ssize_t n;
    uint64_t prev_end = 0;
    uintptr_t *lo = NULL, *hi = NULL;

    if (seq == NULL)
        return -1;
    n = PySequence_Fast_GET_SIZE(seq);
    lo = PyMem_RawMalloc(sizeof(*lo) * (size_t)(n ? n : 1));
    hi = PyMem_RawMalloc(sizeof(*hi) * (size_t)(n ? n : 1));
    h->taken_by = PyMem_RawCalloc((size_t)(n ? n : 1), sizeof(*h->taken_by));
    if (lo == NULL || hi == NULL || h->taken_by == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long long start, end;

        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i),
                              "KK;holes must be (start, end) pairs", &start, &end))
            goto error;
        if (start < SP_HOLE_FILE_HEAD || start < prev_end || end <= start || end > len) {
            PyErr_Format(PyExc_ValueError,
                         "hole (%llu, %llu): holes must be sorted, disjoint, non-empty, start at "
                         "or after byte %llu and end inside the buffer",
                         start, end, (unsigned long long)SP_HOLE_FILE_HEAD);
            goto error;
        }
        lo[i] = (uintptr_t)(data + start);
        hi[i] = (uintptr_t)(data + end);
        prev_end = end;
    }
    Py_DECREF(seq);
    h->lo = lo;
    h->hi = hi;
    h->n = (size_t)n;
    return 0;

error:
    Py_DECREF(seq);
    PyMem_RawFree(lo);
    PyMem_RawFree(hi);
    PyMem_RawFree(h->taken_by);
    h->taken_by = NULL;
    return -1;
}

static void holes_free(sp_holes *h)
{
    PyMem_RawFree((void *)h->lo);
    PyMem_RawFree((void *)h->hi);
    PyMem_RawFree(h->taken_by);
}

static PyObject *module_scan(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"buffer",  "limits",          "detail", "classifier", "threshold",
                             "explain", "record_features", "report", "holes",      NULL};
    int detail = 1, explain = 0, record_features = 0, compact = 0;
    const char *report_mode = "full";
    double threshold = 0.5;
    module_state *st = get_state(module);
    PyObject *source, *limits_obj = Py_None, *classifier_obj = Py_None, *report = NULL;
    PyObject *holes_obj = Py_None;
    sp_holes holes = {0};
    Py_buffer view;
    int have_view = 0;
    sp_limits limits;
    sp_file *file = NULL;
    sp_error err;
    sp_decide_options decide = {0};
    /* on the stack: sp_file_decide fills it whole, and a heap block of
     * six kilobytes made malloc tidy its free lists on every small scan */
    sp_verdict verdict;
    scan_outputs out = {0};
    size_t n_features = sp_feature_count();
    sp_status status = SP_OK;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OpOdppsO:scan", kwlist, &source, &limits_obj,
                                     &detail, &classifier_obj, &threshold, &explain,
                                     &record_features, &report_mode, &holes_obj))
        return NULL;
    if (strcmp(report_mode, "verdict") == 0) {
        compact = 1;
    } else if (strcmp(report_mode, "full") != 0) {
        PyErr_Format(PyExc_ValueError, "report must be 'full' or 'verdict', not '%s'", report_mode);
        return NULL;
    }
    if (holes_obj != Py_None && !compact) {
        /* the full report shows values, holes included */
        PyErr_SetString(PyExc_ValueError, "holes needs report='verdict'");
        return NULL;
    }
    if (compact && record_features) {
        PyErr_SetString(PyExc_ValueError,
                        "record_features needs report='full': the compact report has no records");
        return NULL;
    }
    if (sp_limits_from_object(limits_obj, &limits) < 0)
        return NULL;
    /* the full report shows stream results only in detail */
    limits.result_unread = (uint8_t)(compact || !detail);
    if (classifier_obj != Py_None) {
        decide.classifier = Classifier_core(module, classifier_obj);
        if (decide.classifier == NULL)
            return NULL;
        if (!(threshold >= 0.0 && threshold <= 1.0)) {
            PyErr_Format(PyExc_ValueError, "threshold must be between 0 and 1, not %g", threshold);
            return NULL;
        }
    }
    decide.threshold = threshold;
    decide.explain = explain;
    if (PyObject_GetBuffer(source, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    have_view = 1;

    static const uint8_t empty[1] = {0};
    const uint8_t *data = view.buf ? (const uint8_t *)view.buf : empty;
    size_t len = (size_t)view.len;

    if (holes_obj != Py_None) {
        if (holes_from_object(holes_obj, data, len, &holes) < 0)
            goto done;
        limits.holes = &holes;
    }
    out.verdict = &verdict;
    memset(&err, 0, sizeof(err));

    status =
        scan_without_gil(data, len, &limits, &decide, !compact, record_features, &file, &out, &err);
    if (status != SP_OK) {
        scan_raise(st, &err, status);
        goto done;
    }
    /* The result points into the buffer: convert before releasing it. */
    if (compact) {
        report = sp_verdict_report_from_file(file, len, out.verdict);
        if (report != NULL && limits.holes != NULL &&
            PyDict_SetItemString(report, "holes_touched", holes.touched ? Py_True : Py_False) < 0)
            Py_CLEAR(report);
        goto done;
    }
    report = sp_report_from_file(file, len, out.features, n_features, out.verdict, detail);
    if (report != NULL && sp_report_add_decision(report, file, out.verdict, out.record_scores,
                                                 record_features ? out.rows : NULL, n_features) < 0)
        Py_CLEAR(report);

done:
    if (file != NULL)
        sp_file_free(file);
    scan_outputs_free(&out);
    holes_free(&holes);
    if (have_view)
        PyBuffer_Release(&view);
    return report;
}

/* ---- tables ----------------------------------------------------------- */

typedef const char *(*name_at_fn)(size_t i);

static PyObject *string_list(size_t n, name_at_fn at)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = at(i);
        PyObject *item = s ? PyUnicode_FromString(s) : Py_NewRef(Py_None);
        if (item == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

static const char *opcode_name_at(size_t i)
{
    return sp_opcode_name((int)i);
}

PyDoc_STRVAR(module_feature_names_doc, "feature_names() -> list[str]\n\
\n\
Names of the feature vector entries, in order.");

static PyObject *module_feature_names(PyObject *module, PyObject *unused)
{
    return string_list(sp_feature_count(), sp_feature_name);
}

PyDoc_STRVAR(module_feature_descriptions_doc, "feature_descriptions() -> list[str]\n\
\n\
One-line description of each feature, in the order of feature_names().");

static PyObject *module_feature_descriptions(PyObject *module, PyObject *unused)
{
    return string_list(sp_feature_count(), sp_feature_description);
}

PyDoc_STRVAR(module_opcode_names_doc, "opcode_names() -> list[str]\n\
\n\
Pickle opcode names in pickletools order (the order of the opcode\n\
features).");

static PyObject *module_opcode_names(PyObject *module, PyObject *unused)
{
    return string_list(SP_N_OPCODES, opcode_name_at);
}

PyDoc_STRVAR(module_anomaly_codes_doc, "anomaly_codes() -> dict[str, str]\n\
\n\
Every anomaly code a report can contain, with its meaning.");

static PyObject *module_anomaly_codes(PyObject *module, PyObject *unused)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (int i = 0; i < SP_AN_COUNT; i++) {
        const char *name = sp_anomaly_name(i);
        const char *desc = sp_anomaly_description(i);
        if (name == NULL)
            continue;
        PyObject *v = PyUnicode_FromString(desc ? desc : "");
        if (v == NULL || PyDict_SetItemString(d, name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

PyDoc_STRVAR(module_default_limits_doc, "default_limits() -> dict[str, int]\n\
\n\
The resource caps a scan uses unless told otherwise.");

static PyObject *module_default_limits(PyObject *module, PyObject *unused)
{
    sp_limits limits;
    sp_limits_default(&limits);
    return sp_limits_to_dict(&limits);
}

PyDoc_STRVAR(module_library_versions_doc, "library_versions() -> dict[str, str]\n\
\n\
Versions of the system libraries the extension is linked with.");

static PyObject *module_library_versions(PyObject *module, PyObject *unused)
{
    int major = 0, minor = 0, patch = 0;
    sp_classifier_library_version(&major, &minor, &patch);
    const char *libzip = zip_libzip_version();
    return Py_BuildValue("{s:N,s:s}", "xgboost",
                         PyUnicode_FromFormat("%d.%d.%d", major, minor, patch), "libzip",
                         libzip ? libzip : "unknown");
}

PyDoc_STRVAR(module_release_memory_doc, "release_memory() -> None\n\
\n\
Give back to the kernel the large blocks scans keep for the next scan (at\n\
most 64 MB): a process about to load what it scanned wants the memory,\n\
one that scans file after file is faster keeping it. kept_memory() says\n\
how much is kept.");

PyDoc_STRVAR(module_kept_memory_doc, "kept_memory() -> int\n\
\n\
Bytes of the large blocks kept for the next scan.");

static PyObject *module_kept_memory(PyObject *module, PyObject *unused)
{
    return PyLong_FromSize_t(sp_big_cached());
}

static PyObject *module_release_memory(PyObject *module, PyObject *unused)
{
    /* most calls find nothing kept: no need to let go of the GIL */
    if (sp_big_cached() > 0) {
        PyThreadState *save = PyEval_SaveThread();

        sp_big_release_cached();
        PyEval_RestoreThread(save);
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"scan", (PyCFunction)(void (*)(void))module_scan, METH_VARARGS | METH_KEYWORDS,
     module_scan_doc},
    {"feature_names", module_feature_names, METH_NOARGS, module_feature_names_doc},
    {"feature_descriptions", module_feature_descriptions, METH_NOARGS,
     module_feature_descriptions_doc},
    {"opcode_names", module_opcode_names, METH_NOARGS, module_opcode_names_doc},
    {"anomaly_codes", module_anomaly_codes, METH_NOARGS, module_anomaly_codes_doc},
    {"default_limits", module_default_limits, METH_NOARGS, module_default_limits_doc},
    {"library_versions", module_library_versions, METH_NOARGS, module_library_versions_doc},
    {"release_memory", module_release_memory, METH_NOARGS, module_release_memory_doc},
    {"kept_memory", module_kept_memory, METH_NOARGS, module_kept_memory_doc},
    SP_PAYLOAD_WALK_METHODS SP_JOBLIB_PLAN_METHODS SP_TRAIN_METHODS SP_DEBUG_PLAIN_METHODS
        SP_DEBUG_TEXT_METHODS SP_DEBUG_UNWRAP_METHODS SP_ZIP_ENTRIES_METHODS{NULL, NULL, 0, NULL}};

/* ---- module life cycle ------------------------------------------------ */

static int module_exec(PyObject *module)
{
    module_state *st = get_state(module);
    st->ScanError = PyErr_NewExceptionWithDoc(
        "safepickle._native.ScanError",
        "The core could not scan the buffer (not raised for hostile input,\n"
        "which is reported in the result instead).",
        PyExc_ValueError, NULL);
    if (st->ScanError == NULL)
        return -1;
    if (PyModule_AddObjectRef(module, "ScanError", st->ScanError) < 0)
        return -1;
    if (Classifier_add_type(module) < 0)
        return -1;
    if (GatedScan_add_type(module) < 0)
        return -1;
    /* where holes may start: past the head of a payload and of the file
     * that the scan reads (sp_holes.h) */
    if (PyModule_AddIntConstant(module, "HOLE_HEAD", (long)SP_HOLE_HEAD) < 0 ||
        PyModule_AddIntConstant(module, "HOLE_FILE_HEAD", (long)SP_HOLE_FILE_HEAD) < 0)
        return -1;
    if (PyModule_AddIntConstant(module, "FEATURE_VERSION", SP_FEATURE_VERSION) < 0)
        return -1;
    if (PyModule_AddIntConstant(module, "HIGHEST_PROTOCOL", SP_HIGHEST_PROTOCOL) < 0)
        return -1;
    return 0;
}

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
    module_state *st = get_state(module);
    Py_VISIT(st->ScanError);
    Py_VISIT(st->ClassifierType);
    return 0;
}

static int module_clear(PyObject *module)
{
    module_state *st = get_state(module);
    Py_CLEAR(st->ScanError);
    Py_CLEAR(st->ClassifierType);
    return 0;
}

static void module_free(void *module)
{
    module_clear((PyObject *)module);
}

static PyModuleDef_Slot module_slots[] = {{Py_mod_exec, module_exec}, {0, NULL}};

PyDoc_STRVAR(module_doc, "Static pickle scanner core: reads pickle bytes, never runs them.");

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,          .m_name = "safepickle._native", .m_doc = module_doc,
    .m_size = sizeof(module_state), .m_methods = module_methods,    .m_slots = module_slots,
    .m_traverse = module_traverse,  .m_clear = module_clear,        .m_free = module_free,
};

PyMODINIT_FUNC PyInit__native(void)
{
    return PyModuleDef_Init(&native_module);
}
