#define _DEFAULT_SOURCE /* MADV_HUGEPAGE, MAP_ANONYMOUS */
#include "sp_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

/* Chunks grow geometrically so that a large scan makes few mallocs, but
 * start small so that scanning a tiny pickle stays cheap. */
#define SP_CHUNK_MIN (16u * 1024u)
#define SP_CHUNK_MAX (8u * 1024u * 1024u)

struct sp_arena_chunk {
    sp_arena_chunk *next;
    size_t size;
    size_t used;
    int mapped; /* from chunk_map, not malloc */
    /* followed by 16-aligned storage */
};

#define SP_HEADER_SIZE ((sizeof(sp_arena_chunk) + 15u) & ~(size_t)15u)

void sp_arena_init(sp_arena *arena, size_t cap)
{
    arena->head = NULL;
    arena->outside = NULL;
    arena->n_outside = 0;
    arena->outside_cap = 0;
    arena->used = 0;
    arena->cap = cap;
    arena->exhausted = 0;
}

/* Large chunks are mapped with transparent huge pages where the kernel
 * offers them: a scan that keeps millions of values alive (every memoized
 * container stays alive to the end of its stream, as in the loader) would
 * otherwise spend as long in 4 KB page faults as in the machine itself. */
#define SP_HUGE_CHUNK ((size_t)2 * 1024 * 1024)

/* A chunk of at least total bytes, header included; sets its size. */
static sp_arena_chunk *chunk_new(size_t total)
{
    sp_arena_chunk *chunk = NULL;

#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (total >= SP_HUGE_CHUNK) {
        /* whole huge pages: the kernel aligns such a mapping to them */
        size_t mapped = (total + SP_HUGE_CHUNK - 1) & ~(SP_HUGE_CHUNK - 1);
        void *p = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p != MAP_FAILED) {
            /* only advice: without huge pages the mapping still works */
            (void)madvise(p, mapped, MADV_HUGEPAGE);
            chunk = p;
            chunk->mapped = 1;
            chunk->size = mapped - SP_HEADER_SIZE;
            return chunk;
        }
    }
#endif
    chunk = malloc(total);
    if (chunk != NULL) {
        chunk->mapped = 0;
        chunk->size = total - SP_HEADER_SIZE;
    }
    return chunk;
}

static void chunk_free(sp_arena_chunk *chunk)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (chunk->mapped) {
        munmap(chunk, SP_HEADER_SIZE + chunk->size);
        return;
    }
#endif
    free(chunk);
}

void sp_arena_release(sp_arena *arena)
{
    sp_arena_chunk *chunk = arena->head;

    while (chunk != NULL) {
        sp_arena_chunk *next = chunk->next;
        chunk_free(chunk);
        chunk = next;
    }
    for (size_t i = 0; i < arena->n_outside; i++)
        free(arena->outside[i]);
    free(arena->outside);
    arena->outside = NULL;
    arena->n_outside = 0;
    arena->outside_cap = 0;
    arena->head = NULL;
    arena->used = 0;
}

static void *arena_take(sp_arena *arena, size_t size, int zero);

void *sp_arena_alloc(sp_arena *arena, size_t size)
{
    return arena_take(arena, size, 1);
}

void *sp_arena_alloc_raw(sp_arena *arena, size_t size)
{
    return arena_take(arena, size, 0);
}

static void *arena_take(sp_arena *arena, size_t size, int zero)
{
    sp_arena_chunk *chunk = arena->head;
    size_t need;
    unsigned char *p;

    if (size > ((size_t)1 << 40))
        goto refuse;
    need = (size + 15u) & ~(size_t)15u;
    if (need == 0)
        need = 16;
    if (arena->cap != 0 && (need > arena->cap || arena->used > arena->cap - need))
        goto refuse;

    if (chunk == NULL || chunk->size - chunk->used < need) {
        size_t csize = chunk == NULL ? SP_CHUNK_MIN : chunk->size * 2;

        if (csize > SP_CHUNK_MAX - SP_HEADER_SIZE)
            csize = SP_CHUNK_MAX - SP_HEADER_SIZE;
        if (csize < need)
            csize = need;
        chunk = chunk_new(SP_HEADER_SIZE + csize);
        if (chunk == NULL)
            goto refuse;
        chunk->used = 0;
        chunk->next = arena->head;
        arena->head = chunk;
    }
    p = (unsigned char *)chunk + SP_HEADER_SIZE + chunk->used;
    chunk->used += need;
    arena->used += need;
    if (zero)
        memset(p, 0, need);
    return p;

refuse:
    arena->exhausted = 1;
    return NULL;
}

