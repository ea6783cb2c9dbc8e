/* A bump allocator with a hard cap on the total bytes it will hand out.
 *
 * Everything one scan builds (values, trace records, decoded strings) lives
 * in one arena and is released at once, so no code path can leak and the
 * memory of a scan is bounded by the cap whatever the input asks for. */
#ifndef SP_ARENA_H
#define SP_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct sp_arena_chunk sp_arena_chunk;

typedef struct sp_arena {
    sp_arena_chunk *head;
    /* arrays grown with realloc (sp_arena_grow_outside), freed with it */
    void **outside;
    size_t n_outside, outside_cap;
    size_t used;   /* bytes handed out, including alignment */
    size_t cap;    /* 0 means no cap */
    int exhausted; /* set once a request was refused */
} sp_arena;

void sp_arena_init(sp_arena *arena, size_t cap);
void sp_arena_release(sp_arena *arena);

/* 16-byte aligned, zeroed. NULL when the cap or malloc refuses. */
void *sp_arena_alloc(sp_arena *arena, size_t size);
/* The same, not zeroed: for memory the caller fills before reading. */
void *sp_arena_alloc_raw(sp_arena *arena, size_t size);
/* A NUL-terminated copy of n bytes. */
char *sp_arena_strndup(sp_arena *arena, const char *src, size_t n);
/* Counts size bytes held outside the arena (an array grown with realloc)
 * against its cap: -1, and the arena marked exhausted, when they do not
 * fit. sp_arena_uncharge gives them back. */
int sp_arena_charge(sp_arena *arena, size_t size);
void sp_arena_uncharge(sp_arena *arena, size_t size);
/* Grow an arena array to hold at least need items of item_size bytes,
 * doubling so that the total copied stays linear. Updates *items and *cap. */
int sp_arena_grow(sp_arena *arena, void **items, uint32_t *cap, uint32_t need, size_t item_size);
/* The same for an array that may grow large (the calls of a stream): it
 * lives outside the chunks (sp_big_resize), so growing copies nothing and
 * leaves no dead copies behind. Charged to the cap, freed by
 * sp_arena_release. Items past the old capacity are not zeroed. *items
 * must be NULL or come from this function with the same arena. */
int sp_arena_grow_outside(sp_arena *arena, void **items, uint32_t *cap, uint32_t need,
                          size_t item_size);

/* Resize a block that may grow large to at least *new_size bytes: malloc'd
 * while it is small, from 2 MB on a mapping of its own with huge pages
 * where the kernel gives them, grown with mremap, which moves pages instead
 * of copying them. old_size is what the last call set *new_size to (0 for
 * a new block); it says which one holds the block. *new_size is set to the
 * block's size, which may be more than was asked for (a mapping kept from
 * an earlier scan is reused whole). NULL when memory ran out (the block is
 * then unchanged). Thread-safe. */
void *sp_big_resize(void *p, size_t old_size, size_t *new_size);
/* Frees a block of sp_big_resize, given the size it last set. A mapping is
 * kept for the next scan (at most 16, 64 MB in all) until
 * sp_big_release_cached. */
void sp_big_free(void *p, size_t size);
/* Bytes of the mappings kept, and giving them back to the kernel. */
size_t sp_big_cached(void);
void sp_big_release_cached(void);

#endif
