#include "sp_features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sp_capability.h"
#include "sp_semantic.h"

const int SP_FEATURE_VERSION = 2;

/* Scalar features between the per-opcode and per-anomaly blocks. */
#define SP_FEATURES_STRUCT(X)                                                                      \
    X(ratio_global_ops, "share of opcodes that resolve a global (GLOBAL, STACK_GLOBAL, INST, "     \
                        "EXT1/2/4)")                                                               \
    X(ratio_call_ops, "share of opcodes that call (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ)")         \
    X(ratio_build_ops, "share of opcodes that are BUILD")                                          \
    X(ratio_memo_ops, "share of opcodes that read or write the memo")                              \
    X(ratio_string_ops, "share of opcodes that push a str, bytes or bytearray")                    \
    X(ratio_container_ops, "share of opcodes that build or fill a list, tuple, dict or set")       \
    X(proto_first, "PROTO argument of the first pickle (0 when absent)")                           \
    X(proto_max, "highest PROTO argument of any pickle, nested ones included")                     \
    X(n_streams_log, "log1p of the number of pickles back to back at the top level")               \
    X(input_size_log, "log1p of the input size in bytes")                                          \
    X(n_ops_log, "log1p of the number of opcodes executed, all streams")                           \
    X(max_stack_depth_log, "log1p of the deepest stack of any stream")                             \
    X(max_mark_depth_log, "log1p of the most MARKs open at once in any stream")                    \
    X(memo_puts_log, "log1p of the number of memo writes")                                         \
    X(memo_gets_log, "log1p of the number of memo reads")                                          \
    X(memo_entries_log, "log1p of the number of distinct memo entries")                            \
    X(memo_index_spread, "log1p of (highest memo index + 1) / entries: sparse memo keys")          \
    X(container_depth_log, "log1p of the deepest container nesting")                               \
    X(string_bytes_log, "log1p of the total length of str and bytes values")                       \
    X(string_bytes_share, "total length of str and bytes values / input size (at most 1)")         \
    X(max_string_len_log, "log1p of the longest str or bytes value")                               \
    X(frames_log, "log1p of the number of FRAME opcodes")                                          \
    X(streams_not_stop_log, "log1p of the number of pickles that do not end at STOP")              \
    X(first_stream_stop, "1 when the first pickle ends at STOP")

#define SP_FEATURES_SEMANTIC(X)                                                                    \
    X(n_globals_log, "log1p of the number of globals resolved, nested pickles included")           \
    X(n_distinct_globals_log, "log1p of the number of distinct module.name globals")               \
    X(globals_stdlib_log, "log1p of the number of globals from standard-library modules")          \
    X(globals_unknown_log, "log1p of the number of globals outside the standard library that "     \
                           "the capability table does not know")                                   \
    X(globals_safe_share, "share of globals that are known data constructors (safe_data)")         \
    X(globals_dangerous_log, "log1p of the number of globals with any dangerous capability")       \
    X(n_calls_log, "log1p of the number of calls of any kind")

#define SP_FEATURES_TAIL(X)                                                                        \
    X(calls_discarded_log, "log1p of the number of calls whose result is thrown away")             \
    X(call_chains_log, "log1p of the number of calls whose callee is itself a call result")        \
    X(call_chain_max, "log1p of the longest chain of calls on call results")                       \
    X(calls_args_unknown_log, "log1p of the number of calls with opaque arguments")                \
    X(build_slotstate_log, "log1p of the number of BUILDs with a slot state (setattr)")            \
    X(speculative_events_log, "log1p of the number of globals and calls after a point where "      \
                              "the loader may fail")                                               \
    X(globals_computed_log, "log1p of the number of STACK_GLOBALs on non-constant names")          \
    X(globals_ext_log, "log1p of the number of globals reached through EXT codes")                 \
    X(globals_dotted_log, "log1p of the number of dotted (attribute chain) globals")               \
    X(globals_compat_log, "log1p of the number of globals renamed by the protocol < 3 mapping")    \
    X(globals_invalid_log, "log1p of the number of globals the loader rejects")                    \
    X(strings_code_log, "log1p of the number of constant strings in call arguments that read "     \
                        "like Python code")                                                        \
    X(strings_shell_log, "log1p of the number of constant strings in call arguments that read "    \
                         "like shell commands")                                                    \
    X(strings_danger_log, "log1p of the number of constant strings in call arguments naming "      \
                          "an attribute or module used to reach code (system, __globals__, "       \
                          "os ...)")                                                               \
    X(introspection_danger_calls_log, "log1p of the number of calls to introspection globals "     \
                                      "with such a string argument")                               \
    X(nested_count_log, "log1p of the number of pickles found inside pickles")                     \
    X(nested_max_depth, "deepest nesting of pickles inside pickles (0 when none)")                 \
    X(trailing_bytes_log, "log1p of the bytes after the last pickle")                              \
    X(limit_hit, "1 when a resource cap was hit and the scan is incomplete")

