"""Evaluate the classifier and its peers: ``python3 -m benchmarks.evaluate``.

    python3 -m training.generate --out build/corpus
    python3 -m benchmarks.evaluate --generated build/corpus

Writes one markdown report (default ``benchmarks/results/classifier.md``):

(a) the shared corpus under a split grouped by origin repository: five
    folds; each fold's model is trained on the generated corpus and the
    other folds, its threshold chosen on its own training data (inner
    grouped folds, the rule of ``training/fit.py``), and judged on the
    held-out repositories;
(b) leave-one-family-out over the generated malicious families: for each
    family a model trained without it (and the shipped threshold) judges
    its files;
(c) per format: the predictions of (a) by the corpus's format, those of
    (b) by container.

SafePickle is reported three ways: the layered verdict that ships, the
rules alone and the model alone. The peers (picklescan, modelscan, fickling,
``torch.load(weights_only=True)`` on torch files) run on the same files
through ``benchmarks.peers``. Every figure counts an ``error`` verdict as a
blocked load (see ``benchmarks/peers/metrics.py``); how many there were is
in the tables.
"""

import argparse
import collections
import os
import sys
import time

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from safepickle import _native
from safepickle.classifier import bundled_model
from training import dataset, fit

from . import loadable
from .peers import metrics
from .peers.corpus import TORCH_SUFFIXES, CorpusFile
from .peers.run_corpus import run_peers
from .peers.table import markdown_table, metrics_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SHARED = os.path.join(os.path.dirname(ROOT), "shared", "corpus")
DEFAULT_OUT = os.path.join(ROOT, "benchmarks", "results", "classifier.md")
DEFAULT_CACHE = os.path.join(ROOT, "build", "peers-cache")

LAYERED = "SafePickle"
RULES = "SafePickle, rules alone"
MODEL = "SafePickle, model alone"


def label_name(entry):
    return "malicious" if entry.label == 1 else "benign"


def layered(rule_verdict, score, threshold):
    """The verdict sp_file_decide gives from the rules' verdict and the
    highest record score (checked against the real path in check_shortcut)."""
    if rule_verdict != "benign":
        return rule_verdict
    return "unsafe" if score >= threshold else "benign"


def model_alone(score, threshold):
    return "unsafe" if score >= threshold else "benign"


def is_torch_file(entry):
    return as_corpus_file(entry).is_torch_file


def as_corpus_file(entry):
    """The peers' view of an entry (benchmarks.peers.corpus)."""
    return CorpusFile(path=entry.path, label=label_name(entry), cls=entry.klass, format=entry.fmt)


def log(msg):
    print(f"[evaluate] {msg}", file=sys.stderr, flush=True)


def scan_all(entries):
    """Rows of every entry with a label (0/1); every entry, rows or not
    (evaluation-only classes, numeric arrays), gets its rule verdict."""
    rows = dataset.build_rows(entries)
    for entry in entries:
        if not entry.rule_verdict:
            _records, entry.rule_verdict, _fmt = dataset.scan_records(entry.path)
    return rows


def grouped_shared_split(rows, n_splits=5, seed=7):
    """(a): {entry id: (score, threshold)} for every shared file with rows."""
    out = {}
    shared = np.array([f.source == "shared" for f in rows.files])
    idx = np.flatnonzero(shared)
    labels = np.array([rows.files[i].label for i in idx])
    groups = np.array([rows.files[i].group for i in idx])
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for k, (_tr, te) in enumerate(splitter.split(np.zeros(len(idx)), labels, groups)):
        test_mask = np.zeros(len(rows.files), bool)
        test_mask[idx[te]] = True
        train = fit.subset(rows, ~test_mask)
        # the shipped threshold rule, on this fold's training data alone
        threshold, _ = fit.held_out_threshold(train, n_splits=3, seed=11)
        model, _ = fit.fit(train)
        test = fit.subset(rows, test_mask)
        scores = fit.file_scores(_native.Classifier(model), test)
        for f, s in zip(test.files, scores):
            out[id(f)] = (s, threshold)
        log(f"(a) fold {k + 1}/{n_splits}: {len(test.files)} files held out, "
            f"threshold {threshold:.3f}")
    return out


