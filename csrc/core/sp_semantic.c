#include "sp_semantic.h"

#include <pthread.h>

#include <stdlib.h>
#include <string.h>

#include "sp_capability.h"

static uint32_t names_caps(const sp_name *module, const sp_name *name)
{
    if (!module->ptr || !name->ptr)
        return 0;
    return sp_capability_of(module->ptr, module->len, name->ptr, name->len);
}

static int same_name(const sp_name *a, const sp_name *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

uint32_t sp_global_caps(const sp_global *g)
{
    if (g->flags & SP_GF_COMPUTED)
        return 0;
    uint32_t bits = names_caps(&g->module, &g->name);
    /* The raw names matter when the rename hides something (a py2 name the
     * mapping sends elsewhere): judge both, keep the worst. */
    if (g->raw_module.ptr && g->raw_name.ptr &&
        (!same_name(&g->module, &g->raw_module) || !same_name(&g->name, &g->raw_name)))
        bits |= names_caps(&g->raw_module, &g->raw_name);
    if (bits & SP_CAP_DANGEROUS)
        bits &= SP_CAP_DANGEROUS;
    return bits;
}

static uint64_t fnv(uint64_t h, const sp_name *n)
{
    for (uint32_t i = 0; i < n->len; i++)
        h = (h ^ (uint8_t)n->ptr[i]) * 1099511628211ull;
    return (h ^ 0x100) * 1099511628211ull; /* separator no byte equals */
}

static uint64_t global_hash(const sp_global *g)
{
    uint64_t h = 1469598103934665603ull ^ (g->flags & SP_GF_COMPUTED);
    h = fnv(h, &g->module);
    h = fnv(h, &g->name);
    h = fnv(h, &g->raw_module);
    return fnv(h, &g->raw_name);
}

static int same_global(const sp_global *a, const sp_global *b)
{
    return (a->flags & SP_GF_COMPUTED) == (b->flags & SP_GF_COMPUTED) &&
           same_name(&a->module, &b->module) && same_name(&a->name, &b->name) &&
           same_name(&a->raw_module, &b->raw_module) && same_name(&a->raw_name, &b->raw_name);
}

void sp_stream_set_caps(sp_arena *arena, sp_stream *st)
{
    uint32_t n = st->n_globals;

    st->caps = NULL;
    if (n == 0)
        return;
    uint32_t *caps = sp_arena_alloc_raw(arena, sizeof *caps * n);
    if (!caps)
        return;
    /* Protocol 0 pickles resolve the same global again at every use: judge
     * each distinct name once (open addressing over global indices). */
    size_t cap = 16;
    while (cap < (size_t)n * 2 && cap < ((size_t)1 << 30))
        cap <<= 1;
    uint32_t *slots = malloc(sizeof *slots * cap);
    if (slots)
        memset(slots, 0xff, sizeof *slots * cap);
    for (uint32_t i = 0; i < n; i++) {
        const sp_global *g = &st->globals[i];
        if (!slots) {
            caps[i] = sp_global_caps(g);
            continue;
        }
        size_t at = (size_t)global_hash(g) & (cap - 1);
        while (slots[at] != UINT32_MAX && !same_global(&st->globals[slots[at]], g))
            at = (at + 1) & (cap - 1);
        if (slots[at] == UINT32_MAX) {
            slots[at] = i;
            caps[i] = sp_global_caps(g);
        } else {
            caps[i] = caps[slots[at]];
        }
    }
    free(slots);
    st->caps = caps;
}

uint32_t sp_stream_global_caps(const sp_stream *st, uint32_t i)
{
    return st->caps ? st->caps[i] : sp_global_caps(&st->globals[i]);
}

const sp_global *sp_slot_global(const sp_stream *st, const sp_slot *s)
{
    if (s->kind != SP_V_GLOBAL || s->ref >= st->n_globals)
        return NULL;
    return &st->globals[s->ref];
}

int sp_call_invokes(const sp_call *c)
{
    switch (c->kind) {
    case SP_CALL_REDUCE:
    case SP_CALL_NEWOBJ:
    case SP_CALL_NEWOBJ_EX:
    case SP_CALL_INST:
    case SP_CALL_OBJ:
        return 1;
    default:
        return 0;
    }
}

/* ---- strings ---------------------------------------------------------- */

/* Python source fragments. Matched case-sensitively: code is. Every mark
 * here and in shell_marks is at least two bytes long (find_marks). */
static const char *const code_marks[] = {
    "import ",      "exec(",         "eval(",       "__import__",     "lambda:",   "lambda ",
    "os.system",    "subprocess",    "socket",      "base64",         "b64decode", "compile(",
    "getattr(",     "__builtins__",  "__globals__", "__subclasses__", "open(",     "popen(",
    "pickle.loads", "marshal.loads", "pty.spawn",   "importlib",      "def ",      "print(",
};

/* Shell fragments, matched on ASCII-lowercased text. A bare " | " is not
 * one: docstrings and markdown tables are full of it. */
static const char *const shell_marks[] = {
    "/bin/sh", "/bin/bash",   "bash -",      "sh -c",  "cmd.exe",   "cmd /c",     "powershell",
    "curl ",   "wget ",       "nc -",        "ncat ",  "rm -rf",    "chmod ",     "&&",
    "| sh",    "| bash",      "| python",    "|sh",    "|bash",     "$(",         "> /",
    ">/",      "2>&1",        "/dev/tcp",    "mkfifo", "python -c", "python3 -c", "nohup ",
    "whoami",  "/etc/passwd", "/etc/shadow", "echo ",  "touch /",   "cat /",      "uname -",
};

/* Data is binary (tensor and array payloads) when a quarter of its first
 * bytes are neither printable ASCII nor whitespace. */
static int looks_binary(const uint8_t *s, size_t n)
{
    size_t probe = n < 256 ? n : 256, other = 0;

    /* counted without a branch per byte: binary data mispredicts them */
    for (size_t i = 0; i < probe; i++)
        other +=
            !((s[i] >= 0x20 && s[i] < 0x7f) | (s[i] == '\t') | (s[i] == '\n') | (s[i] == '\r'));
    return other * 4 > probe;
}

/* One pass over the text whatever the number of marks: marks are indexed
 * by their first byte once, so each position is compared only with the few
 * marks that can start there. */
#define SP_MARKS_PER_BYTE 16

typedef struct mark_index {
    uint8_t count[256];
    uint8_t which[256][SP_MARKS_PER_BYTE];
    uint8_t length[64];
} mark_index;

static mark_index code_index, shell_index;
static pthread_once_t mark_index_once = PTHREAD_ONCE_INIT;

static void index_marks(mark_index *ix, const char *const *marks, size_t count)
{
    memset(ix, 0, sizeof(*ix));
    for (size_t k = 0; k < count && k < 64; k++) {
        uint8_t c = (uint8_t)marks[k][0];

        ix->length[k] = (uint8_t)strlen(marks[k]);
        if (ix->count[c] < SP_MARKS_PER_BYTE)
            ix->which[c][ix->count[c]++] = (uint8_t)k;
    }
}

static void build_mark_indexes(void);

/* 1 when one of the marks starts at s[0] (n bytes available). */
static int mark_at(const uint8_t *s, size_t n, const char *const *marks, const mark_index *ix,
                   int fold)
{
    uint8_t c = s[0];

    if (fold && c >= 'A' && c <= 'Z')
        c = (uint8_t)(c - 'A' + 'a');
    for (uint8_t w = 0; w < ix->count[c]; w++) {
        uint8_t k = ix->which[c][w];
        const char *mk = marks[k];
        size_t len = ix->length[k], j;

        if (len > n)
            continue;
        for (j = 1; j < len; j++) {
            uint8_t d = s[j];

            if (fold && d >= 'A' && d <= 'Z')
                d = (uint8_t)(d - 'A' + 'a');
            if (d != (uint8_t)mk[j])
                break;
        }
        if (j == len)
            return 1;
    }
    return 0;
}

/* Every mark is at least two bytes long, so a mark can only start where
 * the next two bytes are the first two of some mark (in any case, for the
 * shell marks). One byte per byte pair, indexed by the two bytes as they
 * lie in memory: in binary payloads almost no position passes, and the
 * marks are compared only where one does. */
static uint8_t mark_pairs[65536];

static uint16_t pair_key(uint8_t a, uint8_t b)
{
    uint8_t two[2] = {a, b};
    uint16_t key;

    memcpy(&key, two, sizeof key);
    return key;
}

static void add_pairs(const char *const *marks, size_t count, int fold)
{
    for (size_t k = 0; k < count; k++) {
        uint8_t a = (uint8_t)marks[k][0], b = (uint8_t)marks[k][1];
        uint8_t ua = fold && a >= 'a' && a <= 'z' ? (uint8_t)(a - 'a' + 'A') : a;
        uint8_t ub = fold && b >= 'a' && b <= 'z' ? (uint8_t)(b - 'a' + 'A') : b;

        mark_pairs[pair_key(a, b)] = 1;
        mark_pairs[pair_key(ua, b)] = 1;
        mark_pairs[pair_key(a, ub)] = 1;
        mark_pairs[pair_key(ua, ub)] = 1;
    }
}

static inline unsigned pair_may_start(const uint8_t *p)
{
    uint16_t key;

    memcpy(&key, p, sizeof key);
    return mark_pairs[key];
}

/* SP_STR_CODE and SP_STR_SHELL of s[0..n): the code marks matched exactly,
 * the shell marks on ASCII-lowercased text. */
static unsigned find_marks(const uint8_t *s, size_t n)
{
    unsigned found = 0;
    size_t i = 0;

    while (i + 1 < n) {
        size_t block = n - 1 - i < 16 ? n - 1 - i : 16;
        unsigned any = 0;

        if (block == 16) {
            /* fixed count: unrolled, no branch per position */
#pragma GCC unroll 16
            for (size_t k = 0; k < 16; k++)
                any |= pair_may_start(s + i + k);
        } else {
            for (size_t k = 0; k < block; k++)
                any |= pair_may_start(s + i + k);
        }
        for (size_t k = 0; any && k < block; k++) {
            if (!pair_may_start(s + i + k))
                continue;
            if (!(found & SP_STR_CODE) && mark_at(s + i + k, n - i - k, code_marks, &code_index, 0))
                found |= SP_STR_CODE;
            if (!(found & SP_STR_SHELL) &&
                mark_at(s + i + k, n - i - k, shell_marks, &shell_index, 1))
                found |= SP_STR_SHELL;
            if (found == (SP_STR_CODE | SP_STR_SHELL))
                return found;
        }
        i += block;
    }
    return found;
}

/* Attribute and module names an attack reaches for through getattr,
 * attrgetter or methodcaller. Dunders are handled apart. */
static const char *const danger_names[] = {
    "system",
    "eval",
    "exec",
    "execl",
    "execle",
    "execlp",
    "execlpe",
    "execv",
    "execve",
    "execvp",
    "execvpe",
    "execfile",
    "compile",
    "import_module",
    "getattr",
    "setattr",
    "delattr",
    "globals",
    "locals",
    "vars",
    "modules",
    "_getframe",
    "f_globals",
    "f_locals",
    "f_builtins",
    "f_back",
    "gi_frame",
    "tb_frame",
    "cr_frame",
    "check_output",
    "check_call",
    "Popen",
    "getoutput",
    "getstatusoutput",
    "rmtree",
    "unlink",
    "remove",
    "kill",
    "fork",
    "loads",
    "load_module",
    "exec_module",
    "os",
    "sys",
    "subprocess",
    "builtins",
    "__builtin__",
    "posix",
    "nt",
    "pty",
    "socket",
    "importlib",
    "ctypes",
    "marshal",
    "pickle",
    "shutil",
    "runpy",
    /* pathlib's writers, reached through methodcaller or getattr */
    "touch",
    "write_text",
    "write_bytes",
    "symlink_to",
    "hardlink_to",
    "chmod",
    "rmdir",
    "mkdir",
    "rename",
};

static const char *const harmless_dunders[] = {"__name__", "__qualname__", "__doc__", "__module__",
                                               "__version__"};

static int eq_mark(const uint8_t *s, size_t n, const char *mark)
{
    /* most components differ at the first byte: reject before strlen */
    if (n == 0 || (uint8_t)mark[0] != s[0])
        return 0;
    return strlen(mark) == n && memcmp(s, mark, n) == 0;
}

/* First bytes of danger_names: most components are rejected by one test. */
static uint64_t danger_first[4];
/* The names by first byte (a bit per index) and their lengths. */
#define SP_DANGER_NAMES (sizeof danger_names / sizeof danger_names[0])
#define SP_DANGER_WORDS 2
static uint64_t danger_by_first[256][SP_DANGER_WORDS];
static uint8_t danger_len[SP_DANGER_NAMES];

static int component_is_danger(const uint8_t *s, size_t n)
{
    if (n == 0)
        return 0;
    if (s[0] != '_' && s[0] != 'p' && s[0] != 's' &&
        !(danger_first[s[0] >> 6] & ((uint64_t)1 << (s[0] & 63))))
        return 0;
    if (n > 4 && s[0] == '_' && s[1] == '_' && s[n - 1] == '_' && s[n - 2] == '_') {
        for (size_t i = 0; i < sizeof harmless_dunders / sizeof harmless_dunders[0]; i++)
            if (eq_mark(s, n, harmless_dunders[i]))
                return 0;
        return 1;
    }
    if ((n >= 5 && memcmp(s, "popen", 5) == 0) || (n >= 5 && memcmp(s, "spawn", 5) == 0))
        return 1;
    for (unsigned w = 0; w < SP_DANGER_WORDS; w++) {
        for (uint64_t m = danger_by_first[s[0]][w]; m != 0; m &= m - 1) {
            unsigned k = w * 64 + (unsigned)__builtin_ctzll(m);

            if (danger_len[k] == n && memcmp(s, danger_names[k], n) == 0)
                return 1;
        }
    }
    return 0;
}

int sp_string_names_danger(const uint8_t *s, uint64_t len)
{
    pthread_once(&mark_index_once, build_mark_indexes);
    /* Attribute names are short; a long string is not one. */
    if (len == 0 || len > 256)
        return 0;
    size_t begin = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (component_is_danger(s + begin, i - begin))
                return 1;
            begin = i + 1;
        }
    }
    return 0;
}

