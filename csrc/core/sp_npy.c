/* .npy header reader: a bounded Python literal parser and numpy's checks.
 *
 * Values live in a flat node pool (children linked by index), strings in
 * one byte buffer as UTF-8; both are sized from the header length, so a
 * header can never make the parser allocate more than a few times its own
 * size. */
#include "sp_npy.h"

#include "sp_text.h"

#include <stdlib.h>
#include <string.h>

#include "sp_container.h"

#define BIT(code) (1u << (code))

enum { V_DICT, V_LIST, V_TUPLE, V_SET, V_STR, V_BYTES, V_INT, V_BOOL, V_NONE, V_NUM, V_OTHER };

typedef struct lnode {
    uint8_t type;
    uint8_t big;       /* V_INT: outside [-2**63, 2**64) */
    uint8_t neg;       /* V_INT */
    uint8_t uncertain; /* V_STR: a \N{...} escape left its text unknown */
    uint32_t first;    /* first child + 1, 0 for none */
    uint32_t next;     /* next sibling + 1 */
    uint32_t count;    /* children */
    uint64_t mag;      /* V_INT magnitude, V_BOOL value */
    size_t soff, slen; /* V_STR, V_BYTES: text in the string buffer */
} lnode;

typedef struct lparser {
    const uint8_t *s;
    size_t n, pos;
    int utf8;     /* version 3.0: the text is UTF-8, not latin1 */
    int py2_long; /* drop an 'L' after a number */
    int used_py2_long;
    lnode *nodes;
    size_t n_nodes, cap_nodes;
    uint8_t *str;
    size_t n_str, cap_str;
    int depth_hit;
    int nomem;
    const char *msg;
} lparser;

static int fail(lparser *p, const char *msg)
{
    if (p->msg == NULL)
        p->msg = msg;
    return -1;
}

static long new_node(lparser *p, int type)
{
    if (p->n_nodes == p->cap_nodes) {
        size_t cap = p->cap_nodes ? p->cap_nodes * 2 : 64;
        lnode *q = realloc(p->nodes, cap * sizeof(*q));
        if (q == NULL) {
            p->nomem = 1;
            return fail(p, "out of memory");
        }
        p->nodes = q;
        p->cap_nodes = cap;
    }
    lnode *nd = &p->nodes[p->n_nodes];
    memset(nd, 0, sizeof(*nd));
    nd->type = (uint8_t)type;
    return (long)p->n_nodes++;
}

static int put_byte(lparser *p, uint8_t b)
{
    if (p->n_str == p->cap_str) {
        size_t cap = p->cap_str ? p->cap_str * 2 : 256;
        uint8_t *q = realloc(p->str, cap);
        if (q == NULL) {
            p->nomem = 1;
            return fail(p, "out of memory");
        }
        p->str = q;
        p->cap_str = cap;
    }
    p->str[p->n_str++] = b;
    return 0;
}

static int put_cp(lparser *p, uint32_t cp)
{
    if (cp < 0x80)
        return put_byte(p, (uint8_t)cp);
    if (cp < 0x800)
        return put_byte(p, (uint8_t)(0xc0 | cp >> 6)) | put_byte(p, (uint8_t)(0x80 | (cp & 63)));
    if (cp < 0x10000)
        return put_byte(p, (uint8_t)(0xe0 | cp >> 12)) |
               put_byte(p, (uint8_t)(0x80 | (cp >> 6 & 63))) |
               put_byte(p, (uint8_t)(0x80 | (cp & 63)));
    return put_byte(p, (uint8_t)(0xf0 | cp >> 18)) |
           put_byte(p, (uint8_t)(0x80 | (cp >> 12 & 63))) |
           put_byte(p, (uint8_t)(0x80 | (cp >> 6 & 63))) | put_byte(p, (uint8_t)(0x80 | (cp & 63)));
}

static int peek(const lparser *p, size_t k)
{
    return p->pos + k < p->n ? p->s[p->pos + k] : -1;
}

static int is_ident(int c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80;
}

/* Whitespace, comments and backslash continuations between tokens. The
 * header dict is bracketed, so newlines are plain whitespace here. */
static void skip_ws(lparser *p)
{
    for (;;) {
        int c = peek(p, 0);
        if (c == ' ' || c == '\t' || c == '\f' || c == '\r' || c == '\n') {
            p->pos++;
        } else if (c == '#') {
            while (p->pos < p->n && p->s[p->pos] != '\n' && p->s[p->pos] != '\r')
                p->pos++;
        } else if (c == '\\' && (peek(p, 1) == '\n' || (peek(p, 1) == '\r'))) {
            p->pos += 2;
            if (p->s[p->pos - 1] == '\r' && peek(p, 0) == '\n')
                p->pos++;
        } else {
            return;
        }
    }
}

/* Reads one source character of a str literal as a code point. */
static int read_char(lparser *p, uint32_t *cp)
{
    uint8_t c = p->s[p->pos];
    if (!p->utf8 || c < 0x80) {
        *cp = c;
        p->pos++;
        return 0;
    }
    /* The text was validated as UTF-8 up front. */
    int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
    uint32_t v = c & (0x3f >> extra);
    for (int i = 1; i <= extra; i++)
        v = v << 6 | (p->s[p->pos + i] & 63);
    p->pos += 1 + extra;
    *cp = v;
    return 0;
}

