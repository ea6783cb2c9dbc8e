/* Driving the pickle machine over a whole buffer.
 *
 * A file may hold several pickles back to back: torch's legacy format is
 * read by repeated pickle.load calls, and a payload may hide after the STOP
 * of an innocent first pickle. Each is scanned as its own stream, with a
 * fresh stack and memo as a fresh Unpickler would have. Bytes handed to a
 * loads-like callable, and bytes that parse as a pickle, are scanned as
 * nested pickles. */
#include <stdlib.h>
#include <string.h>

#include "sp_capability.h"
#include "sp_decide.h"
#include "sp_holes.h"
#include "sp_machine_internal.h"
#include "sp_plain.h"
#include "sp_scan.h"

/* "looks like a pickle" scans per file: enough for any real payload,
 * few enough that a file of a million PROTO-prefixed strings stays cheap */
#define SP_MAX_LOOKS_LIKE 256
/* values searched for nested pickles, per stream */
#define SP_NESTED_SEARCH_DEPTH 8

void sp_limits_default(sp_limits *limits)
{
    limits->max_ops = (uint64_t)1 << 31;
    limits->max_stack = (uint32_t)1 << 24;
    limits->max_marks = (uint32_t)1 << 20;
    limits->max_memo = (uint32_t)1 << 26;
    limits->max_string = (uint64_t)1 << 32;
    limits->max_alloc = (uint64_t)1 << 31;
    limits->max_streams = 4096;
    limits->max_events = (uint32_t)1 << 22;
    limits->max_nesting = 4;
    limits->max_depth = 10000;
    limits->result_unread = 0;
    limits->holes = NULL;
    limits->progress = NULL;
}

static sp_status run_streams(sp_result *res, const sp_limits *limits, sp_error *err);

static void note_limit(sp_result *res, const char *detail)
{
    sp_result *root = res->root ? res->root : res;

    if (!root->limit_hit) {
        root->limit_hit = 1;
        strncpy(root->limit_detail, detail, sizeof(root->limit_detail) - 1);
    }
    res->limit_hit = 1;
}

/* Latin-1 bytes of a str value, as codecs.encode(s, "latin1") makes them
 * when a payload smuggles pickle bytes through a str. NULL when some code
 * point does not fit in a byte. */
static const uint8_t *latin1_of(sp_arena *arena, const uint8_t *s, uint64_t n, uint64_t *out_len)
{
    uint8_t *out = sp_arena_alloc(arena, (size_t)n + 1);
    uint64_t i = 0, j = 0;

    if (out == NULL)
        return NULL;
    while (i < n) {
        if (s[i] < 0x80) {
            out[j++] = s[i++];
        } else if ((s[i] & 0xe0) == 0xc0 && i + 1 < n && s[i] <= 0xc3) {
            out[j++] = (uint8_t)(((s[i] & 0x1f) << 6) | (s[i + 1] & 0x3f));
            i += 2;
        } else {
            return NULL;
        }
    }
    *out_len = j;
    return out;
}

static sp_status add_nested(sp_result *res, const sp_limits *limits, sp_stream *st, uint8_t reason,
                            uint32_t call, uint64_t offset, const uint8_t *data, uint64_t len,
                            sp_error *err)
{
    sp_result *nested = NULL;
    sp_nested *n;
    sp_status status;

    for (uint32_t i = 0; i < st->n_nested; i++)
        if (st->nested[i].result->input == data && st->nested[i].result->input_len == len)
            return SP_OK; /* the same bytes, already scanned for another reason */
    status = sp_scan_nested_mode(res, limits, data, len, 0, 0, &nested, err);
    if (status != SP_OK)
        return status;
    if (nested == NULL)
        return SP_OK;
    if (reason == SP_NESTED_LOOKS_LIKE) {
        /* random bytes that merely start like a pickle are not one */
        uint32_t events = 0;

        for (uint32_t i = 0; i < nested->n_streams; i++)
            events += nested->streams[i].n_globals + nested->streams[i].n_calls;
        if (events == 0)
            return SP_OK;
    }
    if (sp_arena_grow(res->arena, (void **)&st->nested, &st->nested_cap, st->n_nested + 1,
                      sizeof(sp_nested)) < 0) {
        note_limit(res, "memory cap reached while recording nested pickles");
        return SP_OK;
    }
    n = &st->nested[st->n_nested++];
    n->reason = reason;
    n->call = call;
    n->offset = offset;
    n->result = nested;
    sp_stream_add_anomaly(res->arena, st, SP_AN_NESTED_PICKLE, offset,
                          reason == SP_NESTED_LOADS_ARG ? "passed to a loads-like callable"
                                                        : "bytes that parse as a pickle",
                          limits->max_events);
    return SP_OK;
}

