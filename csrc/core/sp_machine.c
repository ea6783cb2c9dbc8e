/* The pickle machine: runs one pickle stream symbolically.
 *
 * Every opcode does to the symbolic stack, mark stack and memo what
 * CPython 3.11's _pickle.c does to the real ones, including its fences
 * (objects below the newest MARK are out of reach), its acceptance of odd
 * number lines, and the order in which it checks things. Where the real
 * unpickler would call into an object the file chose (find_class, REDUCE,
 * BUILD, APPEND on a non-list, ...) the machine records an event instead.
 *
 * The world modelled is that of a recording unpickler: globals are opaque
 * callable types and calls return opaque callable objects. When that world
 * raises but reality might not (REDUCE arguments that are a call result),
 * the machine records that it is speculating and goes on, so that what
 * follows is still seen. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sp_bytes.h"
#include "sp_capability.h"
#include "sp_compat.h"
#include "sp_holes.h"
#include "sp_machine_internal.h"
#include "sp_progress.h"
#include "sp_semantic.h"
#include "sp_text.h"

enum { CHECK_OK = 0, CHECK_MAYBE = 1, CHECK_FAIL = 2 };

#define SP_TRY(expr)                                                                               \
    do {                                                                                           \
        if ((expr) < 0)                                                                            \
            return -1;                                                                             \
    } while (0)

/* ---- ending a stream -------------------------------------------------- */

static int end_stream(sp_machine *m, uint8_t kind, const char *message)
{
    sp_stream *st = m->st;

    if (m->done)
        return -1;
    st->end_kind = kind;
    st->end = m->op_off;
    st->error_offset = m->op_off;
    snprintf(st->error, sizeof(st->error), "%s", message);
    m->done = 1;
    return -1;
}

static int fail(sp_machine *m, const char *fmt, ...)
{
    char message[SP_ERROR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    return end_stream(m, SP_END_ERROR, message);
}

static int add_anomaly(sp_machine *m, int code, const char *fmt, ...);
static void speculate(sp_machine *m, const char *why);
static int is_add_extension(const sp_machine *m, const sp_slot *v);

static int truncated(sp_machine *m)
{
    add_anomaly(m, SP_AN_TRUNCATED, NULL);
    return end_stream(m, SP_END_TRUNCATED, "pickle data was truncated");
}

static int limit(sp_machine *m, const char *fmt, ...)
{
    va_list ap;
    sp_result *root = m->root;
    char detail[SP_ERROR_MAX];

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (!root->limit_hit) {
        root->limit_hit = 1;
        snprintf(root->limit_detail, sizeof(root->limit_detail), "%s", detail);
    }
    m->res->limit_hit = 1; /* after the root: for the top level they are one */
    add_anomaly(m, SP_AN_LIMIT, "%s", detail);
    return end_stream(m, SP_END_LIMIT, detail);
}

/* The arena refused: the scan goes on being reported, as a limit. */
static int out_of_memory(sp_machine *m)
{
    return limit(m, "memory cap of %llu bytes reached", (unsigned long long)m->lim->max_alloc);
}

int sp_machine_fail(sp_machine *m, const char *message)
{
    return end_stream(m, SP_END_ERROR, message);
}

int sp_machine_truncated(sp_machine *m)
{
    return truncated(m);
}

void sp_machine_anomaly(sp_machine *m, int code, const char *detail)
{
    if (detail != NULL)
        add_anomaly(m, code, "%s", detail);
    else
        add_anomaly(m, code, NULL);
}

static int underflow(sp_machine *m)
{
    add_anomaly(m, SP_AN_STACK_UNDERFLOW, NULL);
    return fail(m, m->n_marks ? "unexpected MARK found" : "unpickling stack underflow");
}

/* ---- events ----------------------------------------------------------- */

static int events_full(sp_machine *m)
{
    sp_stream *st = m->st;

    return (uint64_t)st->n_globals + st->n_calls + st->n_anomalies >= m->lim->max_events;
}

void sp_stream_add_anomaly(sp_arena *arena, sp_stream *st, int code, uint64_t offset,
                           const char *detail, uint32_t max_events)
{
    sp_anomaly *a;

    st->anomaly_counts[code]++;
    /* repeated anomalies of one kind are counted, not listed, past a few */
    if (st->anomaly_counts[code] > 16 ||
        (uint64_t)st->n_globals + st->n_calls + st->n_anomalies >= max_events)
        return;
    if (sp_arena_grow(arena, (void **)&st->anomalies, &st->anomalies_cap, st->n_anomalies + 1,
                      sizeof(sp_anomaly)) < 0)
        return;
    a = &st->anomalies[st->n_anomalies++];
    a->code = (uint16_t)code;
    a->offset = offset;
    a->detail = detail != NULL ? sp_arena_strndup(arena, detail, strlen(detail)) : NULL;
}

static int add_anomaly(sp_machine *m, int code, const char *fmt, ...)
{
    char buf[SP_ERROR_MAX];

    if (fmt != NULL) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
    }
    sp_stream_add_anomaly(m->arena, m->st, code, m->op_off, fmt != NULL ? buf : NULL,
                          m->lim->max_events);
    return 0;
}

static void speculate(sp_machine *m, const char *why)
{
    sp_stream *st = m->st;

    if (!st->speculative) {
        st->speculative = 1;
        st->speculative_offset = m->op_off;
    }
    add_anomaly(m, SP_AN_SPECULATIVE, "%s", why);
}

static void mark_used(sp_machine *m, const sp_slot *v)
{
    if (v->kind == SP_V_RESULT && v->ref < m->st->n_calls)
        m->st->calls[v->ref].flags |= SP_CF_USED;
}

/* Records a call; takes ownership of callee, args and kwargs references.
 * *result is the slot the call returns. */
static int record_call(sp_machine *m, uint8_t kind, sp_slot callee, sp_slot args, sp_slot kwargs,
                       uint8_t flags, sp_slot *result)
{
    sp_stream *st = m->st;
    sp_call *c;

    if (events_full(m)) {
        sp_slot_decref(m, &callee);
        sp_slot_decref(m, &args);
        sp_slot_decref(m, &kwargs);
        return limit(m, "more than %u events in one pickle", m->lim->max_events);
    }
    if (sp_arena_grow_outside(m->arena, (void **)&st->calls, &st->calls_cap, st->n_calls + 1,
                              sizeof(sp_call)) < 0) {
        sp_slot_decref(m, &callee);
        sp_slot_decref(m, &args);
        sp_slot_decref(m, &kwargs);
        return out_of_memory(m);
    }
    mark_used(m, &callee);
    mark_used(m, &args);
    mark_used(m, &kwargs);
    if (callee.kind == SP_V_RESULT &&
        (kind == SP_CALL_REDUCE || kind == SP_CALL_NEWOBJ || kind == SP_CALL_NEWOBJ_EX ||
         kind == SP_CALL_INST || kind == SP_CALL_OBJ))
        add_anomaly(m, SP_AN_CALL_ON_RESULT, "call %u", (unsigned)callee.ref);
    c = &st->calls[st->n_calls];
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->flags = flags | (st->speculative ? SP_CF_SPECULATIVE : 0);
    c->opcode = (uint8_t)m->op_index;
    c->index = st->n_calls;
    c->offset = m->op_off;
    c->callee = callee;
    c->args = args;
    c->kwargs = kwargs;
    if (result != NULL) {
        memset(result, 0, sizeof(*result));
        result->kind = SP_V_RESULT;
        result->ref = st->n_calls;
    }
    st->n_calls++;
    return 0;
}

/* Slots are built as whole initialisers rather than field by field into a
 * zeroed copy: the compiler then stores them straight into the stack,
 * where a copy of a partly byte-written temporary stalls on store
 * forwarding. */
static inline sp_slot none_slot(void)
{
    return (sp_slot){.kind = SP_V_NONE};
}

/* ---- reading the input ------------------------------------------------ */

/* An argument that runs past the end of its frame is read differently by
 * each loader: pickle.loads reads on through the buffer; _pickle reading a
 * file refills its buffer from the file, dropping what was left of the
 * frame, and reads the whole argument from the frame's end; pickle.py
 * raises. The primary reading is the file one; the others are scanned as
 * alternates. Benign picklers never do this. Returns -1 when the reading
 * fails here. */
static int straddle(sp_machine *m)
{
    add_anomaly(m, SP_AN_FRAME_MISUSE, "argument crosses the end of its frame");
    m->st->alternates |= SP_MODE_BUFFER | SP_MODE_PYTHON;
    if (m->res->mode & SP_MODE_PYTHON)
        return fail(m, "pickle exhausted before end of frame");
    if (!(m->res->mode & SP_MODE_BUFFER))
        m->pos = m->frame_end;
    m->frame_end = 0;
    return 0;
}

static int read_bytes_slow(sp_machine *m, uint64_t n, const uint8_t **out)
{
    if (m->frame_end && m->pos < m->frame_end && m->frame_end - m->pos < n)
        SP_TRY(straddle(m));
    if (m->len - m->pos < n)
        return truncated(m);
    *out = m->buf + m->pos;
    m->pos += n;
    return 0;
}

/* Inlined where the argument lies inside its frame and the input: every
 * opcode with an argument comes through here. */
static inline int read_bytes(sp_machine *m, uint64_t n, const uint8_t **out)
{
    if ((m->frame_end == 0 || m->frame_end - m->pos >= n) && m->len - m->pos >= n) {
        *out = m->buf + m->pos;
        m->pos += n;
        return 0;
    }
    return read_bytes_slow(m, n, out);
}

/* A line as _Unpickler_Readline returns it: *len counts the '\n'. */
static int read_line(sp_machine *m, const uint8_t **line, uint64_t *len)
{
    const uint8_t *start = m->buf + m->pos;
    const uint8_t *nl;

    if (m->frame_end && m->pos < m->frame_end &&
        memchr(start, '\n', (size_t)(m->frame_end - m->pos)) == NULL) {
        SP_TRY(straddle(m));
        start = m->buf + m->pos;
    }
    nl = memchr(start, '\n', (size_t)(m->len - m->pos));
    if (nl == NULL)
        return truncated(m);
    *line = start;
    *len = (uint64_t)(nl - start) + 1;
    m->pos += *len;
    if (memchr(start, '\0', (size_t)(*len - 1)) != NULL)
        add_anomaly(m, SP_AN_NUL_IN_LINE, NULL);
    return 0;
}

static int bad_readline(sp_machine *m)
{
    return fail(m, "pickle data was truncated");
}

