"""The safepickle command, run as ``python -m safepickle`` in a subprocess.

Payload files are hand-made byte strings; the CLI only reads them.
"""

import collections
import io
import json
import os
import pickle
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safepickle import cli

REPO_ROOT = Path(__file__).resolve().parent.parent
EVIL = b"cos\nsystem\n(S'echo hi'\ntR."
BENIGN = pickle.dumps({"a": [1, 2.5, "x"], "b": None}, protocol=4)
# names a global, so the model scores it
MODEL = pickle.dumps(collections.OrderedDict(a=[1, 2.5, "x"], b=None), protocol=4)
RECORD_TYPES = {
    "path": str,
    "format": (str, type(None)),
    "verdict": str,
    "score": (float, type(None)),
    "reasons": list,
    "globals": list,
    "error": (str, type(None)),
}


def cli_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "safepickle", *map(str, args)],
        capture_output=True, text=True, env=cli_env(), cwd=cwd, timeout=120,
    )


def json_lines(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "benign.pkl").write_bytes(BENIGN)
    (tmp_path / "evil.pkl").write_bytes(EVIL)
    return tmp_path


# ---- exit status -----------------------------------------------------------------


def test_benign_file_exits_0(files):
    proc = run("scan", files / "benign.pkl")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[:3] == ["benign", str(files / "benign.pkl"), "raw-pickle"]
    assert proc.stderr == ""


def test_unsafe_file_exits_1(files):
    proc = run("scan", files / "benign.pkl", files / "evil.pkl")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("unsafe  " + str(files / "evil.pkl") + "  raw-pickle  ")
    assert len(lines[1].split("  ", 3)[3]) > 0  # the first reasons


def test_unreadable_input_exits_2(files):
    missing = files / "missing.pkl"
    proc = run("scan", "--json", files / "evil.pkl", missing)
    assert proc.returncode == 2
    rows = json_lines(proc.stdout)
    assert [r["verdict"] for r in rows] == ["unsafe", "error"]
    assert rows[1]["path"] == str(missing)
    assert "No such file" in rows[1]["error"]
    assert rows[1]["reasons"] == [rows[1]["error"]]


def test_tar_archive_members_are_scanned(tmp_path):
    import tarfile

    member = tmp_path / "data.pkl"
    member.write_bytes(pickle.dumps({"a": 1}))
    with tarfile.open(tmp_path / "model.tar", "w") as tar:
        tar.add(member, arcname="data.pkl")
    proc = run("scan", "--json", tmp_path / "model.tar")
    assert proc.returncode == 0, proc.stdout
    (row,) = json_lines(proc.stdout)
    assert row["format"] == "tar" and row["verdict"] == "benign"


def test_classifier_options(files):
    (files / "model.pkl").write_bytes(MODEL)
    proc = run("scan", "--json", files / "model.pkl")
    (row,) = json_lines(proc.stdout)
    assert 0.0 <= row["score"] < 1.0 and row["verdict"] == "benign"
    # a threshold of 0 makes the model call every scored file unsafe
    proc = run("scan", "--json", "--threshold", "0", files / "model.pkl")
    assert proc.returncode == 1
    (row,) = json_lines(proc.stdout)
    assert row["verdict"] == "unsafe" and row["reasons"][0].startswith("classifier score")
    # plain data reaches no callable: nothing for the model to score
    proc = run("scan", "--json", "--threshold", "0", files / "benign.pkl")
    assert proc.returncode == 0
    (row,) = json_lines(proc.stdout)
    assert row["score"] is None and row["verdict"] == "benign"
    proc = run("scan", "--json", "--rules-only", "--threshold", "0", files / "model.pkl")
    assert proc.returncode == 0
    (row,) = json_lines(proc.stdout)
    assert row["score"] is None and row["verdict"] == "benign"


@pytest.mark.parametrize("args", [
    [],
    ["scan"],
    ["scan", "--threshold", "1.5", "x"],
    ["scan", "--threshold", "high", "x"],
    ["bogus", "x"],
    ["scan", "--no-such-option", "x"],
    ["scan", "--limit", "max_bogus=1", "x"],
    ["scan", "--limit", "max_ops", "x"],
    ["scan", "--max-ops", "-1", "x"],
])
def test_usage_errors_exit_2(args):
    proc = run(*args)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr
    assert proc.stdout == ""


