#include "sp_format.h"

#include <string.h>

static int has_prefix(const uint8_t *data, size_t len, const char *magic, size_t n)
{
    return len >= n && memcmp(data, magic, n) == 0;
}

/* The lzma-alone header has no magic: a properties byte, a little-endian
 * dictionary size and an 8-byte uncompressed size. Encoders only write the
 * default properties (0x5d) with dictionary sizes of 2^n or 3 * 2^n, so
 * demanding that keeps ']' + NULs (a broken pickle) out. */
static int looks_like_lzma_alone(const uint8_t *data, size_t len)
{
    if (len < 13 || data[0] != 0x5d)
        return 0;
    uint32_t dict = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
                    (uint32_t)data[4] << 24;
    if (dict == 0xffffffffu)
        return 1;
    if (dict < 4096)
        return 0;
    uint32_t odd = dict;
    while (!(odd & 1))
        odd >>= 1;
    if (odd != 1 && odd != 3)
        return 0;
    /* Unknown size is all ones; a known size beyond 2^48 is not plausible. */
    int all_ones = 1;
    for (int i = 5; i < 13; i++)
        all_ones &= data[i] == 0xff;
    return all_ones || (data[11] == 0 && data[12] == 0);
}

/* Opcodes a protocol 0/1 pickle (no PROTO header) can begin with: those
 * that push something or open a MARK. Others need a stack or a memo the
 * loader does not have yet, so a file starting with them is not a pickle. */
static int is_pickle_start(uint8_t byte)
{
    switch (byte) {
    case '(':
    case 'c':
    case ']':
    case '}':
    case ')':
    case 'N':
    case 'I':
    case 'J':
    case 'K':
    case 'M':
    case 'L':
    case 'F':
    case 'G':
    case 'S':
    case 'T':
    case 'U':
    case 'V':
    case 'X':
    case 'P':
        return 1;
    default:
        return 0;
    }
}

sp_format sp_detect_format(const uint8_t *data, size_t len)
{
    if (len == 0)
        return SP_FMT_EMPTY;
    /* Containers first: their magics start with bytes that are also pickle
     * opcodes ('P' of PK is PERSID, 'B' of BZh is BINBYTES). */
    if (has_prefix(data, len, "PK\x03\x04", 4))
        return SP_FMT_ZIP;
    if (has_prefix(data, len, "\x93NUMPY", 6))
        return SP_FMT_NPY;
    /* joblib's numpy_pickle_compat writes "ZF" then the hex length. */
    if (has_prefix(data, len, "ZF0x", 4))
        return SP_FMT_JOBLIB_ZF;
    if (has_prefix(data, len, "\x1f\x8b", 2))
        return SP_FMT_GZIP;
    if (has_prefix(data, len, "BZh", 3) && len >= 4 && data[3] >= '1' && data[3] <= '9')
        return SP_FMT_BZ2;
    static const char xz_magic[6] = {'\xfd', '7', 'z', 'X', 'Z', '\0'};
    if (has_prefix(data, len, xz_magic, 6))
        return SP_FMT_XZ;
    if (has_prefix(data, len, "\x28\xb5\x2f\xfd", 4))
        return SP_FMT_ZSTD;
    if (has_prefix(data, len, "\x04\x22\x4d\x18", 4))
        return SP_FMT_LZ4;
    if (len >= 262 && memcmp(data + 257, "ustar", 5) == 0)
        return SP_FMT_TAR;
    if (looks_like_lzma_alone(data, len))
        return SP_FMT_LZMA;
    if (data[0] == 0x80)
        return len >= 2 && data[1] <= 5 ? SP_FMT_RAW_PICKLE : SP_FMT_UNKNOWN;
    if (is_pickle_start(data[0]))
        return SP_FMT_RAW_PICKLE;
    return SP_FMT_UNKNOWN;
}

const char *sp_format_name(sp_format fmt)
{
    static const char *const names[SP_FMT_COUNT] = {
        [SP_FMT_EMPTY] = "empty",
        [SP_FMT_RAW_PICKLE] = "raw-pickle",
        [SP_FMT_ZIP] = "zip",
        [SP_FMT_NPY] = "npy",
        [SP_FMT_JOBLIB_ZF] = "joblib-zf",
        [SP_FMT_GZIP] = "gzip",
        [SP_FMT_BZ2] = "bz2",
        [SP_FMT_XZ] = "xz",
        [SP_FMT_LZMA] = "lzma",
        [SP_FMT_ZSTD] = "zstd",
        [SP_FMT_LZ4] = "lz4",
        [SP_FMT_TAR] = "tar",
        [SP_FMT_UNKNOWN] = "unknown",
    };
    if ((unsigned)fmt >= SP_FMT_COUNT)
        return "unknown";
    return names[fmt];
}