char *sp_arena_strndup(sp_arena *arena, const char *src, size_t n)
{
    char *dst = sp_arena_alloc(arena, n + 1);

    if (dst == NULL)
        return NULL;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
    return dst;
}

int sp_arena_grow(sp_arena *arena, void **items, uint32_t *cap, uint32_t need, size_t item_size)
{
    uint64_t ncap;
    void *fresh;

    if (need <= *cap)
        return 0;
    ncap = *cap ? (uint64_t)*cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    if (ncap > UINT32_MAX)
        ncap = UINT32_MAX;
    if (ncap < need)
        return -1;
    /* the copied part needs no zeroing: growing a large array would
     * otherwise write it twice */
    fresh = arena_take(arena, (size_t)ncap * item_size, 0);
    if (fresh == NULL)
        return -1;
    if (*items != NULL && *cap)
        memcpy(fresh, *items, (size_t)*cap * item_size);
    memset((char *)fresh + (size_t)*cap * item_size, 0, (size_t)(ncap - *cap) * item_size);
    *items = fresh;
    *cap = (uint32_t)ncap;
    return 0;
}

int sp_arena_charge(sp_arena *arena, size_t size)
{
    if (arena->cap != 0 && (size > arena->cap || arena->used > arena->cap - size)) {
        arena->exhausted = 1;
        return -1;
    }
    arena->used += size;
    return 0;
}

void sp_arena_uncharge(sp_arena *arena, size_t size)
{
    arena->used -= size < arena->used ? size : arena->used;
}

/* An array outside the chunks starts with this header: its slot in
 * arena->outside, which realloc must follow when the block moves. */
#define SP_OUTSIDE_HEADER 16u

int sp_arena_grow_outside(sp_arena *arena, void **items, uint32_t *cap, uint32_t need,
                          size_t item_size)
{
    uint64_t ncap;
    size_t slot;
    unsigned char *block;

    if (need <= *cap)
        return 0;
    ncap = *cap ? (uint64_t)*cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    if (ncap > UINT32_MAX)
        ncap = UINT32_MAX;
    if (ncap < need || ncap > (SIZE_MAX - SP_OUTSIDE_HEADER) / item_size)
        goto refuse;
    if (*items == NULL) {
        /* room for the new block's slot first: nothing to undo later */
        if (arena->n_outside == arena->outside_cap) {
            size_t ocap = arena->outside_cap ? arena->outside_cap * 2 : 8;
            void **grown = realloc(arena->outside, ocap * sizeof(*grown));

            if (grown == NULL)
                goto refuse;
            arena->outside = grown;
            arena->outside_cap = ocap;
        }
        slot = arena->n_outside;
        block = NULL;
    } else {
        block = (unsigned char *)*items - SP_OUTSIDE_HEADER;
        memcpy(&slot, block, sizeof(slot));
    }
    if (sp_arena_charge(arena, (size_t)(ncap - *cap) * item_size) < 0)
        return -1;
    block = realloc(block, SP_OUTSIDE_HEADER + (size_t)ncap * item_size);
    if (block == NULL) {
        sp_arena_uncharge(arena, (size_t)(ncap - *cap) * item_size);
        goto refuse;
    }
    memcpy(block, &slot, sizeof(slot));
    arena->outside[slot] = block;
    if (slot == arena->n_outside)
        arena->n_outside++;
    *items = block + SP_OUTSIDE_HEADER;
    *cap = (uint32_t)ncap;
    return 0;

refuse:
    arena->exhausted = 1;
    return -1;
}
