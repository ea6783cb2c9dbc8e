/* The planning walk of sp_joblib_plan.h.
 *
 * Values are kept only as far as sizing an array needs them: small ints,
 * tuples of them, strings by what they name (a wrapper, a dtype, one of
 * the wrapper's state keys, a dtype descr), numpy dtypes and the
 * wrapper's state dict. Dtypes and dicts are shared by reference, as the
 * unpickler shares them, so a BUILD or SETITEMS after a MEMOIZE reaches
 * the memo's copy too. Everything else is "other". Whatever the walk does
 * not follow ends it: the plan is then what it found so far. */
#include "sp_joblib_plan.h"

#include <stdlib.h>
#include <string.h>

#include "sp_opcodes.h"

#define MAX_STACK 4096u
#define MAX_MARKS 1024u
#define MAX_MEMO (1u << 20)
#define MAX_STORE (1u << 22)
#define MAX_LINE 256u /* a GLOBAL's module or name, an INT line */
#define MAX_TOKEN 64u /* longer strings name nothing the walk follows */
#define MAX_TUPLE 64u /* a shape of more dimensions is not followed */

enum {
    V_UNSET = 0,
    V_OTHER,
    V_INT,
    V_STR,
    V_TUPLE,
    V_WRAPCLS,
    V_DTYPECLS,
    V_RECONS,
    V_DTYPE,
    V_WRAPOBJ,
    V_DICT
};

enum { T_OTHER = 0, T_WRAPMOD, T_WRAPNAME, T_DTYPE, T_SHAPE, T_ALIGN, T_RECONS };

typedef struct jv {
    uint8_t kind;
    uint8_t tok;     /* V_STR: T_* */
    uint8_t has_obj; /* V_STR: a descr naming Python objects */
    uint32_t n;      /* V_TUPLE: items */
    uint32_t ref;    /* V_TUPLE: first item in store; V_DTYPE, V_DICT: table index */
    int64_t i;       /* V_INT: value; V_STR: the descr's item size */
} jv;

typedef struct jdtype {
    uint64_t itemsize;
    int has_obj;
} jdtype;

typedef struct jdict {
    jv shape, dtype;
    int align; /* -1 no key, 0 None, 1 set */
} jdict;

struct sp_jplan {
    uint64_t pos, ops;
    jv *stack;
    uint32_t sp;
    uint32_t *marks;
    uint32_t nmarks;
    jv *memo;
    uint32_t memo_cap;
    uint32_t memo_len; /* entries set: MEMOIZE's index, as len(memo) */
    jv *store;
    uint32_t nstore, store_cap;
    jdtype *dtypes;
    uint32_t ndtypes, dtypes_cap;
    jdict *dicts;
    uint32_t ndicts, dicts_cap;
    int done;
};

sp_jplan *sp_jplan_new(uint64_t max_ops)
{
    sp_jplan *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->stack = malloc(MAX_STACK * sizeof(jv));
    p->marks = malloc(MAX_MARKS * sizeof(uint32_t));
    if (p->stack == NULL || p->marks == NULL) {
        sp_jplan_free(p);
        return NULL;
    }
    p->ops = max_ops;
    return p;
}

void sp_jplan_free(sp_jplan *p)
{
    if (p == NULL)
        return;
    free(p->stack);
    free(p->marks);
    free(p->memo);
    free(p->store);
    free(p->dtypes);
    free(p->dicts);
    free(p);
}

uint64_t sp_jplan_next(const sp_jplan *p)
{
    return p->pos;
}

/* Grows *arr to hold index `want`; 0 past the cap or out of memory. */
static int reserve(void **arr, uint32_t *cap, uint32_t want, size_t item, uint32_t limit)
{
    uint32_t n;
    void *grown;

    if (want < *cap)
        return 1;
    if (want >= limit)
        return 0;
    n = *cap ? *cap : 64;
    while (n <= want)
        n = n > limit / 2 ? limit : n * 2;
    grown = realloc(*arr, (size_t)n * item);
    if (grown == NULL)
        return 0;
    memset((char *)grown + (size_t)*cap * item, 0, (size_t)(n - *cap) * item);
    *arr = grown;
    *cap = n;
    return 1;
}

