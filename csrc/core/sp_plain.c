/* Plain data: a quick walk for pickles that can run nothing.
 *
 * A stream without GLOBAL, STACK_GLOBAL, INST, OBJ, REDUCE, BUILD, NEWOBJ,
 * NEWOBJ_EX, EXT1/2/4 or PERSID can only build builtin values: no opcode
 * left puts a callable on the stack. Unless its result is read, such a
 * stream matters only by what would make the machine report something (an
 * anomaly, a cap, a failure before STOP, a constant that parses as a
 * pickle) and by its statistics (sizes, depths, memo use), which the
 * features count. This walk checks and counts exactly that, without
 * building values: each stack and memo entry is one word (kind,
 * hashability, container depth), where the machine keeps a slot and
 * reference-counted containers.
 *
 * The walk accepts a stream only when the machine, run on it, would record
 * nothing but opcode counts and statistics: no global, no call, no anomaly,
 * no cap hit, no pickle-like constant, STOP reached. At the first opcode
 * or argument it is not sure of, it gives up and the machine runs the
 * stream from its start.
 * Its conditions mirror the machine's opcode by opcode (sp_machine.c); the
 * fuzz target and tests/test_plain_walk.py check that both always agree,
 * statistics included. */
#include <stdlib.h>
#include <string.h>

#include "sp_bytes.h"
#include "sp_holes.h"
#include "sp_machine_internal.h"
#include "sp_opcodes.h"
#include "sp_plain.h"
#include "sp_progress.h"
#include "sp_text.h"

/* An entry: kind in the low bits, then the hashable flag, then for a tuple
 * or frozenset its depth and for a list, dict or set the index of its
 * depth in the walk's table (they change after they are made, and DUP and
 * the memo share them). */
enum {
    PK_NONE = 1, /* 0 marks an unset memo entry */
    PK_SCALAR,   /* bool, int, float, str, bytes: hashable, no depth */
    PK_BYTEARRAY,
    PK_TUPLE,
    PK_FROZENSET,
    PK_LIST,
    PK_DICT,
    PK_SET,
};
#define PK_KIND_MASK 0xfu
#define PK_HASHABLE 0x10u
#define PK_SHIFT 5
#define PK_PAYLOAD_MAX ((uint32_t)1 << (32 - PK_SHIFT))

/* The few helpers every opcode goes through, inlined into the loop. */
#if defined(__GNUC__)
#define HOT static inline __attribute__((always_inline))
#else
#define HOT static inline
#endif

/* Per byte: 0 when it is no opcode, else 1 + the protocol that introduced
 * it. One load per opcode checks both. */
#define SP_X(name, byte, proto) [(unsigned char)(byte)] = (proto) + 1,
static const uint8_t need_plus_one[256] = {SP_OPCODE_LIST(SP_X)};
#undef SP_X

typedef struct plain {
    const uint8_t *buf;
    uint64_t start, len, pos, frame_end;
    uint8_t proto; /* PROTO's argument: only the first opcode may be one */
    const sp_limits *lim;
    uint32_t reading; /* among readings of the holes (sp_holes.h), or 0 */
    uint64_t bytes;   /* held by the arrays below, against max_alloc */

    uint32_t *stack;
    uint32_t sp, stack_cap;
    uint32_t *marks;
    uint32_t n_marks, marks_cap, fence;
    uint32_t *memo; /* dense: keys never run far past the count */
    uint32_t memo_cap;
    uint64_t memo_len;
    uint32_t *depths; /* of mutable containers */
    uint32_t n_depths, depths_cap;
    /* the statistics the machine keeps (sp_stream), kept as it keeps them */
    uint32_t max_sp, max_marks, memo_puts, memo_gets;
    uint64_t memo_max_index, max_depth, string_bytes, max_string_len;
    /* where each array starts: FIRST_CAP entries outside the struct,
     * which is zeroed whole */
    uint32_t *first_stack, *first_marks, *first_memo, *first_depths;
} plain;

