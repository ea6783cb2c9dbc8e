"""Hostile files behind the guard, in a subprocess each group: every entry
point raises UnsafePickleError naming the file, and the payload's canary
never appears (an audit-hook tripwire stops the subprocess at the first
find_class or dangerous event, so a guard failure goes no further)."""

import csv
import os
import pickle
import subprocess
import sys

import pytest

from .conftest import corpus_root_or_fail
from .guard_files import SUFFIX, MkdirPayload, benign_object, describe_benign, run_victim, write

PICKLE_ENTRY_POINTS = [
    "pickle.load",
    "pickle._load",
    "_pickle.load",
    "pickle.loads",
    "pickle._loads",
    "_pickle.loads",
    "pickle.Unpickler",
    "pickle._Unpickler",
    "_pickle.Unpickler",
    "early-subclass",
]

DROP_INS = ["safepickle.load", "safepickle.loads", "safepickle.Unpickler"]

LIBRARY_CASES = [
    ("torch-zip", "torch.load", {"weights_only": False}),
    ("torch-zip", "torch.load", {"weights_only": True}),
    ("torch-zip", "torch.load", {"weights_only": False, "mmap": True}),
    ("torch-zip", "torch.load", {"weights_only": False, "mmap": False}),
    ("torch-zip", "torch.load(file)", {"weights_only": False}),
    ("torch-legacy", "torch.load", {"weights_only": False}),
    ("torch-legacy", "torch.load(file)", {"weights_only": True}),
    ("joblib", "joblib.load", {}),
    ("joblib", "joblib.load", {"mmap_mode": "r"}),
    ("joblib", "joblib.NumpyUnpickler", {}),
    ("joblib-zlib", "joblib.load", {}),
    ("joblib-lz4", "joblib.load", {}),
    ("joblib-xz", "joblib.load", {}),
    ("npy", "numpy.load", {"allow_pickle": True}),
    ("npz", "numpy.load", {"allow_pickle": True}),
    ("pandas", "pandas.read_pickle", {}),
    ("pandas-gz", "pandas.read_pickle", {}),
]
LIBRARIES = ["torch", "joblib", "numpy", "pandas"]


def _hostile(tmp_path, kind, case_id):
    canary = tmp_path / "canaries" / case_id
    (tmp_path / "canaries").mkdir(exist_ok=True)
    path = tmp_path / f"{case_id}{SUFFIX[kind]}"
    written, loader, kwargs = write(kind, path, {"model": MkdirPayload(canary)})
    return written, canary


def _assert_blocked(result, path, canary):
    assert result["outcome"] == "raised", result
    assert result["type"] == "UnsafePickleError", result
    assert result["unpickling_error"], result
    # loads() gets bytes, not a file: the message says so instead.
    name = "<bytes>" if result["id"].endswith("loads") else path
    assert result["message"].startswith(name + ": refused to load"), result
    assert "verdict unsafe" in result["message"] and "score" in result["message"], result
    assert result["verdict"] == "unsafe" and result["reasons"], result
    assert any("mkdir" in r for r in result["reasons"]), result
    assert not canary.exists(), f"payload ran: {canary}"


def _pickle_cases(tmp_path, loaders):
    cases, canaries = [], {}
    benign = tmp_path / "benign.pkl"
    write("raw", benign, benign_object())
    for loader in loaders:
        case_id = "hostile-" + loader.replace(".", "_")
        path, canary = _hostile(tmp_path, "raw", case_id)
        canaries[case_id] = (path, canary)
        cases.append({"id": case_id, "loader": loader, "path": path, "hostile": True})
        cases.append({"id": "benign-" + loader, "loader": loader, "path": str(benign)})
    return cases, canaries


def _assert_loaders_guarded(tmp_path, order, loaders, imports):
    """Each loader refuses the hostile file and loads the benign one."""
    cases, canaries = _pickle_cases(tmp_path, loaders)
    results, fired = run_victim(tmp_path, {"order": order, "imports": imports, "cases": cases})
    assert fired == ""
    for case_id, (path, canary) in canaries.items():
        _assert_blocked(results[case_id], path, canary)
    for loader in loaders:
        result = results["benign-" + loader]
        assert result["outcome"] == "loaded" and result["value"] == describe_benign(), result


@pytest.mark.parametrize("order", ["patch-first", "import-first"])
def test_every_pickle_entry_point_is_guarded(tmp_path, order):
    _assert_loaders_guarded(tmp_path, order, PICKLE_ENTRY_POINTS, [])


# Copies of pickle's loaders bound before patch() ran: a module of the
# program ("from pickle import loads"), and the standard library's and
# libraries' own (imported first in the "import-first" order).
COPIES = [
    "copy:early_copies:load",
    "copy:early_copies:loads",
    "copy:early_copies:other_loads",
    "copy:early_copies:Unpickler",
    "copy:shelve:Unpickler",
    "copy:multiprocessing.reduction.ForkingPickler:loads",
    "copy:cloudpickle:loads",
    "copy:cloudpickle:load",
    "copy:torch.distributed.distributed_c10d:_unpickler",
]
COPY_MODULES = ["shelve", "multiprocessing.reduction", "cloudpickle",
                "torch.distributed.distributed_c10d"]


@pytest.mark.parametrize("order", ["patch-first", "import-first"])
def test_copies_of_the_loaders_are_guarded(tmp_path, order):
    """Whether a module bound its copy of a loader before or after patch(),
    that copy is guarded: patch() rebinds the copies it finds."""
    _assert_loaders_guarded(tmp_path, order, COPIES, COPY_MODULES)


