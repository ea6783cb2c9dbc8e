/* sp_file -> compact report dict ("verdict" mode of _native.scan).
 *
 * A full report spends most of its time making one dict per global, call
 * and anomaly; a caller that only decides whether to load a file needs
 * the verdict and the names it resolves. The globals list is built the way
 * Report.globals reads a full report (streams in file order, each followed
 * by the pickles nested in it), so both modes agree name for name. */
#include "verdict_convert.h"

#include <stdint.h>
#include <string.h>

#include "decision_convert.h"
#include "dict_set.h"
#include "sp_features.h"
#include "sp_trace.h"

/* Recently added names, by a hash of their bytes: real files resolve the
 * same few globals again and again, and equal bytes decode to an equal
 * name, so a hit skips decoding and the dict lookup. */
#define RECENT_NAMES 64 /* power of two */

typedef struct names {
    PyObject *seen; /* "module.name" -> None, in first-seen order */
    const sp_global *recent[RECENT_NAMES];
} names;

/* As the full report decodes a name: the core keeps lone surrogates as
 * 3-byte sequences; anything still undecodable is shown escaped. */
static PyObject *name_text(sp_name n)
{
    const char *p = n.ptr ? n.ptr : "";
    PyObject *s = PyUnicode_DecodeUTF8(p, (Py_ssize_t)n.len, "surrogatepass");
    if (s == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        s = PyUnicode_DecodeUTF8(p, (Py_ssize_t)n.len, "backslashreplace");
    }
    return s;
}

static int same_name(sp_name a, sp_name b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static size_t name_hash(const sp_global *g)
{
    /* FNV-1a over both parts, a separator between them */
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t i = 0; i < g->module.len; i++)
        h = (h ^ (uint8_t)g->module.ptr[i]) * 1099511628211ULL;
    h = (h ^ 0x100) * 1099511628211ULL;
    for (uint32_t i = 0; i < g->name.len; i++)
        h = (h ^ (uint8_t)g->name.ptr[i]) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29)) & (RECENT_NAMES - 1);
}

/* "module.name" as the full report spells it (each part decoded, then
 * joined). The dot is ASCII, so decoding the joined bytes gives the same
 * text in one step whenever both parts decode; otherwise the parts are
 * decoded apart, as the full report does. */
static PyObject *full_name(const sp_global *g)
{
    char buf[256];
    size_t m = g->module.len, k = g->name.len;

    if (m + 1 + k <= sizeof(buf)) {
        if (m)
            memcpy(buf, g->module.ptr, m);
        buf[m] = '.';
        if (k)
            memcpy(buf + m + 1, g->name.ptr, k);
        PyObject *s = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)(m + 1 + k), "surrogatepass");
        if (s != NULL || !PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
            return s;
        PyErr_Clear();
    }
    PyObject *module = name_text(g->module);
    PyObject *name = module ? name_text(g->name) : NULL;
    PyObject *full = name ? PyUnicode_FromFormat("%U.%U", module, name) : NULL;
    Py_XDECREF(module);
    Py_XDECREF(name);
    return full;
}

static int add_global(names *n, const sp_global *g)
{
    size_t at = name_hash(g);
    const sp_global *prev = n->recent[at];
    if (prev != NULL && same_name(prev->module, g->module) && same_name(prev->name, g->name))
        return 0;

    PyObject *full = full_name(g);
    if (full == NULL)
        return -1;
    int rc = PyDict_SetDefault(n->seen, full, Py_None) == NULL ? -1 : 0;
    Py_DECREF(full);
    if (rc == 0)
        n->recent[at] = g;
    return rc;
}

static int add_result(names *n, const sp_result *r);

static int add_stream(names *n, const sp_stream *st)
{
    for (uint32_t i = 0; st->globals != NULL && i < st->n_globals; i++) {
        if (add_global(n, &st->globals[i]) < 0)
            return -1;
    }
    for (uint32_t i = 0; st->nested != NULL && i < st->n_nested; i++) {
        if (st->nested[i].result != NULL && add_result(n, st->nested[i].result) < 0)
            return -1;
    }
    return 0;
}

static int add_result(names *n, const sp_result *r)
{
    for (uint32_t i = 0; r->streams != NULL && i < r->n_streams; i++) {
        if (add_stream(n, &r->streams[i]) < 0)
            return -1;
    }
    return 0;
}

/* The primary record first, then the others in file order: a zip read as
 * the pickle pickle.load makes of it names its globals there. */
static PyObject *globals_list(const sp_file *file)
{
    const sp_result *primary = sp_file_primary(file);
    names n;
    memset(&n, 0, sizeof(n));
    n.seen = PyDict_New();
    if (n.seen == NULL)
        return NULL;
    PyObject *list = NULL;
    int rc = primary == NULL ? 0 : add_result(&n, primary);
    for (uint32_t i = 0; rc == 0 && i < file->n_records; i++) {
        const sp_result *r = file->records[i].result;
        if (r != NULL && r != primary)
            rc = add_result(&n, r);
    }
    if (rc == 0)
        list = PyDict_Keys(n.seen);
    Py_DECREF(n.seen);
    return list;
}

static PyObject *reasons_list(const sp_verdict *v)
{
    int count = v->n_reasons < 0 ? 0 : v->n_reasons;
    if (count > SP_MAX_REASONS)
        count = SP_MAX_REASONS;
    PyObject *list = PyList_New(count);
    for (int i = 0; list != NULL && i < count; i++) {
        sp_name reason = {v->reasons[i], (uint32_t)strnlen(v->reasons[i], SP_REASON_MAX)};
        PyObject *s = name_text(reason);
        if (s == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, s);
    }
    return list;
}

static int any_limit(const sp_file *file)
{
    for (uint32_t i = 0; i < file->n_records; i++) {
        const sp_result *r = file->records[i].result;
        if (r != NULL && r->limit_hit)
            return 1;
    }
    return 0;
}

PyObject *sp_verdict_report_from_file(const sp_file *file, uint64_t input_len, const sp_verdict *v)
{
    const char *verdict = sp_verdict_name(v->kind);
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    if (sp_dict_set_new(d, "format",
                        PyUnicode_FromString(file->format[0] ? file->format : "unknown")) < 0 ||
        sp_dict_set_new(d, "verdict", sp_static_str(verdict ? verdict : "error")) < 0 ||
        sp_dict_set_new(d, "score",
                        v->score < 0 ? Py_NewRef(Py_None) : PyFloat_FromDouble(v->score)) < 0 ||
        sp_dict_set_new(d, "decided_by", sp_decider_name_object(v->decided_by)) < 0 ||
        sp_dict_set_new(d, "reasons", reasons_list(v)) < 0 ||
        sp_dict_set_new(d, "globals", globals_list(file)) < 0 ||
        sp_dict_set_new(d, "input_len", PyLong_FromUnsignedLongLong(input_len)) < 0 ||
        sp_dict_set_new(d, "limit_hit", PyBool_FromLong(any_limit(file))) < 0 ||
        sp_dict_set_new(d, "feature_version", PyLong_FromLong(SP_FEATURE_VERSION)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}
