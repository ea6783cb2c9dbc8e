"""Large blocks a scan keeps for the next one: reused, bounded, given back
before a guarded load, and never a source of stale state."""
import collections
import pickle
import subprocess
import sys

import pytest

import safepickle
from safepickle import _native

MB = 1024 * 1024
KEPT_MAX = 64 * MB


@pytest.fixture(autouse=True)
def nothing_kept():
    _native.release_memory()
    yield
    _native.release_memory()


def strings(n, tag="s"):
    # protocol 4 memoizes every str: the memo alone grows, 25 bytes a key.
    # The global at the end makes the machine read it: plain data alone is
    # walked without a memo of values (sp_plain.c).
    return pickle.dumps(["%s%d" % (tag, i) for i in range(n)] + [collections.OrderedDict()],
                        protocol=4)


def test_a_large_memo_is_kept_for_the_next_scan_and_reused():
    data = strings(300_000)
    first = _native.scan(data, None, False, report="verdict")
    kept = _native.kept_memory()
    assert 7 * MB < kept <= 16 * MB
    second = _native.scan(data, None, False, report="verdict")
    assert _native.kept_memory() == kept  # the same block again, not a second one
    assert first == second
    _native.release_memory()
    assert _native.kept_memory() == 0


def test_what_is_kept_is_bounded():
    # a memo of 3.5M keys needs about 90 MB: more than is ever kept
    _native.scan(strings(3_500_000), None, False, report="verdict")
    assert _native.kept_memory() <= KEPT_MAX


def test_a_reused_block_carries_nothing_into_the_next_scan():
    # the first scan sets memo keys 0..299999; the second sets 0..199999 in
    # the same block and then reads key 250000, which it never set: the
    # loader fails there, whatever the block still holds
    _native.scan(strings(300_000), None, False, report="verdict")
    assert _native.kept_memory() > 0
    body = b"\x8c\x01a\x94" * 200_000
    probe = b"\x80\x04(" + body + b"j" + (250_000).to_bytes(4, "little") + b"."
    after_reuse = _native.scan(probe, None, False)
    _native.release_memory()
    fresh = _native.scan(probe, None, False)
    assert after_reuse == fresh
    codes = [a["code"] for a in fresh["streams"][0]["anomalies"]]
    assert "MEMO_MISSING" in codes


def test_the_guard_gives_kept_memory_back_before_it_loads():
    data = strings(300_000)
    with safepickle.guarded():
        assert pickle.loads(data)[299_999] == "s299999"
    assert _native.kept_memory() == 0


def test_a_process_gives_back_what_it_kept():
    # run apart: the RSS of this process depends on every earlier test
    code = (
        "import pickle, re\n"
        "from safepickle import _native\n"
        "def rss():\n"
        "    s = open('/proc/self/status').read()\n"
        "    return int(re.search(r'VmRSS:\\s+(\\d+)', s).group(1)) * 1024\n"
        "import collections\n"
        "data = pickle.dumps(['s%d' % i for i in range(1_000_000)] + [collections.OrderedDict()],"
        " protocol=4)\n"
        "_native.scan(data, None, False, report='verdict')\n"
        "kept, before = _native.kept_memory(), rss()\n"
        "_native.release_memory()\n"
        "print(kept, before - rss())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kept, dropped = map(int, out.stdout.split())
    assert kept >= 24 * MB
    assert dropped >= kept // 2
