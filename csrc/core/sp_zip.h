/* The zip structure of a torch.save file, as torch.load reads it.
 *
 * torch.load does not use a general zip library's view of an archive: it
 * takes the zip path only when the first four bytes are a local header
 * signature, and then its own reader (miniz inside PyTorchStreamReader)
 * trusts the last end-of-central-directory record it finds, takes every
 * offset as absolute, resolves names without regard to ASCII case by a
 * binary search over a heap-sorted directory (so which of two equal names
 * wins depends on the sort, not on "first" or "last"), ignores CRCs and
 * local header names, and inflates deflated records into a buffer of the
 * size the central directory claims. This reader parses the directory
 * itself so that it can answer with those rules and also report everything
 * a benign writer never produces.
 *
 * The archive stays in the caller's buffer: names and stored records point
 * into it, so it must outlive the sp_zip. Nothing here recurses, and every
 * offset is checked against the buffer length. */
#ifndef SP_ZIP_H
#define SP_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "sp_arena.h"
#include "sp_container.h"
#include "sp_status.h"

typedef struct sp_zip_limits {
    uint32_t max_entries;       /* central directory entries read */
    uint64_t max_record;        /* bytes one deflated record may inflate to */
    uint64_t max_inflated;      /* bytes all inflated records of one sp_zip may take */
    uint32_t max_ratio;         /* uncompressed / compressed above this is an anomaly */
    uint32_t max_anomaly_items; /* anomaly details kept (the mask is always complete) */
    uint64_t max_crc_bytes;     /* stored bytes whose CRC sp_zip_open checks */
} sp_zip_limits;

void sp_zip_limits_default(sp_zip_limits *limits);

typedef struct sp_zip_entry {
    /* Central directory name: the one every lookup uses. */
    const uint8_t *name;
    uint32_t name_len;
    /* Local header name, NULL when there is no usable local header. */
    const uint8_t *local_name;
    uint32_t local_name_len;
    uint64_t central_offset;
    /* Sizes and offset after the zip64 extra field, as the reader takes
     * them when it reads the record. */
    uint64_t local_offset;
    uint64_t data_offset; /* from the local header's lengths; 0 without one */
    uint64_t comp_size;
    uint64_t uncomp_size;
    uint32_t crc;
    uint32_t external_attr;
    uint16_t flags;
    uint16_t local_flags;
    uint16_t method;
    uint16_t dos_time;
    uint8_t has_local; /* local header signature present inside the buffer */
    /* Why torch's reader fails on this record before reading any of its
     * bytes (bad zip64 field, method, encryption), or NULL. */
    const char *stat_error;
    /* Inflated bytes of a deflated record once read. */
    const uint8_t *inflated;
    uint64_t inflated_len;
    sp_status inflate_status;
    uint8_t inflate_done;
    uint8_t crc_checked; /* a mismatch is already reported */
} sp_zip_entry;

typedef struct sp_zip_anomaly {
    int code;      /* sp_container_anomaly */
    int64_t entry; /* central directory index, or -1 */
    uint64_t offset;
} sp_zip_anomaly;

typedef struct sp_zip {
    const uint8_t *data;
    size_t len;
    sp_zip_limits limits;
    sp_arena arena;
    /* The first four bytes are a local header: torch.load takes the zip
     * path. Otherwise it runs its legacy loader from offset 0. */
    int torch_magic;
    /* torch's reader opens the archive (sp_zip_open returned SP_OK). */
    int readable;
    int zip64;
    uint64_t eocd_offset;
    uint64_t comment_len;
    uint64_t cd_offset;
    uint64_t cd_size;
    /* End-of-central-directory records that point at a central directory. */
    uint32_t eocd_count;
    uint32_t n_entries;
    sp_zip_entry *entries; /* central directory order */
    uint32_t *lookup;      /* entry indices in the order the name search uses */
    /* Archive prefix: the first entry's name up to its first '/'. */
    const uint8_t *prefix;
    size_t prefix_len;
    int has_prefix;
    /* Set by sp_zip_torch_pickle when torch.load would hand the file to
     * torch.jit.load instead. */
    int torchscript;
    uint32_t anomaly_mask; /* bit (1u << code) per sp_container_anomaly seen */
    sp_zip_anomaly *anomalies;
    uint32_t n_anomalies;
    uint32_t anomalies_cap;
    uint32_t anomalies_dropped;
    uint64_t inflated_total;
} sp_zip;

/* Reads the central directory as torch's reader does. SP_OK when that
 * reader accepts it; SP_ERR_FORMAT (err says why) when it refuses, in which
 * case out still describes what was found and must be closed; SP_ERR_LIMIT
 * or SP_ERR_NOMEM when a cap is hit. limits may be NULL for the defaults. */
sp_status sp_zip_open(const uint8_t *data, size_t len, sp_zip *out, sp_error *err);
sp_status sp_zip_open_ex(const uint8_t *data, size_t len, const sp_zip_limits *limits, sp_zip *out,
                         sp_error *err);
void sp_zip_close(sp_zip *z);

/* Index of the entry torch's name lookup returns for this full name
 * (prefix included), or -1. */
int sp_zip_find(const sp_zip *z, const char *name, size_t len);

/* The bytes torch's reader returns for entry idx. SP_OK: *data points into
 * the archive (stored) or into z (inflated). SP_ERR_FORMAT: torch raises
 * instead, or hands the unpickler memory it never wrote (err says which).
 * SP_ERR_LIMIT: inflating would pass a cap. A deflated stream that is
 * corrupt or longer than announced still gives SP_OK: torch does not notice
 * and runs the bytes it inflated, which is what *data holds. */
sp_status sp_zip_record(sp_zip *z, uint32_t idx, const uint8_t **data, uint64_t *len,
                        sp_error *err);

/* torch's getRecord(record): "<prefix>/<record>" looked up and read. */
sp_status sp_zip_torch_record(sp_zip *z, const char *record, const uint8_t **data, uint64_t *len,
                              sp_error *err);

/* What torch.load does with the file on its zip path, step by step: the
 * records it reads and checks before the pickle, then "data.pkl". SP_OK:
 * *data is the pickle it runs. SP_ERR_FORMAT: it raises before running any
 * pickle from the archive, or (z->torchscript) hands the file to
 * torch.jit.load; not called for files without the zip magic, which take
 * the legacy path. */
sp_status sp_zip_torch_pickle(sp_zip *z, const uint8_t **data, uint64_t *len, sp_error *err);

int sp_zip_has_anomaly(const sp_zip *z, int code);

#endif
