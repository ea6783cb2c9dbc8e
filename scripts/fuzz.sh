#!/usr/bin/env bash
# Fuzz the C core (scan, features, verdict) with libFuzzer + ASan + UBSan.
# Usage: scripts/fuzz.sh [SECONDS]   (default: $FUZZ_SECONDS, else 120)
#
# Builds build/fuzz/fuzz_scan, seeds a corpus with pickles of every protocol
# and the raw pickles of the shared corpus, and fuzzes for SECONDS. Exits
# non-zero on any crash, leak, timeout or out-of-memory; the input that
# triggered it is kept in build/fuzz/artifacts/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

SECONDS_TO_RUN="${1:-${FUZZ_SECONDS:-120}}"
if ! [[ "$SECONDS_TO_RUN" =~ ^[0-9]+$ ]] || [ "$SECONDS_TO_RUN" -le 0 ]; then
    echo "usage: $0 SECONDS (a positive number of seconds)" >&2
    exit 2
fi

CC_FUZZ="${FUZZ_CC:-clang}"
PYTHON="${PYTHON:-python3}"
SHARED_CORPUS="${SHARED_CORPUS:-$ROOT/../shared/corpus}"
OUT="$ROOT/build/fuzz"
ARTIFACTS="$OUT/artifacts"
JOBS="$(nproc 2>/dev/null || echo 2)"

say() { printf '[fuzz] %s\n' "$*"; }
die() { printf '[fuzz] error: %s\n' "$*" >&2; exit 1; }

# ---- toolchain and libraries ------------------------------------------

command -v "$CC_FUZZ" >/dev/null 2>&1 ||
    die "$CC_FUZZ not found; install it with: apt-get install -y clang libclang-rt-14-dev"
command -v pkg-config >/dev/null 2>&1 ||
    die "pkg-config not found; install it with: apt-get install -y pkg-config"

# Same libraries as setup.py: the core links them, so the fuzzer must too.
PC_MODULES=(libzip zlib liblzma liblz4 libzstd xgboost)
declare -A PC_DEBIAN=(
    [libzip]=libzip-dev [zlib]=zlib1g-dev [liblzma]=liblzma-dev
    [liblz4]=liblz4-dev [libzstd]=libzstd-dev [xgboost]=libxgboost-dev
)
missing=()
for m in "${PC_MODULES[@]}"; do
    pkg-config --exists "$m" || missing+=("${PC_DEBIAN[$m]}")
