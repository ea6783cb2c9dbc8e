"""Ordinary objects that refer to callables: bound methods (pickled as
builtins.getattr(obj, name)), functools.partial, operator getters and
method callers with ordinary names, builtins such as print/len/sorted,
sklearn metric functions, random.Random state, paths, SimpleNamespace,
defaultdict factories, enums and dataclasses, and classes of a user's
project (training/benign/project.py). Real model files are full of them:
a benign file naming getattr or a function is not an attack."""

from .common import pickle_or_joblib
# Imported for its effect too: it defines the project's modules, so that the
# process that builds these specs can also load the files naming them.
from . import project
from .spec import BenignSample, sub_seed

# kind -> whether the object names classes of the generation-time project
KINDS = {
    "bound_methods": False, "partials": False, "getters": False,
    "builtins": False, "random_state": False, "paths": False,
    "namespace": False, "defaultdicts": False, "preprocess_registry": False,
    "metric_functions": False, "project_methods": True,
    "project_config": True, "project_registry": True,
}

WORDS = ("weight", "bias", "label", "score", "token", "layer", "epoch", "batch")
README = ("## Results\n\n| split | accuracy | f1 |\n| --- | --- | --- |\n"
          "| train | %.3f | %.3f |\n| valid | %.3f | %.3f |\n\n"
          "Reproduce with `python train.py --epochs %d --lr %g`.\n")


def _readme(r):
    return README % (r.random(), r.random(), r.random(), r.random(),
                     r.randint(1, 50), r.choice((1e-3, 3e-4, 0.01)))


def _object(kind, n, seed):
    def make():
        import collections
        import functools
        import operator
        import pathlib
        import random
        import types
        r = random.Random(seed)
        words = [r.choice(WORDS) + str(i) for i in range(n)]
        if kind == "bound_methods":
            history = [round(r.random(), 4) for _ in range(n)]
            counts = collections.Counter(words)
            return {"log": history.append, "total": counts.total,
                    "fmt": ("{:.%df}" % r.randint(1, 6)).format,
                    "join": ", ".join, "lookup": {w: i for i, w in enumerate(words)}.get,
                    "upper": str.upper, "keys": dict.keys, "history": history}
        if kind == "partials":
            return [functools.partial(round, ndigits=r.randint(1, 5)),
                    functools.partial(sorted, key=operator.itemgetter(1), reverse=True),
                    functools.partial(str.split, sep=","),
                    functools.partial(int, base=r.choice((2, 8, 16))),
                    functools.partial(max, default=0.0),
                    functools.partial(" ".join),
                    functools.partial(words.index, words[0])]
        if kind == "getters":
            return {"weight": operator.attrgetter("weight"),
                    "nested": operator.attrgetter("layer.weight", "layer.bias"),
                    "label": operator.itemgetter("label"),
                    "columns": operator.itemgetter(*range(1 + n % 4)),
                    "lower": operator.methodcaller("lower"),
                    "split": operator.methodcaller("split", ","),
                    "get": operator.methodcaller("get", words[0], None),
                    "astype": operator.methodcaller("astype", "float32", copy=False),
                    "compare": operator.lt, "add": operator.add}
        if kind == "builtins":
            return {"reduce": r.choice((sum, max, min)), "count": len, "order": sorted,
                    "log": print, "cast": r.choice((float, int, str)), "wrap": list,
                    "check": isinstance, "pairs": zip, "index": enumerate,
                    "values": [r.random() for _ in range(n)]}
        if kind == "random_state":
            gen = random.Random(seed)
            for _ in range(n):
                gen.random()
            return {"rng": gen, "seed": seed % 10000,
                    "sampler": types.SimpleNamespace(rng=random.Random(n), k=n,
                                                     population=list(range(n)))}
        if kind == "paths":
            root = pathlib.PosixPath("/home/user/projects/run%d" % n)
            return {"root": root, "checkpoints": root / "checkpoints",
                    "best": root / "checkpoints" / ("epoch_%03d.pt" % n),
                    "files": [pathlib.PosixPath("data/%s.csv" % w) for w in words[:5]],
                    "relative": pathlib.PurePosixPath("models") / "export.pkl"}
        if kind == "namespace":
            return types.SimpleNamespace(
                lr=r.choice((1e-3, 3e-4)), epochs=n, seed=seed % 1000,
                loss=functools.partial(sum, start=0.0), score=operator.itemgetter(0),
                paths=types.SimpleNamespace(out=pathlib.PosixPath("/runs/%d" % n)),
                command="python train.py --epochs %d --batch-size %d" % (n, 2 ** (n % 7)),
                notes=_readme(r))
        if kind == "defaultdicts":
            ints = collections.defaultdict(int)
            for w in words:
                ints[w] += 1
            nested = collections.defaultdict(functools.partial(collections.defaultdict, list))
            nested["train"]["loss"].extend(round(r.random(), 3) for _ in range(n))
            return {"counts": ints, "groups": collections.defaultdict(list, {"a": [1]}),
                    "seen": collections.defaultdict(set), "nested": nested,
                    "tallies": collections.defaultdict(collections.Counter)}
        if kind == "preprocess_registry":
            return {"lower": str.lower, "strip": operator.methodcaller("strip"),
                    "tokenize": functools.partial(str.split, sep=" "),
                    "length": len, "first": operator.itemgetter(0),
                    "pipeline": ["lower", "strip", "tokenize"][: 1 + n % 3],
                    "docstring": "Steps applied in order. " + _readme(r)}
        if kind == "metric_functions":
            from sklearn import metrics
            return {"metrics": [metrics.f1_score, metrics.accuracy_score,
                                metrics.roc_auc_score, metrics.mean_squared_error][: 1 + n % 4],
                    "macro_f1": functools.partial(metrics.f1_score, average="macro"),
                    "scorer": metrics.make_scorer(metrics.f1_score, average="weighted"),
                    "greater_is_better": True, "threshold": round(r.random(), 3)}
        return _project_object(kind, n, r, words)
    return make


