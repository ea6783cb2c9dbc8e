"""The capability table, seen through the scan: each case resolves one
global and reads which cap_globals_* features it sets. Nothing is loaded.
"""

import re
import sys
from pathlib import Path

import pytest

from safepickle import _native

ROOT = Path(__file__).resolve().parent.parent
NAMES = _native.feature_names()
CLASSES = ["process", "code_exec", "filesystem", "network", "import", "introspection",
           "deserialize", "debug", "system"]


def sbu(text):
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def classes_of(module, name):
    """Capability classes of module.name, and whether it is safe data."""
    data = b"\x80\x04" + sbu(module) + sbu(name) + b"\x93."
    f = dict(zip(NAMES, _native.scan(data)["features"]))
    got = {c for c in CLASSES if f["cap_globals_" + c] > 0}
    return got, f["globals_safe_share"] == 1


@pytest.mark.parametrize("module,name,expected", [
    ("os", "system", {"process"}),
    ("posix", "system", {"process"}),
    ("nt", "system", {"process"}),
    ("subprocess", "Popen", {"process"}),
    ("pty", "spawn", {"process"}),
    ("builtins", "eval", {"code_exec"}),
    ("builtins", "exec", {"code_exec"}),
    ("builtins", "__import__", {"import"}),
    ("builtins", "getattr", {"introspection"}),
    ("builtins", "open", {"filesystem"}),
    ("_io", "FileIO", {"filesystem"}),
    ("socket", "create_connection", {"network"}),
    ("requests.api", "get", {"network"}),
    ("pickle", "loads", {"deserialize"}),
    ("_pickle", "loads", {"deserialize"}),
    ("torch.storage", "_load_from_bytes", {"deserialize"}),
    ("sys", "exit", {"system"}),
    ("operator", "attrgetter", {"introspection"}),
    ("types", "CodeType", {"code_exec"}),
    ("torch.utils.collect_env", "run", {"process"}),
    ("uuid", "_get_command_stdout", {"process"}),
    ("pathlib", "Path.write_text", {"filesystem"}),
])
def test_dangerous(module, name, expected):
    got, safe = classes_of(module, name)
    assert expected <= got
    assert not safe


@pytest.mark.parametrize("module,name,expected", [
    ("cProfile", "run", {"code_exec", "debug"}),
    ("profile", "Profile.runctx", {"code_exec", "debug"}),
    ("bdb", "Bdb.run", {"code_exec", "debug"}),
    ("trace", "Trace.run", {"code_exec", "debug"}),
    ("idlelib.pyshell", "ModifiedInterpreter.runcode", {"code_exec"}),
    ("numpy.testing._private.utils", "runstring", {"code_exec"}),
    ("numpy.f2py.crackfortran", "getlincoef", {"code_exec"}),
    ("torch._inductor.codecache", "compile_file", {"code_exec"}),
    ("torch.jit.unsupported_tensor_ops", "execWrapper", {"code_exec"}),
    ("dill._dill", "_create_code", {"code_exec"}),
    ("lib2to3.pgen2.pgen", "ParserGenerator.make_label", {"code_exec"}),
])
def test_code_paths_of_otherwise_harmless_packages(module, name, expected):
    got, safe = classes_of(module, name)
    assert expected <= got and not safe


@pytest.mark.parametrize("module,name", [
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch", "FloatStorage"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("copyreg", "_reconstructor"),
    ("_codecs", "encode"),
    ("pathlib", "PosixPath"),
    ("sklearn.pipeline", "Pipeline"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("dill._dill", "_load_type"),
    ("torch.jit._pickle", "build_intlist"),
])
def test_safe_data(module, name):
    got, safe = classes_of(module, name)
    assert got == set() and safe


@pytest.mark.parametrize("module,name,expected", [
    ("pathlib", "os.system", {"process"}),
    ("numpy", "os.path.join", {"process"}),
    ("torch", "utils.collect_env.run", {"process"}),
    ("collections", "subprocess.Popen", {"process"}),
    ("builtins", "object.__subclasses__", {"introspection"}),
])
def test_dotted_names_are_judged_by_every_component(module, name, expected):
    got, safe = classes_of(module, name)
    assert expected <= got and not safe


def test_unknown_module_has_no_class():
    got, safe = classes_of("mylib.models", "Net")
    assert got == set() and not safe


def test_stdlib_table_covers_this_python():
    header = (ROOT / "csrc" / "core" / "sp_stdlib_modules.h").read_text()
    listed = set(re.findall(r'^    "([^"]+)",$', header, re.M))
    if sys.version_info[:2] == (3, 11):
        assert set(sys.stdlib_module_names) <= listed
    assert {"__builtin__", "copy_reg", "commands", "_pyrepl"} <= listed
    assert list(sorted(listed, key=str.encode)) == re.findall(r'^    "([^"]+)",$', header, re.M)


def test_capability_doc_lists_the_table():
    doc = (ROOT / "docs" / "capabilities.md").read_text()
    assert "BEGIN GENERATED TABLE" in doc
    for needle in ("`os`", "`subprocess and submodules`", "`torch.jit and submodules`"):
        assert needle in doc
