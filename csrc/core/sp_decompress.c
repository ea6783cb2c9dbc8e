/* Whole-buffer decompression with the stream rules of joblib's readers.
 *
 * Every codec goes through one driver: a decoder step function turns some
 * input into some output, and the driver owns the output buffer, the caps,
 * stream boundaries and the decision between "trailing bytes" and "corrupt
 * stream". See sp_decompress.h for which reader each codec mirrors. */
#include "sp_decompress.h"

#include "sp_text.h"

#include <stdlib.h>
#include <string.h>

#include <bzlib.h>
#include <lz4frame.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "sp_container.h"

#define BIT(code) (1u << (code))

/* Python's readers read the underlying file in blocks of this size; where
 * the first block of a following stream ends decides whether a bad
 * following stream is ignored or raises. */
#define READ_BLOCK 8192u
/* zlib and bzip2 count input and output in unsigned int. */
#define STEP_MAX ((size_t)1 << 30)
#define FIRST_ALLOC ((size_t)64 << 10)

enum { STEP_OK, STEP_END, STEP_ERR, STEP_NOMEM, STEP_MEMLIMIT };

typedef struct decoder {
    int codec;
    int live;
    union {
        z_stream z;
        bz_stream bz;
        lzma_stream xz;
        LZ4F_dctx *lz4;
        ZSTD_DCtx *zstd;
    } u;
    const char *msg;
} decoder;

static int dec_init(decoder *d, int codec, int wbits, uint64_t memlimit)
{
    memset(d, 0, sizeof(*d));
    d->codec = codec;
    switch (codec) {
    case SP_CODEC_ZLIB:
    case SP_CODEC_GZIP:
    case SP_CODEC_GZIP_STDLIB:
    case SP_CODEC_ZF:
        if (inflateInit2(&d->u.z, wbits) != Z_OK)
            return STEP_NOMEM;
        break;
    case SP_CODEC_BZ2:
        /* small=0, as bz2.BZ2Decompressor */
        if (BZ2_bzDecompressInit(&d->u.bz, 0, 0) != BZ_OK)
            return STEP_NOMEM;
        break;
    case SP_CODEC_XZ:
    case SP_CODEC_LZMA: {
        lzma_stream init = LZMA_STREAM_INIT;
        d->u.xz = init;
        /* FORMAT_AUTO, as lzma.LZMAFile opens both .xz and .lzma files. */
        lzma_ret ret = lzma_auto_decoder(&d->u.xz, memlimit, 0);
        if (ret == LZMA_MEM_ERROR)
            return STEP_NOMEM;
        if (ret != LZMA_OK)
            return STEP_ERR;
        break;
    }
    case SP_CODEC_LZ4:
        if (LZ4F_isError(LZ4F_createDecompressionContext(&d->u.lz4, LZ4F_VERSION)))
            return STEP_NOMEM;
        break;
    case SP_CODEC_ZSTD:
        d->u.zstd = ZSTD_createDCtx();
        if (d->u.zstd == NULL)
            return STEP_NOMEM;
        break;
    default:
        return STEP_ERR;
    }
    d->live = 1;
    return STEP_OK;
}

static void dec_end(decoder *d)
{
    if (!d->live)
        return;
    switch (d->codec) {
    case SP_CODEC_ZLIB:
    case SP_CODEC_GZIP:
    case SP_CODEC_GZIP_STDLIB:
    case SP_CODEC_ZF:
        inflateEnd(&d->u.z);
        break;
    case SP_CODEC_BZ2:
        BZ2_bzDecompressEnd(&d->u.bz);
        break;
    case SP_CODEC_XZ:
    case SP_CODEC_LZMA:
        lzma_end(&d->u.xz);
        break;
    case SP_CODEC_LZ4:
        LZ4F_freeDecompressionContext(d->u.lz4);
        break;
    case SP_CODEC_ZSTD:
        ZSTD_freeDCtx(d->u.zstd);
        break;
    }
    d->live = 0;
}

