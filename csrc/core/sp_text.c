#include "sp_text.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_int_text_table.h"

/* CPython's int(str) refuses decimal strings with more digits than
 * sys.get_int_max_str_digits(); the loader runs with the default unless the
 * process changed it, so the scanner assumes the default. */
#ifndef SP_INT_MAX_STR_DIGITS
#define SP_INT_MAX_STR_DIGITS 4300
#endif
/* Below this many digits CPython does not consult the limit at all. */
#define SP_INT_STR_DIGITS_THRESHOLD 640

/* When strtol converts nothing, glibc leaves errno alone, so a line that
 * starts with NUL still loads as 0; musl, macOS and FreeBSD set EINVAL and
 * the loader then falls back to int(), which rejects it. */
#if defined(__GLIBC__)
#define SP_STRTOL_NOCONV_FAILS 0
#else
#define SP_STRTOL_NOCONV_FAILS 1
#endif

/* Limits of CPython's dtoa parser: longer digit strings are a parse error,
 * larger exponents are clamped. */
#define SP_DTOA_MAX_DIGITS 1000000000u
#define SP_DTOA_MAX_ABS_EXP 1100000000u

/* Enough significant digits to round any decimal to the nearest double,
 * provided a nonzero tail is remembered as one extra digit. */
#define SP_FLOAT_KEEP_DIGITS 800
/* DBL_DIG: every decimal of at most this many significant digits reads
 * back from the nearest double unchanged. */
#define SP_FLOAT_SHORT_DIGITS 15

static int c_isspace(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Py_ISSPACE agrees with the C locale's isspace on every byte. */
#define py_isspace c_isspace

static int digit_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 37;
}

/* The loader hands C routines a NUL-terminated copy, so they never see
 * past the first NUL of the line. */
static size_t c_length(const uint8_t *line, size_t len)
{
    const uint8_t *nul = len ? memchr(line, 0, len) : NULL;

    return nul ? (size_t)(nul - line) : len;
}

static void set_magnitude(sp_intparse *r, int neg, uint64_t mag, int over)
{
    if (over || mag > (uint64_t)INT64_MAX + (neg ? 1u : 0u)) {
        r->big = 1;
        r->value = 0;
    } else if (neg) {
        r->value = mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag;
    } else {
        r->value = (int64_t)mag;
    }
}

/* PyLong_FromString(s, NULL, base) with s[0..n) being everything before the
 * terminating NUL. Trailing whitespace is allowed, so the '\n' that may
 * precede the NUL in the loader's copy changes nothing and is left out. */
