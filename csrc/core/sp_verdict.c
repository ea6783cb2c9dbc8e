#include "sp_verdict.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sp_capability.h"
#include "sp_semantic.h"

/* The rule set is documented in docs/verdict.md; the R-numbers below are
 * the ones used there. */

/* Every dangerous class but introspection decides on its own (R1);
 * introspection needs evidence of use (R4). */
#define R1_BITS (SP_CAP_DANGEROUS & ~(uint32_t)SP_CAP_INTROSPECTION)

/* Severity orders the reasons: most severe first. */
enum {
    SEV_LIMIT = 10,
    SEV_ANOMALY = 20,
    SEV_STRUCTURE = 30, /* computed, EXT, dotted crossing */
    SEV_CHAIN = 40,
    SEV_INTROSPECTION = 50,
    SEV_CAPABILITY = 60,
    SEV_EXECUTION = 70 /* process or code execution */
};

#define MAX_FINDINGS 256
#define KEY_MAX 160

typedef struct finding {
    int severity;
    uint32_t order;
    char key[KEY_MAX];
    char text[SP_REASON_MAX];
} finding;

/* The findings grow with the first ones raised: most files raise none, and
 * room for all of them up front (94 KB) cost a small pickle more than the
 * rest of its verdict. */
typedef struct collector {
    finding *items;
    uint32_t n, cap;
    uint64_t total; /* findings raised, kept or not */
    int lost;       /* a finding could not be kept: out of memory */
} collector;

/* Where a finding comes from: a chain of nested pickles, spelled in front
 * of the reason so that the user can find it. */
typedef struct context {
    char prefix[96];
} context;

/* dst = a + b, cut to fit. */
static void join(char *dst, size_t cap, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > cap - 1)
        la = cap - 1;
    if (lb > cap - 1 - la)
        lb = cap - 1 - la;
    memmove(dst, a, la);
    memcpy(dst + la, b, lb);
    dst[la + lb] = '\0';
}

