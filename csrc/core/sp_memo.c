/* The memo of the pickle machine (PUT/GET and friends).
 *
 * Keys below a dense bound live in an array, as in _pickle.c; keys far
 * beyond the number of entries (a hostile LONG_BINPUT 0xffffffff) go to a
 * hash table so that one opcode cannot make the scanner allocate gigabytes. */
#include <string.h>

#include "sp_machine_internal.h"

#define SP_MEMO_DENSE_SLACK 65536u

static uint64_t mix(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return key;
}

static sp_memo_hash_entry *hash_find(sp_machine *m, uint64_t key)
{
    uint64_t mask, i;

    if (m->memo_hash_cap == 0)
        return NULL;
    mask = m->memo_hash_cap - 1;
    for (i = mix(key) & mask;; i = (i + 1) & mask) {
        sp_memo_hash_entry *e = &m->memo_hash[i];

        if (!e->used)
            return NULL;
        if (e->key == key)
            return e;
    }
}

static int hash_grow(sp_machine *m)
{
    uint64_t ncap = m->memo_hash_cap ? m->memo_hash_cap * 2 : 64;
    sp_memo_hash_entry *fresh = sp_arena_alloc(m->arena, sizeof(*fresh) * ncap);

    if (fresh == NULL)
        return -1;
    for (uint64_t j = 0; j < m->memo_hash_cap; j++) {
        sp_memo_hash_entry *e = &m->memo_hash[j];

        if (e->used) {
            uint64_t i = mix(e->key) & (ncap - 1);

            while (fresh[i].used)
                i = (i + 1) & (ncap - 1);
            fresh[i] = *e;
        }
    }
    m->memo_hash = fresh;
    m->memo_hash_cap = ncap;
    return 0;
}

int sp_memo_get(sp_machine *m, uint64_t key, sp_slot *out)
{
    if (key < m->memo_dense_cap) {
        if (!m->memo_dense_used[key])
            return 0;
        *out = m->memo_dense[key];
        return 1;
    }
    sp_memo_hash_entry *e = hash_find(m, key);
    if (e == NULL)
        return 0;
    *out = e->value;
    return 1;
}

/* The dense arrays live outside the arena, in one block (sp_big_resize):
 * the values, then a used flag per key. A large block moves by remapping
 * its pages, so growing copies nothing but the flags and leaves no dead
 * arrays behind; its bytes still count against the arena's cap. */
static int dense_grow(sp_machine *m, uint64_t key)
{
    uint64_t old_cap = m->memo_dense_cap;
    uint64_t ncap = old_cap ? old_cap : 64;
    size_t per_key = sizeof(sp_slot) + 1, bytes;
    unsigned char *block;

    while (ncap <= key)
        ncap *= 2;
    if (sp_arena_charge(m->arena, (size_t)(ncap - old_cap) * per_key) < 0)
        return -1;
    bytes = per_key * ncap;
    block = sp_big_resize(m->memo_dense, m->memo_dense_bytes, &bytes);
    if (block == NULL)
        goto no_memory;
    m->memo_dense_bytes = bytes; /* a kept mapping may be larger: the next growth is free */
    /* only the used flags need zeroing: a value is read only where set */
    memmove(block + sizeof(sp_slot) * ncap, block + sizeof(sp_slot) * old_cap, old_cap);
    memset(block + sizeof(sp_slot) * ncap + old_cap, 0, ncap - old_cap);
    m->memo_dense = (sp_slot *)(void *)block;
    m->memo_dense_used = block + sizeof(sp_slot) * ncap;
    m->memo_dense_cap = (uint32_t)ncap;
    /* keys that now fall in the dense range move out of the hash table */
    for (uint64_t j = 0; j < m->memo_hash_cap; j++) {
        sp_memo_hash_entry *e = &m->memo_hash[j];

        if (e->used && e->key < ncap) {
            m->memo_dense[e->key] = e->value;
            m->memo_dense_used[e->key] = 1;
        }
    }
    if (m->memo_hash_cap) {
        /* rebuild the table without the moved keys */
        sp_memo_hash_entry *old = m->memo_hash;
        uint64_t old_cap = m->memo_hash_cap;

        m->memo_hash = NULL;
        m->memo_hash_cap = 0;
        m->memo_hash_count = 0;
        for (uint64_t j = 0; j < old_cap; j++) {
            if (old[j].used && old[j].key >= ncap) {
                if (m->memo_hash_count * 2 >= m->memo_hash_cap && hash_grow(m) < 0)
                    return -1;
                sp_memo_hash_entry *e;
                uint64_t i = mix(old[j].key) & (m->memo_hash_cap - 1);

                while (m->memo_hash[i].used)
                    i = (i + 1) & (m->memo_hash_cap - 1);
                e = &m->memo_hash[i];
                *e = old[j];
                m->memo_hash_count++;
            }
        }
    }
    return 0;

no_memory:
    sp_arena_uncharge(m->arena, (size_t)(ncap - old_cap) * per_key);
    m->arena->exhausted = 1;
    return -1;
}

int sp_memo_put(sp_machine *m, uint64_t key, const sp_slot *value, int *overwrote)
{
    /* whole fields, not a byte changed in a copy: see none_slot */
    sp_slot copy = {.kind = value->kind,
                    .flags = (uint8_t)(value->flags | SP_VF_FROM_MEMO),
                    .reserved = value->reserved,
                    .ref = value->ref,
                    .u = value->u,
                    .len = value->len};

    *overwrote = 0;
    if (key >= m->memo_dense_cap && key < (uint64_t)m->memo_len * 2 + SP_MEMO_DENSE_SLACK &&
        key < UINT32_MAX / 2) {
        if (dense_grow(m, key) < 0)
            return -1;
    }
    if (key < m->memo_dense_cap) {
        if (m->memo_dense_used[key]) {
            *overwrote = 1;
            sp_slot_decref(m, &m->memo_dense[key]);
        } else {
            m->memo_len++;
        }
        sp_slot_incref(&copy);
        m->memo_dense[key] = copy;
        m->memo_dense_used[key] = 1;
        return 0;
    }
    sp_memo_hash_entry *e = hash_find(m, key);
    if (e != NULL) {
        *overwrote = 1;
        sp_slot_decref(m, &e->value);
        sp_slot_incref(&copy);
        e->value = copy;
        return 0;
    }
    if ((m->memo_hash_count + 1) * 2 > m->memo_hash_cap && hash_grow(m) < 0)
        return -1;
    uint64_t i = mix(key) & (m->memo_hash_cap - 1);
    while (m->memo_hash[i].used)
        i = (i + 1) & (m->memo_hash_cap - 1);
    e = &m->memo_hash[i];
    e->used = 1;
    e->key = key;
    sp_slot_incref(&copy);
    e->value = copy;
    m->memo_hash_count++;
    m->memo_len++;
    return 0;
}

void sp_memo_free(sp_machine *m)
{
    sp_arena_uncharge(m->arena, (size_t)m->memo_dense_cap * (sizeof(sp_slot) + 1));
    sp_big_free(m->memo_dense, m->memo_dense_bytes);
    m->memo_dense_bytes = 0;
    m->memo_dense = NULL;
    m->memo_dense_used = NULL;
    m->memo_dense_cap = 0;
}
