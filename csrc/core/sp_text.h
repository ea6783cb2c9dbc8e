/* Text the pickle loader parses: number lines and escaped strings.
 *
 * Each function reproduces one CPython routine that _pickle.c calls, so that
 * the scanner accepts and rejects exactly what the loader does. "line" is
 * the bytes of an opcode argument line WITHOUT its trailing '\n' (the loader
 * NUL-terminates its copy, so a NUL inside the line ends C parsing early). */
#ifndef SP_TEXT_H
#define SP_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "sp_arena.h"

/* Result of parsing an integer line. */
typedef struct sp_intparse {
    int ok;  /* the loader accepts the line */
    int big; /* value does not fit in int64 (value is then 0) */
    int64_t value;
    int is_bool;      /* INT only: "I00"/"I01" style lines load as False/True */
    int noncanonical; /* accepted, but not what a pickler writes: base
                         prefix, leading zeros, '+', underscores, spaces,
                         NUL terminator, trailing junk after NUL */
} sp_intparse;

/* INT opcode: strtol(s, &end, 0) accepted when *end is '\n' or NUL and no
 * overflow; otherwise PyLong_FromString(s, NULL, 0) on the NUL-terminated
 * copy. Bool when the whole line (with newline) is 3 bytes and value is 0/1. */
sp_intparse sp_parse_int_line(const uint8_t *line, size_t len);
/* LONG opcode: strip one trailing 'L' (if line ends with it), then
 * PyLong_FromString(s, NULL, 0). */
sp_intparse sp_parse_long_line(const uint8_t *line, size_t len);
/* GET and PUT: PyLong_FromString(s, NULL, 10) then PyLong_AsSsize_t. */
sp_intparse sp_parse_index_line(const uint8_t *line, size_t len);

/* FLOAT opcode: PyOS_string_to_double(s, &end, OverflowError) accepted when
 * *end is '\n' or NUL. */
typedef struct sp_floatparse {
    int ok;
    double value;
    int noncanonical;
} sp_floatparse;
sp_floatparse sp_parse_float_line(const uint8_t *line, size_t len);
/* 1 when the line is, by its shape alone, repr() of a finite float in fixed
 * notation: sp_parse_float_line would accept it as canonical. 0 says
 * nothing: parse it. */
int sp_float_line_is_short_repr(const uint8_t *line, size_t len);

/* STRING opcode argument (quotes already stripped): PyBytes_DecodeEscape.
 * On success *out and *out_len hold the decoded bytes in the arena and 0 is
 * returned; -1 when the loader raises (invalid \x escape, trailing '\'),
 * -2 when the arena refused. */
int sp_decode_escape(sp_arena *arena, const uint8_t *s, size_t len, const uint8_t **out,
                     size_t *out_len);

/* UNICODE opcode: PyUnicode_DecodeRawUnicodeEscape, output as UTF-8 with
 * lone surrogates encoded as 3-byte sequences. 0, -1 (loader raises), -2
 * (arena). Bytes >= 0x80 are Latin-1 code points. */
int sp_decode_raw_unicode_escape(sp_arena *arena, const uint8_t *s, size_t len, const uint8_t **out,
                                 size_t *out_len);

/* 1 when s is valid UTF-8 as CPython's strict decoder sees it; with
 * allow_surrogates (the "surrogatepass" handler) encoded surrogates
 * U+D800..U+DFFF are accepted too. */
int sp_utf8_valid(const uint8_t *s, size_t len, int allow_surrogates);
/* 1 when every byte is < 0x80. */
int sp_ascii_valid(const uint8_t *s, size_t len);

/* int() of a str first rewrites it as ASCII
 * (_PyUnicode_TransformDecimalAndSpaceToASCII): whitespace becomes a space,
 * a decimal digit its ASCII digit. s is UTF-8 (surrogates as 3-byte
 * sequences); out has room for len bytes. 0 when a character is neither
 * ASCII, whitespace nor a decimal digit: int() fails on it. */
int sp_int_text_to_ascii(const uint8_t *s, size_t len, uint8_t *out, size_t *out_len);

/* Python's whitespace for int()/float() text (space, \t to \r). */
int sp_text_is_space(uint8_t c);
/* Value of a hexadecimal digit, or -1. */
int sp_text_hex_digit(int c);

#endif
