/* What kind of file a buffer holds, judged from its first bytes.
 *
 * Raw pickles go to the pickle machine; containers are named so that the
 * report says what the file is even before a container reader exists. */
#ifndef SP_FORMAT_H
#define SP_FORMAT_H

#include <stddef.h>
#include <stdint.h>

typedef enum sp_format {
    SP_FMT_EMPTY = 0,
    SP_FMT_RAW_PICKLE, /* starts with an opcode a pickle can start with */
    SP_FMT_ZIP,        /* PK\x03\x04 (torch zip, npz, plain zip) */
    SP_FMT_NPY,        /* \x93NUMPY */
    SP_FMT_JOBLIB_ZF,  /* joblib's legacy ZF header */
    SP_FMT_GZIP,
    SP_FMT_BZ2,
    SP_FMT_XZ,
    SP_FMT_LZMA, /* lzma-alone header */
    SP_FMT_ZSTD,
    SP_FMT_LZ4,
    SP_FMT_TAR,
    SP_FMT_UNKNOWN,
    SP_FMT_COUNT
} sp_format;

sp_format sp_detect_format(const uint8_t *data, size_t len);
/* "raw-pickle", "zip", "npy", ... as the report spells it. */
const char *sp_format_name(sp_format fmt);

#endif