def leave_one_family_out(rows, threshold):
    """(b): {entry id: score} for every generated malicious file, each from
    a model that never saw its family."""
    out = {}
    families = sorted({f.family for f in rows.files if f.source == "generated" and f.label == 1})
    for k, fam in enumerate(families):
        held = np.array([f.source == "generated" and f.label == 1 and f.family == fam
                         for f in rows.files])
        model, _ = fit.fit(fit.subset(rows, ~held))
        test = fit.subset(rows, held)
        scores = fit.file_scores(_native.Classifier(model), test)
        for f, s in zip(test.files, scores):
            out[id(f)] = s
        caught = int(sum(layered(f.rule_verdict, s, threshold) != "benign"
                         for f, s in zip(test.files, scores)))
        log(f"(b) {k + 1}/{len(families)} {fam}: {caught}/{len(test.files)} blocked")
    return out


def check_shortcut(rows, threshold):
    """The tables combine rule verdicts and row scores; the shipped path is
    _native.scan. Compare them on the shipped model, file by file, for the
    shared corpus."""
    model = bundled_model()
    shared = fit.subset(rows, np.array([f.source == "shared" for f in rows.files]))
    scores = fit.file_scores(model.classifier, shared)
    mismatches = []
    for f, s in zip(shared.files, scores):
        with open(f.path, "rb") as fh:
            raw = _native.scan(fh.read(), detail=False, classifier=model.classifier,
                               threshold=threshold)
        if raw["verdict"] != layered(f.rule_verdict, s, threshold):
            mismatches.append(f.path)
    return len(shared.files), mismatches


def table_for(files, verdict_sets):
    """metrics rows for each (name, {path: verdict}) over files, skipping a
    tool that did not run on all of them."""
    rows = []
    for name, by_path in verdict_sets:
        if not all(f.path in by_path for f in files):
            continue
        rows.append((name, metrics.score([(label_name(f), by_path[f.path]) for f in files])))
    return rows