/* calc_binsize: lengths above PY_SSIZE_T_MAX are refused. */
static int read_size(sp_machine *m, int nbytes, uint64_t *size, const char *what)
{
    const uint8_t *p;

    SP_TRY(read_bytes(m, (uint64_t)nbytes, &p));
    *size = sp_le_uint(p, nbytes);
    if (*size > (uint64_t)INT64_MAX)
        return fail(m, "%s exceeds system's maximum size of 9223372036854775807 bytes", what);
    return 0;
}

/* ---- the stack -------------------------------------------------------- */

static int push_slow(sp_machine *m, sp_slot v)
{
    if (m->sp >= m->stack_cap) {
        if (m->sp >= m->lim->max_stack) {
            sp_slot_decref(m, &v);
            return limit(m, "stack deeper than %u", m->lim->max_stack);
        }
        if (sp_arena_grow(m->arena, (void **)&m->stack, &m->stack_cap, m->sp + 1, sizeof(sp_slot)) <
            0) {
            sp_slot_decref(m, &v);
            return out_of_memory(m);
        }
    }
    m->stack[m->sp++] = v;
    if (m->sp > m->st->max_stack_depth)
        m->st->max_stack_depth = m->sp;
    return 0;
}

/* The common case inlined: room on the stack. */
static inline int push(sp_machine *m, sp_slot v)
{
    if (m->sp < m->stack_cap) {
        sp_slot_copy(&m->stack[m->sp++], &v);
        if (m->sp > m->st->max_stack_depth)
            m->st->max_stack_depth = m->sp;
        return 0;
    }
    return push_slow(m, v);
}

/* The new top slot when there is room, for pushes that write a scalar's
 * fields in place; NULL when push_slow must grow the stack. */
static inline sp_slot *push_room(sp_machine *m)
{
    sp_slot *top;

    if (m->sp >= m->stack_cap)
        return NULL;
    top = &m->stack[m->sp++];
    if (m->sp > m->st->max_stack_depth)
        m->st->max_stack_depth = m->sp;
    return top;
}

/* PDATA_POP: ownership of the popped reference passes to the caller. */
static int pop(sp_machine *m, sp_slot *out)
{
    if (m->sp <= m->fence)
        return underflow(m);
    sp_slot_copy(out, &m->stack[--m->sp]);
    return 0;
}

/* Pdata_clear(start): drop everything from start up. */
static void clear_from(sp_machine *m, uint32_t start)
{
    while (m->sp > start) {
        m->sp--;
        sp_slot_decref(m, &m->stack[m->sp]);
    }
}

static int marker(sp_machine *m, uint32_t *mark)
{
    if (m->n_marks < 1)
        return fail(m, "could not find MARK");
    *mark = m->marks[--m->n_marks];
    m->fence = m->n_marks ? m->marks[m->n_marks - 1] : 0;
    return 0;
}

/* Container depth is tracked as items go in; the cap keeps every later
 * walk over a value (reporting, features) shallow. */
static int check_depth(sp_machine *m, const sp_obj *obj)
{
    if (obj->depth > m->st->max_container_depth)
        m->st->max_container_depth = obj->depth;
    if (obj->depth > m->lim->max_depth)
        return limit(m, "containers nested deeper than %llu",
                     (unsigned long long)m->lim->max_depth);
    return 0;
}

/* A new container made of stack[start..sp), which are popped into it. A
 * tuple fails when start lies below the fence, as Pdata_poptuple does. */
static int pop_into_obj(sp_machine *m, uint8_t kind, uint32_t start, sp_obj **out)
{
    sp_obj *obj;

    *out = NULL;
    if (kind == SP_V_TUPLE && start < m->fence)
        return underflow(m);
    obj = sp_obj_new(m, kind, m->op_off);
    if (obj == NULL)
        return out_of_memory(m);
    for (uint32_t i = start; i < m->sp; i++) {
        mark_used(m, &m->stack[i]);
        if (sp_obj_append(m, obj, &m->stack[i]) < 0) {
            /* items not yet moved are still owned by the stack */
            m->stack[i].kind = SP_V_NONE;
            clear_from(m, start);
            sp_slot none = {0};
            none.kind = kind;
            none.u.obj = obj;
            sp_slot_decref(m, &none);
            return out_of_memory(m);
        }
        m->stack[i].kind = SP_V_NONE; /* moved */
    }
    m->sp = start;
    *out = obj;
    return check_depth(m, obj);
}

static sp_slot make_container(sp_obj *obj)
{
    sp_slot s;

    memset(&s, 0, sizeof(s));
    s.kind = obj->kind;
    s.u.obj = obj;
    return s;
}

/* As push_number: the slot is written in place, not copied from a
 * temporary. */
static int push_container(sp_machine *m, sp_obj *obj)
{
    sp_slot *top = push_room(m);

    if (top == NULL)
        return push_slow(m, make_container(obj));
    top->kind = obj->kind;
    top->flags = 0;
    top->reserved = 0;
    top->ref = 0;
    top->u.obj = obj;
    top->len = 0;
    return 0;
}

/* pop_into_obj for callers that hold the container as a slot. */
static int pop_into(sp_machine *m, uint8_t kind, uint32_t start, sp_slot *out)
{
    sp_obj *obj;
    int r = pop_into_obj(m, kind, start, &obj);

    if (obj != NULL)
        *out = make_container(obj);
    return r;
}

/* TUPLE, LIST, DICT and their kin: the new container replaces its items
 * on the stack. */
static int collect(sp_machine *m, uint8_t kind, uint32_t start)
{
    sp_obj *obj;

    SP_TRY(pop_into_obj(m, kind, start, &obj));
    return push_container(m, obj);
}

/* ---- values ----------------------------------------------------------- */

static void note_string(sp_machine *m, uint64_t len)
{
    m->st->string_bytes += len;
    if (len > m->st->max_string_len)
        m->st->max_string_len = len;
}

static int string_too_long(sp_machine *m, uint64_t size)
{
    if (size > m->lim->max_string)
        return limit(m, "string of %llu bytes exceeds the cap of %llu", (unsigned long long)size,
                     (unsigned long long)m->lim->max_string);
    return 0;
}

static int push_text(sp_machine *m, uint8_t kind, const uint8_t *p, uint64_t len, uint8_t flags)
{
    sp_slot *top;

    note_string(m, len);
    if (sp_text_looks_like_pickle(kind, p, len))
        flags |= SP_VF_PICKLE_LIKE;
    top = push_room(m);
    if (top == NULL)
        return push_slow(m, (sp_slot){.kind = kind, .flags = flags, .u = {.p = p}, .len = len});
    top->kind = kind;
    top->flags = flags;
    top->reserved = 0;
    top->ref = 0;
    top->u.p = p;
    top->len = len;
    return 0;
}

/* A number's fields written into the new top slot one by one: a slot
 * built whole in a temporary and then copied is read back with one wide
 * load across several narrow stores, which stalls on store forwarding
 * (a quarter of the machine's time on a pickle of floats). */
static int push_number(sp_machine *m, uint8_t kind, int64_t i, double f)
{
    sp_slot *top = push_room(m);

    if (top == NULL) {
        sp_slot s = none_slot();

        s.kind = kind;
        if (kind == SP_V_FLOAT)
            s.u.f = f;
        else
            s.u.i = i;
        return push_slow(m, s);
    }
    top->kind = kind;
    top->flags = 0;
    top->reserved = 0;
    top->ref = 0;
    if (kind == SP_V_FLOAT)
        top->u.f = f;
    else
        top->u.i = i;
    top->len = 0;
    return 0;
}

static int push_int(sp_machine *m, int64_t v)
{
    return push_number(m, SP_V_INT, v, 0.0);
}

static int push_float(sp_machine *m, double f)
{
    return push_number(m, SP_V_FLOAT, 0, f);
}

static int push_intparse(sp_machine *m, sp_intparse r, const uint8_t *text, uint64_t text_len)
{
    sp_slot s = none_slot();

    if (r.noncanonical)
        add_anomaly(m, SP_AN_NONCANONICAL_NUMBER, NULL);
    if (!r.big)
        return push_number(m, r.is_bool ? SP_V_BOOL : SP_V_INT, r.is_bool ? r.value != 0 : r.value,
                           0.0);
    s.kind = SP_V_BIGINT;
    s.u.p = text;
    s.len = text_len;
    return push(m, s);
}

/* A str value as UTF-8 text: names for STACK_GLOBAL. */
static int slot_is_str(const sp_slot *s)
{
    return s->kind == SP_V_STR;
}

/* ---- globals ---------------------------------------------------------- */

static int make_name(sp_machine *m, sp_name *out, const void *p, size_t n)
{
    out->ptr = sp_arena_strndup(m->arena, (const char *)p, n);
    out->len = (uint32_t)n;
    if (out->ptr == NULL)
        return out_of_memory(m);
    return 0;
}

/* find_class(module, name): records the global and pushes it. */
static int resolve_global(sp_machine *m, const uint8_t *mod, size_t mod_len, const uint8_t *name,
                          size_t name_len, uint16_t flags, int32_t ext_code, sp_slot *out)
{
    sp_stream *st = m->st;
    sp_global *g;
    const char *new_module = NULL, *new_name = NULL;

    if (events_full(m))
        return limit(m, "more than %u events in one pickle", m->lim->max_events);
    if (mod_len > UINT32_MAX / 2 || name_len > UINT32_MAX / 2)
        return limit(m, "global name too long");
    if (sp_arena_grow(m->arena, (void **)&st->globals, &st->globals_cap, st->n_globals + 1,
                      sizeof(sp_global)) < 0)
        return out_of_memory(m);
    g = &st->globals[st->n_globals];
    memset(g, 0, sizeof(*g));
    SP_TRY(make_name(m, &g->raw_module, mod, mod_len));
    SP_TRY(make_name(m, &g->raw_name, name, name_len));
    g->module = g->raw_module;
    g->name = g->raw_name;
    if (m->proto < 3 && !(flags & SP_GF_COMPUTED) &&
        sp_compat_map((const char *)mod, mod_len, (const char *)name, name_len, &new_module,
                      &new_name)) {
        flags |= SP_GF_COMPAT;
        g->module.ptr = new_module;
        g->module.len = (uint32_t)strlen(new_module);
        if (new_name != NULL) {
            g->name.ptr = new_name;
            g->name.len = (uint32_t)strlen(new_name);
        }
        add_anomaly(m, SP_AN_COMPAT_RENAME, "%s.%s", g->raw_module.ptr, g->raw_name.ptr);
    }
    if (!(flags & SP_GF_COMPUTED) && memchr(name, '.', name_len) != NULL) {
        if (m->proto >= 4) {
            flags |= SP_GF_DOTTED;
            add_anomaly(m, SP_AN_DOTTED_NAME, "%s.%s", g->module.ptr, g->name.ptr);
        } else {
            flags |= SP_GF_INVALID;
            add_anomaly(m, SP_AN_BAD_NAME, "dotted name below protocol 4");
        }
    }
    if (!(flags & SP_GF_COMPUTED) && m->proto >= 4 && name_len >= 8) {
        for (size_t i = 0; i + 8 <= name_len; i++)
            if (memcmp(name + i, "<locals>", 8) == 0) {
                flags |= SP_GF_INVALID;
                add_anomaly(m, SP_AN_BAD_NAME, "<locals> in a dotted name");
                break;
            }
    }
    if (st->speculative)
        flags |= SP_GF_SPECULATIVE;
    g->flags = flags;
    g->offset = m->op_off;
    g->opcode = (uint8_t)m->op_index;
    g->proto = m->proto;
    g->ext_code = ext_code;
    memset(out, 0, sizeof(*out));
    out->kind = SP_V_GLOBAL;
    out->ref = st->n_globals;
    st->n_globals++;
    return 0;
}