/* The body of one string literal, after its prefix; appends to the string
 * buffer. */
static int string_body(lparser *p, int raw, int bytes, lnode *nd)
{
    int q = peek(p, 0);
    int triple = peek(p, 1) == q && peek(p, 2) == q;
    p->pos += triple ? 3 : 1;
    for (;;) {
        if (p->pos >= p->n)
            return fail(p, "unterminated string literal");
        int c = p->s[p->pos];
        if (c == q && (!triple || (peek(p, 1) == q && peek(p, 2) == q))) {
            p->pos += triple ? 3 : 1;
            return 0;
        }
        if (c == 0)
            return fail(p, "source code cannot contain null bytes");
        if ((c == '\n' || c == '\r') && !triple)
            return fail(p, "unterminated string literal");
        if (bytes && c >= 0x80)
            return fail(p, "bytes can only contain ASCII literal characters");
        if (c != '\\') {
            uint32_t cp;
            read_char(p, &cp);
            if (put_cp(p, cp) < 0)
                return -1;
            continue;
        }
        int e = peek(p, 1);
        if (e < 0)
            return fail(p, "unterminated string literal");
        if (raw) {
            /* A backslash keeps itself and protects the next character. */
            p->pos++;
            if (put_byte(p, '\\') < 0)
                return -1;
            uint32_t cp;
            read_char(p, &cp);
            if (put_cp(p, cp) < 0)
                return -1;
            continue;
        }
        p->pos += 2;
        uint32_t v;
        switch (e) {
        case '\n':
            continue;
        case '\r':
            if (peek(p, 0) == '\n')
                p->pos++;
            continue;
        case '\\':
        case '\'':
        case '"':
            v = (uint32_t)e;
            break;
        case 'a':
            v = 7;
            break;
        case 'b':
            v = 8;
            break;
        case 'f':
            v = 12;
            break;
        case 'n':
            v = 10;
            break;
        case 'r':
            v = 13;
            break;
        case 't':
            v = 9;
            break;
        case 'v':
            v = 11;
            break;
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7': {
            v = (uint32_t)(e - '0');
            for (int k = 0; k < 2 && peek(p, 0) >= '0' && peek(p, 0) <= '7'; k++)
                v = v * 8 + (uint32_t)(p->s[p->pos++] - '0');
            if (bytes)
                v &= 0xff;
            break;
        }
        case 'x':
        case 'u':
        case 'U': {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            if (bytes && e != 'x') {
                /* No \u in bytes: kept as written. */
                if (put_byte(p, '\\') < 0 || put_byte(p, (uint8_t)e) < 0)
                    return -1;
                continue;
            }
            v = 0;
            for (int k = 0; k < digits; k++) {
                int h = sp_text_hex_digit(peek(p, 0));
                if (h < 0)
                    return fail(p, "truncated \\xXX, \\uXXXX or \\UXXXXXXXX escape");
                v = v * 16 + (uint32_t)h;
                p->pos++;
            }
            if (v > 0x10ffff)
                return fail(p, "illegal Unicode character");
            break;
        }
        case 'N':
            if (bytes) {
                /* No \N in bytes: kept as written. */
                p->pos--;
                if (put_byte(p, '\\') < 0)
                    return -1;
                continue;
            }
            {
                /* A character named from Unicode's table: its text is not
                 * known here, so whoever reads this string must assume the
                 * worst. */
                if (peek(p, 0) != '{')
                    return fail(p, "malformed \\N character escape");
                while (p->pos < p->n && p->s[p->pos] != '}' && p->s[p->pos] != q)
                    p->pos++;
                if (peek(p, 0) != '}')
                    return fail(p, "malformed \\N character escape");
                p->pos++;
                nd->uncertain = 1;
                if (put_byte(p, '?') < 0)
                    return -1;
                continue;
            }
        default:
            /* Unknown escapes stay as written (a DeprecationWarning only). */
            p->pos--;
            if (put_byte(p, '\\') < 0)
                return -1;
            continue;
        }
        if (bytes ? put_byte(p, (uint8_t)v) : put_cp(p, v))
            return -1;
    }
}

/* A string literal prefix ending in a quote: length of the prefix, or -1. */
static int string_prefix(const lparser *p, int *raw, int *bytes)
{
    int k = 0, r = 0, b = 0, u = 0;
    for (;; k++) {
        int c = peek(p, (size_t)k);
        if (c == '\'' || c == '"')
            break;
        if ((c == 'r' || c == 'R') && !r)
            r = 1;
        else if ((c == 'b' || c == 'B') && !b)
            b = 1;
        else if ((c == 'u' || c == 'U') && !u)
            u = 1;
        else
            return -1;
        if (k >= 2)
            return -1;
    }
    if (u && (r || b))
        return -1;
    *raw = r;
    *bytes = b;
    return k;
}

static long parse_value(lparser *p, int depth);
static int hashable(lparser *p, const lnode *nd, int depth);

