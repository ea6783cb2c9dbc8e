/* sp_result -> report dict (docs/report-schema.md).
 *
 * Values are where a hostile file can make the report explode: containers
 * are shared through the memo, so a few hundred opcodes can build a DAG
 * whose expansion to depth 8 with 64 items per level has 64^8 nodes, and
 * one large string can be referenced a million times. Three things keep
 * the conversion linear in what the core kept:
 *   - a container met again at the same depth in the same stream reuses the
 *     dict already built (the report then shares it, as the pickle does);
 *   - a str/bytes/bigint slot or a global reference met again reuses its
 *     dict, so a long string is measured and decoded once;
 *   - a report-wide budget of value dicts; past it values are elided.
 * Elided values are {"type": ..., "elided": True}, one shared dict per type.
 *
 * Real files make hundreds of thousands of calls, so the fixed strings
 * (keys, type names, opcode names) are made once per process and the
 * cyclic GC is paused while building: the report holds no cycles (a value
 * only refers to values one level deeper), and a collection every few
 * hundred new dicts made conversion several times slower than the scan. */
#include "report_convert.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sp_features.h"
#include "sp_opcodes.h"
#include "sp_value.h"
#include "dict_set.h"

#define VALUE_MAX_DEPTH 8
#define STR_MAX_CHARS 4096
#define BYTES_HEAD 64
#define VALUE_BUDGET 500000

/* Spelled as the schema spells them; sp_vkind order. */
static const char *const value_type_names[SP_V_KIND_COUNT] = {
    [SP_V_NONE] = "none",     [SP_V_BOOL] = "bool",           [SP_V_INT] = "int",
    [SP_V_BIGINT] = "int",    [SP_V_FLOAT] = "float",         [SP_V_STR] = "str",
    [SP_V_BYTES] = "bytes",   [SP_V_BYTEARRAY] = "bytearray", [SP_V_BUFFER] = "buffer",
    [SP_V_TUPLE] = "tuple",   [SP_V_LIST] = "list",           [SP_V_DICT] = "dict",
    [SP_V_SET] = "set",       [SP_V_FROZENSET] = "frozenset", [SP_V_GLOBAL] = "global",
    [SP_V_RESULT] = "result",
};

static const char *const call_kind_names[SP_CALL_KIND_COUNT] = {
    [SP_CALL_REDUCE] = "reduce", [SP_CALL_NEWOBJ] = "newobj",   [SP_CALL_NEWOBJ_EX] = "newobj_ex",
    [SP_CALL_INST] = "inst",     [SP_CALL_OBJ] = "obj",         [SP_CALL_BUILD] = "build",
    [SP_CALL_EXTEND] = "extend", [SP_CALL_SETITEM] = "setitem", [SP_CALL_ADD] = "add",
    [SP_CALL_PERSID] = "persid",
};

static const char *const end_kind_names[] = {
    [SP_END_STOP] = "stop",
    [SP_END_ERROR] = "error",
    [SP_END_TRUNCATED] = "truncated",
    [SP_END_LIMIT] = "limit",
};

static const struct {
    uint16_t bit;
    const char *name;
} global_flag_names[] = {
    {SP_GF_COMPAT, "compat"},           {SP_GF_DOTTED, "dotted"},
    {SP_GF_COMPUTED, "computed"},       {SP_GF_EXT, "ext"},
    {SP_GF_SPECULATIVE, "speculative"}, {SP_GF_NAME_FROM_MEMO, "name_from_memo"},
    {SP_GF_INVALID, "invalid"},
};

#define GLOBALS_SEEN 64 /* power of two */

typedef struct conv {
    PyObject *shared; /* identity key (bytes) -> value dict already built */
    PyObject *elided[SP_V_KIND_COUNT + 1];
    size_t budget; /* value dicts still allowed */
    int detail;    /* 0: argument and result values are left out */
    /* Global values met lately, by stream and index: almost every call
     * names one as its callee, and this finds its dict without making and
     * looking up an identity key. The dicts are borrowed from shared. */
    struct {
        const sp_stream *st;
        uint32_t ref;
        PyObject *d;
    } globals_seen[GLOBALS_SEEN];
    /* The same for call results ({"type": "result", "call": i}), which
     * BUILD and SETITEMS name as their target again and again; these
     * references are owned here. */
    struct {
        const sp_stream *st;
        uint32_t ref;
        PyObject *d;
    } results_seen[GLOBALS_SEEN];
} conv;

static void conv_init(conv *c)
{
    memset(c, 0, sizeof(*c));
    c->budget = VALUE_BUDGET;
}

static void conv_release(conv *c)
{
    for (int i = 0; i < GLOBALS_SEEN; i++)
        Py_CLEAR(c->results_seen[i].d);
    Py_CLEAR(c->shared);
    for (int i = 0; i <= SP_V_KIND_COUNT; i++)
        Py_CLEAR(c->elided[i]);
}