/* An array's first FIRST_CAP entries live in the walk's frame: a small
 * pickle then allocates nothing. Charged against max_alloc as if
 * allocated, so that the walk gives up where it always did. */
#define FIRST_CAP 64

static int grow(plain *w, uint32_t **arr, uint32_t *cap, uint64_t need, uint32_t *first)
{
    uint64_t ncap = *cap ? *cap : FIRST_CAP;
    uint32_t *fresh;

    while (ncap < need)
        ncap *= 2;
    if (ncap > UINT32_MAX || w->bytes + (ncap - *cap) * 4 > w->lim->max_alloc)
        return -1;
    if (ncap <= FIRST_CAP && (*arr == NULL || *arr == first)) {
        fresh = first;
    } else if (*arr == first) {
        fresh = malloc((size_t)ncap * 4);
        if (fresh != NULL)
            memcpy(fresh, first, (size_t)*cap * 4);
    } else {
        fresh = realloc(*arr, (size_t)ncap * 4);
    }
    if (fresh == NULL)
        return -1;
    memset(fresh + *cap, 0, (size_t)(ncap - *cap) * 4);
    w->bytes += (ncap - *cap) * 4;
    *arr = fresh;
    *cap = (uint32_t)ncap;
    return 0;
}

static inline uint32_t kind_of(uint32_t e)
{
    return e & PK_KIND_MASK;
}

static inline int is_mutable(uint32_t k)
{
    return k == PK_LIST || k == PK_DICT || k == PK_SET;
}

/* What the machine's obj->depth would be at most: it counts the first
 * SP_KEEP_ITEMS items, this every one. Scalars are 0. */
static inline uint32_t depth_of(const plain *w, uint32_t e)
{
    uint32_t k = kind_of(e);

    if (k == PK_TUPLE || k == PK_FROZENSET)
        return e >> PK_SHIFT;
    if (is_mutable(k))
        return w->depths[e >> PK_SHIFT];
    return 0;
}

/* The capacity never passes max_stack, so the cap is checked whenever the
 * stack reaches it: the machine checks it only when its own stack grows,
 * at sizes of its own, so the walk must give up wherever the machine
 * might stop. */
HOT int push(plain *w, uint32_t e)
{
    if (w->sp >= w->stack_cap) {
        if (w->sp >= w->lim->max_stack ||
            grow(w, &w->stack, &w->stack_cap, w->sp + 1, w->first_stack) < 0)
            return -1;
        if (w->stack_cap > w->lim->max_stack)
            w->stack_cap = w->lim->max_stack;
    }
    w->stack[w->sp++] = e;
    if (w->sp > w->max_sp)
        w->max_sp = w->sp;
    return 0;
}

/* Depths the machine would refuse or could not hold (it keeps them in 16
 * bits) are left to it. */
static inline int depth_ok(const plain *w, uint32_t depth)
{
    return depth <= w->lim->max_depth && depth <= 65535 && depth < PK_PAYLOAD_MAX;
}

/* Where the machine's check_depth looks: a container made of items (the
 * empty tuple included) and one that has just received items. An empty
 * list, dict or set counts only once something goes in. */
static inline void count_depth(plain *w, uint32_t depth)
{
    if (depth > w->max_depth)
        w->max_depth = depth;
}

/* count_depth for a depth not yet checked against the caps. */
static inline int note_depth(plain *w, uint32_t depth)
{
    if (!depth_ok(w, depth))
        return -1;
    count_depth(w, depth);
    return 0;
}

/* A new container's entry; depth 1 + the deepest item. */
HOT int make(plain *w, uint32_t kind, uint32_t depth, uint32_t *out)
{
    if (!depth_ok(w, depth))
        return -1;
    if (!is_mutable(kind)) {
        *out = kind | (depth << PK_SHIFT) | (kind == PK_FROZENSET ? PK_HASHABLE : 0);
        return 0;
    }
    if (w->n_depths >= PK_PAYLOAD_MAX - 1 ||
        (w->n_depths >= w->depths_cap &&
         grow(w, &w->depths, &w->depths_cap, (uint64_t)w->n_depths + 1, w->first_depths) < 0))
        return -1;
    w->depths[w->n_depths] = depth;
    *out = kind | (w->n_depths++ << PK_SHIFT);
    return 0;
}

