#define _GNU_SOURCE /* memmem */
/* From file bytes to the pickles the loader runs (see sp_file.h). */
#include "sp_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_bytes.h"
#include "sp_decompress.h"
#include "sp_format.h"
#include "sp_holes.h"
#include "sp_npy.h"
#include "sp_progress.h"
#include "sp_tar.h"
#include "sp_zip.h"

/* torch.save's legacy format starts with its magic number pickled as a
 * LONG1 at protocol 2 */
static const uint8_t torch_legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                             0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

/* joblib's array wrappers named in the first bytes: a joblib file even when
 * the scan stops (a Python 2 string, say) before the first array */
static int written_by_joblib(const uint8_t *data, size_t len)
{
    static const char mark[] = "joblib.numpy_pickle";

    return data != NULL && memmem(data, len < 65536 ? len : 65536, mark, sizeof(mark) - 1) != NULL;
}

/* A first pickle that reached STOP says itself whether joblib wrote it: it
 * resolves one of joblib.numpy_pickle's wrappers (old joblib kept the
 * arrays in files of their own). Only a pickle that stopped early is
 * searched for the mark, which a string may merely mention. */
static int joblib_by_mark(const sp_result *r, const uint8_t *data, size_t len)
{
    static const char module[] = "joblib.numpy_pickle";

    if (r != NULL && r->n_streams > 0 && r->streams[0].end_kind == SP_END_STOP) {
        const sp_stream *st = &r->streams[0];

        for (uint32_t i = 0; i < st->n_globals; i++)
            if (st->globals[i].module.len == sizeof(module) - 1 &&
                memcmp(st->globals[i].module.ptr, module, sizeof(module) - 1) == 0)
                return 1;
        return 0;
    }
    return written_by_joblib(data, len);
}

static void set_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

static void add_anomaly(sp_file *f, int code, const char *detail)
{
    sp_file_anomaly *grown;

    f->anomaly_mask |= 1u << code;
    if (f->n_anomalies >= 64)
        return;
    grown = realloc(f->anomalies, sizeof(*grown) * (f->n_anomalies + 1));
    if (grown == NULL)
        return;
    f->anomalies = grown;
    grown[f->n_anomalies].code = code;
    set_text(grown[f->n_anomalies].detail, SP_ERROR_MAX, detail ? detail : "");
    f->n_anomalies++;
}

static sp_record *add_record(sp_file *f, const char *name, size_t name_len)
{
    sp_record *grown, *r;

    if (f->n_records >= SP_FILE_MAX_RECORDS)
        return NULL;
    grown = realloc(f->records, sizeof(*grown) * (f->n_records + 1));
    if (grown == NULL)
        return NULL;
    f->records = grown;
    r = &grown[f->n_records++];
    memset(r, 0, sizeof(*r));
    if (name_len >= SP_RECORD_NAME_MAX)
        name_len = SP_RECORD_NAME_MAX - 1;
    memcpy(r->name, name, name_len);
    r->name[name_len] = '\0';
    return r;
}

/* Scans one pickle region into a new record. Only memory failures are
 * returned as errors. */
static sp_status scan_record(sp_file *f, const char *name, size_t name_len, const uint8_t *data,
                             uint64_t len, int primary, const sp_limits *limits, sp_error *err)
{
    sp_record *r = add_record(f, name, name_len);

    if (r == NULL)
        return SP_OK; /* past the record cap: the count is in the anomalies */
    r->primary = primary;
    return sp_scan_pickles(data, (size_t)len, limits, &r->result, err);
}

static int own(sp_file *f, uint8_t *buf)
{
    uint8_t **grown = realloc(f->owned, sizeof(*grown) * (f->n_owned + 1));

    if (grown == NULL)
        return -1;
    f->owned = grown;
    grown[f->n_owned++] = buf;
    return 0;
}

static int ends_with(const uint8_t *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);

    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static int starts_like_pickle(const uint8_t *data, uint64_t len)
{
    return len >= 2 && data[0] == 0x80 && data[1] <= 5;
}

static void zip_anomalies(sp_file *f, const sp_zip *z)
{
    for (int code = 0; code < SP_CA_COUNT; code++)
        if (z->anomaly_mask & (1u << code))
            add_anomaly(f, code, sp_container_anomaly_description(code));
}