static int push(sp_jplan *p, jv v)
{
    if (p->sp >= MAX_STACK)
        return 0;
    p->stack[p->sp++] = v;
    return 1;
}

static int push_kind(sp_jplan *p, uint8_t kind)
{
    jv v = {0};

    v.kind = kind;
    return push(p, v);
}

/* The stack height at the top mark, or -1. */
static int64_t mark_base(const sp_jplan *p)
{
    return p->nmarks ? (int64_t)p->marks[p->nmarks - 1] : -1;
}

static int above_mark(const sp_jplan *p, uint32_t n)
{
    uint32_t floor = p->nmarks ? p->marks[p->nmarks - 1] : 0;

    return p->sp >= floor + n;
}

static int is_name(const uint8_t *s, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* What a string names, the way sp_joblib.c reads descrs. */
static jv string_value(const uint8_t *s, size_t n)
{
    jv v = {0};
    size_t i = 0;
    int64_t size = 0;

    v.kind = V_STR;
    if (n > MAX_TOKEN)
        return v;
    if (is_name(s, n, "joblib.numpy_pickle") ||
        is_name(s, n, "sklearn.externals.joblib.numpy_pickle"))
        v.tok = T_WRAPMOD;
    else if (is_name(s, n, "NumpyArrayWrapper"))
        v.tok = T_WRAPNAME;
    else if (is_name(s, n, "dtype"))
        v.tok = T_DTYPE;
    else if (is_name(s, n, "shape"))
        v.tok = T_SHAPE;
    else if (is_name(s, n, "numpy_array_alignment_bytes"))
        v.tok = T_ALIGN;
    else if (is_name(s, n, "_reconstructor"))
        v.tok = T_RECONS;
    while (i < n && s[i] != 0 && strchr("<>|=", s[i]))
        i++;
    if (i < n && s[i] == 'O')
        v.has_obj = 1;
    while (i < n && !(s[i] >= '0' && s[i] <= '9'))
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9' && size < ((int64_t)1 << 40); i++)
        size = size * 10 + (s[i] - '0');
    v.i = size;
    return v;
}

static jv class_value(const jv *module, const jv *name)
{
    jv v = {0};

    v.kind = V_OTHER;
    if (module->kind != V_STR || name->kind != V_STR)
        return v;
    if (module->tok == T_WRAPMOD && name->tok == T_WRAPNAME)
        v.kind = V_WRAPCLS;
    else if (name->tok == T_DTYPE)
        v.kind = V_DTYPECLS;
    else if (name->tok == T_RECONS)
        v.kind = V_RECONS;
    return v;
}

static int new_dict(sp_jplan *p, jv *out)
{
    jdict *d;

    if (!reserve((void **)&p->dicts, &p->dicts_cap, p->ndicts, sizeof(jdict), MAX_STORE))
        return 0;
    d = &p->dicts[p->ndicts];
    memset(d, 0, sizeof(*d));
    d->align = -1;
    memset(out, 0, sizeof(*out));
    out->kind = V_DICT;
    out->ref = p->ndicts++;
    return 1;
}

static void dict_set(sp_jplan *p, const jv *d, const jv *key, const jv *value)
{
    jdict *t;

    if (d->kind != V_DICT || key->kind != V_STR)
        return;
    t = &p->dicts[d->ref];
    if (key->tok == T_SHAPE)
        t->shape = *value;
    else if (key->tok == T_DTYPE)
        t->dtype = *value;
    else if (key->tok == T_ALIGN)
        /* None: no alignment byte; anything else: one */
        t->align = value->kind == V_OTHER && value->i == -1 ? 0 : 1;
}

/* Pops n values into a new tuple. */
static int make_tuple(sp_jplan *p, uint32_t n)
{
    jv v = {0};

    v.kind = V_TUPLE;
    if (n > MAX_TUPLE) {
        p->sp -= n;
        v.kind = V_OTHER;
        return push(p, v);
    }
    if (n && !reserve((void **)&p->store, &p->store_cap, p->nstore + n - 1, sizeof(jv), MAX_STORE))
        return 0;
    if (n) /* the store is still NULL before the first item */
        memcpy(p->store + p->nstore, p->stack + p->sp - n, n * sizeof(jv));
    v.ref = p->nstore;
    v.n = n;
    p->nstore += n;
    p->sp -= n;
    return push(p, v);
}

static int memo_put(sp_jplan *p, uint64_t idx)
{
    if (p->sp == 0 || idx >= MAX_MEMO)
        return 0;
    if (!reserve((void **)&p->memo, &p->memo_cap, (uint32_t)idx, sizeof(jv), MAX_MEMO))
        return 0;
    if (p->memo[idx].kind == V_UNSET)
        p->memo_len++;
    p->memo[idx] = p->stack[p->sp - 1];
    return 1;
}

static int memo_get(sp_jplan *p, uint64_t idx)
{
    if (idx >= p->memo_cap || p->memo[idx].kind == V_UNSET)
        return 0;
    return push(p, p->memo[idx]);
}

static uint64_t le(const uint8_t *b, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* A decimal INT line as the unpickler reads it ("01" is True), or other. */
static jv int_line(const uint8_t *s, size_t n)
{
    jv v = {0};
    size_t i = 0;
    int neg = 0;
    int64_t x = 0;

    v.kind = V_OTHER;
    if (n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1')) {
        v.kind = V_INT;
        v.i = s[1] - '0';
        return v;
    }
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == n || n - i > 18)
        return v;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return v;
        x = x * 10 + (s[i] - '0');
    }
    v.kind = V_INT;
    v.i = neg ? -x : x;
    return v;
}