/* stack[from..sp) go into a new container of kind, pushed in their place. */
HOT int collect(plain *w, uint32_t kind, uint32_t from)
{
    uint32_t depth = 1, hashable = PK_HASHABLE, e;

    for (uint32_t i = from; i < w->sp; i++) {
        uint32_t d = depth_of(w, w->stack[i]) + 1;

        if (d > depth)
            depth = d;
        hashable &= w->stack[i];
    }
    if (make(w, kind, depth, &e) < 0) /* checks the depth */
        return -1;
    count_depth(w, depth);
    if (kind == PK_TUPLE)
        e |= hashable;
    w->sp = from;
    return push(w, e);
}

/* Items stack[from..sp) go into the mutable container target. */
static int fill(plain *w, uint32_t target, uint32_t from)
{
    uint32_t *d = &w->depths[target >> PK_SHIFT];

    for (uint32_t i = from; i < w->sp; i++) {
        uint32_t di = depth_of(w, w->stack[i]) + 1;

        if (di > *d)
            *d = di;
    }
    w->sp = from;
    return note_depth(w, *d);
}

static int all_hashable(const plain *w, uint32_t from, uint32_t step)
{
    for (uint32_t i = from; i < w->sp; i += step)
        if (!(w->stack[i] & PK_HASHABLE))
            return 0;
    return 1;
}

static int marker(plain *w, uint32_t *mark)
{
    if (w->n_marks < 1)
        return -1;
    *mark = w->marks[--w->n_marks];
    w->fence = w->n_marks ? w->marks[w->n_marks - 1] : 0;
    return 0;
}

/* An argument wholly inside the input and inside the frame: anything else
 * the machine reports (truncation, an argument across a frame's end). */
static inline int take(plain *w, uint64_t n, const uint8_t **out)
{
    if ((w->frame_end && w->frame_end - w->pos < n) || w->len - w->pos < n)
        return -1;
    *out = w->buf + w->pos;
    w->pos += n;
    return 0;
}

/* A line ending inside the frame, without NUL; *n excludes the '\n'.
 * Number and memo lines are a few bytes: a loop finds their end sooner
 * than two calls to memchr. */
HOT int take_line(plain *w, const uint8_t **line, uint64_t *n)
{
    const uint8_t *start = w->buf + w->pos;
    uint64_t room = (w->frame_end ? w->frame_end : w->len) - w->pos;
    uint64_t short_room = room < 32 ? room : 32;
    const uint8_t *nl = NULL;

    for (uint64_t i = 0; i < short_room; i++) {
        if (start[i] == '\n') {
            nl = start + i;
            break;
        }
        if (start[i] == '\0')
            return -1;
    }
    if (nl == NULL) {
        if (room <= 32 || (nl = memchr(start, '\n', (size_t)room)) == NULL ||
            memchr(start, '\0', (size_t)(nl - start)) != NULL)
            return -1;
    }
    *line = start;
    *n = (uint64_t)(nl - start);
    w->pos += *n + 1;
    return 0;
}

static int take_size(plain *w, int nbytes, uint64_t *size)
{
    const uint8_t *p;

    if (take(w, (uint64_t)nbytes, &p) < 0)
        return -1;
    *size = sp_le_uint(p, nbytes);
    return *size > (uint64_t)INT64_MAX ? -1 : 0;
}

static inline void note_string(plain *w, uint64_t len)
{
    w->string_bytes += len;
    if (len > w->max_string_len)
        w->max_string_len = len;
}

/* str, bytes or bytearray of a counted length, never one that starts like
 * a pickle (the machine would scan it as a nested one). */