/* The bytes a str/bytes value would hand to pickle.loads. */
static const uint8_t *payload_bytes(sp_result *res, const sp_limits *limits, const sp_slot *v,
                                    uint64_t *len)
{
    if (v->kind == SP_V_BYTES || v->kind == SP_V_BYTEARRAY) {
        if (v->flags & SP_VF_HOLED)
            sp_holes_touch(limits->holes);
        *len = v->len;
        return v->u.p;
    }
    if (v->kind == SP_V_STR)
        return latin1_of(res->arena, v->u.p, v->len, len);
    return NULL;
}

/* Values are DAGs (the memo shares containers): each container is
 * visited once per walk, or 64 levels of shared lists would take 64^depth
 * steps. */
static sp_status search_value(sp_result *res, const sp_limits *limits, sp_stream *st,
                              const sp_slot *v, int depth, sp_error *err)
{
    sp_result *root = res->root ? res->root : res;
    sp_status status;

    if (sp_kind_is_container(v->kind)) {
        if (v->u.obj->walk_mark == root->walk_epoch)
            return SP_OK;
        v->u.obj->walk_mark = root->walk_epoch;
    }

    if (sp_slot_looks_like_pickle(v) && root->nested_attempts < SP_MAX_LOOKS_LIKE) {
        uint64_t len;
        const uint8_t *data;

        root->nested_attempts++;
        data = payload_bytes(res, limits, v, &len);
        if (data != NULL) {
            uint64_t offset = data >= res->input && data < res->input + res->input_len
                                  ? (uint64_t)(data - res->input)
                                  : 0;
            status = add_nested(res, limits, st, SP_NESTED_LOOKS_LIKE, UINT32_MAX, offset, data,
                                len, err);
            if (status != SP_OK)
                return status;
        }
    }
    if (sp_kind_is_container(v->kind) && depth < SP_NESTED_SEARCH_DEPTH) {
        for (uint32_t i = 0; i < v->u.obj->n_kept; i++) {
            const sp_slot *item = &v->u.obj->items[i];

            /* most items are scalars, or containers of scalars, with
             * nothing to search */
            if (sp_kind_is_container(item->kind)
                    ? !(item->u.obj->flags & SP_OF_SEARCHABLE) && !st->search_all
                    : !sp_slot_looks_like_pickle(item))
                continue;
            status = search_value(res, limits, st, item, depth + 1, err);
            if (status != SP_OK)
                return status;
        }
    }
    return SP_OK;
}

static int is_call(const sp_call *c)
{
    return c->kind == SP_CALL_REDUCE || c->kind == SP_CALL_NEWOBJ || c->kind == SP_CALL_NEWOBJ_EX ||
           c->kind == SP_CALL_INST || c->kind == SP_CALL_OBJ;
}

