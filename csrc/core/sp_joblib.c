/* joblib's pickles: array data between opcodes.
 *
 * joblib.dump pickles a NumpyArrayWrapper in place of each array and then
 * writes the array's bytes straight into the stream; joblib.load's
 * NumpyUnpickler reads them right after the wrapper's BUILD (an alignment
 * byte and padding, then count * itemsize bytes), or, for arrays of Python
 * objects, runs a whole inline pickle with a fresh unpickler. A plain opcode
 * walk stops at the first array; this reads on exactly as joblib does. */
#include <string.h>

#include "sp_holes.h"
#include "sp_machine_internal.h"

/* joblib moved out of sklearn.externals; both spellings load the same way */
static int is_wrapper(const sp_global *g)
{
    return sp_name_is(&g->name, "NumpyArrayWrapper") &&
           (sp_name_is(&g->module, "joblib.numpy_pickle") ||
            sp_name_is(&g->module, "sklearn.externals.joblib.numpy_pickle"));
}

int sp_joblib_wrote(const sp_stream *st)
{
    for (uint32_t i = 0; i < st->n_globals; i++)
        if (is_wrapper(&st->globals[i]))
            return 1;
    return 0;
}

int sp_joblib_wrote_before(const sp_stream *st, uint64_t limit)
{
    for (uint32_t i = 0; i < st->n_globals; i++) {
        const sp_global *g = &st->globals[i];
        /* past the opcode and whatever argument it read: two lines at
         * most (GLOBAL, INST) or a code of four bytes (EXT4) */
        uint64_t end = g->offset + 8 + (uint64_t)g->raw_module.len + g->raw_name.len;

        if (is_wrapper(g) && end <= limit)
            return 1;
    }
    return 0;
}

/* The global a call result was made from: NEWOBJ(cls) at protocol 2+, or
 * copyreg._reconstructor(cls, object, None) below. */
static const sp_global *made_from(const sp_stream *st, const sp_slot *v)
{
    const sp_call *c;

    if (v->kind != SP_V_RESULT || v->ref >= st->n_calls)
        return NULL;
    c = &st->calls[v->ref];
    if (c->callee.kind != SP_V_GLOBAL)
        return NULL;
    if (c->kind == SP_CALL_NEWOBJ || c->kind == SP_CALL_NEWOBJ_EX)
        return &st->globals[c->callee.ref];
    if (c->kind == SP_CALL_REDUCE &&
        sp_name_is(&st->globals[c->callee.ref].name, "_reconstructor") &&
        c->args.kind == SP_V_TUPLE && c->args.u.obj->n_kept >= 1 &&
        c->args.u.obj->items[0].kind == SP_V_GLOBAL)
        return &st->globals[c->args.u.obj->items[0].ref];
    return NULL;
}

static const sp_slot *dict_get(const sp_slot *d, const char *key)
{
    const sp_obj *o = d->u.obj;
    size_t n = strlen(key);

    /* later keys win, as in the dict BUILD updates __dict__ from */
    for (uint32_t i = o->n_kept & ~1u; i >= 2; i -= 2) {
        const sp_slot *k = &o->items[i - 2];

        if (k->kind == SP_V_STR && k->len == n && memcmp(k->u.p, key, n) == 0)
            return &o->items[i - 1];
    }
    return NULL;
}

typedef struct array_dtype {
    int known;
    int has_object;
    uint64_t itemsize;
} array_dtype;

/* numpy.dtype(descr, False, True) followed by BUILD(state): the descr text
 * gives the kind and size ("f8", "U20", "V16", "O8"); the state tuple gives
 * the element size of flexible kinds and, in its flags, whether any field
 * holds objects. */
static array_dtype dtype_of(const sp_stream *st, const sp_slot *v)
{
    array_dtype dt = {0, 0, 0};
    const sp_call *c;
    const sp_slot *descr;
    size_t i = 0;

    if (v->kind != SP_V_RESULT || v->ref >= st->n_calls)
        return dt;
    c = &st->calls[v->ref];
    if (c->kind != SP_CALL_REDUCE || c->callee.kind != SP_V_GLOBAL ||
        !sp_name_is(&st->globals[c->callee.ref].name, "dtype") || c->args.kind != SP_V_TUPLE ||
        c->args.u.obj->n_kept < 1)
        return dt;
    descr = &c->args.u.obj->items[0];
    if (descr->kind != SP_V_STR || descr->len == 0)
        return dt;
    while (i < descr->len && descr->u.p[i] != 0 && strchr("<>|=", descr->u.p[i]))
        i++;
    if (i < descr->len && descr->u.p[i] == 'O')
        dt.has_object = 1;
    while (i < descr->len && !(descr->u.p[i] >= '0' && descr->u.p[i] <= '9'))
        i++;
    for (; i < descr->len && descr->u.p[i] >= '0' && descr->u.p[i] <= '9'; i++) {
        if (dt.itemsize > (UINT64_MAX - 9) / 10)
            return dt;
        dt.itemsize = dt.itemsize * 10 + (uint64_t)(descr->u.p[i] - '0');
    }
    /* the BUILD that set the dtype's state comes soon after its creation */
    for (uint32_t k = v->ref + 1; k < st->n_calls && k <= v->ref + 64u; k++) {
        const sp_call *b = &st->calls[k];
        const sp_obj *state;

        if (b->kind != SP_CALL_BUILD || b->callee.kind != SP_V_RESULT || b->callee.ref != v->ref ||
            b->args.kind != SP_V_TUPLE)
            continue;
        state = b->args.u.obj;
        if (state->n_kept >= 8 && state->items[5].kind == SP_V_INT && state->items[5].u.i > 0)
            dt.itemsize = (uint64_t)state->items[5].u.i;
        if (state->n_kept >= 8 && state->items[7].kind == SP_V_INT && (state->items[7].u.i & 1))
            dt.has_object = 1;
        break;
    }
    dt.known = dt.has_object || dt.itemsize > 0;
    return dt;
}