/* count * itemsize of an array wrapper's state, or 0 when it is not one
 * the walk can size (objects, an unknown dtype or shape). */
static int array_bytes(const sp_jplan *p, const jdict *d, uint64_t *nbytes)
{
    const jdtype *dt;
    uint64_t count = 1;

    if (d->dtype.kind != V_DTYPE || d->shape.kind != V_TUPLE)
        return 0;
    dt = &p->dtypes[d->dtype.ref];
    if (dt->has_obj || dt->itemsize == 0)
        return 0;
    for (uint32_t i = 0; i < d->shape.n; i++) {
        const jv *x = &p->store[d->shape.ref + i];

        if (x->kind != V_INT || x->i < 0)
            return 0;
        if (x->i != 0 && count > UINT64_MAX / (uint64_t)x->i)
            return 0;
        count *= (uint64_t)x->i;
    }
    if (count > UINT64_MAX / dt->itemsize)
        return 0;
    *nbytes = count * dt->itemsize;
    return 1;
}

/* Ways a step ends besides going on. */
enum { GO = 0, STOP_WALK, NEED_MORE, FOUND };

static int pop_to_mark(sp_jplan *p, uint32_t *n)
{
    int64_t base = mark_base(p);

    if (base < 0 || (uint64_t)base > p->sp)
        return 0;
    *n = p->sp - (uint32_t)base;
    p->nmarks--;
    return 1;
}

/* One opcode at p->pos, whose bytes lie in w[0..avail) (w = the window
 * from p->pos on). */
