/* Where the large bytes payloads of a pickle lie: a walk over its opcodes
 * that interprets nothing, for planning which bytes a guard may leave out
 * of its copy (sp_holes.h). A plan only: the scan of the copy decides
 * whether a hole was safe to leave, so a walk that misreads or stops early
 * costs a copy, never a verdict. */
#ifndef SP_PAYLOADS_H
#define SP_PAYLOADS_H

#include <stddef.h>
#include <stdint.h>

typedef enum sp_walk_end {
    SP_WALK_PAYLOAD = 0, /* found one: [*start, *end); go on from *next */
    SP_WALK_MORE,        /* the window ended: go on from *next */
    SP_WALK_DONE         /* STOP, an unknown opcode or the budget: no more */
} sp_walk_end;

/* Walks window[0..len), which holds the input from offset base on, from
 * its start (an opcode boundary) until a BINBYTES, BINBYTES8 or
 * BYTEARRAY8 payload of at least min_len bytes, the window's end or STOP.
 * Offsets are the input's. *ops_left is the budget of opcodes, spent as
 * they are walked. */
sp_walk_end sp_payload_walk(const uint8_t *window, size_t len, uint64_t base, uint64_t min_len,
                            uint64_t *ops_left, uint64_t *start, uint64_t *end, uint64_t *next);

#endif