HOT int text(plain *w, int nbytes, int vkind)
{
    uint64_t size;
    const uint8_t *p;

    if (take_size(w, nbytes, &size) < 0 || take(w, size, &p) < 0 || size > w->lim->max_string)
        return -1;
    if (sp_text_looks_like_pickle(vkind, p, size))
        return -1;
    if (vkind == SP_V_STR && !sp_utf8_valid(p, (size_t)size, 1))
        return -1;
    note_string(w, size);
    /* nothing after this reads a value of the walk: a hole in it stays
     * unread */
    if (vkind != SP_V_STR && w->reading)
        sp_holes_take(w->lim->holes, w->reading, p, size);
    return push(w, vkind == SP_V_BYTEARRAY ? PK_BYTEARRAY : PK_SCALAR | PK_HASHABLE);
}

static int number_line(plain *w, int op)
{
    const uint8_t *line;
    uint64_t n;
    int ok;

    if (take_line(w, &line, &n) < 0 || n < 1)
        return -1;
    /* a float repr needs no value: the walk keeps none */
    if (op == SP_OP_FLOAT && sp_float_line_is_short_repr(line, (size_t)n))
        return push(w, PK_SCALAR | PK_HASHABLE);
    if (op == SP_OP_FLOAT) {
        sp_floatparse r = sp_parse_float_line(line, (size_t)n);

        ok = r.ok && !r.noncanonical;
    } else {
        sp_intparse r = op == SP_OP_INT ? sp_parse_int_line(line, (size_t)n)
                                        : sp_parse_long_line(line, (size_t)n);

        ok = r.ok && !r.noncanonical;
    }
    return ok ? push(w, PK_SCALAR | PK_HASHABLE) : -1;
}

/* UNICODE: raw-unicode-escape is the identity on ASCII without a
 * backslash; any other line is left to the machine's decoder. */
static int unicode_line(plain *w)
{
    const uint8_t *line;
    uint64_t n;

    if (take_line(w, &line, &n) < 0)
        return -1;
    for (uint64_t i = 0; i < n; i++)
        if (line[i] >= 0x80 || line[i] == '\\')
            return -1;
    note_string(w, n);
    return push(w, PK_SCALAR | PK_HASHABLE);
}

HOT int memo_put(plain *w, uint64_t key)
{
    if (w->sp <= w->fence || w->memo_len >= w->lim->max_memo || key >= SP_MEMO_LOADER_MAX ||
        key > w->memo_len + SP_MEMO_SPARSE_GAP)
        return -1;
    if (key >= w->memo_cap && grow(w, &w->memo, &w->memo_cap, key + 1, w->first_memo) < 0)
        return -1;
    if (w->memo[key] != 0)
        return -1; /* overwritten: an anomaly */
    w->memo[key] = w->stack[w->sp - 1];
    w->memo_len++;
    w->memo_puts++;
    if (key > w->memo_max_index)
        w->memo_max_index = key;
    return 0;
}

static int memo_get(plain *w, uint64_t key)
{
    if (key >= w->memo_cap || w->memo[key] == 0)
        return -1;
    w->memo_gets++;
    return push(w, w->memo[key]);
}

static int index_line(plain *w, uint64_t *key)
{
    const uint8_t *line;
    uint64_t n;
    sp_intparse r;

    if (take_line(w, &line, &n) < 0 || n < 1)
        return -1;
    r = sp_parse_index_line(line, (size_t)n);
    if (!r.ok || r.noncanonical || r.big || r.value < 0)
        return -1;
    *key = (uint64_t)r.value;
    return 0;
}

/* APPEND(S), SETITEM(S), ADDITEMS onto stack[x-1] from stack[x..sp): only
 * the loader's own containers with values they accept. */
static int add_items(plain *w, uint32_t x, uint32_t want, int pairs)
{
    uint32_t target;

    if (x > w->sp || x <= w->fence)
        return -1;
    if (w->sp == x)
        return 0;
    target = w->stack[x - 1];
    if (kind_of(target) != want)
        return -1;
    if (pairs && (w->sp - x) % 2 != 0)
        return -1;
    if (want != PK_LIST && !all_hashable(w, x, pairs ? 2 : 1))
        return -1;
    return fill(w, target, x);
}