/* ---- small helpers ---------------------------------------------------- */

static PyObject *str_or_none(const char *s)
{
    return s ? sp_static_str(s) : Py_NewRef(Py_None);
}

/* A new dict holding keys (in this order, values None), for records a
 * report makes by the thousand: copying a finished table is much cheaper
 * than growing a fresh dict key by key, and sp_dict_set_new then only
 * replaces values. The table is built once per process. */
typedef struct dict_template {
    const char *const *keys;
    int n;
    PyObject *dict;
} dict_template;

static PyObject *dict_like(dict_template *t)
{
    if (t->dict == NULL) {
        PyObject *d = PyDict_New();
        if (d == NULL)
            return NULL;
        for (int i = 0; i < t->n; i++) {
            if (sp_dict_set_new(d, t->keys[i], Py_NewRef(Py_None)) < 0) {
                Py_DECREF(d);
                return NULL;
            }
        }
        t->dict = d;
    }
    return PyDict_Copy(t->dict);
}

#define DICT_TEMPLATE(name, ...)                                                                   \
    static const char *const name##_keys[] = {__VA_ARGS__};                                        \
    static dict_template name = {name##_keys, (int)(sizeof(name##_keys) / sizeof(name##_keys[0])), \
                                 NULL}

static PyObject *u64(uint64_t v)
{
    return PyLong_FromUnsignedLongLong(v);
}

/* The core keeps lone surrogates as 3-byte sequences, as the loader's
 * strings can hold them; anything still undecodable is shown escaped rather
 * than failing the whole report. */
static PyObject *text(const char *p, size_t n)
{
    if (p == NULL)
        p = "";
    PyObject *s = PyUnicode_DecodeUTF8(p, (Py_ssize_t)n, "surrogatepass");
    if (s == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        s = PyUnicode_DecodeUTF8(p, (Py_ssize_t)n, "backslashreplace");
    }
    return s;
}

static PyObject *text_or_none(const char *p, size_t cap)
{
    if (p == NULL || p[0] == '\0')
        return Py_NewRef(Py_None);
    return text(p, strnlen(p, cap));
}

static PyObject *name_text(sp_name name)
{
    return text(name.ptr, name.len);
}

/* Key naming one converted value: (a, b, c) where a is the container, the
 * string bytes or the stream; b the stream, the length or the global index;
 * c the depth (1..8) or kind << 8 | flags, so the shapes cannot collide. */
static PyObject *identity_key(const void *a, uint64_t b, uint32_t c)
{
    struct {
        const void *a;
        uint64_t b;
        uint32_t c;
    } k;
    memset(&k, 0, sizeof(k)); /* padding is part of the key bytes */
    k.a = a;
    k.b = b;
    k.c = c;
    return PyBytes_FromStringAndSize((const char *)&k, sizeof(k));
}

/* ---- values ----------------------------------------------------------- */

static PyObject *value_convert(conv *c, const sp_stream *st, const sp_slot *s, int depth);

static PyObject *elided(conv *c, int kind)
{
    int i = (kind >= 0 && kind < SP_V_KIND_COUNT) ? kind : SP_V_KIND_COUNT;
    if (c->elided[i] == NULL) {
        PyObject *d = PyDict_New();
        if (d == NULL)
            return NULL;
        const char *name = i < SP_V_KIND_COUNT ? value_type_names[i] : "unknown";
        if (sp_dict_set_new(d, "type", sp_static_str(name)) < 0 ||
            sp_dict_set_new(d, "elided", Py_NewRef(Py_True)) < 0) {
            Py_DECREF(d);
            return NULL;
        }
        c->elided[i] = d;
    }
    return Py_NewRef(c->elided[i]);
}

/* int(text, 0) as the loader computes it, or from LONG1/LONG4 bytes. NULL
 * without an exception set when the text does not parse (the caller then
 * shows the text), NULL with one on a real error. */
static PyObject *bigint_value(const sp_slot *s)
{
    const char *p = (const char *)s->u.p;
    size_t n = (size_t)s->len;
    if (p == NULL)
        p = "";
    if (s->flags & SP_VF_LE_BYTES)
        return _PyLong_FromByteArray((const unsigned char *)p, n, 1, 1);

    /* The loader parses a NUL-terminated copy: a NUL ends the number. */
    const char *nul = memchr(p, '\0', n);
    if (nul != NULL)
        n = (size_t)(nul - p);
    if (n > 0 && p[n - 1] == 'L') /* LONG lines carry a Python 2 suffix */
        n--;
    char *copy = PyMem_Malloc(n + 1);
    if (copy == NULL)
        return PyErr_NoMemory();
    memcpy(copy, p, n);
    copy[n] = '\0';
    PyObject *v = PyLong_FromString(copy, NULL, 0);
    PyMem_Free(copy);
    /* ValueError also covers sys.get_int_max_str_digits(): a huge decimal
     * is reported as text instead of spending quadratic time on it. */
    if (v == NULL && PyErr_ExceptionMatches(PyExc_ValueError))
        PyErr_Clear();
    return v;
}

