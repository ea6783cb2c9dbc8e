"""The peer comparison: metrics, the runners of the peer tools, the worker
processes they run in, and the result cache.

The malicious pickles written here are never loaded by this process; they
only go to the static scanners and to torch.load(weights_only=True), in a
worker process, with a canary that would show if the payload ran.
"""

import io
import os
import pickle
import struct

import pytest

from benchmarks.peers import batch, metrics
from benchmarks.peers.cache import ResultCache, cache_key
from benchmarks.peers.collect import collect, file_sha256
from benchmarks.peers.corpus import read_manifest
from benchmarks.peers.table import metrics_table
from benchmarks.peers.tools import (ALL_PEERS, FICKLING, MODELSCAN, PICKLESCAN,
                                    TORCH_WEIGHTS_ONLY)

FIXTURE_TOOL = "tests.peer_fixture_tool"


def reduce_pickle(module, name, argument):
    """Protocol 2: GLOBAL module.name, called with one str argument."""
    encoded = argument.encode()
    return (b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n"
            + b"(X" + struct.pack("<I", len(encoded)) + encoded
            + b"tR.")


@pytest.fixture
def samples(tmp_path):
    """A benign pickle, one that calls os.system (its command would create
    the canary file), and one naming a class picklescan does not know."""
    canary = tmp_path / "canary"
    files = {
        "benign": tmp_path / "model.pkl",
        "malicious": tmp_path / "evil.pkl",
        "suspicious": tmp_path / "counter.pkl",
    }
    files["benign"].write_bytes(pickle.dumps({"w": [1, 2.5, "x"]}, protocol=4))
    files["malicious"].write_bytes(reduce_pickle("os", "system",
                                                 "touch %s" % canary))
    files["suspicious"].write_bytes(
        b"\x80\x02ccollections\nCounter\nq\x00}q\x01X\x01\x00\x00\x00aq\x02"
        b"K\x01s\x85q\x03Rq\x04.")
    return files, canary


def verdicts_of(peer, files):
    results = batch.run_files(peer.module, [str(p) for p in files.values()])
    return {kind: results[str(path)] for kind, path in files.items()}


# ---- metrics -------------------------------------------------------------

def test_scores_follow_the_load_guard_reading_of_each_verdict():
    pairs = [("malicious", "unsafe"), ("malicious", "error"),
             ("malicious", "benign"), ("malicious", "skipped"),
             ("benign", "benign"), ("benign", "error"), ("benign", "unsafe"),
             ("benign", "skipped"), ("benign", "benign")]
    s = metrics.score(pairs)
    assert (s.tp, s.fp, s.tn, s.fn) == (2, 2, 3, 2)
    assert (s.errors, s.errors_malicious, s.errors_benign) == (2, 1, 1)
    assert s.skipped == 2
    assert s.files == 9
    assert s.precision == pytest.approx(0.5)
    assert s.recall == pytest.approx(0.5)
    assert s.f1 == pytest.approx(0.5)
    assert s.false_positive_rate == pytest.approx(0.4)


def test_scores_with_unequal_precision_and_recall():
    # tp 3, fp 1, fn 3, tn 3: precision 3/4, recall 1/2, F1 0.6, FPR 1/4.
    pairs = ([("malicious", "unsafe")] * 3 + [("malicious", "benign")] * 3
             + [("benign", "error")] + [("benign", "benign")] * 3)
    s = metrics.score(pairs)
    assert s.precision == pytest.approx(0.75)
    assert s.recall == pytest.approx(0.5)
    assert s.f1 == pytest.approx(0.6)
    assert s.false_positive_rate == pytest.approx(0.25)


def test_zero_denominators_give_none_not_a_number():
    empty = metrics.score([])
    assert (empty.precision, empty.recall, empty.f1,
            empty.false_positive_rate) == (None, None, None, None)
    only_benign = metrics.score([("benign", "benign"), ("benign", "skipped")])
    assert only_benign.precision is None        # nothing blocked
    assert only_benign.recall is None           # nothing malicious
    assert only_benign.f1 is None
    assert only_benign.false_positive_rate == 0.0
    all_missed = metrics.score([("malicious", "benign")])
    assert all_missed.recall == 0.0
    assert all_missed.precision is None
    assert all_missed.f1 is None
    assert all_missed.false_positive_rate is None
    both_zero = metrics.score([("malicious", "benign"), ("benign", "unsafe")])
    assert (both_zero.precision, both_zero.recall, both_zero.f1) == (0.0, 0.0, 0.0)


def test_unknown_labels_and_verdicts_are_refused():
    with pytest.raises(ValueError):
        metrics.score([("malware", "unsafe")])
    with pytest.raises(ValueError):
        metrics.score([("benign", "maybe")])


