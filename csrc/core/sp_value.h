/* Symbolic values of the pickle machine.
 *
 * The machine models the world a recording unpickler sees: every global is
 * an opaque callable type and every call returns an opaque object. Constants
 * keep their contents so that arguments can be reported and STACK_GLOBAL
 * resolved.
 *
 * A value is a small slot copied by value: scalars need no allocation and
 * strings point into the input (or into the arena when they had to be
 * decoded). Only containers are heap objects, shared by reference (the memo
 * and DUP alias them) and reference counted so that a large pickle does not
 * keep every intermediate container alive. A container keeps at most
 * SP_KEEP_ITEMS items for reporting; counts and the facts the machine needs
 * to decide (hashability, length) are kept for all of them. */
#ifndef SP_VALUE_H
#define SP_VALUE_H

#include <stdint.h>

typedef enum sp_vkind {
    SP_V_NONE = 0,
    SP_V_BOOL,      /* u.i is 0 or 1 */
    SP_V_INT,       /* u.i */
    SP_V_BIGINT,    /* does not fit in int64; u.p/len: the opcode's text or
                       little-endian bytes, for reporting only */
    SP_V_FLOAT,     /* u.f */
    SP_V_STR,       /* u.p/len: UTF-8, surrogates kept as 3-byte sequences */
    SP_V_BYTES,     /* u.p/len */
    SP_V_BYTEARRAY, /* u.p/len */
    SP_V_BUFFER,    /* out-of-band buffer (NEXT_BUFFER): contents unknown */
    SP_V_TUPLE,     /* u.obj */
    SP_V_LIST,      /* u.obj */
    SP_V_DICT,      /* u.obj: key, value, key, value ... */
    SP_V_SET,       /* u.obj */
    SP_V_FROZENSET, /* u.obj */
    SP_V_GLOBAL,    /* ref: index into the stream's globals */
    SP_V_RESULT,    /* ref: index into the stream's calls: what it returned */
    SP_V_KIND_COUNT
} sp_vkind;

/* Slot flags. */
#define SP_VF_READONLY 0x01  /* READONLY_BUFFER was applied */
#define SP_VF_FROM_MEMO 0x02 /* this copy came out of the memo */
#define SP_VF_DECODED 0x04   /* string text was escape-decoded */
#define SP_VF_LE_BYTES                                                                             \
    0x08 /* BIGINT: u.p/len are LONG1/LONG4 little-endian                                          \
            two's-complement bytes, else the line text */
/* str/bytes/bytearray that starts like a pickle (sp_text_looks_like_pickle),
 * judged where the slot is made: later readers (containers, the nested
 * search) would otherwise go back to bytes long out of the cache. */
#define SP_VF_PICKLE_LIKE 0x10
/* bytes/bytearray whose payload holds a hole the caller left unread
 * (sp_holes.h): whatever reads the payload past its head must say so */
#define SP_VF_HOLED 0x20

typedef struct sp_obj sp_obj;

typedef struct sp_slot {
    uint8_t kind;  /* sp_vkind */
    uint8_t flags; /* SP_VF_* */
    uint16_t reserved;
    uint32_t ref; /* SP_V_GLOBAL / SP_V_RESULT */
    union {
        int64_t i;
        double f;
        const uint8_t *p;
        sp_obj *obj;
    } u;
    uint64_t len; /* byte length of str/bytes/bigint text */
} sp_slot;

/* Container flags. */
#define SP_OF_UNHASHABLE 0x01 /* hash() would raise (list/dict/set inside) */
#define SP_OF_TRUNCATED 0x02  /* n_total > n_kept */
#define SP_OF_HAS_OPAQUE 0x04 /* some item (at any depth) is opaque */
/* Some item is a str/bytes that starts like a pickle, or a searchable
 * container: only such containers can lead the nested-pickle search
 * anywhere (set on append, never cleared; see sp_stream.search_all). */
#define SP_OF_SEARCHABLE 0x08
/* Put into another container (or a call's arguments) at some point. */
#define SP_OF_CONTAINED 0x10

#define SP_KEEP_ITEMS 64
#define SP_INLINE_ITEMS 3

struct sp_obj {
    uint32_t refcnt;
    uint8_t kind;     /* a container sp_vkind */
    uint8_t flags;    /* SP_OF_* */
    uint16_t depth;   /* 1 + deepest kept child container, capped at 65535 */
    uint64_t n_total; /* items the loader would hold (dict: keys + values) */
    uint32_t n_kept;
    uint32_t cap;
    sp_slot *items;
    uint64_t offset;   /* opcode that created it */
    sp_obj *next_free; /* free list and iterative release */
    /* the items of small containers (most tuples: TUPLE1..3), without an
     * allocation */
    sp_slot inline_items[SP_INLINE_ITEMS];
    uint32_t walk_mark; /* last walk that visited it: values are DAGs */
};

static inline int sp_kind_is_container(int kind)
{
    return kind >= SP_V_TUPLE && kind <= SP_V_FROZENSET;
}

/* A global or call result: may be a callable, a type, anything. */
static inline int sp_kind_is_opaque(int kind)
{
    return kind == SP_V_GLOBAL || kind == SP_V_RESULT || kind == SP_V_BUFFER;
}

/* hash() of the value would succeed in the recording world. */
static inline int sp_slot_hashable(const sp_slot *s)
{
    switch (s->kind) {
    case SP_V_LIST:
    case SP_V_DICT:
    case SP_V_SET:
    case SP_V_BYTEARRAY:
        return 0;
    case SP_V_TUPLE:
        return !(s->u.obj->flags & SP_OF_UNHASHABLE);
    default:
        return 1;
    }
}

/* *dst = *src, field by field. Slots are often written a field at a time
 * just before they are copied; a whole-slot copy reads them back wider
 * than they were written, which stalls on store forwarding. */
static inline void sp_slot_copy(sp_slot *dst, const sp_slot *src)
{
    dst->kind = src->kind;
    dst->flags = src->flags;
    dst->reserved = src->reserved;
    dst->ref = src->ref;
    dst->u = src->u;
    dst->len = src->len;
}

/* Text of a str (UTF-8), bytes or bytearray that starts the way
 * pickle.dumps output (or its latin-1 decoding, U+0080 as C2 80) starts. */
static inline int sp_text_looks_like_pickle(int kind, const uint8_t *p, uint64_t len)
{
    if (kind == SP_V_BYTES || kind == SP_V_BYTEARRAY)
        return len >= 4 && p[0] == 0x80 && p[1] <= 5;
    if (kind == SP_V_STR)
        return len >= 5 && p[0] == 0xc2 && p[1] == 0x80 && p[2] <= 5;
    return 0;
}

/* The same for a slot: every text slot is made with SP_VF_PICKLE_LIKE set
 * as its text says (push_text; the PERSID line, ASCII, never is). */
static inline int sp_slot_looks_like_pickle(const sp_slot *v)
{
    return (v->flags & SP_VF_PICKLE_LIKE) != 0;
}

const char *sp_vkind_name(int kind);

#endif