static int step(sp_jplan *p, const uint8_t *w, size_t avail, uint64_t size, uint64_t *start,
                uint64_t *end)
{
    uint8_t op = w[0];
    size_t at = 1; /* bytes this opcode spans so far */
    uint64_t len;
    jv v = {0};
    uint32_t n;

#define NEED(k)                                                                                    \
    do {                                                                                           \
        if (avail < at + (k))                                                                      \
            return p->pos + at + (k) > size ? STOP_WALK : NEED_MORE;                               \
    } while (0)
#define OK(expr)                                                                                   \
    do {                                                                                           \
        if (!(expr))                                                                               \
            return STOP_WALK;                                                                      \
    } while (0)

    switch (op) {
    case SP_OP_PROTO:
    case SP_OP_EXT1:
        NEED(1);
        at += 1;
        if (op == SP_OP_EXT1)
            OK(push_kind(p, V_OTHER));
        break;
    case SP_OP_EXT2:
        NEED(2);
        at += 2;
        OK(push_kind(p, V_OTHER));
        break;
    case SP_OP_EXT4:
        NEED(4);
        at += 4;
        OK(push_kind(p, V_OTHER));
        break;
    case SP_OP_FRAME: /* joblib's data lies between frames, the walk reads on */
        NEED(8);
        at += 8;
        break;
    case SP_OP_STOP:
        p->pos += at;
        return STOP_WALK;
    case SP_OP_MARK:
        OK(p->nmarks < MAX_MARKS);
        p->marks[p->nmarks++] = p->sp;
        break;
    case SP_OP_POP: /* a mark on top goes instead */
        if (p->nmarks && p->marks[p->nmarks - 1] == p->sp)
            p->nmarks--;
        else {
            OK(above_mark(p, 1));
            p->sp--;
        }
        break;
    case SP_OP_POP_MARK:
        OK(pop_to_mark(p, &n));
        p->sp -= n;
        break;
    case SP_OP_DUP:
        OK(above_mark(p, 1));
        OK(push(p, p->stack[p->sp - 1]));
        break;
    case SP_OP_NONE:
        v.kind = V_OTHER;
        v.i = -1; /* None, for the alignment key */
        OK(push(p, v));
        break;
    case SP_OP_NEWTRUE:
    case SP_OP_NEWFALSE:
        v.kind = V_INT;
        v.i = op == SP_OP_NEWTRUE;
        OK(push(p, v));
        break;
    case SP_OP_BININT:
        NEED(4);
        v.kind = V_INT;
        v.i = (int32_t)(uint32_t)le(w + 1, 4);
        at += 4;
        OK(push(p, v));
        break;
    case SP_OP_BININT1:
        NEED(1);
        v.kind = V_INT;
        v.i = w[1];
        at += 1;
        OK(push(p, v));
        break;
    case SP_OP_BININT2:
        NEED(2);
        v.kind = V_INT;
        v.i = (int64_t)le(w + 1, 2);
        at += 2;
        OK(push(p, v));
        break;
    case SP_OP_LONG1:
        NEED(1);
        len = w[1];
        at += 1;
        NEED(len);
        v.kind = V_OTHER;
        if (len >= 1 && len <= 8) {
            uint64_t x = le(w + at, (unsigned)len);

            if (len < 8 && (x >> (8 * len - 1)) & 1)
                x |= ~(uint64_t)0 << (8 * len);
            v.kind = V_INT;
            v.i = (int64_t)x;
        } else if (len == 0) {
            v.kind = V_INT;
        }
        at += len;
        OK(push(p, v));
        break;
    case SP_OP_LONG4:
        NEED(4);
        len = le(w + 1, 4);
        OK(len < (1u << 31));
        at += 4 + len;
        OK(p->pos + at <= size);
        OK(push_kind(p, V_OTHER));
        break;
    case SP_OP_BINFLOAT:
        NEED(8);
        at += 8;
        OK(push_kind(p, V_OTHER));
        break;
    case SP_OP_INT:
    case SP_OP_LONG:
    case SP_OP_FLOAT:
    case SP_OP_PERSID:
    case SP_OP_STRING:
    case SP_OP_UNICODE:
    case SP_OP_GET:
    case SP_OP_PUT: {
        const uint8_t *nl;
        size_t room = avail - 1 < MAX_LINE + 1 ? avail - 1 : MAX_LINE + 1;

        nl = memchr(w + 1, '\n', room);
        if (nl == NULL) {
            /* a line longer than the walk follows, or one the window cut */
            OK(room <= MAX_LINE);
            NEED(room + 1);
        }
        len = (uint64_t)(nl - (w + 1));
        at += len + 1;
        if (op == SP_OP_INT)
            v = int_line(w + 1, len);
        else if (op == SP_OP_STRING && len >= 2 && (w[1] == '\'' || w[1] == '"'))
            v = string_value(w + 2, len - 2);
        else if (op == SP_OP_UNICODE)
            v = string_value(w + 1, len);
        else if (op == SP_OP_GET || op == SP_OP_PUT) {
            jv idx = int_line(w + 1, len);

            OK(idx.kind == V_INT && idx.i >= 0);
            OK(op == SP_OP_GET ? memo_get(p, (uint64_t)idx.i) : memo_put(p, (uint64_t)idx.i));
            break;
        } else {
            v.kind = V_OTHER;
        }
        if (op == SP_OP_PERSID) /* the id line, then persistent_load's result */
            v.kind = V_OTHER;
        OK(push(p, v));
        break;
    }
    case SP_OP_GLOBAL:
    case SP_OP_INST: { /* two lines */
        const uint8_t *nl1, *nl2;
        size_t room = avail - 1 < 2 * MAX_LINE + 2 ? avail - 1 : 2 * MAX_LINE + 2;
        jv mod, name;

        nl1 = memchr(w + 1, '\n', room);
        nl2 = nl1 != NULL ? memchr(nl1 + 1, '\n', room - (size_t)(nl1 + 1 - (w + 1))) : NULL;
        if (nl2 == NULL) {
            OK(room <= 2 * MAX_LINE + 1);
            NEED(room + 1);
        }
        mod = string_value(w + 1, (size_t)(nl1 - (w + 1)));
        name = string_value(nl1 + 1, (size_t)(nl2 - (nl1 + 1)));
        at = (size_t)(nl2 + 1 - w);
        v = class_value(&mod, &name);
        if (op == SP_OP_INST) {
            OK(pop_to_mark(p, &n));
            p->sp -= n;
            v.kind = v.kind == V_WRAPCLS ? V_WRAPOBJ : V_OTHER;
        }
        OK(push(p, v));
        break;
    }
    case SP_OP_BINSTRING:
    case SP_OP_BINUNICODE:
    case SP_OP_BINBYTES:
        NEED(4);
        len = le(w + 1, 4);
        at += 4;
        goto counted;
    case SP_OP_SHORT_BINSTRING:
    case SP_OP_SHORT_BINBYTES:
    case SP_OP_SHORT_BINUNICODE:
        NEED(1);
        len = w[1];
        at += 1;
        goto counted;
    case SP_OP_BINUNICODE8:
    case SP_OP_BINBYTES8:
    case SP_OP_BYTEARRAY8:
        NEED(8);
        len = le(w + 1, 8);
        at += 8;
    counted:
        OK(len <= size && p->pos + at + len <= size);
        if (op == SP_OP_BINSTRING || op == SP_OP_BINUNICODE || op == SP_OP_SHORT_BINSTRING ||
            op == SP_OP_SHORT_BINUNICODE || op == SP_OP_BINUNICODE8) {
            if (len <= MAX_TOKEN) {
                NEED(len);
                v = string_value(w + at, (size_t)len);
            } else {
                v.kind = V_STR;
            }
        } else {
            v.kind = V_OTHER;
        }
        at += len;
        OK(push(p, v));
        break;
    case SP_OP_NEXT_BUFFER:
        OK(push_kind(p, V_OTHER));
        break;
    case SP_OP_READONLY_BUFFER:
        OK(above_mark(p, 1));
        break;
    case SP_OP_EMPTY_LIST:
    case SP_OP_EMPTY_SET:
        OK(push_kind(p, V_OTHER));
        break;
    case SP_OP_EMPTY_DICT:
        OK(new_dict(p, &v));
        OK(push(p, v));
        break;
    case SP_OP_EMPTY_TUPLE:
        OK(make_tuple(p, 0));
        break;
    case SP_OP_TUPLE1:
    case SP_OP_TUPLE2:
    case SP_OP_TUPLE3:
        n = (uint32_t)(op - SP_OP_TUPLE1 + 1);
        OK(above_mark(p, n));
        OK(make_tuple(p, n));
        break;
    case SP_OP_TUPLE:
        OK(pop_to_mark(p, &n));
        OK(make_tuple(p, n));
        break;
    case SP_OP_LIST:
    case SP_OP_FROZENSET:
        OK(pop_to_mark(p, &n));
        p->sp -= n;
        OK(push_kind(p, V_OTHER));
        break;
    case SP_OP_DICT:
        OK(pop_to_mark(p, &n));
        OK(n % 2 == 0);
        OK(new_dict(p, &v));
        for (uint32_t k = p->sp - n; k < p->sp; k += 2)
            dict_set(p, &v, &p->stack[k], &p->stack[k + 1]);
        p->sp -= n;
        OK(push(p, v));
        break;
    case SP_OP_APPEND:
        OK(above_mark(p, 2));
        p->sp--;
        break;
    case SP_OP_APPENDS:
    case SP_OP_ADDITEMS:
        OK(pop_to_mark(p, &n));
        p->sp -= n;
        OK(above_mark(p, 1));
        break;
    case SP_OP_SETITEM:
        OK(above_mark(p, 3));
        dict_set(p, &p->stack[p->sp - 3], &p->stack[p->sp - 2], &p->stack[p->sp - 1]);
        p->sp -= 2;
        break;
    case SP_OP_SETITEMS:
        OK(pop_to_mark(p, &n));
        OK(n % 2 == 0 && above_mark(p, 1 + n));
        for (uint32_t k = p->sp - n; k < p->sp; k += 2)
            dict_set(p, &p->stack[p->sp - n - 1], &p->stack[k], &p->stack[k + 1]);
        p->sp -= n;
        break;
    case SP_OP_STACK_GLOBAL:
        OK(above_mark(p, 2));
        v = class_value(&p->stack[p->sp - 2], &p->stack[p->sp - 1]);
        p->sp -= 2;
        OK(push(p, v));
        break;
    case SP_OP_REDUCE: {
        const jv *fn, *args;

        OK(above_mark(p, 2));
        fn = &p->stack[p->sp - 2];
        args = &p->stack[p->sp - 1];
        v.kind = V_OTHER;
        if (fn->kind == V_DTYPECLS && args->kind == V_TUPLE && args->n >= 1 &&
            p->store[args->ref].kind == V_STR) {
            const jv *descr = &p->store[args->ref];

            OK(reserve((void **)&p->dtypes, &p->dtypes_cap, p->ndtypes, sizeof(jdtype), MAX_STORE));
            p->dtypes[p->ndtypes].itemsize = descr->i > 0 ? (uint64_t)descr->i : 0;
            p->dtypes[p->ndtypes].has_obj = descr->has_obj;
            v.kind = V_DTYPE;
            v.ref = p->ndtypes++;
        } else if (fn->kind == V_RECONS && args->kind == V_TUPLE && args->n >= 1 &&
                   p->store[args->ref].kind == V_WRAPCLS) {
            v.kind = V_WRAPOBJ;
        }
        p->sp -= 2;
        OK(push(p, v));
        break;
    }
    case SP_OP_NEWOBJ:
    case SP_OP_NEWOBJ_EX:
        n = op == SP_OP_NEWOBJ ? 2 : 3;
        OK(above_mark(p, n));
        v.kind = p->stack[p->sp - n].kind == V_WRAPCLS ? V_WRAPOBJ : V_OTHER;
        p->sp -= n;
        OK(push(p, v));
        break;
    case SP_OP_OBJ: /* the class is the mark's first item */
        OK(pop_to_mark(p, &n));
        OK(n >= 1);
        v.kind = p->stack[p->sp - n].kind == V_WRAPCLS ? V_WRAPOBJ : V_OTHER;
        p->sp -= n;
        OK(push(p, v));
        break;
    case SP_OP_BINPERSID:
        OK(above_mark(p, 1));
        p->stack[p->sp - 1].kind = V_OTHER;
        break;
    case SP_OP_BUILD: {
        jv *inst, *state;

        OK(above_mark(p, 2));
        inst = &p->stack[p->sp - 2];
        state = &p->stack[p->sp - 1];
        if (inst->kind == V_DTYPE && state->kind == V_TUPLE && state->n >= 8) {
            jdtype *dt = &p->dtypes[inst->ref];
            const jv *elsize = &p->store[state->ref + 5], *flags = &p->store[state->ref + 7];

            if (elsize->kind == V_INT && elsize->i > 0)
                dt->itemsize = (uint64_t)elsize->i;
            if (flags->kind == V_INT && (flags->i & 1))
                dt->has_obj = 1;
        } else if (inst->kind == V_WRAPOBJ) {
            const jdict *d;
            uint64_t nbytes, data;

            OK(state->kind == V_DICT);
            d = &p->dicts[state->ref];
            OK(array_bytes(p, d, &nbytes));
            data = p->pos + at;
            if (d->align == 1) {
                /* one byte giving the padding, then the padding */
                NEED(1);
                data += 1 + w[at];
            }
            OK(data <= size && nbytes <= size - data);
            p->sp--;
            inst->kind = V_OTHER; /* the unpickler puts the array there */
            *start = data;
            *end = data + nbytes;
            p->pos = data + nbytes;
            return FOUND;
        }
        p->sp--;
        break;
    }
    case SP_OP_BINGET:
    case SP_OP_BINPUT:
        NEED(1);
        OK(op == SP_OP_BINGET ? memo_get(p, w[1]) : memo_put(p, w[1]));
        at += 1;
        break;
    case SP_OP_LONG_BINGET:
    case SP_OP_LONG_BINPUT:
        NEED(4);
        OK(op == SP_OP_LONG_BINGET ? memo_get(p, le(w + 1, 4)) : memo_put(p, le(w + 1, 4)));
        at += 4;
        break;
    case SP_OP_MEMOIZE:
        OK(memo_put(p, p->memo_len));
        break;
    default:
        return STOP_WALK;
    }
    p->pos += at;
    return GO;
#undef NEED
#undef OK
}

sp_jplan_end sp_jplan_walk(sp_jplan *p, const uint8_t *window, size_t len, uint64_t base,
                           uint64_t size, uint64_t *start, uint64_t *end)
{
    if (p->done || p->pos < base || p->pos - base > len)
        return SP_JPLAN_DONE;
    while (p->pos < size) {
        uint64_t off = p->pos - base;
        int how;

        if (off >= len)
            return SP_JPLAN_MORE;
        if (p->ops == 0)
            break;
        p->ops--;
        how = step(p, window + off, len - (size_t)off, size, start, end);
        if (how == FOUND)
            return SP_JPLAN_ARRAY;
        if (how == NEED_MORE) {
            p->ops++;
            /* an opcode the window cut: again from its start, unless the
             * window already began there and it did not fit */
            if (off == 0)
                break;
            return SP_JPLAN_MORE;
        }
        if (how == STOP_WALK)
            break;
    }
    p->done = 1;
    return SP_JPLAN_DONE;
}
