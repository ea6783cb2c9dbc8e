#include "sp_capability.h"

#include <pthread.h>
#include <string.h>

#include "sp_capability_table.h"
#include "sp_stdlib_modules.h"

#define N_ENTRIES (sizeof sp_cap_table / sizeof sp_cap_table[0])
#define N_MODULES (sizeof sp_cap_modules / sizeof sp_cap_modules[0])
#define N_ALIASES (sizeof sp_cap_aliases / sizeof sp_cap_aliases[0])

/* Enough for any module path a real pickle names; longer candidates built
 * from dotted names are skipped (the direct lookup still happens). */
#define PATH_MAX_LEN 512
/* A dotted name with more components than this is judged on its first ones
 * only; no legitimate class path comes close. */
#define MAX_COMPONENTS 64

/* Readings of a dotted name tried as "module, then name": the module
 * extended by at most MAX_HEAD leading components, and runs of at most
 * MAX_RUN_LEN components inside the name. Bounded so that a hostile name of
 * many components costs work linear in its length. */
#define MAX_HEAD 8
#define MAX_RUN_LEN 4

/* Lengths of the table's strings, measured once: a lookup compares a name
 * with a dozen entries, and measuring each entry at every comparison was
 * most of its cost. */
static uint16_t entry_module_len[N_ENTRIES], entry_name_len[N_ENTRIES];
static uint16_t alias_from_len[N_ALIASES];
static pthread_once_t lengths_once = PTHREAD_ONCE_INIT;

/* Table strings are names of modules and attributes, far below 64 KB
 * (tools/gen_capability_table.py writes them). */
static uint16_t short_len(const char *s)
{
    return (uint16_t)strlen(s);
}

static void measure_tables(void)
{
    for (size_t i = 0; i < N_ENTRIES; i++) {
        entry_module_len[i] = short_len(sp_cap_table[i].module);
        entry_name_len[i] = short_len(sp_cap_table[i].name);
    }
    for (size_t i = 0; i < N_ALIASES; i++)
        alias_from_len[i] = short_len(sp_cap_aliases[i].from);
}

/* Bytewise order of (s, n) against (key, klen), the order the generator
 * sorted by. */
static int cmp_len(const char *s, size_t n, const char *key, size_t klen)
{
    int c = memcmp(s, key, n < klen ? n : klen);
    if (c)
        return c;
    return n < klen ? -1 : n > klen;
}

static int cmp_key(const char *s, size_t n, const char *key)
{
    return cmp_len(s, n, key, strlen(key));
}

static int eq_len(const char *s, size_t n, const char *key, size_t klen)
{
    return n == klen && memcmp(s, key, n) == 0;
}

static int eq(const char *s, size_t n, const char *key)
{
    return eq_len(s, n, key, strlen(key));
}

static int entry_module_is(size_t i, const char *module, size_t len)
{
    return eq_len(module, len, sp_cap_table[i].module, entry_module_len[i]);
}

