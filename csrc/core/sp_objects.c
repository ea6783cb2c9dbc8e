/* Containers of the pickle machine: allocation, reference counts, release.
 *
 * Containers are recycled through free lists as soon as nothing refers to
 * them, so a pickle of millions of small tuples costs memory in proportion
 * to what is alive, not to what was ever built. Release is iterative: a
 * deeply nested container must not recurse on the C stack. */
#include <string.h>

#include "sp_machine_internal.h"

static int item_class(uint32_t cap)
{
    int c = 0;
    uint32_t size = 2;

    while (size < cap && c < SP_ITEM_CLASSES - 1) {
        size <<= 1;
        c++;
    }
    return c;
}

static uint32_t class_capacity(int c)
{
    return 2u << c;
}

static sp_slot *items_alloc(sp_machine *m, int c)
{
    sp_slot *items = m->free_items[c];

    /* not zeroed: only the first n_kept items of an array are ever read */
    if (items != NULL) {
        /* the first slot of a free array holds the next free array */
        m->free_items[c] = (sp_slot *)items[0].u.p;
        return items;
    }
    return sp_arena_alloc_raw(m->arena, sizeof(sp_slot) * class_capacity(c));
}

static void items_free(sp_machine *m, sp_obj *obj)
{
    sp_slot *items = obj->items;
    int c;

    if (items == NULL || obj->cap == 0 || items == obj->inline_items)
        return;
    c = item_class(obj->cap);
    items[0].u.p = (const uint8_t *)m->free_items[c];
    m->free_items[c] = items;
}

sp_obj *sp_obj_new(sp_machine *m, uint8_t kind, uint64_t offset)
{
    sp_obj *obj = m->free_objs;

    if (obj != NULL) {
        m->free_objs = obj->next_free;
        memset(obj, 0, sizeof(*obj));
    } else {
        obj = sp_arena_alloc(m->arena, sizeof(*obj));
        if (obj == NULL)
            return NULL;
    }
    obj->refcnt = 1;
    obj->kind = kind;
    obj->depth = 1;
    obj->offset = offset;
    obj->items = obj->inline_items;
    obj->cap = SP_INLINE_ITEMS;
    return obj;
}

void sp_slot_incref(const sp_slot *slot)
{
    if (sp_kind_is_container(slot->kind))
        slot->u.obj->refcnt++;
}

static void release(sp_machine *m, sp_obj *first)
{
    sp_obj *pending = first;

    first->next_free = NULL;
    while (pending != NULL) {
        sp_obj *cur = pending;

        pending = cur->next_free;
        for (uint32_t i = 0; i < cur->n_kept; i++) {
            sp_slot *item = &cur->items[i];

            if (sp_kind_is_container(item->kind) && --item->u.obj->refcnt == 0) {
                item->u.obj->next_free = pending;
                pending = item->u.obj;
            }
        }
        items_free(m, cur);
        cur->items = NULL;
        cur->cap = 0;
        cur->n_kept = 0;
        cur->next_free = m->free_objs;
        m->free_objs = cur;
    }
}

void sp_slot_decref(sp_machine *m, const sp_slot *slot)
{
    if (sp_kind_is_container(slot->kind)) {
        sp_obj *obj = slot->u.obj;

        if (obj->refcnt == 0)
            return; /* already released: a bug elsewhere, but never a double free */
        if (--obj->refcnt == 0)
            release(m, obj);
    }
}

/* A container that already sits in another one cannot tell its holders
 * that it now leads to a pickle-like value: from then on the stream's
 * search walks every container, as if every one were searchable. */
static void mark_searchable(sp_machine *m, sp_obj *obj)
{
    if (obj->flags & SP_OF_SEARCHABLE)
        return;
    obj->flags |= SP_OF_SEARCHABLE;
    if (obj->flags & SP_OF_CONTAINED)
        m->st->search_all = 1;
}

int sp_obj_append(sp_machine *m, sp_obj *obj, const sp_slot *item)
{
    obj->n_total++;
    if (!sp_slot_hashable(item))
        obj->flags |= SP_OF_UNHASHABLE;
    if (sp_kind_is_opaque(item->kind) ||
        (sp_kind_is_container(item->kind) && (item->u.obj->flags & SP_OF_HAS_OPAQUE)))
        obj->flags |= SP_OF_HAS_OPAQUE;
    if (sp_kind_is_container(item->kind)) {
        sp_obj *child = item->u.obj;
        uint32_t d = (uint32_t)child->depth + 1;

        child->flags |= SP_OF_CONTAINED;
        if (child->flags & SP_OF_SEARCHABLE)
            mark_searchable(m, obj);

        if (d > 65535)
            d = 65535;
        if (d > obj->depth)
            obj->depth = (uint16_t)d;
    } else if (sp_slot_looks_like_pickle(item)) {
        mark_searchable(m, obj);
    }
    if (obj->n_kept >= SP_KEEP_ITEMS) {
        obj->flags |= SP_OF_TRUNCATED;
        sp_slot_decref(m, item);
        return 0;
    }
    if (obj->n_kept == obj->cap) {
        /* out of the inline items: the smallest class that holds one more */
        int c = obj->items == obj->inline_items ? item_class(obj->cap + 1)
                : obj->cap                      ? item_class(obj->cap) + 1
                                                : 0;
        sp_slot *grown = items_alloc(m, c);

        if (grown == NULL) {
            sp_slot_decref(m, item);
            return -1;
        }
        if (obj->n_kept)
            memcpy(grown, obj->items, sizeof(sp_slot) * obj->n_kept);
        items_free(m, obj);
        obj->items = grown;
        obj->cap = class_capacity(c);
    }
    sp_slot_copy(&obj->items[obj->n_kept++], item);
    return 0;
}