/* An .npy image: its pickle, when numpy.load(allow_pickle=True) runs one. */
static sp_status scan_npy(sp_file *f, const char *name, size_t name_len, const uint8_t *data,
                          uint64_t len, int primary, const sp_limits *limits, sp_error *err)
{
    sp_npy_header h;
    sp_error perr;
    sp_status st = sp_npy_parse(data, (size_t)len, &h, &perr);

    if (st == SP_ERR_NOMEM) {
        sp_error_set(err, SP_ERR_NOMEM, "out of memory");
        return st;
    }
    for (int code = 0; code < SP_CA_COUNT; code++)
        if (h.anomalies & (1u << code))
            add_anomaly(f, code, code == SP_CA_NPY_BAD_HEADER ? perr.message : name);
    if (st == SP_OK && !h.pickle_runs)
        return SP_OK;
    if (st != SP_OK && !h.has_object) {
        sp_record *r = add_record(f, name, name_len);

        if (r != NULL) {
            r->primary = primary;
            snprintf(r->error, sizeof(r->error), "numpy rejects the header: %.200s", perr.message);
        }
        return SP_OK;
    }
    /* numpy.load runs pickle.load on what follows the header */
    if (h.data_offset <= len)
        sp_progress_begin(limits->progress, data, data + h.data_offset);
    if (h.data_offset > len)
        return scan_record(f, name, name_len, data + len, 0, primary, limits, err);
    return scan_record(f, name, name_len, data + h.data_offset, len - h.data_offset, primary,
                       limits, err);
}

/* The TorchScript sources an archive carries ("<prefix>/code/...") */
static void list_code_records(sp_file *f, const sp_zip *z)
{
    for (uint32_t i = 0; i < z->n_entries; i++) {
        const sp_zip_entry *e = &z->entries[i];
        sp_record *r;

        if (e->name_len < 6 || memmem(e->name, e->name_len, "/code/", 6) == NULL ||
            e->name[e->name_len - 1] == '/' || ends_with(e->name, e->name_len, ".pkl"))
            continue;
        r = add_record(f, (const char *)e->name, e->name_len);
        if (r != NULL)
            r->code = 1;
    }
}

static sp_status scan_into(sp_file *f, const uint8_t *data, size_t len, const sp_limits *limits,
                           sp_error *err);

#define SP_FILE_MAX_DEPTH 3

static int is_container(const uint8_t *data, uint64_t len)
{
    switch (sp_detect_format(data, (size_t)len)) {
    case SP_FMT_ZIP:
    case SP_FMT_NPY:
    case SP_FMT_TAR:
    case SP_FMT_GZIP:
    case SP_FMT_BZ2:
    case SP_FMT_XZ:
    case SP_FMT_LZMA:
    case SP_FMT_ZSTD:
    case SP_FMT_LZ4:
    case SP_FMT_JOBLIB_ZF:
        return 1;
    default:
        return 0;
    }
}

/* A container inside an archive (a torch zip in a tar, a gzip in a zip)
 * is read as a file of its own; its records join this file's under
 * "member/record" names. */
static sp_status scan_member_file(sp_file *f, const char *name, size_t name_len,
                                  const uint8_t *data, uint64_t len, const sp_limits *limits,
                                  sp_error *err)
{
    sp_file *child, **grown;
    sp_status st;

    if (f->depth + 1 > SP_FILE_MAX_DEPTH) {
        add_anomaly(f, SP_CA_NESTING, "containers nested deeper than the cap");
        return SP_OK;
    }
    child = calloc(1, sizeof(*child));
    grown = realloc(f->children, sizeof(*grown) * (f->n_children + 1));
    if (child == NULL || grown == NULL) {
        free(child);
        if (grown != NULL)
            f->children = grown;
        sp_error_set(err, SP_ERR_NOMEM, "out of memory");
        return SP_ERR_NOMEM;
    }
    f->children = grown;
    f->children[f->n_children++] = child;
    child->depth = f->depth + 1;
    st = scan_into(child, data, (size_t)len, limits, err);
    if (st != SP_OK)
        return st;
    for (uint32_t i = 0; i < child->n_records; i++) {
        char full[SP_RECORD_NAME_MAX];
        int n = snprintf(full, sizeof(full), "%.*s/%s", (int)(name_len & 0x7f), name,
                         child->records[i].name);
        sp_record *r = add_record(f, full, n < 0 ? 0 : (size_t)n);

        if (r == NULL)
            break;
        r->result = child->records[i].result; /* moved: the child no longer frees it */
        r->code = child->records[i].code;
        memcpy(r->error, child->records[i].error, sizeof(r->error));
        child->records[i].result = NULL;
    }
    for (uint32_t i = 0; i < child->n_anomalies; i++)
        add_anomaly(f, child->anomalies[i].code, child->anomalies[i].detail);
    return SP_OK;
}