static int load_global(sp_machine *m)
{
    const uint8_t *mod, *name;
    uint64_t mod_len, name_len;
    sp_slot g;

    SP_TRY(read_line(m, &mod, &mod_len));
    if (mod_len < 2)
        return bad_readline(m);
    if (!sp_utf8_valid(mod, mod_len - 1, 0)) {
        add_anomaly(m, SP_AN_DECODE_ERROR, NULL);
        return fail(m, "'utf-8' codec can't decode the GLOBAL module name");
    }
    SP_TRY(read_line(m, &name, &name_len));
    if (name_len < 2)
        return bad_readline(m);
    if (!sp_utf8_valid(name, name_len - 1, 0)) {
        add_anomaly(m, SP_AN_DECODE_ERROR, NULL);
        return fail(m, "'utf-8' codec can't decode the GLOBAL name");
    }
    SP_TRY(resolve_global(m, mod, mod_len - 1, name, name_len - 1, 0, 0, &g));
    return push(m, g);
}

static int load_stack_global(sp_machine *m)
{
    sp_slot name, mod, g;
    int ok;

    SP_TRY(pop(m, &name));
    if (pop(m, &mod) < 0) {
        sp_slot_decref(m, &name);
        return -1;
    }
    mark_used(m, &name);
    mark_used(m, &mod);
    ok = slot_is_str(&mod) && slot_is_str(&name);
    if (ok) {
        uint16_t flags = 0;

        if ((mod.flags | name.flags) & SP_VF_FROM_MEMO)
            flags |= SP_GF_NAME_FROM_MEMO;
        if (resolve_global(m, mod.u.p, (size_t)mod.len, name.u.p, (size_t)name.len, flags, 0, &g) <
            0)
            return -1;
        return push(m, g);
    }
    /* The recording world needs exact str objects; a call result could be
     * one in reality, anything else cannot. */
    if ((sp_kind_is_opaque(mod.kind) || slot_is_str(&mod)) &&
        (sp_kind_is_opaque(name.kind) || slot_is_str(&name))) {
        speculate(m, "STACK_GLOBAL on computed names");
        add_anomaly(m, SP_AN_COMPUTED_GLOBAL, NULL);
        const char *mtext = slot_is_str(&mod) ? (const char *)mod.u.p : "?";
        size_t mlen = slot_is_str(&mod) ? (size_t)mod.len : 1;
        const char *ntext = slot_is_str(&name) ? (const char *)name.u.p : "?";
        size_t nlen = slot_is_str(&name) ? (size_t)name.len : 1;
        SP_TRY(resolve_global(m, (const uint8_t *)mtext, mlen, (const uint8_t *)ntext, nlen,
                              SP_GF_COMPUTED, 0, &g));
        return push(m, g);
    }
    sp_slot_decref(m, &name);
    sp_slot_decref(m, &mod);
    add_anomaly(m, SP_AN_TYPE_ERROR, "STACK_GLOBAL");
    return fail(m, "STACK_GLOBAL requires str");
}

static int load_inst(sp_machine *m)
{
    uint32_t mark;
    const uint8_t *mod, *name;
    uint64_t mod_len, name_len;
    sp_slot cls, args, result;

    if (m->n_marks == 0) {
        /* _pickle fails here; pickle.py reads the names and calls
         * find_class (an import) before it looks for the MARK. */
        if (read_line(m, &mod, &mod_len) == 0 && mod_len >= 2 &&
            read_line(m, &name, &name_len) == 0 && name_len >= 2 &&
            sp_ascii_valid(mod, mod_len - 1) && sp_ascii_valid(name, name_len - 1)) {
            speculate(m, "INST without MARK: pickle.py resolves the global first");
            SP_TRY(resolve_global(m, mod, mod_len - 1, name, name_len - 1, 0, 0, &cls));
        }
        m->done = 0;
        return fail(m, "could not find MARK");
    }
    SP_TRY(marker(m, &mark));
    SP_TRY(read_line(m, &mod, &mod_len));
    if (mod_len < 2)
        return bad_readline(m);
    if (!sp_ascii_valid(mod, mod_len - 1)) {
        add_anomaly(m, SP_AN_DECODE_ERROR, NULL);
        return fail(m, "'ascii' codec can't decode the INST module name");
    }
    SP_TRY(read_line(m, &name, &name_len));
    if (name_len < 2)
        return bad_readline(m);
    if (!sp_ascii_valid(name, name_len - 1)) {
        add_anomaly(m, SP_AN_DECODE_ERROR, NULL);
        return fail(m, "'ascii' codec can't decode the INST class name");
    }
    SP_TRY(resolve_global(m, mod, mod_len - 1, name, name_len - 1, 0, 0, &cls));
    SP_TRY(pop_into(m, SP_V_TUPLE, mark, &args));
    SP_TRY(record_call(m, SP_CALL_INST, cls, args, none_slot(), 0, &result));
    return push(m, result);
}

/* ---- calls ------------------------------------------------------------ */

/* Can v be called? Globals and call results are callable in the recording
 * world; constants never are. */
static int check_callable(const sp_slot *v)
{
    if (v->kind == SP_V_GLOBAL || v->kind == SP_V_RESULT)
        return CHECK_OK;
    return CHECK_FAIL;
}

/* _pickle insists on a tuple of arguments; pickle.py (which joblib's
 * unpickler subclasses) spreads any iterable with func(*args). */
static int check_tuple(const sp_slot *v)
{
    switch (v->kind) {
    case SP_V_TUPLE:
        return CHECK_OK;
    case SP_V_NONE:
    case SP_V_BOOL:
    case SP_V_INT:
    case SP_V_BIGINT:
    case SP_V_FLOAT:
        return CHECK_FAIL;
    default:
        return CHECK_MAYBE;
    }
}

static int load_reduce(sp_machine *m)
{
    sp_slot args, callee, result;
    int c1, c2;

    SP_TRY(pop(m, &args));
    if (pop(m, &callee) < 0) {
        sp_slot_decref(m, &args);
        return -1;
    }
    c1 = check_tuple(&args);
    c2 = check_callable(&callee);
    if (c1 == CHECK_FAIL || c2 == CHECK_FAIL) {
        sp_slot_decref(m, &args);
        sp_slot_decref(m, &callee);
        add_anomaly(m, SP_AN_TYPE_ERROR, "REDUCE");
        return fail(m, c1 == CHECK_FAIL ? "argument list must be a tuple"
                                        : "REDUCE callable is not callable");
    }
    if (c1 == CHECK_MAYBE)
        speculate(m, sp_kind_is_opaque(args.kind)
                         ? "REDUCE arguments are a call result"
                         : "REDUCE arguments are not a tuple: _pickle raises, pickle.py calls");
    SP_TRY(record_call(m, SP_CALL_REDUCE, callee, args, none_slot(),
                       c1 == CHECK_MAYBE ? SP_CF_ARGS_UNKNOWN : 0, &result));
    return push(m, result);
}

static int load_newobj(sp_machine *m, int use_kwargs)
{
    sp_slot kwargs = none_slot(), args, cls, result;
    int cc, ca, ck = CHECK_OK;
    const char *name = use_kwargs ? "NEWOBJ_EX" : "NEWOBJ";

    if (use_kwargs)
        SP_TRY(pop(m, &kwargs));
    if (pop(m, &args) < 0) {
        sp_slot_decref(m, &kwargs);
        return -1;
    }
    if (pop(m, &cls) < 0) {
        sp_slot_decref(m, &kwargs);
        sp_slot_decref(m, &args);
        return -1;
    }
    /* PyType_Check(cls): a global is a type in the recording world; a
     * call result is an instance there but may be a class in reality. */
    cc = cls.kind == SP_V_GLOBAL ? CHECK_OK : (cls.kind == SP_V_RESULT ? CHECK_MAYBE : CHECK_FAIL);
    ca = check_tuple(&args);
    if (use_kwargs)
        ck = kwargs.kind == SP_V_DICT ? CHECK_OK
                                      : (sp_kind_is_opaque(kwargs.kind) ? CHECK_MAYBE : CHECK_FAIL);
    /* pickle.py has no type check: cls.__new__(cls, *args) on anything */
    if (cc == CHECK_FAIL && check_callable(&cls) != CHECK_FAIL)
        cc = CHECK_MAYBE;
    if (cc == CHECK_FAIL || ca == CHECK_FAIL || ck == CHECK_FAIL) {
        sp_slot_decref(m, &kwargs);
        sp_slot_decref(m, &args);
        sp_slot_decref(m, &cls);
        add_anomaly(m, SP_AN_TYPE_ERROR, "%s", name);
        if (cc == CHECK_FAIL)
            return fail(m, "%s class argument must be a type", name);
        if (ca == CHECK_FAIL)
            return fail(m, "%s args argument must be a tuple", name);
        return fail(m, "%s kwargs argument must be a dict", name);
    }
    if (cc == CHECK_MAYBE || ca == CHECK_MAYBE || ck == CHECK_MAYBE)
        speculate(m, cc == CHECK_MAYBE ? "NEWOBJ class is a call result"
                                       : "NEWOBJ arguments are not a tuple/dict here");
    SP_TRY(record_call(m, use_kwargs ? SP_CALL_NEWOBJ_EX : SP_CALL_NEWOBJ, cls, args, kwargs,
                       (ca == CHECK_MAYBE || ck == CHECK_MAYBE) ? SP_CF_ARGS_UNKNOWN : 0, &result));
    return push(m, result);
}