static const char *bz2_message(int ret)
{
    switch (ret) {
    case BZ_DATA_ERROR:
        return "invalid data stream";
    case BZ_DATA_ERROR_MAGIC:
        return "not a bzip2 stream";
    case BZ_SEQUENCE_ERROR:
        return "decoder used out of sequence";
    default:
        return "decoder error";
    }
}

static const char *xz_message(lzma_ret ret)
{
    switch (ret) {
    case LZMA_FORMAT_ERROR:
        return "input format not supported by decoder";
    case LZMA_OPTIONS_ERROR:
        return "invalid or unsupported options";
    case LZMA_DATA_ERROR:
        return "corrupt input data";
    case LZMA_UNSUPPORTED_CHECK:
        return "unsupported integrity check";
    default:
        return "decoder error";
    }
}

/* One call of the underlying decoder. in_n and out_n are at most
 * STEP_MAX. An empty step (nothing used, nothing made) means the decoder
 * needs more input. */
static int dec_step(decoder *d, const uint8_t *in, size_t in_n, size_t *used, uint8_t *out,
                    size_t out_n, size_t *made)
{
    *used = 0;
    *made = 0;
    switch (d->codec) {
    case SP_CODEC_ZLIB:
    case SP_CODEC_GZIP:
    case SP_CODEC_GZIP_STDLIB:
    case SP_CODEC_ZF: {
        z_stream *z = &d->u.z;
        z->next_in = (Bytef *)(uintptr_t)in;
        z->avail_in = (uInt)in_n;
        z->next_out = out;
        z->avail_out = (uInt)out_n;
        int ret = inflate(z, Z_NO_FLUSH);
        *used = in_n - z->avail_in;
        *made = out_n - z->avail_out;
        switch (ret) {
        case Z_STREAM_END:
            return STEP_END;
        case Z_OK:
        case Z_BUF_ERROR:
            return STEP_OK;
        case Z_MEM_ERROR:
            return STEP_NOMEM;
        case Z_NEED_DICT:
            d->msg = "stream needs a preset dictionary";
            return STEP_ERR;
        default:
            d->msg = z->msg ? z->msg : "invalid data";
            return STEP_ERR;
        }
    }
    case SP_CODEC_BZ2: {
        bz_stream *bz = &d->u.bz;
        bz->next_in = (char *)(uintptr_t)in;
        bz->avail_in = (unsigned)in_n;
        bz->next_out = (char *)out;
        bz->avail_out = (unsigned)out_n;
        int ret = BZ2_bzDecompress(bz);
        *used = in_n - bz->avail_in;
        *made = out_n - bz->avail_out;
        if (ret == BZ_STREAM_END)
            return STEP_END;
        if (ret == BZ_OK)
            return STEP_OK;
        if (ret == BZ_MEM_ERROR)
            return STEP_NOMEM;
        d->msg = bz2_message(ret);
        return STEP_ERR;
    }
    case SP_CODEC_XZ:
    case SP_CODEC_LZMA: {
        lzma_stream *xz = &d->u.xz;
        xz->next_in = in;
        xz->avail_in = in_n;
        xz->next_out = out;
        xz->avail_out = out_n;
        lzma_ret ret = lzma_code(xz, LZMA_RUN);
        *used = in_n - xz->avail_in;
        *made = out_n - xz->avail_out;
        switch (ret) {
        case LZMA_STREAM_END:
            return STEP_END;
        case LZMA_OK:
        case LZMA_BUF_ERROR:
        case LZMA_GET_CHECK:
        case LZMA_NO_CHECK:
            return STEP_OK;
        case LZMA_MEM_ERROR:
            return STEP_NOMEM;
        case LZMA_MEMLIMIT_ERROR:
            return STEP_MEMLIMIT;
        default:
            d->msg = xz_message(ret);
            return STEP_ERR;
        }
    }
    case SP_CODEC_LZ4: {
        size_t dst = out_n, src = in_n;
        size_t ret = LZ4F_decompress(d->u.lz4, out, &dst, in, &src, NULL);
        *used = src;
        *made = dst;
        if (LZ4F_isError(ret)) {
            d->msg = LZ4F_getErrorName(ret);
            return STEP_ERR;
        }
        return ret == 0 ? STEP_END : STEP_OK;
    }
    case SP_CODEC_ZSTD: {
        ZSTD_inBuffer ib = {in, in_n, 0};
        ZSTD_outBuffer ob = {out, out_n, 0};
        size_t ret = ZSTD_decompressStream(d->u.zstd, &ob, &ib);
        *used = ib.pos;
        *made = ob.pos;
        if (ZSTD_isError(ret)) {
            d->msg = ZSTD_getErrorName(ret);
            return STEP_ERR;
        }
        return ret == 0 ? STEP_END : STEP_OK;
    }
    }
    d->msg = "unknown codec";
    return STEP_ERR;
}