static long parse_string(lparser *p)
{
    long id = new_node(p, V_STR);
    if (id < 0)
        return -1;
    size_t start = p->n_str;
    int kind = -1;
    for (;;) {
        int raw, bytes;
        int k = string_prefix(p, &raw, &bytes);
        if (k < 0)
            break;
        if (kind >= 0 && kind != bytes)
            return fail(p, "cannot mix bytes and nonbytes literals");
        kind = bytes;
        p->pos += (size_t)k;
        if (string_body(p, raw, bytes, &p->nodes[id]) < 0)
            return -1;
        skip_ws(p);
    }
    lnode *nd = &p->nodes[id];
    nd->type = kind == 1 ? V_BYTES : V_STR;
    nd->soff = start;
    nd->slen = p->n_str - start;
    return id;
}

static int digit_ok(int c, int base)
{
    int v = sp_text_hex_digit(c);
    return v >= 0 && v < base && (base == 16 || (c >= '0' && c <= '9'));
}

/* Digits with single underscores between them; returns the count. */
static int scan_digits(lparser *p, int base, uint64_t *mag, int *big, int after_prefix)
{
    int count = 0;
    int prev_digit = after_prefix;
    for (;;) {
        int c = peek(p, 0);
        if (c == '_') {
            if (!prev_digit || !digit_ok(peek(p, 1), base))
                return -1;
            prev_digit = 0;
            p->pos++;
            continue;
        }
        if (!digit_ok(c, base))
            break;
        uint64_t d = (uint64_t)sp_text_hex_digit(c);
        if (*mag > (UINT64_MAX - d) / (uint64_t)base)
            *big = 1;
        else
            *mag = *mag * (uint64_t)base + d;
        count++;
        prev_digit = 1;
        p->pos++;
    }
    return count;
}

static long parse_number(lparser *p)
{
    long id = new_node(p, V_INT);
    if (id < 0)
        return -1;
    uint64_t mag = 0;
    int big = 0, is_float = 0;
    int c0 = peek(p, 0), c1 = peek(p, 1);
    if (c0 == '0' && (c1 == 'x' || c1 == 'X' || c1 == 'o' || c1 == 'O' || c1 == 'b' || c1 == 'B')) {
        int base = (c1 == 'x' || c1 == 'X') ? 16 : (c1 == 'o' || c1 == 'O') ? 8 : 2;
        p->pos += 2;
        if (scan_digits(p, base, &mag, &big, 1) <= 0)
            return fail(p, "invalid number literal");
    } else {
        size_t start = p->pos;
        int n = scan_digits(p, 10, &mag, &big, 0);
        if (n < 0)
            return fail(p, "invalid decimal literal");
        int nonzero = 0;
        for (size_t i = start; i < p->pos; i++)
            nonzero |= p->s[i] != '0' && p->s[i] != '_';
        int leading_zero = n > 1 && p->s[start] == '0' && nonzero;
        if (peek(p, 0) == '.') {
            p->pos++;
            is_float = 1;
            uint64_t m2 = 0;
            int b2 = 0;
            if (scan_digits(p, 10, &m2, &b2, 0) < 0)
                return fail(p, "invalid decimal literal");
            if (n == 0 && p->s[p->pos - 1] == '.')
                return fail(p, "invalid syntax");
        }
        if (peek(p, 0) == 'e' || peek(p, 0) == 'E') {
            size_t save = p->pos;
            p->pos++;
            if (peek(p, 0) == '+' || peek(p, 0) == '-')
                p->pos++;
            uint64_t m3 = 0;
            int b3 = 0;
            if (scan_digits(p, 10, &m3, &b3, 0) <= 0) {
                p->pos = save;
                return fail(p, "invalid decimal literal");
            }
            is_float = 1;
        }
        if (peek(p, 0) == 'j' || peek(p, 0) == 'J') {
            p->pos++;
            is_float = 2;
        }
        if (!is_float && leading_zero)
            return fail(p, "leading zeros in decimal integer literals are not permitted");
    }
    if (p->py2_long && !is_float) {
        size_t save = p->pos;
        while (peek(p, 0) == ' ' || peek(p, 0) == '\t')
            p->pos++;
        if (peek(p, 0) == 'L' && !is_ident(peek(p, 1))) {
            p->pos++;
            p->used_py2_long = 1;
        } else {
            p->pos = save;
        }
    }
    if (is_ident(peek(p, 0)))
        return fail(p, "invalid decimal literal");
    lnode *nd = &p->nodes[id];
    if (is_float) {
        nd->type = V_NUM;
        nd->uncertain = is_float == 2; /* imaginary */
    } else {
        nd->mag = mag;
        nd->big = (uint8_t)big;
    }
    return id;
}

static void add_child(lparser *p, long parent, long child, long *last)
{
    if (*last < 0)
        p->nodes[parent].first = (uint32_t)child + 1;
    else
        p->nodes[*last].next = (uint32_t)child + 1;
    *last = child;
    p->nodes[parent].count++;
}