static int fill_bigint(conv *c, PyObject *d, const sp_slot *s)
{
    PyObject *v = bigint_value(s);
    if (v != NULL)
        return sp_dict_set_new(d, "value", v);
    if (PyErr_Occurred())
        return -1;
    size_t n = s->len < STR_MAX_CHARS ? (size_t)s->len : STR_MAX_CHARS;
    if (sp_dict_set_new(d, "value", Py_NewRef(Py_None)) < 0)
        return -1;
    return sp_dict_set_new(
        d, "text", PyUnicode_DecodeLatin1(s->u.p ? (const char *)s->u.p : "", (Py_ssize_t)n, NULL));
}

static int fill_str(conv *c, PyObject *d, const sp_slot *s)
{
    const uint8_t *p = s->u.p;
    uint64_t n = s->len, chars = 0, cut = n;
    /* Code points are the bytes that do not continue a sequence. */
    for (uint64_t i = 0; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            if (chars == STR_MAX_CHARS && cut == n)
                cut = i;
            chars++;
        }
    }
    if (sp_dict_set_new(d, "len", u64(chars)) < 0)
        return -1;
    return sp_dict_set_new(d, "value", text((const char *)p, (size_t)cut));
}

static int fill_bytes(conv *c, PyObject *d, const sp_slot *s)
{
    size_t head = s->len < BYTES_HEAD ? (size_t)s->len : BYTES_HEAD;
    if (sp_dict_set_new(d, "len", u64(s->len)) < 0)
        return -1;
    return sp_dict_set_new(
        d, "head", PyBytes_FromStringAndSize(s->u.p ? (const char *)s->u.p : "", (Py_ssize_t)head));
}

static int fill_container(conv *c, const sp_stream *st, PyObject *d, const sp_obj *o, int depth)
{
    uint32_t kept = o->items ? o->n_kept : 0;
    int is_dict = o->kind == SP_V_DICT;
    uint64_t len = is_dict ? o->n_total / 2 : o->n_total;
    int truncated = (o->flags & SP_OF_TRUNCATED) || o->n_total > kept;
    Py_ssize_t n_items = is_dict ? kept / 2 : kept;

    if (sp_dict_set_new(d, "len", u64(len)) < 0)
        return -1;
    PyObject *items = PyList_New(n_items);
    if (items == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < n_items; i++) {
        PyObject *item;
        if (is_dict) {
            PyObject *k = value_convert(c, st, &o->items[2 * i], depth + 1);
            PyObject *v = k ? value_convert(c, st, &o->items[2 * i + 1], depth + 1) : NULL;
            item = v ? PyList_New(2) : NULL;
            if (item == NULL) {
                Py_XDECREF(k);
                Py_XDECREF(v);
                goto error;
            }
            PyList_SET_ITEM(item, 0, k);
            PyList_SET_ITEM(item, 1, v);
        } else {
            item = value_convert(c, st, &o->items[i], depth + 1);
            if (item == NULL)
                goto error;
        }
        PyList_SET_ITEM(items, i, item);
    }
    if (sp_dict_set_new(d, "items", items) < 0)
        return -1;
    return sp_dict_set_new(d, "truncated", PyBool_FromLong(truncated));

error:
    Py_DECREF(items);
    return -1;
}

static int fill_global_ref(conv *c, PyObject *d, const sp_stream *st, uint32_t ref)
{
    if (sp_dict_set_new(d, "index", PyLong_FromUnsignedLong(ref)) < 0)
        return -1;
    if (st == NULL || st->globals == NULL || ref >= st->n_globals) {
        if (sp_dict_set_new(d, "module", Py_NewRef(Py_None)) < 0)
            return -1;
        return sp_dict_set_new(d, "name", Py_NewRef(Py_None));
    }
    const sp_global *g = &st->globals[ref];
    if (sp_dict_set_new(d, "module", name_text(g->module)) < 0)
        return -1;
    return sp_dict_set_new(d, "name", name_text(g->name));
}

/* Identity of a value whose dict can be shared, or NULL without an error
 * for values cheaper to rebuild than to look up. */