static sp_status scan_zip(sp_file *f, const uint8_t *data, size_t len, const sp_limits *limits,
                          sp_error *err)
{
    sp_zip *z = calloc(1, sizeof(*z));
    sp_error zerr;
    sp_status st;
    const uint8_t *pkl = NULL;
    uint64_t pkl_len = 0;
    int torch = 0, torch_like = 0, npy_members = 0, other_members = 0;
    int64_t primary_offset = -1;

    if (z == NULL) {
        sp_error_set(err, SP_ERR_NOMEM, "out of memory");
        return SP_ERR_NOMEM;
    }
    f->zip = z;
    st = sp_zip_open(data, len, z, &zerr);
    zip_anomalies(f, z);
    if (st == SP_ERR_NOMEM) {
        sp_error_set(err, SP_ERR_NOMEM, "out of memory");
        return st;
    }
    if (st != SP_OK) {
        set_text(f->error, sizeof(f->error), zerr.message);
        set_text(f->format, sizeof(f->format), "zip");
        return SP_OK;
    }
    for (uint32_t i = 0; i < z->n_entries; i++) {
        const sp_zip_entry *e = &z->entries[i];

        if (ends_with(e->name, e->name_len, "data.pkl") ||
            ends_with(e->name, e->name_len, "version") ||
            ends_with(e->name, e->name_len, "constants.pkl"))
            torch_like = 1;
    }
    if (z->torch_magic) {
        st = sp_zip_torch_pickle(z, &pkl, &pkl_len, &zerr);
        if (st == SP_OK) {
            char name[SP_RECORD_NAME_MAX];

            torch = 1;
            snprintf(name, sizeof(name), "%.*s/data.pkl",
                     (int)(z->prefix_len < 100 ? z->prefix_len : 100), (const char *)z->prefix);
            primary_offset = pkl >= data && pkl < data + len ? (int64_t)(pkl - data) : -1;
            st = scan_record(f, name, strlen(name), pkl, pkl_len, 1, limits, err);
            if (st != SP_OK)
                return st;
        } else if (z->torchscript) {
            torch = 1;
            set_text(f->format, sizeof(f->format), "torch-zip(torchscript)");
            f->torchscript = 1;
            list_code_records(f, z);
        } else if (st == SP_ERR_NOMEM) {
            sp_error_set(err, SP_ERR_NOMEM, "out of memory");
            return st;
        } else if (torch_like) {
            /* torch.load raises before it runs any pickle of the archive;
             * other readers may still run the pickles it holds */
            snprintf(f->error, sizeof(f->error), "torch.load raises: %.200s", zerr.message);
        }
    }
    /* every other record that is a pickle, or an array numpy would unpickle */
    for (uint32_t i = 0; i < z->n_entries; i++) {
        const sp_zip_entry *e = &z->entries[i];
        const uint8_t *rec;
        uint64_t rec_len;

        if (sp_zip_record(z, i, &rec, &rec_len, &zerr) != SP_OK) {
            /* torch's reader refuses the entry (encryption or patch flags
             * set, say), but the data of a stored entry is plain: a reader
             * that ignores the flags runs it, so it is scanned as it is */
            if (e->method != 0 || !e->has_local || e->data_offset > len ||
                e->comp_size > len - e->data_offset)
                continue;
            rec = data + e->data_offset;
            rec_len = e->comp_size;
        }
        if (torch && primary_offset >= 0 && e->data_offset == (uint64_t)primary_offset)
            continue;
        if (ends_with(e->name, e->name_len, ".npy")) {
            npy_members++;
            st = scan_npy(f, (const char *)e->name, e->name_len, rec, rec_len, 0, limits, err);
        } else if (ends_with(e->name, e->name_len, ".pkl") || starts_like_pickle(rec, rec_len)) {
            other_members++;
            st = scan_record(f, (const char *)e->name, e->name_len, rec, rec_len, 0, limits, err);
        } else if (!torch && !torch_like && is_container(rec, rec_len)) {
            /* torch never opens its records as containers: only plain zips */
            other_members++;
            st = scan_member_file(f, (const char *)e->name, e->name_len, rec, rec_len, limits, err);
        } else {
            continue;
        }
        if (st != SP_OK)
            return st;
    }
    if (f->format[0] == '\0')
        set_text(f->format, sizeof(f->format),
                 torch || torch_like
                     ? "torch-zip"
                     : (npy_members && !other_members ? "npz"
                                                      : (other_members ? "zip-with-pkl" : "zip")));
    if (f->n_records == 0 && f->error[0] == '\0')
        f->no_pickle = 1;
    return SP_OK;
}