/* Elements up to the closing bracket; for dicts, key: value pairs. */
static long parse_items(lparser *p, long id, int close, int depth, int first_done, long last)
{
    int dict = p->nodes[id].type == V_DICT;
    for (;;) {
        skip_ws(p);
        if (peek(p, 0) == close) {
            p->pos++;
            return id;
        }
        if (first_done) {
            if (peek(p, 0) != ',')
                return fail(p, "invalid syntax: ',' expected");
            p->pos++;
            skip_ws(p);
            if (peek(p, 0) == close) {
                p->pos++;
                return id;
            }
        }
        long v = parse_value(p, depth + 1);
        if (v < 0)
            return -1;
        if ((p->nodes[id].type == V_SET || p->nodes[id].type == V_DICT) &&
            !hashable(p, &p->nodes[v], depth))
            return fail(p, "unhashable set element or dict key");
        add_child(p, id, v, &last);
        if (dict) {
            skip_ws(p);
            if (peek(p, 0) != ':')
                return fail(p, "invalid syntax: ':' expected");
            p->pos++;
            long w = parse_value(p, depth + 1);
            if (w < 0)
                return -1;
            add_child(p, id, w, &last);
        }
        first_done = 1;
    }
}

/* literal_eval builds sets and dicts for real: an unhashable element or
 * key raises TypeError. */
static int hashable(lparser *p, const lnode *nd, int depth)
{
    if (nd->type == V_LIST || nd->type == V_DICT || nd->type == V_SET)
        return 0;
    if (nd->type != V_TUPLE || depth > SP_NPY_MAX_DEPTH)
        return 1;
    for (uint32_t k = nd->first; k; k = p->nodes[k - 1].next)
        if (!hashable(p, &p->nodes[k - 1], depth + 1))
            return 0;
    return 1;
}

static int is_real_number(const lnode *nd)
{
    return nd->type == V_INT || (nd->type == V_NUM && !nd->uncertain);
}

static long parse_value(lparser *p, int depth)
{
    if (depth > SP_NPY_MAX_DEPTH) {
        p->depth_hit = 1;
        return fail(p, "nested deeper than the cap");
    }
    skip_ws(p);
    int c = peek(p, 0);
    if (c < 0)
        return fail(p, "unexpected end of header");
    if (c == '{' || c == '[') {
        p->pos++;
        int close = c == '{' ? '}' : ']';
        skip_ws(p);
        if (c == '{' && peek(p, 0) == '}') {
            p->pos++;
            return new_node(p, V_DICT);
        }
        long id = new_node(p, c == '[' ? V_LIST : V_SET);
        if (id < 0)
            return -1;
        if (c == '[')
            return parse_items(p, id, close, depth, 0, -1);
        long first = parse_value(p, depth + 1);
        if (first < 0)
            return -1;
        if (!hashable(p, &p->nodes[first], depth))
            return fail(p, "unhashable set element or dict key");
        long last = -1;
        add_child(p, id, first, &last);
        skip_ws(p);
        if (peek(p, 0) == ':') {
            p->nodes[id].type = V_DICT;
            p->pos++;
            long w = parse_value(p, depth + 1);
            if (w < 0)
                return -1;
            add_child(p, id, w, &last);
        }
        return parse_items(p, id, close, depth, 1, last);
    }
    if (c == '(') {
        p->pos++;
        skip_ws(p);
        if (peek(p, 0) == ')') {
            p->pos++;
            return new_node(p, V_TUPLE);
        }
        long first = parse_value(p, depth + 1);
        if (first < 0)
            return -1;
        skip_ws(p);
        if (peek(p, 0) == ')') {
            p->pos++;
            return first; /* parentheses only group */
        }
        long id = new_node(p, V_TUPLE);
        if (id < 0)
            return -1;
        long last = -1;
        add_child(p, id, first, &last);
        return parse_items(p, id, ')', depth, 1, last);
    }
    int raw, bytes;
    if (string_prefix(p, &raw, &bytes) >= 0)
        return parse_string(p);
    if ((c >= '0' && c <= '9') || (c == '.' && peek(p, 1) >= '0' && peek(p, 1) <= '9')) {
        long id = parse_number(p);
        if (id < 0)
            return -1;
        /* literal_eval's one binary operation: real +/- imaginary. */
        size_t save = p->pos;
        skip_ws(p);
        int op = peek(p, 0);
        if ((op == '+' || op == '-') && is_real_number(&p->nodes[id])) {
            p->pos++;
            skip_ws(p);
            int d = peek(p, 0);
            if (!((d >= '0' && d <= '9') || d == '.'))
                return fail(p, "malformed node or string");
            long r = parse_number(p);
            if (r < 0)
                return -1;
            if (!(p->nodes[r].type == V_NUM && p->nodes[r].uncertain))
                return fail(p, "malformed node or string");
            p->nodes[id].type = V_NUM;
            p->nodes[id].uncertain = 1;
            return id;
        }
        p->pos = save;
        return id;
    }
    if (c == '+' || c == '-') {
        p->pos++;
        long id = parse_value(p, depth + 1);
        if (id < 0)
            return -1;
        lnode *nd = &p->nodes[id];
        if (nd->type != V_INT && nd->type != V_NUM)
            return fail(p, "malformed node or string");
        if (nd->type == V_INT && c == '-' && (nd->mag || nd->big)) {
            if (nd->neg)
                return fail(p, "malformed node or string");
            nd->neg = 1;
            if (nd->mag > (UINT64_C(1) << 63))
                nd->big = 1;
        }
        /* A signed operand may not be signed again, nor take part in a
         * complex sum as the right-hand side; both are rare enough that
         * the cheaper check of a second sign is all that is kept. */
        return id;
    }
    if (c == '.' && peek(p, 1) == '.' && peek(p, 2) == '.') {
        p->pos += 3;
        return new_node(p, V_OTHER);
    }
    if (is_ident(c)) {
        size_t start = p->pos;
        while (is_ident(peek(p, 0)))
            p->pos++;
        size_t n = p->pos - start;
        const char *w = (const char *)p->s + start;
        if (n == 4 && memcmp(w, "True", 4) == 0) {
            long id = new_node(p, V_BOOL);
            if (id >= 0)
                p->nodes[id].mag = 1;
            return id;
        }
        if (n == 5 && memcmp(w, "False", 5) == 0)
            return new_node(p, V_BOOL);
        if (n == 4 && memcmp(w, "None", 4) == 0)
            return new_node(p, V_NONE);
        return fail(p, "malformed node or string: a name");
    }
    if (c == 0)
        return fail(p, "source code cannot contain null bytes");
    return fail(p, "invalid syntax");
}