def test_help_documents_exit_codes():
    proc = run("scan", "--help")
    assert proc.returncode == 0
    assert "exit status" in proc.stdout
    for code in ("0", "1", "2"):
        assert f"  {code}  " in proc.stdout


def test_limits_are_passed_to_the_scanner(tmp_path):
    path = tmp_path / "long.pkl"
    path.write_bytes(pickle.dumps(list(range(500)), protocol=0))
    assert run("scan", path).returncode == 0
    proc = run("scan", "--json", "--max-ops", "5", path)
    (row,) = json_lines(proc.stdout)
    assert row["verdict"] != "benign"
    assert proc.returncode in (1, 2)
    proc2 = run("scan", "--json", "--limit", "max_ops=5", path)
    assert json_lines(proc2.stdout) == [row]


# ---- output ----------------------------------------------------------------------


def test_json_lines_schema(files):
    proc = run("scan", "--json", files)
    assert proc.returncode == 1
    rows = json_lines(proc.stdout)
    assert [Path(r["path"]).name for r in rows] == ["benign.pkl", "evil.pkl"]
    for row in rows:
        for key, types in RECORD_TYPES.items():
            assert isinstance(row[key], types), (key, row)
        assert row["verdict"] in ("benign", "unsafe", "error")
        assert all(isinstance(r, str) for r in row["reasons"])
        assert all(isinstance(g, str) for g in row["globals"])
        assert row["error"] is None
    assert rows[0]["verdict"] == "benign"
    assert rows[1]["verdict"] == "unsafe" and rows[1]["globals"] == ["os.system"]
    assert rows[1]["reasons"]


def test_quiet_prints_only_what_is_not_benign(files):
    proc = run("scan", "--quiet", files)
    assert proc.returncode == 1
    (line,) = proc.stdout.splitlines()
    assert line.startswith("unsafe  ") and "evil.pkl" in line
    proc = run("scan", "-q", files / "benign.pkl")
    assert proc.returncode == 0 and proc.stdout == ""


def test_main_function_and_python_dash_m_agree(files):
    # cli.main is what the console script calls.
    proc = run("scan", "--json", files)
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(["scan", "--json", str(files)], stdout=out, stderr=err)
    assert status == proc.returncode == 1
    assert out.getvalue() == proc.stdout


def test_payload_never_runs(tmp_path):
    canary = tmp_path / "canary"
    payload = b"cos\nsystem\n(S'touch " + str(canary).encode() + b"'\ntR."
    (tmp_path / "p.pkl").write_bytes(payload)
    proc = run("scan", tmp_path / "p.pkl")
    assert proc.returncode == 1
    assert not canary.exists()


# ---- walking ---------------------------------------------------------------------


def test_directories_are_walked_recursively_and_sorted(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "deep").mkdir()
    (tmp_path / "a.pkl").write_bytes(BENIGN)
    (tmp_path / "c.pkl").write_bytes(BENIGN)
    (tmp_path / "b" / "z.pkl").write_bytes(EVIL)
    (tmp_path / "b" / "deep" / "x.pkl").write_bytes(BENIGN)
    (tmp_path / "b" / "link.pkl").symlink_to(tmp_path / "a.pkl")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "b" / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "fifo")

    proc = run("scan", "--json", tmp_path, tmp_path / "c.pkl")
    rows = json_lines(proc.stdout)
    got = [(os.path.relpath(r["path"], tmp_path), r["verdict"]) for r in rows]
    assert got == [
        ("a.pkl", "benign"),
        ("c.pkl", "benign"),
        ("b/dangling", "error"),
        ("b/link.pkl", "benign"),
        ("b/z.pkl", "unsafe"),
        ("b/deep/x.pkl", "benign"),
    ]
    assert rows[2]["error"] == "broken symbolic link"
    assert proc.returncode == 2