static void build_mark_indexes(void)
{
    _Static_assert(SP_DANGER_NAMES <= 64 * SP_DANGER_WORDS,
                   "danger_by_first holds one bit per name");
    for (size_t i = 0; i < SP_DANGER_NAMES; i++) {
        uint8_t c = (uint8_t)danger_names[i][0];
        danger_first[c >> 6] |= (uint64_t)1 << (c & 63);
        danger_by_first[c][i / 64] |= (uint64_t)1 << (i % 64);
        danger_len[i] = (uint8_t)strlen(danger_names[i]);
    }
    index_marks(&code_index, code_marks, sizeof code_marks / sizeof code_marks[0]);
    index_marks(&shell_index, shell_marks, sizeof shell_marks / sizeof shell_marks[0]);
    add_pairs(code_marks, sizeof code_marks / sizeof code_marks[0], 0);
    add_pairs(shell_marks, sizeof shell_marks / sizeof shell_marks[0], 1);
}

unsigned sp_string_class(const uint8_t *s, uint64_t len)
{
    size_t n = len > SP_STR_SCAN_MAX ? SP_STR_SCAN_MAX : (size_t)len;
    unsigned flags = 0;

    /* Array and tensor payloads are binary, code and commands are text:
     * random bytes hold two-byte marks such as "&&" or ">/" often enough to
     * make ordinary weights look like shell commands, and neither a shell
     * nor the compiler runs text behind a binary prefix (NUL bytes are
     * refused outright). Such payloads still show in the capabilities of
     * the callee and in the nested-pickle search. */
    if (!looks_binary(s, n)) {
        pthread_once(&mark_index_once, build_mark_indexes);
        flags |= find_marks(s, n);
    }
    if (sp_string_names_danger(s, len))
        flags |= SP_STR_DANGER;
    return flags;
}

