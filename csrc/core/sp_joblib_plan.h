/* Where joblib wrote array data in a file, for a guard that would leave it
 * out of its copy (sp_holes.h): a walk over the opcodes that follows just
 * enough of the stack and memo to size each NumpyArrayWrapper's data,
 * reading the file one window at a time and never the data itself.
 *
 * A plan only, like sp_payloads.h: the scan of the copy decides whether a
 * hole was safe to leave (sp_joblib.c takes the data joblib's unpickler
 * reads), so a plan that misreads costs a copy, never a verdict. */
#ifndef SP_JOBLIB_PLAN_H
#define SP_JOBLIB_PLAN_H

#include <stddef.h>
#include <stdint.h>

typedef struct sp_jplan sp_jplan;

typedef enum sp_jplan_end {
    SP_JPLAN_ARRAY = 0, /* found array data: [*start, *end); go on */
    SP_JPLAN_MORE,      /* give the window at sp_jplan_next() */
    SP_JPLAN_DONE       /* STOP, something it does not follow, a cap */
} sp_jplan_end;

/* A walk from offset 0 that may spend max_ops opcodes; NULL when out of
 * memory. */
sp_jplan *sp_jplan_new(uint64_t max_ops);
void sp_jplan_free(sp_jplan *p);

/* The offset the walk goes on from. */
uint64_t sp_jplan_next(const sp_jplan *p);

/* Walks on over window[0..len), the file's bytes from offset base on,
 * which must hold sp_jplan_next(p); size is the file's. */
sp_jplan_end sp_jplan_walk(sp_jplan *p, const uint8_t *window, size_t len, uint64_t base,
                           uint64_t size, uint64_t *start, uint64_t *end);

#endif