/* ---- numpy's checks ----------------------------------------------------- */

static lnode *child(lparser *p, const lnode *nd, uint32_t i)
{
    uint32_t k = nd->first;
    while (k && i--)
        k = p->nodes[k - 1].next;
    return k ? &p->nodes[k - 1] : NULL;
}

static lnode *next_of(lparser *p, const lnode *nd)
{
    return nd->next ? &p->nodes[nd->next - 1] : NULL;
}

static int str_is(lparser *p, const lnode *nd, const char *text)
{
    size_t n = strlen(text);
    return nd->type == V_STR && nd->slen == n && memcmp(p->str + nd->soff, text, n) == 0;
}

enum { D_BAD = 0, D_PLAIN, D_OBJECT, D_UNKNOWN };

/* The type part of one dtype string component, without byte order. */
static int type_token(const char *t, size_t n, uint64_t *itemsize)
{
    static const struct {
        const char *name;
        unsigned size;
    } names[] = {
        {"bool", 1},        {"int8", 1},        {"uint8", 1},       {"int16", 2},
        {"uint16", 2},      {"int32", 4},       {"uint32", 4},      {"int64", 8},
        {"uint64", 8},      {"float16", 2},     {"float32", 4},     {"float64", 8},
        {"float128", 16},   {"complex64", 8},   {"complex128", 16}, {"complex256", 32},
        {"int", 8},         {"float", 8},       {"complex", 16},    {"byte", 1},
        {"ubyte", 1},       {"short", 2},       {"ushort", 2},      {"intc", 4},
        {"uintc", 4},       {"long", 8},        {"ulong", 8},       {"longlong", 8},
        {"ulonglong", 8},   {"half", 2},        {"single", 4},      {"double", 8},
        {"longdouble", 16}, {"csingle", 8},     {"cdouble", 16},    {"clongdouble", 32},
        {"intp", 8},        {"uintp", 8},       {"bool_", 1},       {"str", 0},
        {"bytes", 0},       {"str_", 0},        {"bytes_", 0},      {"void", 0},
        {"datetime64", 8},  {"timedelta64", 8}, {"int_", 8},        {"float_", 8},
    };
    if ((n == 1 && (t[0] == 'O' || t[0] == 'T')) ||
        (n == 2 && t[0] == 'O' && (t[1] == '4' || t[1] == '8')))
        return D_OBJECT;
    if ((n == 6 && memcmp(t, "object", 6) == 0) || (n == 7 && memcmp(t, "object_", 7) == 0))
        return D_OBJECT;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i].name) == n && memcmp(names[i].name, t, n) == 0) {
            *itemsize = names[i].size;
            return D_PLAIN;
        }
    }
    /* A type code, optional digits, and for datetimes a [unit]. */
    size_t i = 1;
    uint64_t num = 0;
    int have_num = 0;
    while (i < n && t[i] >= '0' && t[i] <= '9') {
        if (num < UINT64_C(1) << 40)
            num = num * 10 + (uint64_t)(t[i] - '0');
        have_num = 1;
        i++;
    }
    size_t unit = i;
    if (i < n && t[i] == '[') {
        while (i < n && t[i] != ']')
            i++;
        if (i != n - 1 || i - unit < 2)
            return D_UNKNOWN;
        i = n;
    }
    if (i != n)
        return D_UNKNOWN;
    int dt = unit < n;
    switch (t[0]) {
    case '?':
        *itemsize = 1;
        return have_num || dt ? D_UNKNOWN : D_PLAIN;
    case 'b':
    case 'B':
    case 'h':
    case 'H':
    case 'i':
    case 'I':
    case 'l':
    case 'L':
    case 'q':
    case 'Q':
    case 'p':
    case 'P':
    case 'e':
    case 'f':
    case 'd':
    case 'g':
    case 'F':
    case 'D':
    case 'G':
    case 'u':
    case 'c':
        if (dt)
            return D_UNKNOWN;
        if (!have_num) {
            static const char codes[] = "bBhHiIlLqQpPefdgFDG";
            static const unsigned sizes[] = {1, 1, 2, 2, 4, 4,  8, 8,  8, 8,
                                             8, 8, 2, 4, 8, 16, 8, 16, 32};
            const char *at = strchr(codes, t[0]);
            if (at == NULL)
                return D_UNKNOWN;
            *itemsize = sizes[at - codes];
            return D_PLAIN;
        }
        *itemsize = num;
        if (t[0] == 'b')
            return num == 1 ? D_PLAIN : D_UNKNOWN;
        if (t[0] == 'i' || t[0] == 'u')
            return num == 1 || num == 2 || num == 4 || num == 8 ? D_PLAIN : D_UNKNOWN;
        if (t[0] == 'f')
            return num == 2 || num == 4 || num == 8 || num == 16 ? D_PLAIN : D_UNKNOWN;
        if (t[0] == 'c')
            return num == 8 || num == 16 || num == 32 ? D_PLAIN : D_UNKNOWN;
        return D_UNKNOWN;
    case 'S':
    case 'a':
    case 'V':
    case 'U':
        if (dt)
            return D_UNKNOWN;
        *itemsize = t[0] == 'U' ? num * 4 : num;
        return D_PLAIN;
    case 'M':
    case 'm':
        if (have_num && num != 8)
            return D_UNKNOWN;
        *itemsize = 8;
        return D_PLAIN;
    }
    return D_UNKNOWN;
}