/* ---- driver ----------------------------------------------------------- */

typedef struct run {
    int codec;
    const char *name;
    const uint8_t *in;
    size_t in_len;
    uint8_t *buf;
    size_t len, cap;
    size_t limit;
    int limit_by_ratio;
    uint64_t memlimit;
    uint32_t anomalies;
    sp_error *err;
} run;

enum {
    STREAM_END,
    STREAM_TRUNCATED,
    STREAM_CORRUPT,
    STREAM_CORRUPT_FIRST_BLOCK, /* a following stream failed on its first block */
    STREAM_LIMIT,
    STREAM_NOMEM,
    STREAM_MEMLIMIT
};

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static int grow(run *r)
{
    size_t want = r->cap ? (r->cap > r->limit / 2 ? r->limit : r->cap * 2) : FIRST_ALLOC;
    if (want > r->limit)
        want = r->limit;
    uint8_t *p = realloc(r->buf, want ? want : 1);
    if (p == NULL)
        return -1;
    r->buf = p;
    r->cap = want;
    return 0;
}

/* Decodes one stream that starts at *pos, appending to the output. With
 * first_block_end non-zero the stream follows another one, and the
 * decoder is first given only the input up to that offset. On
 * STREAM_END, *pos is the offset just after the stream. */
static int run_stream(run *r, int wbits, size_t *pos, size_t first_block_end, const char **msg)
{
    decoder d;
    int rc = dec_init(&d, r->codec, wbits, r->memlimit);
    if (rc != STEP_OK) {
        dec_end(&d);
        *msg = "cannot set up the decoder";
        return rc == STEP_NOMEM ? STREAM_NOMEM : STREAM_CORRUPT;
    }
    size_t ip = *pos;
    size_t feed_end = first_block_end ? first_block_end : r->in_len;
    uint8_t scratch[64];
    int result;
    for (;;) {
        uint8_t *o;
        size_t on;
        int probing = 0;
        if (r->len == r->cap && r->cap < r->limit && grow(r) < 0) {
            result = STREAM_NOMEM;
            break;
        }
        if (r->len == r->cap) {
            /* At the cap: any further byte means the stream is bigger. */
            o = scratch;
            on = sizeof(scratch);
            probing = 1;
        } else {
            o = r->buf + r->len;
            on = min_size(r->cap - r->len, STEP_MAX);
        }
        size_t chunk = min_size(feed_end - ip, STEP_MAX);
        size_t used, made;
        int step = dec_step(&d, r->in + ip, chunk, &used, o, on, &made);
        ip += used;
        if (probing && made) {
            result = STREAM_LIMIT;
            break;
        }
        r->len += made;
        if (step == STEP_END) {
            *pos = ip;
            result = STREAM_END;
            break;
        }
        if (step == STEP_ERR) {
            *msg = d.msg;
            result = first_block_end && feed_end == first_block_end ? STREAM_CORRUPT_FIRST_BLOCK
                                                                    : STREAM_CORRUPT;
            *pos = ip;
            break;
        }
        if (step == STEP_NOMEM) {
            result = STREAM_NOMEM;
            break;
        }
        if (step == STEP_MEMLIMIT) {
            result = STREAM_MEMLIMIT;
            break;
        }
        if (used == 0 && made == 0) {
            if (ip < feed_end) {
                /* Input and room for output, yet nothing moved: no decoder
                 * does this on valid data. */
                *msg = "decoder made no progress";
                result = STREAM_CORRUPT;
                *pos = ip;
                break;
            }
            if (feed_end < r->in_len) {
                feed_end = r->in_len;
                continue;
            }
            *pos = ip;
            result = STREAM_TRUNCATED;
            break;
        }
    }
    dec_end(&d);
    return result;
}

