#include "sp_payloads.h"

#include <string.h>

#include "sp_bytes.h"
#include "sp_opcodes.h"

/* The fixed size of an opcode's argument; -1 for a line, -2 for two lines,
 * -(10 + n) for a length of n bytes followed by that many, -100 for none
 * known (not an opcode). */
static int arg_kind(uint8_t op)
{
    switch (op) {
    case SP_OP_BININT1:
    case SP_OP_BINGET:
    case SP_OP_BINPUT:
    case SP_OP_PROTO:
    case SP_OP_EXT1:
        return 1;
    case SP_OP_BININT2:
    case SP_OP_EXT2:
        return 2;
    case SP_OP_BININT:
    case SP_OP_LONG_BINGET:
    case SP_OP_LONG_BINPUT:
    case SP_OP_EXT4:
        return 4;
    case SP_OP_BINFLOAT:
    case SP_OP_FRAME: /* the frame's opcodes follow and are walked */
        return 8;
    case SP_OP_SHORT_BINSTRING:
    case SP_OP_SHORT_BINBYTES:
    case SP_OP_SHORT_BINUNICODE:
    case SP_OP_LONG1:
        return -11;
    case SP_OP_BINSTRING:
    case SP_OP_BINBYTES:
    case SP_OP_BINUNICODE:
    case SP_OP_LONG4:
        return -14;
    case SP_OP_BINBYTES8:
    case SP_OP_BINUNICODE8:
    case SP_OP_BYTEARRAY8:
        return -18;
    case SP_OP_INT:
    case SP_OP_LONG:
    case SP_OP_FLOAT:
    case SP_OP_STRING:
    case SP_OP_UNICODE:
    case SP_OP_PERSID:
    case SP_OP_GET:
    case SP_OP_PUT:
        return -1;
    case SP_OP_GLOBAL:
    case SP_OP_INST:
        return -2;
    default:
        return sp_opcode_byte_table[op] ? 0 : -100;
    }
}

sp_walk_end sp_payload_walk(const uint8_t *window, size_t len, uint64_t base, uint64_t min_len,
                            uint64_t *ops_left, uint64_t *start, uint64_t *end, uint64_t *next)
{
    size_t pos = 0;

    while (pos < len) {
        size_t at = pos;
        uint8_t op = window[pos++];
        int kind = arg_kind(op);

        if (*ops_left == 0 || kind == -100 || op == SP_OP_STOP) {
            *next = base + at;
            return SP_WALK_DONE;
        }
        if (kind >= 0) {
            if (len - pos < (size_t)kind)
                goto cut; /* an opcode the window cuts starts again whole */
            pos += (size_t)kind;
        } else if (kind == -1 || kind == -2) {
            for (int lines = -kind; lines > 0; lines--) {
                const uint8_t *nl = memchr(window + pos, '\n', len - pos);

                if (nl == NULL)
                    goto cut;
                pos = (size_t)(nl - window) + 1;
            }
        } else {
            int nbytes = -kind - 10;
            uint64_t size;

            if (len - pos < (size_t)nbytes)
                goto cut;
            size = sp_le_uint(window + pos, nbytes);
            pos += (size_t)nbytes;
            if (size > UINT64_MAX - base - pos) {
                *next = base + at;
                return SP_WALK_DONE;
            }
            (*ops_left)--;
            if (size >= min_len &&
                (op == SP_OP_BINBYTES || op == SP_OP_BINBYTES8 || op == SP_OP_BYTEARRAY8)) {
                *start = base + pos;
                *end = *next = base + pos + size;
                return SP_WALK_PAYLOAD;
            }
            if (size > len - pos) {
                /* nothing in it matters to the plan: skipped unread */
                *next = base + pos + size;
                return SP_WALK_MORE;
            }
            pos += (size_t)size;
            continue;
        }
        (*ops_left)--;
        continue;
    cut:
        *next = base + at;
        return SP_WALK_MORE;
    }
    *next = base + len;
    return SP_WALK_MORE;
}