def _project_object(kind, n, r, words):
    import collections
    import functools
    import pathlib
    if kind == "project_methods":
        recorder = project.Recorder(words[:3])
        vocab = project.Vocab(words)
        return {"callbacks": [recorder.after_epoch, recorder.before_fit],
                "tokenize": vocab.lookup, "stage": project.Stage.AFTER_BATCH,
                "collate": functools.partial(project.collate, pad_value=n % 3)}
    if kind == "project_config":
        config = project.TrainConfig(
            lr=r.choice((1e-3, 3e-4)), epochs=n, batch_size=2 ** (3 + n % 5),
            task=r.choice(list(project.Task)),
            data_dir=pathlib.PurePosixPath("/data/set%d" % n),
            command="python train.py --epochs %d --lr 0.001" % n,
            extra={"notes": _readme(r)})
        return project.Experiment("exp%d" % n, n, config,
                                  {"f1": round(r.random(), 4)}, notes=_readme(r))
    hooks = collections.defaultdict(list)
    stopper = project.EarlyStopping(patience=n % 5 + 1)
    hooks[project.Stage.AFTER_EPOCH].append(stopper.after_epoch)
    return {"hooks": hooks, "by_task": {t: t.name.lower() for t in project.Task},
            "factory": collections.defaultdict(project.Callback)}


def samples(rng, count, seed):
    order = list(KINDS)
    rng.shuffle(order)
    # Even the smallest corpus names a user project's classes.
    first_project = next(k for k in order if KINDS[k])
    order.remove(first_project)
    order.insert(1, first_project)
    out = []
    for i in range(count):
        kind = order[i % len(order)]
        n = rng.randint(2, 24)
        r = rng.random()
        if r < 0.15:
            writer, protocol, compression = "torch_zip", rng.choice((2, 3, 4, 5)), None
        else:
            writer, protocol, compression = pickle_or_joblib(rng, joblib_share=0.35)
        out.append(BenignSample(
            "%04d_%s" % (i, kind), "references",
            _object(kind, n, sub_seed(seed, "references", i)), writer, protocol,
            compression, description="objects referring to callables: %s (n=%d)" % (kind, n),
            needs_project=KINDS[kind]))
    return out
