/* Little-endian integers as the pickle and archive formats store them. */
#ifndef SP_BYTES_H
#define SP_BYTES_H

#include <stdint.h>

/* The unsigned value of the n (at most 8) bytes at p. */
static inline uint64_t sp_le_uint(const uint8_t *p, int n)
{
    uint64_t x = 0;

    for (int i = 0; i < n; i++)
        x |= (uint64_t)p[i] << (8 * i);
    return x;
}

#endif
