"""Run every peer on a corpus and write the comparison as markdown.

    python3 -m benchmarks.peers.run_corpus [--corpus DIR] [--out FILE] [--cache DIR]
    python3 -m benchmarks.peers.run_corpus --manifest FILE --root DIR [--out FILE]

The static peers read every file; ``torch.load(weights_only=True)`` reads
only the torch files (see ``corpus.CorpusFile.is_torch_file``). Results are
cached per peer in ``--cache`` (one JSON file each), so a second run only
scans what changed.
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from collections import Counter

from . import metrics
from .batch import REPO_ROOT
from .cache import ResultCache
from .collect import collect
from .corpus import SEPARATE_CLASSES, read_manifest
from .table import METRIC_COLUMNS, markdown_table, metric_cells, metrics_table
from .tools import STATIC_PEERS, TORCH_WEIGHTS_ONLY
from .verdicts import ERROR, SKIPPED, blocks_load

DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "peers-corpus.md"
DEFAULT_CACHE = REPO_ROOT / "build" / "peers-cache"


def _slug(name):
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def run_peers(files, cache_dir, log):
    """{row label: {path: verdict}}, per-peer stats and raw results."""
    verdicts = {}
    stats = {}
    raw = {}
    torch_paths = [f.path for f in files if f.is_torch_file]
    plan = [(peer, [f.path for f in files]) for peer in STATIC_PEERS]
    plan.append((TORCH_WEIGHTS_ONLY, torch_paths))
    for peer, paths in plan:
        log("%s: %d files" % (peer.name, len(paths)))
        cache_file = None
        if cache_dir is not None:
            cache_file = os.path.join(cache_dir, _slug(peer.name) + ".json")
        results, stats[peer.name] = collect(peer, paths,
                                            ResultCache(cache_file))
        log("  %(run)d scanned, %(cached)d from cache, %(wall_seconds).1f s"
            % stats[peer.name])
        raw[peer.name] = results
        for variant, label in peer.row_labels():
            # A file the tool failed on has no variants: error for all.
            verdicts[label] = {
                path: r["variants"].get(variant, r["verdict"])
                for path, r in results.items()}
    return verdicts, stats, raw


def _pairs(files, verdicts_of):
    return [(f.label, verdicts_of[f.path]) for f in files]


def _overall(files, verdicts):
    return metrics_table([(label, metrics.score(_pairs(files, by_path)))
                          for label, by_path in verdicts.items()
                          if all(f.path in by_path for f in files)])


def _per_format(files, verdicts):
    """One block of rows per format family; a tool appears in a block only
    when it read every file of it (torch.load reads the torch files only)."""
    per_tool = {
        label: metrics.score_groups(
            [f for f in files if f.path in by_path],
            lambda f: f.format_family,
            lambda f, by_path=by_path: (f.label, by_path[f.path]))
        for label, by_path in verdicts.items()}
    rows = []
    for family in sorted({f.format_family for f in files}):
        group = [f for f in files if f.format_family == family]
        heading = "%s (%d mal / %d ben)" % (
            family, sum(f.label == "malicious" for f in group),
            sum(f.label == "benign" for f in group))
        for label, groups in per_tool.items():
            if family in groups and groups[family].files == len(group):
                rows.append([heading, label] + metric_cells(groups[family]))
                heading = ""
    return markdown_table(("format", "tool") + METRIC_COLUMNS, rows)


def _separate_classes(files, verdicts):
    classes = [c for c in SEPARATE_CLASSES if any(f.cls == c for f in files)]
    headers = ["tool"] + ["%s (%d %s): blocked (errors)" % (
        c, sum(f.cls == c for f in files),
        next(f.label for f in files if f.cls == c)) for c in classes]
    rows = []
    for label, by_path in verdicts.items():
        cells = [label]
        for c in classes:
            group = [f for f in files if f.cls == c and f.path in by_path]
            if not group:
                cells.append("not run")
                continue
            blocked = sum(blocks_load(by_path[f.path]) for f in group)
            errors = sum(by_path[f.path] == ERROR for f in group)
            cells.append("%d/%d (%d)" % (blocked, len(group), errors))
        rows.append(cells)
    return markdown_table(headers, rows)


def _common_errors(raw, files, per_tool=4):
    """The most frequent error and skip findings of each tool: where a
    tool's errors come from (a format it does not read, a crash of its
    own)."""
    rows = []
    for name, results in raw.items():
        counts = Counter()
        for f in files:
            result = results.get(f.path)
            if result is not None and result["verdict"] in (ERROR, SKIPPED):
                counts[(result["verdict"], result["finding"][:120])] += 1
        for (verdict, finding), n in counts.most_common(per_tool):
            rows.append([name, verdict, n, finding.replace("|", "\\|")])
    return markdown_table(["tool", "verdict", "files", "finding"], rows)


def _runtimes(stats, raw):
    rows = []
    for name, results in raw.items():
        seconds = [r["seconds"] for r in results.values()
                   if r["seconds"] is not None]
        rows.append([name, stats[name]["version"], len(results),
                     "%.2f" % sum(seconds),
                     "%.2f" % (1000 * statistics.median(seconds)) if seconds else "n/a",
                     "%.2f" % (1000 * max(seconds)) if seconds else "n/a",
                     "%d / %d" % (stats[name]["run"], stats[name]["cached"]),
                     "%.1f" % stats[name]["wall_seconds"]])
    return markdown_table(
        ["tool", "version", "files", "scan s (sum)", "median ms", "max ms",
         "scanned now / cached", "wall s (this run)"], rows)


def report(files, verdicts, stats, raw, command):
    scored = [f for f in files if f.scored]
    torch_scored = [f for f in scored if f.is_torch_file]
    classes = Counter((f.label, f.cls) for f in files)
    out = ["# Peer tools on the evaluation corpus", ""]
    out.append("Command: `%s`, %s, Python %s, %s." % (
        command, datetime.date.today().isoformat(), platform.python_version(),
        platform.machine()))
    out.append("")
    out.append("Files by label and class: " + ", ".join(
        "%s/%s %d" % (label, cls, n) for (label, cls), n in sorted(classes.items())))
    out.append("")
    out.append("Scored: malicious `rce` and `torchscript` against benign "
               "`benign` and `nonpickle` (%d files). `error` blocks the load: "
               "tp on a malicious file, fp on a benign one; errors are also "
               "counted apart (malicious/benign). `skipped` lets the file "
               "load. See benchmarks/README.md, section Peers, for the "
               "verdict mappings." % len(scored))
    out.append("")
    out.append("## Overall (%d files: %d malicious, %d benign)" % (
        len(scored), sum(f.label == "malicious" for f in scored),
        sum(f.label == "benign" for f in scored)))
    out.append("")
    out.append(_overall(scored, verdicts))
    out.append("## Torch files only (%d files: %d malicious, %d benign)" % (
        len(torch_scored), sum(f.label == "malicious" for f in torch_scored),
        sum(f.label == "benign" for f in torch_scored)))
    out.append("")
    out.append("Files whose format is a torch format, and raw pickles named "
               "`.pt`, `.pth`, `.ckpt` or `.bin`: the files a torch user hands "
               "to `torch.load`.")
    out.append("")
    out.append(_overall(torch_scored, verdicts))
    out.append("## Classes reported apart")
    out.append("")
    out.append("Files blocked (unsafe or error) out of the class, errors in "
               "brackets. For `codeobj` (benign) a block is a false positive "
               "by label but a defensible policy; `context` and `inert` are "
               "not counted either way.")
    out.append("")
    out.append(_separate_classes(files, verdicts))
    out.append("## Per format (scored files)")
    out.append("")
    out.append(_per_format(scored, verdicts))
    out.append("## Most frequent errors and skips (all files)")
    out.append("")
    out.append(_common_errors(raw, files))
    out.append("## Runtimes")
    out.append("")
    out.append("Per-file time measured inside the worker around the tool's "
               "call (cached results keep the time of the run that made them); "
               "wall time includes worker start-up (interpreter, tool import) "
               "and is 0 when everything came from the cache.")
    out.append("")
    out.append(_runtimes(stats, raw))
    return "\n".join(out)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python3 -m benchmarks.peers.run_corpus",
        description="Run the peer scanners on a corpus and write a table.")
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS),
                        help="folder holding MANIFEST.tsv (default %(default)s)")
    parser.add_argument("--manifest", help="a generic TSV manifest instead "
                        "(columns path, label, format or container)")
    parser.add_argument("--root", help="folder the --manifest paths are "
                        "relative to (default: the manifest's folder)")
    parser.add_argument("--out", default=str(DEFAULT_OUT),
                        help="markdown output (default %(default)s)")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE),
                        help="folder of the per-peer result caches "
                        "(default %(default)s)")
    parser.add_argument("--no-cache", action="store_true",
                        help="scan everything again, store nothing")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.manifest:
        manifest = args.manifest
        root = args.root or os.path.dirname(os.path.abspath(manifest))
    else:
        manifest = os.path.join(args.corpus, "MANIFEST.tsv")
        root = args.corpus
    files = read_manifest(manifest, root)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    start = time.perf_counter()
    verdicts, stats, raw = run_peers(
        files, None if args.no_cache else args.cache, log)
    command = "python3 -m benchmarks.peers.run_corpus " + " ".join(
        sys.argv[1:] if argv is None else argv)
    text = report(files, verdicts, stats, raw, command.strip())
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(text)
    log("done in %.1f s; written to %s" % (time.perf_counter() - start, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