def test_explicit_special_file_is_an_error_row(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    proc = run("scan", "--json", tmp_path / "fifo")
    assert proc.returncode == 2
    (row,) = json_lines(proc.stdout)
    assert row["error"] == "not a regular file"


def test_empty_directory_exits_0(tmp_path):
    proc = run("scan", tmp_path)
    assert proc.returncode == 0 and proc.stdout == ""


# ---- progress bar ----------------------------------------------------------------


@pytest.fixture
def many_files(tmp_path):
    for i in range(25):
        (tmp_path / f"f{i:02d}.pkl").write_bytes(BENIGN)
    return tmp_path


def test_no_progress_bar_without_a_terminal(many_files):
    proc = run("scan", many_files)
    assert proc.returncode == 0
    assert proc.stderr == ""
    assert "\r" not in proc.stdout
    assert len(proc.stdout.splitlines()) == 25


def run_with_terminal_stderr(*args):
    """Run the CLI with stderr on a pseudo-terminal and stdout on a pipe;
    returns (exit status, stdout, bytes written to the terminal)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "safepickle", *map(str, args)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
            env=cli_env(),
        )
    finally:
        os.close(slave)
    terminal = b""
    stdout = b""
    deadline = time.monotonic() + 120
    open_fds = {master, proc.stdout.fileno()}
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_fds), [], [], 1.0)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's other side closed
                chunk = b""
            if not chunk:
                open_fds.discard(fd)
            elif fd == master:
                terminal += chunk
            else:
                stdout += chunk
    status = proc.wait(timeout=60)
    os.close(master)
    proc.stdout.close()
    return status, stdout.decode(), terminal.decode()


def test_progress_bar_on_a_terminal(many_files):
    status, stdout, terminal = run_with_terminal_stderr("scan", "--json", many_files)
    assert status == 0
    assert "\r" in terminal
    assert "25/25" in terminal
    assert "[" in terminal and "#" in terminal
    # stdout stays pure JSON Lines.
    assert len(json_lines(stdout)) == 25


def test_no_progress_option_and_short_runs(many_files, tmp_path_factory):
    status, _, terminal = run_with_terminal_stderr("scan", "--no-progress", many_files)
    assert status == 0 and terminal == ""
    few = tmp_path_factory.mktemp("few")
    (few / "one.pkl").write_bytes(BENIGN)
    status, _, terminal = run_with_terminal_stderr("scan", few)
    assert status == 0 and terminal == ""


# ---- which files a directory walk scans -------------------------------------------


def _tree(tmp_path):
    (tmp_path / "README.md").write_text("# notes\n")
    (tmp_path / "train.py").write_text("import os\nprint('hi')\n")
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=4))
    # no extension, but a protocol header: a loader would run it
    (tmp_path / "weights").write_bytes(b"\x80\x04cos\nsystem\n(S'x'\ntR.")
    return tmp_path


def _main(*argv):
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_walk_scans_model_files_and_skips_the_rest(tmp_path):
    top = _tree(tmp_path)
    status, out, err = _main("scan", "--json", "--no-progress", str(top))
    rows = [json.loads(line) for line in out.splitlines()]
    names = sorted(os.path.basename(r["path"]) for r in rows)
    assert names == ["model.pkl", "weights"]
    assert {os.path.basename(r["path"]): r["verdict"] for r in rows} == {
        "model.pkl": "benign", "weights": "unsafe"}
    assert status == cli.EXIT_UNSAFE
    assert "skipped 2 files" in err


def test_walk_with_all_scans_every_file(tmp_path):
    top = _tree(tmp_path)
    status, out, err = _main("scan", "--json", "--no-progress", "--all", str(top))
    rows = {os.path.basename(json.loads(line)["path"]): json.loads(line) for line in out.splitlines()}
    assert sorted(rows) == ["README.md", "model.pkl", "train.py", "weights"]
    assert rows["README.md"]["verdict"] == "error"
    assert status == cli.EXIT_ERROR
    assert "skipped" not in err


def test_named_file_is_scanned_whatever_its_name(tmp_path):
    top = _tree(tmp_path)
    status, out, _ = _main("scan", "--json", "--no-progress", str(top / "train.py"))
    assert json.loads(out)["verdict"] == "error"
    assert status == cli.EXIT_ERROR