#define SP_CAP_CLASSES(X)                                                                          \
    X(process, SP_CAP_PROCESS)                                                                     \
    X(code_exec, SP_CAP_CODE_EXEC)                                                                 \
    X(filesystem, SP_CAP_FILESYSTEM)                                                               \
    X(network, SP_CAP_NETWORK)                                                                     \
    X(import, SP_CAP_IMPORT)                                                                       \
    X(introspection, SP_CAP_INTROSPECTION)                                                         \
    X(deserialize, SP_CAP_DESERIALIZE)                                                             \
    X(debug, SP_CAP_DEBUG)                                                                         \
    X(system, SP_CAP_SYSTEM)

#define SP_CALL_KINDS(X)                                                                           \
    X(reduce, "REDUCE: callable(*args)")                                                           \
    X(newobj, "NEWOBJ: cls.__new__(cls, *args)")                                                   \
    X(newobj_ex, "NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)")                                   \
    X(inst, "INST: cls(*args)")                                                                    \
    X(obj, "OBJ: cls(*args), class from the stack")                                                \
    X(build, "BUILD: __setstate__ or state update")                                                \
    X(extend, "APPEND(S) on a non-list: obj.extend")                                               \
    X(setitem, "SETITEM(S) on a non-dict: obj[key] = value")                                       \
    X(add, "ADDITEMS on a non-set: obj.add")                                                       \
    X(persid, "persistent_load(pid)")

enum {
    F_OP_BASE = 0,
    F_STRUCT_BASE = F_OP_BASE + SP_N_OPCODES,
#define SP_X(name, desc) F_##name,
    F_STRUCT_BEFORE = F_STRUCT_BASE - 1,
    SP_FEATURES_STRUCT(SP_X) F_ANOMALY_BASE,
    F_SEMANTIC_BASE = F_ANOMALY_BASE + SP_AN_COUNT,
    F_SEMANTIC_BEFORE = F_SEMANTIC_BASE - 1,
    SP_FEATURES_SEMANTIC(SP_X) F_CAP_GLOBAL_BASE,
    F_CAP_CALL_BASE = F_CAP_GLOBAL_BASE + SP_CAP_N_CLASSES,
    F_CALL_KIND_BASE = F_CAP_CALL_BASE + SP_CAP_N_CLASSES,
    F_TAIL_BASE = F_CALL_KIND_BASE + SP_CALL_KIND_COUNT,
    F_TAIL_BEFORE = F_TAIL_BASE - 1,
    SP_FEATURES_TAIL(SP_X)
#undef SP_X
        F_COUNT
};

