#!/usr/bin/env bash
# Check that every C file under csrc/ matches .clang-format.
# Usage: scripts/check-format.sh [FILE...]   (default: all of csrc/)
# Fix with: clang-format -i FILE...
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CLANG_FORMAT="${CLANG_FORMAT:-clang-format}"
if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
    echo "[format] error: $CLANG_FORMAT not found; install it with: apt-get install -y clang-format" >&2
    exit 1
fi

if [ "$#" -gt 0 ]; then
    files=("$@")
else
    mapfile -t files < <(find csrc -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
fi

# Formatting differs between clang-format releases; the reference is the
# one Debian ships (14).
echo "[format] $("$CLANG_FORMAT" --version) on ${#files[@]} files"
bad=()
for f in "${files[@]}"; do
    if ! "$CLANG_FORMAT" --dry-run --Werror "$f" >/dev/null 2>&1; then
        bad+=("$f")
    fi
done

if [ "${#bad[@]}" -gt 0 ]; then
    echo "[format] ${#bad[@]} file(s) not formatted:" >&2
    printf '  %s\n' "${bad[@]}" >&2
    echo "[format] fix with: $CLANG_FORMAT -i ${bad[*]}" >&2
    exit 1
fi
echo "[format] ok"