static int read_object_array(sp_machine *m)
{
    sp_stream *st = m->st;
    sp_result *inner = NULL;
    sp_error err;
    sp_status status;
    const sp_stream *first;

    /* a fresh pickle._Unpickler on the same file: one load, its own memo */
    status = sp_scan_nested_mode(m->res, m->lim, m->buf + m->pos, m->len - m->pos, SP_MODE_PYTHON,
                                 1, &inner, &err);
    if (status != SP_OK) {
        m->fatal = status;
        return sp_machine_fail(m, err.message);
    }
    if (inner == NULL)
        return sp_machine_fail(m, "object array nested deeper than the cap");
    if (sp_arena_grow(m->arena, (void **)&st->nested, &st->nested_cap, st->n_nested + 1,
                      sizeof(sp_nested)) == 0) {
        sp_nested *n = &st->nested[st->n_nested++];

        n->reason = SP_NESTED_JOBLIB_OBJECTS;
        n->call = UINT32_MAX;
        n->offset = m->pos;
        n->result = inner;
    }
    if (inner->n_streams == 0)
        return sp_machine_truncated(m);
    first = &inner->streams[0];
    if (first->end_kind != SP_END_STOP)
        return sp_machine_fail(m, "the inline pickle of an object array fails");
    if (m->reading)
        sp_holes_adopt(m->lim->holes, m->reading, m->buf + m->pos, m->buf + m->pos + first->end);
    m->pos += first->end;
    return 0;
}

int sp_joblib_after_build(sp_machine *m, const sp_slot *inst, const sp_slot *state)
{
    const sp_stream *st = m->st;
    const sp_global *cls = made_from(st, inst);
    const sp_slot *shape, *dtype, *align;
    array_dtype dt;
    uint64_t count = 1, nbytes;

    if (cls == NULL || !is_wrapper(cls))
        return 0;
    if (state->kind != SP_V_DICT)
        return sp_machine_fail(m, "joblib array wrapper without a state dict");
    shape = dict_get(state, "shape");
    dtype = dict_get(state, "dtype");
    align = dict_get(state, "numpy_array_alignment_bytes");
    dt = dtype != NULL ? dtype_of(st, dtype) : (array_dtype){0, 0, 0};
    if (!dt.known) {
        sp_machine_anomaly(m, SP_AN_TYPE_ERROR, "joblib array of an unknown dtype");
        return sp_machine_fail(m, "joblib array whose dtype cannot be followed");
    }
    m->st->joblib_arrays++;
    /* joblib ends the frame before it writes array data, and its unpickler
     * reads the data from the file, past whatever frame is buffered: data
     * starting inside a frame would be read from elsewhere */
    if (m->frame_end != 0) {
        if (m->pos != m->frame_end) {
            sp_machine_anomaly(m, SP_AN_FRAME_MISUSE, "joblib array data inside a frame");
            return sp_machine_fail(m, "joblib array data inside a frame");
        }
        m->frame_end = 0;
    }
    if (dt.has_object)
        return read_object_array(m);
    if (shape == NULL || shape->kind != SP_V_TUPLE || shape->u.obj->n_kept != shape->u.obj->n_total)
        return sp_machine_fail(m, "joblib array whose shape cannot be followed");
    for (uint32_t i = 0; i < shape->u.obj->n_kept; i++) {
        const sp_slot *d = &shape->u.obj->items[i];

        if ((d->kind != SP_V_INT && d->kind != SP_V_BOOL) || d->u.i < 0)
            return sp_machine_fail(m, "joblib array whose shape cannot be followed");
        if (d->u.i != 0 && count > UINT64_MAX / (uint64_t)d->u.i)
            return sp_machine_truncated(m);
        count *= (uint64_t)d->u.i;
    }
    if (align != NULL && align->kind != SP_V_NONE) {
        /* one byte giving the padding length, then the padding */
        uint64_t pad;

        if (m->pos >= m->len)
            return sp_machine_truncated(m);
        pad = m->buf[m->pos];
        if (m->len - m->pos - 1 < pad)
            return sp_machine_truncated(m);
        m->pos += 1 + pad;
    }
    if (dt.itemsize != 0 && count > UINT64_MAX / dt.itemsize)
        return sp_machine_truncated(m);
    nbytes = count * dt.itemsize;
    if (m->len - m->pos < nbytes)
        return sp_machine_truncated(m);
    if (m->reading)
        sp_holes_take_unread(m->lim->holes, m->reading, m->buf + m->pos, nbytes);
    m->pos += nbytes;
    m->st->joblib_array_bytes += nbytes;
    return 0;
}