static int load_obj(sp_machine *m)
{
    uint32_t mark;
    sp_slot args, cls, result;

    SP_TRY(marker(m, &mark));
    if (m->sp < mark + 1u)
        return underflow(m);
    SP_TRY(pop_into(m, SP_V_TUPLE, mark + 1, &args));
    if (pop(m, &cls) < 0) {
        sp_slot_decref(m, &args);
        return -1;
    }
    if (check_callable(&cls) == CHECK_FAIL) {
        sp_slot_decref(m, &args);
        sp_slot_decref(m, &cls);
        add_anomaly(m, SP_AN_TYPE_ERROR, "OBJ");
        return fail(m, "OBJ class is not callable");
    }
    SP_TRY(record_call(m, SP_CALL_OBJ, cls, args, none_slot(), 0, &result));
    return push(m, result);
}

/* ---- BUILD, APPEND(S), SETITEM(S), ADDITEMS --------------------------- */

static int build_on_constant(sp_machine *m, const sp_slot *state)
{
    sp_slot st = *state, slot = none_slot();
    int has_slot = 0;

    if (st.kind == SP_V_TUPLE && st.u.obj->n_total == 2 && st.u.obj->n_kept == 2) {
        slot = st.u.obj->items[1];
        st = st.u.obj->items[0];
        has_slot = 1;
    }
    if (sp_kind_is_opaque(st.kind) || (has_slot && sp_kind_is_opaque(slot.kind))) {
        speculate(m, "BUILD state is a call result");
        return 0;
    }
    if (st.kind != SP_V_NONE) {
        add_anomaly(m, SP_AN_TYPE_ERROR, "BUILD");
        if (st.kind != SP_V_DICT)
            return fail(m, "state is not a dictionary");
        return fail(m, "object has no attribute '__dict__'");
    }
    if (has_slot) {
        if (slot.kind != SP_V_DICT) {
            add_anomaly(m, SP_AN_TYPE_ERROR, "BUILD");
            return fail(m, "slot state is not a dictionary");
        }
        if (slot.u.obj->n_total != 0) {
            add_anomaly(m, SP_AN_TYPE_ERROR, "BUILD");
            return fail(m, "object attributes are read-only");
        }
    }
    return 0;
}

static int load_build(sp_machine *m)
{
    sp_slot state, inst;

    if ((int64_t)m->sp - 2 < (int64_t)m->fence)
        return underflow(m);
    SP_TRY(pop(m, &state));
    inst = m->stack[m->sp - 1];
    if (inst.kind == SP_V_GLOBAL || inst.kind == SP_V_RESULT) {
        uint8_t flags = 0;

        if (state.kind == SP_V_TUPLE && state.u.obj->n_total == 2 && state.u.obj->n_kept == 2 &&
            state.u.obj->items[1].kind == SP_V_DICT && state.u.obj->items[1].u.obj->n_total) {
            flags |= SP_CF_SLOTSTATE;
            add_anomaly(m, SP_AN_SLOTSTATE, NULL);
        }
        sp_slot_incref(&inst);
        /* the call record keeps state alive: a copy of the slot stays valid */
        sp_slot state_view = state;
        SP_TRY(record_call(m, SP_CALL_BUILD, inst, state, none_slot(), flags, NULL));
        if (m->res->mode & SP_MODE_JOBLIB)
            return sp_joblib_after_build(m, &inst, &state_view);
        return 0;
    }
    int r = build_on_constant(m, &state);
    sp_slot_decref(m, &state);
    return r;
}

static int is_byte_value(const sp_slot *v)
{
    return (v->kind == SP_V_INT || v->kind == SP_V_BOOL) && v->u.i >= 0 && v->u.i <= 255;
}

/* do_append(x): stack[x-1] receives stack[x..sp). */
static int do_append(sp_machine *m, uint32_t x)
{
    uint32_t len = m->sp;
    sp_slot target;

    if (x > len || x <= m->fence)
        return underflow(m);
    if (len == x)
        return 0;
    target = m->stack[x - 1];
    if (target.kind == SP_V_LIST) {
        for (uint32_t i = x; i < len; i++) {
            mark_used(m, &m->stack[i]);
            if (sp_obj_append(m, target.u.obj, &m->stack[i]) < 0) {
                m->stack[i].kind = SP_V_NONE;
                clear_from(m, x);
                return out_of_memory(m);
            }
            m->stack[i].kind = SP_V_NONE;
        }
        m->sp = x;
        return check_depth(m, target.u.obj);
    }
    if (target.kind == SP_V_GLOBAL || target.kind == SP_V_RESULT) {
        sp_slot items;

        SP_TRY(pop_into(m, SP_V_LIST, x, &items));
        add_anomaly(m, SP_AN_OPAQUE_METHOD, "extend");
        sp_slot_incref(&target);
        return record_call(m, SP_CALL_EXTEND, target, items, none_slot(), 0, NULL);
    }
    if (target.kind == SP_V_BYTEARRAY) {
        /* bytearray.extend takes an iterable of ints in range(256) */
        for (uint32_t i = x; i < len; i++)
            if (!is_byte_value(&m->stack[i])) {
                clear_from(m, x);
                add_anomaly(m, SP_AN_TYPE_ERROR, "APPEND");
                return fail(m, "bytearray.extend needs integers in range(256)");
            }
        clear_from(m, x);
        return 0;
    }
    if (target.kind == SP_V_BUFFER) {
        speculate(m, "APPEND on an out-of-band buffer");
        clear_from(m, x);
        return 0;
    }
    add_anomaly(m, SP_AN_TYPE_ERROR, "APPEND");
    return fail(m, "object has no attribute 'append'");
}

static int load_append(sp_machine *m)
{
    if ((int64_t)m->sp - 1 <= (int64_t)m->fence)
        return underflow(m);
    return do_append(m, m->sp - 1);
}

static int load_appends(sp_machine *m)
{
    uint32_t mark;

    SP_TRY(marker(m, &mark));
    return do_append(m, mark);
}

/* do_setitems(x): stack[x-1][k] = v for the pairs in stack[x..sp). */
static int do_setitems(sp_machine *m, int64_t x)
{
    int64_t len = m->sp;
    sp_slot target;

    if (x > len || x <= (int64_t)m->fence)
        return underflow(m);
    if (len == x)
        return 0;
    if ((len - x) % 2 != 0) {
        add_anomaly(m, SP_AN_TYPE_ERROR, "SETITEMS");
        return fail(m, "odd number of items for SETITEMS");
    }
    target = m->stack[x - 1];
    if (target.kind == SP_V_DICT) {
        for (int64_t i = x; i < len; i += 2) {
            if (!sp_slot_hashable(&m->stack[i])) {
                clear_from(m, (uint32_t)x);
                add_anomaly(m, SP_AN_TYPE_ERROR, "SETITEMS");
                return fail(m, "unhashable type used as a dict key");
            }
        }
        for (int64_t i = x; i < len; i++) {
            mark_used(m, &m->stack[i]);
            if (sp_obj_append(m, target.u.obj, &m->stack[i]) < 0) {
                m->stack[i].kind = SP_V_NONE;
                clear_from(m, (uint32_t)x);
                return out_of_memory(m);
            }
            m->stack[i].kind = SP_V_NONE;
        }
        m->sp = (uint32_t)x;
        return check_depth(m, target.u.obj);
    }
    if (target.kind == SP_V_GLOBAL || target.kind == SP_V_RESULT) {
        add_anomaly(m, SP_AN_OPAQUE_METHOD, "__setitem__");
        for (int64_t i = x; i < len; i += 2) {
            sp_obj *pair = sp_obj_new(m, SP_V_TUPLE, m->op_off);

            if (pair == NULL) {
                clear_from(m, (uint32_t)x);
                return out_of_memory(m);
            }
            sp_slot_incref(&m->stack[i]);
            sp_slot_incref(&m->stack[i + 1]);
            if (sp_obj_append(m, pair, &m->stack[i]) < 0 ||
                sp_obj_append(m, pair, &m->stack[i + 1]) < 0) {
                clear_from(m, (uint32_t)x);
                return out_of_memory(m);
            }
            sp_slot_incref(&target);
            if (record_call(m, SP_CALL_SETITEM, target, make_container(pair), none_slot(), 0,
                            NULL) < 0) {
                clear_from(m, (uint32_t)x);
                return -1;
            }
        }
        clear_from(m, (uint32_t)x);
        return 0;
    }
    if (target.kind == SP_V_LIST) {
        /* list[k] = v: k must be an int within the list */
        int64_t n = (int64_t)target.u.obj->n_total;

        for (int64_t i = x; i < len; i += 2) {
            const sp_slot *k = &m->stack[i];

            if (sp_kind_is_opaque(k->kind)) {
                speculate(m, "list index is a call result");
                continue;
            }
            if ((k->kind != SP_V_INT && k->kind != SP_V_BOOL) || k->u.i < -n || k->u.i >= n) {
                clear_from(m, (uint32_t)x);
                add_anomaly(m, SP_AN_TYPE_ERROR, "SETITEMS");
                return fail(m, "list assignment index out of range or not an integer");
            }
        }
        clear_from(m, (uint32_t)x);
        return 0;
    }
    if (target.kind == SP_V_BUFFER) {
        speculate(m, "SETITEM on an out-of-band buffer");
        clear_from(m, (uint32_t)x);
        return 0;
    }
    clear_from(m, (uint32_t)x);
    add_anomaly(m, SP_AN_TYPE_ERROR, "SETITEMS");
    return fail(m, "object does not support item assignment");
}

static int load_setitem(sp_machine *m)
{
    return do_setitems(m, (int64_t)m->sp - 2);
}

static int load_setitems(sp_machine *m)
{
    uint32_t mark;

    SP_TRY(marker(m, &mark));
    return do_setitems(m, mark);
}