/* Element size of a legacy storage type (torch.FloatStorage, ...), or 0. */
static uint64_t storage_element_size(const sp_global *g)
{
    static const struct {
        const char *name;
        uint64_t size;
    } sizes[] = {{"DoubleStorage", 8},
                 {"FloatStorage", 4},
                 {"HalfStorage", 2},
                 {"LongStorage", 8},
                 {"IntStorage", 4},
                 {"ShortStorage", 2},
                 {"CharStorage", 1},
                 {"ByteStorage", 1},
                 {"BoolStorage", 1},
                 {"BFloat16Storage", 2},
                 {"ComplexDoubleStorage", 16},
                 {"ComplexFloatStorage", 8},
                 {"QUInt8Storage", 1},
                 {"QInt8Storage", 1},
                 {"QInt32Storage", 4},
                 {"QUInt4x2Storage", 1},
                 {"QUInt2x4Storage", 1}};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (g->name.len == strlen(sizes[i].name) &&
            memcmp(g->name.ptr, sizes[i].name, g->name.len) == 0)
            return sizes[i].size;
    return 0;
}

/* The item of a stream's returned tuple, or NULL. */
static const sp_slot *result_item(const sp_stream *st, uint32_t i)
{
    const sp_slot *r = &st->result;

    if (st->end_kind != SP_END_STOP || r->kind != SP_V_TUPLE || r->u.obj->n_kept <= i)
        return NULL;
    return &r->u.obj->items[i];
}

/* A member of torch's legacy tar that alternates pickles (each one
 * pickle.load) with raw bytes whose length the pickle before gives:
 * "storages" (count; per storage the args (key, location, type), an int64
 * element count and the elements; then the views) or "tensors" (count; per
 * tensor the args, then ndim as int32, 4 bytes, sizes, strides, offset). */
static sp_status scan_tar_member_run(sp_file *f, const char *member, const uint8_t *data,
                                     uint64_t len, int storages, const sp_limits *limits,
                                     sp_error *err)
{
    uint64_t pos = 0, count = 0;
    char name[SP_RECORD_NAME_MAX];
    sp_status st;

    for (uint64_t k = 0;; k++) {
        sp_record *r;
        const sp_stream *s0;

        /* the count pickle, one per record, and for storages the views */
        if (k > 0 && k > count + (storages ? 1 : 0))
            return SP_OK;
        snprintf(name, sizeof(name), "%s[%llu]", member, (unsigned long long)k);
        r = add_record(f, name, strlen(name));
        if (r == NULL)
            return SP_OK;
        st = sp_scan_pickle_once(data + pos, (size_t)(len - pos), limits, &r->result, err);
        if (st != SP_OK)
            return st;
        s0 = r->result->n_streams ? &r->result->streams[0] : NULL;
        if (s0 == NULL || s0->end_kind != SP_END_STOP) {
            snprintf(f->error, sizeof(f->error), "torch fails in the %s member", member);
            return SP_OK;
        }
        pos += s0->end;
        if (k == 0) {
            /* the count of records that follow */
            if (s0->result.kind != SP_V_INT || s0->result.u.i < 0 || s0->result.u.i > (1 << 20)) {
                snprintf(f->error, sizeof(f->error), "%s: a count the scan cannot follow", member);
                return SP_OK;
            }
            count = (uint64_t)s0->result.u.i;
            continue;
        }
        if (k > count)
            return SP_OK; /* that was the views pickle */
        if (storages) {
            const sp_slot *type = result_item(s0, 2);
            uint64_t elsize = 0, n;

            if (type != NULL && type->kind == SP_V_GLOBAL)
                elsize = storage_element_size(&s0->globals[type->ref]);
            if (elsize == 0 || len - pos < 8) {
                snprintf(f->error, sizeof(f->error), "%s: a storage the scan cannot follow",
                         member);
                return SP_OK;
            }
            n = sp_le_uint(data + pos, 8);
            pos += 8;
            if (n > (len - pos) / elsize) {
                snprintf(f->error, sizeof(f->error), "%s: storage data past the member's end",
                         member);
                return SP_OK;
            }
            pos += n * elsize;
        } else {
            uint64_t ndim;

            if (len - pos < 8) {
                snprintf(f->error, sizeof(f->error), "%s: tensor data past the member's end",
                         member);
                return SP_OK;
            }
            ndim = sp_le_uint(data + pos, 4);
            if (ndim > 64 || len - pos < 8 + 16 * ndim + 8) {
                snprintf(f->error, sizeof(f->error), "%s: a tensor the scan cannot follow", member);
                return SP_OK;
            }
            pos += 8 + 16 * ndim + 8;
        }
    }
}