/* numpy.dtype(text): comma-separated components each with a byte order
 * and an optional repeat count, or a single type. */
static int dtype_string(const char *t, size_t n, uint64_t *itemsize)
{
    int result = D_PLAIN;
    int has_comma = memchr(t, ',', n) != NULL;
    uint64_t total = 0;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        int depth = 0;
        while (j < n && (t[j] != ',' || depth)) {
            if (t[j] == '(')
                depth++;
            else if (t[j] == ')')
                depth--;
            j++;
        }
        size_t a = i, b = j;
        if (has_comma) {
            while (a < b && t[a] == ' ')
                a++;
            while (b > a && t[b - 1] == ' ')
                b--;
            if (a == b) {
                if (j == n && i > 0)
                    break; /* "i4," */
                return D_BAD;
            }
        }
        int r;
        uint64_t size = 0;
        const char *c = t + a;
        size_t m = b - a;
        int repeat = 0;
        if (m > 0 && (c[0] == '<' || c[0] == '>' || c[0] == '|' || c[0] == '=')) {
            c++;
            m--;
        }
        while (m > 0 && (c[0] == '(' || c[0] == ')' || c[0] == ',' || c[0] == ' ' ||
                         (c[0] >= '0' && c[0] <= '9'))) {
            repeat = 1;
            c++;
            m--;
        }
        if (repeat && m > 0 && (c[0] == '<' || c[0] == '>' || c[0] == '|' || c[0] == '=')) {
            c++;
            m--;
        }
        if (m == 0)
            return i == 0 && !has_comma ? D_BAD : D_UNKNOWN;
        r = type_token(c, m, &size);
        if (r == D_OBJECT)
            return D_OBJECT;
        if (r != D_PLAIN || repeat)
            result = D_UNKNOWN;
        total += size;
        if (j >= n)
            break;
        i = j + 1;
    }
    *itemsize = total;
    return result;
}

/* Elements of a subarray shape (an int or a tuple of small non-negative
 * ints); UINT64_MAX when it is anything else. */
static uint64_t shape_product(lparser *p, lnode *nd)
{
    if (nd->type == V_INT || nd->type == V_BOOL)
        return nd->neg || nd->big || nd->mag > (UINT64_C(1) << 32) ? UINT64_MAX : nd->mag;
    if (nd->type != V_TUPLE)
        return UINT64_MAX;
    uint64_t n = 1;
    for (lnode *e = child(p, nd, 0); e; e = next_of(p, e)) {
        if ((e->type != V_INT && e->type != V_BOOL) || e->neg || e->big ||
            e->mag > (UINT64_C(1) << 32))
            return UINT64_MAX;
        n *= e->mag;
        if (n > (UINT64_C(1) << 40))
            return UINT64_MAX;
    }
    return n;
}

/* descr_to_dtype: a string, (descr, shape) or an iterable of fields. */
static int descr_kind(lparser *p, lnode *nd, int depth, uint64_t *itemsize)
{
    if (depth > SP_NPY_MAX_DEPTH)
        return D_UNKNOWN;
    if (nd->type == V_STR) {
        if (nd->uncertain)
            return D_UNKNOWN;
        return dtype_string((const char *)p->str + nd->soff, nd->slen, itemsize);
    }
    if (nd->type == V_TUPLE) {
        lnode *base = child(p, nd, 0);
        lnode *second = child(p, nd, 1);
        if (base == NULL || second == NULL)
            return D_BAD;
        uint64_t sz = 0;
        int k = descr_kind(p, base, depth + 1, &sz);
        if (k == D_BAD || k == D_OBJECT)
            return k;
        /* (base, shape) or numpy's (base, dtype) view form. */
        if (second->type == V_INT || second->type == V_BOOL || second->type == V_TUPLE) {
            uint64_t n = shape_product(p, second);
            if (n == UINT64_MAX)
                return k == D_PLAIN ? D_UNKNOWN : k;
            *itemsize = sz * n;
            return k;
        }
        uint64_t s2 = 0;
        int k2 = descr_kind(p, second, depth + 1, &s2);
        return k2 == D_OBJECT ? D_OBJECT : D_UNKNOWN;
    }
    if (nd->type == V_LIST || nd->type == V_SET || nd->type == V_DICT) {
        int result = D_PLAIN;
        uint64_t total = 0;
        int is_dict = nd->type == V_DICT;
        uint32_t idx = 0;
        for (lnode *f = child(p, nd, 0); f; f = next_of(p, f), idx++) {
            if (is_dict && (idx & 1))
                continue; /* iterating a dict gives its keys */
            lnode *sub;
            uint32_t nf;
            if (f->type == V_TUPLE || f->type == V_LIST) {
                nf = f->count;
                sub = child(p, f, 1);
            } else if (f->type == V_STR || f->type == V_BYTES) {
                /* A 2- or 3-character string unpacks into name and type. */
                return D_UNKNOWN;
            } else {
                return D_BAD;
            }
            if (nf != 2 && nf != 3)
                return D_BAD;
            uint64_t sz = 0;
            int k = descr_kind(p, sub, depth + 1, &sz);
            if (k == D_OBJECT)
                return D_OBJECT;
            if (k == D_BAD)
                return D_BAD;
            lnode *name = child(p, f, 0);
            if (name->type != V_STR && name->type != V_TUPLE)
                result = D_UNKNOWN;
            if (nf == 3) {
                uint64_t n = shape_product(p, child(p, f, 2));
                if (n == UINT64_MAX)
                    result = D_UNKNOWN;
                else
                    sz *= n;
            }
            if (k != D_PLAIN)
                result = D_UNKNOWN;
            total += sz;
        }
        if (nd->type != V_LIST)
            result = result == D_PLAIN ? D_UNKNOWN : result;
        *itemsize = total;
        return result;
    }
    return D_BAD;
}

