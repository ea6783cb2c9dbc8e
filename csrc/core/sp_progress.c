/* The gate between a running scan and a loader started early
 * (sp_progress.h): where it may open, and the rebuilds it lets through. */
#include "sp_progress.h"

#include <string.h>

#include "sp_machine_internal.h"

void sp_progress_begin(sp_progress *p, const uint8_t *data, const uint8_t *pickle)
{
    if (p == NULL || p->origin != NULL || p->closed || data != p->base)
        return;
    p->origin = pickle;
    if (pickle > p->base)
        sp_progress_publish_from(p, pickle);
}

int sp_progress_gates(const sp_progress *p, const sp_result *result, const uint8_t *start)
{
    /* the primary reading of the top level: _pickle with a file */
    return p != NULL && !p->closed && p->origin != NULL && start == p->origin &&
           result->root == result && result->mode == 0;
}

void sp_progress_publish_from(sp_progress *p, const uint8_t *at)
{
    uint64_t off = (uint64_t)(at - p->base);

    if (p->closed || off <= p->cleared)
        return;
    p->cleared = off;
    if (p->publish != NULL)
        p->publish(p->ctx, off);
}

void sp_progress_close(sp_progress *p, const uint8_t *at)
{
    if (p->closed)
        return;
    sp_progress_publish_from(p, at);
    p->closed = 1;
}

/* ---- the rebuilds let through ---------------------------------------- */

/* What numpy's ndarray.__reduce__ and dtype.__reduce__ write (protocol 2
 * adds _codecs.encode for the bytes of the array's typecode and data).
 * Importing numpy runs numpy's own code, so its names pass only when the
 * process has imported numpy already. Each call is let through only in
 * the shape numpy writes it: _reconstruct(ndarray, (0,), typecode) makes
 * an empty array whatever dtype follows, and the BUILD that fills it is
 * checked by numpy against the data the file holds, so nothing the
 * loader does before the verdict grows beyond the size of the input. */
enum rebuild {
    RB_NONE = 0,
    RB_RECONSTRUCT, /* numpy.core.multiarray._reconstruct */
    RB_NDARRAY,     /* numpy.ndarray: only as _reconstruct's argument */
    RB_DTYPE,       /* numpy.dtype */
    RB_ENCODE       /* _codecs.encode */
};

static enum rebuild rebuild_of(const sp_progress *p, const sp_global *g)
{
    if (g->flags & (SP_GF_COMPAT | SP_GF_DOTTED | SP_GF_COMPUTED | SP_GF_EXT | SP_GF_SPECULATIVE |
                    SP_GF_INVALID))
        return RB_NONE;
    if (sp_name_is(&g->module, "_codecs") && sp_name_is(&g->name, "encode"))
        return RB_ENCODE;
    if (!(p->flags & SP_PROGRESS_NUMPY))
        return RB_NONE;
    if ((sp_name_is(&g->module, "numpy._core.multiarray") ||
         sp_name_is(&g->module, "numpy.core.multiarray")) &&
        sp_name_is(&g->name, "_reconstruct"))
        return RB_RECONSTRUCT;
    if (sp_name_is(&g->module, "numpy") && sp_name_is(&g->name, "ndarray"))
        return RB_NDARRAY;
    if (sp_name_is(&g->module, "numpy") && sp_name_is(&g->name, "dtype"))
        return RB_DTYPE;
    return RB_NONE;
}

static enum rebuild global_rebuild(const sp_progress *p, const sp_stream *st, const sp_slot *v)
{
    if (v->kind != SP_V_GLOBAL || v->ref >= st->n_globals)
        return RB_NONE;
    return rebuild_of(p, &st->globals[v->ref]);
}

/* The callee of the REDUCE that returned v, or RB_NONE. */
static enum rebuild result_of(const sp_progress *p, const sp_stream *st, const sp_slot *v)
{
    const sp_call *c;

    if (v->kind != SP_V_RESULT || v->ref >= st->n_calls)
        return RB_NONE;
    c = &st->calls[v->ref];
    if (c->kind != SP_CALL_REDUCE)
        return RB_NONE;
    return global_rebuild(p, st, &c->callee);
}

/* The items of a tuple of exactly n, or NULL. */
static const sp_slot *tuple_items(const sp_slot *v, uint64_t n)
{
    if (v->kind != SP_V_TUPLE || v->u.obj->n_total != n || v->u.obj->n_kept != n)
        return NULL;
    return v->u.obj->items;
}

static int is_short_str(const sp_slot *v, uint64_t max)
{
    return v->kind == SP_V_STR && v->len <= max;
}

static int is_bool(const sp_slot *v)
{
    return v->kind == SP_V_BOOL;
}

static int str_is(const sp_slot *v, const char *z)
{
    size_t len = strlen(z);

    return v->kind == SP_V_STR && v->len == len && memcmp(v->u.p, z, len) == 0;
}

static int reduce_allowed(const sp_progress *p, const sp_stream *st, const sp_call *c)
{
    const sp_slot *a;

    switch (global_rebuild(p, st, &c->callee)) {
    case RB_RECONSTRUCT: {
        const sp_slot *shape;

        if ((a = tuple_items(&c->args, 3)) == NULL || global_rebuild(p, st, &a[0]) != RB_NDARRAY ||
            (shape = tuple_items(&a[1], 1)) == NULL || shape[0].kind != SP_V_INT ||
            shape[0].u.i != 0)
            return 0;
        /* the typecode: b'b', or _codecs.encode('b', 'latin1') */
        return (a[2].kind == SP_V_BYTES && a[2].len <= 8) || result_of(p, st, &a[2]) == RB_ENCODE;
    }
    case RB_DTYPE:
        return (a = tuple_items(&c->args, 3)) != NULL && is_short_str(&a[0], 64) &&
               is_bool(&a[1]) && is_bool(&a[2]);
    case RB_ENCODE:
        return (a = tuple_items(&c->args, 2)) != NULL && a[0].kind == SP_V_STR &&
               (str_is(&a[1], "latin1") || str_is(&a[1], "latin-1"));
    default:
        return 0;
    }
}

static int call_allowed(const sp_progress *p, const sp_stream *st, const sp_call *c)
{
    enum rebuild target;

    if (c->flags & (SP_CF_SPECULATIVE | SP_CF_ARGS_UNKNOWN | SP_CF_SLOTSTATE))
        return 0;
    switch (c->kind) {
    case SP_CALL_REDUCE:
        return reduce_allowed(p, st, c);
    case SP_CALL_BUILD:
        /* __setstate__ of the array or the dtype a rebuild made */
        target = result_of(p, st, &c->callee);
        return (target == RB_RECONSTRUCT || target == RB_DTYPE) && c->args.kind == SP_V_TUPLE;
    default:
        return 0;
    }
}

int sp_progress_allows(const sp_progress *p, const sp_stream *st, uint32_t first_global,
                       uint32_t first_call)
{
    for (uint32_t i = first_global; i < st->n_globals; i++)
        if (rebuild_of(p, &st->globals[i]) == RB_NONE)
            return 0;
    for (uint32_t i = first_call; i < st->n_calls; i++)
        if (!call_allowed(p, st, &st->calls[i]))
            return 0;
    return 1;
}