static void walk(const sp_slot *v, sp_string_fn fn, void *ctx, uint64_t *budget, int depth)
{
    if (*budget == 0)
        return;
    (*budget)--;
    switch (v->kind) {
    case SP_V_STR:
    case SP_V_BYTES:
    case SP_V_BYTEARRAY:
        if (v->u.p)
            fn(v->u.p, v->len, ctx);
        return;
    case SP_V_TUPLE:
    case SP_V_LIST:
    case SP_V_DICT:
    case SP_V_SET:
    case SP_V_FROZENSET:
        if (!v->u.obj || depth >= SP_WALK_DEPTH)
            return;
        for (uint32_t i = 0; i < v->u.obj->n_kept && *budget; i++) {
            const sp_slot *item = &v->u.obj->items[i];

            /* a scalar costs its slot of budget and nothing else: no call */
            if (item->kind < SP_V_STR || item->kind == SP_V_BUFFER || item->kind == SP_V_GLOBAL ||
                item->kind == SP_V_RESULT) {
                (*budget)--;
                continue;
            }
            walk(item, fn, ctx, budget, depth + 1);
        }
        return;
    default:
        return;
    }
}

void sp_walk_strings(const sp_slot *v, sp_string_fn fn, void *ctx, uint64_t *budget)
{
    walk(v, fn, ctx, budget, 0);
}