done
echo '#include <bzlib.h>' | "$CC_FUZZ" -E -x c - -o /dev/null 2>/dev/null || missing+=(libbz2-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    die "missing system libraries; install them with: apt-get install -y ${missing[*]}"
fi
read -r -a LIB_CFLAGS <<<"$(pkg-config --cflags "${PC_MODULES[@]}")"
read -r -a LIB_LIBS <<<"$(pkg-config --libs "${PC_MODULES[@]}") -lbz2"

# ---- build ----------------------------------------------------------------

SAN_FLAGS=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
CFLAGS=(-std=c11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter
    -Icsrc/core "${SAN_FLAGS[@]}" "${LIB_CFLAGS[@]}")

mkdir -p "$OUT/obj" "$ARTIFACTS"
rm -f "$OUT"/obj/*.o

shopt -s nullglob
sources=(csrc/fuzz/fuzz_scan.c csrc/core/*.c)
shopt -u nullglob
[ "${#sources[@]}" -gt 1 ] || die "no C sources in csrc/core/"
say "building $OUT/fuzz_scan from ${#sources[@]} files with $("$CC_FUZZ" --version | head -n1)"
build_start=$(date +%s)
# One object per source, $JOBS at a time; the object is named after its path
# so that equal basenames in different folders cannot collide.
printf '%s\n' "${sources[@]}" |
    xargs -P "$JOBS" -I{} sh -c 'o="$1/obj/$(echo "$2" | tr / _).o"; shift 2; exec "$@" -c "$0" -o "$o"' \
        {} "$OUT" {} "$CC_FUZZ" "${CFLAGS[@]}" ||
    die "compilation failed"
"$CC_FUZZ" "${SAN_FLAGS[@]}" "$OUT"/obj/*.o "${LIB_LIBS[@]}" -o "$OUT/fuzz_scan" ||
    die "link failed"
say "built in $(($(date +%s) - build_start)) s"

# ---- seed corpus ----------------------------------------------------------

CORPUS="$(mktemp -d "${TMPDIR:-/tmp}/safepickle-fuzz-corpus.XXXXXX")"
trap 'rm -rf "$CORPUS"' EXIT

"$PYTHON" - "$CORPUS" <<'EOF'
import collections, datetime, decimal, fractions, hashlib, pathlib, pickle, sys

out = pathlib.Path(sys.argv[1])
shared = [1, 2]
objects = [
    None, True, False, 0, 1, -1, 255, 256, 65535, 2**31 - 1, -2**31, 2**63, -2**100, 10**40,
    0.0, -1.5, 1e308, float("inf"), float("nan"),
    "", "ascii", "caf\u00e9 \u2603 \U0001f600", "x" * 300, "\x00 nul",
    b"", b"\x00\xff" * 10, b"y" * 300, bytearray(b"abc"),
    (), (1,), (1, 2), (1, 2, 3), tuple(range(10)),
    [], [1, [2, [3, [4]]]], list(range(100)), [shared, shared],
    {}, {"a": 1, "b": [1.5, 2.5]}, {i: str(i) for i in range(50)},
    set(), {1, 2, 3}, frozenset({"a", "b"}), complex(1, 2),
    collections.OrderedDict(a=1), collections.defaultdict(list, {"k": [1]}),
    collections.Counter("hello"), decimal.Decimal("3.14"), fractions.Fraction(1, 3),
    datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.date(2020, 2, 29), range(3), slice(1, 2),
    {"weights": [0.1] * 20, "meta": {"name": "model", "layers": (3, 4)}},
]
n = 0
for proto in range(pickle.HIGHEST_PROTOCOL + 1):
    for obj in objects:
        data = pickle.dumps(obj, protocol=proto)
        (out / f"gen-p{proto}-{hashlib.sha1(data).hexdigest()[:12]}").write_bytes(data)
        n += 1
    # Pickles back to back, as repeated pickle.dump calls write them.
    both = pickle.dumps([1, 2], protocol=proto) + pickle.dumps({"a": 1}, protocol=proto)
    (out / f"gen-p{proto}-multi").write_bytes(both)
    n += 1
print(f"[fuzz] generated {n} seed pickles (protocols 0..{pickle.HIGHEST_PROTOCOL})")
EOF

cp examples/*.pkl "$CORPUS"/ 2>/dev/null || true

if [ -f "$SHARED_CORPUS/MANIFEST.tsv" ]; then
    # Copies, read-only use: the shared corpus is never modified.
    copied=$(
        # every file the fuzzer can take whole: pickles and the containers
        # (zip, npy, compressed) whose readers the target runs too
        awk -F'\t' 'NR > 1 && $3 + 0 <= 65536 { print $1 }' "$SHARED_CORPUS/MANIFEST.tsv" |
            while IFS= read -r rel; do
                src="$SHARED_CORPUS/$rel"
                [ -f "$src" ] || continue
                cp "$src" "$CORPUS/shared-$(basename "$rel")" && echo x
            done | wc -l
    )
    say "copied $copied files of at most 64 KiB from $SHARED_CORPUS"
else
    say "no shared corpus at $SHARED_CORPUS: generated seeds only"
fi
say "seed corpus: $(find "$CORPUS" -type f | wc -l) files"

# ---- fuzz -----------------------------------------------------------------

LOG="$OUT/fuzz.log"
say "fuzzing for $SECONDS_TO_RUN s (log: $LOG, artifacts: $ARTIFACTS/)"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
rc=0
# The outer timeout is only a safety net should the fuzzer itself wedge.
timeout -k 30 $((SECONDS_TO_RUN + 300)) \
    "$OUT/fuzz_scan" \
    -max_total_time="$SECONDS_TO_RUN" \
    -rss_limit_mb=2048 \
    -timeout=10 \
    -max_len=65536 \
    -print_final_stats=1 \
    -artifact_prefix="$ARTIFACTS/" \
    "$CORPUS" >"$LOG" 2>&1 || rc=$?

grep -E '^(INFO: seed corpus|#[0-9]+[[:space:]]+(INITED|DONE))|^(stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb)' "$LOG" || true
if [ "$rc" -ne 0 ]; then
    echo "[fuzz] FAILED with exit status $rc; end of the log:" >&2
    tail -n 80 "$LOG" >&2
    echo "[fuzz] artifacts:" >&2
    ls -l "$ARTIFACTS" >&2 || true
    echo "[fuzz] reproduce with: $OUT/fuzz_scan $ARTIFACTS/<file>" >&2
    exit 1
fi
say "ok: no crash, leak or timeout in $SECONDS_TO_RUN s"