static const struct feature_text {
    const char *name, *description;
} features[F_COUNT] = {
#define SP_X(name, byte, proto) {"op_" #name, "log1p of the number of " #name " opcodes"},
    SP_OPCODE_LIST(SP_X)
#undef SP_X
#define SP_X(name, desc) {#name, desc},
        SP_FEATURES_STRUCT(SP_X)
#undef SP_X
#define SP_X(name, text) {"anomaly_" #name, "log1p of the number of " #name " anomalies: " text},
            SP_ANOMALY_LIST(SP_X)
#undef SP_X
#define SP_X(name, desc) {#name, desc},
                SP_FEATURES_SEMANTIC(SP_X)
#undef SP_X
#define SP_X(name, bit)                                                                            \
    {"cap_globals_" #name, "log1p of the number of globals with the " #name " capability"},
                    SP_CAP_CLASSES(SP_X)
#undef SP_X
#define SP_X(name, bit)                                                                            \
    {"cap_calls_" #name,                                                                           \
     "log1p of the number of calls whose callee is a global with the " #name " capability"},
                        SP_CAP_CLASSES(SP_X)
#undef SP_X
#define SP_X(name, desc) {"calls_" #name "_log", "log1p of the number of calls of kind " desc},
                            SP_CALL_KINDS(SP_X)
#undef SP_X
#define SP_X(name, desc) {#name, desc},
                                SP_FEATURES_TAIL(SP_X)
#undef SP_X
};

static const uint32_t cap_bits[SP_CAP_N_CLASSES] = {
#define SP_X(name, bit) bit,
    SP_CAP_CLASSES(SP_X)
#undef SP_X
};

size_t sp_feature_count(void)
{
    return F_COUNT;
}

const char *sp_feature_name(size_t i)
{
    return i < F_COUNT ? features[i].name : NULL;
}

const char *sp_feature_description(size_t i)
{
    return i < F_COUNT ? features[i].description : NULL;
}

/* ---- accumulation ----------------------------------------------------- */

/* Strings scanned per result, so that one file of many large strings stays
 * bounded: slots visited and bytes examined. */
#define WALK_BUDGET (1u << 20)
#define STRING_BYTE_BUDGET (16u << 20)
#define STRING_CLASS_CACHE 128 /* power of two */

typedef struct acc {
    double op[SP_N_OPCODES];
    double anomalies[SP_AN_COUNT];
    double cap_globals[SP_CAP_N_CLASSES], cap_calls[SP_CAP_N_CLASSES];
    double call_kinds[SP_CALL_KIND_COUNT];
    double n_ops, n_streams, streams_not_stop, frames;
    double max_stack, max_marks, memo_puts, memo_gets, memo_entries, memo_max_index;
    double container_depth, string_bytes, max_string;
    int proto_first, proto_max, first_stop, have_first;
    double n_globals, stdlib, unknown, safe, dangerous, n_calls;
    double discarded, chains, chain_max, args_unknown, slotstate, speculative;
    double computed, ext, dotted, compat, invalid;
    double s_code, s_shell, s_danger, intro_danger;
    double nested, nested_depth;
    uint64_t *hashes;
    size_t n_hashes, hashes_cap;
    uint64_t walk_budget, byte_budget;
    /* classes of strings already examined: the memo hands the same string
     * to many calls (a class name, a dtype), and it need not be read again */
    struct {
        const uint8_t *s;
        uint64_t len;
        unsigned cls;
    } seen[STRING_CLASS_CACHE];
} acc;

typedef struct string_hits {
    acc *a;
    int danger; /* some string named a dangerous attribute */
} string_hits;

static void on_string(const uint8_t *s, uint64_t len, void *ctx)
{
    string_hits *h = ctx;
    if (h->a->byte_budget == 0)
        return;
    uint64_t take = len < SP_STR_SCAN_MAX ? len : SP_STR_SCAN_MAX;
    if (take > h->a->byte_budget)
        take = h->a->byte_budget;
    h->a->byte_budget -= take;
    uintptr_t at = ((uintptr_t)s >> 3 ^ (uintptr_t)take) & (STRING_CLASS_CACHE - 1);
    unsigned cls;
    if (h->a->seen[at].s == s && h->a->seen[at].len == take) {
        cls = h->a->seen[at].cls;
    } else {
        cls = sp_string_class(s, take);
        h->a->seen[at].s = s;
        h->a->seen[at].len = take;
        h->a->seen[at].cls = cls;
    }
    if (cls & SP_STR_CODE)
        h->a->s_code++;
    if (cls & SP_STR_SHELL)
        h->a->s_shell++;
    if (cls & SP_STR_DANGER) {
        h->a->s_danger++;
        h->danger = 1;
    }
}

static uint64_t name_hash(const sp_global *g)
{
    /* FNV-1a over module, a separator no name contains, and name. */
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < g->module.len; i++)
        h = (h ^ (uint8_t)g->module.ptr[i]) * 1099511628211ull;
    h = (h ^ 0x100) * 1099511628211ull;
    for (uint32_t i = 0; i < g->name.len; i++)
        h = (h ^ (uint8_t)g->name.ptr[i]) * 1099511628211ull;
    return h;
}

static void add_hash(acc *a, uint64_t h)
{
    if (a->n_hashes == a->hashes_cap) {
        size_t cap = a->hashes_cap ? a->hashes_cap * 2 : 256;
        uint64_t *grown = realloc(a->hashes, cap * sizeof *grown);
        if (!grown)
            return; /* the distinct count is then a lower bound */
        a->hashes = grown;
        a->hashes_cap = cap;
    }
    a->hashes[a->n_hashes++] = h;
}

/* Plain lookups (sp_semantic.h) read like the dotted globals they name, as
 * the verdict reads them: getattr(zoneinfo.ZoneInfo, "_unpickle")(...) is
 * how a tz-aware datetime pickles. The lookup is no introspection call, the
 * call on its result no chain, and a lookup global used for nothing else no
 * dangerous global. Per stream: */
#define LOOKUP_SMALL 256
typedef struct lookups {
    uint8_t *call; /* per call: 1 when it is a plain lookup */
    uint8_t *only; /* per global: 1 when every call of it is a plain lookup */
    /* a stream of few calls and globals needs no allocation */
    uint8_t small_call[LOOKUP_SMALL], small_only[LOOKUP_SMALL];
} lookups;

static uint8_t *flags_for(uint32_t n, uint8_t *small)
{
    if (n <= LOOKUP_SMALL) {
        memset(small, 0, n);
        return small;
    }
    return calloc(n, 1);
}

static void lookups_free(lookups *lk)
{
    if (lk->call != lk->small_call)
        free(lk->call);
    if (lk->only != lk->small_only)
        free(lk->only);
    lk->call = lk->only = NULL;
}

/* Without memory both stay NULL and nothing is read as a lookup: the
 * features are then those of layout v1, never less suspicious. */
static void find_lookups(const sp_stream *st, lookups *lk)
{
    lk->call = NULL;
    lk->only = NULL;
    if (st->n_calls == 0 || st->n_globals == 0)
        return;
    lk->call = flags_for(st->n_calls, lk->small_call);
    lk->only = flags_for(st->n_globals, lk->small_only);
    if (lk->call == NULL || lk->only == NULL) {
        lookups_free(lk);
        return;
    }
    /* only[g]: 0 never called, 1 only in lookups, 2 called otherwise too */
    for (uint32_t i = 0; i < st->n_calls; i++) {
        const sp_call *c = &st->calls[i];
        if (sp_slot_global(st, &c->callee) == NULL)
            continue;
        uint32_t g = c->callee.ref;
        if (sp_is_plain_lookup(c, sp_stream_global_caps(st, g))) {
            lk->call[i] = 1;
            if (lk->only[g] == 0)
                lk->only[g] = 1;
        } else {
            lk->only[g] = 2;
        }
    }
    for (uint32_t g = 0; g < st->n_globals; g++)
        lk->only[g] = lk->only[g] == 1;
}

static void add_globals(acc *a, const sp_stream *st, const lookups *lk)
{
    for (uint32_t i = 0; i < st->n_globals; i++) {
        const sp_global *g = &st->globals[i];
        uint32_t bits = lk->only && lk->only[i] ? 0 : sp_stream_global_caps(st, i);
        a->n_globals++;
        if (!(g->flags & SP_GF_COMPUTED))
            add_hash(a, name_hash(g));
        int stdlib = g->module.ptr && sp_module_is_stdlib(g->module.ptr, g->module.len);
        if (stdlib)
            a->stdlib++;
        else if (bits == 0)
            a->unknown++;
        if (bits & SP_CAP_SAFE_DATA)
            a->safe++;
        if (bits & SP_CAP_DANGEROUS)
            a->dangerous++;
        for (int c = 0; c < SP_CAP_N_CLASSES; c++)
            if (bits & cap_bits[c])
                a->cap_globals[c]++;
        a->computed += !!(g->flags & SP_GF_COMPUTED);
        a->ext += !!(g->flags & SP_GF_EXT);
        a->dotted += !!(g->flags & SP_GF_DOTTED);
        a->compat += !!(g->flags & SP_GF_COMPAT);
        a->invalid += !!(g->flags & SP_GF_INVALID);
        a->speculative += !!(g->flags & SP_GF_SPECULATIVE);
    }
}

static void add_calls(acc *a, const sp_stream *st, const lookups *lk)
{
    uint32_t *chain = st->n_calls ? calloc(st->n_calls, sizeof *chain) : NULL;
    for (uint32_t i = 0; i < st->n_calls; i++) {
        const sp_call *c = &st->calls[i];
        a->n_calls++;
        if (c->kind < SP_CALL_KIND_COUNT)
            a->call_kinds[c->kind]++;
        a->discarded += !(c->flags & SP_CF_USED);
        a->args_unknown += !!(c->flags & SP_CF_ARGS_UNKNOWN);
        a->slotstate += !!(c->flags & SP_CF_SLOTSTATE);
        a->speculative += !!(c->flags & SP_CF_SPECULATIVE);

        uint32_t bits = 0;
        int through_lookup = sp_call_invokes(c) && c->callee.kind == SP_V_RESULT &&
                             c->callee.ref < i && lk->call && lk->call[c->callee.ref];
        if (sp_slot_global(st, &c->callee) && !(lk->call && lk->call[i]))
            bits = sp_stream_global_caps(st, c->callee.ref);
        else if (through_lookup)
            bits = sp_lookup_target_caps(st, &st->calls[c->callee.ref]);
        for (int k = 0; k < SP_CAP_N_CLASSES; k++)
            if (bits & cap_bits[k])
                a->cap_calls[k]++;

        if (through_lookup) {
            /* the machine reported it as CALL_ON_RESULT */
            if (a->anomalies[SP_AN_CALL_ON_RESULT] > 0)
                a->anomalies[SP_AN_CALL_ON_RESULT]--;
        } else if (sp_call_invokes(c) && c->callee.kind == SP_V_RESULT && c->callee.ref < i) {
            a->chains++;
            uint32_t len = 1;
            if (chain)
                len = chain[c->callee.ref] + 1;
            if (chain)
                chain[i] = len;
            if (len > a->chain_max)
                a->chain_max = len;
        }

        string_hits h = {a, 0};
        sp_walk_strings(&c->args, on_string, &h, &a->walk_budget);
        sp_walk_strings(&c->kwargs, on_string, &h, &a->walk_budget);
        if (h.danger && (bits & SP_CAP_INTROSPECTION))
            a->intro_danger++;
    }
    free(chain);
}

static void add_result(acc *a, const sp_result *r, int top)
{
    if (top)
        a->n_streams = r->n_streams;
    if (r->nesting > a->nested_depth)
        a->nested_depth = r->nesting;
    for (uint32_t s = 0; s < r->n_streams; s++) {
        const sp_stream *st = &r->streams[s];
        if (top && !a->have_first) {
            a->have_first = 1;
            a->proto_first = st->proto;
            a->first_stop = st->end_kind == SP_END_STOP;
        }
        if (top && st->end_kind != SP_END_STOP)
            a->streams_not_stop++;
        if (st->max_proto > a->proto_max)
            a->proto_max = st->max_proto;
        for (int i = 0; i < SP_N_OPCODES; i++)
            a->op[i] += (double)st->opcode_counts[i];
        for (int i = 0; i < SP_AN_COUNT; i++)
            a->anomalies[i] += st->anomaly_counts[i];
        a->n_ops += (double)st->n_ops;
        a->frames += st->n_frames;
        if (st->max_stack_depth > a->max_stack)
            a->max_stack = st->max_stack_depth;
        if (st->max_mark_depth > a->max_marks)
            a->max_marks = st->max_mark_depth;
        a->memo_puts += st->memo_puts;
        a->memo_gets += st->memo_gets;
        a->memo_entries += st->memo_entries;
        if ((double)st->memo_max_index > a->memo_max_index)
            a->memo_max_index = (double)st->memo_max_index;
        if ((double)st->max_container_depth > a->container_depth)
            a->container_depth = (double)st->max_container_depth;
        a->string_bytes += (double)st->string_bytes;
        if ((double)st->max_string_len > a->max_string)
            a->max_string = (double)st->max_string_len;

        lookups lk;
        find_lookups(st, &lk);
        add_globals(a, st, &lk);
        add_calls(a, st, &lk);
        lookups_free(&lk);

        for (uint32_t n = 0; n < st->n_nested; n++) {
            if (!st->nested[n].result)
                continue;
            a->nested++;
            add_result(a, st->nested[n].result, 0);
        }
    }
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

static size_t distinct(uint64_t *h, size_t n)
{
    if (n == 0)
        return 0;
    qsort(h, n, sizeof *h, cmp_u64);
    size_t d = 1;
    for (size_t i = 1; i < n; i++)
        d += h[i] != h[i - 1];
    return d;
}

static float lg(double x)
{
    /* log1p(0) is 0: most counts of a file are */
    return x > 0 ? (float)log1p(x) : 0.0f;
}

static float share(double part, double whole)
{
    return whole > 0 ? (float)(part / whole) : 0.0f;
}

sp_status sp_features_compute(const sp_result *result, float *out)
{
    memset(out, 0, sizeof *out * F_COUNT);
    if (!result)
        return SP_OK;
    acc *a = calloc(1, sizeof *a);
    if (!a)
        return SP_ERR_NOMEM;
    a->walk_budget = WALK_BUDGET;
    a->byte_budget = STRING_BYTE_BUDGET;
    add_result(a, result, 1);

    for (int i = 0; i < SP_N_OPCODES; i++)
        out[F_OP_BASE + i] = lg(a->op[i]);
    double globals_ops = a->op[SP_OPI_GLOBAL] + a->op[SP_OPI_STACK_GLOBAL] + a->op[SP_OPI_INST] +
                         a->op[SP_OPI_EXT1] + a->op[SP_OPI_EXT2] + a->op[SP_OPI_EXT4];
    double call_ops = a->op[SP_OPI_REDUCE] + a->op[SP_OPI_NEWOBJ] + a->op[SP_OPI_NEWOBJ_EX] +
                      a->op[SP_OPI_INST] + a->op[SP_OPI_OBJ];
    double memo_ops = a->memo_puts + a->memo_gets;
    double string_ops =
        a->op[SP_OPI_STRING] + a->op[SP_OPI_BINSTRING] + a->op[SP_OPI_SHORT_BINSTRING] +
        a->op[SP_OPI_BINBYTES] + a->op[SP_OPI_SHORT_BINBYTES] + a->op[SP_OPI_BINBYTES8] +
        a->op[SP_OPI_BYTEARRAY8] + a->op[SP_OPI_UNICODE] + a->op[SP_OPI_SHORT_BINUNICODE] +
        a->op[SP_OPI_BINUNICODE] + a->op[SP_OPI_BINUNICODE8];
    double container_ops = a->op[SP_OPI_EMPTY_LIST] + a->op[SP_OPI_APPEND] + a->op[SP_OPI_APPENDS] +
                           a->op[SP_OPI_LIST] + a->op[SP_OPI_EMPTY_TUPLE] + a->op[SP_OPI_TUPLE] +
                           a->op[SP_OPI_TUPLE1] + a->op[SP_OPI_TUPLE2] + a->op[SP_OPI_TUPLE3] +
                           a->op[SP_OPI_EMPTY_DICT] + a->op[SP_OPI_DICT] + a->op[SP_OPI_SETITEM] +
                           a->op[SP_OPI_SETITEMS] + a->op[SP_OPI_EMPTY_SET] +
                           a->op[SP_OPI_ADDITEMS] + a->op[SP_OPI_FROZENSET];
    out[F_ratio_global_ops] = share(globals_ops, a->n_ops);
    out[F_ratio_call_ops] = share(call_ops, a->n_ops);
    out[F_ratio_build_ops] = share(a->op[SP_OPI_BUILD], a->n_ops);
    out[F_ratio_memo_ops] = share(memo_ops, a->n_ops);
    out[F_ratio_string_ops] = share(string_ops, a->n_ops);
    out[F_ratio_container_ops] = share(container_ops, a->n_ops);
    out[F_proto_first] = (float)a->proto_first;
    out[F_proto_max] = (float)a->proto_max;
    out[F_n_streams_log] = lg(a->n_streams);
    out[F_input_size_log] = lg((double)result->input_len);
    out[F_n_ops_log] = lg(a->n_ops);
    out[F_max_stack_depth_log] = lg(a->max_stack);
    out[F_max_mark_depth_log] = lg(a->max_marks);
    out[F_memo_puts_log] = lg(a->memo_puts);
    out[F_memo_gets_log] = lg(a->memo_gets);
    out[F_memo_entries_log] = lg(a->memo_entries);
    out[F_memo_index_spread] =
        a->memo_entries > 0 ? lg((a->memo_max_index + 1) / a->memo_entries) : 0.0f;
    out[F_container_depth_log] = lg(a->container_depth);
    out[F_string_bytes_log] = lg(a->string_bytes);
    float sb = share(a->string_bytes, (double)result->input_len);
    out[F_string_bytes_share] = sb > 1.0f ? 1.0f : sb;
    out[F_max_string_len_log] = lg(a->max_string);
    out[F_frames_log] = lg(a->frames);
    out[F_streams_not_stop_log] = lg(a->streams_not_stop);
    out[F_first_stream_stop] = (float)a->first_stop;

    for (int i = 0; i < SP_AN_COUNT; i++)
        out[F_ANOMALY_BASE + i] = lg(a->anomalies[i]);

    out[F_n_globals_log] = lg(a->n_globals);
    out[F_n_distinct_globals_log] = lg((double)distinct(a->hashes, a->n_hashes));
    out[F_globals_stdlib_log] = lg(a->stdlib);
    out[F_globals_unknown_log] = lg(a->unknown);
    out[F_globals_safe_share] = share(a->safe, a->n_globals);
    out[F_globals_dangerous_log] = lg(a->dangerous);
    out[F_n_calls_log] = lg(a->n_calls);
    for (int i = 0; i < SP_CAP_N_CLASSES; i++) {
        out[F_CAP_GLOBAL_BASE + i] = lg(a->cap_globals[i]);
        out[F_CAP_CALL_BASE + i] = lg(a->cap_calls[i]);
    }
    for (int i = 0; i < SP_CALL_KIND_COUNT; i++)
        out[F_CALL_KIND_BASE + i] = lg(a->call_kinds[i]);

    out[F_calls_discarded_log] = lg(a->discarded);
    out[F_call_chains_log] = lg(a->chains);
    out[F_call_chain_max] = lg(a->chain_max);
    out[F_calls_args_unknown_log] = lg(a->args_unknown);
    out[F_build_slotstate_log] = lg(a->slotstate);
    out[F_speculative_events_log] = lg(a->speculative);
    out[F_globals_computed_log] = lg(a->computed);
    out[F_globals_ext_log] = lg(a->ext);
    out[F_globals_dotted_log] = lg(a->dotted);
    out[F_globals_compat_log] = lg(a->compat);
    out[F_globals_invalid_log] = lg(a->invalid);
    out[F_strings_code_log] = lg(a->s_code);
    out[F_strings_shell_log] = lg(a->s_shell);
    out[F_strings_danger_log] = lg(a->s_danger);
    out[F_introspection_danger_calls_log] = lg(a->intro_danger);
    out[F_nested_count_log] = lg(a->nested);
    out[F_nested_max_depth] = (float)a->nested_depth;
    out[F_trailing_bytes_log] = lg((double)result->trailing_len);
    out[F_limit_hit] = result->limit_hit ? 1.0f : 0.0f;

    free(a->hashes);
    free(a);
    return SP_OK;
}
