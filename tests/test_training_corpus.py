"""The training-corpus generator (python3 -m training.generate).

The quick corpus is generated once with a canary. Every malicious sample in
it (one per family; every delivery, container and placement among them) is
loaded with its real loader in a throw-away subprocess, and must create its
canary file: no family is a dud. Samples injected into a benign model must
also still load as that model. Benign samples are read back with their
loader and must equal the object they were saved from, without creating
any canary. A second generation with the same seed must give the same bytes.

Malicious files are never loaded in this process.
"""

import json
import os
import pickletools
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.budget import scaled
from tests.corpus_sandbox import load_in_subprocess
from training import catalogue, containers, deliveries, malicious
from training.benign.groups import GROUPS
from training.manifest import COLUMNS, read_manifest

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED = 11
LOADERS = {"pickle", "torch", "joblib", "numpy", "pandas"}
# Without sanitizers: the children run no code of this project.
CHILD_ENV_DROP = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC")


def generate_command(out, canary):
    return [sys.executable, "-m", "training.generate", "--out", str(out),
            "--quick", "--seed", str(SEED), "--canary", str(canary)]


def child_env():
    env = {k: v for k, v in os.environ.items() if k not in CHILD_ENV_DROP}
    env["PYTHONHASHSEED"] = "0"
    return env


def canary_exists(path):
    return os.path.lexists(path)


def remove_canary(path):
    if os.path.isdir(path) and not os.path.islink(path):
        os.rmdir(path)
    else:
        os.remove(path)


def run_family(root, canary, rows, scratch):
    """Load a family's samples one after the other (they share a canary)."""
    results = []
    for row in rows:
        target = "%s-%s" % (canary, row["family"])
        if canary_exists(target):
            remove_canary(target)
        workdir = tempfile.mkdtemp(dir=scratch)
        rc, loaded, err = load_in_subprocess(row["loader"], root / row["path"],
                                             workdir, timeout=120)
        # Some payloads start a process and return before it has run.
        deadline = time.monotonic() + 10
        while not canary_exists(target) and time.monotonic() < deadline:
            time.sleep(0.05)
        fired = canary_exists(target)
        if fired:
            remove_canary(target)
        results.append((row, fired, rc, loaded, err))
    return results