static sp_intparse pylong_parse(const uint8_t *s, size_t n, int base)
{
    sp_intparse r;
    size_t i = 0;
    int neg = 0;
    int old_octal = 0;
    int prev_us = 0;
    int over = 0;
    size_t digits = 0;
    uint64_t mag = 0;

    memset(&r, 0, sizeof(r));
#define AT(k) (i + (k) < n ? s[i + (k)] : 0)
    while (i < n && py_isspace(s[i]))
        i++;
    if (AT(0) == '+') {
        i++;
    } else if (AT(0) == '-') {
        neg = 1;
        i++;
    }
    if (base == 0) {
        uint8_t p = AT(1);

        if (AT(0) != '0')
            base = 10;
        else if (p == 'x' || p == 'X')
            base = 16;
        else if (p == 'o' || p == 'O')
            base = 8;
        else if (p == 'b' || p == 'B')
            base = 2;
        else {
            /* "0..." without a prefix is only allowed when the value is 0. */
            old_octal = 1;
            base = 10;
        }
    }
    if (AT(0) == '0') {
        uint8_t p = AT(1);

        if ((base == 16 && (p == 'x' || p == 'X')) || (base == 8 && (p == 'o' || p == 'O')) ||
            (base == 2 && (p == 'b' || p == 'B'))) {
            i += 2;
            if (AT(0) == '_')
                i++;
        }
    }
    if (AT(0) == '_')
        return r;
#undef AT
    for (; i < n; i++) {
        uint8_t c = s[i];
        int d;

        if (c == '_') {
            if (prev_us)
                return r;
            prev_us = 1;
            continue;
        }
        d = digit_value(c);
        if (d >= base)
            break;
        prev_us = 0;
        digits++;
        if (!over) {
            if (mag > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
                over = 1;
            else
                mag = mag * (uint64_t)base + (uint64_t)d;
        }
    }
    if (prev_us)
        return r;
    /* Only bases that are not powers of two go through the slow path that
     * carries the digit limit. */
    if ((base & (base - 1)) != 0 && digits > SP_INT_STR_DIGITS_THRESHOLD &&
        digits > SP_INT_MAX_STR_DIGITS)
        return r;
    if (old_octal && (over || mag != 0))
        return r;
    if (digits == 0)
        return r;
    while (i < n && py_isspace(s[i]))
        i++;
    if (i != n)
        return r;
    r.ok = 1;
    set_magnitude(&r, neg, mag, over);
    return r;
}

/* strtol(s, &end, 0) in the C locale over s[0..n) (n is where the NUL is).
 * Returns 0 on success, nonzero where errno would be set; *end is the index
 * the end pointer would have. */
static int c_strtol(const uint8_t *s, size_t n, long *out, size_t *end)
{
    size_t i = 0;
    size_t first;
    int neg = 0;
    int base = 10;
    int over = 0;
    unsigned long mag = 0;
    unsigned long limit;

    *out = 0;
    while (i < n && c_isspace(s[i]))
        i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    /* "0x" is a prefix only when a hex digit follows; otherwise the subject
     * is the "0" alone. */
    if (i < n && s[i] == '0') {
        if (i + 2 < n && (s[i + 1] == 'x' || s[i + 1] == 'X') && digit_value(s[i + 2]) < 16) {
            base = 16;
            i += 2;
        } else {
            base = 8;
        }
    }
    limit = neg ? (unsigned long)LONG_MAX + 1ul : (unsigned long)LONG_MAX;
    first = i;
    for (; i < n; i++) {
        int d = digit_value(s[i]);

        if (d >= base)
            break;
        if (!over) {
            if (mag > (limit - (unsigned long)d) / (unsigned long)base)
                over = 1;
            else
                mag = mag * (unsigned long)base + (unsigned long)d;
        }
    }
    if (i == first) {
        *end = 0;
        return SP_STRTOL_NOCONV_FAILS ? EINVAL : 0;
    }
    *end = i;
    if (over)
        return ERANGE;
    if (neg)
        *out = mag == (unsigned long)LONG_MAX + 1ul ? LONG_MIN : -(long)mag;
    else
        *out = (long)mag;
    return 0;
}

/* What the pickler writes for an int: '-'? then "0" or digits without a
 * leading zero, and never "-0". */
static int decimal_canonical(const uint8_t *s, size_t n, int allow_sign)
{
    size_t i = 0;

    if (allow_sign && n > 0 && s[0] == '-')
        i = 1;
    if (i >= n)
        return 0;
    if (s[i] == '0')
        return i == 0 && n == 1;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    return 1;
}

/* The value of s[0..n) when it is what a pickler writes for a small int:
 * an optional '-' (when allowed), then 1 to 18 digits of which the first is
 * not 0. -1 otherwise. Such a line reads the same through strtol, int()
 * and PyLong_AsSsize_t, with no prefix, space or underscore to consider. */
static int plain_decimal(const uint8_t *s, size_t n, int allow_sign, int64_t *out)
{
    size_t i = allow_sign && n > 0 && s[0] == '-' ? 1 : 0;
    uint64_t v = 0;

    if (n - i == 0 || n - i > 18 || s[i] < '1' || s[i] > '9')
        return -1;
    for (size_t k = i; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return -1;
        v = v * 10u + (uint64_t)(s[k] - '0');
    }
    *out = i ? -(int64_t)v : (int64_t)v;
    return 0;
}

sp_intparse sp_parse_int_line(const uint8_t *line, size_t len)
{
    sp_intparse r;
    size_t clen;
    size_t end;
    long x;

    memset(&r, 0, sizeof(r));
    if (len == 0)
        return r;
    if (plain_decimal(line, len, 1, &r.value) == 0) {
        /* canonical, and never a bool: "00" and "01" start with 0 */
        r.ok = 1;
        return r;
    }
    clen = c_length(line, len);
    /* In the copy, the character after the strtol subject is '\n' exactly
     * when end == len and NUL when end == clen < len; both are accepted. */
    if (c_strtol(line, clen, &x, &end) == 0 && end == clen) {
        r.ok = 1;
        r.value = (int64_t)x;
        /* The loader's length counts the '\n': 3 means a 2-byte line. */
        r.is_bool = len == 2 && (x == 0 || x == 1);
    } else {
        r = pylong_parse(line, clen, 0);
    }
    if (r.ok) {
        if (r.is_bool)
            r.noncanonical = !(line[0] == '0' && (line[1] == '0' || line[1] == '1'));
        else
            r.noncanonical = !decimal_canonical(line, len, 1);
    }
    return r;
}

sp_intparse sp_parse_long_line(const uint8_t *line, size_t len)
{
    sp_intparse r;
    size_t n = len;

    memset(&r, 0, sizeof(r));
    if (len == 0)
        return r;
    /* The loader overwrites a final 'L' with NUL. */
    if (line[len - 1] == 'L')
        n = len - 1;
    r = pylong_parse(line, c_length(line, n), 0);
    if (r.ok)
        r.noncanonical = n == len || !decimal_canonical(line, n, 1);
    return r;
}

sp_intparse sp_parse_index_line(const uint8_t *line, size_t len)
{
    sp_intparse r;

    memset(&r, 0, sizeof(r));
    if (len == 0)
        return r;
    if (plain_decimal(line, len, 0, &r.value) == 0) {
        r.ok = 1;
        return r;
    }
    r = pylong_parse(line, c_length(line, len), 10);
    /* PyLong_AsSsize_t raises OverflowError for anything wider. */
    if (r.ok && (r.big || r.value > (int64_t)PTRDIFF_MAX || r.value < (int64_t)PTRDIFF_MIN)) {
        r.ok = 0;
        r.big = 1;
        r.value = 0;
    }
    if (r.ok)
        r.noncanonical = !decimal_canonical(line, len, 0);
    return r;
}

static int match_nocase(const uint8_t *s, size_t n, size_t i, const char *word)
{
    for (; *word != '\0'; word++, i++) {
        uint8_t c;

        if (i >= n)
            return 0;
        c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c - 'A' + 'a');
        if (c != (uint8_t)*word)
            return 0;
    }
    return 1;
}

