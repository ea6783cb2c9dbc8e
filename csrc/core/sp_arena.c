#define _GNU_SOURCE /* MADV_HUGEPAGE, MAP_ANONYMOUS, mremap */
#include "sp_arena.h"

#include <pthread.h>
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
 * offers them (sp_big_resize): a scan that keeps millions of values alive
 * (every memoized container stays alive to the end of its stream, as in
 * the loader) would otherwise spend as long in 4 KB page faults as in the
 * machine itself, and a process that scans file after file reuses the
 * pages of the last scan. */
#define SP_HUGE_CHUNK ((size_t)2 * 1024 * 1024)

/* A chunk of at least total bytes, header included; sets its size. */
static sp_arena_chunk *chunk_new(size_t total)
{
    sp_arena_chunk *chunk;

    if (total >= SP_HUGE_CHUNK) {
        size_t mapped = total;

        chunk = sp_big_resize(NULL, 0, &mapped);
        if (chunk != NULL)
            chunk->size = mapped - SP_HEADER_SIZE;
        return chunk;
    }
    chunk = malloc(total);
    if (chunk != NULL)
        chunk->size = total - SP_HEADER_SIZE;
    return chunk;
}

static void chunk_free(sp_arena_chunk *chunk)
{
    sp_big_free(chunk, SP_HEADER_SIZE + chunk->size);
}

/* ---- blocks that grow large ------------------------------------------ */

#if defined(__linux__) && defined(MADV_HUGEPAGE) && defined(MREMAP_MAYMOVE)
#define SP_BIG_MAPS 1
#else
#define SP_BIG_MAPS 0
#endif

/* Blocks from this size on get a mapping of their own, with huge pages
 * where the kernel gives them, grown with mremap: malloc would take a
 * large block through 4 KB faults, a quarter of the time of a scan that
 * memoizes a million values. Which one holds a block follows from its
 * size. */
static int big_mapped(size_t size)
{
    return SP_BIG_MAPS && size >= SP_HUGE_CHUNK;
}

static size_t big_round(size_t size)
{
    return (size + SP_HUGE_CHUNK - 1) & ~(SP_HUGE_CHUNK - 1);
}

#if SP_BIG_MAPS
/* Mappings given back are kept for the next scan (a few, up to a total):
 * a process that scans file after file then reuses pages already faulted
 * in instead of zeroing new ones. sp_big_release_cached gives them back to
 * the kernel; the load guard calls it before it loads. */
#define SP_BIG_CACHE_SLOTS 16
#define SP_BIG_CACHE_BYTES ((size_t)64 * 1024 * 1024)

static struct {
    void *p;
    size_t size; /* of the mapping */
} big_cache[SP_BIG_CACHE_SLOTS];
static size_t big_cached_bytes;
static pthread_mutex_t big_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* A cached mapping of at least size bytes (the smallest such, else the
 * largest, grown); NULL when none is kept. *mapped: its length. */
static void *big_cache_take(size_t size, size_t *mapped)
{
    int best = -1;
    size_t want = big_round(size);
    void *p, *q;
    size_t have;

    pthread_mutex_lock(&big_cache_lock);
    for (int i = 0; i < SP_BIG_CACHE_SLOTS; i++) {
        if (big_cache[i].p == NULL)
            continue;
        if (best < 0 ||
            (big_cache[best].size < want
                 ? big_cache[i].size > big_cache[best].size
                 : big_cache[i].size >= want && big_cache[i].size < big_cache[best].size))
            best = i;
    }
    if (best < 0) {
        pthread_mutex_unlock(&big_cache_lock);
        return NULL;
    }
    p = big_cache[best].p;
    have = big_cache[best].size;
    big_cache[best].p = NULL;
    big_cached_bytes -= have;
    pthread_mutex_unlock(&big_cache_lock);
    /* a larger mapping is kept whole: its pages are the point of keeping it */
    if (have >= want) {
        *mapped = have;
        return p;
    }
    q = mremap(p, have, want, MREMAP_MAYMOVE);
    if (q == MAP_FAILED) {
        munmap(p, have);
        return NULL;
    }
    *mapped = want;
    return q;
}

static void big_cache_put(void *p, size_t size)
{
    pthread_mutex_lock(&big_cache_lock);
    if (big_cached_bytes + size <= SP_BIG_CACHE_BYTES) {
        for (int i = 0; i < SP_BIG_CACHE_SLOTS; i++) {
            if (big_cache[i].p == NULL) {
                big_cache[i].p = p;
                big_cache[i].size = size;
                big_cached_bytes += size;
                pthread_mutex_unlock(&big_cache_lock);
                return;
            }
        }
    }
    pthread_mutex_unlock(&big_cache_lock);
    munmap(p, size);
}
#endif