/* The machine checks even the empty tuple against the depth cap. */
static int empty_tuple(plain *w)
{
    if (note_depth(w, 1) < 0)
        return -1;
    return push(w, PK_TUPLE | PK_HASHABLE | (1u << PK_SHIFT));
}

HOT int step(plain *w, uint8_t op)
{
    const uint8_t *p;
    uint64_t size, key;
    uint32_t mark;

    switch (op) {
    case SP_OP_NONE:
        return push(w, PK_NONE | PK_HASHABLE);
    case SP_OP_NEWTRUE:
    case SP_OP_NEWFALSE:
        return push(w, PK_SCALAR | PK_HASHABLE);
    case SP_OP_BININT:
    case SP_OP_BININT1:
    case SP_OP_BININT2:
    case SP_OP_BINFLOAT:
        if (take(w,
                 op == SP_OP_BININT    ? 4
                 : op == SP_OP_BININT1 ? 1
                 : op == SP_OP_BININT2 ? 2
                                       : 8,
                 &p) < 0)
            return -1;
        return push(w, PK_SCALAR | PK_HASHABLE);
    case SP_OP_INT:
    case SP_OP_LONG:
    case SP_OP_FLOAT:
        return number_line(w, op);
    case SP_OP_LONG1:
    case SP_OP_LONG4: {
        int n = op == SP_OP_LONG1 ? 1 : 4;
        int64_t count;

        if (take(w, (uint64_t)n, &p) < 0)
            return -1;
        count = (int64_t)sp_le_uint(p, n);
        if (n == 4 && (count & 0x80000000LL))
            return -1; /* negative byte count */
        if (take(w, (uint64_t)count, &p) < 0)
            return -1;
        return push(w, PK_SCALAR | PK_HASHABLE);
    }
    case SP_OP_SHORT_BINBYTES:
        return text(w, 1, SP_V_BYTES);
    case SP_OP_BINBYTES:
        return text(w, 4, SP_V_BYTES);
    case SP_OP_BINBYTES8:
        return text(w, 8, SP_V_BYTES);
    case SP_OP_BYTEARRAY8:
        return text(w, 8, SP_V_BYTEARRAY);
    case SP_OP_SHORT_BINUNICODE:
        return text(w, 1, SP_V_STR);
    case SP_OP_BINUNICODE:
        return text(w, 4, SP_V_STR);
    case SP_OP_BINUNICODE8:
        return text(w, 8, SP_V_STR);
    case SP_OP_UNICODE:
        return unicode_line(w);
    case SP_OP_EMPTY_TUPLE:
        return empty_tuple(w);
    case SP_OP_TUPLE1:
    case SP_OP_TUPLE2:
    case SP_OP_TUPLE3: {
        uint32_t n = op == SP_OP_TUPLE1 ? 1 : op == SP_OP_TUPLE2 ? 2 : 3;

        if (w->sp < n || w->sp - n < w->fence)
            return -1;
        return collect(w, PK_TUPLE, w->sp - n);
    }
    case SP_OP_TUPLE:
        if (marker(w, &mark) < 0)
            return -1;
        if (w->sp == mark)
            return empty_tuple(w);
        return collect(w, PK_TUPLE, mark);
    case SP_OP_LIST:
        if (marker(w, &mark) < 0)
            return -1;
        return collect(w, PK_LIST, mark);
    case SP_OP_DICT:
        if (marker(w, &mark) < 0 || (w->sp - mark) % 2 != 0 || !all_hashable(w, mark, 2))
            return -1;
        return collect(w, PK_DICT, mark);
    case SP_OP_FROZENSET:
        if (marker(w, &mark) < 0 || mark < w->fence || !all_hashable(w, mark, 1))
            return -1;
        return collect(w, PK_FROZENSET, mark);
    case SP_OP_EMPTY_LIST:
    case SP_OP_EMPTY_DICT:
    case SP_OP_EMPTY_SET: {
        uint32_t e;

        if (make(w,
                 op == SP_OP_EMPTY_LIST   ? PK_LIST
                 : op == SP_OP_EMPTY_DICT ? PK_DICT
                                          : PK_SET,
                 1, &e) < 0)
            return -1;
        return push(w, e);
    }
    case SP_OP_APPEND:
        if ((int64_t)w->sp - 1 <= (int64_t)w->fence)
            return -1;
        /* protocol 0 and 1 append item by item: a scalar leaves the
         * list's depth as it was, which the machine counts again */
        if (kind_of(w->stack[w->sp - 2]) == PK_LIST && kind_of(w->stack[w->sp - 1]) <= PK_SCALAR) {
            w->sp--;
            count_depth(w, depth_of(w, w->stack[w->sp - 1])); /* checked when it grew */
            return 0;
        }
        return add_items(w, w->sp - 1, PK_LIST, 0);
    case SP_OP_APPENDS:
        return marker(w, &mark) < 0 ? -1 : add_items(w, mark, PK_LIST, 0);
    case SP_OP_SETITEM:
        if ((int64_t)w->sp - 2 <= (int64_t)w->fence)
            return -1;
        return add_items(w, w->sp - 2, PK_DICT, 1);
    case SP_OP_SETITEMS:
        return marker(w, &mark) < 0 ? -1 : add_items(w, mark, PK_DICT, 1);
    case SP_OP_ADDITEMS:
        return marker(w, &mark) < 0 ? -1 : add_items(w, mark, PK_SET, 0);
    case SP_OP_POP:
        if (w->n_marks > 0 && w->marks[w->n_marks - 1] == w->sp) {
            w->n_marks--;
            w->fence = w->n_marks ? w->marks[w->n_marks - 1] : 0;
            return 0;
        }
        if (w->sp <= w->fence)
            return -1;
        w->sp--;
        return 0;
    case SP_OP_POP_MARK:
        if (marker(w, &mark) < 0)
            return -1;
        w->sp = mark;
        return 0;
    case SP_OP_DUP:
        if (w->sp <= w->fence)
            return -1;
        return push(w, w->stack[w->sp - 1]);
    case SP_OP_MARK:
        if (w->n_marks >= w->lim->max_marks ||
            (w->n_marks >= w->marks_cap &&
             grow(w, &w->marks, &w->marks_cap, (uint64_t)w->n_marks + 1, w->first_marks) < 0))
            return -1;
        w->marks[w->n_marks++] = w->sp;
        w->fence = w->sp;
        if (w->n_marks > w->max_marks)
            w->max_marks = w->n_marks;
        return 0;
    case SP_OP_BINPUT:
    case SP_OP_LONG_BINPUT:
        if (take(w, op == SP_OP_BINPUT ? 1 : 4, &p) < 0)
            return -1;
        return memo_put(w, sp_le_uint(p, op == SP_OP_BINPUT ? 1 : 4));
    case SP_OP_PUT:
        return index_line(w, &key) < 0 ? -1 : memo_put(w, key);
    case SP_OP_MEMOIZE:
        return memo_put(w, w->memo_len);
    case SP_OP_BINGET:
    case SP_OP_LONG_BINGET:
        if (take(w, op == SP_OP_BINGET ? 1 : 4, &p) < 0)
            return -1;
        return memo_get(w, sp_le_uint(p, op == SP_OP_BINGET ? 1 : 4));
    case SP_OP_GET:
        return index_line(w, &key) < 0 ? -1 : memo_get(w, key);
    case SP_OP_PROTO:
        if (w->pos - 1 != w->start || take(w, 1, &p) < 0 || p[0] > SP_HIGHEST_PROTOCOL)
            return -1;
        w->proto = p[0];
        return 0;
    case SP_OP_FRAME:
        if (w->frame_end || take_size(w, 8, &size) < 0 || size == 0 || w->len - w->pos < size)
            return -1;
        w->frame_end = w->pos + size;
        return 0;
    default:
        /* callables, buffers, STRING and BINSTRING (whose decoding depends
         * on the loader's encoding), bytes that are no opcode */
        return -1;
    }
}