/* tarfile takes the last member of a name, other readers the first: two
 * members of one name leave it open which bytes run. */
static void tar_duplicates(sp_file *f, const sp_tar *t)
{
    for (uint32_t i = 0; i < t->n_entries; i++) {
        const sp_tar_entry *a = &t->entries[i];

        for (uint32_t j = i + 1; j < t->n_entries && j < i + 4096; j++) {
            const sp_tar_entry *b = &t->entries[j];

            if (a->prefix_len == b->prefix_len && a->name_len == b->name_len &&
                memcmp(a->name, b->name, a->name_len) == 0 &&
                (a->prefix_len == 0 || memcmp(a->prefix, b->prefix, a->prefix_len) == 0)) {
                add_anomaly(f, SP_CA_ZIP_DUPLICATE_NAME, "two tar members with the same name");
                return;
            }
        }
    }
}

static sp_status scan_tar(sp_file *f, const uint8_t *data, size_t len, const sp_limits *limits,
                          sp_error *err)
{
    sp_tar t;
    sp_error terr;
    sp_status st = sp_tar_open(data, len, &t, &terr);
    int is_storages, is_tensors, is_pickle;
    const uint8_t *m;
    uint64_t mlen;

    set_text(f->format, sizeof(f->format), "tar");
    if (st == SP_ERR_NOMEM) {
        sp_tar_close(&t);
        sp_error_set(err, SP_ERR_NOMEM, "out of memory");
        return st;
    }
    if (st != SP_OK) {
        snprintf(f->error, sizeof(f->error), "tarfile does not list the archive: %.200s",
                 terr.message);
        sp_tar_close(&t);
        return SP_OK;
    }
    is_storages = sp_tar_find(&t, "storages");
    is_tensors = sp_tar_find(&t, "tensors");
    is_pickle = sp_tar_find(&t, "pickle");
    tar_duplicates(f, &t);
    if (is_storages >= 0 || is_tensors >= 0 || is_pickle >= 0) {
        /* torch's legacy tar: storages, then tensors, then the object */
        set_text(f->format, sizeof(f->format), "torch-legacy-tar");
        if (is_storages < 0 || sp_tar_member(&t, is_storages, &m, &mlen) != SP_OK) {
            set_text(f->error, sizeof(f->error), "torch.load raises: no readable storages member");
        } else {
            st = scan_tar_member_run(f, "storages", m, mlen, 1, limits, err);
            if (st == SP_OK &&
                (is_tensors < 0 || sp_tar_member(&t, is_tensors, &m, &mlen) != SP_OK))
                set_text(f->error, sizeof(f->error),
                         "torch.load raises: no readable tensors member");
            else if (st == SP_OK)
                st = scan_tar_member_run(f, "tensors", m, mlen, 0, limits, err);
            if (st == SP_OK && is_pickle >= 0 && sp_tar_member(&t, is_pickle, &m, &mlen) == SP_OK) {
                sp_record *r = add_record(f, "pickle", 6);

                if (r != NULL) {
                    r->primary = 1;
                    st = sp_scan_pickle_once(m, (size_t)mlen, limits, &r->result, err);
                }
            }
        }
        sp_tar_close(&t);
        return st;
    }
    /* any other tar: every member that is a pickle */
    for (uint32_t i = 0; i < t.n_entries; i++) {
        const sp_tar_entry *e = &t.entries[i];

        int nested;

        if (sp_tar_member(&t, (int)i, &m, &mlen) != SP_OK)
            continue;
        nested = !starts_like_pickle(m, mlen) && is_container(m, mlen);
        if (!nested && !starts_like_pickle(m, mlen))
            continue;
        char name[SP_RECORD_NAME_MAX];
        int n = e->prefix_len ? snprintf(name, sizeof(name), "%.*s/%.*s",
                                         (int)(e->prefix_len & 0xff), (const char *)e->prefix,
                                         (int)(e->name_len & 0xff), (const char *)e->name)
                              : snprintf(name, sizeof(name), "%.*s", (int)(e->name_len & 0xff),
                                         (const char *)e->name);
        size_t name_len = n < 0 ? 0 : (size_t)n < sizeof(name) ? (size_t)n : sizeof(name) - 1;

        st = nested ? scan_member_file(f, name, name_len, m, mlen, limits, err)
                    : scan_record(f, name, name_len, m, mlen, 0, limits, err);
        if (st != SP_OK)
            break;
    }
    if (st == SP_OK && f->n_records == 0)
        f->no_pickle = 1;
    sp_tar_close(&t);
    return st;
}

