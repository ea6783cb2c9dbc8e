#!/usr/bin/env bash
# Main job: install SafePickle, then scan the bundled example pickles, once
# as text and once as JSON. examples/ holds a malicious pickle on purpose, so
# the expected outcome of each scan is exit status 1 ("unsafe found").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"

bash scripts/install.sh

# pip puts console scripts next to the interpreter, which is not always on
# PATH (pyenv shims, user installs).
scripts_dir="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
export PATH="$scripts_dir:$PATH"
if ! command -v safepickle >/dev/null 2>&1; then
    echo "[run] error: the safepickle command was not installed in $scripts_dir" >&2
    exit 1
fi

# Exit 0 (all benign) would mean the malicious example went unnoticed.
scan() {
    echo "[run] safepickle scan $*"
    local rc=0
    safepickle scan "$@" || rc=$?
    case "$rc" in
        1) echo "[run] exit 1: unsafe input reported, as expected for examples/malicious_reduce.pkl" ;;
        0) echo "[run] error: exit 0, the malicious example was not reported" >&2; exit 1 ;;
        *) echo "[run] error: safepickle scan failed with exit status $rc" >&2; exit 1 ;;
    esac
}

# A directory scan takes the model files in it and skips examples/README.md.
scan examples/
scan --json examples/
echo "[run] done"
