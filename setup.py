"""Build of the `safepickle._native` extension.

Project metadata lives in pyproject.toml; this file only describes the C
extension, because its compiler flags and system libraries are decided at
build time.

Environment switches:
  SAFEPICKLE_SANITIZE=1  AddressSanitizer + UBSan build (for the test suite)
  SAFEPICKLE_DEBUG=1     unoptimised build with assertions enabled
"""

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from glob import glob

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))

# Libraries found through pkg-config: (pkg-config name, Debian package).
PKGCONFIG_LIBS = [
    ("libzip", "libzip-dev"),
    ("zlib", "zlib1g-dev"),
    ("liblzma", "liblzma-dev"),
    ("liblz4", "liblz4-dev"),
    ("libzstd", "libzstd-dev"),
    ("xgboost", "libxgboost-dev"),
]

# Libraries without a .pc file on Debian: (header, library, Debian package).
PLAIN_LIBS = [
    ("bzlib.h", "bz2", "libbz2-dev"),
]

# Debian's libxgboost-dev ships xgboost.pc, other distributions may not:
# accept the bare header + library as well.
PLAIN_FALLBACKS = {
    "xgboost": ("xgboost/c_api.h", "xgboost"),
}


def env_flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def build_mode():
    """Compiler and linker flags for the requested build mode."""
    cflags = ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"]
    ldflags = []
    if env_flag("SAFEPICKLE_SANITIZE"):
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
        # Undefined behaviour must stop the run like a memory error does,
        # not print a line that a passing test suite hides.
        # CPython builds with -fwrapv, which makes signed overflow defined
        # and invisible to UBSan; the checked build wants to see it.
        cflags += san + ["-fno-sanitize-recover=undefined", "-fno-wrapv", "-g", "-O1"]
        ldflags += ["-fsanitize=address,undefined"]
    elif env_flag("SAFEPICKLE_DEBUG"):
        cflags += ["-O0", "-g", "-UNDEBUG"]
    else:
        # Link-time optimisation lets the machine's hot paths inline the
        # memo and container helpers that live in their own files. GCC
        # spreads the link-time code generation over the cores with =auto.
        gcc = "gcc" in os.path.basename(compiler_command()[0])
        lto = "-flto=auto" if gcc else "-flto"
        cflags += ["-O2", "-g0", lto]
        ldflags += ["-O2", lto]
    return cflags, ldflags


def compiler_command():
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(cc)