static sp_status scan_compressed(sp_file *f, int codec, const uint8_t *data, size_t len,
                                 const sp_limits *limits, sp_error *err)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    uint32_t anomalies = 0;
    sp_error derr;
    sp_status st = sp_decompress(codec, data, len, NULL, &out, &out_len, &anomalies, &derr);
    const sp_result *r;

    if (st == SP_ERR_NOMEM) {
        sp_decompress_free(out);
        sp_error_set(err, SP_ERR_NOMEM, "out of memory");
        return st;
    }
    for (int code = 0; code < SP_CA_COUNT; code++)
        if (anomalies & (1u << code))
            add_anomaly(f, code,
                        st != SP_OK ? derr.message : sp_container_anomaly_description(code));
    if (out != NULL && own(f, out) < 0) {
        sp_decompress_free(out);
        sp_error_set(err, SP_ERR_NOMEM, "out of memory");
        return SP_ERR_NOMEM;
    }
    if (st != SP_OK)
        snprintf(f->error, sizeof(f->error), "%s data: %.200s", sp_codec_name(codec), derr.message);
    if (out != NULL && sp_detect_format(out, out_len) == SP_FMT_TAR) {
        /* Python's tarfile opens compressed archives transparently */
        sp_status tst = scan_tar(f, out, out_len, limits, err);

        if (strcmp(f->format, "tar") == 0)
            snprintf(f->format, sizeof(f->format), "tar.%s", sp_codec_name(codec));
        return tst;
    }
    /* a loader reading a cut or corrupt stream runs the prefix it got */
    st = scan_record(f, "<decompressed>", 14, out != NULL ? out : data, out != NULL ? out_len : 0,
                     1, limits, err);
    if (st != SP_OK)
        return st;
    r = f->n_records ? f->records[0].result : NULL;
    if (codec == SP_CODEC_ZF)
        set_text(f->format, sizeof(f->format), "joblib-zlib-legacyZF"); /* joblib's own format */
    else if ((r != NULL && (r->mode & SP_MODE_JOBLIB)) || joblib_by_mark(r, out, out_len))
        snprintf(f->format, sizeof(f->format), "joblib-%s", sp_codec_name(codec));
    else
        snprintf(f->format, sizeof(f->format), "%s-compressed pickle", sp_codec_name(codec));
    return SP_OK;
}

/* torch's legacy loader runs five pickles (magic number, protocol, system
 * info, the object, the storage keys) and reads raw storage bytes after
 * them: those bytes are data, never a pickle. */
static void trim_legacy(sp_result *r)
{
    if (r == NULL || r->n_streams <= 5)
        return;
    r->n_streams = 5;
    r->trailing_offset = r->streams[4].end;
    r->trailing_len = r->input_len - r->trailing_offset;
}

/* An archive read as a pickle, as pickle.load reads any file: kept as a
 * record when that reading resolves a global or calls more than the
 * archive's own header does when read as opcodes (own_calls). A tar's
 * first block is the first member's name, which the writer chooses. A
 * zip starts with PERSID ("PK\x03\x04..."): an unpickler with a
 * persistent_load goes on past the end of that line, into a member name
 * the writer chose, while torch.load and zipfile read the archive. */
static sp_status scan_archive_as_pickle(sp_file *f, const uint8_t *data, size_t len,
                                        uint32_t own_calls, const sp_limits *limits, sp_error *err)
{
    sp_result *r = NULL;
    sp_status st = sp_scan_pickle_once(data, len, limits, &r, err);
    sp_record *rec;

    if (st != SP_OK)
        return st;
    if (r->n_streams == 0 || (r->streams[0].n_globals == 0 && r->streams[0].n_calls <= own_calls)) {
        sp_result_free(r);
        return SP_OK;
    }
    rec = add_record(f, "<file read as a pickle>", 23);
    if (rec == NULL) {
        sp_result_free(r);
        return SP_OK;
    }
    rec->result = r;
    return SP_OK;
}