static sp_status find_nested(sp_result *res, const sp_limits *limits, sp_stream *st, sp_error *err)
{
    sp_result *root = res->root ? res->root : res;
    sp_status status;

    root->walk_epoch++;

    for (uint32_t i = 0; i < st->n_calls; i++) {
        sp_call *c = &st->calls[i];
        const sp_global *g;
        const sp_slot *arg0;

        if (!is_call(c) || c->callee.kind != SP_V_GLOBAL || c->args.kind != SP_V_TUPLE ||
            c->args.u.obj->n_kept == 0)
            continue;
        g = &st->globals[c->callee.ref];
        if (!sp_is_loads_like(g->module.ptr, g->module.len, g->name.ptr, g->name.len))
            continue;
        arg0 = &c->args.u.obj->items[0];
        if (arg0->kind == SP_V_RESULT && arg0->ref < st->n_calls) {
            /* loads(encode(s, ...)): the bytes are one call upstream */
            const sp_call *up = &st->calls[arg0->ref];

            if (up->args.kind == SP_V_TUPLE) {
                for (uint32_t k = 0; k < up->args.u.obj->n_kept && k < 3; k++) {
                    uint64_t len;
                    const uint8_t *data =
                        payload_bytes(res, limits, &up->args.u.obj->items[k], &len);

                    if (data == NULL)
                        continue;
                    status = add_nested(res, limits, st, SP_NESTED_LOADS_ARG, i, c->offset, data,
                                        len, err);
                    if (status != SP_OK)
                        return status;
                }
            }
            continue;
        }
        uint64_t len;
        const uint8_t *data = payload_bytes(res, limits, arg0, &len);
        if (data == NULL)
            continue;
        status = add_nested(res, limits, st, SP_NESTED_LOADS_ARG, i, c->offset, data, len, err);
        if (status != SP_OK)
            return status;
    }
    for (uint32_t i = 0; i < st->n_calls; i++) {
        status = search_value(res, limits, st, &st->calls[i].args, 0, err);
        if (status == SP_OK)
            status = search_value(res, limits, st, &st->calls[i].kwargs, 0, err);
        if (status != SP_OK)
            return status;
    }
    if (st->end_kind == SP_END_STOP)
        return search_value(res, limits, st, &st->result, 0, err);
    return SP_OK;
}

static void mark_discarded(sp_result *res, const sp_limits *limits, sp_stream *st)
{
    for (uint32_t i = 0; i < st->n_calls; i++) {
        const sp_call *c = &st->calls[i];

        if (is_call(c) && !(c->flags & SP_CF_USED)) {
            const char *detail = NULL;

            if (c->callee.kind == SP_V_GLOBAL) {
                const sp_global *g = &st->globals[c->callee.ref];
                detail = g->name.ptr;
            }
            sp_stream_add_anomaly(res->arena, st, SP_AN_DISCARDED_CALL, c->offset, detail,
                                  limits->max_events);
        }
    }
}

/* Where another loader would read this stream differently, scan that
 * reading too: its findings count like those of a nested pickle. */
static sp_status scan_alternates(sp_result *res, const sp_limits *limits, sp_stream *st,
                                 sp_error *err)
{
    static const struct {
        uint8_t mode, reason;
    } readings[] = {{SP_MODE_BUFFER, SP_NESTED_ALT_BUFFER}, {SP_MODE_PYTHON, SP_NESTED_ALT_PYTHON}};

    for (size_t i = 0; i < sizeof(readings) / sizeof(readings[0]); i++) {
        sp_result *alt = NULL;
        sp_nested *n;
        sp_status status;

        if (!(st->alternates & readings[i].mode) || (res->mode & readings[i].mode))
            continue;
        status =
            sp_scan_nested_mode(res, limits, res->input + st->start, res->input_len - st->start,
                                (uint8_t)(res->mode | readings[i].mode), 0, &alt, err);
        if (status != SP_OK)
            return status;
        if (alt == NULL)
            continue;
        if (sp_arena_grow(res->arena, (void **)&st->nested, &st->nested_cap, st->n_nested + 1,
                          sizeof(sp_nested)) < 0) {
            note_limit(res, "memory cap reached while recording nested pickles");
            return SP_OK;
        }
        n = &st->nested[st->n_nested++];
        n->reason = readings[i].reason;
        n->call = UINT32_MAX;
        n->offset = st->start;
        n->result = alt;
    }
    return SP_OK;
}

