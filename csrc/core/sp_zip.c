#include "sp_zip.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#define LOCAL_SIG 0x04034b50u
#define CENTRAL_SIG 0x02014b50u
#define EOCD_SIG 0x06054b50u
#define EOCD64_SIG 0x06064b50u
#define LOCATOR64_SIG 0x07064b50u

#define LOCAL_SIZE 30u
#define CENTRAL_SIZE 46u
#define EOCD_SIZE 22u
#define EOCD64_SIZE 56u
#define LOCATOR64_SIZE 20u

#define FLAG_ENCRYPTED 0x0001u
#define FLAG_PATCH 0x0020u
#define FLAG_STRONG 0x0040u
#define FLAG_MASKED_DIR 0x2000u
/* torch.save's writer sets the data-descriptor and UTF-8 bits, nothing else. */
#define TORCH_WRITER_FLAGS 0x0808u

#define U32_MAX 0xffffffffu
/* getAllRecords copies names into a 512-byte buffer. */
#define TORCH_NAME_BUF 512u
/* The end record search reads 4 KiB blocks backwards and gives up once it
 * is this far from the end. */
#define EOCD_BLOCK 4096u
#define EOCD_REACH (0xffffu + EOCD_SIZE)

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

/* off + n <= len without overflow. */
static int fits(uint64_t off, uint64_t n, size_t len)
{
    return off <= (uint64_t)len && n <= (uint64_t)len - off;
}

void sp_zip_limits_default(sp_zip_limits *limits)
{
    limits->max_entries = (uint32_t)1 << 20;
    limits->max_record = (uint64_t)256 << 20;
    limits->max_inflated = (uint64_t)512 << 20;
    limits->max_ratio = 1024;
    limits->max_anomaly_items = 1024;
    limits->max_crc_bytes = (uint64_t)64 << 20;
}

int sp_zip_has_anomaly(const sp_zip *z, int code)
{
    return code >= 0 && code < SP_CA_COUNT && (z->anomaly_mask & (1u << code)) != 0;
}

/* The mask is what callers decide on; the list only explains it, so a full
 * list or a refused allocation drops details, never the mask bit. */
static void add_anomaly(sp_zip *z, int code, int64_t entry, uint64_t offset)
{
    z->anomaly_mask |= 1u << code;
    if (z->n_anomalies >= z->limits.max_anomaly_items) {
        z->anomalies_dropped++;
        return;
    }
    if (z->n_anomalies == z->anomalies_cap &&
        sp_arena_grow(&z->arena, (void **)&z->anomalies, &z->anomalies_cap, z->n_anomalies + 1,
                      sizeof(*z->anomalies)) != 0) {
        z->anomalies_dropped++;
        return;
    }
    z->anomalies[z->n_anomalies].code = code;
    z->anomalies[z->n_anomalies].entry = entry;
    z->anomalies[z->n_anomalies].offset = offset;
    z->n_anomalies++;
}

/* ---- names ----------------------------------------------------------- */