static int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int extra;
        uint32_t v;
        if (c >= 0xc2 && c <= 0xdf) {
            extra = 1;
            v = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
            v = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
            v = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= (size_t)extra)
            return 0;
        for (int k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            v = v << 6 | (s[i + k] & 63);
        }
        if ((extra == 2 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
            (extra == 3 && (v < 0x10000 || v > 0x10ffff)))
            return 0;
        i += (size_t)extra + 1;
    }
    return 1;
}

static size_t char_count(const uint8_t *s, size_t n, int utf8)
{
    if (!utf8)
        return n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (s[i] & 0xc0) != 0x80;
    return k;
}

static sp_status reject(sp_npy_header *out, sp_error *err, const char *fmt, const char *detail)
{
    out->anomalies |= BIT(SP_CA_NPY_BAD_HEADER);
    out->has_object = 0;
    out->pickle_runs = 0;
    out->fortran_order = -1;
    out->shape_known = 0;
    out->count_known = 0;
    out->itemsize_known = 0;
    sp_error_set(err, SP_ERR_FORMAT, fmt, detail ? detail : "");
    return SP_ERR_FORMAT;
}

static long parse_all(lparser *p)
{
    /* literal_eval strips leading spaces and tabs; the rest is Python. */
    long top = parse_value(p, 0);
    if (top < 0)
        return -1;
    skip_ws(p);
    if (p->pos != p->n) {
        if (memchr(p->s + p->pos, 0, p->n - p->pos))
            return fail(p, "source code cannot contain null bytes");
        return fail(p, "invalid syntax after the literal");
    }
    return top;
}

static void lparser_reset(lparser *p)
{
    p->pos = 0;
    p->n_nodes = 0;
    p->n_str = 0;
    p->msg = NULL;
    p->depth_hit = 0;
    p->used_py2_long = 0;
}