def test_drop_ins_need_no_patch(tmp_path):
    cases, canaries = _pickle_cases(tmp_path, DROP_INS)
    # Without patch() the plain pickle functions stay as they were.
    results, fired = run_victim(tmp_path, {"order": "no-patch", "imports": [], "cases": cases})
    assert fired == ""
    for case_id, (path, canary) in canaries.items():
        _assert_blocked(results[case_id], path, canary)
    for loader in DROP_INS:
        assert results["benign-" + loader]["value"] == describe_benign()


@pytest.mark.parametrize("order", ["import-first", "patch-first"])
def test_library_loaders_are_guarded(tmp_path, order):
    """import-first: the libraries (joblib's NumpyUnpickler subclass of
    pickle._Unpickler included) exist before patch(); patch-first: they are
    imported after it and patched on import."""
    cases, canaries = [], {}
    for n, (kind, loader, kwargs) in enumerate(LIBRARY_CASES):
        case_id = f"hostile-{n}-{kind}-{loader}"
        path, canary = _hostile(tmp_path, kind, f"h{n}")
        canaries[case_id] = (path, canary)
        cases.append(
            {"id": case_id, "loader": loader, "path": path, "kwargs": kwargs, "hostile": True}
        )
    results, fired = run_victim(
        tmp_path, {"order": order, "imports": LIBRARIES, "cases": cases}, timeout=300
    )
    assert fired == ""
    for case_id, (path, canary) in canaries.items():
        _assert_blocked(results[case_id], path, canary)


def _corpus_picks():
    """The first rce file of each format of the corpus manifest."""
    root = corpus_root_or_fail()
    with open(root / "MANIFEST.tsv", newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh, delimiter="\t"), key=lambda r: r["path"])
    picks = {}
    for row in rows:
        if row["label"] == "malicious" and row["class"] == "rce":
            picks.setdefault(row["format"], row)
    return root, picks


def _corpus_loader(fmt):
    if fmt.startswith("raw-pickle"):
        return "pickle.load", {}
    if fmt in ("torch-zip", "zip-with-pkl"):
        return "torch.load", {"weights_only": False}
    if fmt.startswith("npy"):
        return "numpy.load", {"allow_pickle": True}
    raise AssertionError(f"no loader chosen for corpus format {fmt}")


def test_corpus_rce_files_are_blocked(tmp_path):
    root, picks = _corpus_picks()
    assert {"torch-zip", "npy(object)", "raw-pickle protocol 4"} <= set(picks)
    cases = []
    for fmt, row in picks.items():
        loader, kwargs = _corpus_loader(fmt)
        cases.append(
            {
                "id": fmt,
                "loader": loader,
                "path": str(root / row["path"]),
                "kwargs": kwargs,
                "hostile": True,
            }
        )
    results, fired = run_victim(
        tmp_path, {"order": "import-first", "imports": ["torch", "numpy"], "cases": cases}
    )
    assert fired == ""
    for fmt, row in picks.items():
        result = results[fmt]
        assert result["outcome"] == "raised", result
        assert result["unpickling_error"], result
        assert row["path"] in result["message"], result
        assert result["type"] == "UnsafePickleError", (fmt, result)


@pytest.mark.parametrize("layout", ["small", "key-first", "key-last"])
def test_a_pickle_that_crashes_the_loader_is_refused_before_the_load(tmp_path, layout):
    # CPython hashes a dict key of nested tuples recursively, with no depth
    # check: the plain load overflows the C stack. The scanner's depth cap
    # refuses the file, so the guarded process survives with a clear error
    # (and why the guard never starts a load before its verdict).
    path = tmp_path / "deep-key.pkl"
    deep = b"}" + b")" + b"\x85" * 1_000_000 + b"K\x01s"
    if layout == "small":
        path.write_bytes(b"\x80\x02" + deep + b".")
    else:
        # ints around the key, without frames: a file large enough for any
        # speedup that would start loading large inputs while they are scanned
        padding = pickle.dumps(list(range(500_000)), protocol=2)[2:-1]
        inner = deep + padding if layout == "key-first" else padding + deep
        path.write_bytes(b"\x80\x02(" + inner + b"t.")
        assert path.stat().st_size > 2 << 20
    code = (
        "import pickle, sys\n"
        "if sys.argv[2] == 'guard':\n"
        "    import safepickle; safepickle.patch()\n"
        "try:\n"
        "    with open(sys.argv[1], 'rb') as fh:\n"
        "        pickle.load(fh)\n"
        "except pickle.UnpicklingError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    guarded = subprocess.run([sys.executable, "-c", code, str(path), "guard"], cwd=root,
                             capture_output=True, text=True, timeout=120)
    assert guarded.returncode == 0, guarded.stderr
    assert guarded.stdout.startswith("UnsafePickleError")
    assert "deep-key.pkl" in guarded.stdout and "nested deeper than" in guarded.stdout
    plain = subprocess.run([sys.executable, "-c", code, str(path), "plain"], cwd=root,
                           capture_output=True, text=True, timeout=120)
    # killed by a signal: SIGSEGV, or SIGABRT where AddressSanitizer catches it
    assert plain.returncode < 0, (plain.returncode, plain.stdout, plain.stderr[-500:])