static void add(collector *c, const context *ctx, int severity, const char *key, const char *fmt,
                ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static void add(collector *c, const context *ctx, int severity, const char *key, const char *fmt,
                ...)
{
    c->total++;
    char fullkey[KEY_MAX];
    join(fullkey, sizeof fullkey, ctx->prefix, key);
    /* One reason per rule and global: a file that calls os.system a
     * thousand times says so once, leaving room for other findings. */
    for (uint32_t i = 0; i < c->n; i++)
        if (strcmp(c->items[i].key, fullkey) == 0)
            return;
    if (c->n == MAX_FINDINGS)
        return;
    if (c->n == c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 8;
        finding *grown = realloc(c->items, (size_t)cap * sizeof *grown);
        if (grown == NULL) {
            c->lost = 1;
            return;
        }
        c->items = grown;
        c->cap = cap;
    }
    finding *f = &c->items[c->n];
    f->severity = severity;
    f->order = c->n;
    memcpy(f->key, fullkey, sizeof fullkey);
    char body[SP_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    join(f->text, sizeof f->text, ctx->prefix, body);
    c->n++;
}

/* module.name made printable and short enough for a reason line. */
static void show_name(char *out, size_t cap, const sp_name *module, const sp_name *name)
{
    size_t o = 0;
    const sp_name *parts[2] = {module, name};
    for (int p = 0; p < 2; p++) {
        if (p == 1 && o + 1 < cap)
            out[o++] = '.';
        const sp_name *s = parts[p];
        for (uint32_t i = 0; i < s->len && o + 4 < cap; i++) {
            unsigned char ch = (unsigned char)s->ptr[i];
            out[o++] = (ch >= 0x20 && ch < 0x7f) || ch >= 0x80 ? (char)ch : '?';
        }
        if (s->len > 0 && o + 4 >= cap) {
            memcpy(out + cap - 4, "...", 3);
            o = cap - 1;
            break;
        }
    }
    out[o < cap ? o : cap - 1] = '\0';
}

static void show_global(char *out, size_t cap, const sp_global *g)
{
    show_name(out, cap, &g->module, &g->name);
}

static void show_bits(char *out, size_t cap, uint32_t bits)
{
    size_t o = 0;
    out[0] = '\0';
    for (uint32_t bit = 1; bit <= SP_CAP_SYSTEM; bit <<= 1) {
        if (!(bits & bit))
            continue;
        int w = snprintf(out + o, cap - o, "%s%s", o ? ", " : "", sp_capability_name(bit));
        if (w < 0 || (size_t)w >= cap - o)
            break;
        o += (size_t)w;
    }
}

static void show_string(char *out, size_t cap, const uint8_t *s, uint64_t len)
{
    size_t o = 0;
    for (uint64_t i = 0; i < len && o + 4 < cap; i++)
        out[o++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
    if (len > 0 && o + 4 >= cap && o < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static int starts_with(const sp_name *n, const char *prefix)
{
    size_t p = strlen(prefix);
    return n->len >= p && memcmp(n->ptr, prefix, p) == 0 && (n->len == p || n->ptr[p] == '.');
}

/* ---- scanning a stream ------------------------------------------------ */

typedef struct stream_view {
    const sp_stream *st;
    uint8_t *nested_dirty; /* per nested entry: its trace raised a finding */
    int all_dirty;         /* the flags could not be allocated: assume so */
} stream_view;

/* A loader (pickle.loads, torch.storage._load_from_bytes) whose every call
 * got constant bytes that were scanned as a nested pickle with a clean
 * trace. It still decides R1: the corpus of published attacks counts a
 * nested load as a payload of its own, and the loader runs without any
 * restriction. The reason says that the payload was seen, though. */
static int loads_with_clean_payload(const stream_view *v, uint32_t gi, uint32_t bits)
{
    const sp_stream *st = v->st;
    const sp_global *g = &st->globals[gi];
    if (!(bits & SP_CAP_DESERIALIZE))
        return 0;
    if (!sp_is_loads_like(g->module.ptr, g->module.len, g->name.ptr, g->name.len))
        return 0;
    uint32_t calls = 0;
    for (uint32_t i = 0; i < st->n_calls; i++) {
        const sp_call *c = &st->calls[i];
        if (c->callee.kind != SP_V_GLOBAL || c->callee.ref != gi)
            continue;
        calls++;
        int scanned = 0;
        for (uint32_t n = 0; n < st->n_nested; n++) {
            const sp_nested *nx = &st->nested[n];
            if (nx->reason == SP_NESTED_LOADS_ARG && nx->call == c->index && nx->result) {
                if (v->all_dirty || v->nested_dirty[n])
                    return 0;
                scanned = 1;
            }
        }
        if (!scanned)
            return 0;
    }
    return calls > 0;
}

static void rule_capabilities(collector *col, const context *ctx, const stream_view *v)
{
    const sp_stream *st = v->st;
    for (uint32_t i = 0; i < st->n_globals; i++) {
        const sp_global *g = &st->globals[i];
        uint32_t bits = sp_stream_global_caps(v->st, i) & R1_BITS;
        if (!bits)
            continue;
        char name[96], what[96], key[KEY_MAX], where[64] = "not called";
        show_global(name, sizeof name, g);
        show_bits(what, sizeof what, sp_stream_global_caps(v->st, i) & SP_CAP_DANGEROUS);
        for (uint32_t k = 0; k < st->n_calls; k++) {
            const sp_call *c = &st->calls[k];
            if (c->callee.kind == SP_V_GLOBAL && c->callee.ref == i) {
                snprintf(where, sizeof where, "called at offset %" PRIu64, c->offset);
                break;
            }
        }
        int sev = bits & (SP_CAP_PROCESS | SP_CAP_CODE_EXEC) ? SEV_EXECUTION : SEV_CAPABILITY;
        snprintf(key, sizeof key, "R1 %s", name);
        const char *policy = "";
        if (starts_with(&g->module, "dill") || starts_with(&g->module, "cloudpickle"))
            policy = "; rebuilds functions from code objects, allowed only by policy";
        else if (loads_with_clean_payload(v, i, sp_stream_global_caps(v->st, i)))
            policy = "; its nested pickle was scanned and is clean, but the load is "
                     "unrestricted";
        add(col, ctx, sev, key, "%s: %s (global at offset %" PRIu64 ", %s%s)%s", name, what,
            g->offset, where, g->flags & SP_GF_SPECULATIVE ? ", speculative" : "", policy);
    }
}

static void rule_structure(collector *col, const context *ctx, const stream_view *v)
{
    const sp_stream *st = v->st;
    for (uint32_t i = 0; i < st->n_globals; i++) {
        const sp_global *g = &st->globals[i];
        char name[96], key[KEY_MAX];
        show_global(name, sizeof name, g);
        if (g->flags & SP_GF_COMPUTED) {
            add(col, ctx, SEV_STRUCTURE, "R2 computed",
                "global at offset %" PRIu64 " is computed: STACK_GLOBAL on names that are not "
                "constant strings",
                g->offset);
        }
        if (g->flags & SP_GF_EXT) {
            snprintf(key, sizeof key, "R2 ext %s", name);
            add(col, ctx, SEV_STRUCTURE, key,
                "%s reached through EXT code %" PRId32 " at offset %" PRIu64, name, g->ext_code,
                g->offset);
        }
        /* Dotted names: protocol 4 walks them attribute by attribute; a
         * component naming a module or a dunder means the walk leaves the
         * module the pickle claims to use. */
        const char *dot = g->name.ptr ? memchr(g->name.ptr, '.', g->name.len) : NULL;
        if (!dot || (g->flags & SP_GF_COMPUTED))
            continue;
        const char *s = g->name.ptr;
        size_t n = g->name.len, begin = 0;
        for (size_t k = 0; k <= n; k++) {
            if (k < n && s[k] != '.')
                continue;
            const char *comp = s + begin;
            size_t len = k - begin;
            int dunder = len > 4 && comp[0] == '_' && comp[1] == '_' && comp[len - 1] == '_' &&
                         comp[len - 2] == '_';
            int module = !dunder && sp_module_is_stdlib(comp, len) && memchr(comp, '.', len) == 0;
            int danger = dunder ? sp_string_names_danger((const uint8_t *)comp, len) : module;
            if (danger) {
                char part[64];
                show_string(part, sizeof part, (const uint8_t *)comp, len);
                snprintf(key, sizeof key, "R3 %s", name);
                add(col, ctx, SEV_STRUCTURE, key,
                    "%s at offset %" PRIu64 " is a dotted name that crosses into %s '%s'", name,
                    g->offset, dunder ? "the internals" : "module", part);
                break;
            }
            begin = k + 1;
        }
    }
}

typedef struct danger_arg {
    const uint8_t *s;
    uint64_t len;
} danger_arg;

static void find_danger(const uint8_t *s, uint64_t len, void *ctx)
{
    danger_arg *d = ctx;
    if (!d->s && sp_string_names_danger(s, len)) {
        d->s = s;
        d->len = len;
    }
}

static int is_name(const sp_name *n, const char *s)
{
    size_t len = strlen(s);
    return n->len == len && memcmp(n->ptr, s, len) == 0;
}

/* The global a call result stands for when it is called: functools.partial
 * is transparent (pandas pickles its blocks as partial(new_block)(...)), so
 * partial(f, ...) is judged as f. NULL when no global can be named. */
static const sp_global *effective_callee(const sp_stream *st, const sp_call *inner, uint32_t *gi)
{
    for (int hops = 0; hops < 16; hops++) {
        const sp_global *g = sp_slot_global(st, &inner->callee);
        if (!g)
            return NULL;
        if (!(is_name(&g->module, "functools") && is_name(&g->name, "partial")) ||
            inner->args.kind != SP_V_TUPLE || !inner->args.u.obj ||
            inner->args.u.obj->n_kept == 0) {
            *gi = inner->callee.ref;
            return g;
        }
        const sp_slot *fn = &inner->args.u.obj->items[0];
        if (fn->kind == SP_V_GLOBAL && fn->ref < st->n_globals) {
            *gi = fn->ref;
            return &st->globals[fn->ref];
        }
        if (fn->kind != SP_V_RESULT || fn->ref >= st->n_calls)
            return NULL;
        inner = &st->calls[fn->ref];
    }
    return NULL;
}

/* R4, first half: getattr, attrgetter, methodcaller ... asked for an
 * attribute that leads to code. */
static void rule_introspection_args(collector *col, const context *ctx, const stream_view *v,
                                    const sp_call *c)
{
    const sp_global *g = sp_slot_global(v->st, &c->callee);
    if (!g || !(sp_stream_global_caps(v->st, c->callee.ref) & SP_CAP_INTROSPECTION))
        return;
    danger_arg d = {NULL, 0};
    uint64_t budget = 1u << 16;
    sp_walk_strings(&c->args, find_danger, &d, &budget);
    sp_walk_strings(&c->kwargs, find_danger, &d, &budget);
    if (!d.s)
        return;
    char name[96], arg[48], key[KEY_MAX];
    show_global(name, sizeof name, g);
    show_string(arg, sizeof arg, d.s, d.len);
    snprintf(key, sizeof key, "R4 %s %s", name, arg);
    add(col, ctx, SEV_INTROSPECTION, key,
        "%s called with '%s' at offset %" PRIu64 ": reaches for code", name, arg, c->offset);
}

/* torch's legacy reader answers a persistent id ("module", cls, file,
 * source) with cls itself: the global named in the id. */
static int persid_returns_global(const sp_stream *st, const sp_call *inner, uint32_t *gi)
{
    const sp_slot *a = &inner->args;

    if (inner->kind != SP_CALL_PERSID || a->kind != SP_V_TUPLE || a->u.obj == NULL ||
        a->u.obj->n_kept < 2)
        return 0;
    const sp_slot *tag = &a->u.obj->items[0], *cls = &a->u.obj->items[1];
    if (tag->kind != SP_V_STR || tag->len != 6 || memcmp(tag->u.p, "module", 6) != 0 ||
        cls->kind != SP_V_GLOBAL || cls->ref >= st->n_globals)
        return 0;
    *gi = cls->ref;
    return 1;
}

/* R4, second half, and R5: a call result that is called in turn. */
static void rule_chain(collector *col, const context *ctx, const stream_view *v, const sp_call *c)
{
    const sp_stream *st = v->st;
    if (c->callee.kind != SP_V_RESULT || c->callee.ref >= st->n_calls)
        return;
    const sp_call *inner = &st->calls[c->callee.ref];
    uint32_t gi = 0;
    /* the class itself: R1 has judged it where the id names it */
    if (persid_returns_global(st, inner, &gi))
        return;
    const sp_global *ig = effective_callee(st, inner, &gi);
    uint32_t ibits = ig ? sp_stream_global_caps(v->st, gi) : 0;
    char name[96], key[KEY_MAX];
    if (ig && sp_is_plain_lookup(inner, ibits))
        return;
    if (ig && (ibits & SP_CAP_INTROSPECTION)) {
        show_global(name, sizeof name, ig);
        snprintf(key, sizeof key, "R4 chain %s", name);
        add(col, ctx, SEV_INTROSPECTION, key,
            "result of %s (offset %" PRIu64 ") is called at offset %" PRIu64, name, inner->offset,
            c->offset);
    } else if (!(ibits & SP_CAP_SAFE_DATA)) {
        if (ig)
            show_global(name, sizeof name, ig);
        else
            snprintf(name, sizeof name, "%s", "a call result");
        snprintf(key, sizeof key, "R5 %s", name);
        add(col, ctx, SEV_CHAIN, key,
            "call at offset %" PRIu64 " invokes the result of %s (offset %" PRIu64
            "), not a known data constructor",
            c->offset, name, inner->offset);
    }
}

/* R9: BUILD, SETITEM, APPENDS or ADDITEMS straight on a global changes a
 * module or a class for everyone after the load (monkeypatching). A pickler
 * only ever fills objects that the same pickle created. */
static void rule_mutated_global(collector *col, const context *ctx, const stream_view *v,
                                const sp_call *c)
{
    const sp_global *g = sp_slot_global(v->st, &c->callee);
    if (!g)
        return;
    static const char *const verbs[SP_CALL_KIND_COUNT] = {[SP_CALL_BUILD] = "BUILD",
                                                          [SP_CALL_EXTEND] = "APPEND",
                                                          [SP_CALL_SETITEM] = "SETITEM",
                                                          [SP_CALL_ADD] = "ADDITEMS"};
    const char *verb = c->kind < SP_CALL_KIND_COUNT && verbs[c->kind] ? verbs[c->kind] : "a call";
    char name[96], key[KEY_MAX], what[64] = "";
    show_global(name, sizeof name, g);
    /* Name the first attribute set, when the state is a dict of str keys. */
    const sp_slot *state = &c->args;
    if (c->kind == SP_CALL_BUILD && state->kind == SP_V_TUPLE && state->u.obj &&
        state->u.obj->n_kept == 2 && state->u.obj->items[1].kind == SP_V_DICT)
        state = &state->u.obj->items[1];
    if (state->kind == SP_V_DICT && state->u.obj && state->u.obj->n_kept > 0 &&
        state->u.obj->items[0].kind == SP_V_STR) {
        char attr[40];
        show_string(attr, sizeof attr, state->u.obj->items[0].u.p, state->u.obj->items[0].len);
        snprintf(what, sizeof what, " (sets '%s')", attr);
    }
    snprintf(key, sizeof key, "R9 %s", name);
    add(col, ctx, SEV_CHAIN, key, "%s at offset %" PRIu64 " modifies the global %s%s", verb,
        c->offset, name, what);
}

static void rule_calls(collector *col, const context *ctx, const stream_view *v)
{
    for (uint32_t i = 0; i < v->st->n_calls; i++) {
        const sp_call *c = &v->st->calls[i];
        if (sp_call_invokes(c)) {
            rule_introspection_args(col, ctx, v, c);
            rule_chain(col, ctx, v, c);
        } else if (c->kind != SP_CALL_PERSID) {
            rule_mutated_global(col, ctx, v, c);
        }
    }
}

static const int evasion_codes[] = {SP_AN_NUL_IN_LINE,     SP_AN_NONCANONICAL_NUMBER,
                                    SP_AN_PROTO_REPEATED,  SP_AN_FRAME_MISUSE,
                                    SP_AN_COMPUTED_GLOBAL, SP_AN_EXT_CODE,
                                    SP_AN_BAD_NAME};

static void rule_anomalies(collector *col, const context *ctx, const stream_view *v)
{
    const sp_stream *st = v->st;
    for (size_t k = 0; k < sizeof evasion_codes / sizeof evasion_codes[0]; k++) {
        int code = evasion_codes[k];
        if (!st->anomaly_counts[code])
            continue;
        /* COMPUTED_GLOBAL and EXT_CODE already have a reason per global. */
        if (code == SP_AN_COMPUTED_GLOBAL || code == SP_AN_EXT_CODE) {
            col->total++;
            continue;
        }
        uint64_t offset = 0;
        for (uint32_t i = 0; i < st->n_anomalies; i++) {
            if (st->anomalies[i].code == code) {
                offset = st->anomalies[i].offset;
                break;
            }
        }
        char key[KEY_MAX];
        snprintf(key, sizeof key, "R7 %s", sp_anomaly_name(code));
        add(col, ctx, SEV_ANOMALY, key, "%s at offset %" PRIu64 ": %s (never written by a pickler)",
            sp_anomaly_name(code), offset, sp_anomaly_description(code));
    }
}

static void judge_result(collector *col, const context *ctx, const sp_result *r);

static void judge_stream(collector *col, const context *ctx, const sp_stream *st)
{
    stream_view v = {st, NULL, 0};
    if (st->n_nested) {
        v.nested_dirty = calloc(st->n_nested, 1);
        v.all_dirty = v.nested_dirty == NULL;
    }
    for (uint32_t n = 0; n < st->n_nested; n++) {
        const sp_nested *nx = &st->nested[n];
        if (!nx->result)
            continue;
        context inner;
        char here[48];
        snprintf(here, sizeof here, "nested pickle at offset %" PRIu64 ": ", nx->offset);
        join(inner.prefix, sizeof inner.prefix, ctx->prefix, here);
        uint64_t before = col->total;
        judge_result(col, &inner, nx->result);
        if (v.nested_dirty)
            v.nested_dirty[n] = col->total != before;
    }
    rule_capabilities(col, ctx, &v);
    rule_calls(col, ctx, &v);
    rule_structure(col, ctx, &v);
    rule_anomalies(col, ctx, &v);
    free(v.nested_dirty);
}

static void judge_result(collector *col, const context *ctx, const sp_result *r)
{
    if (r->limit_hit)
        add(col, ctx, SEV_LIMIT, "R6", "scan incomplete: %s",
            r->limit_detail[0] ? r->limit_detail : "a resource cap was hit");
    for (uint32_t s = 0; s < r->n_streams; s++)
        judge_stream(col, ctx, &r->streams[s]);
}

static int by_severity(const void *x, const void *y)
{
    const finding *a = x, *b = y;
    if (a->severity != b->severity)
        return b->severity - a->severity;
    return (a->order > b->order) - (a->order < b->order);
}

void sp_verdict_clear(sp_verdict *out)
{
    memset(out, 0, offsetof(sp_verdict, reasons));
    out->score = -1;
    out->scored_record = -1;
}

void sp_verdict_decide(const sp_result *result, sp_verdict *out)
{
    sp_verdict_clear(out);
    if (!result) {
        out->kind = SP_VERDICT_ERROR;
        out->n_reasons = 1;
        snprintf(out->reasons[0], SP_REASON_MAX, "no scan result");
        return;
    }
    collector col_store = {0}, *col = &col_store;
    context top = {""};
    judge_result(col, &top, result);

    if (col->total > 0) {
        out->kind = SP_VERDICT_UNSAFE;
        if (col->n)
            qsort(col->items, col->n, sizeof col->items[0], by_severity);
        uint32_t n = col->n < SP_MAX_REASONS ? col->n : SP_MAX_REASONS;
        for (uint32_t i = 0; i < n; i++)
            memcpy(out->reasons[i], col->items[i].text, SP_REASON_MAX);
        /* unsafe all the same: a reason that could not be kept is said */
        if (col->lost && n < SP_MAX_REASONS)
            snprintf(out->reasons[n++], SP_REASON_MAX,
                     "out of memory while describing the findings");
        out->n_reasons = (int)n;
    } else if (result->n_streams == 0) {
        out->kind = SP_VERDICT_ERROR;
        out->n_reasons = 1;
        snprintf(out->reasons[0], SP_REASON_MAX, "no pickle found");
    } else if (result->streams[0].end_kind != SP_END_STOP) {
        const sp_stream *st = &result->streams[0];
        out->kind = SP_VERDICT_ERROR;
        out->n_reasons = 1;
        const char *why = st->error[0]                       ? st->error
                          : st->end_kind == SP_END_TRUNCATED ? "input ends inside the pickle"
                                                             : "the loader stops";
        snprintf(out->reasons[0], SP_REASON_MAX, "malformed pickle: %.150s at offset %" PRIu64, why,
                 st->error_offset);
    } else {
        out->kind = SP_VERDICT_BENIGN;
    }
    free(col->items);
}

const char *sp_verdict_name(sp_verdict_kind kind)
{
    switch (kind) {
    case SP_VERDICT_BENIGN:
        return "benign";
    case SP_VERDICT_UNSAFE:
        return "unsafe";
    case SP_VERDICT_ERROR:
        return "error";
    default:
        return "unknown";
    }
}