int sp_plain_lookup_args(const sp_call *inner)
{
    const sp_slot *a = &inner->args;
    int names = 0;

    if (inner->kwargs.kind != SP_V_NONE || a->kind != SP_V_TUPLE || a->u.obj == NULL ||
        (a->u.obj->flags & SP_OF_TRUNCATED))
        return 0;
    for (uint32_t i = 0; i < a->u.obj->n_kept; i++) {
        const sp_slot *it = &a->u.obj->items[i];

        switch (it->kind) {
        case SP_V_STR:
            if (sp_string_names_danger(it->u.p, it->len))
                return 0;
            names++;
            break;
        case SP_V_NONE:
        case SP_V_BOOL:
        case SP_V_INT:
        case SP_V_FLOAT:
        case SP_V_GLOBAL:
            break;
        default:
            return 0;
        }
    }
    return names > 0;
}

int sp_is_plain_lookup(const sp_call *c, uint32_t callee_bits)
{
    return sp_call_invokes(c) && (callee_bits & SP_CAP_DANGEROUS) == SP_CAP_INTROSPECTION &&
           sp_plain_lookup_args(c);
}

uint32_t sp_lookup_target_caps(const sp_stream *st, const sp_call *lookup)
{
    const sp_slot *a = &lookup->args;
    char dotted[SP_LOOKUP_NAME_MAX];

    if (a->kind != SP_V_TUPLE || a->u.obj == NULL || a->u.obj->n_kept != 2 ||
        (a->u.obj->flags & SP_OF_TRUNCATED))
        return 0;
    const sp_global *g = sp_slot_global(st, &a->u.obj->items[0]);
    const sp_slot *attr = &a->u.obj->items[1];
    if (g == NULL || attr->kind != SP_V_STR || attr->u.p == NULL ||
        (uint64_t)g->name.len + 1 + attr->len + 1 > sizeof dotted)
        return 0;
    memcpy(dotted, g->name.ptr, g->name.len);
    dotted[g->name.len] = '.';
    memcpy(dotted + g->name.len + 1, attr->u.p, attr->len);
    dotted[g->name.len + 1 + attr->len] = '\0';

    sp_global target = *g;
    target.name.ptr = dotted;
    target.name.len = g->name.len + 1 + (uint32_t)attr->len;
    target.raw_name = target.name;
    return sp_global_caps(&target);
}