static PyObject *shared_key(const sp_stream *st, const sp_slot *s, int depth)
{
    switch (s->kind) {
    case SP_V_BIGINT:
    case SP_V_STR:
    case SP_V_BYTES:
    case SP_V_BYTEARRAY:
        return identity_key(s->u.p, s->len, ((uint32_t)s->kind << 8) | s->flags);
    case SP_V_GLOBAL:
        return identity_key(st, s->ref, (uint32_t)s->kind << 8);
    default:
        if (sp_kind_is_container(s->kind))
            return identity_key(s->u.obj, (uint64_t)(uintptr_t)st, (uint32_t)depth);
        return NULL;
    }
}

static int fill_value(conv *c, const sp_stream *st, PyObject *d, const sp_slot *s, int depth)
{
    switch (s->kind) {
    case SP_V_NONE:
    case SP_V_BUFFER:
        return 0;
    case SP_V_BOOL:
        return sp_dict_set_new(d, "value", PyBool_FromLong(s->u.i != 0));
    case SP_V_INT:
        return sp_dict_set_new(d, "value", PyLong_FromLongLong(s->u.i));
    case SP_V_BIGINT:
        return fill_bigint(c, d, s);
    case SP_V_FLOAT:
        return sp_dict_set_new(d, "value", PyFloat_FromDouble(s->u.f));
    case SP_V_STR:
        return fill_str(c, d, s);
    case SP_V_BYTES:
    case SP_V_BYTEARRAY:
        return fill_bytes(c, d, s);
    case SP_V_GLOBAL:
        return fill_global_ref(c, d, st, s->ref);
    case SP_V_RESULT:
        return sp_dict_set_new(d, "call", PyLong_FromUnsignedLong(s->ref));
    default:
        return fill_container(c, st, d, s->u.obj, depth);
    }
}

static PyObject *value_convert_shared(conv *c, const sp_stream *st, const sp_slot *s, int depth);

static PyObject *value_convert(conv *c, const sp_stream *st, const sp_slot *s, int depth)
{
    if (s->kind == SP_V_RESULT && depth <= VALUE_MAX_DEPTH) {
        size_t at = (((uintptr_t)st >> 4) ^ s->ref) & (GLOBALS_SEEN - 1);
        if (c->results_seen[at].d != NULL && c->results_seen[at].st == st &&
            c->results_seen[at].ref == s->ref)
            return Py_NewRef(c->results_seen[at].d);
        PyObject *d = value_convert_shared(c, st, s, depth);
        if (d != NULL && d != c->elided[SP_V_RESULT]) {
            Py_XSETREF(c->results_seen[at].d, Py_NewRef(d));
            c->results_seen[at].st = st;
            c->results_seen[at].ref = s->ref;
        }
        return d;
    }
    if (s->kind != SP_V_GLOBAL || depth > VALUE_MAX_DEPTH)
        return value_convert_shared(c, st, s, depth);
    size_t at = (((uintptr_t)st >> 4) ^ s->ref) & (GLOBALS_SEEN - 1);
    if (c->globals_seen[at].d != NULL && c->globals_seen[at].st == st &&
        c->globals_seen[at].ref == s->ref)
        return Py_NewRef(c->globals_seen[at].d);
    PyObject *d = value_convert_shared(c, st, s, depth);
    if (d != NULL && d != c->elided[SP_V_GLOBAL]) {
        c->globals_seen[at].st = st;
        c->globals_seen[at].ref = s->ref;
        c->globals_seen[at].d = d;
    }
    return d;
}

static PyObject *value_convert_shared(conv *c, const sp_stream *st, const sp_slot *s, int depth)
{
    int kind = s->kind;
    if (kind < 0 || kind >= SP_V_KIND_COUNT)
        return elided(c, -1);
    if (depth > VALUE_MAX_DEPTH)
        return elided(c, kind);
    if (sp_kind_is_container(kind) && s->u.obj == NULL)
        return elided(c, kind);

    PyObject *key = shared_key(st, s, depth), *d = NULL;
    if (key == NULL && PyErr_Occurred())
        return NULL;
    if (key != NULL) {
        PyObject *hit = PyDict_GetItemWithError(c->shared, key);
        if (hit != NULL) {
            Py_DECREF(key);
            return Py_NewRef(hit);
        }
        if (PyErr_Occurred())
            goto error;
    }
    if (c->budget == 0) {
        Py_XDECREF(key);
        return elided(c, kind);
    }
    c->budget--;

    d = PyDict_New();
    if (d == NULL || sp_dict_set_new(d, "type", sp_static_str(value_type_names[kind])) < 0 ||
        fill_value(c, st, d, s, depth) < 0)
        goto error;
    if (key != NULL && PyDict_SetItem(c->shared, key, d) < 0)
        goto error;
    Py_XDECREF(key);
    return d;

error:
    Py_XDECREF(key);
    Py_XDECREF(d);
    return NULL;
}

/* ---- trace records ---------------------------------------------------- */

