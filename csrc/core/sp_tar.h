/* The tar layout of a legacy torch.save file, as torch.load reads it.
 *
 * torch.load tries tarfile.open(mode "r:") on any file without the zip
 * magic, then asks for the members "storages", "tensors" and "pickle" by
 * name. Asking for one name makes tarfile list the whole archive first, so
 * every header decides between three outcomes: the archive is read, tarfile
 * raises TarError (torch then drops the tar and reads the file from offset
 * 0 as its older pickle stream), or something this reader does not model.
 * tarfile's rules are followed exactly: both checksum sums are accepted,
 * a bad header after the first one silently ends the listing, one zero
 * block ends it too, a bad header that follows a GNU long name or pax
 * header raises, pax records are parsed over the whole padded block, the
 * outermost of nested long name / pax headers wins, and a name lookup
 * returns the last member with that name.
 *
 * The archive stays in the caller's buffer: names and member data point
 * into it. Nothing here recurses, and every offset is checked against the
 * buffer length. */
#ifndef SP_TAR_H
#define SP_TAR_H

#include <stddef.h>
#include <stdint.h>

#include "sp_arena.h"
#include "sp_status.h"

#define SP_TAR_MAX_MEMBERS (1u << 20)

typedef enum sp_tar_outcome {
    SP_TAR_READ = 0,   /* tarfile lists the archive */
    SP_TAR_TARERROR,   /* tarfile raises TarError: torch falls back */
    SP_TAR_UNMODELLED, /* a feature whose effect is not modelled here */
    SP_TAR_LIMIT       /* more members than SP_TAR_MAX_MEMBERS */
} sp_tar_outcome;

typedef struct sp_tar_entry {
    /* tarfile's member name is prefix + "/" + name when prefix_len > 0,
     * else name; both point into the archive. */
    const uint8_t *prefix;
    size_t prefix_len;
    const uint8_t *name;
    size_t name_len;
    const uint8_t *linkname;
    size_t linkname_len;
    uint64_t header_offset; /* first header of the member, long name or pax included */
    uint64_t data_offset;
    int64_t size; /* after pax overrides; may be negative (base-256 or signed octal) */
    uint8_t type; /* type byte of the member's own header */
} sp_tar_entry;

typedef struct sp_tar {
    const uint8_t *data;
    size_t len;
    sp_arena arena;
    sp_tar_outcome outcome;
    uint32_t n_entries;
    uint32_t entries_cap;
    sp_tar_entry *entries; /* archive order, as tarfile lists them */
    /* Offset where tarfile stopped listing: a zero block, a bad header after
     * the first, or the end of the buffer. */
    uint64_t end_offset;
} sp_tar;

/* Lists the archive as tarfile does in mode "r:". SP_OK when the listing
 * completes; SP_ERR_FORMAT when it does not (out->outcome says whether
 * tarfile raises TarError or the archive uses something not modelled,
 * err says what); SP_ERR_LIMIT or SP_ERR_NOMEM when a cap is hit. out must
 * be closed in every case. */
sp_status sp_tar_open(const uint8_t *data, size_t len, sp_tar *out, sp_error *err);
void sp_tar_close(sp_tar *t);

/* Index of the member tarfile's getmember(name) returns (trailing slashes
 * of name ignored, the last member of that name wins), or -1. */
int sp_tar_find(const sp_tar *t, const char *name);

/* The bytes extractfile/extract read for member idx. SP_ERR_FORMAT when
 * the member has no data of its own (directory, link, device), a negative
 * size, or data past the end of the buffer (tarfile raises ReadError
 * mid-copy); SP_ERR_ARG for a bad index. */
sp_status sp_tar_member(const sp_tar *t, int idx, const uint8_t **data, uint64_t *len);

#endif