def grouped_table(files, key, verdict_sets, header):
    """One metrics row per (group, tool), groups in sorted order."""
    groups = collections.defaultdict(list)
    for e in files:
        groups[key(e)].append(e)
    rows = [(f"{g}: {name}", s) for g in sorted(groups)
            for name, s in table_for(groups[g], verdict_sets)]
    return metrics_table(rows, first_header=header)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m benchmarks.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generated", help="generated corpus directory (without it, the shared "
                   "corpus alone: (a) only)")
    p.add_argument("--shared", default=DEFAULT_SHARED)
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--cache", default=DEFAULT_CACHE, help="peer results cache directory")
    p.add_argument("--no-peers", action="store_true")
    args = p.parse_args(argv)
    started = time.time()

    shared = dataset.read_shared(args.shared)
    generated = dataset.read_generated(args.generated) if args.generated else []
    entries = shared + generated
    log(f"scanning {len(entries)} files")
    rows = scan_all(entries)
    shipped = bundled_model()
    threshold = shipped.threshold

    log("(a) grouped split of the shared corpus")
    split_a = grouped_shared_split(rows)
    log("(b) leave one family out")
    split_b = leave_one_family_out(rows, threshold)

    # SafePickle verdicts per path, for each of the three readings
    ours = {LAYERED: {}, RULES: {}, MODEL: {}}
    for e in entries:
        if e.label not in (0, 1):
            continue
        if id(e) in split_a:
            s, t = split_a[id(e)]
        elif id(e) in split_b:
            s, t = split_b[id(e)], threshold
        else:
            s, t = -1.0, threshold  # no pickle inside, or a generated benign file
        ours[RULES][e.path] = e.rule_verdict
        ours[LAYERED][e.path] = layered(e.rule_verdict, s, t)
        ours[MODEL][e.path] = model_alone(s, t)

    shared_scored = [e for e in shared if e.label in (0, 1)]
    gen_mal = [e for e in generated if e.label == 1]
    peers = {}
    if not args.no_peers:
        peers, _stats, _raw = run_peers([as_corpus_file(e) for e in shared_scored + gen_mal],
                                        args.cache, log)
    verdict_sets = list(ours.items()) + list(peers.items())

    n_checked, mismatches = check_shortcut(rows, threshold)
    log("which benign files load at all")
    loads = loadable.loadable_map([e for e in shared_scored if e.label == 0],
                                  os.path.join(args.cache, "loadable.json"))
    unloadable = [e for e in shared_scored if e.label == 0 and not loads[e.path]["loadable"]]
    shared_loadable = [e for e in shared_scored if e.label == 1 or loads[e.path]["loadable"]]
    out = []
    out.append("# Classifier evaluation\n")
    out.append(f"Command: `python3 -m benchmarks.evaluate --generated "
               f"{os.path.relpath(args.generated, ROOT) if args.generated else ''}`; "
               f"libxgboost {_native.library_versions()['xgboost']}, feature layout "
               f"v{_native.FEATURE_VERSION}, shipped threshold {threshold:.3f}. "
               f"Run time {time.time() - started:.0f} s.\n")
    out.append(f"Shared corpus: {len(shared_scored)} scored files "
               f"({sum(e.label == 1 for e in shared_scored)} `rce`, "
               f"{sum(e.label == 0 for e in shared_scored)} `benign`/`nonpickle`); generated: "
               f"{len(gen_mal)} malicious files in "
               f"{len({e.family for e in gen_mal})} families, "
               f"{sum(e.label == 0 for e in generated)} benign files.\n")
    out.append(f"The verdicts in these tables combine each file's rule verdict with its "
               f"highest record score; on the shipped model, `_native.scan` gives the same "
               f"verdict for {n_checked - len(mismatches)} of {n_checked} shared files"
               + (f" (differs on: {', '.join(os.path.basename(m) for m in mismatches[:5])})"
                  if mismatches else "") + ".\n")

    out.append("## (a) Shared corpus, split grouped by origin repository\n")
    out.append(metrics_table(table_for(shared_scored, verdict_sets)))
    out.append(f"\nThe same files without the {len(unloadable)} benign files that no loader "
               "loads (`benchmarks/loadable.py`: every loader a user might hand them to raises "
               "on the file itself, e.g. joblib's refusal of Python 2 pickles, torch's of "
               "archives without a directory, bytes that are not a pickle). Blocking those "
               "costs nothing; these are the false positives a user would meet:\n")
    out.append(metrics_table(table_for(shared_loadable, verdict_sets)))
    torch_files = [e for e in shared_scored if is_torch_file(e)]
    out.append(f"\nTorch files only ({len(torch_files)}: torch formats and raw pickles named "
               f"{', '.join(TORCH_SUFFIXES)}):\n")
    out.append(metrics_table(table_for(torch_files, verdict_sets)))
    torch_loadable = [e for e in torch_files if e in shared_loadable]
    out.append(f"\nTorch files that load ({len(torch_loadable)}):\n")
    out.append(metrics_table(table_for(torch_loadable, verdict_sets)))

    out.append("\n## (b) Leave one family out, generated malicious files\n")
    out.append("Recall only: every file here is malicious. Each SafePickle row uses, for every "
               "file, a model trained without that file's family.\n")
    out.append(metrics_table(table_for(gen_mal, verdict_sets)))
    fam_rows = []
    families = collections.defaultdict(list)
    for e in gen_mal:
        families[e.family].append(e)
    names = [n for n, _ in verdict_sets if all(e.path in dict(verdict_sets)[n] for e in gen_mal)]
    for fam in sorted(families):
        files = families[fam]
        cells = [fam, len(files)]
        for n in names:
            by_path = dict(verdict_sets)[n]
            cells.append("%d" % sum(metrics.blocks_load(by_path[e.path]) for e in files))
        fam_rows.append(cells)
    out.append("\nBlocked per family (files blocked out of the family's files):\n")
    out.append(markdown_table(["family", "files"] + names, fam_rows))

    out.append("\n## (c) Per format\n")
    out.append("Shared corpus, by the manifest's format (predictions of (a)):\n")
    out.append(grouped_table(shared_scored, lambda e: e.fmt.split(" ")[0], verdict_sets,
                             "format: tool"))
    out.append("\nGenerated malicious files, by container (predictions of (b)):\n")
    out.append(grouped_table(gen_mal, lambda e: e.fmt, verdict_sets, "container: tool"))

    out.append("\n## SafePickle's mistakes\n")
    mistakes = []
    for e in shared_scored + gen_mal:
        v = ours[LAYERED][e.path]
        if e.label == 1 and not metrics.blocks_load(v):
            kind = "missed"
        elif e.label == 0 and v == "unsafe":
            kind = "false positive"
        else:
            continue
        s_a = split_a.get(id(e), (None, None))[0] if id(e) in split_a else split_b.get(id(e))
        mistakes.append([kind, e.source, e.family, e.fmt.split(" ")[0],
                         "n/a" if s_a is None else "%.3f" % s_a, os.path.basename(e.path)])
    out.append(markdown_table(["kind", "corpus", "class or family", "format", "held-out score",
                               "file"], mistakes) if mistakes else "None.\n")

    others = [e for e in shared if e.label not in (0, 1)]
    out.append("\n## Classes outside the score (shipped model)\n")
    counts = collections.Counter((e.klass, e.rule_verdict) for e in others)
    out.append(markdown_table(["class", "rules verdict", "files"],
                              [[k, v, n] for (k, v), n in sorted(counts.items())]))
    text = "\n".join(out)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
