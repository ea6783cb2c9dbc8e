#include "sp_tar.h"

#include <string.h>

#define BLOCK 512
/* tarfile nests long name and pax headers by recursion; a longer chain
 * ends in RecursionError, which is not modelled. */
#define MAX_CHAIN 32
#define ARENA_CAP ((size_t)256 << 20)

typedef struct span {
    const uint8_t *p;
    size_t n;
} span;

/* What one pax header sets, already merged over the global headers the way
 * tarfile copies its dict before reading an extended header. */
typedef struct paxset {
    int has_path, has_linkpath, has_size;
    span path, linkpath;
    int64_t size;
} paxset;

typedef struct level {
    uint8_t type;
    span buf; /* long name or long link */
    paxset pax;
} level;

typedef enum hdr_kind { HDR_OK, HDR_SHORT, HDR_ZERO, HDR_INVALID } hdr_kind;

typedef struct reader {
    sp_tar *t;
    sp_error *err;
    paxset global;
} reader;

static int is_space(uint8_t c)
{
    /* str.strip() and int() also drop the ASCII separators 0x1c..0x1f. */
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
}

static span nts(const uint8_t *p, size_t n)
{
    const uint8_t *z = memchr(p, 0, n);
    span s = {p, z ? (size_t)(z - p) : n};
    return s;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* Python's int(text, base) for base 8 or 10 over ASCII: surrounding
 * whitespace, a sign, "0o" for base 8, single underscores between digits.
 * Saturates instead of growing. 0 on success. */
static int py_int(const uint8_t *p, size_t n, int base, int64_t *out)
{
    size_t i = 0, end = n;
    int neg = 0, digits = 0, prev_us = 0;
    int64_t v = 0;
    while (i < end && is_space(p[i]))
        i++;
    while (end > i && is_space(p[end - 1]))
        end--;
    if (i < end && (p[i] == '+' || p[i] == '-'))
        neg = p[i++] == '-';
    if (base == 8 && end - i >= 2 && p[i] == '0' && (p[i + 1] == 'o' || p[i + 1] == 'O')) {
        i += 2;
        /* "0o_7" is valid: the prefix counts as a digit for underscores. */
        if (i < end && p[i] == '_')
            i++;
    }
    for (; i < end; i++) {
        uint8_t c = p[i];
        if (c == '_') {
            if (!digits || prev_us)
                return -1;
            prev_us = 1;
            continue;
        }
        if (c < '0' || c >= '0' + base)
            return -1;
        digits++;
        prev_us = 0;
        if (v > (INT64_MAX - 9) / base)
            v = INT64_MAX;
        else
            v = v * base + (c - '0');
    }
    if (!digits || prev_us)
        return -1;
    *out = neg ? (v == INT64_MAX ? INT64_MIN : -v) : v;
    return 0;
}

/* tarfile's nti: base-256 after a 0x80 or 0xff lead byte, else octal text
 * up to the first NUL, which must be ASCII. */
static int nti(const uint8_t *p, size_t n, int64_t *out)
{
    if (p[0] == 0x80 || p[0] == 0xff) {
        /* Big-endian over the remaining bytes; 0xff means minus
         * 256**(n-1). Values beyond int64 saturate: they are past any
         * buffer either way. */
        uint64_t low = 0;
        int high_ok = 1;
        for (size_t i = 1; i < n; i++) {
            if (n - i > 8 && p[i] != (p[0] == 0xff ? 0xff : 0x00))
                high_ok = 0;
            low = (low << 8) | p[i];
        }
        if (p[0] == 0x80) {
            *out = (!high_ok || low > INT64_MAX) ? INT64_MAX : (int64_t)low;
        } else if (n - 1 < 8) {
            *out = (int64_t)low - ((int64_t)1 << (8 * (n - 1)));
        } else {
            /* The value is low - 2**64 when every higher byte is 0xff. */
            *out = (!high_ok || low <= (uint64_t)INT64_MAX + 1) ? INT64_MIN : -(int64_t)(0 - low);
        }
        return 0;
    }
    span s = nts(p, n);
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] >= 0x80)
            return -1;
    size_t a = 0, b = s.n;
    while (a < b && is_space(s.p[a]))
        a++;
    while (b > a && is_space(s.p[b - 1]))
        b--;
    if (a == b) {
        *out = 0;
        return 0;
    }
    return py_int(s.p + a, b - a, 8, out);
}

/* tarfile's _block: the size rounded up to whole blocks, toward +inf also
 * for negative sizes. */
