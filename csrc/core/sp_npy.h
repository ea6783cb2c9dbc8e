/* The header of an .npy file, read with numpy.lib.format's rules.
 *
 * numpy reads "\x93NUMPY", a version byte pair ((1,0), (2,0) or (3,0)), a
 * little-endian header length (2 bytes for 1.0, 4 otherwise) and that many
 * bytes of header text (latin1, utf8 for 3.0). The text goes through
 * ast.literal_eval and must be a dict whose keys are exactly descr,
 * fortran_order and shape. When the dtype holds an object anywhere
 * (dtype.hasobject: object fields, subarrays of objects, StringDType),
 * np.load(allow_pickle=True) runs pickle.load on the bytes after the
 * header. The parser here is a bounded Python literal reader (strings with
 * every prefix and escape, numbers, True/False/None, tuples, lists, sets,
 * dicts, comments, implicit string concatenation), with no recursion deeper
 * than the nesting cap. */
#ifndef SP_NPY_H
#define SP_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "sp_status.h"

#define SP_NPY_MAGIC_LEN 8
/* Header text beyond this is not parsed (numpy's own default cap is
 * 10000 characters, lifted by allow_pickle=True). */
#define SP_NPY_MAX_HEADER ((size_t)16 << 20)
/* Python's tokenizer refuses more nested brackets than this. */
#define SP_NPY_MAX_DEPTH 200
#define SP_NPY_MAX_DIMS 64
/* numpy's max_header_size default for np.load without allow_pickle. */
#define SP_NPY_NUMPY_MAX_HEADER 10000

typedef struct sp_npy_header {
    int major, minor;     /* -1 when the magic is missing */
    uint64_t header_len;  /* declared length of the header text, bytes */
    uint64_t data_offset; /* where the array data (or the pickle) starts */
    /* numpy would unpickle what follows the header (allow_pickle=True). */
    int has_object;
    /* 0 when a dtype string was not recognised and has_object is 1 only
     * because it could not be ruled out. */
    int object_certain;
    /* has_object and every shape entry fits numpy's int64 count, so
     * np.load reaches pickle.load (it fails first otherwise). */
    int pickle_runs;
    int fortran_order; /* -1 when the header was rejected */
    int shape_known;
    size_t ndim;
    int64_t shape[SP_NPY_MAX_DIMS]; /* the first SP_NPY_MAX_DIMS entries */
    int count_known;                /* every entry fits and is >= 0 */
    uint64_t count;                 /* saturates at UINT64_MAX */
    int itemsize_known;             /* a plain, non-object dtype string */
    uint64_t itemsize;
    int header_chars_over_default; /* np.load without allow_pickle refuses */
    int py2_long_suffix;           /* needed numpy's Python 2 'L' filter */
    char descr[64];                /* descr when it is a string, else "" */
    uint32_t anomalies;            /* bits 1u << SP_CA_NPY_* */
} sp_npy_header;

/* SP_OK: numpy accepts the header; out is filled. SP_ERR_FORMAT: numpy
 * rejects it (SP_CA_NPY_BAD_HEADER set, reason in err); the fields known
 * so far (version, lengths) are still filled. SP_ERR_LIMIT: the header is
 * larger than SP_NPY_MAX_HEADER or nested deeper than SP_NPY_MAX_DEPTH;
 * has_object is then set conservatively. SP_ERR_NOMEM, SP_ERR_ARG. */
sp_status sp_npy_parse(const uint8_t *data, size_t len, sp_npy_header *out, sp_error *err);

#endif