static int is_garbage(const sp_stream *st)
{
    return st->end_kind == SP_END_ERROR && st->n_ops == 1 &&
           st->anomaly_counts[SP_AN_UNKNOWN_OPCODE] == 1 && st->n_globals == 0 && st->n_calls == 0;
}

/* Room for one more stream. Most inputs hold one pickle: the array starts
 * at one stream (over a kilobyte each) rather than the arena's usual eight,
 * which a small file would pay for in zeroing. */
static int grow_streams(sp_result *res)
{
    if (res->streams_cap == 0) {
        res->streams = sp_arena_alloc_raw(res->arena, sizeof(sp_stream));
        if (res->streams == NULL)
            return -1;
        res->streams_cap = 1;
        return 0;
    }
    return sp_arena_grow(res->arena, (void **)&res->streams, &res->streams_cap, res->n_streams + 1,
                         sizeof(sp_stream));
}

static sp_status run_streams(sp_result *res, const sp_limits *limits, sp_error *err)
{
    uint64_t off = 0;
    sp_status status;

    while (off < res->input_len) {
        sp_stream *st;

        if (res->n_streams >= limits->max_streams) {
            note_limit(res, "too many pickles back to back");
            if (res->n_streams)
                sp_stream_add_anomaly(res->arena, &res->streams[res->n_streams - 1], SP_AN_LIMIT,
                                      off, "too many pickles back to back", limits->max_events);
            break;
        }
        if (grow_streams(res) < 0) {
            note_limit(res, "memory cap reached");
            break;
        }
        st = &res->streams[res->n_streams];
        memset(st, 0, sizeof(*st));
        if (res->n_streams > 0 && res->streams[res->n_streams - 1].speculative) {
            /* reached only if the speculation before it holds */
            st->speculative = 1;
            st->speculative_offset = off;
        }
        /* The primary reading only: the alternates and joblib's reading
         * exist for streams the walk never accepts, and callers of a
         * single pickle read its result, which the walk does not keep. */
        if (limits->result_unread && res->mode == 0 && !res->single &&
            sp_plain_run(res, limits, off, st)) {
            status = SP_OK;
        } else {
            status = sp_machine_run(res, limits, off, st, err);
        }
        if (status != SP_OK)
            return status;
        if (res->n_streams > 0 && is_garbage(st)) {
            /* what a second pickle.load would reject at its first byte */
            sp_stream_add_anomaly(res->arena, &res->streams[res->n_streams - 1],
                                  SP_AN_TRAILING_DATA, off, NULL, limits->max_events);
            break;
        }
        res->n_streams++;
        mark_discarded(res, limits, st);
        status = find_nested(res, limits, st, err);
        if (status == SP_OK)
            status = scan_alternates(res, limits, st, err);
        if (status != SP_OK)
            return status;
        st =
            &res->streams[res->n_streams - 1]; /* nested scans may grow nothing here, but be safe */
        if (st->end_kind != SP_END_STOP || res->single) {
            off = st->end;
            break;
        }
        off = st->end;
        if (res->n_streams == 2)
            sp_stream_add_anomaly(res->arena, st, SP_AN_MULTIPLE_STREAMS, st->start, NULL,
                                  limits->max_events);
    }
    res->trailing_offset = off;
    res->trailing_len = res->input_len > off ? res->input_len - off : 0;
    return SP_OK;
}