static size_t first_entry(const char *module, size_t len)
{
    size_t lo = 0, hi = N_ENTRIES;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_len(module, len, sp_cap_table[mid].module, entry_module_len[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int name_matches(size_t i, const char *name, size_t len)
{
    const sp_cap_entry *e = &sp_cap_table[i];
    size_t plen = entry_name_len[i];
    switch (e->kind) {
    case SP_PAT_EXACT:
        return plen == len && memcmp(name, e->name, len) == 0;
    case SP_PAT_PREFIX:
        return len >= plen && memcmp(name, e->name, plen) == 0;
    case SP_PAT_SUFFIX:
        return len >= plen && memcmp(name + len - plen, e->name, plen) == 0;
    default:
        return 1;
    }
}

static void apply_alias(const char **module, size_t *len)
{
    for (size_t i = 0; i < N_ALIASES; i++) {
        if (eq_len(*module, *len, sp_cap_aliases[i].from, alias_from_len[i])) {
            *module = sp_cap_aliases[i].to;
            *len = strlen(*module);
            return;
        }
    }
}

/* First matching entry for the module itself, then for each parent whose
 * entries cover submodules. Returns 1 and sets *bits when one matched. */
static int lookup(const char *module, size_t mlen, const char *name, size_t nlen, uint32_t *bits)
{
    apply_alias(&module, &mlen);
    size_t alen = mlen;
    for (;;) {
        for (size_t i = first_entry(module, alen);
             i < N_ENTRIES && entry_module_is(i, module, alen); i++) {
            const sp_cap_entry *e = &sp_cap_table[i];
            if ((alen == mlen || e->sub) && name_matches(i, name, nlen)) {
                *bits = e->bits;
                return 1;
            }
        }
        while (alen > 0 && module[alen - 1] != '.')
            alen--;
        if (alen == 0)
            return 0;
        alen--; /* drop the dot */
    }
}

/* 1 when some entry's module is s or below s, or s is an alias: the only
 * components worth reading as the start of a module path. */
static int known_top(const char *s, size_t n)
{
    for (size_t i = 0; i < N_ALIASES; i++)
        if (eq_len(s, n, sp_cap_aliases[i].from, alias_from_len[i]))
            return 1;
    size_t at = first_entry(s, n);
    if (at == N_ENTRIES)
        return 0;
    const char *m = sp_cap_table[at].module;
    return strncmp(m, s, n) == 0 && memchr(s, '\0', n) == NULL && (m[n] == '\0' || m[n] == '.');
}

static uint32_t module_bits(const char *s, size_t n)
{
    size_t lo = 0, hi = N_MODULES;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_key(s, n, sp_cap_modules[mid].module);
        if (c == 0)
            return sp_cap_modules[mid].bits;
        if (c > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Dunder attributes that only describe an object; any other dunder in an
 * attribute chain reaches into internals (__globals__, __subclasses__...). */
static int harmless_dunder(const char *s, size_t n)
{
    static const char *const ok[] = {"__name__",   "__qualname__", "__doc__",
                                     "__module__", "__version__",  "__new__",
                                     "__init__",   "__call__",     "__members__"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (eq(s, n, ok[i]))
            return 1;
    return 0;
}

static int is_dunder(const char *s, size_t n)
{
    return n > 4 && s[0] == '_' && s[1] == '_' && s[n - 1] == '_' && s[n - 2] == '_';
}

/* Splits name at dots: starts[i]..starts[i]+lens[i]. */
static size_t split_dots(const char *s, size_t n, size_t *starts, size_t *lens)
{
    size_t count = 0, begin = 0;
    for (size_t i = 0; i <= n && count < MAX_COMPONENTS; i++) {
        if (i == n || s[i] == '.') {
            starts[count] = begin;
            lens[count] = i - begin;
            count++;
            begin = i + 1;
        }
    }
    return count;
}

/* Protocol 4 resolves "a.b.c" attribute by attribute, and an attribute of a
 * module may be another module (pathlib.os is os). So every way of reading
 * the chain as "some module, then a name in it" is looked up: the real
 * module extended by leading components (torch + utils.collect_env.run), and
 * any run of components inside the name taken as a module (numpy +
 * os.system). The bits of every reading are combined. */
static uint32_t dotted_bits(const char *module, size_t mlen, const char *name, size_t nlen)
{
    size_t starts[MAX_COMPONENTS], lens[MAX_COMPONENTS];
    size_t nc = split_dots(name, nlen, starts, lens);
    uint32_t bits = 0, b;
    char buf[PATH_MAX_LEN];

    for (size_t k = 1; k < nc && k <= MAX_HEAD; k++) {
        size_t head = starts[k] - 1; /* name[0..head) are the leading components */
        if (mlen + 1 + head > sizeof buf)
            break;
        memcpy(buf, module, mlen);
        buf[mlen] = '.';
        memcpy(buf + mlen + 1, name, head);
        if (lookup(buf, mlen + 1 + head, name + starts[k], nlen - starts[k], &b))
            bits |= b & SP_CAP_DANGEROUS;
    }
    for (size_t i = 0; i + 1 < nc; i++) {
        if (!known_top(name + starts[i], lens[i]))
            continue;
        for (size_t k = i + 1; k < nc && k - i <= MAX_RUN_LEN; k++) {
            size_t mod_len = starts[k] - 1 - starts[i];
            if (lookup(name + starts[i], mod_len, name + starts[k], nlen - starts[k], &b))
                bits |= b & SP_CAP_DANGEROUS;
        }
    }
    for (size_t j = 0; j < nc; j++) {
        const char *c = name + starts[j];
        bits |= module_bits(c, lens[j]);
        if (j > 0 && is_dunder(c, lens[j]) && !harmless_dunder(c, lens[j]))
            bits |= SP_CAP_INTROSPECTION;
    }
    return bits;
}

uint32_t sp_capability_of(const char *module, size_t module_len, const char *name, size_t name_len)
{
    if (!module || !name || module_len == 0 || name_len == 0)
        return 0;
    pthread_once(&lengths_once, measure_tables);
    uint32_t direct = 0;
    lookup(module, module_len, name, name_len, &direct);
    if (!memchr(name, '.', name_len))
        return direct;
    uint32_t danger = (direct | dotted_bits(module, module_len, name, name_len)) & SP_CAP_DANGEROUS;
    return danger ? danger : direct;
}

/* Callables whose first argument is pickle-family bytes, named by the last
 * module component and the name, so that aliases reached through other
 * modules (dill._dill.loads, numpy.core.numeric.loads) match as well. */
#define LOADS_LIKE(m, n)                                                                           \
    {                                                                                              \
        m, n, sizeof(m) - 1, sizeof(n) - 1                                                         \
    }
static const struct {
    const char *module, *name;
    uint8_t module_len, name_len;
} loads_like[] = {
    LOADS_LIKE("pickle", "loads"),        LOADS_LIKE("pickle", "_loads"),
    LOADS_LIKE("_pickle", "loads"),       LOADS_LIKE("cPickle", "loads"),
    LOADS_LIKE("dill", "loads"),          LOADS_LIKE("_dill", "loads"),
    LOADS_LIKE("cloudpickle", "loads"),   LOADS_LIKE("cloudpickle_fast", "loads"),
    LOADS_LIKE("marshal", "loads"),       LOADS_LIKE("storage", "_load_from_bytes"),
    LOADS_LIKE("numpy", "loads"),         LOADS_LIKE("numeric", "loads"),
    LOADS_LIKE("pickle_compat", "loads"), LOADS_LIKE("jsonpickle", "decode"),
    LOADS_LIKE("jsonpickle", "loads"),    LOADS_LIKE("yaml", "load"),
    LOADS_LIKE("yaml", "unsafe_load"),    LOADS_LIKE("yaml", "full_load"),
    LOADS_LIKE("yaml", "load_all"),       LOADS_LIKE("yaml", "unsafe_load_all"),
    LOADS_LIKE("yaml", "full_load_all"),  LOADS_LIKE("joblib", "loads"),
};
#undef LOADS_LIKE

int sp_is_loads_like(const char *module, size_t module_len, const char *name, size_t name_len)
{
    if (!module || !name || module_len == 0 || name_len == 0)
        return 0;
    /* The callable is the last component of module.name; its module is the
     * component before it, wherever the dot falls. */
    const char *last = name;
    size_t last_len = name_len;
    const char *owner = module;
    size_t owner_len = module_len;
    const char *dot = NULL;
    for (size_t i = name_len; i > 0; i--) {
        if (name[i - 1] == '.') {
            dot = name + i - 1;
            break;
        }
    }
    if (dot) {
        last = dot + 1;
        last_len = name_len - (size_t)(last - name);
        owner = name;
        owner_len = (size_t)(dot - name);
    }
    for (size_t i = owner_len; i > 0; i--) {
        if (owner[i - 1] == '.') {
            owner_len -= i;
            owner += i;
            break;
        }
    }
    for (size_t i = 0; i < sizeof loads_like / sizeof loads_like[0]; i++)
        if (eq_len(last, last_len, loads_like[i].name, loads_like[i].name_len) &&
            eq_len(owner, owner_len, loads_like[i].module, loads_like[i].module_len))
            return 1;
    return 0;
}

int sp_module_is_stdlib(const char *module, size_t module_len)
{
    if (!module)
        return 0;
    const char *dot = memchr(module, '.', module_len);
    size_t top = dot ? (size_t)(dot - module) : module_len;
    if (top == 0)
        return 0;
    size_t lo = 0, hi = SP_N_STDLIB_MODULES;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_key(module, top, sp_stdlib_modules[mid]);
        if (c == 0)
            return 1;
        if (c > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

const char *sp_capability_name(uint32_t bit)
{
    switch (bit) {
    case SP_CAP_PROCESS:
        return "process";
    case SP_CAP_CODE_EXEC:
        return "code_exec";
    case SP_CAP_FILESYSTEM:
        return "filesystem";
    case SP_CAP_NETWORK:
        return "network";
    case SP_CAP_IMPORT:
        return "import";
    case SP_CAP_INTROSPECTION:
        return "introspection";
    case SP_CAP_DESERIALIZE:
        return "deserialize";
    case SP_CAP_DEBUG:
        return "debug";
    case SP_CAP_SYSTEM:
        return "system";
    case SP_CAP_SAFE_DATA:
        return "safe_data";
    default:
        return NULL;
    }
}
