"""Differential tests of the C text parsers against CPython's own loader.

Each parser in csrc/core/sp_text.c must accept exactly the lines that
pickle.loads accepts for the matching opcode, and produce the same value:
any difference would let a pickle mean one thing to the scanner and another
to the loader. Feeding these lines to pickle.loads is safe because the
number and string opcodes never import or call anything.
"""

import codecs
import collections
import math
import pickle
import struct
import sys
import warnings
from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.budget import scaled

from safepickle import _native

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# Inputs compared per parser, printed in the run summary.
COUNTS = collections.Counter()

SETTINGS = settings(
    max_examples=scaled(2000),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module", autouse=True)
def _report_counts(summary):
    yield
    if COUNTS:
        summary.append(
            "text parsers vs pickle.loads: "
            + ", ".join("%s %d" % kv for kv in sorted(COUNTS.items()))
            + " inputs compared"
        )


def loads(data, **kwargs):
    """("ok", value) or ("err", exception) from the real loader."""
    with warnings.catch_warnings():
        # Unknown escapes warn; by default that does not stop the load.
        warnings.simplefilter("ignore")
        try:
            return "ok", pickle.loads(data, **kwargs)
        except Exception as exc:  # the loader's verdict is what we compare
            return "err", exc


def decimal_text(value):
    """str(value) as bytes, even past int's digit limit (which only guards
    the loader's parsing, and must stay on for it)."""
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return str(int(value)).encode()
    finally:
        sys.set_int_max_str_digits(old)


def short_id(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:30] + "...(%d bytes)" % len(value)


# ---- oracles ------------------------------------------------------------------


def check_int(line):
    ok, big, value, is_bool, noncanonical = _native._text_parse_int_line(line)
    status, want = loads(b"I" + line + b"\n.")
    COUNTS["INT"] += 1
    assert ok == (status == "ok"), (line, want)
    if not ok:
        return
    assert is_bool == (type(want) is bool), line
    assert big == (not INT64_MIN <= want <= INT64_MAX), line
    if not big:
        assert value == want, line
    if is_bool:
        canonical = line == (b"01" if want else b"00")
    else:
        canonical = line == decimal_text(want)
    assert noncanonical == (not canonical), line


def check_long(line):
    ok, big, value, is_bool, noncanonical = _native._text_parse_long_line(line)
    status, want = loads(b"L" + line + b"\n.")
    COUNTS["LONG"] += 1
    assert ok == (status == "ok"), (line, want)
    assert not is_bool
    if not ok:
        return
    assert type(want) is int
    assert big == (not INT64_MIN <= want <= INT64_MAX), line
    if not big:
        assert value == want, line
    assert noncanonical == (line != decimal_text(want) + b"L"), line


def index_oracle(line):
    """The index GET would look up, or None when GET rejects the text.

    The memo is empty, so a well-formed index always fails the lookup and
    the message names the index the loader parsed."""
    status, exc = loads(b"g" + line + b"\n.")
    assert status == "err"
    prefix = "Memo value not found at index "
    if isinstance(exc, pickle.UnpicklingError) and str(exc).startswith(prefix):
        return int(str(exc)[len(prefix) :])
    assert isinstance(exc, (ValueError, OverflowError, pickle.UnpicklingError)), exc
    return None


def check_index(line):
    ok, big, value, _, noncanonical = _native._text_parse_index_line(line)
    want = index_oracle(line)
    COUNTS["GET/PUT"] += 1
    assert ok == (want is not None), (line, want)
    if ok:
        assert not big
        assert value == want, line
        assert noncanonical == (want < 0 or line != decimal_text(want)), line
    # PUT parses the same way; only try it where it cannot allocate a huge
    # memo (the parse fails, or the index is small).
    if not ok or 0 <= value < 1000:
        status, _ = loads(b"N" + b"p" + line + b"\n.")
        assert (status == "ok") == (ok and value >= 0), line


def same_float(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b) and math.copysign(1, a) == math.copysign(1, b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def check_float(line):
    ok, value, noncanonical = _native._text_parse_float_line(line)
    status, want = loads(b"F" + line + b"\n.")
    COUNTS["FLOAT"] += 1
    assert ok == (status == "ok"), (line, want)
    if ok:
        assert same_float(value, want), (line, value, want)
        assert noncanonical == (line != repr(want).encode()), line


def native_decode_escape(data):
    try:
        return "ok", _native._text_decode_escape(data)
    except ValueError:
        return "err", None


def check_string(body):
    got = native_decode_escape(body)
    COUNTS["STRING"] += 1
    if b"\n" in body:
        # Not reachable through a pickle line; the codec runs the same C.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                want = "ok", codecs.escape_decode(body)[0]
            except ValueError:
                want = "err", None
        assert got == want, body
        return
    for quote in (b"'", b'"'):
        status, value = loads(b"S" + quote + body + quote + b"\n.", encoding="bytes")
        assert got[0] == status, (body, value)
        if status == "ok":
            assert got[1] == value, body


def native_raw_unicode(data):
    try:
        return "ok", _native._text_decode_raw_unicode_escape(data)
    except ValueError:
        return "err", None


def check_unicode(line):
    got = native_raw_unicode(line)
    COUNTS["UNICODE"] += 1
    if b"\n" in line:
        try:
            want = "ok", codecs.raw_unicode_escape_decode(line)[0]
        except UnicodeDecodeError:
            want = "err", None
    else:
        status, value = loads(b"V" + line + b"\n.")
        want = (status, value if status == "ok" else None)
    assert got == want, line


def check_utf8(data):
    COUNTS["UTF-8"] += 1
    for handler, allow in (("strict", False), ("surrogatepass", True)):
        try:
            data.decode("utf-8", handler)
            want = True
        except UnicodeDecodeError:
            want = False
        assert _native._text_utf8_valid(data, allow) == want, (data, handler)
    assert _native._text_ascii_valid(data) == data.isascii()


# ---- strategies ---------------------------------------------------------------

NUMBER_TOKENS = [
    b"0", b"1", b"2", b"7", b"8", b"9", b"00", b"01", b"10", b"9" * 19, b"_", b"__",
    b"+", b"-", b" ", b"\t", b"\x0b", b"\x0c", b"\r", b"\x1c", b"\xa0", b"\x00",
    b"x", b"X", b"o", b"O", b"b", b"B", b"0x", b"0X", b"0o", b"0b", b"a", b"f", b"F",
    b"g", b"L", b"l", b".", b"e", b"E", b"e-", b"e+", b"inf", b"INF", b"infinity",
    b"nan", b"NaN", b"in", b"j", b"\xff", b"\x80", b"7fffffffffffffff", b"9223372036854775807",
    b"9223372036854775808", b"18446744073709551616", b"2147483648",
]  # fmt: skip

ESCAPE_TOKENS = [
    b"\\", b"\\\\", b"'", b'"', b"\\'", b'\\"', b"a", b"b", b"f", b"n", b"r", b"t", b"v",
    b"x", b"X", b"0", b"1", b"3", b"4", b"7", b"8", b"9", b"\\x", b"\\x4", b"\\x41", b"\\xg",
    b"\\xFf", b"\\0", b"\\377", b"\\400", b"\\777", b"\\8", b"\\q", b"\\\n", b"\n", b"u", b"U",
    b"\\u", b"\\U", b"\\u0041", b"\\ud800", b"\\udfff", b"\\U0001f600", b"\\U0010ffff",
    b"\\U00110000", b"\\Uffffffff", b"D8", b"00", b"0000", b"\x00", b"\x7f", b"\x80", b"\xff",
    b"\xe9", b" ",
]  # fmt: skip


def token_lines(tokens, max_size=10, newline=False):
    line = st.lists(st.sampled_from(tokens), max_size=max_size).map(b"".join)
    raw = st.binary(max_size=12)
    both = st.one_of(line, line, line, raw)
    if newline:
        return both
    return both.map(lambda b: b.replace(b"\n", b""))


number_lines = token_lines(NUMBER_TOKENS)

# Decimal strings with many digits: exercise the exact rounding path and the
# digit limit of int().
long_digit_lines = st.builds(
    lambda sign, digits, point, exp: sign + digits[:point] + b"." + digits[point:] + exp,
    st.sampled_from([b"", b"-", b"+"]),
    st.text("0123456789", min_size=1, max_size=900).map(str.encode),
    st.integers(0, 900),
    st.sampled_from([b"", b"e-320", b"e300", b"e-5", b"E+17", b"e0"]),
)


# ---- known tricky lines -------------------------------------------------------

TRICKY_NUMBERS = [
    b"", b"0", b"1", b"-1", b"0x10", b"0X10", b" 1", b"1 ", b"+1", b"-0", b"+0", b"1_0", b"1\x00junk",
    b"\x00", b"\x00\x00", b"\x001", b" \x00", b"+\x00", b"01", b"00", b"0_0", b"0_1", b"1__0",
    b"_1", b"1_", b"0x_1f", b"0x__1f", b"0x", b"0b", b"0o", b"0b1", b"0o17", b"0O17", b"0B11",
    b"010", b"08", b"09", b"0777777777777777777777777", b"0x7fffffffffffffff",
    b"0x8000000000000000", b"-0x8000000000000000", b"9" * 30, b"-9223372036854775808",
    b"-9223372036854775809", b"9223372036854775807", b"9223372036854775808", b"12L",
    b"12", b"-12L", b"0o17L", b"L", b"LL", b"1LL", b"1 L", b"1L ", b"0L", b"-0L", b"00L",
    b"010L", b"1\x00L", b"\x00L", b"1e5", b"1E5", b"1e", b"1e+", b"1e-", b"1e+5", b"1e-5",
    b"1.", b".5", b".", b"-.5", b"+.5", b"inf", b"-inf", b"+inf", b"INF", b"Infinity",
    b"infinity", b"infin", b"infinityy", b"nan", b"-nan", b"+nan", b"NaN", b"nan\x00",
    b"nanx", b" 1.0", b"1.0 ", b"1.0\t", b"1_0.0", b"1.0_0", b"0x1p3", b"1e400", b"-1e400",
    b"1e-400", b"1e-320", b"2.4703282292062327e-324", b"2.4703282292062328e-324",
    b"1.7976931348623157e308", b"1.7976931348623158e308", b"1.7976931348623159e308",
    b"9007199254740993", b"0.1", b"1e16", b"1e+16", b"1e-05", b"0.0001", b"1e-4",
    b"1000000000000000.0", b"10000000000000000.0", b"1.0", b"-0.0", b"0.0", b"0", b"00.0",
    b"1e0000000000000000000005", b"1e99999999999", b"1e-99999999999", b"0e99999999999",
    b"\t1", b"\x0b1", b"\x0c1", b"\r1", b"1\r", b"\x1c1", b"1\x1c", b"\xa01", b"1\xa0",
    b"0" * 4300, b"0" * 4301, b"1" * 4300, b"1" * 4301, b"1_" * 4300 + b"1",
    b"0" * 5000 + b"L", b"0x" + b"1" * 5000, b"0b" + b"1" * 5000, b"0o" + b"7" * 5000,
    b"-" + b"9" * 4300, b"0." + b"0" * 5000 + b"1", b"1" * 5000 + b".0",
]  # fmt: skip

TRICKY_ESCAPES = [
    b"", b"\\", b"a\\", b"\\\\", b"\\'", b'\\"', b"\\a\\b\\f\\n\\r\\t\\v", b"\\\n",
    b"\\0", b"\\00", b"\\000", b"\\0000", b"\\101", b"\\377", b"\\400", b"\\777", b"\\8",
    b"\\9", b"\\q", b"\\x", b"\\x4", b"\\x41", b"\\x4g", b"\\xG1", b"\\xff", b"\\XFF",
    b"\\u0041", b"\\N{DASH}", b"'", b"\"", b"'\"", b"\x00", b"\\\x00", b"\\\xff", b"\xff",
]  # fmt: skip

TRICKY_RAW_UNICODE = [
    b"", b"\\", b"ab\\", b"\\\\", b"\\\\u0041", b"\\\\\\u0041", b"\\u0041", b"\\U00000041",
    b"\\u004", b"\\u00", b"\\u", b"\\U", b"\\U0010ffff", b"\\U00110000", b"\\Uffffffff",
    b"\\ud800", b"\\udfff", b"\\ud83d\\ude00", b"\\uD800", b"\\u00e9", b"\\x41", b"\\n",
    b"\\u004g", b"\\U0001F60", b"\xff", b"\x80\x00", b"\\\xff", b"\\U0001f600x",
]  # fmt: skip

TRICKY_UTF8 = [
    b"", b"a", b"\xc2\x80", b"\xc1\xbf", b"\xc0\x80", b"\xdf\xbf", b"\xe0\x9f\xbf",
    b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xee\x80\x80",
    b"\xef\xbf\xbf", b"\xf0\x8f\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf",
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\x80", b"\xe0\xa0", b"\xed\xa0",
    b"\xed\xa0\x41", b"\xf0\x90\x80", b"\xed\xa0\x80\xed\xb0\x80",
]  # fmt: skip


@pytest.mark.parametrize("line", TRICKY_NUMBERS, ids=short_id)
def test_tricky_numbers(line):
    check_int(line)
    check_long(line)
    check_index(line)
    check_float(line)


@pytest.mark.parametrize("body", TRICKY_ESCAPES, ids=short_id)
def test_tricky_escapes(body):
    check_string(body)


@pytest.mark.parametrize("line", TRICKY_RAW_UNICODE, ids=short_id)
def test_tricky_raw_unicode(line):
    check_unicode(line)


@pytest.mark.parametrize("data", TRICKY_UTF8, ids=short_id)
def test_tricky_utf8(data):
    check_utf8(data)


def test_bool_lines():
    # Bool only when strtol took the whole 2-byte line and gave 0 or 1.
    assert _native._text_parse_int_line(b"01")[3]
    assert _native._text_parse_int_line(b"+1")[3]
    assert _native._text_parse_int_line(b"\x00\x00")[3]
    assert not _native._text_parse_int_line(b"0_0")[3]
    assert not _native._text_parse_int_line(b"1")[3]
    assert not _native._text_parse_int_line(b"001")[3]


def test_canonical_forms_written_by_pickler():
    for value in (0, 1, -1, 7, -2**31, 2**31 - 1, 10**30, -(10**30), True, False):
        data = pickle.dumps(value, protocol=0)
        line = data[1 : data.index(b"\n")]
        if data[:1] == b"I":
            assert not _native._text_parse_int_line(line)[4], data
        else:
            assert data[:1] == b"L"
            assert not _native._text_parse_long_line(line)[4], data
    for value in (0.0, -0.0, 1.5, 1e16, 1e-5, 0.1, 1 / 3, 5e-324, math.inf, -math.inf, math.nan):
        data = pickle.dumps(value, protocol=0)
        assert data[:1] == b"F"
        line = data[1 : data.index(b"\n")]
        assert _native._text_parse_float_line(line)[2] is False, data


# ---- properties ---------------------------------------------------------------


@SETTINGS
@given(number_lines)
def test_int_lines(line):
    check_int(line)


@SETTINGS
@given(number_lines)
def test_long_lines(line):
    check_long(line)


@SETTINGS
@given(number_lines)
def test_index_lines(line):
    check_index(line)


@SETTINGS
@given(number_lines)
def test_float_lines(line):
    check_float(line)


@pytest.mark.parametrize("line", [
    b"0.0", b"-0.0", b"0.00", b"00.5", b"0.10", b"1.", b".5", b"1.0", b"10.0", b"100.0", b"100.50",
    b"0.0001", b"0.00012", b"0.00001", b"-0.0001", b"1e-05", b"1e+16", b"1000000000000000.0",
    b"10000000000000000.0", b"123456789012345.0", b"1234567890123456.0", b"123456789012345.6",
    b"0.123456789012345", b"0.1234567890123456", b"9999999999999998.0", b"0.30000000000000004",
    b"5e-324", b"2.2250738585072014e-308", b"+1.5", b"1.5 ", b"-", b"-.5",
])
def test_float_lines_near_the_plain_repr_shape(line):
    # the shapes repr writes in fixed notation, and their near misses
    check_float(line)


@SETTINGS
@given(long_digit_lines)
def test_long_digit_lines(line):
    check_int(line.replace(b".", b""))
    check_float(line)


@SETTINGS
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_float_repr_round_trip(value):
    text = repr(value).encode()
    ok, got, noncanonical = _native._text_parse_float_line(text)
    assert ok and same_float(got, value if not math.isnan(value) else math.nan)
    assert not noncanonical
    for fmt in ("%.17g", "%.20e", "%.3f", "%r"):
        check_float((fmt % value).encode())


@SETTINGS
@given(
    st.floats(min_value=0.0, max_value=1.7e308, allow_nan=False),
    st.sampled_from([-1, 0, 1]),
)
def test_float_halfway_cases(x, nudge):
    # The midpoint between two doubles needs hundreds of digits; nudging it
    # by one unit far past the last digit decides the rounding, which a
    # parser that drops digits gets wrong.
    with localcontext() as ctx:
        ctx.prec = 2500
        mid = (Decimal(x) + Decimal(math.nextafter(x, math.inf))) / 2
        tiny = Decimal((0, (1,), mid.as_tuple().exponent - 5))
        text = mid + nudge * tiny
        for form in (str(text), "{:f}".format(text), "{:e}".format(text)):
            check_float(form.encode())


@SETTINGS
@given(st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from(["d", "x", "o", "b"]))
def test_int_text_forms(value, base):
    body = format(abs(value), base)
    prefix = "" if base == "d" else "0" + base
    sign = "-" if value < 0 else ""
    for text in (sign + prefix + body, sign + "0" + body, "+" + prefix + body,
                 sign + prefix + "_".join(body)):  # fmt: skip
        line = text.encode()
        check_int(line)
        check_long(line)
        check_long(line + b"L")
        check_index(line)


@SETTINGS
@given(token_lines(ESCAPE_TOKENS, max_size=12, newline=True))
def test_string_escapes(body):
    check_string(body)


@SETTINGS
@given(token_lines(ESCAPE_TOKENS, max_size=12, newline=True))
def test_raw_unicode_escapes(line):
    check_unicode(line)


UTF8_PIECES = [bytes([b]) for b in (0x41, 0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
                                     0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0x9F, 0xA0, 0x8F, 0x90)]  # fmt: skip


@SETTINGS
@given(st.one_of(token_lines(UTF8_PIECES, max_size=8, newline=True),
                 st.text().map(lambda s: s.encode("utf-8", "surrogatepass"))))  # fmt: skip
def test_utf8(data):
    check_utf8(data)


@SETTINGS
@given(st.text(max_size=20))
def test_string_round_trip(text):
    # What the pickler writes for a protocol 0 str, and the escaped form of a
    # Python 2 str, must decode to the original.
    data = pickle.dumps(text, protocol=0)
    assert data[:1] == b"V"
    line = data[1 : data.index(b"\n")]
    check_unicode(line)
    assert _native._text_decode_raw_unicode_escape(line) == text
    raw = text.encode("latin-1", "replace")
    escaped = repr(raw)[2:-1].encode()
    check_string(escaped)
    assert _native._text_decode_escape(escaped) == raw


def test_negative_nan_sign():
    ok, value, noncanonical = _native._text_parse_float_line(b"-nan")
    assert ok and noncanonical
    assert struct.pack("<d", value)[7] & 0x80


# Long strings: validation takes runs of ASCII and two-byte sequences eight
# bytes at a time, so what matters is where a sequence falls against the
# eight-byte words (a lead as a word's last byte, a continuation as the next
# word's first, a bad byte at every offset).
LONG_UTF8_PIECES = [
    b"a", b"\x00", b"\x7f", b"\xc2\x80", b"\xc3\xa9", b"\xdf\xbf", b"\xe2\x80\x94",
    b"\xed\xa0\x80", b"\xf0\x9f\x98\x80", b"\x80", b"\xbf", b"\xc2", b"\xdf", b"\xc0\x80",
    b"\xc1\xbf", b"\xe0\x80", b"\xf5", b"\xff",
]  # fmt: skip


def _latin1_as_utf8(rng, n):
    return bytes(rng.randrange(256) for _ in range(n)).decode("latin-1").encode("utf-8")


def test_utf8_long_strings_at_every_word_offset():
    import random

    rng = random.Random(20261122)
    valid = LONG_UTF8_PIECES[:9]
    cases = []
    for _ in range(1500):
        # mostly valid text, which the word path takes, with one odd piece
        pieces = [rng.choice(valid[:5]) for _ in range(rng.randrange(4, 40))]
        pieces.insert(rng.randrange(len(pieces) + 1), rng.choice(LONG_UTF8_PIECES))
        cases.append(b"".join(pieces))
    for _ in range(500):
        text = _latin1_as_utf8(rng, rng.randrange(1, 120))
        cases.append(text)
        cut = rng.randrange(len(text) + 1)
        cases.append(text[:cut] + bytes([rng.randrange(256)]) + text[cut:])
        cases.append(text[:cut] + text[cut + 1 :])
    for lead_at in range(24):
        cases.append(b"a" * lead_at + b"\xc3")
        cases.append(b"a" * lead_at + b"\xc3\xa9" + b"b" * 9)
        cases.append(b"\xc3\xa9" * 12 + b"a" * lead_at + b"\x80")
    for data in cases:
        check_utf8(data)
    assert sum(1 for d in cases if _native._text_utf8_valid(d, False)) > 1000
