"""The ``safepickle`` command line.

Scanning reads bytes only: no file given to it is imported, unpickled or
executed, whatever it contains.
"""

import argparse
import json
import os
import stat
import sys
import time

from . import __version__, _native
from .api import scan
from .errors import ScanError
from .report import error_record
from .guard import install as install_guard

EXIT_BENIGN = 0
EXIT_UNSAFE = 1
EXIT_ERROR = 2

_EPILOG = """\
exit status:
  0  every file is benign
  1  at least one file is unsafe, and none failed
  2  at least one file could not be scanned or got the verdict "error"
     (unreadable, unsupported container format, ...), or a usage error

--json prints one JSON object per file and line with the keys path, format,
verdict, score, reasons, globals and error (see docs/report-schema.md).
"""

# The run is long enough for a progress bar past either threshold.
PROGRESS_MIN_FILES = 20
PROGRESS_MIN_SECONDS = 2.0
PROGRESS_INTERVAL = 0.1


# ---- finding the files ----------------------------------------------------


class Target:
    """One row of output: a file to scan, or a path that already failed."""

    __slots__ = ("path", "error")

    def __init__(self, path, error=None):
        self.path = path
        self.error = error


def _describe(exc):
    return exc.strerror or str(exc)


def _explicit(path):
    """A path named on the command line that is not a directory."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if os.path.islink(path):
            return Target(path, "broken symbolic link")
        return Target(path, _describe(exc))
    if not stat.S_ISREG(st.st_mode):
        return Target(path, "not a regular file")
    return Target(path)


# What a directory walk scans: files named like model files, and files whose
# first bytes are a pickle protocol header or a container a loader unpacks.
# Anything else (sources, READMEs, images) is no pickle any loader would run
# as found; --all scans it anyway. Files named on the command line are always
# scanned.
MODEL_SUFFIXES = frozenset(
    ".pkl .pickle .pk .p .pt .pth .bin .ckpt .joblib .jbl .jl .npy .npz .dat .data "
    ".model .sav .dill .z .gz .bz2 .xz .lzma .lz4 .zst .tar .zip .mar".split()
)
MODEL_MAGIC = (b"PK\x03\x04", b"\x93NUMPY", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00",
               b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18", b"ZF0x")


def looks_like_model_file(path):
    if os.path.splitext(path)[1].lower() in MODEL_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return True  # let the scan report why it cannot be read
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return True
    return head.startswith(MODEL_MAGIC)


def _walk(top, every_file=False, skipped=None):
    """Regular files under top, sorted, each directory's files before its
    subdirectories. Symlinked directories are not followed (no loops, no
    file seen twice through two routes); symlinks to files are scanned under
    their own path. Unless every_file, files that are not model files are
    counted in skipped[0] instead."""
    errors = []
    for root, dirs, files in os.walk(top, onerror=errors.append):
        while errors:
            exc = errors.pop()
            yield Target(exc.filename or root, _describe(exc))
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError as exc:
                yield Target(path, "broken symbolic link" if os.path.islink(path)
                             else _describe(exc))
                continue
            if stat.S_ISREG(st.st_mode):
                if every_file or looks_like_model_file(path):
                    yield Target(path)
                elif skipped is not None:
                    skipped[0] += 1
    for exc in errors:
        yield Target(exc.filename or top, _describe(exc))


def collect_targets(paths, every_file=False, skipped=None):
    seen = set()
    for arg in paths:
        found = _walk(arg, every_file, skipped) if os.path.isdir(arg) else [_explicit(arg)]
        for target in found:
            key = os.path.normpath(target.path)
            if key not in seen:
                seen.add(key)
                yield target


# ---- progress bar ---------------------------------------------------------


class Progress:
    """A one-line bar on a terminal, redrawn in place with \\r.

    Shown only on a TTY and only once the run is long; cleared before any
    result line that goes to the same terminal so the two never mix."""

    def __init__(self, stream, total, enabled, shares_terminal):
        self.stream = stream
        self.total = total
        self.enabled = enabled
        self.shares_terminal = shares_terminal
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.visible = False
        self.done = 0
        self.current = ""

    def _width(self):
        try:
            return max(20, os.get_terminal_size(self.stream.fileno()).columns - 1)
        except (OSError, ValueError, AttributeError):
            return 79

    def _wanted(self, now):
        return self.enabled and (
            self.total > PROGRESS_MIN_FILES or now - self.started > PROGRESS_MIN_SECONDS
        )

    def _draw(self, now):
        width = self._width()
        count = f" {self.done}/{self.total} "
        bar_len = max(10, min(30, width // 3))
        filled = bar_len * self.done // self.total if self.total else bar_len
        bar = "[" + "#" * filled + "." * (bar_len - filled) + "]"
        room = width - len(bar) - len(count)
        name = self.current
        if len(name) > room:
            name = "..." + name[-(room - 3):] if room > 3 else ""
        line = bar + count + name
        self.stream.write("\r" + line.ljust(width))
        self.stream.flush()
        self.visible = True
        self.last_draw = now

    def update(self, done, current, force=False):
        self.done = done
        self.current = current
        now = time.monotonic()
        if self._wanted(now) and (force or now - self.last_draw >= PROGRESS_INTERVAL):
            self._draw(now)

    def clear(self):
        if self.visible:
            self.stream.write("\r" + " " * self._width() + "\r")
            self.stream.flush()
            self.visible = False

    def before_output(self):
        if self.shares_terminal:
            self.clear()

    def after_output(self):
        if self.shares_terminal and self._wanted(time.monotonic()):
            self._draw(time.monotonic())


# ---- output ---------------------------------------------------------------


def _printable(text, stream):
    # File names need not be valid in the terminal's encoding.
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding, "replace")


def human_line(record):
    reasons = record["reasons"]
    shown = "; ".join(reasons[:3])
    if len(reasons) > 3:
        shown += f" (+{len(reasons) - 3} more)"
    return f"{record['verdict']:<6}  {record['path']}  {record['format'] or '-'}  {shown}".rstrip()


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# ---- the scan command -----------------------------------------------------


def _parse_limit(text):
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=N, got {text!r}")
    try:
        number = int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"limit {name} needs an integer, got {value!r}")
    return name.strip(), number


def _parse_threshold(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold needs a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"threshold must be between 0 and 1, got {value}")
    return value


def _limits_from_args(parser, args):
    limits = dict(args.limit or ())
    if args.max_ops is not None:
        limits["max_ops"] = args.max_ops
    if not limits:
        return None
    try:
        # The native checker knows every name and range: ask it once.
        _native.scan(b"", limits)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    return limits


def scan_one(target, limits, model=True, threshold=None):
    if target.error is not None:
        return error_record(target.path, target.error)
    try:
        report = scan(target.path, limits=limits, detail=False, model=model, threshold=threshold,
                      report="verdict")
    except ScanError as exc:
        return error_record(target.path, exc.reason)
    except MemoryError:
        # One oversized file must not end the run over the others.
        return error_record(target.path, "out of memory while scanning")
    return report.to_json()


def run_scan(args, stdout, stderr):
    limits = _limits_from_args(args.parser, args)
    skipped = [0]
    targets = list(collect_targets(args.paths, args.all, skipped))
    progress = Progress(
        stderr,
        len(targets),
        enabled=not args.no_progress and _isatty(stderr),
        shares_terminal=_isatty(stdout),
    )
    status = EXIT_BENIGN
    try:
        for done, target in enumerate(targets):
            progress.update(done, target.path, force=done == 0)
            record = scan_one(target, limits, model=not args.rules_only,
                              threshold=args.threshold)
            verdict = record["verdict"]
            if verdict == "error":
                status = EXIT_ERROR
            elif verdict != "benign" and status == EXIT_BENIGN:
                status = EXIT_UNSAFE
            if args.json:
                line = json.dumps(record)
            elif args.quiet and verdict == "benign":
                continue
            else:
                line = _printable(human_line(record), stdout)
            progress.before_output()
            stdout.write(line + "\n")
            stdout.flush()
            progress.after_output()
        progress.update(len(targets), "", force=True)
    finally:
        progress.clear()
    if skipped[0]:
        what = "file that is not a model file" if skipped[0] == 1 else "files that are not model files"
        stderr.write("safepickle: skipped %d %s (--all scans them)\n" % (skipped[0], what))
    return status


def build_parser():
    parser = argparse.ArgumentParser(
        prog="safepickle",
        description="Static scanner for Python pickle files: reports what loading a\n"
        "file would import and call, without loading it.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"safepickle {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "scan",
        help="scan files and directories",
        description="Scan files, and directories recursively, without loading them.\n"
        "One line per file: verdict, path, format, main reasons.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="file or directory")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per file and line (JSON Lines)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print only files that are not benign")
    p.add_argument("--all", action="store_true",
                   help="in directories, scan every file, not only model files "
                        "(named like one, or starting with a pickle or container header)")
    p.add_argument("--no-progress", action="store_true",
                   help="never draw a progress bar (it is drawn on stderr only when "
                   "stderr is a terminal and the run is long)")
    p.add_argument("--max-ops", type=int, metavar="N",
                   help="stop each scan after N opcodes (a scan cut short is never benign)")
    p.add_argument("--limit", action="append", type=_parse_limit, metavar="NAME=N",
                   help="set one resource cap; names: "
                   + ", ".join(_native.default_limits()))
    p.add_argument("--threshold", type=_parse_threshold, metavar="T",
                   help="classifier score (0-1) at or above which a file the rules pass is "
                   "unsafe (default: the bundled model's own)")
    p.add_argument("--rules-only", action="store_true",
                   help="decide with the rules alone, without the classifier (no score)")
    p.set_defaults(parser=p)
    install_guard.add_parser(commands)
    return parser


def main(argv=None, stdout=None, stderr=None):
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is not None:
        return args.run(args, stdout, stderr)
    try:
        return run_scan(args, stdout, stderr)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, and keep the
        # interpreter from complaining while flushing at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stdout.fileno())
        except (OSError, AttributeError, ValueError):
            pass
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