/* Reads data into f by its format; the switch every file and every nested
 * container goes through. */
static sp_status scan_into(sp_file *f, const uint8_t *data, size_t len, const sp_limits *limits,
                           sp_error *err)
{
    sp_status st = SP_OK;
    sp_format fmt;
    int codec;

    fmt = sp_detect_format(data, len);
    codec = sp_detect_codec(data, len);
    if (fmt != SP_FMT_RAW_PICKLE || codec != SP_CODEC_NONE)
        /* holes are for the payloads of a pickle read as a pickle: the
         * readers of containers and codecs do not account for them */
        sp_holes_touch(limits->holes);
    switch (fmt) {
    case SP_FMT_ZIP:
        st = scan_zip(f, data, len, limits, err);
        if (st == SP_OK)
            st = scan_archive_as_pickle(f, data, len, 1, limits, err);
        break;
    case SP_FMT_NPY:
        set_text(f->format, sizeof(f->format), "npy");
        st = scan_npy(f, "<array>", 7, data, len, 1, limits, err);
        if (st == SP_OK && f->n_records)
            set_text(f->format, sizeof(f->format), "npy(object)");
        else if (st == SP_OK && f->error[0] == '\0')
            f->no_pickle = 1;
        break;
    case SP_FMT_TAR:
        st = scan_tar(f, data, len, limits, err);
        if (st == SP_OK)
            st = scan_archive_as_pickle(f, data, len, 0, limits, err);
        break;
    case SP_FMT_GZIP:
    case SP_FMT_BZ2:
    case SP_FMT_XZ:
    case SP_FMT_LZMA:
    case SP_FMT_ZSTD:
    case SP_FMT_LZ4:
    case SP_FMT_JOBLIB_ZF:
        if (codec != SP_CODEC_NONE) {
            st = scan_compressed(f, codec, data, len, limits, err);
            break;
        }
        set_text(f->format, sizeof(f->format), sp_format_name(fmt));
        set_text(f->error, sizeof(f->error), "compressed data no loader reads");
        break;
    default:
        /* joblib takes a leading 0x78 for zlib before it tries a pickle */
        if (fmt == SP_FMT_UNKNOWN && codec == SP_CODEC_ZLIB) {
            st = scan_compressed(f, codec, data, len, limits, err);
            break;
        }
        sp_progress_begin(limits->progress, data, data);
        st = scan_record(f, "<file>", 6, data, len, 1, limits, err);
        if (st == SP_OK) {
            const sp_result *r = f->n_records ? f->records[0].result : NULL;

            if (len >= sizeof(torch_legacy_magic) &&
                memcmp(data, torch_legacy_magic, sizeof(torch_legacy_magic)) == 0) {
                set_text(f->format, sizeof(f->format), "torch-legacy");
                trim_legacy(f->records[0].result);
            } else if ((r != NULL && (r->mode & SP_MODE_JOBLIB)) || joblib_by_mark(r, data, len))
                set_text(f->format, sizeof(f->format), "joblib-raw");
            else
                set_text(f->format, sizeof(f->format), sp_format_name(fmt));
        }
        break;
    }
    return st;
}

sp_status sp_scan_file(const uint8_t *data, size_t len, const sp_limits *limits, sp_file **out,
                       sp_error *err)
{
    sp_file *f;
    sp_status st;

    *out = NULL;
    if (data == NULL && len != 0) {
        sp_error_set(err, SP_ERR_ARG, "no data");
        return SP_ERR_ARG;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        sp_error_set(err, SP_ERR_NOMEM, "out of memory");
        return SP_ERR_NOMEM;
    }
    st = scan_into(f, data, len, limits, err);
    if (st != SP_OK) {
        sp_file_free(f);
        return st;
    }
    *out = f;
    return SP_OK;
}

void sp_file_free(sp_file *f)
{
    if (f == NULL)
        return;
    for (uint32_t i = 0; i < f->n_records; i++)
        sp_result_free(f->records[i].result);
    free(f->records);
    free(f->anomalies);
    for (uint32_t i = 0; i < f->n_owned; i++)
        sp_decompress_free(f->owned[i]);
    free(f->owned);
    if (f->zip != NULL) {
        sp_zip_close(f->zip);
        free(f->zip);
    }
    for (uint32_t i = 0; i < f->n_children; i++)
        sp_file_free(f->children[i]);
    free(f->children);
    free(f);
}

