/* Whole-buffer decompression of the formats joblib writes and reads.
 *
 * The output is the byte stream the loader's unpickler reads, decoded with
 * the rules of the reader that loader uses, so that a scan of the output
 * sees what the loader would run:
 *
 *   zlib     joblib's BinaryZlibFile: one zlib stream (wbits 15).
 *   gzip     joblib's BinaryGzipFile: one gzip member through zlib
 *            (wbits 31), which rejects reserved header flags and checks
 *            the header CRC, the data CRC and the length.
 *   gzip-stdlib  Python's gzip module (gzip.open, GzipFile): members back
 *            to back, NUL padding between and after them skipped, CRC and
 *            length of each member checked; reserved flags and the header
 *            CRC ignored.
 *   bz2      bz2.BZ2File: streams back to back.
 *   xz, lzma lzma.LZMAFile with FORMAT_AUTO, which joblib uses for both:
 *            each stream may be .xz or lzma-alone, whatever the first one
 *            was.
 *   lz4      lz4.frame.LZ4FrameFile: frames back to back.
 *   zstd     frames back to back, as a DecompressReader-based zstd file
 *            reads them.
 *   zf       joblib < 0.10 "ZF" files: "ZF", the uncompressed length as
 *            hexadecimal text padded to 19 bytes (read with Python's
 *            int(text, 16)), an optional space, then one zlib stream.
 *
 * Readers built on Python's DecompressReader (bz2, xz/lzma, zstd) ignore
 * bytes after a complete stream when a new decoder fails on the first block
 * it is given, and fail when it fails later or the stream is cut short;
 * that is mirrored with the block boundaries at multiples of 8192 bytes of
 * the input, as a reader of a file sees them. joblib's zlib and gzip
 * readers cannot get past any byte after their one stream (they spin until
 * memory runs out), so such bytes are never decoded.
 *
 * Results: on every return *out is NULL or a malloc'd buffer of *out_len
 * bytes that the caller frees with sp_decompress_free(), whatever the
 * status. *anomalies gets bits (1u << SP_CA_DECOMPRESS_*):
 *
 *   SP_OK           the whole stream decoded; DECOMPRESS_TRAILING may be set.
 *   SP_ERR_FORMAT   the stream is corrupt or truncated (DECOMPRESS_ERROR):
 *                   *out holds what decoded before the fault, which a
 *                   streaming loader has already handed to its unpickler.
 *                   For zf the loader runs nothing then (it decompresses
 *                   all at once), but the prefix is still returned.
 *   SP_ERR_LIMIT    the output reached a cap (DECOMPRESS_SIZE or
 *                   DECOMPRESS_RATIO): *out holds the first cap bytes.
 *   SP_ERR_ARG, SP_ERR_NOMEM  nothing useful in *out (NULL).
 *
 * Memory never exceeds the effective output cap plus the decoder state.
 */
#ifndef SP_DECOMPRESS_H
#define SP_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "sp_status.h"

typedef enum sp_codec {
    SP_CODEC_NONE = 0,
    SP_CODEC_ZLIB,
    SP_CODEC_GZIP,
    SP_CODEC_GZIP_STDLIB,
    SP_CODEC_BZ2,
    SP_CODEC_XZ,
    SP_CODEC_LZMA,
    SP_CODEC_LZ4,
    SP_CODEC_ZSTD,
    SP_CODEC_ZF,
    SP_CODEC_COUNT
} sp_codec;

/* A model file of several GiB decompressed is plausible; more than this
 * is not scanned (the output is held in memory). */
#define SP_DECOMPRESS_DEFAULT_MAX_OUT ((uint64_t)4 << 30)
/* deflate cannot exceed about 1032:1, so a benign zlib or gzip file never
 * trips this; bz2, xz and zstd reach millions to one only on degenerate
 * data such as a bomb. */
#define SP_DECOMPRESS_DEFAULT_MAX_RATIO 1000u
/* Below this output size the ratio is not checked: a tiny file of zeros
 * compresses far beyond any ratio and is harmless. */
#define SP_DECOMPRESS_DEFAULT_RATIO_FLOOR ((uint64_t)64 << 20)
/* liblzma allocates the dictionary a header declares (up to 4 GiB). */
#define SP_DECOMPRESS_DEFAULT_MAX_DECODER_MEM ((uint64_t)1 << 30)

typedef struct sp_decompress_caps {
    uint64_t max_out;         /* 0: SP_DECOMPRESS_DEFAULT_MAX_OUT */
    uint32_t max_ratio;       /* output / input; 0: the default */
    uint64_t ratio_floor;     /* 0: the default */
    uint64_t max_decoder_mem; /* lzma decoder memory; 0: the default */
} sp_decompress_caps;

/* caps may be NULL for all defaults. */
sp_status sp_decompress(int codec, const uint8_t *in, size_t in_len, const sp_decompress_caps *caps,
                        uint8_t **out, size_t *out_len, uint32_t *anomalies, sp_error *err);

void sp_decompress_free(uint8_t *out);

/* The codec joblib's loader picks for these first bytes, in joblib's own
 * order (ZF, zlib, gzip, bz2, lzma, xz, lz4), then zstd; SP_CODEC_NONE
 * when joblib would read the file as an uncompressed pickle. Note that
 * joblib tests only the first byte 0x78 for zlib. */
int sp_detect_codec(const uint8_t *data, size_t len);

/* "zlib", "gzip", "gzip-stdlib", "bz2", "xz", "lzma", "lz4", "zstd", "zf";
 * "none" for SP_CODEC_NONE; NULL when out of range. */
const char *sp_codec_name(int codec);
/* The inverse of sp_codec_name; -1 when unknown. */
int sp_codec_from_name(const char *name);

#endif