static sp_status fail_corrupt(run *r, size_t pos, const char *what)
{
    r->anomalies |= BIT(SP_CA_DECOMPRESS_ERROR);
    sp_error_set(r->err, SP_ERR_FORMAT,
                 "%s: %s (at input byte %zu of %zu, after %zu bytes of output)", r->name,
                 what ? what : "invalid data", pos, r->in_len, r->len);
    return SP_ERR_FORMAT;
}

static sp_status fail_truncated(run *r)
{
    r->anomalies |= BIT(SP_CA_DECOMPRESS_ERROR);
    sp_error_set(r->err, SP_ERR_FORMAT,
                 "%s: compressed data ended before the end-of-stream marker was reached "
                 "(%zu input bytes, %zu bytes of output)",
                 r->name, r->in_len, r->len);
    return SP_ERR_FORMAT;
}

/* Maps a non-END stream result to the status of the whole call. */
static sp_status stream_failure(run *r, int result, size_t pos, const char *msg)
{
    switch (result) {
    case STREAM_TRUNCATED:
        return fail_truncated(r);
    case STREAM_LIMIT:
        r->anomalies |= BIT(r->limit_by_ratio ? SP_CA_DECOMPRESS_RATIO : SP_CA_DECOMPRESS_SIZE);
        sp_error_set(r->err, SP_ERR_LIMIT,
                     "%s: decompressed output exceeds the %s cap of %zu bytes "
                     "(from %zu input bytes)",
                     r->name, r->limit_by_ratio ? "ratio" : "size", r->limit, r->in_len);
        return SP_ERR_LIMIT;
    case STREAM_MEMLIMIT:
        r->anomalies |= BIT(SP_CA_DECOMPRESS_SIZE);
        sp_error_set(r->err, SP_ERR_LIMIT,
                     "%s: the stream header asks for more decoder memory than the cap of "
                     "%llu bytes",
                     r->name, (unsigned long long)r->memlimit);
        return SP_ERR_LIMIT;
    case STREAM_NOMEM:
        sp_error_set(r->err, SP_ERR_NOMEM, "%s: out of memory after %zu bytes of output", r->name,
                     r->len);
        return SP_ERR_NOMEM;
    default:
        return fail_corrupt(r, pos, msg);
    }
}

static size_t block_end(const run *r, size_t pos)
{
    size_t end = (pos / READ_BLOCK + 1) * READ_BLOCK;
    return end > r->in_len || end < pos ? r->in_len : end;
}

/* One stream, as joblib's BinaryZlibFile/BinaryGzipFile read it. */
static sp_status decode_single(run *r, size_t start, int wbits)
{
    size_t pos = start;
    const char *msg = NULL;
    int result = run_stream(r, wbits, &pos, 0, &msg);
    if (result != STREAM_END)
        return stream_failure(r, result, pos, msg);
    if (pos < r->in_len)
        r->anomalies |= BIT(SP_CA_DECOMPRESS_TRAILING);
    return SP_OK;
}

/* Streams back to back, as Python's DecompressReader reads them. */
static sp_status decode_multi(run *r)
{
    size_t pos = 0;
    int first = 1;
    for (;;) {
        if (!first && pos >= r->in_len)
            return SP_OK;
        size_t stream_start = r->len;
        size_t start = pos;
        const char *msg = NULL;
        int result = run_stream(r, 0, &pos, first ? 0 : block_end(r, pos), &msg);
        if (result == STREAM_END) {
            if (pos == start) {
                /* A stream that takes no input would repeat forever. */
                return fail_corrupt(r, pos, "empty stream");
            }
            first = 0;
            continue;
        }
        if (result == STREAM_CORRUPT_FIRST_BLOCK) {
            /* The reader drops what that failed call produced. */
            r->len = stream_start;
            r->anomalies |= BIT(SP_CA_DECOMPRESS_TRAILING);
            return SP_OK;
        }
        return stream_failure(r, result, pos, msg);
    }
}