static PyObject *global_flags(conv *c, uint16_t flags)
{
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(global_flag_names) / sizeof(global_flag_names[0]); i++) {
        if (!(flags & global_flag_names[i].bit))
            continue;
        PyObject *s = sp_static_str(global_flag_names[i].name);
        if (s == NULL || PyList_Append(list, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(s);
    }
    return list;
}

static PyObject *global_to_dict(conv *c, const sp_global *g)
{
    DICT_TEMPLATE(global_template, "module", "name", "raw_module", "raw_name", "offset", "opcode",
                  "proto", "ext_code", "flags");
    PyObject *d = dict_like(&global_template);
    if (d == NULL)
        return NULL;
    if (sp_dict_set_new(d, "module", name_text(g->module)) < 0 ||
        sp_dict_set_new(d, "name", name_text(g->name)) < 0 ||
        sp_dict_set_new(d, "raw_module", name_text(g->raw_module)) < 0 ||
        sp_dict_set_new(d, "raw_name", name_text(g->raw_name)) < 0 ||
        sp_dict_set_new(d, "offset", u64(g->offset)) < 0 ||
        sp_dict_set_new(d, "opcode", str_or_none(sp_opcode_name(g->opcode))) < 0 ||
        sp_dict_set_new(d, "proto", PyLong_FromLong(g->proto)) < 0 ||
        sp_dict_set_new(d, "ext_code", PyLong_FromLong(g->ext_code)) < 0 ||
        sp_dict_set_new(d, "flags", global_flags(c, g->flags)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* The keys of a call record that depend only on its kind, opcode and
 * flags, already filled in: a file makes many calls of few shapes, and a
 * copy of the shape then needs only its index, offset, callee (and with
 * detail its arguments). Shapes are kept for the life of the process; what
 * they hold (interned names, bools, None) never changes. */
#define CALL_FLAG_BITS 16 /* every SP_CF_* combination */
static PyObject *call_shapes[SP_CALL_KIND_COUNT + 1][CALL_FLAG_BITS][SP_N_OPCODES + 1];

static PyObject *call_shape(conv *c, const sp_call *call)
{
    DICT_TEMPLATE(call_template, "index", "kind", "opcode", "offset", "callee", "args", "kwargs",
                  "speculative", "used", "args_unknown", "slotstate");
    int k = call->kind < SP_CALL_KIND_COUNT ? call->kind : SP_CALL_KIND_COUNT;
    int op = call->opcode < SP_N_OPCODES ? call->opcode : SP_N_OPCODES;
    int flags = call->flags & (CALL_FLAG_BITS - 1);
    PyObject **shape = &call_shapes[k][flags][op];

    if (*shape == NULL) {
        const char *kind = k < SP_CALL_KIND_COUNT ? call_kind_names[k] : "unknown";
        PyObject *d = dict_like(&call_template);
        if (d == NULL || sp_dict_set_new(d, "kind", sp_static_str(kind)) < 0 ||
            sp_dict_set_new(d, "opcode", str_or_none(sp_opcode_name(call->opcode))) < 0 ||
            sp_dict_set_new(d, "speculative", PyBool_FromLong(flags & SP_CF_SPECULATIVE)) < 0 ||
            sp_dict_set_new(d, "used", PyBool_FromLong(flags & SP_CF_USED)) < 0 ||
            sp_dict_set_new(d, "args_unknown", PyBool_FromLong(flags & SP_CF_ARGS_UNKNOWN)) < 0 ||
            sp_dict_set_new(d, "slotstate", PyBool_FromLong(flags & SP_CF_SLOTSTATE)) < 0) {
            Py_XDECREF(d);
            return NULL;
        }
        *shape = d;
    }
    return PyDict_Copy(*shape);
}

static PyObject *call_to_dict(conv *c, const sp_stream *st, const sp_call *call)
{
    PyObject *d = call_shape(c, call);
    if (d == NULL)
        return NULL;
    if (sp_dict_set_new(d, "index", PyLong_FromUnsignedLong(call->index)) < 0 ||
        sp_dict_set_new(d, "offset", u64(call->offset)) < 0 ||
        sp_dict_set_new(d, "callee", value_convert(c, st, &call->callee, 1)) < 0 ||
        (c->detail && sp_dict_set_new(d, "args", value_convert(c, st, &call->args, 1)) < 0) ||
        (c->detail && call->kind == SP_CALL_NEWOBJ_EX &&
         sp_dict_set_new(d, "kwargs", value_convert(c, st, &call->kwargs, 1)) < 0)) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *anomaly_to_dict(conv *c, const sp_anomaly *a)
{
    const char *name = sp_anomaly_name(a->code);
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    if (sp_dict_set_new(d, "code", name ? sp_static_str(name) : PyLong_FromLong(a->code)) < 0 ||
        sp_dict_set_new(d, "offset", u64(a->offset)) < 0 ||
        sp_dict_set_new(d, "detail",
                        a->detail ? text(a->detail, strlen(a->detail)) : Py_NewRef(Py_None)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *streams_to_list(conv *c, const sp_result *result);

static PyObject *nested_report(conv *c, const sp_result *result)
{
    if (result == NULL)
        return Py_NewRef(Py_None);
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    if (sp_dict_set_new(d, "streams", streams_to_list(c, result)) < 0 ||
        sp_dict_set_new(d, "trailing_offset", u64(result->trailing_offset)) < 0 ||
        sp_dict_set_new(d, "trailing_len", u64(result->trailing_len)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *nested_to_dict(conv *c, const sp_nested *n)
{
    static const char *const reasons[] = {"loads_arg", "looks_like", "alt_buffer", "alt_python",
                                          "joblib_objects"};
    const char *reason =
        n->reason < sizeof(reasons) / sizeof(reasons[0]) ? reasons[n->reason] : "unknown";
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    if (sp_dict_set_new(d, "reason", sp_static_str(reason)) < 0 ||
        sp_dict_set_new(d, "call",
                        n->call == UINT32_MAX ? Py_NewRef(Py_None)
                                              : PyLong_FromUnsignedLong(n->call)) < 0 ||
        sp_dict_set_new(d, "offset", u64(n->offset)) < 0 ||
        sp_dict_set_new(d, "report", nested_report(c, n->result)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *stats_to_dict(conv *c, const sp_stream *st)
{
    DICT_TEMPLATE(stats_template, "opcode_counts", "n_ops", "max_stack_depth", "max_mark_depth",
                  "memo_puts", "memo_gets", "memo_entries", "memo_max_index", "joblib_arrays",
                  "joblib_array_bytes", "max_container_depth", "string_bytes", "max_string_len",
                  "n_frames");
    PyObject *counts = PyDict_New();
    PyObject *d = counts ? dict_like(&stats_template) : NULL;
    if (d == NULL)
        goto error;
    for (int i = 0; i < SP_N_OPCODES; i++) {
        const char *name = sp_opcode_name(i);
        if (st->opcode_counts[i] == 0 || name == NULL)
            continue;
        if (sp_dict_set_new(counts, name, u64(st->opcode_counts[i])) < 0)
            goto error;
    }
    if (sp_dict_set_new(d, "opcode_counts", counts) < 0) {
        counts = NULL;
        goto error;
    }
    counts = NULL;
    if (sp_dict_set_new(d, "n_ops", u64(st->n_ops)) < 0 ||
        sp_dict_set_new(d, "max_stack_depth", u64(st->max_stack_depth)) < 0 ||
        sp_dict_set_new(d, "max_mark_depth", u64(st->max_mark_depth)) < 0 ||
        sp_dict_set_new(d, "memo_puts", u64(st->memo_puts)) < 0 ||
        sp_dict_set_new(d, "memo_gets", u64(st->memo_gets)) < 0 ||
        sp_dict_set_new(d, "memo_entries", u64(st->memo_entries)) < 0 ||
        sp_dict_set_new(d, "memo_max_index", u64(st->memo_max_index)) < 0 ||
        sp_dict_set_new(d, "joblib_arrays", u64(st->joblib_arrays)) < 0 ||
        sp_dict_set_new(d, "joblib_array_bytes", u64(st->joblib_array_bytes)) < 0 ||
        sp_dict_set_new(d, "max_container_depth", u64(st->max_container_depth)) < 0 ||
        sp_dict_set_new(d, "string_bytes", u64(st->string_bytes)) < 0 ||
        sp_dict_set_new(d, "max_string_len", u64(st->max_string_len)) < 0 ||
        sp_dict_set_new(d, "n_frames", u64(st->n_frames)) < 0)
        goto error;
    return d;

error:
    Py_XDECREF(counts);
    Py_XDECREF(d);
    return NULL;
}

/* List of n records built by one converter: the shape of globals, calls,
 * anomalies and nested alike. */
typedef PyObject *(*record_fn)(conv *c, const sp_stream *st, uint32_t i);

static PyObject *record_list(conv *c, const sp_stream *st, const void *items, uint32_t n,
                             record_fn fn)
{
    if (items == NULL)
        n = 0;
    PyObject *list = PyList_New(n);
    if (list == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        PyObject *item = fn(c, st, i);
        if (item == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

static PyObject *global_at(conv *c, const sp_stream *st, uint32_t i)
{
    return global_to_dict(c, &st->globals[i]);
}

static PyObject *call_at(conv *c, const sp_stream *st, uint32_t i)
{
    return call_to_dict(c, st, &st->calls[i]);
}

static PyObject *anomaly_at(conv *c, const sp_stream *st, uint32_t i)
{
    return anomaly_to_dict(c, &st->anomalies[i]);
}

static PyObject *nested_at(conv *c, const sp_stream *st, uint32_t i)
{
    return nested_to_dict(c, &st->nested[i]);
}

static PyObject *stream_to_dict(conv *c, const sp_stream *st)
{
    const char *end = st->end_kind <= SP_END_LIMIT ? end_kind_names[st->end_kind] : "error";
    int has_error = st->error[0] != '\0' || st->end_kind == SP_END_ERROR;
    DICT_TEMPLATE(stream_template, "start", "end", "end_kind", "error", "error_offset", "proto",
                  "max_proto", "speculative", "speculative_offset", "globals", "calls", "anomalies",
                  "nested", "result", "stats");
    PyObject *d = dict_like(&stream_template);
    if (d == NULL)
        return NULL;
    if (sp_dict_set_new(d, "start", u64(st->start)) < 0 ||
        sp_dict_set_new(d, "end", u64(st->end)) < 0 ||
        sp_dict_set_new(d, "end_kind", sp_static_str(end)) < 0 ||
        sp_dict_set_new(d, "error", text_or_none(st->error, sizeof(st->error))) < 0 ||
        sp_dict_set_new(d, "error_offset", has_error ? u64(st->error_offset) : Py_NewRef(Py_None)) <
            0 ||
        sp_dict_set_new(d, "proto", PyLong_FromLong(st->proto)) < 0 ||
        sp_dict_set_new(d, "max_proto", PyLong_FromLong(st->max_proto)) < 0 ||
        sp_dict_set_new(d, "speculative", PyBool_FromLong(st->speculative)) < 0 ||
        sp_dict_set_new(d, "speculative_offset",
                        st->speculative ? u64(st->speculative_offset) : Py_NewRef(Py_None)) < 0 ||
        sp_dict_set_new(d, "globals", record_list(c, st, st->globals, st->n_globals, global_at)) <
            0 ||
        sp_dict_set_new(d, "calls", record_list(c, st, st->calls, st->n_calls, call_at)) < 0 ||
        sp_dict_set_new(d, "anomalies",
                        record_list(c, st, st->anomalies, st->n_anomalies, anomaly_at)) < 0 ||
        sp_dict_set_new(d, "nested", record_list(c, st, st->nested, st->n_nested, nested_at)) < 0 ||
        sp_dict_set_new(d, "result",
                        st->end_kind == SP_END_STOP && c->detail
                            ? value_convert(c, st, &st->result, 1)
                            : Py_NewRef(Py_None)) < 0 ||
        sp_dict_set_new(d, "stats", stats_to_dict(c, st)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *streams_to_list(conv *c, const sp_result *result)
{
    uint32_t n = result->streams ? result->n_streams : 0;
    PyObject *list = PyList_New(n);
    if (list == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        PyObject *s = stream_to_dict(c, &result->streams[i]);
        if (s == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, s);
    }
    return list;
}

/* ---- top level -------------------------------------------------------- */

static PyObject *float_list(const float *values, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    PyObject *zero = PyFloat_FromDouble(0.0);
    if (list == NULL || zero == NULL)
        goto error;
    for (size_t i = 0; i < n; i++) {
        /* most features of a file are zero: one shared float for them */
        double x = values ? values[i] : 0.0;
        PyObject *f = x == 0.0 && !signbit(x) ? Py_NewRef(zero) : PyFloat_FromDouble(x);
        if (f == NULL)
            goto error;
        PyList_SET_ITEM(list, (Py_ssize_t)i, f);
    }
    Py_DECREF(zero);
    return list;

error:
    Py_XDECREF(list);
    Py_XDECREF(zero);
    return NULL;
}

static PyObject *reasons_list(const sp_verdict *v)
{
    int n = v->n_reasons;
    if (n < 0)
        n = 0;
    if (n > SP_MAX_REASONS)
        n = SP_MAX_REASONS;
    PyObject *list = PyList_New(n);
    if (list == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *s = text(v->reasons[i], strnlen(v->reasons[i], SP_REASON_MAX));
        if (s == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, s);
    }
    return list;
}

/* Keys shared by every top-level report, whatever was scanned. */
static int fill_top(conv *c, PyObject *d, const char *fmt, uint64_t input_len,
                    const float *features, size_t n_features, const sp_verdict *v)
{
    const char *verdict = sp_verdict_name(v->kind);
    if (sp_dict_set_new(d, "input_len", u64(input_len)) < 0 ||
        sp_dict_set_new(d, "format", PyUnicode_FromString(fmt ? fmt : "unknown")) < 0 ||
        sp_dict_set_new(d, "features", float_list(features, n_features)) < 0 ||
        sp_dict_set_new(d, "feature_version", PyLong_FromLong(SP_FEATURE_VERSION)) < 0 ||
        sp_dict_set_new(d, "verdict", PyUnicode_FromString(verdict ? verdict : "error")) < 0 ||
        sp_dict_set_new(d, "score",
                        v->score < 0 ? Py_NewRef(Py_None) : PyFloat_FromDouble(v->score)) < 0 ||
        sp_dict_set_new(d, "reasons", reasons_list(v)) < 0)
        return -1;
    return 0;
}

static PyObject *record_to_dict(conv *c, const sp_record *r)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    if (sp_dict_set_new(
            d, "name", PyUnicode_DecodeUTF8(r->name, (Py_ssize_t)strlen(r->name), "replace")) < 0 ||
        sp_dict_set_new(d, "primary", PyBool_FromLong(r->primary)) < 0 ||
        sp_dict_set_new(d, "code", PyBool_FromLong(r->code)) < 0 ||
        sp_dict_set_new(d, "error",
                        r->error[0] ? text_or_none(r->error, sizeof(r->error))
                                    : Py_NewRef(Py_None)) < 0 ||
        /* the primary record's streams are the report's own */
        sp_dict_set_new(d, "report",
                        r->primary ? Py_NewRef(Py_None) : nested_report(c, r->result)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *records_to_list(conv *c, const sp_file *file)
{
    PyObject *list = PyList_New(file->n_records);
    if (list == NULL)
        return NULL;
    for (uint32_t i = 0; i < file->n_records; i++) {
        PyObject *item = record_to_dict(c, &file->records[i]);
        if (item == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

static PyObject *container_anomalies_to_list(conv *c, const sp_file *file)
{
    PyObject *list = PyList_New(file->n_anomalies);
    if (list == NULL)
        return NULL;
    for (uint32_t i = 0; i < file->n_anomalies; i++) {
        const sp_file_anomaly *a = &file->anomalies[i];
        PyObject *d = PyDict_New();
        if (d == NULL ||
            sp_dict_set_new(d, "code", str_or_none(sp_container_anomaly_name(a->code))) < 0 ||
            sp_dict_set_new(d, "detail",
                            a->detail[0] ? text_or_none(a->detail, sizeof(a->detail))
                                         : Py_NewRef(Py_None)) < 0) {
            Py_XDECREF(d);
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, d);
    }
    return list;
}

static int any_limit(const sp_file *file, const char **detail)
{
    for (uint32_t i = 0; i < file->n_records; i++) {
        const sp_result *r = file->records[i].result;
        if (r != NULL && r->limit_hit) {
            *detail = r->limit_detail;
            return 1;
        }
    }
    return 0;
}

PyObject *sp_report_from_file(const sp_file *file, uint64_t input_len, const float *features,
                              size_t n_features, const sp_verdict *verdict, int detail)
{
    const sp_result *primary = sp_file_primary(file);
    const char *limit_detail = NULL;
    int limit_hit = any_limit(file, &limit_detail);
    conv c;
    conv_init(&c);
    c.detail = detail;
    int gc_was_enabled = PyGC_Disable();
    PyObject *d = NULL;

    DICT_TEMPLATE(report_template, "input_len", "format", "features", "feature_version", "verdict",
                  "score", "reasons", "streams", "trailing_offset", "trailing_len", "limit_hit",
                  "limit_detail", "records", "container_anomalies", "container_error");

    c.shared = PyDict_New();
    if (c.shared == NULL)
        goto error;
    d = dict_like(&report_template);
    if (d == NULL)
        goto error;
    if (fill_top(&c, d, file->format[0] ? file->format : "unknown", input_len, features, n_features,
                 verdict) < 0 ||
        sp_dict_set_new(d, "streams", primary ? streams_to_list(&c, primary) : PyList_New(0)) < 0 ||
        sp_dict_set_new(d, "trailing_offset", u64(primary ? primary->trailing_offset : 0)) < 0 ||
        sp_dict_set_new(d, "trailing_len", u64(primary ? primary->trailing_len : 0)) < 0 ||
        sp_dict_set_new(d, "limit_hit", PyBool_FromLong(limit_hit)) < 0 ||
        sp_dict_set_new(d, "limit_detail",
                        limit_hit ? text_or_none(limit_detail, SP_ERROR_MAX) : Py_NewRef(Py_None)) <
            0 ||
        sp_dict_set_new(d, "records", records_to_list(&c, file)) < 0 ||
        sp_dict_set_new(d, "container_anomalies", container_anomalies_to_list(&c, file)) < 0 ||
        sp_dict_set_new(d, "container_error",
                        file->error[0] ? text_or_none(file->error, sizeof(file->error))
                                       : Py_NewRef(Py_None)) < 0)
        goto error;
    goto done;

error:
    Py_CLEAR(d);
done:
    conv_release(&c);
    if (gc_was_enabled)
        PyGC_Enable();
    return d;
}