size_t sp_big_cached(void)
{
#if SP_BIG_MAPS
    size_t n;

    pthread_mutex_lock(&big_cache_lock);
    n = big_cached_bytes;
    pthread_mutex_unlock(&big_cache_lock);
    return n;
#else
    return 0;
#endif
}

void sp_big_release_cached(void)
{
#if SP_BIG_MAPS
    pthread_mutex_lock(&big_cache_lock);
    for (int i = 0; i < SP_BIG_CACHE_SLOTS; i++) {
        if (big_cache[i].p != NULL) {
            munmap(big_cache[i].p, big_cache[i].size);
            big_cache[i].p = NULL;
        }
    }
    big_cached_bytes = 0;
    pthread_mutex_unlock(&big_cache_lock);
#endif
}

void *sp_big_resize(void *p, size_t old_size, size_t *new_size)
{
#if SP_BIG_MAPS
    size_t want = *new_size;

    if (big_mapped(want)) {
        void *q;
        size_t mapped;

        if (p != NULL && big_mapped(old_size)) {
            if (big_round(want) <= big_round(old_size)) {
                *new_size = big_round(old_size);
                return p;
            }
            q = mremap(p, big_round(old_size), big_round(want), MREMAP_MAYMOVE);
            if (q == MAP_FAILED)
                return NULL;
            *new_size = big_round(want);
            return q;
        }
        q = big_cache_take(want, &mapped);
        if (q == NULL) {
            mapped = big_round(want);
            q = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (q == MAP_FAILED)
                return NULL;
            /* only advice: without huge pages the mapping still works */
            (void)madvise(q, mapped, MADV_HUGEPAGE);
        }
        if (p != NULL) {
            memcpy(q, p, old_size < want ? old_size : want);
            free(p);
        }
        *new_size = mapped;
        return q;
    }
#endif
    return realloc(p, *new_size);
}

void sp_big_free(void *p, size_t size)
{
    if (p == NULL)
        return;
#if SP_BIG_MAPS
    if (big_mapped(size)) {
        big_cache_put(p, big_round(size));
        return;
    }
#endif
    free(p);
}

void sp_arena_release(sp_arena *arena)
{
    sp_arena_chunk *chunk = arena->head;

    while (chunk != NULL) {
        sp_arena_chunk *next = chunk->next;
        chunk_free(chunk);
        chunk = next;
    }
    for (size_t i = 0; i < arena->n_outside; i++) {
        size_t size;

        memcpy(&size, (unsigned char *)arena->outside[i] + sizeof(size_t), sizeof(size));
        sp_big_free(arena->outside[i], size);
    }
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

/* The capacity an array of cap items grows to for need items: doubled
 * (from 8) until it holds them, so that the total copied stays linear.
 * -1 when that does not fit in 32 bits. */
static int grown_capacity(uint32_t cap, uint32_t need, uint64_t *out)
{
    uint64_t ncap = cap ? (uint64_t)cap * 2 : 8;

    while (ncap < need)
        ncap *= 2;
    if (ncap > UINT32_MAX)
        ncap = UINT32_MAX;
    *out = ncap;
    return ncap < need ? -1 : 0;
}

int sp_arena_grow(sp_arena *arena, void **items, uint32_t *cap, uint32_t need, size_t item_size)
{
    uint64_t ncap;
    void *fresh;

    if (need <= *cap)
        return 0;
    if (grown_capacity(*cap, need, &ncap) < 0)
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
 * arena->outside, which must follow the block when it moves, and the
 * block's size, which says how to free it (sp_big_free). */
#define SP_OUTSIDE_HEADER 16u

int sp_arena_grow_outside(sp_arena *arena, void **items, uint32_t *cap, uint32_t need,
                          size_t item_size)
{
    uint64_t ncap;
    size_t slot, old_size, new_size, charged;
    unsigned char *block;

    if (need <= *cap)
        return 0;
    if (grown_capacity(*cap, need, &ncap) < 0 || ncap > (SIZE_MAX - SP_OUTSIDE_HEADER) / item_size)
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
        old_size = 0;
    } else {
        block = (unsigned char *)*items - SP_OUTSIDE_HEADER;
        memcpy(&slot, block, sizeof(slot));
        memcpy(&old_size, block + sizeof(size_t), sizeof(old_size));
    }
    new_size = SP_OUTSIDE_HEADER + (size_t)ncap * item_size;
    charged = (size_t)(ncap - *cap) * item_size;
    if (sp_arena_charge(arena, charged) < 0)
        return -1;
    block = sp_big_resize(block, old_size, &new_size);
    if (block == NULL) {
        sp_arena_uncharge(arena, charged);
        goto refuse;
    }
    /* the block's own size, which a kept mapping may make larger than
     * asked for: the next growth within it is then free */
    memcpy(block, &slot, sizeof(slot));
    memcpy(block + sizeof(size_t), &new_size, sizeof(new_size));
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