/* ---- gzip, as Python's gzip module reads it --------------------------- */

#define GZ_FHCRC 2
#define GZ_FEXTRA 4
#define GZ_FNAME 8
#define GZ_FCOMMENT 16

static uint32_t crc_of(const uint8_t *p, size_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        size_t k = min_size(n, STEP_MAX);
        crc = crc32(crc, p, (uInt)k);
        p += k;
        n -= k;
    }
    return (uint32_t)crc;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static sp_status decode_gzip_stdlib(run *r)
{
    const uint8_t *in = r->in;
    size_t n = r->in_len, pos = 0;
    int first = 1;
    for (;;) {
        if (pos >= n)
            return SP_OK;
        if (n - pos < 2 || in[pos] != 0x1f || in[pos + 1] != 0x8b) {
            if (first)
                return fail_corrupt(r, pos, "not a gzipped file");
            /* gzip raises BadGzipFile here, after every member before was
             * read in full. */
            r->anomalies |= BIT(SP_CA_DECOMPRESS_TRAILING);
            return SP_OK;
        }
        if (n - pos < 10)
            return fail_truncated(r);
        if (in[pos + 2] != 8)
            return fail_corrupt(r, pos, "unknown compression method");
        unsigned flags = in[pos + 3];
        pos += 10;
        if (flags & GZ_FEXTRA) {
            if (n - pos < 2)
                return fail_truncated(r);
            size_t xlen = (size_t)in[pos] | (size_t)in[pos + 1] << 8;
            pos += 2;
            if (n - pos < xlen)
                return fail_truncated(r);
            pos += xlen;
        }
        /* An unterminated name or comment runs to the end of the input;
         * the member then has no data, which fails below as truncated. */
        if (flags & GZ_FNAME) {
            while (pos < n && in[pos++] != 0) {
            }
        }
        if (flags & GZ_FCOMMENT) {
            while (pos < n && in[pos++] != 0) {
            }
        }
        if (flags & GZ_FHCRC) {
            if (n - pos < 2)
                return fail_truncated(r);
            pos += 2; /* not checked by the gzip module */
        }
        size_t member_start = r->len;
        const char *msg = NULL;
        int result = run_stream(r, -MAX_WBITS, &pos, 0, &msg);
        if (result != STREAM_END)
            return stream_failure(r, result, pos, msg);
        if (n - pos < 8)
            return fail_truncated(r);
        uint32_t crc = le32(in + pos), isize = le32(in + pos + 4);
        if (crc != crc_of(r->buf + member_start, r->len - member_start))
            return fail_corrupt(r, pos, "CRC check failed");
        if (isize != (uint32_t)(r->len - member_start))
            return fail_corrupt(r, pos, "incorrect length of data produced");
        pos += 8;
        while (pos < n && in[pos] == 0)
            pos++;
        first = 0;
    }
}

/* ---- joblib's legacy ZF files ----------------------------------------- */

#define ZF_LEN_FIELD 19 /* len("{:#x}".format(2**64)) */

/* Python's int(text, 16) on bytes: surrounding whitespace, a sign, an
 * optional 0x prefix and single underscores between digits. Returns -1
 * when Python raises ValueError, 1 with *neg set for a negative value,
 * 2 when the value does not fit in 63 bits (zlib.decompress then raises
 * OverflowError), 0 otherwise. */