def test_per_group_scores_and_table():
    items = [("npy", "benign", "error"), ("npy", "benign", "benign"),
             ("raw-pickle", "malicious", "unsafe")]
    groups = metrics.score_groups(items, lambda i: i[0], lambda i: i[1:])
    assert list(groups) == ["npy", "raw-pickle"]
    assert (groups["npy"].fp, groups["npy"].tn, groups["npy"].errors) == (1, 1, 1)
    assert groups["raw-pickle"].tp == 1
    text = metrics_table(list(groups.items()))
    lines = text.splitlines()
    assert lines[0].startswith("| tool | files | tp | fp | tn | fn |")
    assert lines[2] == ("| npy | 2 | 0 | 1 | 1 | 0 | 1 (0/1) | 0 | 0.000 | n/a "
                        "| n/a | 0.500 |")
    assert lines[3] == ("| raw-pickle | 1 | 1 | 0 | 0 | 0 | 0 (0/0) | 0 | 1.000 "
                        "| 1.000 | 1.000 | n/a |")


# ---- the peers -------------------------------------------------------------

def test_every_peer_is_installed():
    # A missing tool raises PackageNotFoundError here: it fails, never skips.
    for peer in ALL_PEERS:
        assert peer.version()


def test_picklescan(samples):
    files, _ = samples
    got = verdicts_of(PICKLESCAN, files)
    assert got["benign"]["verdict"] == "benign", got["benign"]
    assert got["malicious"]["verdict"] == "unsafe", got["malicious"]
    assert "os.system" in got["malicious"]["finding"]
    # Suspicious (unknown) globals pass by default and block with --strict.
    assert got["suspicious"]["verdict"] == "benign", got["suspicious"]
    assert got["suspicious"]["variants"] == {"strict": "unsafe"}
    assert got["benign"]["variants"] == {"strict": "benign"}


def test_modelscan(samples, tmp_path):
    files, _ = samples
    files["unread"] = tmp_path / "evil.gz"
    files["unread"].write_bytes(files["malicious"].read_bytes())
    got = verdicts_of(MODELSCAN, files)
    assert got["benign"]["verdict"] == "benign", got["benign"]
    assert got["malicious"]["verdict"] == "unsafe", got["malicious"]
    assert "CRITICAL os.system" in got["malicious"]["finding"]
    # modelscan chooses by extension: the same payload named .gz is skipped.
    assert got["unread"]["verdict"] == "skipped", got["unread"]


def test_fickling(samples, tmp_path):
    files, _ = samples
    files["not_a_pickle"] = tmp_path / "weights.bin"
    files["not_a_pickle"].write_bytes(b"\xff\xfe not a pickle")
    got = verdicts_of(FICKLING, files)
    assert got["benign"]["verdict"] == "benign", got["benign"]
    assert got["malicious"]["verdict"] == "unsafe", got["malicious"]
    assert got["malicious"]["variants"] == {"overtly_malicious": "unsafe"}
    assert got["not_a_pickle"]["verdict"] == "error", got["not_a_pickle"]


def test_torch_weights_only_blocks_the_payload_without_running_it(samples, tmp_path):
    import torch

    files, canary = samples
    state = tmp_path / "state.pt"
    buffer = io.BytesIO()
    torch.save({"weight": torch.zeros(2, 3)}, buffer)
    state.write_bytes(buffer.getvalue())
    evil = tmp_path / "evil.pt"
    evil.write_bytes(files["malicious"].read_bytes())
    broken = tmp_path / "broken.pt"
    broken.write_bytes(buffer.getvalue()[:40])
    got = verdicts_of(TORCH_WEIGHTS_ONLY,
                      {"state": state, "evil": evil, "broken": broken})
    assert got["state"]["verdict"] == "benign", got["state"]
    assert got["evil"]["verdict"] == "unsafe", got["evil"]
    assert "os.system" in got["evil"]["finding"] or \
        "posix.system" in got["evil"]["finding"], got["evil"]
    assert got["broken"]["verdict"] == "error", got["broken"]
    assert not canary.exists()


# ---- worker processes ------------------------------------------------------

