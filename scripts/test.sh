#!/usr/bin/env bash
# The full test run, as CI runs it:
#   1. install (system packages, editable build)
#   2. pytest against the normal build
#   3. pytest again against an AddressSanitizer + UBSan build of the extension
#   4. libFuzzer on the C core for $FUZZ_SECONDS (default 120)
#   5. clang-format check
# Any failure stops the run with a non-zero exit status.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

PYTHON="${PYTHON:-python3}"
FUZZ_SECONDS="${FUZZ_SECONDS:-120}"
# Upper bounds so that a hang fails the run instead of stalling CI.
PYTEST_TIMEOUT="${PYTEST_TIMEOUT:-900}"

say() { printf '\n[test] === %s\n' "$*"; }

TIMINGS=()
phase_start=0
begin() {
    say "$1"
    phase_name="$1"
    phase_start=$(date +%s)
}
end() {
    TIMINGS+=("$(printf '%5d s  %s' $(($(date +%s) - phase_start)) "$phase_name")")
}

WORK=""
report() {
    local rc=$?
    [ -n "$WORK" ] && rm -rf "$WORK"
    echo
    echo "[test] phase timings:"
    [ "${#TIMINGS[@]}" -gt 0 ] && printf '[test]   %s\n' "${TIMINGS[@]}"
    if [ "$rc" -eq 0 ]; then
        echo "[test] ALL PASSED"
    else
        echo "[test] FAILED (exit status $rc) during: ${phase_name:-setup}" >&2
    fi
}
trap report EXIT

# pytest exits 5 when it collected nothing: an empty run is a failure here.
run_pytest() {
    local rc=0
    timeout -k 30 "$PYTEST_TIMEOUT" "$PYTHON" -m pytest -q "$@" || rc=$?
    case "$rc" in
        0) ;;
        5) echo "[test] error: pytest collected no tests" >&2; return 1 ;;
        124|137) echo "[test] error: pytest did not finish within $PYTEST_TIMEOUT s" >&2; return 1 ;;
        *) echo "[test] error: pytest failed (exit status $rc)" >&2; return 1 ;;
    esac
}

# ---- 1. install ---------------------------------------------------------------

begin "install"
bash scripts/install.sh
end

# ---- 2. tests, normal build ---------------------------------------------------

begin "pytest"
"$PYTHON" -c 'import safepickle._native as m; print("[test] using", m.__file__)'
run_pytest
end

# ---- 3. tests, sanitizer build ------------------------------------------------

begin "pytest under ASan+UBSan"
# The sanitized extension is built in a copy of the tree so the normal build
# stays untouched, and the suite runs from that copy: `python -m pytest`
# puts the working directory first on sys.path, so the copy's package is
# the one imported. ../shared is linked beside the copy so that tests find
# the corpus where they find it in the real tree.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/safepickle-sanitize.XXXXXX")"
SAN_TREE="$WORK/main"
mkdir -p "$SAN_TREE"
tar -C "$ROOT" -cf - \
    --exclude=./.git --exclude=./build --exclude='*.so' --exclude='*.egg-info' \
    --exclude=__pycache__ --exclude=.pytest_cache --exclude=.hypothesis . |
    tar -C "$SAN_TREE" -xf -
if [ -d "$ROOT/../shared" ]; then
    ln -s "$(cd "$ROOT/../shared" && pwd)" "$WORK/shared"
fi

(
    cd "$SAN_TREE"
    SAFEPICKLE_SANITIZE=1 CC=gcc "$PYTHON" -W ignore::FutureWarning setup.py -q build_ext --inplace \
        --build-temp "$WORK/build-temp" --build-lib "$WORK/build-lib"
)

# The interpreter is not instrumented, so the ASan runtime must be loaded
# before anything else; libubsan is preloaded as well so that its runtime
# starts with the process instead of at dlopen time.
libasan="$(gcc -print-file-name=libasan.so)"
libubsan="$(gcc -print-file-name=libubsan.so)"
for lib in "$libasan" "$libubsan"; do
    [ -f "$lib" ] || { echo "[test] error: $lib not found (gcc sanitizer runtime)" >&2; exit 1; }
done

(
    cd "$SAN_TREE"
    export LD_PRELOAD="$libasan $libubsan"
    # CPython's own allocations are not freed at exit: leak reports would
    # be noise. Absurd allocation sizes (the tests feed pickle.loads memo
    # indexes near 2**40) must fail with NULL / MemoryError as they do
    # without ASan. Any other report aborts the process, failing pytest.
    export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    # Route Python objects through malloc so ASan also sees overruns of
    # buffers the extension receives from or hands to Python.
    export PYTHONMALLOC=malloc
    # Fewer random examples per property: see tests/budget.py.
    export SAFEPICKLE_EXAMPLES_SCALE=0.25
    # Subprocesses started by the tests import the same copy.
    export PYTHONPATH="$SAN_TREE${PYTHONPATH:+:$PYTHONPATH}"

    native="$("$PYTHON" -c 'import safepickle._native as m; print(m.__file__)')"
    echo "[test] using $native"
    case "$native" in
        "$SAN_TREE"/*) ;;
        *) echo "[test] error: the sanitized extension is not the one imported" >&2; exit 1 ;;
    esac
    # Not `ldd | grep -q`: with pipefail, grep quitting early fails the pipe.
    if [[ "$(env -u LD_PRELOAD ldd "$native")" != *libasan* ]]; then
        echo "[test] error: $native is not linked with ASan" >&2
        exit 1
    fi
    # pytest's default fd-level capture would swallow a sanitizer report
    # together with the process it aborts; capture sys.stdout/err only.
    run_pytest -p no:cacheprovider --capture=sys
)
rm -rf "$WORK"
WORK=""
end

# ---- 4. fuzzing ---------------------------------------------------------------

begin "fuzz ${FUZZ_SECONDS} s"
bash scripts/fuzz.sh "$FUZZ_SECONDS"
end

# ---- 5. formatting ------------------------------------------------------------

begin "clang-format check"
bash scripts/check-format.sh
end
phase_name="done"