const sp_result *sp_file_primary(const sp_file *f)
{
    for (uint32_t i = 0; i < f->n_records; i++)
        if (f->records[i].primary)
            return f->records[i].result;
    return NULL;
}

/* Container findings a benign writer never produces and that make loaders
 * disagree about which bytes run. Compressed npz members and object arrays
 * are ordinary. */
static int is_ambiguity(const sp_file *f, int code)
{
    int torch = strncmp(f->format, "torch-zip", 9) == 0;

    switch (code) {
    case SP_CA_ZIP_COMPRESSED_RECORD:
    case SP_CA_NPY_OBJECT:
        return 0;
    case SP_CA_ZIP_FLAG_BITS:
    case SP_CA_ZIP_PREFIX_MISMATCH:
    case SP_CA_ZIP_CASE_COLLISION:
    case SP_CA_ZIP_ENCRYPTED:
        return torch; /* rules of torch's reader; zipfile does not care */
    default:
        return 1;
    }
}

/* A cap stopped the reading: what was not read may run. */
static int stopped_reading(int code)
{
    return code == SP_CA_NESTING || code == SP_CA_DECOMPRESS_SIZE || code == SP_CA_DECOMPRESS_RATIO;
}

static void add_reason(sp_verdict *out, const char *prefix, const char *text)
{
    if (out->n_reasons >= SP_MAX_REASONS)
        return;
    int room, plen = (int)strlen(prefix);

    if (plen > 80)
        plen = 80;
    room = SP_REASON_MAX - 1 - plen;
    snprintf(out->reasons[out->n_reasons++], SP_REASON_MAX, "%.*s%.*s", plen, prefix, room, text);
}

void sp_file_verdict(const sp_file *f, sp_verdict *out)
{
    int unsafe = 0, error = 0;
    char prefix[SP_RECORD_NAME_MAX + 16];

    sp_verdict_clear(out);
    for (uint32_t i = 0; i < f->n_records; i++) {
        const sp_record *r = &f->records[i];
        sp_verdict v;

        snprintf(prefix, sizeof(prefix), "%s: ", r->name);
        if (r->result == NULL) {
            if (r->error[0]) {
                error = 1;
                add_reason(out, prefix, r->error);
            }
            continue;
        }
        sp_verdict_decide(r->result, &v);
        if (v.kind == SP_VERDICT_UNSAFE) {
            unsafe = 1;
            for (int k = 0; k < v.n_reasons; k++)
                add_reason(out, f->n_records > 1 || !r->primary ? prefix : "", v.reasons[k]);
        } else if (v.kind == SP_VERDICT_ERROR && (r->primary || f->n_records == 1)) {
            error = 1;
            for (int k = 0; k < v.n_reasons; k++)
                add_reason(out, f->n_records > 1 ? prefix : "", v.reasons[k]);
        }
    }
    for (uint32_t i = 0; i < f->n_anomalies; i++) {
        if (stopped_reading(f->anomalies[i].code)) {
            unsafe = 1;
            add_reason(out,
                       "scan incomplete: ", sp_container_anomaly_description(f->anomalies[i].code));
        }
    }
    if (f->n_records > 0 || strncmp(f->format, "torch-", 6) == 0) {
        for (uint32_t i = 0; i < f->n_anomalies; i++) {
            int code = f->anomalies[i].code;

            if (!stopped_reading(code) && is_ambiguity(f, code)) {
                unsafe = 1;
                add_reason(out, "container: ", sp_container_anomaly_description(code));
            }
        }
    }
    if (f->error[0]) {
        error = 1;
        add_reason(out, "the loader refuses the file: ", f->error);
    }
    if (f->torchscript) {
        /* its code runs when loaded and is not analysed: never a pass */
        error = 1;
        add_reason(out, "",
                   "TorchScript archive: torch.load hands it to torch.jit.load, which compiles "
                   "and runs its code records (listed, not analysed)");
    }
    if (unsafe) {
        out->kind = SP_VERDICT_UNSAFE;
        out->decided_by = SP_DECIDED_RULES;
    } else if (error) {
        out->kind = SP_VERDICT_ERROR;
    } else {
        out->kind = SP_VERDICT_BENIGN;
        out->n_reasons = 0;
        if (f->no_pickle)
            add_reason(out, "", "no pickle inside: nothing in the file runs code when loaded");
    }
}