def test_a_crash_or_a_hang_costs_only_the_file_that_caused_it(tmp_path):
    names = ["a.pkl", "crash.pkl", "b.pkl", "hang.pkl", "c.pkl", "raise.pkl"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    paths = [str(tmp_path / n) for n in names]
    results = batch.run_files(FIXTURE_TOOL, paths, batch_size=len(paths),
                              batch_timeout=20, file_timeout=1)
    by_name = {os.path.basename(p): r for p, r in results.items()}
    for name in ("a.pkl", "b.pkl", "c.pkl"):
        assert by_name[name]["verdict"] == "benign"
        assert by_name[name]["finding"] == "read " + name
        assert by_name[name]["variants"] == {"twin": "benign"}
    assert by_name["crash.pkl"]["verdict"] == "error"
    assert "exited with status 3" in by_name["crash.pkl"]["finding"]
    assert by_name["hang.pkl"]["verdict"] == "error"
    assert by_name["hang.pkl"]["finding"] == "timed out after 1 s"
    assert by_name["raise.pkl"]["verdict"] == "error"
    assert by_name["raise.pkl"]["finding"] == "ValueError: cannot read raise.pkl"


def test_a_batch_that_times_out_keeps_the_files_it_finished(tmp_path):
    for name in ("first.pkl", "hang.pkl"):
        (tmp_path / name).write_bytes(b"")
    done, failure, _ = batch.run_worker(
        FIXTURE_TOOL, [str(tmp_path / "first.pkl"), str(tmp_path / "hang.pkl")],
        timeout=1.5)
    assert failure == "timed out after 1.5 s"
    assert list(done) == [str(tmp_path / "first.pkl")]


def test_a_worker_that_leaves_files_behind_stops_the_run(tmp_path):
    (tmp_path / "litter.pkl").write_bytes(b"")
    with pytest.raises(batch.SideEffectError, match="left-behind.txt"):
        batch.run_files(FIXTURE_TOOL, [str(tmp_path / "litter.pkl")])


def test_workers_get_a_stripped_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    monkeypatch.setenv("LD_PRELOAD", "")
    (tmp_path / "env.pkl").write_bytes(b"")
    result = batch.run_files(FIXTURE_TOOL, [str(tmp_path / "env.pkl")])
    names = set(result[str(tmp_path / "env.pkl")]["finding"].split())
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in names
    assert "LD_PRELOAD" not in names
    assert {"HOME", "PYTHONPATH", "TMPDIR"} <= names


# ---- cache -------------------------------------------------------------------

def test_cache_is_keyed_on_the_tool_version(samples, tmp_path):
    files, _ = samples
    path = str(files["benign"])
    planted = {"verdict": "unsafe", "finding": "planted", "seconds": 0.0,
               "variants": {"strict": "unsafe"}}

    def key(version):
        return cache_key(PICKLESCAN.name, version, PICKLESCAN.runner_digest(),
                         file_sha256(path), ".pkl")

    cache_file = tmp_path / "cache.json"
    same_version = ResultCache(str(cache_file))
    same_version.put(key(PICKLESCAN.version()), planted)
    results, stats = collect(PICKLESCAN, [path], same_version)
    assert results[path] == planted
    assert (stats["run"], stats["cached"]) == (0, 1)

    other_version = ResultCache(None)
    other_version.put(key("0.0.1"), planted)
    results, stats = collect(PICKLESCAN, [path], other_version)
    assert results[path]["verdict"] == "benign"
    assert (stats["run"], stats["cached"]) == (1, 0)


def test_cache_survives_a_round_trip_through_its_file(tmp_path):
    cache_file = tmp_path / "sub" / "cache.json"
    cache = ResultCache(str(cache_file))
    cache.put("k", {"verdict": "benign"})
    cache.save()
    assert ResultCache(str(cache_file)).get("k") == {"verdict": "benign"}


# ---- manifests ---------------------------------------------------------------

def test_generic_manifest_with_a_container_column(tmp_path):
    (tmp_path / "a.pt").write_bytes(b"x")
    (tmp_path / "b.pkl").write_bytes(b"x")
    (tmp_path / "c.bin").write_bytes(b"x")
    manifest = tmp_path / "m.tsv"
    manifest.write_text("path\tlabel\tcontainer\n"
                        "a.pt\tmalicious\traw-pickle protocol 2\n"
                        "b.pkl\tbenign\traw-pickle protocol 4\n"
                        "c.bin\tbenign\ttorch-zip\n")
    files = read_manifest(str(manifest), str(tmp_path))
    assert [f.label for f in files] == ["malicious", "benign", "benign"]
    assert all(f.scored for f in files)
    assert [f.is_torch_file for f in files] == [True, False, True]
    assert [f.format_family for f in files] == ["raw-pickle", "raw-pickle",
                                                "torch-zip"]


def test_manifest_errors_name_the_line(tmp_path):
    manifest = tmp_path / "m.tsv"
    manifest.write_text("path\tlabel\tformat\nmissing.pkl\tbenign\tother\n")
    with pytest.raises(FileNotFoundError, match="line 2"):
        read_manifest(str(manifest), str(tmp_path))
    (tmp_path / "x.pkl").write_bytes(b"")
    manifest.write_text("path\tlabel\tformat\nx.pkl\tunknown\tother\n")
    with pytest.raises(ValueError, match="line 2"):
        read_manifest(str(manifest), str(tmp_path))


def test_shared_corpus_classes_are_split_as_documented(corpus_root):
    files = read_manifest(str(corpus_root / "MANIFEST.tsv"), str(corpus_root))
    scored = {f.cls for f in files if f.scored}
    apart = {f.cls for f in files if not f.scored}
    assert scored == {"rce", "torchscript", "benign", "nonpickle"}
    assert apart == {"codeobj", "context", "inert"}