class QuickCorpus:
    def __init__(self, base):
        self.root = base / "corpus"
        self.canary_dir = base / "canary"
        self.canary_dir.mkdir()
        self.canary = self.canary_dir / "fired"
        self.scratch = base / "scratch"
        self.scratch.mkdir()
        started = time.monotonic()
        subprocess.run(generate_command(self.root, self.canary), cwd=REPO_ROOT,
                       env=child_env(), check=True, capture_output=True,
                       timeout=300)
        self.generation_seconds = time.monotonic() - started
        self.rows = read_manifest(self.root / "manifest.tsv")
        # The second generation runs in the background meanwhile.
        self.second_root = base / "again"
        self.second = subprocess.Popen(
            generate_command(self.second_root, self.canary), cwd=REPO_ROOT,
            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pool = ThreadPoolExecutor(2)
        self._loads = None

    def loads(self):
        """Futures of the malicious loads, started on first use (after the
        benign checks, so that a canary seen there cannot come from here)."""
        if self._loads is None:
            by_family = defaultdict(list)
            for row in self.rows:
                if row["label"] == "malicious":
                    by_family[row["family"]].append(row)
            self._loads = [self.pool.submit(run_family, self.root, self.canary,
                                            rows, self.scratch)
                           for rows in by_family.values()]
        return self._loads

    def fired(self):
        return sorted(p.name for p in self.canary_dir.iterdir())

    def close(self):
        for future in self._loads or ():
            future.cancel()
        self.pool.shutdown(wait=True)
        if self.second.poll() is None:
            self.second.kill()
            self.second.wait()


@pytest.fixture(scope="module")
def quick():
    base = Path(tempfile.mkdtemp(prefix="safepickle-training-"))
    corpus = QuickCorpus(base)
    try:
        yield corpus
    finally:
        corpus.close()
        shutil.rmtree(base, ignore_errors=True)


def malicious_rows(quick):
    return [row for row in quick.rows if row["label"] == "malicious"]


def benign_rows(quick):
    return [row for row in quick.rows if row["label"] == "benign"]


# ---- manifest -------------------------------------------------------------------

def test_manifest_columns_and_values(quick):
    with open(quick.root / "manifest.tsv", encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
    assert header == list(COLUMNS)
    families = catalogue.by_name()
    for row in quick.rows:
        assert (quick.root / row["path"]).is_file(), row["path"]
        assert row["loader"] in LOADERS, row
        assert row["container"] in containers.CONTAINERS, row
        assert row["placement"] in ("standalone", "injected"), row
        assert row["protocol"] in ("", "0", "1", "2", "3", "4", "5"), row
        assert row["description"], row
        if row["label"] == "malicious":
            family = families[row["family"]]
            assert row["capability"] == family.capability
            assert row["payload"] == family.payload
            assert row["delivery"] in deliveries.DELIVERIES
            assert row["protocol"] != ""
        else:
            assert row["label"] == "benign", row
            assert row["family"] in GROUPS, row
            assert row["capability"] == row["payload"] == row["delivery"] == ""
    paths = [row["path"] for row in quick.rows]
    assert len(paths) == len(set(paths))
    on_disk = {str(p.relative_to(quick.root)) for p in quick.root.rglob("*")
               if p.is_file()} - {"manifest.tsv"}
    assert on_disk == set(paths)


def test_quick_corpus_covers_every_family_delivery_container_and_placement(quick):
    rows = malicious_rows(quick)
    assert {r["family"] for r in rows} == {f.name for f in catalogue.FAMILIES}
    assert {r["delivery"] for r in rows} == set(deliveries.DELIVERIES)
    assert {r["container"] for r in rows} == set(containers.CONTAINERS)
    assert {r["placement"] for r in rows} == {"standalone", "injected"}
    assert {r["capability"] for r in rows} == set(catalogue.CAPABILITIES)
    groups = defaultdict(int)
    for row in benign_rows(quick):
        groups[row["family"]] += 1
    assert set(groups) == set(GROUPS)
    assert min(groups.values()) >= 2


def test_catalogue_has_at_least_forty_families_in_every_capability():
    names = [f.name for f in catalogue.FAMILIES]
    assert len(names) == len(set(names)) >= 40
    assert {f.capability for f in catalogue.FAMILIES} == set(catalogue.CAPABILITIES)


# ---- benign ---------------------------------------------------------------------

BENIGN_PER_GROUP = max(1, scaled(30) // 10)


@pytest.fixture(scope="module")
def roundtrip(quick):
    """Benign files read back in a child process (tests/corpus_roundtrip.py),
    before any malicious sample is loaded: a canary seen meanwhile can only
    come from a benign file."""
    before = quick.fired()
    proc = subprocess.run(
        [sys.executable, "-m", "tests.corpus_roundtrip", str(quick.root), str(SEED),
         str(BENIGN_PER_GROUP)], cwd=REPO_ROOT, env=child_env(), capture_output=True,
        timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    result = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    result["fired"] = (before, quick.fired())
    return result


def test_benign_samples_load_equal_to_their_objects(quick, roundtrip):
    result = roundtrip
    assert result["fired"] == ([], []), "a benign file ran a payload"
    assert not result["failures"], "\n".join(result["failures"])
    checked = defaultdict(int)
    for path in result["checked"]:
        checked[path.split("/")[1]] += 1
    available = defaultdict(int)
    for row in benign_rows(quick):
        available[row["family"]] += 1
    assert set(checked) == set(GROUPS)
    for group, count in checked.items():
        assert count == min(BENIGN_PER_GROUP, available[group]), group


# ---- malicious ------------------------------------------------------------------

def test_every_malicious_sample_runs_its_payload(quick, roundtrip):
    duds, broken_hosts = [], []
    hosts = roundtrip["host_types"]
    assert quick.fired() == []
    for future in quick.loads():
        for row, fired, rc, loaded, err in future.result(timeout=900):
            if not fired:
                tail = err.strip().splitlines()[-1:] if err.strip() else []
                duds.append("%s (%s, rc %s): %s" % (row["path"], row["loader"], rc,
                                                    tail))
            if row["placement"] == "injected":
                host_path = row["description"].rsplit(" into ", 1)[1]
                if loaded != hosts[host_path] or rc != 0:
                    broken_hosts.append("%s: loaded %r (rc %s), host is %r"
                                        % (row["path"], loaded, rc, hosts[host_path]))
    assert not duds, "payload did not run:\n" + "\n".join(duds)
    assert not broken_hosts, "model broken by injection:\n" + "\n".join(broken_hosts)


def test_payload_strings_are_harmless_without_canary():
    """Without --canary the arguments come from the realistic lists: hosts
    under .example, writes only under /tmp, nothing deleted."""
    rng = random.Random(3)
    for family in catalogue.FAMILIES:
        for _ in range(scaled(12) // 4):
            data = malicious.standalone_pickle(family, "reduce", rng.choice((3, 4, 5)),
                                               rng, None)
            for opcode, arg, _ in pickletools.genops(data):
                if not isinstance(arg, str):
                    continue
                assert "rm " not in arg and "mkfs" not in arg and "dd " not in arg, arg
                for scheme in ("http://", "https://"):
                    if scheme in arg:
                        host = arg.split(scheme, 1)[1].split("/", 1)[0].split(":")[0]
                        assert host.endswith("attacker.example"), arg
                if arg.startswith("/") and family.capability in ("filesystem",):
                    assert arg.startswith(("/tmp/", "/etc/")), arg


def test_canary_generation_is_deterministic(quick):
    _, err = quick.second.communicate(timeout=300)
    assert quick.second.returncode == 0, err.decode()[-2000:]
    first = {p.relative_to(quick.root): p.read_bytes()
             for p in quick.root.rglob("*") if p.is_file()}
    second = {p.relative_to(quick.second_root): p.read_bytes()
              for p in quick.second_root.rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    differing = [str(k) for k in first if first[k] != second[k]]
    assert not differing, differing[:10]


def test_generation_refuses_a_non_empty_output_directory(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    proc = subprocess.run([sys.executable, "-m", "training.generate", "--out",
                           str(tmp_path), "--quick"], cwd=REPO_ROOT, env=child_env(),
                          capture_output=True, timeout=120)
    assert proc.returncode != 0
    assert b"not empty" in proc.stderr
    assert (tmp_path / "keep.txt").read_text() == "x"
