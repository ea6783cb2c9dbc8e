#include "sp_holes.h"

/* The first hole that ends after `at`. */
static size_t first_after(const sp_holes *h, uintptr_t at)
{
    size_t lo = 0, hi = h->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (h->hi[mid] <= at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t sp_holes_begin(sp_holes *h)
{
    if (h == NULL || h->n == 0)
        return 0;
    if (h->readings == UINT32_MAX) {
        /* ids would repeat: give up on the holes rather than confuse two
         * readings */
        h->touched = 1;
        return 0;
    }
    return ++h->readings;
}

static int take_past(sp_holes *h, uint32_t id, const uint8_t *p, uint64_t len, uint64_t head)
{
    uintptr_t start = (uintptr_t)p, end, body;
    int holed = 0;

    if (id == 0 || len <= head)
        return 0;
    end = start + (uintptr_t)len;
    body = start + (uintptr_t)head;
    for (size_t i = first_after(h, start); i < h->n && h->lo[i] < end; i++) {
        if (h->lo[i] >= body && h->hi[i] <= end) {
            h->taken_by[i] = id;
            holed = 1;
        } else {
            /* the head or a neighbour of the payload is missing */
            h->touched = 1;
        }
    }
    return holed;
}

int sp_holes_take(sp_holes *h, uint32_t id, const uint8_t *p, uint64_t len)
{
    return take_past(h, id, p, len, SP_HOLE_HEAD);
}

void sp_holes_take_unread(sp_holes *h, uint32_t id, const uint8_t *p, uint64_t len)
{
    (void)take_past(h, id, p, len, 0);
}

void sp_holes_end(sp_holes *h, uint32_t id, const uint8_t *start, const uint8_t *end)
{
    uintptr_t to = end != NULL ? (uintptr_t)end : UINTPTR_MAX;

    if (id == 0)
        return;
    for (size_t i = first_after(h, (uintptr_t)start); i < h->n && h->lo[i] < to; i++)
        if (h->taken_by[i] != id)
            h->touched = 1;
}

void sp_holes_adopt(sp_holes *h, uint32_t id, const uint8_t *start, const uint8_t *end)
{
    if (id == 0)
        return;
    for (size_t i = first_after(h, (uintptr_t)start); i < h->n && h->hi[i] <= (uintptr_t)end; i++)
        /* a later id inside this reading is one of its nested readings,
         * whose own end vouched for what it took */
        if (h->lo[i] >= (uintptr_t)start && h->taken_by[i] > id)
            h->taken_by[i] = id;
}
