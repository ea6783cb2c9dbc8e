/* Holes: stretches of the input the caller left unread.
 *
 * A guard that must copy a file before it loads it can leave the insides of
 * large bytes payloads out of the copy, and let the loader read them from
 * the file, only if no verdict depends on them. The scan is told where the
 * holes are and says afterwards whether it relied on any byte in one: then
 * the caller reads them in and scans again.
 *
 * A reading of the input (the machine, the plain walk, at any nesting)
 * moves forward through every byte it covers: each is an opcode, an
 * argument, or the payload of a bytes value. Only a payload is taken
 * without being read, past its first SP_HOLE_HEAD bytes (the most any
 * later look at a value reads: the pickle magic, the string scan). So a
 * reading touches no hole when every hole inside what it covered lies in
 * one of the payloads it took. A reading that stopped short of STOP (an
 * error or a cap) may have looked anywhere ahead of its cursor, a line
 * searched for to the end of the input say, but never back into the
 * payloads behind it: then every hole after its start must be one it
 * took. A value whose payload
 * holds a hole carries SP_VF_HOLED, and whatever would read that payload
 * whole (the nested-pickle search, a comparison, int()) counts as a touch. */
#ifndef SP_HOLES_H
#define SP_HOLES_H

#include <stddef.h>
#include <stdint.h>

#include "sp_semantic.h"

/* What of a payload may be read before its holes start. */
#define SP_HOLE_HEAD ((uint64_t)SP_STR_SCAN_MAX)

/* The head of a file that format checks read (joblib's mark among them). */
#define SP_HOLE_FILE_HEAD ((uint64_t)SP_STR_SCAN_MAX)

typedef struct sp_holes {
    const uintptr_t *lo, *hi; /* [lo, hi) in memory, sorted, disjoint */
    uint32_t *taken_by;       /* per hole: the reading that took it as payload */
    size_t n;
    uint32_t readings; /* readings begun */
    int touched;
} sp_holes;

/* A new reading; 0 when there are no holes (every other call is then a
 * no-op). */
uint32_t sp_holes_begin(sp_holes *h);

/* Reading `id` took [p, p + len) as a bytes payload without reading it.
 * 1 when a hole lies in it past its head (the value gets SP_VF_HOLED). */
int sp_holes_take(sp_holes *h, uint32_t id, const uint8_t *p, uint64_t len);

/* The same for bytes that nothing looks at again, head included: the
 * array data joblib writes between opcodes, which its unpickler copies or
 * maps and the scan never keeps as a value. */
void sp_holes_take_unread(sp_holes *h, uint32_t id, const uint8_t *p, uint64_t len);

/* Reading `id` handed [start, end) to readings begun inside it (joblib's
 * inline pickle of an object array), which reached STOP at end: the holes
 * they took there count as taken by `id`. */
void sp_holes_adopt(sp_holes *h, uint32_t id, const uint8_t *start, const uint8_t *end);

/* Reading `id` covered [start, end) and reached STOP there; end NULL: it
 * stopped otherwise, and may have looked at anything after its cursor. */
void sp_holes_end(sp_holes *h, uint32_t id, const uint8_t *start, const uint8_t *end);

/* Something read a hole, or may have. */
static inline void sp_holes_touch(sp_holes *h)
{
    if (h != NULL)
        h->touched = 1;
}

#endif
