#define _GNU_SOURCE /* memmem */
/* From file bytes to the pickles the loader runs (see sp_file.h). */
#include "sp_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_decompress.h"
#include "sp_format.h"
#include "sp_npy.h"
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
    size_t n = len < 65536 ? len : 65536;

    if (data == NULL || n < sizeof(mark) - 1)
        return 0;
    for (size_t i = 0; i + sizeof(mark) - 1 <= n; i++)
        if (data[i] == 'j' && memcmp(data + i, mark, sizeof(mark) - 1) == 0)
            return 1;
    return 0;
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
        snprintf(f->format, sizeof(f->format), "tar.%s", sp_codec_name(codec));
        set_text(f->error, sizeof(f->error), "tar archives are not read yet");
        return SP_OK;
    }
    /* a loader reading a cut or corrupt stream runs the prefix it got */
    st = scan_record(f, "<decompressed>", 14, out != NULL ? out : data, out != NULL ? out_len : 0,
                     1, limits, err);
    if (st != SP_OK)
        return st;
    r = f->n_records ? f->records[0].result : NULL;
    if (codec == SP_CODEC_ZF)
        set_text(f->format, sizeof(f->format), "joblib-zlib-legacyZF"); /* joblib's own format */
    else if ((r != NULL && (r->mode & SP_MODE_JOBLIB)) || written_by_joblib(out, out_len))
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

sp_status sp_scan_file(const uint8_t *data, size_t len, const sp_limits *limits, sp_file **out,
                       sp_error *err)
{
    sp_file *f;
    sp_status st = SP_OK;
    sp_format fmt;
    int codec;

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
    fmt = sp_detect_format(data, len);
    codec = sp_detect_codec(data, len);
    switch (fmt) {
    case SP_FMT_ZIP:
        st = scan_zip(f, data, len, limits, err);
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
        set_text(f->format, sizeof(f->format), "tar");
        set_text(f->error, sizeof(f->error), "tar archives are not read yet");
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
        st = scan_record(f, "<file>", 6, data, len, 1, limits, err);
        if (st == SP_OK) {
            const sp_result *r = f->n_records ? f->records[0].result : NULL;

            if (len >= sizeof(torch_legacy_magic) &&
                memcmp(data, torch_legacy_magic, sizeof(torch_legacy_magic)) == 0) {
                set_text(f->format, sizeof(f->format), "torch-legacy");
                trim_legacy(f->records[0].result);
            } else if ((r != NULL && (r->mode & SP_MODE_JOBLIB)) || written_by_joblib(data, len))
                set_text(f->format, sizeof(f->format), "joblib-raw");
            else
                set_text(f->format, sizeof(f->format), sp_format_name(fmt));
        }
        break;
    }
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

    memset(out, 0, sizeof(*out));
    out->score = -1;
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
    if (f->n_records > 0 || strncmp(f->format, "torch-zip", 9) == 0) {
        for (uint32_t i = 0; i < f->n_anomalies; i++) {
            if (is_ambiguity(f, f->anomalies[i].code)) {
                unsafe = 1;
                add_reason(out,
                           "container: ", sp_container_anomaly_description(f->anomalies[i].code));
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
    } else if (error) {
        out->kind = SP_VERDICT_ERROR;
    } else {
        out->kind = SP_VERDICT_BENIGN;
        out->n_reasons = 0;
        if (f->no_pickle)
            add_reason(out, "", "no pickle inside: nothing in the file runs code when loaded");
    }
}