sp_status sp_npy_parse(const uint8_t *data, size_t len, sp_npy_header *out, sp_error *err)
{
    if (out == NULL || (data == NULL && len > 0)) {
        sp_error_set(err, SP_ERR_ARG, "npy: missing argument");
        return SP_ERR_ARG;
    }
    memset(out, 0, sizeof(*out));
    out->major = out->minor = -1;
    out->fortran_order = -1;
    if (len < SP_NPY_MAGIC_LEN || memcmp(data, "\x93NUMPY", 6) != 0)
        return reject(out, err, "npy: the magic string is not correct%s", NULL);
    out->major = data[6];
    out->minor = data[7];
    int v = out->major * 256 + out->minor;
    if (v != 0x100 && v != 0x200 && v != 0x300)
        return reject(out, err, "npy: unsupported format version%s", NULL);
    size_t lsize = v == 0x100 ? 2 : 4;
    if (len < SP_NPY_MAGIC_LEN + lsize)
        return reject(out, err, "npy: EOF reading the array header length%s", NULL);
    const uint8_t *h = data + SP_NPY_MAGIC_LEN;
    uint64_t hlen = (uint64_t)h[0] | (uint64_t)h[1] << 8;
    if (lsize == 4)
        hlen |= (uint64_t)h[2] << 16 | (uint64_t)h[3] << 24;
    out->header_len = hlen;
    out->data_offset = SP_NPY_MAGIC_LEN + lsize + hlen;
    if ((uint64_t)(len - SP_NPY_MAGIC_LEN - lsize) < hlen)
        return reject(out, err, "npy: EOF reading the array header%s", NULL);
    const uint8_t *text = h + lsize;
    int utf8 = v == 0x300;
    if (utf8 && !utf8_valid(text, (size_t)hlen))
        return reject(out, err, "npy: header is not valid UTF-8%s", NULL);
    out->header_chars_over_default = char_count(text, (size_t)hlen, utf8) > SP_NPY_NUMPY_MAX_HEADER;
    if (hlen > SP_NPY_MAX_HEADER) {
        out->has_object = 1;
        out->pickle_runs = 1;
        out->anomalies |= BIT(SP_CA_NPY_OBJECT);
        sp_error_set(err, SP_ERR_LIMIT, "npy: header of %llu bytes is over the cap",
                     (unsigned long long)hlen);
        return SP_ERR_LIMIT;
    }

    lparser p;
    memset(&p, 0, sizeof(p));
    p.s = text;
    p.n = (size_t)hlen;
    p.utf8 = utf8;
    size_t lead = 0;
    while (lead < p.n && (text[lead] == ' ' || text[lead] == '\t'))
        lead++;
    p.s += lead;
    p.n -= lead;
    long top = parse_all(&p);
    if (top < 0 && !p.nomem && !p.depth_hit && v != 0x300) {
        /* numpy retries headers written by Python 2 with 'L' suffixes. */
        lparser_reset(&p);
        p.py2_long = 1;
        top = parse_all(&p);
        out->py2_long_suffix = top >= 0 && p.used_py2_long;
    }
    sp_status st = SP_OK;
    if (top < 0) {
        if (p.nomem) {
            sp_error_set(err, SP_ERR_NOMEM, "npy: out of memory");
            st = SP_ERR_NOMEM;
        } else if (p.depth_hit) {
            out->has_object = 1;
            out->pickle_runs = 1;
            out->anomalies |= BIT(SP_CA_NPY_OBJECT);
            sp_error_set(err, SP_ERR_LIMIT, "npy: header nested deeper than %d", SP_NPY_MAX_DEPTH);
            st = SP_ERR_LIMIT;
        } else {
            st = reject(out, err, "npy: cannot parse header: %s", p.msg);
        }
        goto done;
    }

    lnode *d = &p.nodes[top];
    if (d->type != V_DICT) {
        st = reject(out, err, "npy: header is not a dictionary%s", NULL);
        goto done;
    }
    /* Duplicate keys: the last value wins, as in a dict display. */
    lnode *descr = NULL, *fortran = NULL, *shape = NULL;
    for (lnode *k = child(&p, d, 0); k; k = next_of(&p, next_of(&p, k))) {
        lnode *val = next_of(&p, k);
        if (str_is(&p, k, "descr"))
            descr = val;
        else if (str_is(&p, k, "fortran_order"))
            fortran = val;
        else if (str_is(&p, k, "shape"))
            shape = val;
        else {
            st = reject(out, err, "npy: header does not contain the correct keys%s", NULL);
            goto done;
        }
    }
    if (!descr || !fortran || !shape) {
        st = reject(out, err, "npy: header does not contain the correct keys%s", NULL);
        goto done;
    }
    if (shape->type != V_TUPLE) {
        st = reject(out, err, "npy: shape is not valid%s", NULL);
        goto done;
    }
    int fits = 1, counts = 1;
    uint64_t count = 1;
    size_t ndim = 0;
    for (lnode *e = child(&p, shape, 0); e; e = next_of(&p, e), ndim++) {
        if (e->type != V_INT && e->type != V_BOOL) {
            st = reject(out, err, "npy: shape is not valid%s", NULL);
            goto done;
        }
        int64_t val = 0;
        if (e->type == V_INT && e->big) {
            fits = 0;
            counts = 0;
        } else if (e->neg) {
            counts = 0;
            val = e->mag == (UINT64_C(1) << 63) ? INT64_MIN : -(int64_t)e->mag;
        } else {
            /* numpy wraps counts past int64 around; only report sane ones. */
            if (e->mag > (uint64_t)INT64_MAX)
                counts = 0;
            val = (int64_t)e->mag;
            if (e->mag == 0)
                count = 0;
            else if (count != 0)
                count = count > UINT64_MAX / e->mag ? UINT64_MAX : count * e->mag;
        }
        if (ndim < SP_NPY_MAX_DIMS)
            out->shape[ndim] = val;
    }
    if (fortran->type != V_BOOL) {
        st = reject(out, err, "npy: fortran_order is not a valid bool%s", NULL);
        goto done;
    }
    uint64_t itemsize = 0;
    int kind = descr_kind(&p, descr, 0, &itemsize);
    if (kind == D_BAD) {
        st = reject(out, err, "npy: descr is not a valid dtype descriptor%s", NULL);
        goto done;
    }
    out->fortran_order = (int)fortran->mag;
    out->shape_known = 1;
    out->ndim = ndim;
    out->count_known = counts;
    out->count = counts ? count : 0;
    out->has_object = kind == D_OBJECT || kind == D_UNKNOWN;
    out->object_certain = kind != D_UNKNOWN;
    out->pickle_runs = out->has_object && fits;
    out->itemsize_known = kind == D_PLAIN;
    out->itemsize = kind == D_PLAIN ? itemsize : 0;
    if (descr->type == V_STR) {
        size_t n = descr->slen < sizeof(out->descr) - 1 ? descr->slen : sizeof(out->descr) - 1;
        memcpy(out->descr, p.str + descr->soff, n);
        out->descr[n] = 0;
    }
    if (out->has_object)
        out->anomalies |= BIT(SP_CA_NPY_OBJECT);
done:
    free(p.nodes);
    free(p.str);
    return st;
}