static int load_additems(sp_machine *m)
{
    uint32_t mark, len;
    sp_slot target;

    SP_TRY(marker(m, &mark));
    len = m->sp;
    if (mark > len || mark <= m->fence)
        return underflow(m);
    if (len == mark)
        return 0;
    target = m->stack[mark - 1];
    if (target.kind == SP_V_SET) {
        for (uint32_t i = mark; i < len; i++)
            if (!sp_slot_hashable(&m->stack[i])) {
                clear_from(m, mark);
                add_anomaly(m, SP_AN_TYPE_ERROR, "ADDITEMS");
                return fail(m, "unhashable type added to a set");
            }
        for (uint32_t i = mark; i < len; i++) {
            mark_used(m, &m->stack[i]);
            if (sp_obj_append(m, target.u.obj, &m->stack[i]) < 0) {
                m->stack[i].kind = SP_V_NONE;
                clear_from(m, mark);
                return out_of_memory(m);
            }
            m->stack[i].kind = SP_V_NONE;
        }
        m->sp = mark;
        return check_depth(m, target.u.obj);
    }
    if (target.kind == SP_V_GLOBAL || target.kind == SP_V_RESULT) {
        add_anomaly(m, SP_AN_OPAQUE_METHOD, "add");
        for (uint32_t i = mark; i < len; i++) {
            sp_slot_incref(&m->stack[i]);
            sp_slot_incref(&target);
            if (record_call(m, SP_CALL_ADD, target, m->stack[i], none_slot(), 0, NULL) < 0) {
                clear_from(m, mark);
                return -1;
            }
        }
        clear_from(m, mark);
        return 0;
    }
    clear_from(m, mark);
    add_anomaly(m, SP_AN_TYPE_ERROR, "ADDITEMS");
    return fail(m, "object has no attribute 'add'");
}

/* ---- containers ------------------------------------------------------- */

static int push_empty_tuple(sp_machine *m)
{
    if (m->empty_tuple == NULL) {
        m->empty_tuple = sp_obj_new(m, SP_V_TUPLE, m->op_off);
        if (m->empty_tuple == NULL)
            return out_of_memory(m);
    }
    m->empty_tuple->refcnt++;
    SP_TRY(push(m, make_container(m->empty_tuple)));
    return check_depth(m, m->empty_tuple); /* as a new container counts */
}

static int load_counted_tuple(sp_machine *m, uint32_t n)
{
    if (m->sp < n)
        return underflow(m);
    if (n == 0 && m->sp >= m->fence)
        return push_empty_tuple(m);
    return collect(m, SP_V_TUPLE, m->sp - n);
}

static int load_tuple(sp_machine *m)
{
    uint32_t mark;

    SP_TRY(marker(m, &mark));
    return load_counted_tuple(m, m->sp - mark);
}

static int push_empty(sp_machine *m, uint8_t kind)
{
    sp_obj *obj = sp_obj_new(m, kind, m->op_off);

    if (obj == NULL)
        return out_of_memory(m);
    return push_container(m, obj);
}

static int load_list(sp_machine *m)
{
    uint32_t mark;

    SP_TRY(marker(m, &mark));
    return collect(m, SP_V_LIST, mark);
}

static int load_dict(sp_machine *m)
{
    uint32_t mark;

    SP_TRY(marker(m, &mark));
    if ((m->sp - mark) % 2 != 0) {
        add_anomaly(m, SP_AN_TYPE_ERROR, "DICT");
        return fail(m, "odd number of items for DICT");
    }
    for (uint32_t k = mark; k < m->sp; k += 2)
        if (!sp_slot_hashable(&m->stack[k])) {
            add_anomaly(m, SP_AN_TYPE_ERROR, "DICT");
            return fail(m, "unhashable type used as a dict key");
        }
    return collect(m, SP_V_DICT, mark);
}

/* Python's == for values that can sit in a frozenset: numbers compare
 * across bool/int/float, str never equals bytes, globals and call results
 * equal only themselves.
 * -1 when it cannot be told (truncated containers, big ints). */
static int slot_equal(const sp_machine *m, const sp_slot *a, const sp_slot *b, int depth)
{
    int an = a->kind == SP_V_BOOL || a->kind == SP_V_INT || a->kind == SP_V_FLOAT;
    int bn = b->kind == SP_V_BOOL || b->kind == SP_V_INT || b->kind == SP_V_FLOAT;

    if (an && bn) {
        if (a->kind != SP_V_FLOAT && b->kind != SP_V_FLOAT)
            return a->u.i == b->u.i;
        if (a->kind == SP_V_FLOAT && b->kind == SP_V_FLOAT)
            return a->u.f == b->u.f;
        double f = a->kind == SP_V_FLOAT ? a->u.f : b->u.f;
        int64_t i = a->kind == SP_V_FLOAT ? b->u.i : a->u.i;
        if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0) || f != (double)(int64_t)f)
            return 0;
        return (int64_t)f == i;
    }
    if (a->kind != b->kind)
        return (a->kind == SP_V_BIGINT || b->kind == SP_V_BIGINT) && (an || bn) ? -1 : 0;
    switch (a->kind) {
    case SP_V_NONE:
        return 1;
    case SP_V_STR:
    case SP_V_BYTES:
        if (a->len == b->len && ((a->flags | b->flags) & SP_VF_HOLED))
            sp_holes_touch(m->lim->holes);
        return a->len == b->len && memcmp(a->u.p, b->u.p, (size_t)a->len) == 0;
    case SP_V_BIGINT:
        return -1;
    case SP_V_GLOBAL:
        /* opaque: the same resolution is the same object; two lookups of
         * one name usually are too, but nothing here imports to check */
        return a->ref == b->ref ? 1 : -1;
    case SP_V_RESULT:
        return a->ref == b->ref;
    case SP_V_TUPLE: {
        const sp_obj *x = a->u.obj, *y = b->u.obj;
        if (x == y)
            return 1;
        if (x->n_total != y->n_total)
            return 0;
        if (x->n_kept != x->n_total || y->n_kept != y->n_total || depth > 8)
            return -1;
        for (uint32_t i = 0; i < x->n_kept; i++) {
            int r = slot_equal(m, &x->items[i], &y->items[i], depth + 1);
            if (r != 1)
                return r;
        }
        return 1;
    }
    case SP_V_FROZENSET:
        if (a->u.obj == b->u.obj || (a->u.obj->n_total == 0 && b->u.obj->n_total == 0))
            return 1;
        return -1;
    default:
        return -1;
    }
}

/* Drop the items a frozenset would not keep; small sets only, where the
 * quadratic comparison stays cheap. */
static void dedupe_set(sp_machine *m, sp_obj *obj)
{
    uint32_t out = 0;

    if (obj->n_kept != obj->n_total)
        return;
    for (uint32_t i = 0; i < obj->n_kept; i++) {
        int dup = 0;

        for (uint32_t j = 0; j < out && !dup; j++)
            dup = slot_equal(m, &obj->items[j], &obj->items[i], 0) == 1;
        if (dup)
            sp_slot_decref(m, &obj->items[i]);
        else
            obj->items[out++] = obj->items[i];
    }
    obj->n_kept = out;
    obj->n_total = out;
}

static int load_frozenset(sp_machine *m)
{
    uint32_t mark;
    sp_slot f;

    SP_TRY(marker(m, &mark));
    if (mark < m->fence)
        return underflow(m);
    for (uint32_t k = mark; k < m->sp; k++)
        if (!sp_slot_hashable(&m->stack[k])) {
            add_anomaly(m, SP_AN_TYPE_ERROR, "FROZENSET");
            return fail(m, "unhashable type in a frozenset");
        }
    SP_TRY(pop_into(m, SP_V_FROZENSET, mark, &f));
    dedupe_set(m, f.u.obj);
    return push(m, f);
}

/* ---- stack manipulation ----------------------------------------------- */

static int load_pop(sp_machine *m)
{
    if (m->n_marks > 0 && m->marks[m->n_marks - 1] == m->sp) {
        m->n_marks--;
        m->fence = m->n_marks ? m->marks[m->n_marks - 1] : 0;
        return 0;
    }
    if (m->sp <= m->fence)
        return underflow(m);
    m->sp--;
    sp_slot_decref(m, &m->stack[m->sp]);
    return 0;
}

static int load_pop_mark(sp_machine *m)
{
    uint32_t mark;

    SP_TRY(marker(m, &mark));
    clear_from(m, mark);
    return 0;
}

static int load_dup(sp_machine *m)
{
    sp_slot top;

    if (m->sp <= m->fence)
        return underflow(m);
    top = m->stack[m->sp - 1];
    sp_slot_incref(&top);
    return push(m, top);
}

static int load_mark(sp_machine *m)
{
    if (m->n_marks >= m->lim->max_marks)
        return limit(m, "more than %u open MARKs", m->lim->max_marks);
    if (sp_arena_grow(m->arena, (void **)&m->marks, &m->marks_cap, m->n_marks + 1,
                      sizeof(uint32_t)) < 0)
        return out_of_memory(m);
    m->marks[m->n_marks++] = m->sp;
    m->fence = m->sp;
    if (m->n_marks > m->st->max_mark_depth)
        m->st->max_mark_depth = m->n_marks;
    return 0;
}

/* ---- memo ------------------------------------------------------------- */

static int memo_put(sp_machine *m, uint64_t key)
{
    int overwrote = 0;
    const sp_slot *top = &m->stack[m->sp - 1];

    if (m->memo_len >= m->lim->max_memo)
        return limit(m, "more than %u memo entries", m->lim->max_memo);
    if (key >= SP_MEMO_LOADER_MAX)
        speculate(m, "memo index so large that the loader runs out of memory");
    if (key > m->memo_len + SP_MEMO_SPARSE_GAP)
        add_anomaly(m, SP_AN_MEMO_SPARSE, "%llu", (unsigned long long)key);
    mark_used(m, top);
    if (sp_memo_put(m, key, top, &overwrote) < 0)
        return out_of_memory(m);
    if (overwrote)
        add_anomaly(m, SP_AN_MEMO_OVERWRITE, "%llu", (unsigned long long)key);
    m->st->memo_puts++;
    m->st->memo_entries = (uint32_t)(m->memo_len > UINT32_MAX ? UINT32_MAX : m->memo_len);
    if (key > m->st->memo_max_index)
        m->st->memo_max_index = key;
    return 0;
}

static int load_put(sp_machine *m)
{
    const uint8_t *line;
    uint64_t len;
    sp_intparse r;

    SP_TRY(read_line(m, &line, &len));
    if (len < 2)
        return bad_readline(m);
    if (m->sp <= m->fence)
        return underflow(m);
    r = sp_parse_index_line(line, (size_t)(len - 1));
    if (!r.ok)
        return fail(m, "invalid literal for int() with base 10");
    if (r.noncanonical)
        add_anomaly(m, SP_AN_NONCANONICAL_NUMBER, NULL);
    if (r.big)
        return fail(m, "Python int too large to convert to C ssize_t");
    if (r.value < 0)
        return fail(m, "negative PUT argument");
    return memo_put(m, (uint64_t)r.value);
}