static int py_int16(const uint8_t *s, size_t n, uint64_t *value, int *neg)
{
    size_t i = 0, end = n;
    while (i < end && sp_text_is_space(s[i]))
        i++;
    while (end > i && sp_text_is_space(s[end - 1]))
        end--;
    *neg = 0;
    *value = 0;
    if (i < end && (s[i] == '+' || s[i] == '-')) {
        *neg = s[i] == '-';
        i++;
    }
    int prev_digit = 0;
    if (end - i >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        i += 2;
        /* "0x_1f" is valid: an underscore may follow the prefix. */
        prev_digit = 1;
    }
    int digits = 0, big = 0;
    for (; i < end; i++) {
        if (s[i] == '_') {
            if (!prev_digit)
                return -1;
            prev_digit = 0;
            continue;
        }
        int v = sp_text_hex_digit(s[i]);
        if (v < 0)
            return -1;
        if (*value >> 59)
            big = 1;
        *value = *value << 4 | (uint64_t)v;
        digits++;
        prev_digit = 1;
    }
    if (digits == 0 || !prev_digit)
        return -1;
    if (big || *value >> 63)
        return 2;
    return *neg && *value ? 1 : 0;
}

static sp_status decode_zf(run *r)
{
    size_t head = 2 + ZF_LEN_FIELD;
    size_t field = r->in_len < head ? r->in_len - 2 : ZF_LEN_FIELD;
    uint64_t declared;
    int neg;
    int rc = py_int16(r->in + 2, field, &declared, &neg);
    if (rc < 0) {
        r->anomalies |= BIT(SP_CA_DECOMPRESS_ERROR);
        sp_error_set(r->err, SP_ERR_FORMAT, "zf: length field is not a hexadecimal number");
        return SP_ERR_FORMAT;
    }
    if (rc > 0) {
        r->anomalies |= BIT(SP_CA_DECOMPRESS_ERROR);
        sp_error_set(r->err, SP_ERR_FORMAT, "zf: declared length is %s",
                     rc == 1 ? "negative" : "too large for zlib.decompress");
        return SP_ERR_FORMAT;
    }
    /* joblib <= 0.8.4 under Python 2 wrote one more space. */
    size_t start = r->in_len < head ? r->in_len : head;
    if (start < r->in_len && r->in[start] == ' ')
        start++;
    /* zlib.decompress ignores whatever follows the stream. */
    sp_status st = decode_single(r, start, MAX_WBITS);
    if (st != SP_OK)
        return st;
    if ((uint64_t)r->len != declared) {
        /* joblib asserts the length and unpickles nothing on mismatch. */
        r->anomalies |= BIT(SP_CA_DECOMPRESS_ERROR);
        sp_error_set(r->err, SP_ERR_FORMAT,
                     "zf: header declares %llu bytes but the stream holds %zu",
                     (unsigned long long)declared, r->len);
        return SP_ERR_FORMAT;
    }
    return SP_OK;
}

/* ---- entry points ------------------------------------------------------ */

static const char *const codec_names[SP_CODEC_COUNT] = {
    "none", "zlib", "gzip", "gzip-stdlib", "bz2", "xz", "lzma", "lz4", "zstd", "zf",
};

const char *sp_codec_name(int codec)
{
    return codec >= 0 && codec < SP_CODEC_COUNT ? codec_names[codec] : NULL;
}

int sp_codec_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < SP_CODEC_COUNT; i++)
        if (strcmp(name, codec_names[i]) == 0)
            return i;
    return -1;
}

static int starts(const uint8_t *data, size_t len, const char *magic, size_t n)
{
    return len >= n && memcmp(data, magic, n) == 0;
}

int sp_detect_codec(const uint8_t *data, size_t len)
{
    if (data == NULL)
        return SP_CODEC_NONE;
    if (starts(data, len, "ZF", 2))
        return SP_CODEC_ZF;
    if (starts(data, len, "\x78", 1))
        return SP_CODEC_ZLIB;
    if (starts(data, len, "\x1f\x8b", 2))
        return SP_CODEC_GZIP;
    if (starts(data, len, "BZ", 2))
        return SP_CODEC_BZ2;
    if (starts(data, len, "\x5d\x00", 2))
        return SP_CODEC_LZMA;
    if (starts(data, len, "\xfd\x37\x7a\x58\x5a", 5))
        return SP_CODEC_XZ;
    if (starts(data, len, "\x04\x22\x4d\x18", 4))
        return SP_CODEC_LZ4;
    if (starts(data, len, "\x28\xb5\x2f\xfd", 4))
        return SP_CODEC_ZSTD;
    return SP_CODEC_NONE;
}