def header_found(cc, header, extra_cflags=()):
    """True when the C compiler can include `header`."""
    try:
        proc = subprocess.run(
            cc + list(extra_cflags) + ["-E", "-x", "c", "-", "-o", os.devnull],
            input=f"#include <{header}>\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def library_found(cc, lib):
    """True when the linker can resolve -l<lib> (shared or static)."""
    for name in (f"lib{lib}.so", f"lib{lib}.a"):
        try:
            out = subprocess.run(
                cc + [f"-print-file-name={name}"],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return False
        # The compiler echoes the bare name back when it does not find it.
        if os.path.isabs(out) and os.path.exists(out):
            return True
    return False


def pkg_config(name):
    """(cflags, libs) of a pkg-config package, or None if unavailable."""
    if shutil.which("pkg-config") is None:
        return None
    try:
        if subprocess.run(["pkg-config", "--exists", name], timeout=60).returncode != 0:
            return None
        cflags = subprocess.run(
            ["pkg-config", "--cflags", name], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        libs = subprocess.run(
            ["pkg-config", "--libs", name], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return shlex.split(cflags), shlex.split(libs)


class Deps:
    def __init__(self):
        self.include_dirs = []
        self.library_dirs = []
        self.libraries = []
        self.extra_compile_args = []
        self.extra_link_args = []

    def add_flags(self, cflags, libs):
        for flag in cflags:
            if flag.startswith("-I"):
                self._add(self.include_dirs, flag[2:])
            else:
                self._add(self.extra_compile_args, flag)
        for flag in libs:
            if flag.startswith("-L"):
                self._add(self.library_dirs, flag[2:])
            elif flag.startswith("-l"):
                self._add(self.libraries, flag[2:])
            else:
                self._add(self.extra_link_args, flag)

    @staticmethod
    def _add(seq, item):
        if item not in seq:
            seq.append(item)


def find_system_libraries():
    """Locate every system library the core links, or exit naming the
    Debian packages that provide the missing ones."""
    cc = compiler_command()
    deps = Deps()
    missing = []  # (what, debian package)
    if shutil.which("pkg-config") is None:
        missing.append(("pkg-config (the tool)", "pkg-config"))
    for name, debian in PKGCONFIG_LIBS:
        found = pkg_config(name)
        if found is not None:
            deps.add_flags(*found)
            continue
        fallback = PLAIN_FALLBACKS.get(name)
        if fallback and header_found(cc, fallback[0]) and library_found(cc, fallback[1]):
            deps.add_flags([], [f"-l{fallback[1]}"])
            continue
        missing.append((f"{name} (pkg-config module '{name}')", debian))
    for header, lib, debian in PLAIN_LIBS:
        if not header_found(cc, header):
            missing.append((f"header <{header}>", debian))
        elif not library_found(cc, lib):
            missing.append((f"library -l{lib}", debian))
        else:
            deps.add_flags([], [f"-l{lib}"])
    if missing:
        packages = sorted({debian for _, debian in missing})
        lines = ["safepickle: cannot build the C extension, system libraries are missing:"]
        lines += [f"  - {what}  [Debian package: {debian}]" for what, debian in missing]
        lines += [
            "Install them with:",
            f"  apt-get update && apt-get install -y {' '.join(packages)}",
            "(or run scripts/install.sh, which installs everything the build needs)",
        ]
        sys.stderr.write("\n".join(lines) + "\n")
        raise SystemExit(1)
    return deps


class BuildExt(build_ext):
    """Resolves system libraries when a build really happens, so that
    metadata-only commands (egg_info, sdist) work on a bare machine."""

    def build_extensions(self):
        deps = find_system_libraries()
        cflags, ldflags = build_mode()
        self._force_on_mode_change(cflags + ldflags + deps.extra_compile_args)
        for ext in self.extensions:
            ext.include_dirs += deps.include_dirs
            ext.library_dirs += deps.library_dirs
            ext.libraries += deps.libraries
            ext.extra_compile_args += deps.extra_compile_args + cflags
            ext.extra_link_args += deps.extra_link_args + ldflags
        super().build_extensions()
        for ext in self.extensions:
            self._check_core_symbols(self.get_ext_fullpath(ext.name))

    def _check_core_symbols(self, path):
        # A shared object links with undefined symbols (libpython's must stay
        # undefined), so a core function declared but never defined would
        # only show up as an ImportError later. Catch it at build time.
        nm = shutil.which("nm")
        if nm is None or not os.path.exists(path):
            return
        out = subprocess.run(
            [nm, "-D", "--undefined-only", path], capture_output=True, text=True, timeout=60
        ).stdout
        undefined = sorted(
            {line.split()[-1] for line in out.splitlines() if line.split()[-1].startswith("sp_")}
        )
        if undefined:
            sys.stderr.write(
                f"safepickle: {os.path.basename(path)} has undefined core symbols "
                f"(declared in csrc/core/*.h, defined in no csrc/ source): {', '.join(undefined)}\n"
            )
            os.remove(path)  # or the next build would call it up to date
            raise SystemExit(1)

    def _force_on_mode_change(self, flags):
        # distutils decides "up to date" from timestamps only: switching
        # between normal and sanitizer builds must still recompile.
        stamp = os.path.join(self.build_temp, "safepickle-build-flags")
        wanted = " ".join(flags) + "\n"
        try:
            with open(stamp) as fh:
                previous = fh.read()
        except OSError:
            previous = None
        if previous != wanted:
            self.force = True
            os.makedirs(self.build_temp, exist_ok=True)
            with open(stamp, "w") as fh:
                fh.write(wanted)


def rel(paths):
    # setuptools wants paths relative to setup.py, in a stable order.
    return sorted(os.path.relpath(p, ROOT) for p in paths)


core_sources = rel(glob(os.path.join(ROOT, "csrc", "core", "*.c")))
binding_sources = rel(glob(os.path.join(ROOT, "csrc", "binding", "*.c")))
headers = rel(glob(os.path.join(ROOT, "csrc", "core", "*.h")))
headers += rel(glob(os.path.join(ROOT, "csrc", "binding", "*.h")))

native = Extension(
    "safepickle._native",
    sources=core_sources + binding_sources,
    include_dirs=[os.path.join("csrc", "core"), os.path.join("csrc", "binding")],
    depends=headers,
)


setup(
    packages=find_packages(where=ROOT, include=["safepickle", "safepickle.*"]),
    # the bundled classifier (model.ubj, model-meta.json)
    package_data={"safepickle": ["model/*"]},
    ext_modules=[native],
    cmdclass={"build_ext": BuildExt},
)