static int load_binput(sp_machine *m, int nbytes)
{
    const uint8_t *p;

    SP_TRY(read_bytes(m, (uint64_t)nbytes, &p));
    if (m->sp <= m->fence)
        return underflow(m);
    return memo_put(m, sp_le_uint(p, nbytes));
}

static int load_memoize(sp_machine *m)
{
    if (m->sp <= m->fence)
        return underflow(m);
    return memo_put(m, m->memo_len);
}

static int memo_get(sp_machine *m, uint64_t key)
{
    sp_slot v;

    if (!sp_memo_get(m, key, &v)) {
        add_anomaly(m, SP_AN_MEMO_MISSING, "%llu", (unsigned long long)key);
        return fail(m, "Memo value not found at index %llu", (unsigned long long)key);
    }
    m->st->memo_gets++;
    sp_slot_incref(&v);
    return push(m, v);
}

static int load_get(sp_machine *m)
{
    const uint8_t *line;
    uint64_t len;
    sp_intparse r;

    SP_TRY(read_line(m, &line, &len));
    if (len < 2)
        return bad_readline(m);
    r = sp_parse_index_line(line, (size_t)(len - 1));
    if (!r.ok)
        return fail(m, "invalid literal for int() with base 10");
    if (r.noncanonical)
        add_anomaly(m, SP_AN_NONCANONICAL_NUMBER, NULL);
    if (r.big)
        return fail(m, "Python int too large to convert to C ssize_t");
    return memo_get(m, (uint64_t)r.value); /* negative keys are never set */
}

static int load_binget(sp_machine *m, int nbytes)
{
    const uint8_t *p;

    SP_TRY(read_bytes(m, (uint64_t)nbytes, &p));
    return memo_get(m, sp_le_uint(p, nbytes));
}

/* ---- EXT codes -------------------------------------------------------- */

static struct sp_ext_entry *ext_find(sp_result *root, int64_t code)
{
    for (uint32_t i = 0; i < root->n_ext; i++)
        if (root->ext[i].code == code)
            return &root->ext[i];
    return NULL;
}

static int load_extension(sp_machine *m, int nbytes)
{
    const uint8_t *p;
    int64_t code;
    struct sp_ext_entry *e;
    sp_slot g;

    SP_TRY(read_bytes(m, (uint64_t)nbytes, &p));
    code = (int64_t)sp_le_uint(p, nbytes);
    if (nbytes == 4 && (code & 0x80000000LL))
        code -= 0x100000000LL;
    add_anomaly(m, SP_AN_EXT_CODE, "%lld", (long long)code);
    if (code <= 0)
        return fail(m, "EXT specifies code <= 0");
    e = ext_find(m->root, code);
    if (e != NULL && e->has_cached && e->cached_stream == m->st) {
        g = e->cached;
        return push(m, g);
    }
    if (e == NULL) {
        /* Only an application could have registered it: the recording
         * world raises here, reality may resolve it to anything. */
        speculate(m, "EXT code not registered in the file");
        add_anomaly(m, SP_AN_EXT_UNREGISTERED, "%lld", (long long)code);
        SP_TRY(resolve_global(m, (const uint8_t *)"?", 1, (const uint8_t *)"?", 1,
                              SP_GF_EXT | SP_GF_COMPUTED, (int32_t)code, &g));
        return push(m, g);
    }
    SP_TRY(resolve_global(m, (const uint8_t *)e->module.ptr, e->module.len,
                          (const uint8_t *)e->name.ptr, e->name.len, SP_GF_EXT, (int32_t)code, &g));
    e->has_cached = 1;
    e->cached = g;
    e->cached_stream = m->st;
    return push(m, g);
}

int sp_name_is(const sp_name *n, const char *z)
{
    return n->len == strlen(z) && memcmp(n->ptr, z, n->len) == 0;
}

/* copyreg.add_extension, under its Python 3 name or the protocol < 3 one
 * (only the raw name is seen when the rename does not apply). */
static int is_add_extension(const sp_machine *m, const sp_slot *v)
{
    const sp_global *g;

    if (v->kind != SP_V_GLOBAL)
        return 0;
    g = &m->st->globals[v->ref];
    return sp_name_is(&g->name, "add_extension") &&
           (sp_name_is(&g->module, "copyreg") || sp_name_is(&g->module, "copy_reg"));
}

/* int() of bytes, or of a str once rewritten as int() rewrites it: then
 * PyLong_FromString in base 10, which a NUL inside ends early, where int()
 * fails. */
static int text_code(sp_machine *m, const uint8_t *p, size_t len, int64_t *value, int *big)
{
    sp_intparse r = sp_parse_index_line(p, len);

    if (memchr(p, '\0', len) != NULL || (!r.ok && !r.big))
        return fail(m, "invalid literal for int() with base 10");
    *big = r.big;
    *value = r.value;
    return 1;
}

/* int() of a str (UTF-8, surrogates as 3-byte sequences): rewritten as
 * int() rewrites it, then read as ASCII text. */
static int str_code(sp_machine *m, const uint8_t *p, size_t len, int64_t *value, int *big)
{
    uint8_t *ascii;
    size_t n;

    if (sp_ascii_valid(p, len))
        return text_code(m, p, len, value, big);
    ascii = sp_arena_alloc_raw(m->arena, len ? len : 1);
    if (ascii == NULL)
        return out_of_memory(m);
    if (!sp_int_text_to_ascii(p, len, ascii, &n))
        return fail(m, "invalid literal for int() with base 10");
    return text_code(m, ascii, n, value, big);
}

/* int(code), which copyreg.add_extension computes before it looks at the
 * key: 1 and *value (*big when it is beyond int64, so out of range) when
 * the file decides it, 0 when it depends on an object the machine cannot
 * see, -1 when the loader fails there (the stream has ended). */
static int extension_code(sp_machine *m, const sp_slot *code, int64_t *value, int *big)
{
    *big = 0;
    switch (code->kind) {
    case SP_V_INT:
    case SP_V_BOOL:
        *value = code->u.i;
        return 1;
    case SP_V_BIGINT:
        *big = 1;
        return 1;
    case SP_V_FLOAT:
        if (isnan(code->u.f))
            return fail(m, "cannot convert float NaN to integer");
        if (isinf(code->u.f))
            return fail(m, "cannot convert float infinity to integer");
        if (fabs(code->u.f) >= 9.2e18) {
            *big = 1;
            return 1;
        }
        *value = (int64_t)code->u.f; /* int() truncates toward zero, as C does */
        return 1;
    case SP_V_STR:
        return str_code(m, code->u.p, (size_t)code->len, value, big);
    case SP_V_BYTES:
    case SP_V_BYTEARRAY:
        if (code->flags & SP_VF_HOLED)
            sp_holes_touch(m->lim->holes);
        return text_code(m, code->u.p, (size_t)code->len, value, big);
    case SP_V_NONE:
    case SP_V_TUPLE:
    case SP_V_LIST:
    case SP_V_DICT:
    case SP_V_SET:
    case SP_V_FROZENSET:
        return fail(m,
                    "int() argument must be a string, a bytes-like object or a real number, "
                    "not '%s'",
                    sp_vkind_name(code->kind));
    default:
        return 0; /* a global, a call result, a buffer: it may define __int__ */
    }
}

/* copyreg.add_extension(module, name, code) called by the file changes what
 * later EXT opcodes resolve to; model it, with copyreg's own checks. */
static int apply_add_extension(sp_machine *m, const sp_call *c)
{
    sp_obj *args;
    const sp_slot *mod, *name, *code;
    struct sp_ext_entry *e;
    sp_result *root = m->root;
    int64_t value = 0;
    int big = 0, known;

    if (!is_add_extension(m, &c->callee) ||
        (c->kind != SP_CALL_REDUCE && c->kind != SP_CALL_INST && c->kind != SP_CALL_OBJ))
        return 0;
    /* INST and OBJ with no arguments take the cls.__new__(cls) path of
     * instantiate() when the global is a class, as globals are modelled */
    if (c->kind != SP_CALL_REDUCE && c->args.kind == SP_V_TUPLE && c->args.u.obj->n_total == 0)
        return 0;
    if (c->args.kind != SP_V_TUPLE) {
        speculate(m, "copyreg.add_extension with arguments that cannot be followed");
        return 0;
    }
    if (c->args.u.obj->n_total != 3)
        return fail(m, "add_extension() takes exactly 3 arguments");
    args = c->args.u.obj;
    mod = &args->items[0];
    name = &args->items[1];
    code = &args->items[2];
    known = extension_code(m, code, &value, &big);
    if (known < 0)
        return -1;
    if (known == 0 || (!big && value >= 1 && value <= 0x7fffffff &&
                       (mod->kind != SP_V_STR || name->kind != SP_V_STR))) {
        speculate(m, "copyreg.add_extension with arguments that cannot be followed");
        return 0;
    }
    if (big || value < 1 || value > 0x7fffffff)
        return fail(m, "code out of range");
    for (uint32_t i = 0; i < root->n_ext; i++) {
        struct sp_ext_entry *x = &root->ext[i];
        int same_key = x->module.len == mod->len &&
                       memcmp(x->module.ptr, mod->u.p, mod->len) == 0 && x->name.len == name->len &&
                       memcmp(x->name.ptr, name->u.p, name->len) == 0;

        if (same_key && x->code == value)
            return 0; /* re-registering the same pair is allowed */
        if (same_key)
            return fail(m, "key is already registered with another code");
        if (x->code == value)
            return fail(m, "code is already in use for another key");
    }
    if (sp_arena_grow(m->arena, (void **)&root->ext, &root->ext_cap, root->n_ext + 1,
                      sizeof(*root->ext)) < 0)
        return out_of_memory(m);
    e = &root->ext[root->n_ext++];
    memset(e, 0, sizeof(*e));
    e->code = value;
    SP_TRY(make_name(m, &e->module, mod->u.p, (size_t)mod->len));
    SP_TRY(make_name(m, &e->name, name->u.p, (size_t)name->len));
    return 0;
}

/* ---- persistent ids --------------------------------------------------- */