/* The reader lowercases ASCII letters only. */
static uint8_t fold(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* <0, 0, >0 with the reader's rule: folded bytes, then length. */
static int name_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;

    for (size_t i = 0; i < n; i++) {
        uint8_t x = fold(a[i]), y = fold(b[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int entry_less(const sp_zip *z, uint32_t a, uint32_t b)
{
    const sp_zip_entry *x = &z->entries[a], *y = &z->entries[b];
    return name_cmp(x->name, x->name_len, y->name, y->name_len) < 0;
}

static void sift_down(const sp_zip *z, uint32_t *idx, uint64_t root, uint64_t size)
{
    for (;;) {
        uint64_t child = root * 2 + 1;
        uint32_t t;

        if (child >= size)
            return;
        if (child + 1 < size && entry_less(z, idx[child], idx[child + 1]))
            child++;
        if (!entry_less(z, idx[root], idx[child]))
            return;
        t = idx[root];
        idx[root] = idx[child];
        idx[child] = t;
        root = child;
    }
}

/* Which of several equal names a lookup finds depends on where an unstable
 * sort leaves them, so this must be the very heap sort the reader runs:
 * the textbook one, bottom-up heap construction then repeated extraction,
 * preferring the left child on ties and never swapping equal keys. */
static void sort_lookup(sp_zip *z)
{
    uint32_t n = z->n_entries;
    uint32_t *idx = z->lookup;

    for (uint32_t i = 0; i < n; i++)
        idx[i] = i;
    if (n < 2)
        return;
    for (uint64_t start = (n - 2) / 2 + 1; start-- > 0;)
        sift_down(z, idx, start, n);
    for (uint64_t end = n - 1; end > 0; end--) {
        uint32_t t = idx[0];
        idx[0] = idx[end];
        idx[end] = t;
        sift_down(z, idx, 0, end);
    }
}

int sp_zip_find(const sp_zip *z, const char *name, size_t len)
{
    int64_t lo = 0, hi = (int64_t)z->n_entries - 1;

    if (z->lookup == NULL || name == NULL)
        return -1;
    while (lo <= hi) {
        int64_t mid = lo + ((hi - lo) >> 1);
        const sp_zip_entry *e = &z->entries[z->lookup[mid]];
        int c = name_cmp(e->name, e->name_len, (const uint8_t *)name, len);

        if (c == 0)
            return (int)z->lookup[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* ---- end of central directory ---------------------------------------- */

/* The last signature with a whole record's room after it, searched the way
 * the reader searches: 4 KiB blocks from the end, overlapping by three
 * bytes, giving up one block past 64 KiB + 22 from the end. Nothing in the
 * record is checked before it is chosen. */
static int locate_eocd(const uint8_t *d, size_t len, uint64_t *pos)
{
    uint64_t start;

    if (len < EOCD_SIZE)
        return 0;
    start = len > EOCD_BLOCK ? len - EOCD_BLOCK : 0;
    for (;;) {
        uint64_t n = len - start < EOCD_BLOCK ? len - start : EOCD_BLOCK;

        for (uint64_t i = n - 3; i-- > 0;) {
            if (rd32(d + start + i) == EOCD_SIG && len - (start + i) >= EOCD_SIZE) {
                *pos = start + i;
                return 1;
            }
        }
        if (start == 0 || len - start >= EOCD_REACH)
            return 0;
        start = start > EOCD_BLOCK - 3 ? start - (EOCD_BLOCK - 3) : 0;
    }
}

/* An end record that points at a central directory, by absolute offset or
 * as the directory right before it (how zip tools find an archive that was
 * appended to other data). A stray signature inside tensor bytes does not
 * point anywhere and is not counted. */
static int plausible_eocd(const uint8_t *d, size_t len, uint64_t pos)
{
    const uint8_t *p = d + pos;
    uint32_t size = rd32(p + 12), ofs = rd32(p + 16);

    if (rd16(p + 10) == 0 && size == 0)
        return 1;
    if (fits(ofs, 4, len) && ofs <= pos && rd32(d + ofs) == CENTRAL_SIG)
        return 1;
    if (pos >= LOCATOR64_SIZE && rd32(p - LOCATOR64_SIZE) == LOCATOR64_SIG) {
        /* zip64: the 32-bit fields may be placeholders, and the directory
         * ends where the zip64 end record starts. */
        if (ofs == U32_MAX || size == U32_MAX)
            return 1;
        if (pos >= LOCATOR64_SIZE + EOCD64_SIZE)
            pos -= LOCATOR64_SIZE + EOCD64_SIZE;
    }
    return size <= pos && rd32(d + pos - size) == CENTRAL_SIG;
}

/* Signatures starting in [from, to) whose record fits in the file. */
static uint32_t count_eocds_in(const uint8_t *d, size_t len, uint64_t from, uint64_t to)
{
    uint32_t count = 0;

    if (len < EOCD_SIZE)
        return 0;
    if (to > len - EOCD_SIZE + 1)
        to = len - EOCD_SIZE + 1;
    for (size_t i = (size_t)from; i < to;) {
        const uint8_t *hit = memchr(d + i, 'P', (size_t)to - i);
        if (hit == NULL)
            break;
        i = (size_t)(hit - d);
        if (rd32(hit) == EOCD_SIG && plausible_eocd(d, len, i) && count < UINT32_MAX)
            count++;
        i++;
    }
    return count;
}

static uint32_t count_eocds(const uint8_t *d, size_t len)
{
    return count_eocds_in(d, len, 0, len);
}

/* ---- central directory ------------------------------------------------ */

typedef struct cd_info {
    uint64_t total, on_disk, num_disk, cd_disk, cd_size, cd_offset;
} cd_info;

static sp_status refuse(sp_error *err, const char *what)
{
    sp_error_set(err, SP_ERR_FORMAT, "torch's zip reader refuses the archive: %s", what);
    return SP_ERR_FORMAT;
}

static sp_status read_end_records(sp_zip *z, cd_info *cd, sp_error *err)
{
    const uint8_t *d = z->data;
    size_t len = z->len;
    uint64_t pos = 0, z64 = 0;
    const uint8_t *e, *loc = NULL;

    if (len < EOCD_SIZE || !locate_eocd(d, len, &pos))
        return refuse(err, "failed finding central directory");
    z->eocd_offset = pos;
    /* An archive that torch.load does not see as one: whatever sits at
     * offset 0 is what its legacy loader unpickles. */
    if (!z->torch_magic)
        add_anomaly(z, SP_CA_ZIP_DATA_BEFORE, -1, 0);
    e = d + pos;
    z->comment_len = rd16(e + 20);
    if (pos + EOCD_SIZE + z->comment_len < len)
        add_anomaly(z, SP_CA_ZIP_DATA_AFTER, -1, pos + EOCD_SIZE + z->comment_len);

    if (pos >= LOCATOR64_SIZE + EOCD64_SIZE && rd32(e - LOCATOR64_SIZE) == LOCATOR64_SIG) {
        loc = e - LOCATOR64_SIZE;
        z64 = rd64(loc + 8);
        if (z64 > len - EOCD64_SIZE)
            return refuse(err, "zip64 end record outside the file");
        if (rd32(d + z64) == EOCD64_SIG)
            z->zip64 = 1;
    }
    /* With a zip64 record the 32-bit fields are not looked at at all. */
    cd->total = rd16(e + 10);
    cd->on_disk = rd16(e + 8);
    cd->num_disk = rd16(e + 4);
    cd->cd_disk = rd16(e + 6);
    cd->cd_size = rd32(e + 12);
    cd->cd_offset = rd32(e + 16);
    if (z->zip64) {
        const uint8_t *r = d + z64;

        if (rd64(r + 4) < EOCD64_SIZE - 12)
            return refuse(err, "zip64 end record too short");
        if (rd32(loc + 16) != 1)
            return refuse(err, "multi-disk archive");
        cd->total = rd64(r + 32);
        cd->on_disk = rd64(r + 24);
        if (cd->total > U32_MAX || cd->on_disk > U32_MAX)
            return refuse(err, "too many files");
        cd->cd_size = rd64(r + 40);
        if (cd->cd_size > U32_MAX)
            return refuse(err, "central directory too large");
        cd->num_disk = rd32(r + 16);
        cd->cd_disk = rd32(r + 20);
        cd->cd_offset = rd64(r + 48);
    }
    if (cd->total != cd->on_disk)
        return refuse(err, "multi-disk archive");
    if ((cd->num_disk | cd->cd_disk) != 0 && (cd->num_disk != 1 || cd->cd_disk != 1))
        return refuse(err, "multi-disk archive");
    if (cd->cd_size < cd->total * CENTRAL_SIZE)
        return refuse(err, "central directory smaller than its entries");
    if (!fits(cd->cd_offset, cd->cd_size, len))
        return refuse(err, "central directory outside the file");
    z->cd_offset = cd->cd_offset;
    z->cd_size = cd->cd_size;
    return SP_OK;
}

/* The zip64 extended field as the directory pass reads it: the first field
 * with id 1, then 64-bit values for each 32-bit field that is all ones, as
 * long as bytes remain in the whole extra area (not just that field). */
static int scan_pass_zip64(const uint8_t *x, uint32_t xlen, uint64_t *uncomp, uint64_t *comp,
                           uint64_t *lho)
{
    uint32_t rem = xlen;

    while (rem != 0) {
        uint32_t id, size;

        if (rem < 4)
            return -1;
        id = rd16(x);
        size = rd16(x + 2);
        if (size + 4 > rem)
            return -1;
        if (id == 1) {
            x += 4;
            rem -= 4;
            if (*uncomp == U32_MAX && rem >= 8) {
                *uncomp = rd64(x);
                x += 8;
                rem -= 8;
            }
            if (*comp == U32_MAX && rem >= 8) {
                *comp = rd64(x);
                x += 8;
                rem -= 8;
            }
            if (*lho == U32_MAX && rem >= 8)
                *lho = rd64(x);
            return 0;
        }
        x += 4 + size;
        rem -= 4 + size;
    }
    return 0;
}

/* The same field as reading a record parses it: bounded by the field. */
static const char *stat_zip64(const uint8_t *x, uint32_t xlen, sp_zip_entry *e)
{
    uint32_t rem = xlen;

    while (rem != 0) {
        uint32_t id, size;

        if (rem < 4)
            return "invalid header or archive is corrupted";
        id = rd16(x);
        size = rd16(x + 2);
        if (size + 4 > rem)
            return "invalid header or archive is corrupted";
        if (id == 1) {
            const uint8_t *f = x + 4;
            uint32_t left = size;
            uint64_t *fields[3] = {&e->uncomp_size, &e->comp_size, &e->local_offset};

            for (int i = 0; i < 3; i++) {
                if (*fields[i] != U32_MAX)
                    continue;
                if (left < 8)
                    return "invalid header or archive is corrupted";
                *fields[i] = rd64(f);
                f += 8;
                left -= 8;
            }
            return NULL;
        }
        x += 4 + size;
        rem -= 4 + size;
    }
    return NULL;
}

static int is_directory(const sp_zip_entry *e)
{
    return (e->name_len > 0 && e->name[e->name_len - 1] == '/') || (e->external_attr & 0x10u);
}

static void read_local(sp_zip *z, sp_zip_entry *e)
{
    const uint8_t *l;

    if (!fits(e->local_offset, LOCAL_SIZE, z->len) || rd32(z->data + e->local_offset) != LOCAL_SIG)
        return;
    l = z->data + e->local_offset;
    e->has_local = 1;
    e->local_flags = rd16(l + 6);
    e->local_name_len = rd16(l + 26);
    e->data_offset = e->local_offset + LOCAL_SIZE + e->local_name_len + rd16(l + 28);
    if (fits(e->local_offset + LOCAL_SIZE, e->local_name_len, z->len))
        e->local_name = l + LOCAL_SIZE;
}

/* One pass over the directory with the reader's checks, in its order; the
 * first failure refuses the whole archive, as it does. */
static sp_status read_directory(sp_zip *z, const cd_info *cd, sp_error *err)
{
    const uint8_t *p = z->data + cd->cd_offset;
    uint64_t left = cd->cd_size;

    for (uint32_t i = 0; i < z->n_entries; i++) {
        sp_zip_entry *e = &z->entries[i];
        uint64_t comp, uncomp, lho;
        uint32_t name_len, extra_len, total;
        uint16_t disk, flags;

        if (left < CENTRAL_SIZE || rd32(p) != CENTRAL_SIG)
            return refuse(err, "invalid central directory header");
        comp = rd32(p + 20);
        uncomp = rd32(p + 24);
        lho = rd32(p + 42);
        name_len = rd16(p + 28);
        extra_len = rd16(p + 30);
        total = CENTRAL_SIZE + name_len + extra_len + rd16(p + 32);
        flags = rd16(p + 8);
        if (flags & (FLAG_ENCRYPTED | FLAG_STRONG | FLAG_MASKED_DIR))
            add_anomaly(z, SP_CA_ZIP_ENCRYPTED, i, (uint64_t)(p - z->data));
        if (flags & ~TORCH_WRITER_FLAGS)
            add_anomaly(z, SP_CA_ZIP_FLAG_BITS, i, (uint64_t)(p - z->data));

        if (extra_len != 0 && (comp == U32_MAX || uncomp == U32_MAX || lho == U32_MAX)) {
            if (CENTRAL_SIZE + name_len + extra_len > left)
                return refuse(err, "central directory header overruns the directory");
            if (scan_pass_zip64(p + CENTRAL_SIZE + name_len, extra_len, &uncomp, &comp, &lho) != 0)
                return refuse(err, "malformed extra field");
        }
        /* The method check reads the method and the time as one 32-bit
         * value: a stored entry with a nonzero time escapes it. */
        if (comp != U32_MAX && uncomp != U32_MAX &&
            ((rd32(p + 10) == 0 && uncomp != comp) || (uncomp != 0 && comp == 0)))
            return refuse(err, "stored entry whose sizes differ");
        disk = rd16(p + 34);
        if (disk == 0xffffu || (disk != cd->num_disk && disk != 1))
            return refuse(err, "multi-disk archive");
        if (comp != U32_MAX && !fits(lho, LOCAL_SIZE + comp, z->len))
            return refuse(err, "entry data outside the file");
        if (flags & FLAG_MASKED_DIR)
            return refuse(err, "unsupported encryption");
        if (total > left)
            return refuse(err, "central directory header overruns the directory");

        e->name = p + CENTRAL_SIZE;
        e->name_len = name_len;
        e->central_offset = (uint64_t)(p - z->data);
        e->flags = flags;
        e->method = rd16(p + 10);
        e->dos_time = rd16(p + 12);
        e->crc = rd32(p + 16);
        e->comp_size = rd32(p + 20);
        e->uncomp_size = rd32(p + 24);
        e->external_attr = rd32(p + 38);
        e->local_offset = rd32(p + 42);
        if (e->comp_size == U32_MAX || e->uncomp_size == U32_MAX || e->local_offset == U32_MAX)
            e->stat_error = stat_zip64(p + CENTRAL_SIZE + name_len, extra_len, e);
        if (e->stat_error == NULL && e->method != 0 && e->method != 8)
            e->stat_error = "unsupported method";
        if (e->stat_error == NULL && (flags & (FLAG_ENCRYPTED | FLAG_STRONG)))
            e->stat_error = "unsupported encryption";
        if (e->stat_error == NULL && (flags & FLAG_PATCH))
            e->stat_error = "unsupported feature";
        read_local(z, e);

        p += total;
        left -= total;
    }
    return SP_OK;
}

/* ---- anomalies -------------------------------------------------------- */

typedef struct name_ref {
    const uint8_t *name;
    uint32_t len;
    uint32_t entry;
} name_ref;

static int name_ref_cmp(const void *a, const void *b)
{
    const name_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->name, y->name, n) : 0;

    if (c != 0)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->entry < y->entry ? -1 : x->entry > y->entry;
}

/* Names equal under the lookup's folding sit next to each other in lookup
 * order; within such a run, exact copies are duplicates and the rest are
 * case collisions. */
static sp_status check_names(sp_zip *z)
{
    uint32_t n = z->n_entries;
    name_ref *run = NULL;

    for (uint32_t i = 0; i < n;) {
        uint32_t j = i + 1;
        const sp_zip_entry *first = &z->entries[z->lookup[i]];

        while (j < n) {
            const sp_zip_entry *e = &z->entries[z->lookup[j]];
            if (name_cmp(first->name, first->name_len, e->name, e->name_len) != 0)
                break;
            j++;
        }
        if (j - i > 1) {
            uint32_t k = j - i;
            int exact = 0, folded = 0;

            if (run == NULL) {
                run = malloc(sizeof(*run) * n);
                if (run == NULL)
                    return SP_ERR_NOMEM;
            }
            for (uint32_t m = 0; m < k; m++) {
                const sp_zip_entry *e = &z->entries[z->lookup[i + m]];
                run[m].name = e->name;
                run[m].len = e->name_len;
                run[m].entry = z->lookup[i + m];
            }
            qsort(run, k, sizeof(*run), name_ref_cmp);
            for (uint32_t m = 1; m < k; m++) {
                int same =
                    run[m].len == run[m - 1].len &&
                    (run[m].len == 0 || memcmp(run[m].name, run[m - 1].name, run[m].len) == 0);
                if (same && !exact) {
                    exact = 1;
                    add_anomaly(z, SP_CA_ZIP_DUPLICATE_NAME, run[m].entry,
                                z->entries[run[m].entry].central_offset);
                } else if (!same && !folded) {
                    folded = 1;
                    add_anomaly(z, SP_CA_ZIP_CASE_COLLISION, run[m].entry,
                                z->entries[run[m].entry].central_offset);
                }
            }
        }
        i = j;
    }
    free(run);
    return SP_OK;
}

typedef struct span {
    uint64_t start, end;
    uint32_t entry;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static sp_status check_overlap(sp_zip *z)
{
    span *spans = malloc(sizeof(*spans) * (z->n_entries ? z->n_entries : 1));
    uint32_t k = 0;
    uint64_t reach = 0;

    if (spans == NULL)
        return SP_ERR_NOMEM;
    for (uint32_t i = 0; i < z->n_entries; i++) {
        const sp_zip_entry *e = &z->entries[i];
        if (!e->has_local)
            continue;
        spans[k].start = e->local_offset;
        spans[k].end = e->data_offset + e->comp_size < e->data_offset
                           ? UINT64_MAX
                           : e->data_offset + e->comp_size;
        spans[k].entry = i;
        k++;
    }
    qsort(spans, k, sizeof(*spans), span_cmp);
    for (uint32_t i = 0; i < k; i++) {
        if (i > 0 && spans[i].start < reach) {
            add_anomaly(z, SP_CA_ZIP_OVERLAP, spans[i].entry, spans[i].start);
            break;
        }
        if (spans[i].end > reach)
            reach = spans[i].end;
    }
    free(spans);
    return SP_OK;
}

/* torch's getAllRecords compares each name, cut to its 511-byte buffer,
 * with strncmp against "<prefix>/". */
static int torch_prefix_ok(const sp_zip *z, const sp_zip_entry *e)
{
    size_t n = e->name_len < TORCH_NAME_BUF - 1 ? e->name_len : TORCH_NAME_BUF - 1;

    for (size_t i = 0; i <= z->prefix_len; i++) {
        uint8_t a = i < n ? e->name[i] : 0;
        uint8_t b = i < z->prefix_len ? z->prefix[i] : '/';
        if (a != b)
            return 0;
        if (a == 0)
            return 1;
    }
    return 1;
}

static int by_start(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;

    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* End-of-directory signatures outside the data of the entries: one inside
 * a stored record (a tensor's bytes) is data that neither torch's reader
 * nor zipfile ever takes for a directory, and skipping the records keeps
 * this pass over the file cheap however large the tensors are. */
static uint32_t count_eocds_outside_data(sp_zip *z)
{
    uint64_t(*ranges)[2];
    uint32_t n = 0, count = 0;
    uint64_t at = 0;

    ranges = z->n_entries ? sp_arena_alloc(&z->arena, sizeof(*ranges) * z->n_entries) : NULL;
    if (ranges == NULL)
        return count_eocds(z->data, z->len);
    for (uint32_t i = 0; i < z->n_entries; i++) {
        const sp_zip_entry *e = &z->entries[i];

        if (e->has_local && e->method == 0 && fits(e->data_offset, e->comp_size, z->len) &&
            e->comp_size > 0) {
            ranges[n][0] = e->data_offset;
            ranges[n][1] = e->data_offset + e->comp_size;
            n++;
        }
    }
    qsort(ranges, n, sizeof(*ranges), by_start);
    for (uint32_t i = 0; i <= n; i++) {
        uint64_t end = i < n ? ranges[i][0] : z->len;

        if (end > at) {
            /* a signature may straddle the gap's end by up to 3 bytes */
            uint64_t stop = end + EOCD_SIZE - 1 < z->len ? end + EOCD_SIZE - 1 : z->len;
            count += count_eocds_in(z->data, z->len, at, stop);
        }
        if (i < n && ranges[i][1] > at)
            at = ranges[i][1];
    }
    return count;
}

/* Without a directory to skip, every byte is searched (a refused archive). */
static void count_all_eocds(sp_zip *z)
{
    z->eocd_count = count_eocds(z->data, z->len);
    if (z->eocd_count > 1)
        add_anomaly(z, SP_CA_ZIP_MULTIPLE_EOCD, -1, 0);
}

static uint32_t crc_of(const uint8_t *p, uint64_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);

    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

/* A record some loader may run as a pickle: tensor and array data can
 * hide nothing executable behind a wrong CRC, and checking gigabytes of
 * it would make opening a checkpoint cost a full read. */
static int may_run(const sp_zip *z, const sp_zip_entry *e)
{
    const uint8_t *p = z->data + e->data_offset;
    size_t n = e->name_len;

    if ((n >= 4 && memcmp(e->name + n - 4, ".pkl", 4) == 0) ||
        (n >= 4 && memcmp(e->name + n - 4, ".npy", 4) == 0))
        return 1;
    return e->comp_size >= 2 && p[0] == 0x80 && p[1] <= 5;
}

static sp_status check_entries(sp_zip *z)
{
    uint64_t first_local = UINT64_MAX, crc_budget = z->limits.max_crc_bytes;
    sp_status st;

    for (uint32_t i = 0; i < z->n_entries; i++) {
        sp_zip_entry *e = &z->entries[i];
        uint64_t need =
            e->method == 0 && e->uncomp_size > e->comp_size ? e->uncomp_size : e->comp_size;

        if (!(e->flags & ~TORCH_WRITER_FLAGS) && e->has_local &&
            (e->local_flags & ~TORCH_WRITER_FLAGS))
            add_anomaly(z, SP_CA_ZIP_FLAG_BITS, i, e->central_offset);
        if (e->has_local && e->local_flags & (FLAG_ENCRYPTED | FLAG_STRONG))
            add_anomaly(z, SP_CA_ZIP_ENCRYPTED, i, e->local_offset);
        if (e->method != 0)
            add_anomaly(z, SP_CA_ZIP_COMPRESSED_RECORD, i, e->central_offset);
        if (e->method == 8 &&
            e->uncomp_size / (e->comp_size ? e->comp_size : 1) > z->limits.max_ratio)
            add_anomaly(z, SP_CA_DECOMPRESS_RATIO, i, e->central_offset);
        if (e->stat_error != NULL || !e->has_local || e->local_name == NULL ||
            !fits(e->data_offset, need, z->len) || (is_directory(e) && e->uncomp_size != 0))
            add_anomaly(z, SP_CA_ZIP_BAD_ENTRY, i, e->central_offset);
        if (e->has_local && e->local_name != NULL &&
            (e->local_name_len != e->name_len ||
             (e->name_len && memcmp(e->local_name, e->name, e->name_len) != 0)))
            add_anomaly(z, SP_CA_ZIP_NAME_MISMATCH, i, e->local_offset);
        if (e->has_local && e->local_offset < first_local)
            first_local = e->local_offset;
        if (z->has_prefix && !torch_prefix_ok(z, e))
            add_anomaly(z, SP_CA_ZIP_PREFIX_MISMATCH, i, e->central_offset);
        /* Zip tools refuse a record whose CRC is wrong and torch does not,
         * so a wrong CRC hides a record from one and not the other. Stored
         * records cost one pass over their bytes, within a budget; deflated
         * ones are checked when read. */
        if (e->method == 0 && e->stat_error == NULL && e->has_local && !is_directory(e) &&
            e->comp_size != 0 && fits(e->data_offset, e->uncomp_size, z->len) &&
            e->uncomp_size <= crc_budget && may_run(z, e)) {
            crc_budget -= e->uncomp_size;
            if (crc_of(z->data + e->data_offset, e->uncomp_size) != e->crc) {
                add_anomaly(z, SP_CA_ZIP_CRC_MISMATCH, i, e->central_offset);
                e->crc_checked = 1;
            }
        }
    }
    if (z->torch_magic && first_local != UINT64_MAX && first_local > 0)
        add_anomaly(z, SP_CA_ZIP_DATA_BEFORE, -1, first_local);
    st = check_names(z);
    if (st == SP_OK)
        st = check_overlap(z);
    return st;
}

/* ---- open ------------------------------------------------------------- */

sp_status sp_zip_open(const uint8_t *data, size_t len, sp_zip *out, sp_error *err)
{
    return sp_zip_open_ex(data, len, NULL, out, err);
}

sp_status sp_zip_open_ex(const uint8_t *data, size_t len, const sp_zip_limits *limits, sp_zip *out,
                         sp_error *err)
{
    cd_info cd;
    sp_status st;

    if (out == NULL)
        return SP_ERR_ARG;
    memset(out, 0, sizeof(*out));
    if (limits != NULL)
        out->limits = *limits;
    else
        sp_zip_limits_default(&out->limits);
    /* Tables and anomaly details only; inflated records are accounted
     * against max_inflated separately. */
    sp_arena_init(&out->arena, 0);
    if (data == NULL && len != 0) {
        sp_error_set(err, SP_ERR_ARG, "no buffer");
        return SP_ERR_ARG;
    }
    out->data = data;
    out->len = len;
    out->torch_magic = len >= 4 && rd32(data) == LOCAL_SIG;

    st = read_end_records(out, &cd, err);
    if (st != SP_OK) {
        count_all_eocds(out);
        return st;
    }
    if (cd.total > out->limits.max_entries) {
        sp_error_set(err, SP_ERR_LIMIT, "central directory lists %llu entries, cap is %u",
                     (unsigned long long)cd.total, out->limits.max_entries);
        return SP_ERR_LIMIT;
    }
    out->n_entries = (uint32_t)cd.total;
    if (out->n_entries != 0) {
        out->entries = sp_arena_alloc(&out->arena, sizeof(*out->entries) * out->n_entries);
        out->lookup = sp_arena_alloc(&out->arena, sizeof(*out->lookup) * out->n_entries);
        if (out->entries == NULL || out->lookup == NULL) {
            out->n_entries = 0;
            out->lookup = NULL;
            sp_error_set(err, SP_ERR_NOMEM, "no memory for %llu zip entries",
                         (unsigned long long)cd.total);
            return SP_ERR_NOMEM;
        }
    }
    st = read_directory(out, &cd, err);
    if (st != SP_OK) {
        /* Entries past the failure were never filled in. */
        out->n_entries = 0;
        out->lookup = NULL;
        count_all_eocds(out);
        return st;
    }
    if (out->n_entries != 0) {
        const sp_zip_entry *first = &out->entries[0];
        const uint8_t *slash = first->name_len ? memchr(first->name, '/', first->name_len) : NULL;

        if (slash != NULL) {
            out->has_prefix = 1;
            out->prefix = first->name;
            out->prefix_len = (size_t)(slash - first->name);
        }
    }
    sort_lookup(out);
    out->eocd_count = count_eocds_outside_data(out);
    if (out->eocd_count > 1)
        add_anomaly(out, SP_CA_ZIP_MULTIPLE_EOCD, -1, 0);
    st = check_entries(out);
    if (st != SP_OK) {
        sp_error_set(err, st, "no memory for the zip name checks");
        return st;
    }
    out->readable = 1;
    return SP_OK;
}

void sp_zip_close(sp_zip *z)
{
    if (z == NULL)
        return;
    sp_arena_release(&z->arena);
    memset(z, 0, sizeof(*z));
}

/* ---- records ---------------------------------------------------------- */

/* Inflates as the reader does into a buffer of the announced size. It
 * raises only when the stream ends short; a corrupt or truncated stream
 * makes it stop quietly and torch runs what was written, and a longer one
 * is cut at the announced size. One spare byte tells "longer" apart. */
static sp_status inflate_record(sp_zip *z, uint32_t idx, sp_error *err)
{
    sp_zip_entry *e = &z->entries[idx];
    z_stream s;
    uint8_t *out;
    const uint8_t *in = z->data + e->data_offset;
    uint64_t in_left = e->comp_size, out_room;
    int rc = Z_OK;

    if (e->uncomp_size > z->limits.max_record ||
        e->uncomp_size > z->limits.max_inflated - z->inflated_total) {
        add_anomaly(z, SP_CA_DECOMPRESS_SIZE, idx, e->central_offset);
        sp_error_set(err, SP_ERR_LIMIT, "record of %llu bytes would pass the inflate cap",
                     (unsigned long long)e->uncomp_size);
        return SP_ERR_LIMIT;
    }
    out = malloc((size_t)e->uncomp_size + 1);
    if (out == NULL) {
        sp_error_set(err, SP_ERR_NOMEM, "no memory to inflate a record");
        return SP_ERR_NOMEM;
    }
    memset(&s, 0, sizeof(s));
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) {
        free(out);
        sp_error_set(err, SP_ERR_NOMEM, "zlib could not start");
        return SP_ERR_NOMEM;
    }
    out_room = e->uncomp_size + 1;
    s.next_out = out;
    for (;;) {
        uInt in_chunk = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        uInt out_chunk = out_room > (1u << 30) ? (1u << 30) : (uInt)out_room;
        uint64_t in_before = s.total_in, out_before = s.total_out;

        s.next_in = (Bytef *)(uintptr_t)in;
        s.avail_in = in_chunk;
        s.avail_out = out_chunk;
        rc = inflate(&s, Z_NO_FLUSH);
        in += s.total_in - in_before;
        in_left -= s.total_in - in_before;
        out_room -= s.total_out - out_before;
        if (rc != Z_OK || out_room == 0)
            break;
        if (s.total_in == in_before && s.total_out == out_before)
            break; /* input exhausted: a truncated stream */
    }
    inflateEnd(&s);

    e->inflate_done = 1;
    if (s.total_out > e->uncomp_size) {
        add_anomaly(z, SP_CA_DECOMPRESS_ERROR, idx, e->data_offset);
        e->inflated_len = e->uncomp_size;
    } else if (rc == Z_STREAM_END && s.total_out == e->uncomp_size) {
        if (in_left != 0)
            add_anomaly(z, SP_CA_DECOMPRESS_TRAILING, idx, e->data_offset + e->comp_size - in_left);
        e->inflated_len = e->uncomp_size;
    } else if (rc == Z_STREAM_END) {
        free(out);
        add_anomaly(z, SP_CA_DECOMPRESS_ERROR, idx, e->data_offset);
        e->inflate_status = SP_ERR_FORMAT;
        sp_error_set(err, SP_ERR_FORMAT, "unexpected decompressed size");
        return SP_ERR_FORMAT;
    } else if (rc == Z_MEM_ERROR) {
        free(out);
        e->inflate_done = 0;
        sp_error_set(err, SP_ERR_NOMEM, "zlib ran out of memory");
        return SP_ERR_NOMEM;
    } else {
        add_anomaly(z, SP_CA_DECOMPRESS_ERROR, idx, e->data_offset);
        e->inflated_len = s.total_out;
    }
    {
        uint8_t *kept = sp_arena_alloc(&z->arena, (size_t)e->inflated_len);
        if (kept == NULL) {
            free(out);
            e->inflate_done = 0;
            sp_error_set(err, SP_ERR_NOMEM, "no memory to keep an inflated record");
            return SP_ERR_NOMEM;
        }
        memcpy(kept, out, (size_t)e->inflated_len);
        free(out);
        e->inflated = kept;
    }
    z->inflated_total += e->uncomp_size;
    e->inflate_status = SP_OK;
    return SP_OK;
}

sp_status sp_zip_record(sp_zip *z, uint32_t idx, const uint8_t **data, uint64_t *len, sp_error *err)
{
    static const uint8_t empty[1] = {0};
    sp_zip_entry *e;

    *data = NULL;
    *len = 0;
    if (z == NULL || idx >= z->n_entries) {
        sp_error_set(err, SP_ERR_ARG, "no such zip entry");
        return SP_ERR_ARG;
    }
    e = &z->entries[idx];
    if (e->stat_error != NULL) {
        sp_error_set(err, SP_ERR_FORMAT, "torch fails reading the record's metadata: %s",
                     e->stat_error);
        return SP_ERR_FORMAT;
    }
    if (is_directory(e) || e->comp_size == 0) {
        if (e->uncomp_size == 0) {
            *data = empty;
            return SP_OK;
        }
        /* The reader returns at once and torch unpickles the buffer it
         * allocated but never wrote. */
        sp_error_set(err, SP_ERR_FORMAT,
                     "torch reads %llu bytes of memory the zip reader never writes",
                     (unsigned long long)e->uncomp_size);
        return SP_ERR_FORMAT;
    }
    if (!e->has_local) {
        sp_error_set(err, SP_ERR_FORMAT, "no local header at offset %llu",
                     (unsigned long long)e->local_offset);
        return SP_ERR_FORMAT;
    }
    if (!fits(e->data_offset, e->comp_size, z->len)) {
        sp_error_set(err, SP_ERR_FORMAT, "record data runs past the end of the file");
        return SP_ERR_FORMAT;
    }
    if (e->method == 0) {
        /* Stored records are read at their uncompressed size. */
        if (!fits(e->data_offset, e->uncomp_size, z->len)) {
            sp_error_set(err, SP_ERR_FORMAT, "record data runs past the end of the file");
            return SP_ERR_FORMAT;
        }
        *data = z->data + e->data_offset;
        *len = e->uncomp_size;
        if (!e->crc_checked && may_run(z, e) && crc_of(*data, *len) != e->crc)
            add_anomaly(z, SP_CA_ZIP_CRC_MISMATCH, idx, e->central_offset);
        e->crc_checked = 1;
        return SP_OK;
    }
    if (!e->inflate_done) {
        sp_status st = inflate_record(z, idx, err);
        if (st != SP_OK)
            return st;
        if (e->inflated_len == e->uncomp_size && crc_of(e->inflated, e->inflated_len) != e->crc)
            add_anomaly(z, SP_CA_ZIP_CRC_MISMATCH, idx, e->central_offset);
    } else if (e->inflate_status != SP_OK) {
        sp_error_set(err, e->inflate_status, "unexpected decompressed size");
        return e->inflate_status;
    }
    *data = e->inflated != NULL ? e->inflated : empty;
    *len = e->inflated_len;
    return SP_OK;
}

/* ---- torch.load ------------------------------------------------------- */

/* The lookup key torch builds: "<prefix>/<record>" as a C string, so a NUL
 * in the prefix cuts it short. */
static int torch_find(const sp_zip *z, const char *record)
{
    size_t rlen = strlen(record), klen = 0;
    char *key;
    int idx;

    if (!z->has_prefix)
        return -1;
    key = malloc(z->prefix_len + 1 + rlen + 1);
    if (key == NULL)
        return -2;
    memcpy(key, z->prefix, z->prefix_len);
    key[z->prefix_len] = '/';
    memcpy(key + z->prefix_len + 1, record, rlen);
    while (klen < z->prefix_len + 1 + rlen && key[klen] != '\0')
        klen++;
    idx = sp_zip_find(z, key, klen);
    free(key);
    return idx;
}

sp_status sp_zip_torch_record(sp_zip *z, const char *record, const uint8_t **data, uint64_t *len,
                              sp_error *err)
{
    int idx;

    *data = NULL;
    *len = 0;
    if (z == NULL || record == NULL || !z->readable) {
        sp_error_set(err, SP_ERR_ARG, "archive not open");
        return SP_ERR_ARG;
    }
    idx = torch_find(z, record);
    if (idx == -2) {
        sp_error_set(err, SP_ERR_NOMEM, "no memory for a record name");
        return SP_ERR_NOMEM;
    }
    if (idx < 0) {
        sp_error_set(err, SP_ERR_FORMAT, "file not found: %s", record);
        return SP_ERR_FORMAT;
    }
    return sp_zip_record(z, (uint32_t)idx, data, len, err);
}

static int c_space(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* std::stoull on the record, then the supported range 1..10. */
static int torch_version_ok(const uint8_t *p, uint64_t n)
{
    uint64_t i = 0, v = 0;
    int neg = 0, digits = 0;

    while (i < n && c_space(p[i]))
        i++;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        neg = p[i++] == '-';
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        if (v > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10)
            return 0;
        v = v * 10 + (uint64_t)(p[i] - '0');
        digits = 1;
    }
    if (!digits)
        return 0;
    if (neg)
        v = (uint64_t)0 - v;
    return v >= 1 && v <= 10;
}

/* Python's int() on bytes, base 10: spaces around, a sign, digits with
 * single underscores between them. */
static int python_int_ok(const uint8_t *p, uint64_t n)
{
    uint64_t i = 0, end = n;
    int digits = 0;

    while (i < end && c_space(p[i]))
        i++;
    while (end > i && c_space(p[end - 1]))
        end--;
    if (i < end && (p[i] == '+' || p[i] == '-'))
        i++;
    for (; i < end; i++) {
        if (p[i] >= '0' && p[i] <= '9')
            digits = 1;
        else if (p[i] == '_' && digits && i + 1 < end && p[i + 1] >= '0' && p[i + 1] <= '9')
            continue;
        else
            return 0;
    }
    return digits;
}

static sp_status read_if_present(sp_zip *z, const char *record, const uint8_t **data, uint64_t *len,
                                 int *present, sp_error *err)
{
    int idx = torch_find(z, record);

    *present = 0;
    *data = NULL;
    *len = 0;
    if (idx == -2) {
        sp_error_set(err, SP_ERR_NOMEM, "no memory for a record name");
        return SP_ERR_NOMEM;
    }
    if (idx < 0)
        return SP_OK;
    *present = 1;
    return sp_zip_record(z, (uint32_t)idx, data, len, err);
}

static sp_status torch_refuses(sp_error *err, sp_status st, const char *record)
{
    if (st == SP_ERR_FORMAT) {
        char why[SP_ERROR_MAX];
        memcpy(why, err->message, sizeof(why));
        why[sizeof(why) - 1] = '\0';
        sp_error_set(err, SP_ERR_FORMAT, "torch.load raises reading %s: %s", record, why);
    }
    return st;
}

/* torch's name for a record in getAllRecords: what follows the prefix in
 * the name cut at the buffer size and at the first NUL. */
static int record_is(const sp_zip *z, const sp_zip_entry *e, const char *want)
{
    size_t n = e->name_len < TORCH_NAME_BUF - 1 ? e->name_len : TORCH_NAME_BUF - 1;
    size_t start = z->prefix_len + 1, wlen = strlen(want);
    const uint8_t *nul = n ? memchr(e->name, 0, n) : NULL;

    if (nul != NULL)
        n = (size_t)(nul - e->name);
    return n >= start && n - start == wlen && memcmp(e->name + start, want, wlen) == 0;
}

sp_status sp_zip_torch_pickle(sp_zip *z, const uint8_t **data, uint64_t *len, sp_error *err)
{
    const uint8_t *rec;
    uint64_t rec_len;
    int present;
    sp_status st;

    *data = NULL;
    *len = 0;
    if (z == NULL) {
        sp_error_set(err, SP_ERR_ARG, "no archive");
        return SP_ERR_ARG;
    }
    if (!z->torch_magic) {
        sp_error_set(err, SP_ERR_FORMAT,
                     "no local header at offset 0: torch.load runs its legacy loader instead");
        return SP_ERR_FORMAT;
    }
    if (!z->readable) {
        sp_error_set(err, SP_ERR_FORMAT, "torch's zip reader refuses the archive");
        return SP_ERR_FORMAT;
    }
    if (z->n_entries == 0) {
        sp_error_set(err, SP_ERR_FORMAT, "archive does not contain any files");
        return SP_ERR_FORMAT;
    }
    if (!z->has_prefix) {
        sp_error_set(err, SP_ERR_FORMAT, "file in archive is not in a subdirectory");
        return SP_ERR_FORMAT;
    }

    /* The reader's constructor. */
    st = read_if_present(z, ".data/serialization_id", &rec, &rec_len, &present, err);
    if (st != SP_OK)
        return torch_refuses(err, st, ".data/serialization_id");
    st = read_if_present(z, ".data/version", &rec, &rec_len, &present, err);
    if (st != SP_OK)
        return torch_refuses(err, st, ".data/version");
    if (!present) {
        st = read_if_present(z, "version", &rec, &rec_len, &present, err);
        if (st != SP_OK)
            return torch_refuses(err, st, "version");
        if (!present) {
            sp_error_set(err, SP_ERR_FORMAT, "torch.load raises: no version record");
            return SP_ERR_FORMAT;
        }
    }
    if (!torch_version_ok(rec, rec_len)) {
        sp_error_set(err, SP_ERR_FORMAT, "torch.load raises: unsupported archive version");
        return SP_ERR_FORMAT;
    }

    /* torch.load lists the records first: a name outside the prefix
     * raises, a constants.pkl sends the file to torch.jit.load. */
    for (uint32_t i = 0; i < z->n_entries; i++) {
        if (!torch_prefix_ok(z, &z->entries[i])) {
            sp_error_set(err, SP_ERR_FORMAT,
                         "torch.load raises: file in archive is not in the prefix directory");
            return SP_ERR_FORMAT;
        }
    }
    for (uint32_t i = 0; i < z->n_entries; i++) {
        if (record_is(z, &z->entries[i], "constants.pkl")) {
            z->torchscript = 1;
            sp_error_set(err, SP_ERR_FORMAT,
                         "TorchScript archive: torch.load calls torch.jit.load");
            return SP_ERR_FORMAT;
        }
    }

    /* torch.serialization._load, up to the pickle. */
    st = read_if_present(z, ".format_version", &rec, &rec_len, &present, err);
    if (st != SP_OK)
        return torch_refuses(err, st, ".format_version");
    st = read_if_present(z, "byteorder", &rec, &rec_len, &present, err);
    if (st != SP_OK)
        return torch_refuses(err, st, "byteorder");
    if (present && !(rec_len == 6 && memcmp(rec, "little", 6) == 0) &&
        !(rec_len == 3 && memcmp(rec, "big", 3) == 0)) {
        sp_error_set(err, SP_ERR_FORMAT, "torch.load raises: unknown byte order");
        return SP_ERR_FORMAT;
    }
    st = read_if_present(z, ".storage_alignment", &rec, &rec_len, &present, err);
    if (st != SP_OK)
        return torch_refuses(err, st, ".storage_alignment");
    if (present && !python_int_ok(rec, rec_len)) {
        sp_error_set(err, SP_ERR_FORMAT, "torch.load raises: storage alignment is not an int");
        return SP_ERR_FORMAT;
    }
    st = sp_zip_torch_record(z, "data.pkl", data, len, err);
    if (st != SP_OK)
        return torch_refuses(err, st, "data.pkl");
    return SP_OK;
}