static int64_t round_block(int64_t size)
{
    if (size > INT64_MAX - (BLOCK - 1))
        return INT64_MAX;
    int64_t q = size / BLOCK, r = size % BLOCK;
    if (r > 0)
        q++;
    return q * BLOCK;
}

static int is_regular(uint8_t type)
{
    return type == '0' || type == 0 || type == '7' || type == 'S';
}

static int is_supported(uint8_t type)
{
    return memchr("01234567LKS", type, 11) != NULL || type == 0;
}

static int skips_data(uint8_t type)
{
    return is_regular(type) || !is_supported(type);
}

static hdr_kind check_header(const uint8_t *b, size_t avail, int64_t *size)
{
    static const struct {
        uint16_t off, len;
    } fields[] = {{100, 8}, {108, 8}, {116, 8}, {124, 12}, {136, 12}, {329, 8}, {337, 8}};
    int64_t v, chk;
    if (avail < BLOCK)
        return HDR_SHORT;
    size_t zeros = 0;
    while (zeros < BLOCK && b[zeros] == 0)
        zeros++;
    if (zeros == BLOCK)
        return HDR_ZERO;
    if (nti(b + 148, 8, &chk) != 0)
        return HDR_INVALID;
    int64_t us = 256, ss = 256;
    for (size_t i = 0; i < BLOCK; i++) {
        if (i >= 148 && i < 156)
            continue;
        us += b[i];
        ss += (int8_t)b[i];
    }
    if (chk != us && chk != ss)
        return HDR_INVALID;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (nti(b + fields[i].off, fields[i].len, &v) != 0)
            return HDR_INVALID;
        if (fields[i].off == 124)
            *size = v;
    }
    return HDR_OK;
}

static sp_status stop(reader *r, sp_tar_outcome outcome, const char *what, uint64_t off)
{
    r->t->outcome = outcome;
    sp_error_set(r->err, outcome == SP_TAR_LIMIT ? SP_ERR_LIMIT : SP_ERR_FORMAT, "%s %s at %llu",
                 outcome == SP_TAR_TARERROR ? "tarfile raises ReadError:" : "tar not modelled:",
                 what, (unsigned long long)off);
    return outcome == SP_TAR_LIMIT ? SP_ERR_LIMIT : SP_ERR_FORMAT;
}

/* The records "<len> <keyword>=<value>\n" over the whole padded block, as
 * tarfile's regex loop walks them. -1: a zero length (InvalidHeaderError);
 * -2: a keyword whose effect is not modelled. */
static int parse_pax(span buf, paxset *ps)
{
    size_t pos = 0;
    while (pos < buf.n) {
        size_t i = pos, len = 0;
        while (i < buf.n && buf.p[i] >= '0' && buf.p[i] <= '9') {
            len = len > buf.n ? len : len * 10 + (buf.p[i] - '0');
            i++;
        }
        if (i == pos || i >= buf.n || buf.p[i] != ' ')
            break;
        size_t kw = ++i;
        while (i < buf.n && buf.p[i] != '=')
            i++;
        if (i == kw || i >= buf.n)
            break;
        if (len == 0)
            return -1;
        span key = {buf.p + kw, i - kw};
        size_t vstart = i + 1;
        size_t vstop = len > buf.n ? buf.n : pos + len - 1;
        if (vstop > buf.n)
            vstop = buf.n;
        span val = {buf.p + vstart, vstop > vstart ? vstop - vstart : 0};
        if (key.n >= 11 && memcmp(key.p, "GNU.sparse.", 11) == 0)
            return -2;
        if (key.n == 4 && memcmp(key.p, "path", 4) == 0) {
            ps->has_path = 1;
            ps->path = val;
        } else if (key.n == 8 && memcmp(key.p, "linkpath", 8) == 0) {
            ps->has_linkpath = 1;
            ps->linkpath = val;
        } else if (key.n == 4 && memcmp(key.p, "size", 4) == 0) {
            for (size_t k = 0; k < val.n; k++)
                if (val.p[k] >= 0x80)
                    return -2; /* int() would also take Unicode digits and spaces */
            ps->has_size = 1;
            if (py_int(val.p, val.n, 10, &ps->size) != 0)
                ps->size = 0;
        }
        if (len > buf.n - pos)
            break;
        pos += len;
    }
    return 0;
}

static void rstrip_slash(span *s)
{
    while (s->n > 0 && s->p[s->n - 1] == '/')
        s->n--;
}