static int load_persid(sp_machine *m)
{
    const uint8_t *line;
    uint64_t len;
    sp_slot pid = none_slot(), result;

    SP_TRY(read_line(m, &line, &len));
    if (len < 1)
        return bad_readline(m);
    if (!sp_ascii_valid(line, (size_t)(len - 1))) {
        add_anomaly(m, SP_AN_DECODE_ERROR, NULL);
        return fail(m, "persistent IDs in protocol 0 must be ASCII strings");
    }
    pid.kind = SP_V_STR;
    pid.u.p = line;
    pid.len = len - 1; /* ASCII: never SP_VF_PICKLE_LIKE */
    SP_TRY(record_call(m, SP_CALL_PERSID, none_slot(), pid, none_slot(), 0, &result));
    return push(m, result);
}

static int load_binpersid(sp_machine *m)
{
    sp_slot pid, result;

    SP_TRY(pop(m, &pid));
    SP_TRY(record_call(m, SP_CALL_PERSID, none_slot(), pid, none_slot(), 0, &result));
    return push(m, result);
}

/* ---- scalars ---------------------------------------------------------- */

static int load_int(sp_machine *m)
{
    const uint8_t *line;
    uint64_t len;
    sp_intparse r;

    SP_TRY(read_line(m, &line, &len));
    if (len < 2)
        return bad_readline(m);
    r = sp_parse_int_line(line, (size_t)(len - 1));
    if (!r.ok)
        return fail(m, "could not convert string to int");
    return push_intparse(m, r, line, len - 1);
}

static int load_long(sp_machine *m)
{
    const uint8_t *line;
    uint64_t len, text_len;
    sp_intparse r;

    SP_TRY(read_line(m, &line, &len));
    if (len < 2)
        return bad_readline(m);
    r = sp_parse_long_line(line, (size_t)(len - 1));
    if (!r.ok)
        return fail(m, "invalid literal for int() with base 0");
    r.is_bool = 0;
    text_len = len - 1;
    if (text_len > 0 && line[text_len - 1] == 'L')
        text_len--;
    return push_intparse(m, r, line, text_len);
}

static int load_binint(sp_machine *m, int nbytes)
{
    const uint8_t *p;
    int64_t v;

    SP_TRY(read_bytes(m, (uint64_t)nbytes, &p));
    v = (int64_t)sp_le_uint(p, nbytes);
    if (nbytes == 4 && (v & 0x80000000LL))
        v -= 0x100000000LL;
    return push_int(m, v);
}

static int load_counted_long(sp_machine *m, int nbytes)
{
    const uint8_t *p;
    int64_t size;
    sp_slot s = none_slot();

    SP_TRY(read_bytes(m, (uint64_t)nbytes, &p));
    size = (int64_t)sp_le_uint(p, nbytes);
    if (nbytes == 4 && (size & 0x80000000LL))
        size -= 0x100000000LL;
    if (size < 0)
        return fail(m, "LONG pickle has negative byte count");
    if (size == 0)
        return push_int(m, 0);
    SP_TRY(read_bytes(m, (uint64_t)size, &p));
    if (size <= 8) {
        uint64_t u = sp_le_uint(p, (int)size);
        int64_t v;

        if (size < 8 && (p[size - 1] & 0x80))
            u |= ~(uint64_t)0 << (8 * size);
        memcpy(&v, &u, sizeof(v));
        return push_int(m, v);
    }
    s.kind = SP_V_BIGINT;
    s.flags = SP_VF_LE_BYTES;
    s.u.p = p;
    s.len = (uint64_t)size;
    return push(m, s);
}

static int load_float(sp_machine *m)
{
    const uint8_t *line;
    uint64_t len;
    sp_floatparse r;

    SP_TRY(read_line(m, &line, &len));
    if (len < 2)
        return bad_readline(m);
    r = sp_parse_float_line(line, (size_t)(len - 1));
    if (!r.ok)
        return fail(m, "could not convert string to float");
    if (r.noncanonical)
        add_anomaly(m, SP_AN_NONCANONICAL_NUMBER, NULL);
    return push_float(m, r.value);
}

static int load_binfloat(sp_machine *m)
{
    const uint8_t *p;
    uint64_t bits = 0;
    double f;

    SP_TRY(read_bytes(m, 8, &p));
    for (int i = 0; i < 8; i++)
        bits = (bits << 8) | p[i];
    memcpy(&f, &bits, sizeof(double));
    return push_float(m, f);
}

/* ---- strings ---------------------------------------------------------- */

static int load_string(sp_machine *m)
{
    const uint8_t *line, *out;
    uint64_t len;
    size_t out_len;
    int r;

    SP_TRY(read_line(m, &line, &len));
    len--;
    if (!(len >= 2 && line[0] == line[len - 1] && (line[0] == '\'' || line[0] == '"')))
        return fail(m, "the STRING opcode argument must be quoted");
    r = sp_decode_escape(m->arena, line + 1, (size_t)(len - 2), &out, &out_len);
    if (r == -2)
        return out_of_memory(m);
    if (r < 0) {
        add_anomaly(m, SP_AN_DECODE_ERROR, NULL);
        return fail(m, "invalid escape in STRING");
    }
    /* the loader's default encoding, ASCII, turns it into str */
    if (!sp_ascii_valid(out, out_len)) {
        add_anomaly(m, SP_AN_DECODE_ERROR, NULL);
        return fail(m, "'ascii' codec can't decode STRING");
    }
    return push_text(m, SP_V_STR, out, out_len, SP_VF_DECODED);
}

static int load_counted_binstring(sp_machine *m, int nbytes)
{
    uint64_t size;
    const uint8_t *p;

    SP_TRY(read_size(m, nbytes, &size, "BINSTRING"));
    SP_TRY(read_bytes(m, size, &p));
    SP_TRY(string_too_long(m, size));
    if (!sp_ascii_valid(p, (size_t)size)) {
        add_anomaly(m, SP_AN_DECODE_ERROR, NULL);
        return fail(m, "'ascii' codec can't decode BINSTRING");
    }
    return push_text(m, SP_V_STR, p, size, 0);
}

static int load_counted_binbytes(sp_machine *m, int nbytes, uint8_t kind)
{
    uint64_t size;
    const uint8_t *p;
    uint8_t holed = 0;

    SP_TRY(read_size(m, nbytes, &size, kind == SP_V_BYTES ? "BINBYTES" : "BYTEARRAY8"));
    SP_TRY(read_bytes(m, size, &p));
    SP_TRY(string_too_long(m, size));
    /* a payload taken unread: a hole inside marks the value */
    if (m->reading && sp_holes_take(m->lim->holes, m->reading, p, size))
        holed = SP_VF_HOLED;
    return push_text(m, kind, p, size, holed);
}

static int load_unicode(sp_machine *m)
{
    const uint8_t *line, *out;
    uint64_t len;
    size_t out_len;
    int r;

    SP_TRY(read_line(m, &line, &len));
    if (len < 1)
        return bad_readline(m);
    r = sp_decode_raw_unicode_escape(m->arena, line, (size_t)(len - 1), &out, &out_len);
    if (r == -2)
        return out_of_memory(m);
    if (r < 0) {
        add_anomaly(m, SP_AN_DECODE_ERROR, NULL);
        return fail(m, "'rawunicodeescape' codec can't decode UNICODE");
    }
    return push_text(m, SP_V_STR, out, out_len, SP_VF_DECODED);
}

static int load_counted_binunicode(sp_machine *m, int nbytes)
{
    uint64_t size;
    const uint8_t *p;

    SP_TRY(read_size(m, nbytes, &size, "BINUNICODE"));
    SP_TRY(read_bytes(m, size, &p));
    SP_TRY(string_too_long(m, size));
    if (!sp_utf8_valid(p, (size_t)size, 1)) {
        add_anomaly(m, SP_AN_DECODE_ERROR, NULL);
        return fail(m, "'utf-8' codec can't decode BINUNICODE");
    }
    return push_text(m, SP_V_STR, p, size, 0);
}

/* ---- protocol 5 buffers ----------------------------------------------- */

static int load_next_buffer(sp_machine *m)
{
    sp_slot s = none_slot();

    /* plain pickle.load has no buffers and raises; a caller may pass some */
    speculate(m, "out-of-band buffer requested");
    s.kind = SP_V_BUFFER;
    return push(m, s);
}

static int load_readonly_buffer(sp_machine *m)
{
    sp_slot *top;

    if (m->sp <= m->fence)
        return underflow(m);
    top = &m->stack[m->sp - 1];
    if (top->kind == SP_V_BYTES || top->kind == SP_V_BYTEARRAY || top->kind == SP_V_BUFFER) {
        top->flags |= SP_VF_READONLY;
        return 0;
    }
    if (sp_kind_is_opaque(top->kind)) {
        speculate(m, "READONLY_BUFFER on a call result");
        return 0;
    }
    add_anomaly(m, SP_AN_TYPE_ERROR, "READONLY_BUFFER");
    return fail(m, "memoryview: a bytes-like object is required");
}

/* ---- framing and protocol --------------------------------------------- */

static int load_proto(sp_machine *m)
{
    const uint8_t *p;

    SP_TRY(read_bytes(m, 1, &p));
    if (m->op_off != m->st->start)
        add_anomaly(m, SP_AN_PROTO_REPEATED, NULL);
    if (p[0] > SP_HIGHEST_PROTOCOL)
        return fail(m, "unsupported pickle protocol: %d", p[0]);
    m->proto = p[0];
    if (m->op_off == m->st->start)
        m->st->proto = p[0];
    if (p[0] > m->st->max_proto)
        m->st->max_proto = p[0];
    return 0;
}

static int load_frame(sp_machine *m)
{
    uint64_t size;

    if (m->frame_end && m->op_off < m->frame_end)
        add_anomaly(m, SP_AN_FRAME_MISUSE, "frame inside a frame");
    SP_TRY(read_size(m, 8, &size, "FRAME length"));
    if (m->len - m->pos < size) {
        /* _pickle raises before the frame runs; pickle.py runs what the
         * frame holds and fails only when an opcode needs a missing byte */
        add_anomaly(m, SP_AN_FRAME_MISUSE, "frame longer than the data");
        m->st->alternates |= SP_MODE_PYTHON;
        if (!(m->res->mode & SP_MODE_PYTHON))
            return truncated(m);
        size = m->len - m->pos;
    }
    if (size == 0)
        add_anomaly(m, SP_AN_FRAME_MISUSE, "empty frame");
    m->frame_end = m->pos + size;
    m->st->n_frames++;
    return 0;
}

/* ---- STOP ------------------------------------------------------------- */