/* A heap array, never one that starts in the frame. */
static void release(uint32_t *arr, const uint32_t *first)
{
    if (arr != first)
        free(arr);
}

int sp_plain_run(sp_result *res, const sp_limits *lim, uint64_t offset, sp_stream *st)
{
    sp_result *root = res->root ? res->root : res;
    uint64_t *counts = st->opcode_counts; /* zero: the stream is fresh */
    uint64_t n_ops = 0;
    uint32_t first_stack[FIRST_CAP], first_marks[FIRST_CAP], first_memo[FIRST_CAP],
        first_depths[FIRST_CAP];
    int accepted = 0;
    plain w;
    /* every opcode the walk accepts builds plain data: a loader started
     * early may run it (sp_progress.h) */
    sp_progress *gate =
        sp_progress_gates(lim->progress, res, res->input + offset) ? lim->progress : NULL;

    memset(&w, 0, sizeof(w));
    w.buf = res->input;
    w.len = res->input_len;
    w.start = w.pos = offset;
    w.lim = lim;
    w.reading = sp_holes_begin(lim->holes);
    w.first_stack = first_stack;
    w.first_marks = first_marks;
    w.first_memo = first_memo;
    w.first_depths = first_depths;

    for (;;) {
        uint8_t op;

        if (w.frame_end && w.pos == w.frame_end)
            w.frame_end = 0;
        if (w.pos >= w.len || root->ops_used + n_ops >= lim->max_ops)
            break;
        op = w.buf[w.pos++];
        /* no opcode (0 - 1 wraps), or newer than the declared protocol
         * (PROTO itself never is, as for the machine) */
        if ((uint8_t)(need_plus_one[op] - 1) > (w.proto > 1 ? w.proto : 1) && op != SP_OP_PROTO)
            break;
        counts[sp_opcode_byte_table[op] - 1]++;
        n_ops++;
        if (op == SP_OP_STOP) {
            /* the result alone left on the stack, no MARK open, the frame
             * ended with it */
            accepted = w.sp == 1 && w.n_marks == 0 && w.frame_end <= w.pos;
            break;
        }
        if (step(&w, op) < 0)
            break;
        if (gate != NULL)
            sp_progress_note(gate, w.buf + w.pos);
    }
    release(w.stack, first_stack);
    release(w.marks, first_marks);
    release(w.memo, first_memo);
    release(w.depths, first_depths);
    if (!accepted) {
        /* the machine counts from zero */
        memset(counts, 0, sizeof(st->opcode_counts));
        return 0;
    }

    if (w.reading)
        sp_holes_end(lim->holes, w.reading, w.buf + offset, w.buf + w.pos);
    if (gate != NULL)
        sp_progress_close(gate, w.buf + w.pos - 1); /* before STOP */
    root->ops_used += n_ops;
    root->plain_streams++;
    st->start = offset;
    st->end = w.pos;
    st->end_kind = SP_END_STOP;
    st->proto = st->max_proto = w.proto;
    st->plain = 1;
    st->n_ops = n_ops;
    st->n_frames = (uint32_t)counts[sp_opcode_byte_table[SP_OP_FRAME] - 1];
    st->max_stack_depth = w.max_sp;
    st->max_mark_depth = w.max_marks;
    st->memo_puts = w.memo_puts;
    st->memo_gets = w.memo_gets;
    st->memo_entries = (uint32_t)w.memo_len; /* under max_memo, a 32-bit count */
    st->memo_max_index = w.memo_max_index;
    st->max_container_depth = w.max_depth;
    st->string_bytes = w.string_bytes;
    st->max_string_len = w.max_string_len;
    memset(&st->result, 0, sizeof(st->result)); /* not kept: None */
    return 1;
}