static void apply_pax(sp_tar_entry *e, const paxset *ps)
{
    if (ps->has_path) {
        span p = ps->path;
        rstrip_slash(&p);
        e->prefix = NULL;
        e->prefix_len = 0;
        e->name = p.p;
        e->name_len = p.n;
    }
    if (ps->has_linkpath) {
        e->linkname = ps->linkpath.p;
        e->linkname_len = ps->linkpath.n;
    }
    if (ps->has_size)
        e->size = ps->size;
}

/* rstrip("/") of prefix + "/" + name. */
static void rstrip_member(sp_tar_entry *e)
{
    span n = {e->name, e->name_len};
    rstrip_slash(&n);
    e->name = n.p;
    e->name_len = n.n;
    if (n.n == 0 && e->prefix_len > 0) {
        span p = {e->prefix, e->prefix_len};
        rstrip_slash(&p);
        e->name = p.p;
        e->name_len = p.n;
        e->prefix = NULL;
        e->prefix_len = 0;
    }
}

static int64_t next_offset(int64_t data_off, const sp_tar_entry *e)
{
    return skips_data(e->type) ? sat_add(data_off, round_block(e->size)) : data_off;
}

/* One member: its chain of long name and pax headers, then its own header.
 * 1: a member was added; 0: the listing ended; else a stop status. */
static int read_member(reader *r, int64_t off, int64_t *next, int64_t *tell, sp_status *st)
{
    sp_tar *t = r->t;
    const uint8_t *d = t->data;
    level chain[MAX_CHAIN];
    int depth = 0;
    int64_t pos = off;
    int64_t size = 0;
    for (;;) {
        size_t avail = (uint64_t)pos < t->len ? t->len - (size_t)pos : 0;
        hdr_kind k = check_header(d + pos, avail, &size);
        if (k == HDR_OK && d[pos + 156] == 'S') {
            *st = stop(r, SP_TAR_UNMODELLED, "GNU sparse member", (uint64_t)pos);
            return -1;
        }
        uint8_t type = k == HDR_OK ? d[pos + 156] : 0;
        int pax_bad = 0;
        if (k == HDR_OK && memchr("LKxXg", type, 5) != NULL && type != 0) {
            if (depth == MAX_CHAIN) {
                *st = stop(r, SP_TAR_UNMODELLED, "long chain of extended headers", (uint64_t)pos);
                return -1;
            }
            int64_t blk = round_block(size);
            int64_t start = pos + BLOCK;
            int64_t end = (blk < 0 || blk > (int64_t)t->len) ? (int64_t)t->len : start + blk;
            if (end > (int64_t)t->len)
                end = (int64_t)t->len;
            level *lv = &chain[depth];
            lv->type = type;
            lv->buf.p = d + start;
            lv->buf.n = (size_t)(end - start);
            if (type == 'g')
                pax_bad = parse_pax(lv->buf, &r->global);
            else if (type == 'x' || type == 'X') {
                lv->pax = r->global;
                pax_bad = parse_pax(lv->buf, &lv->pax);
            }
            if (pax_bad == -2) {
                *st = stop(r, SP_TAR_UNMODELLED, "GNU sparse pax record", (uint64_t)pos);
                return -1;
            }
            if (pax_bad == 0) {
                depth++;
                pos = end;
                continue;
            }
            k = HDR_INVALID;
        }
        if (k != HDR_OK) {
            if (depth > 0) {
                *st =
                    stop(r, SP_TAR_TARERROR, "bad header after an extended header", (uint64_t)pos);
                return -1;
            }
            if (k == HDR_ZERO || off != 0)
                return 0;
            *st = stop(r, SP_TAR_TARERROR, "first header is not a tar header", 0);
            return -1;
        }
        break;
    }

    if (t->n_entries >= SP_TAR_MAX_MEMBERS) {
        *st = stop(r, SP_TAR_LIMIT, "member cap reached", (uint64_t)off);
        return -1;
    }
    if (sp_arena_grow(&t->arena, (void **)&t->entries, &t->entries_cap, t->n_entries + 1,
                      sizeof(sp_tar_entry)) != 0) {
        sp_error_set(r->err, SP_ERR_NOMEM, "no memory for tar members");
        *st = SP_ERR_NOMEM;
        return -1;
    }
    const uint8_t *h = d + pos;
    sp_tar_entry e;
    memset(&e, 0, sizeof(e));
    span name = nts(h, 100), prefix = nts(h + 345, 155), link = nts(h + 157, 100);
    e.type = h[156];
    if (e.type == 0 && name.n > 0 && name.p[name.n - 1] == '/')
        e.type = '5';
    if (e.type == '5')
        rstrip_slash(&name);
    e.name = name.p;
    e.name_len = name.n;
    if (prefix.n > 0) {
        e.prefix = prefix.p;
        e.prefix_len = prefix.n;
    }
    e.linkname = link.p;
    e.linkname_len = link.n;
    e.size = size;
    e.header_offset = (uint64_t)off;
    int64_t data_off = pos + BLOCK;
    e.data_offset = (uint64_t)data_off;
    *next = next_offset(data_off, &e);
    apply_pax(&e, &r->global);
    if (e.type == '5')
        rstrip_member(&e);
    /* Each wrapper patches the member after the one it wraps returned, so
     * the outermost wins. */
    for (int i = depth - 1; i >= 0; i--) {
        level *lv = &chain[i];
        if (lv->type == 'L') {
            span n = nts(lv->buf.p, lv->buf.n);
            if (e.type == '5' && n.n > 0 && n.p[n.n - 1] == '/')
                n.n--;
            e.prefix = NULL;
            e.prefix_len = 0;
            e.name = n.p;
            e.name_len = n.n;
        } else if (lv->type == 'K') {
            span n = nts(lv->buf.p, lv->buf.n);
            e.linkname = n.p;
            e.linkname_len = n.n;
        } else if (lv->type == 'x' || lv->type == 'X') {
            apply_pax(&e, &lv->pax);
            if (lv->pax.has_size)
                *next = next_offset(data_off, &e);
        }
    }
    t->entries[t->n_entries++] = e;
    *tell = data_off;
    return 1;
}