sp_status sp_scan_nested_mode(sp_result *parent, const sp_limits *limits, const uint8_t *data,
                              uint64_t len, uint8_t mode, int single, sp_result **out,
                              sp_error *err)
{
    sp_result *nested;

    *out = NULL;
    if (parent->nesting + 1 > limits->max_nesting) {
        note_limit(parent, "pickles nested deeper than the cap");
        return SP_OK;
    }
    nested = sp_arena_alloc(parent->arena, sizeof(*nested));
    if (nested == NULL) {
        note_limit(parent, "memory cap reached while scanning a nested pickle");
        return SP_OK;
    }
    nested->arena = parent->arena;
    nested->input = data;
    nested->input_len = len;
    nested->nesting = parent->nesting + 1;
    nested->mode = mode;
    nested->single = (uint8_t)(single != 0);
    nested->root = parent->root ? parent->root : parent;
    *out = nested;
    return run_streams(nested, limits, err);
}

static sp_status scan_as(const uint8_t *data, size_t len, const sp_limits *limits, uint8_t mode,
                         int single, sp_result **out, sp_error *err)
{
    sp_result *res;
    sp_status status;

    res = calloc(1, sizeof(*res) + sizeof(sp_arena));
    if (res == NULL) {
        sp_error_set(err, SP_ERR_NOMEM, "out of memory");
        return SP_ERR_NOMEM;
    }
    res->arena = (sp_arena *)(res + 1);
    sp_arena_init(res->arena, (size_t)limits->max_alloc);
    res->input = data;
    res->input_len = len;
    res->root = res;
    res->mode = mode;
    res->single = (uint8_t)(single != 0);
    status = run_streams(res, limits, err);
    if (status != SP_OK) {
        sp_result_free(res);
        return status;
    }
    if (res->arena->exhausted)
        note_limit(res, "memory cap reached");
    *out = res;
    return SP_OK;
}

sp_status sp_scan_pickles(const uint8_t *data, size_t len, const sp_limits *limits, sp_result **out,
                          sp_error *err)
{
    sp_limits defaults;
    sp_status status;
    int touched;

    *out = NULL;
    if (data == NULL && len != 0) {
        sp_error_set(err, SP_ERR_ARG, "no data");
        return SP_ERR_ARG;
    }
    if (limits == NULL) {
        sp_limits_default(&defaults);
        limits = &defaults;
    }
    touched = limits->holes != NULL ? limits->holes->touched : 0;
    status = scan_as(data, len, limits, 0, 0, out, err);
    if (status == SP_OK && (*out)->n_streams > 0 && sp_joblib_wrote(&(*out)->streams[0])) {
        /* written by joblib.dump: read again as joblib.load reads it, with
         * its pure-Python unpickler and array data between the opcodes */
        if (limits->holes != NULL && limits->holes->n > 0 &&
            limits->holes->lo[0] >= (uintptr_t)data &&
            sp_joblib_wrote_before(&(*out)->streams[0],
                                   (uint64_t)(limits->holes->lo[0] - (uintptr_t)data)))
            /* The first reading ran on into the array data, holes and
             * all, as opcodes. It is dropped, and what it chose on lies
             * before the first hole: the holes are for joblib's reading
             * to vouch for. */
            limits->holes->touched = touched;
        sp_result_free(*out);
        *out = NULL;
        status = scan_as(data, len, limits, SP_MODE_JOBLIB | SP_MODE_PYTHON, 0, out, err);
    }
    return status;
}

sp_status sp_scan_pickle_once(const uint8_t *data, size_t len, const sp_limits *limits,
                              sp_result **out, sp_error *err)
{
    sp_limits defaults;

    *out = NULL;
    if (data == NULL && len != 0) {
        sp_error_set(err, SP_ERR_ARG, "no data");
        return SP_ERR_ARG;
    }
    if (limits == NULL) {
        sp_limits_default(&defaults);
        limits = &defaults;
    }
    return scan_as(data, len, limits, 0, 1, out, err);
}

void sp_result_free(sp_result *result)
{
    if (result == NULL)
        return;
    sp_arena_release(result->arena);
    free(result);
}