/* _Py_parse_inf_or_nan: the fallback when no digits parse. */
static size_t parse_inf_nan(const uint8_t *s, size_t n, double *value)
{
    size_t i = 0;
    int neg = 0;

    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    if (match_nocase(s, n, i, "inf")) {
        i += 3;
        if (match_nocase(s, n, i, "inity"))
            i += 5;
        *value = neg ? -HUGE_VAL : HUGE_VAL;
        return i;
    }
    if (match_nocase(s, n, i, "nan")) {
        *value = neg ? -(double)NAN : (double)NAN;
        return i + 3;
    }
    return 0;
}

/* Digits of a decimal mantissa, possibly split by the point. */
typedef struct digit_span {
    const uint8_t *s;
    size_t begin; /* first significant digit, or end when there is none */
    size_t end;   /* one past the last mantissa character */
} digit_span;

static int span_next(const digit_span *sp, size_t *i)
{
    while (*i < sp->end) {
        uint8_t c = sp->s[(*i)++];

        if (c >= '0' && c <= '9')
            return c;
    }
    return -1;
}

/* Powers of ten a double holds exactly. */
static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* At most 15 significant digits and a power of ten up to 1e22: both are
 * exact doubles, so one multiplication or division rounds the product
 * once, correctly, as strtod would (Clinger's fast path). Needs arithmetic
 * in double precision, not x87 extended. 0 when it does not apply. */
static int exact_small_decimal(const digit_span *sp, size_t nsig, int64_t exp10, double *out)
{
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    size_t pos = sp->begin;
    uint64_t m = 0;
    int c;

    if (nsig > SP_FLOAT_SHORT_DIGITS || exp10 < -22 || exp10 > 22)
        return 0;
    while ((c = span_next(sp, &pos)) >= 0)
        m = m * 10u + (uint64_t)(c - '0');
    *out = exp10 >= 0 ? (double)m * exact_pow10[exp10] : (double)m / exact_pow10[-exp10];
    return 1;
#else
    return 0;
#endif
}

/* Round digits * 10^exp10 (digits given as a span of nsig significant
 * digits, first nonzero) to the nearest double with libc's correctly
 * rounded strtod; the text handed to it has no decimal point, so the
 * locale cannot change its meaning. */
static void decimal_to_double(const digit_span *sp, size_t nsig, int64_t exp10, double *out)
{
    char buf[SP_FLOAT_KEEP_DIGITS + 32];
    size_t keep = nsig < SP_FLOAT_KEEP_DIGITS ? nsig : SP_FLOAT_KEEP_DIGITS;
    size_t pos = sp->begin;
    size_t k = 0;
    int c;

    if (exact_small_decimal(sp, nsig, exp10, out))
        return;

    while (k < keep && (c = span_next(sp, &pos)) >= 0)
        buf[k++] = (char)c;
    if (nsig > keep) {
        int sticky = 0;

        while ((c = span_next(sp, &pos)) >= 0) {
            if (c != '0') {
                sticky = 1;
                break;
            }
        }
        exp10 += (int64_t)(nsig - keep);
        if (sticky) {
            buf[k++] = '1';
            exp10 -= 1;
        }
    }
    /* The magnitude is below 10^(k + exp10) and at least 10^(k + exp10 - 1). */
    if ((int64_t)k + exp10 > 400) {
        *out = HUGE_VAL;
        return;
    }
    if ((int64_t)k + exp10 < -400) {
        *out = 0.0;
        return;
    }
    snprintf(buf + k, sizeof(buf) - k, "e%lld", (long long)exp10);
    *out = strtod(buf, NULL);
}

static int float_repr_matches(const uint8_t *s, size_t n, double x);
static int plain_repr(const uint8_t *s, size_t n);

int sp_float_line_is_short_repr(const uint8_t *line, size_t len)
{
    return plain_repr(line, len);
}

sp_floatparse sp_parse_float_line(const uint8_t *line, size_t len)
{
    sp_floatparse r;
    size_t n;
    size_t i = 0;
    size_t int_digits = 0;
    size_t frac_digits = 0;
    size_t nsig = 0;
    size_t frac_after_sig = 0;
    int neg = 0;
    int lz = 0;
    int64_t exp10 = 0;
    digit_span sp;
    double v;

    memset(&r, 0, sizeof(r));
    if (len == 0)
        return r;
    n = c_length(line, len);
    sp.s = line;
    if (i < n && (line[i] == '-' || line[i] == '+')) {
        neg = line[i] == '-';
        i++;
    }
    while (i < n && line[i] == '0') {
        lz = 1;
        i++;
    }
    sp.begin = i;
    while (i < n && line[i] >= '0' && line[i] <= '9') {
        int_digits++;
        i++;
    }
    nsig = int_digits;
    if (i < n && line[i] == '.') {
        i++;
        if (int_digits == 0) {
            while (i < n && line[i] == '0') {
                lz = 1;
                frac_digits++;
                i++;
            }
            sp.begin = i;
        }
        while (i < n && line[i] >= '0' && line[i] <= '9') {
            frac_digits++;
            frac_after_sig++;
            i++;
        }
        nsig += frac_after_sig;
    }
    if ((nsig == 0 && !lz) || nsig > SP_DTOA_MAX_DIGITS || frac_digits > SP_DTOA_MAX_DIGITS) {
        size_t end = parse_inf_nan(line, n, &v);

        if (end == 0 || end != n)
            return r;
        r.ok = 1;
        r.value = v;
        r.noncanonical = !float_repr_matches(line, len, v);
        return r;
    }
    sp.end = i;
    if (i < n && (line[i] == 'e' || line[i] == 'E')) {
        size_t e_pos = i;
        size_t first;
        int eneg = 0;
        int elz = 0;
        uint64_t abs_exp = 0;

        i++;
        if (i < n && (line[i] == '-' || line[i] == '+')) {
            eneg = line[i] == '-';
            i++;
        }
        while (i < n && line[i] == '0') {
            elz = 1;
            i++;
        }
        first = i;
        while (i < n && line[i] >= '0' && line[i] <= '9') {
            if (abs_exp <= SP_DTOA_MAX_ABS_EXP)
                abs_exp = abs_exp * 10u + (uint64_t)(line[i] - '0');
            i++;
        }
        if (i - first > 9 || abs_exp > SP_DTOA_MAX_ABS_EXP)
            abs_exp = SP_DTOA_MAX_ABS_EXP;
        exp10 = eneg ? -(int64_t)abs_exp : (int64_t)abs_exp;
        /* An exponent needs a digit; otherwise parsing stops at the 'e'. */
        if (i == first && !elz) {
            i = e_pos;
            exp10 = 0;
        }
    }
    if (i != n)
        return r;
    if (nsig == 0) {
        v = 0.0;
    } else {
        /* Every digit after the point, leading zeros included, scales the
         * integer formed by the significant digits down by ten. */
        decimal_to_double(&sp, nsig, exp10 - (int64_t)frac_digits, &v);
        if (isinf(v))
            return r; /* OverflowError */
    }
    r.ok = 1;
    r.value = neg ? -v : v;
    r.noncanonical = !plain_repr(line, len) && !float_repr_matches(line, len, r.value);
    return r;
}

/* ---- repr(float), for the noncanonical flag ---- */

/* Shortest decimal digits that read back as x (x finite, > 0), choosing the
 * nearest among equally short ones, as repr() does. *decpt is the position
 * of the point relative to the first digit: x = 0.digits * 10^decpt. */
/* Shortest digits that round-trip, searched upward from start: a caller
 * that only needs to know whether some text is the shortest form can start
 * one below the text's own digit count. */
static int shortest_digits(double x, char *digits, int *decpt, int start)
{
    char buf[64];

    if (start < 1)
        start = 1;
    for (int prec = start; prec <= 17; prec++) {
        char d[32];
        int nd = 0;
        int e;
        char *ep;

        snprintf(buf, sizeof(buf), "%.*e", prec - 1, x);
        ep = strchr(buf, 'e');
        if (ep == NULL)
            return -1;
        for (char *p = buf; p < ep; p++) {
            if (*p >= '0' && *p <= '9')
                d[nd++] = *p;
        }
        e = atoi(ep + 1);
        for (int attempt = 0; attempt < 2; attempt++) {
            char t[64];
            double back;

            snprintf(t, sizeof(t), "%.*se%d", nd, d, e - (nd - 1));
            back = strtod(t, NULL);
            if (back == x) {
                while (nd > 1 && d[nd - 1] == '0')
                    nd--;
                memcpy(digits, d, (size_t)nd);
                digits[nd] = '\0';
                *decpt = e + 1;
                return nd;
            }
            if (attempt == 1)
                break;
            /* The nearest prec-digit decimal can miss the rounding interval
             * of a power of two on its narrow side while the neighbour on
             * the wide side is inside; try that neighbour. */
            if (back < x) {
                int k = nd - 1;

                while (k >= 0 && d[k] == '9')
                    d[k--] = '0';
                if (k < 0) {
                    d[0] = '1';
                    e += 1;
                } else {
                    d[k]++;
                }
            } else {
                int k = nd - 1;

                while (k >= 0 && d[k] == '0')
                    d[k--] = '9';
                if (k < 0)
                    break;
                d[k]--;
                if (d[0] == '0') {
                    if (nd == 1)
                        break;
                    memmove(d, d + 1, (size_t)nd - 1);
                    d[nd - 1] = '9';
                    e -= 1;
                }
            }
        }
    }
    return -1;
}

/* Significant digits of a float's text, leading and trailing zeros aside. */
static int significant_digits(const uint8_t *s, size_t n)
{
    int count = 0, trailing = 0, seen = 0;

    for (size_t i = 0; i < n && s[i] != 'e' && s[i] != 'E'; i++) {
        if (s[i] < '0' || s[i] > '9')
            continue;
        if (s[i] == '0' && !seen)
            continue;
        seen = 1;
        count++;
        trailing = s[i] == '0' ? trailing + 1 : 0;
    }
    return count - trailing;
}

/* The significant digits of a float's text, trailing zeros dropped, and
 * the position of its point as shortest_digits gives it (value =
 * 0.digits * 10^decpt). digits holds at least 32 bytes; the text has at
 * most SP_FLOAT_SHORT_DIGITS significant digits. */
static int text_digits(const uint8_t *s, size_t n, char *digits, int *decpt)
{
    size_t i = 0;
    int nd = 0, point = 0, seen = 0;
    long pos = 0;

    /* Characters other than digits and the point are skipped: such a text
     * differs from any repr, which the final comparison finds. */
    for (; i < n && s[i] != 'e' && s[i] != 'E'; i++) {
        if (s[i] == '.') {
            point = 1;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            continue;
        if (!seen && s[i] == '0') {
            if (point)
                pos--; /* a zero between the point and the first digit */
            continue;
        }
        seen = 1;
        if (!point)
            pos++; /* a digit before the point */
        if (nd >= 31)
            return -1;
        digits[nd++] = (char)s[i];
    }
    if (i < n) {
        int eneg = 0;
        long e = 0;

        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            eneg = s[i++] == '-';
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        pos += eneg ? -e : e;
    }
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (nd == 0)
        return -1;
    digits[nd] = '\0';
    *decpt = (int)pos;
    return nd;
}

/* 1 when the text is, by its shape alone, repr() of the double it reads
 * as: [-]I.F in fixed notation, I "0" or without leading zeros, F without
 * trailing zeros unless it is "0", at most SP_FLOAT_SHORT_DIGITS
 * significant digits, and a magnitude repr writes in fixed notation
 * (1e-4 <= |x| < 1e16, or zero). Most float lines a pickler writes look
 * like this; 0 sends the rest to float_repr_matches. */
static int plain_repr(const uint8_t *s, size_t n)
{
    size_t i = 0, int_start, int_len, frac_start, frac_len, lead = 0, sig;

    if (i < n && s[i] == '-')
        i++;
    int_start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    int_len = i - int_start;
    if (int_len == 0 || int_len > 16 || (int_len > 1 && s[int_start] == '0'))
        return 0;
    if (i >= n || s[i] != '.')
        return 0;
    frac_start = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    frac_len = i - frac_start;
    if (i != n || frac_len == 0 || (frac_len > 1 && s[n - 1] == '0'))
        return 0;
    if (s[int_start] != '0') {
        sig = int_len;
        if (frac_len == 1 && s[frac_start] == '0') {
            /* a whole number: 100.0 has one significant digit */
            while (sig > 1 && s[int_start + sig - 1] == '0')
                sig--;
        } else {
            sig += frac_len;
        }
        return sig <= SP_FLOAT_SHORT_DIGITS;
    }
    while (lead < frac_len && s[frac_start + lead] == '0')
        lead++;
    if (lead == frac_len)
        return frac_len == 1; /* 0.0 */
    /* 0.000123 has a decimal point 3 places ahead of its first digit */
    return lead < 4 && frac_len - lead <= SP_FLOAT_SHORT_DIGITS;
}

static int float_repr_matches(const uint8_t *s, size_t n, double x)
{
    char out[64];
    char digits[32];
    size_t k = 0;
    int nd;
    int decpt;

    if (isnan(x))
        return n == 3 && memcmp(s, "nan", 3) == 0;
    if (signbit(x)) {
        out[k++] = '-';
        x = -x;
    }
    if (isinf(x)) {
        memcpy(out + k, "inf", 3);
        k += 3;
    } else if (x == 0.0) {
        memcpy(out + k, "0.0", 3);
        k += 3;
    } else {
        int sig = significant_digits(s, n);

        /* The text's own digits are the shortest when there are at most
         * 15 of them and x is a normal double: two decimals that short
         * cannot read as the same double, so no shorter one reads as x, and
         * among equally short ones only the text does. */
        if (sig <= SP_FLOAT_SHORT_DIGITS && isnormal(x))
            nd = text_digits(s, n, digits, &decpt);
        else
            nd = shortest_digits(x, digits, &decpt, sig - 1);
        if (nd <= 0)
            return 0;
        if (decpt > -4 && decpt <= 16) {
            if (decpt <= 0) {
                out[k++] = '0';
                out[k++] = '.';
                for (int z = 0; z < -decpt; z++)
                    out[k++] = '0';
                memcpy(out + k, digits, (size_t)nd);
                k += (size_t)nd;
            } else if (decpt >= nd) {
                memcpy(out + k, digits, (size_t)nd);
                k += (size_t)nd;
                for (int z = nd; z < decpt; z++)
                    out[k++] = '0';
                out[k++] = '.';
                out[k++] = '0';
            } else {
                memcpy(out + k, digits, (size_t)decpt);
                k += (size_t)decpt;
                out[k++] = '.';
                memcpy(out + k, digits + decpt, (size_t)(nd - decpt));
                k += (size_t)(nd - decpt);
            }
        } else {
            int e = decpt - 1;

            out[k++] = digits[0];
            if (nd > 1) {
                out[k++] = '.';
                memcpy(out + k, digits + 1, (size_t)nd - 1);
                k += (size_t)nd - 1;
            }
            k += (size_t)snprintf(out + k, sizeof(out) - k, "e%c%02d", e < 0 ? '-' : '+',
                                  e < 0 ? -e : e);
        }
    }
    return n == k && memcmp(s, out, k) == 0;
}

/* ---- escaped strings ---- */

/* One pass of PyBytes_DecodeEscape; with out == NULL it only measures. */
static int escape_pass(const uint8_t *s, size_t len, uint8_t *out, size_t *out_len)
{
    size_t i = 0;
    size_t k = 0;

    while (i < len) {
        uint8_t c = s[i++];

        if (c != '\\') {
            if (out)
                out[k] = c;
            k++;
            continue;
        }
        if (i == len)
            return -1; /* trailing backslash */
        c = s[i++];
        switch (c) {
        case '\n':
            continue;
        case '\\':
        case '\'':
        case '"':
            break;
        case 'b':
            c = '\b';
            break;
        case 'f':
            c = '\f';
            break;
        case 't':
            c = '\t';
            break;
        case 'n':
            c = '\n';
            break;
        case 'r':
            c = '\r';
            break;
        case 'v':
            c = '\v';
            break;
        case 'a':
            c = '\a';
            break;
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7': {
            unsigned v = (unsigned)(c - '0');

            for (int more = 0; more < 2 && i < len && s[i] >= '0' && s[i] <= '7'; more++)
                v = v * 8u + (unsigned)(s[i++] - '0');
            /* Values above 0o377 keep only their low byte (with a
             * DeprecationWarning). */
            c = (uint8_t)(v & 0xffu);
            break;
        }
        case 'x': {
            int hi;
            int lo;

            if (len - i < 2)
                return -1;
            hi = digit_value(s[i]);
            lo = digit_value(s[i + 1]);
            if (hi >= 16 || lo >= 16)
                return -1;
            c = (uint8_t)(hi * 16 + lo);
            i += 2;
            break;
        }
        default:
            /* Unknown escapes stay as written, backslash included; the
             * character after it is copied by the next iteration. */
            c = '\\';
            i--;
            break;
        }
        if (out)
            out[k] = c;
        k++;
    }
    *out_len = k;
    return 0;
}

int sp_decode_escape(sp_arena *arena, const uint8_t *s, size_t len, const uint8_t **out,
                     size_t *out_len)
{
    size_t n;
    uint8_t *buf;

    *out = NULL;
    *out_len = 0;
    if (escape_pass(s, len, NULL, &n) != 0)
        return -1;
    buf = sp_arena_alloc(arena, n + 1);
    if (buf == NULL)
        return -2;
    escape_pass(s, len, buf, &n);
    *out = buf;
    *out_len = n;
    return 0;
}

static size_t put_utf8(uint8_t *out, uint32_t cp)
{
    uint8_t tmp[4];
    size_t n;

    if (cp < 0x80) {
        tmp[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (uint8_t)(0xc0 | (cp >> 6));
        tmp[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (uint8_t)(0xe0 | (cp >> 12));
        tmp[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        tmp[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        tmp[0] = (uint8_t)(0xf0 | (cp >> 18));
        tmp[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        tmp[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        tmp[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    if (out)
        memcpy(out, tmp, n);
    return n;
}

/* One pass of PyUnicode_DecodeRawUnicodeEscape (strict, final). */
static int raw_unicode_pass(const uint8_t *s, size_t len, uint8_t *out, size_t *out_len)
{
    size_t i = 0;
    size_t k = 0;

    while (i < len) {
        uint8_t c = s[i++];
        uint32_t cp = 0;
        int count;

        if (c != '\\') {
            k += put_utf8(out ? out + k : NULL, c);
            continue;
        }
        /* A backslash at the very end is literal. */
        if (i == len) {
            k += put_utf8(out ? out + k : NULL, '\\');
            break;
        }
        c = s[i++];
        if (c != 'u' && c != 'U') {
            /* Both characters are taken, so "\\\\u" is not an escape. */
            k += put_utf8(out ? out + k : NULL, '\\');
            k += put_utf8(out ? out + k : NULL, c);
            continue;
        }
        for (count = c == 'u' ? 4 : 8; count > 0; count--, i++) {
            int d;

            if (i >= len)
                return -1;
            d = digit_value(s[i]);
            if (d >= 16)
                return -1;
            cp = (cp << 4) | (uint32_t)d;
        }
        if (cp > 0x10ffffu)
            return -1;
        k += put_utf8(out ? out + k : NULL, cp);
    }
    *out_len = k;
    return 0;
}

int sp_decode_raw_unicode_escape(sp_arena *arena, const uint8_t *s, size_t len, const uint8_t **out,
                                 size_t *out_len)
{
    size_t n;
    uint8_t *buf;

    *out = NULL;
    *out_len = 0;
    if (raw_unicode_pass(s, len, NULL, &n) != 0)
        return -1;
    buf = sp_arena_alloc(arena, n + 1);
    if (buf == NULL)
        return -2;
    raw_unicode_pass(s, len, buf, &n);
    *out = buf;
    *out_len = n;
    return 0;
}

#define SP_HIGH_BITS 0x8080808080808080ULL

/* From i, at a two-byte lead (C2..DF): the end of the longest run of whole
 * eight-byte words that hold only ASCII and two-byte sequences, as Latin
 * text does, and bytes pickled at protocols 0-2 (latin-1 text, every byte
 * above 7F a two-byte sequence). Per word, with each byte's flag in its top
 * bit: a continuation (10xxxxxx) must sit exactly after a lead (11xxxxxx),
 * and every lead must be C2..DF. A lead that ends the run is left to the
 * caller, so the run never ends inside a sequence. Returns i when not even
 * one word qualifies. */
static size_t two_byte_run(const uint8_t *s, size_t i, size_t len)
{
    uint64_t carry = 0; /* the last word ended with a lead: byte 0 continues it */

    while (len - i >= 8) {
        uint64_t w;

        memcpy(&w, s + i, sizeof(w));
        uint64_t top = w & SP_HIGH_BITS;
        uint64_t bit6 = (w << 1) & SP_HIGH_BITS;
        uint64_t bit5 = (w << 2) & SP_HIGH_BITS;
        uint64_t bits4to1 = ((w << 3) | (w << 4) | (w << 5) | (w << 6)) & SP_HIGH_BITS;
        uint64_t lead = top & bit6;
        uint64_t cont = top & ~bit6;

        /* 111xxxxx (longer sequences, F8..FF) or C0/C1 (overlong) */
        if ((lead & bit5) || (lead & ~bits4to1))
            break;
        if (cont != ((lead << 8) | carry))
            break;
        carry = lead >> 56;
        i += 8;
    }
    return carry ? i - 1 : i;
}

int sp_utf8_valid(const uint8_t *s, size_t len, int allow_surrogates)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        uint8_t lo = 0x80;
        uint8_t hi = 0xbf;
        size_t need;

        if (c < 0x80) {
            /* names and keys are mostly ASCII: skip eight bytes at a time */
            while (i + 8 <= len) {
                uint64_t word;

                memcpy(&word, s + i, sizeof(word));
                if (word & 0x8080808080808080ULL)
                    break;
                i += 8;
            }
            while (i < len && s[i] < 0x80)
                i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            size_t run = two_byte_run(s, i, len);

            if (run > i) {
                i = run;
                continue;
            }
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed && !allow_surrogates)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return 0;
        }
        if (len - i - 1 < need)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t j = 2; j <= need; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
        }
        i += need + 1;
    }
    return 1;
}

int sp_ascii_valid(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= 0x80)
            return 0;
    }
    return 1;
}

int sp_text_is_space(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

int sp_text_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The ASCII character int() puts in place of code point ch, 0 for one it
 * rejects. */
static uint8_t int_text_char(uint32_t ch)
{
    if (ch < 0x7f)
        return (uint8_t)ch;
    for (size_t i = 0; i < sizeof sp_unicode_spaces / sizeof sp_unicode_spaces[0]; i++)
        if (sp_unicode_spaces[i] == ch)
            return ' ';
    for (size_t i = 0; i < sizeof sp_decimal_runs / sizeof sp_decimal_runs[0]; i++)
        if (ch >= sp_decimal_runs[i].first && ch <= sp_decimal_runs[i].last)
            return (uint8_t)('0' + (sp_decimal_runs[i].digit + ch - sp_decimal_runs[i].first) % 10);
    return 0;
}

int sp_int_text_to_ascii(const uint8_t *s, size_t len, uint8_t *out, size_t *out_len)
{
    size_t n = 0;

    for (size_t i = 0; i < len;) {
        uint32_t ch = s[i];
        size_t k = ch < 0x80 ? 1 : ch < 0xe0 ? 2 : ch < 0xf0 ? 3 : 4;

        if (k > 1) {
            ch &= 0x3fu >> (k - 1);
            for (size_t j = 1; j < k && i + j < len; j++)
                ch = ch << 6 | (s[i + j] & 0x3fu);
        }
        i += k;
        out[n] = int_text_char(ch);
        if (out[n] == 0 && ch != 0)
            return 0;
        n++;
    }
    *out_len = n;
    return 1;
}