void sp_decompress_free(uint8_t *out)
{
    free(out);
}

static size_t effective_limit(const sp_decompress_caps *caps, size_t in_len, int *by_ratio)
{
    uint64_t max_out = caps && caps->max_out ? caps->max_out : SP_DECOMPRESS_DEFAULT_MAX_OUT;
    uint64_t ratio = caps && caps->max_ratio ? caps->max_ratio : SP_DECOMPRESS_DEFAULT_MAX_RATIO;
    uint64_t floor =
        caps && caps->ratio_floor ? caps->ratio_floor : SP_DECOMPRESS_DEFAULT_RATIO_FLOOR;
    uint64_t by_r = (uint64_t)in_len > UINT64_MAX / ratio ? UINT64_MAX : (uint64_t)in_len * ratio;
    if (by_r < floor)
        by_r = floor;
    uint64_t limit = max_out;
    *by_ratio = 0;
    if (by_r < limit) {
        limit = by_r;
        *by_ratio = 1;
    }
    if (limit > (uint64_t)SIZE_MAX)
        limit = SIZE_MAX;
    return (size_t)limit;
}

sp_status sp_decompress(int codec, const uint8_t *in, size_t in_len, const sp_decompress_caps *caps,
                        uint8_t **out, size_t *out_len, uint32_t *anomalies, sp_error *err)
{
    if (out == NULL || out_len == NULL || anomalies == NULL) {
        sp_error_set(err, SP_ERR_ARG, "decompress: missing output argument");
        return SP_ERR_ARG;
    }
    *out = NULL;
    *out_len = 0;
    *anomalies = 0;
    if (codec <= SP_CODEC_NONE || codec >= SP_CODEC_COUNT || (in == NULL && in_len > 0)) {
        sp_error_set(err, SP_ERR_ARG, "decompress: unknown codec %d", codec);
        return SP_ERR_ARG;
    }
    static const uint8_t empty[1] = {0};
    run r;
    memset(&r, 0, sizeof(r));
    r.codec = codec;
    r.name = codec_names[codec];
    r.in = in ? in : empty;
    r.in_len = in_len;
    r.limit = effective_limit(caps, in_len, &r.limit_by_ratio);
    r.memlimit = caps && caps->max_decoder_mem ? caps->max_decoder_mem
                                               : SP_DECOMPRESS_DEFAULT_MAX_DECODER_MEM;
    r.err = err;

    sp_status st;
    switch (codec) {
    case SP_CODEC_ZLIB:
        st = decode_single(&r, 0, MAX_WBITS);
        break;
    case SP_CODEC_GZIP:
        /* 16 + MAX_WBITS: zlib parses and checks the gzip wrapper. */
        st = decode_single(&r, 0, 16 + MAX_WBITS);
        break;
    case SP_CODEC_GZIP_STDLIB:
        st = decode_gzip_stdlib(&r);
        break;
    case SP_CODEC_ZF:
        if (in_len < 2 || r.in[0] != 'Z' || r.in[1] != 'F') {
            r.anomalies |= BIT(SP_CA_DECOMPRESS_ERROR);
            sp_error_set(err, SP_ERR_FORMAT, "zf: no ZF header");
            st = SP_ERR_FORMAT;
        } else {
            st = decode_zf(&r);
        }
        break;
    default:
        st = decode_multi(&r);
        break;
    }
    *anomalies = r.anomalies;
    if (st == SP_ERR_NOMEM || st == SP_ERR_ARG) {
        free(r.buf);
        return st;
    }
    if (r.buf == NULL) {
        r.buf = malloc(1);
        if (r.buf == NULL) {
            sp_error_set(err, SP_ERR_NOMEM, "%s: out of memory", r.name);
            return SP_ERR_NOMEM;
        }
    } else if (r.cap > r.len + (r.len >> 3) + 4096) {
        uint8_t *p = realloc(r.buf, r.len ? r.len : 1);
        if (p != NULL)
            r.buf = p;
    }
    *out = r.buf;
    *out_len = r.len;
    return st;
}
