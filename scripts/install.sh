#!/usr/bin/env bash
# Install everything SafePickle needs to build, test and fuzz, then install
# the package itself in editable mode with its test dependencies and the
# peer scanners the comparison tests run and the libraries the training-corpus
# generator saves models with (extras test, eval and train).
# Safe to run again: only what is missing gets installed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"

# Build: C libraries the core links. Fuzzing and format check: clang tools.
# Tests and training: the time zone database zoneinfo reads (tz-aware
# datetimes are everyday pickles, in the benign corpus and the tests).
APT_PACKAGES=(
    pkg-config
    libxgboost-dev
    libzip-dev
    zlib1g-dev
    libbz2-dev
    liblzma-dev
    liblz4-dev
    libzstd-dev
    clang
    libclang-rt-14-dev
    clang-format
    tzdata
)

say() { printf '[install] %s\n' "$*"; }

install_system_packages() {
    if ! command -v dpkg >/dev/null 2>&1; then
        say "dpkg not found: not a Debian system, skipping system packages."
        say "The build needs: ${APT_PACKAGES[*]} (Debian names)."
        return 0
    fi
    local missing=()
    local pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        if ! dpkg -s "$pkg" >/dev/null 2>&1; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        say "system packages already installed: ${APT_PACKAGES[*]}"
        return 0
    fi
    say "missing system packages: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "[install] error: need root (or sudo) to run: apt-get install -y ${missing[*]}" >&2
            exit 1
        fi
    fi
    say "apt-get update"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    say "apt-get install -y --no-install-recommends ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

install_build_tools() {
    # The editable install runs without build isolation so that it needs no
    # network when everything is present; setuptools must then support
    # PEP 660 editable wheels (>= 64) and the wheel package must exist.
    if "$PYTHON" - <<'EOF'
import sys
try:
    import setuptools, wheel  # noqa: F401
except ImportError:
    sys.exit(1)
sys.exit(0 if int(setuptools.__version__.split(".")[0]) >= 64 else 1)
EOF
    then
        say "setuptools and wheel already usable"
    else
        say "pip install 'setuptools>=64' wheel"
        "$PYTHON" -m pip install -q "setuptools>=64" wheel
    fi
}

install_package() {
    say "pip install --no-build-isolation -e '.[test,eval,train]' (builds safepickle._native)"
    "$PYTHON" -m pip install -q --no-build-isolation -e ".[test,eval,train]"
    local native
    native="$("$PYTHON" -c 'import safepickle._native as m; print(m.__file__)')"
    say "extension built: $native"
}

install_torch() {
    # The zip reader's tests compare it with torch.load itself. Pinned: an
    # unpinned install would pull the CUDA build.
    if "$PYTHON" -c "import torch" >/dev/null 2>&1; then
        say "torch already installed"
    else
        say "pip install torch==2.13.0"
        "$PYTHON" -m pip install -q torch==2.13.0
    fi
}

install_system_packages
install_build_tools
install_package
install_torch
say "done"