sp_status sp_tar_open(const uint8_t *data, size_t len, sp_tar *out, sp_error *err)
{
    reader r;
    memset(out, 0, sizeof(*out));
    sp_arena_init(&out->arena, ARENA_CAP);
    if (data == NULL && len > 0) {
        sp_error_set(err, SP_ERR_ARG, "no buffer");
        return SP_ERR_ARG;
    }
    if (len > (size_t)INT64_MAX / 2) {
        sp_error_set(err, SP_ERR_LIMIT, "buffer too large");
        return SP_ERR_LIMIT;
    }
    out->data = data;
    out->len = len;
    memset(&r, 0, sizeof(r));
    r.t = out;
    r.err = err;
    int64_t off = 0, tell = 0;
    for (;;) {
        /* tarfile seeks to the next header only when it is not already
         * there, and probes the byte before it. */
        if (off != tell) {
            if (off == 0)
                break;
            if (off < 0)
                return stop(&r, SP_TAR_UNMODELLED, "negative seek", (uint64_t)tell);
            if ((uint64_t)(off - 1) >= len)
                return stop(&r, SP_TAR_TARERROR, "member data past the end", (uint64_t)tell);
        }
        int64_t next = 0;
        sp_status st = SP_OK;
        int got = read_member(&r, off, &next, &tell, &st);
        if (got < 0)
            return st;
        if (got == 0)
            break;
        off = next;
    }
    out->end_offset = (uint64_t)off;
    out->outcome = SP_TAR_READ;
    return SP_OK;
}

void sp_tar_close(sp_tar *t)
{
    if (t == NULL)
        return;
    sp_arena_release(&t->arena);
    memset(t, 0, sizeof(*t));
}

int sp_tar_find(const sp_tar *t, const char *name)
{
    size_t n = strlen(name);
    while (n > 0 && name[n - 1] == '/')
        n--;
    for (uint32_t i = t->n_entries; i-- > 0;) {
        const sp_tar_entry *e = &t->entries[i];
        if (e->prefix_len > 0) {
            if (e->prefix_len + 1 + e->name_len != n || memcmp(name, e->prefix, e->prefix_len) ||
                name[e->prefix_len] != '/' ||
                memcmp(name + e->prefix_len + 1, e->name, e->name_len))
                continue;
            return (int)i;
        }
        if (e->name_len == n && memcmp(name, e->name, n) == 0)
            return (int)i;
    }
    return -1;
}

sp_status sp_tar_member(const sp_tar *t, int idx, const uint8_t **data, uint64_t *len)
{
    if (t == NULL || idx < 0 || (uint32_t)idx >= t->n_entries)
        return SP_ERR_ARG;
    const sp_tar_entry *e = &t->entries[idx];
    if (!skips_data(e->type) || e->size < 0)
        return SP_ERR_FORMAT;
    if (e->data_offset > t->len || (uint64_t)e->size > t->len - e->data_offset)
        return SP_ERR_FORMAT;
    *data = t->data + e->data_offset;
    *len = (uint64_t)e->size;
    return SP_OK;
}