static int load_stop(sp_machine *m)
{
    sp_slot value;

    SP_TRY(pop(m, &value));
    mark_used(m, &value);
    m->st->result = value;
    if (m->n_marks)
        add_anomaly(m, SP_AN_OPEN_MARK_AT_STOP, NULL);
    if (m->sp)
        add_anomaly(m, SP_AN_STACK_LEFTOVER, "%u", (unsigned)m->sp);
    m->st->end_kind = SP_END_STOP;
    m->st->end = m->pos;
    if (m->frame_end > m->pos) {
        /* a loader reading a file has already consumed the whole frame:
         * the next pickle.load starts after it, the tail is never run */
        add_anomaly(m, SP_AN_FRAME_MISUSE, "STOP inside a frame");
        m->st->end = m->frame_end;
    }
    m->done = 1;
    return 0;
}

/* ---- dispatch --------------------------------------------------------- */

/* Always inlined into the loop, its one caller: left to itself the
 * compiler makes it a call of its own once the handlers it inlines grow,
 * and the dispatch then costs a call and a return per opcode (10-15% on
 * pickles of many small values). */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int
step(sp_machine *m, uint8_t op)
{
    switch (op) {
    case SP_OP_NONE:
        return push(m, none_slot());
    case SP_OP_NEWTRUE:
    case SP_OP_NEWFALSE:
        return push_number(m, SP_V_BOOL, op == SP_OP_NEWTRUE, 0.0);
    case SP_OP_BININT:
        return load_binint(m, 4);
    case SP_OP_BININT1:
        return load_binint(m, 1);
    case SP_OP_BININT2:
        return load_binint(m, 2);
    case SP_OP_INT:
        return load_int(m);
    case SP_OP_LONG:
        return load_long(m);
    case SP_OP_LONG1:
        return load_counted_long(m, 1);
    case SP_OP_LONG4:
        return load_counted_long(m, 4);
    case SP_OP_FLOAT:
        return load_float(m);
    case SP_OP_BINFLOAT:
        return load_binfloat(m);
    case SP_OP_SHORT_BINBYTES:
        return load_counted_binbytes(m, 1, SP_V_BYTES);
    case SP_OP_BINBYTES:
        return load_counted_binbytes(m, 4, SP_V_BYTES);
    case SP_OP_BINBYTES8:
        return load_counted_binbytes(m, 8, SP_V_BYTES);
    case SP_OP_BYTEARRAY8:
        return load_counted_binbytes(m, 8, SP_V_BYTEARRAY);
    case SP_OP_NEXT_BUFFER:
        return load_next_buffer(m);
    case SP_OP_READONLY_BUFFER:
        return load_readonly_buffer(m);
    case SP_OP_SHORT_BINSTRING:
        return load_counted_binstring(m, 1);
    case SP_OP_BINSTRING:
        return load_counted_binstring(m, 4);
    case SP_OP_STRING:
        return load_string(m);
    case SP_OP_UNICODE:
        return load_unicode(m);
    case SP_OP_SHORT_BINUNICODE:
        return load_counted_binunicode(m, 1);
    case SP_OP_BINUNICODE:
        return load_counted_binunicode(m, 4);
    case SP_OP_BINUNICODE8:
        return load_counted_binunicode(m, 8);
    case SP_OP_EMPTY_TUPLE:
        return load_counted_tuple(m, 0);
    case SP_OP_TUPLE1:
        return load_counted_tuple(m, 1);
    case SP_OP_TUPLE2:
        return load_counted_tuple(m, 2);
    case SP_OP_TUPLE3:
        return load_counted_tuple(m, 3);
    case SP_OP_TUPLE:
        return load_tuple(m);
    case SP_OP_EMPTY_LIST:
        return push_empty(m, SP_V_LIST);
    case SP_OP_LIST:
        return load_list(m);
    case SP_OP_EMPTY_DICT:
        return push_empty(m, SP_V_DICT);
    case SP_OP_DICT:
        return load_dict(m);
    case SP_OP_EMPTY_SET:
        return push_empty(m, SP_V_SET);
    case SP_OP_ADDITEMS:
        return load_additems(m);
    case SP_OP_FROZENSET:
        return load_frozenset(m);
    case SP_OP_NEWOBJ:
        return load_newobj(m, 0);
    case SP_OP_NEWOBJ_EX:
        return load_newobj(m, 1);
    case SP_OP_GLOBAL:
        return load_global(m);
    case SP_OP_STACK_GLOBAL:
        return load_stack_global(m);
    case SP_OP_APPEND:
        return load_append(m);
    case SP_OP_APPENDS:
        return load_appends(m);
    case SP_OP_BUILD:
        return load_build(m);
    case SP_OP_DUP:
        return load_dup(m);
    case SP_OP_BINGET:
        return load_binget(m, 1);
    case SP_OP_LONG_BINGET:
        return load_binget(m, 4);
    case SP_OP_GET:
        return load_get(m);
    case SP_OP_MARK:
        return load_mark(m);
    case SP_OP_BINPUT:
        return load_binput(m, 1);
    case SP_OP_LONG_BINPUT:
        return load_binput(m, 4);
    case SP_OP_PUT:
        return load_put(m);
    case SP_OP_MEMOIZE:
        return load_memoize(m);
    case SP_OP_POP:
        return load_pop(m);
    case SP_OP_POP_MARK:
        return load_pop_mark(m);
    case SP_OP_SETITEM:
        return load_setitem(m);
    case SP_OP_SETITEMS:
        return load_setitems(m);
    case SP_OP_PERSID:
        return load_persid(m);
    case SP_OP_BINPERSID:
        return load_binpersid(m);
    case SP_OP_REDUCE:
    case SP_OP_INST:
    case SP_OP_OBJ: {
        uint32_t before = m->st->n_calls;

        SP_TRY(op == SP_OP_REDUCE ? load_reduce(m) : op == SP_OP_INST ? load_inst(m) : load_obj(m));
        if (m->st->n_calls > before)
            return apply_add_extension(m, &m->st->calls[before]);
        return 0;
    }
    case SP_OP_PROTO:
        return load_proto(m);
    case SP_OP_FRAME:
        return load_frame(m);
    case SP_OP_EXT1:
        return load_extension(m, 1);
    case SP_OP_EXT2:
        return load_extension(m, 2);
    case SP_OP_EXT4:
        return load_extension(m, 4);
    case SP_OP_STOP:
        return load_stop(m);
    default:
        add_anomaly(m, SP_AN_UNKNOWN_OPCODE, "0x%02x", op);
        if (op >= 0x20 && op <= 0x7e && op != '\'' && op != '\\')
            return fail(m, "invalid load key, '%c'.", op);
        return fail(m, "invalid load key, '\\x%02x'.", op);
    }
}

/* 0 for the opcodes that hand the loader's own hooks something
 * (persistent_load, the buffers, copyreg's registry) or return: the gate
 * closes before them whatever the file holds. Imports and calls are judged
 * by what they resolve and call (sp_progress_allows). */
static int clears(uint8_t op)
{
    switch (op) {
    case SP_OP_STOP:
    case SP_OP_PERSID:
    case SP_OP_BINPERSID:
    case SP_OP_NEXT_BUFFER:
    case SP_OP_READONLY_BUFFER:
    case SP_OP_EXT1:
    case SP_OP_EXT2:
    case SP_OP_EXT4:
        return 0;
    default:
        return 1;
    }
}

sp_status sp_machine_run(sp_result *result, const sp_limits *limits, uint64_t offset,
                         sp_stream *stream, sp_error *err)
{
    sp_machine m;
    sp_result *root = result->root ? result->root : result;

    memset(&m, 0, sizeof(m));
    m.res = result;
    m.root = root;
    m.lim = limits;
    m.arena = result->arena;
    m.st = stream;
    m.err = err;
    m.buf = result->input;
    m.len = result->input_len;
    m.pos = offset;
    m.reading = sp_holes_begin(limits->holes);
    stream->start = offset;
    stream->end_kind = SP_END_STOP;
    /* a loader started early reads only what this run clears */
    sp_progress *gate =
        sp_progress_gates(limits->progress, result, m.buf + offset) ? limits->progress : NULL;

    while (!m.done) {
        uint8_t op;
        int idx;
        uint32_t globals_before, calls_before;

        if (m.frame_end) {
            if (m.pos == m.frame_end)
                m.frame_end = 0;
            else if (m.pos > m.frame_end) {
                add_anomaly(&m, SP_AN_FRAME_MISUSE, "opcode crosses the end of its frame");
                m.frame_end = 0;
            }
        }
        m.op_off = m.pos;
        if (m.pos >= m.len) {
            add_anomaly(&m, SP_AN_TRUNCATED, NULL);
            m.st->end_kind = SP_END_TRUNCATED;
            m.st->end = m.pos;
            m.st->error_offset = m.pos;
            snprintf(m.st->error, sizeof(m.st->error), "Ran out of input");
            break;
        }
        if (root->ops_used >= limits->max_ops) {
            limit(&m, "more than %llu opcodes", (unsigned long long)limits->max_ops);
            break;
        }
        root->ops_used++;
        op = m.buf[m.pos++];
        idx = sp_opcode_byte_table[op] - 1;
        m.op_index = idx;
        if (idx >= 0) {
            stream->opcode_counts[idx]++;
            if (sp_opcode_protocol_table[idx] > (m.proto > 1 ? m.proto : 1) && idx != SP_OPI_PROTO)
                add_anomaly(&m, SP_AN_PROTO_MISMATCH, "%s", sp_opcode_name(idx));
        }
        stream->n_ops++;
        globals_before = stream->n_globals;
        calls_before = stream->n_calls;
        step(&m, op);
        if (m.arena->exhausted && !m.done)
            out_of_memory(&m);
        if (gate != NULL) {
            if (m.done || stream->speculative || !clears(op) ||
                !sp_progress_allows(gate, stream, globals_before, calls_before)) {
                sp_progress_close(gate, m.buf + m.op_off);
                gate = NULL;
            } else {
                sp_progress_note(gate, m.buf + m.pos);
            }
        }
    }
    if (gate != NULL)
        sp_progress_close(gate, m.buf + m.op_off);
    if (m.reading)
        sp_holes_end(limits->holes, m.reading, m.buf + offset,
                     stream->end_kind == SP_END_STOP ? m.buf + stream->end : NULL);
    sp_memo_free(&m);
    if (m.empty_tuple != NULL) {
        sp_slot held = make_container(m.empty_tuple);

        sp_slot_decref(&m, &held);
    }
    sp_stream_set_caps(m.arena, stream);
    if (m.fatal != SP_OK)
        return m.fatal;
    return SP_OK;
}
