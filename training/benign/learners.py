"""Learner graphs in the shape of a fastai `export.pkl`: a torch model with
its data loaders (each with a random.Random), loss function, optimizer
factory as a functools.partial, sklearn metric functions, callbacks and
their bound methods, paths, prose with markdown tables and command lines,
saved with torch.save. Either classes of a user's project
(training/benign/project.py) or plain library objects hold the parts."""

# Imported for its effect too: it defines the project's modules, so that the
# process that builds these specs can also load the files naming them.
from . import project
from .spec import BenignSample, sub_seed

# kind -> whether the object names classes of the generation-time project
KINDS = {"project_learner": True, "project_model": True,
         "namespace_learner": False, "checkpoint_dict": False}

MODEL_CARD = (
    "# %s\n\nTabular classifier trained on %d rows.\n\n"
    "| metric | train | valid |\n| --- | --- | --- |\n"
    "| loss | %.4f | %.4f |\n| f1 | %.3f | %.3f |\n\n"
    "Train: `python train.py --epochs %d --lr %g --bs %d`\n"
    "Export: `python export.py --out models/export.pkl`\n")


def _card(r, name, rows, epochs, lr, bs):
    return MODEL_CARD % (name, rows, r.random(), r.random(), r.random(),
                         r.random(), epochs, lr, bs)


def _parts(r, seed, width, n_classes, rows):
    """The pieces every learner has, built from library objects only."""
    import functools
    import operator
    import pathlib
    import random
    import torch
    from sklearn import metrics
    from torch import nn
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(width, 2 * width), nn.ReLU(),
                          nn.Dropout(r.choice((0.0, 0.1, 0.25))),
                          nn.Linear(2 * width, n_classes))
    loss = r.choice((
        nn.CrossEntropyLoss(),
        nn.CrossEntropyLoss(label_smoothing=0.1),
        functools.partial(nn.functional.cross_entropy, reduction="mean"),
        nn.functional.cross_entropy))
    opt_name = r.choice(("Adam", "AdamW", "SGD", "RMSprop"))
    opt_kwargs = {"Adam": {"betas": (0.9, 0.99), "eps": 1e-5},
                  "AdamW": {"weight_decay": 0.01}, "SGD": {"momentum": 0.9},
                  "RMSprop": {"alpha": 0.99}}[opt_name]
    opt_func = functools.partial(getattr(torch.optim, opt_name), **opt_kwargs)
    metric_list = [metrics.accuracy_score,
                   functools.partial(metrics.f1_score, average="macro"),
                   metrics.f1_score, metrics.balanced_accuracy_score,
                   metrics.matthews_corrcoef][: 2 + seed % 4]
    lr = r.choice((1e-3, 3e-3, 1e-2))
    bs = 2 ** r.randint(4, 7)
    epochs = r.randint(3, 40)
    path = pathlib.PosixPath("/home/user/projects/%s" % r.choice(
        ("churn", "adult-income", "tabular", "credit")))
    x = torch.randn(rows, width)
    y = torch.randint(0, n_classes, (rows,))
    return {"model": model, "loss": loss, "opt_func": opt_func,
            "metrics": metric_list, "lr": lr, "bs": bs, "epochs": epochs,
            "path": path, "x": x, "y": y, "rng": random.Random(seed),
            "splitter": operator.attrgetter("0", "3"),
            "comp": r.choice((operator.lt, operator.gt))}


def _learner(kind, width, n_classes, rows, seed):
    def make():
        import random
        r = random.Random(seed)
        p = _parts(r, seed, width, n_classes, rows)
        config = {"command": "python train.py --epochs %d --lr %g --bs %d"
                             % (p["epochs"], p["lr"], p["bs"]),
                  "lr": p["lr"], "bs": p["bs"], "epochs": p["epochs"],
                  "readme": _card(r, kind, rows, p["epochs"], p["lr"], p["bs"])}
        if kind == "namespace_learner":
            return _namespace_learner(p, config)
        if kind == "checkpoint_dict":
            return {"model": p["model"], "opt_func": p["opt_func"],
                    "loss_func": p["loss"], "metrics": p["metrics"],
                    "splitter": p["splitter"], "path": p["path"],
                    "sampler_state": p["rng"].getstate(), "rng": p["rng"],
                    "config": config, "epoch": p["epochs"],
                    "hooks": {"after_epoch": [print], "format": "{:.4f}".format}}
        return _project_learner(kind, p, config, width, n_classes, r)
    return make


def _namespace_learner(p, config):
    import functools
    import types
    train = types.SimpleNamespace(x=p["x"], y=p["y"], bs=p["bs"], shuffle=True,
                                  rng=p["rng"], collate_fn=functools.partial(list))
    valid = types.SimpleNamespace(x=p["x"][:4], y=p["y"][:4], bs=2 * p["bs"],
                                  shuffle=False, rng=None, collate_fn=list)
    history = []
    return types.SimpleNamespace(
        dls=types.SimpleNamespace(train=train, valid=valid, path=p["path"]),
        model=p["model"], loss_func=p["loss"], opt_func=p["opt_func"],
        metrics=p["metrics"], splitter=p["splitter"], path=p["path"],
        model_dir="models", config=config, history=history,
        cbs=[history.append, print], comp=p["comp"])


def _project_learner(kind, p, config, width, n_classes, r):
    import functools
    import pathlib
    n_cats = [r.randint(2, 12) for _ in range(r.randint(1, 3))]
    if kind == "project_model":
        model = project.TabularNet(n_cats, width, 2 * width, n_classes)
        loss = project.LabelSmoothingLoss(r.choice((0.05, 0.1)))
    else:
        model, loss = p["model"], p["loss"]
    train_set = project.TabularDataset(None, p["x"], p["y"], ["c%d" % i for i in range(width)])
    collate = functools.partial(project.collate, pad_value=0)
    train = project.DataLoader(train_set, p["bs"], True, p["rng"], collate, drop_last=True)
    valid = project.DataLoader(train_set, 2 * p["bs"], False, p["rng"], collate)
    dls = project.DataLoaders(train, valid, p["path"])
    recorder = project.Recorder(["accuracy", "f1_score"][: len(p["metrics"])])
    stopper = project.EarlyStopping("valid_loss", r.randint(2, 6), p["comp"])
    logger = project.CSVLogger(pathlib.PosixPath("history.csv"))
    train_config = project.TrainConfig(
        lr=p["lr"], epochs=p["epochs"], batch_size=p["bs"],
        task=project.Task.CLASSIFICATION, data_dir=p["path"] / "data",
        command=config["command"], extra={"readme": config["readme"]})
    learner = project.Learner(dls, model, loss, p["opt_func"], p["metrics"],
                              [recorder, stopper, logger], p["path"], train_config)
    learner.hooks = {project.Stage.BEFORE_FIT: [recorder.before_fit],
                     project.Stage.AFTER_EPOCH: [recorder.after_epoch,
                                                 stopper.after_epoch]}
    learner.splitter = p["splitter"]
    return learner


def samples(rng, count, seed):
    order = list(KINDS)
    rng.shuffle(order)
    out = []
    for i in range(count):
        kind = order[i % len(order)]
        width = rng.choice((3, 4, 6, 8, 12))
        n_classes = rng.randint(2, 5)
        rows = rng.randint(8, 64)
        x = rng.random()
        if x < 0.7:
            # torch.save's default protocol, as fastai's export writes.
            writer, protocol = "torch_zip", 2
        elif x < 0.85:
            writer, protocol = "torch_zip", rng.choice((3, 4, 5))
        else:
            # Not plain pickle: a tensor pickles its storage as a legacy
            # torch.save named by memory address, different on every run.
            writer, protocol = "torch_legacy", rng.choice((2, 4))
        out.append(BenignSample(
            "%04d_%s" % (i, kind), "learner",
            _learner(kind, width, n_classes, rows, sub_seed(seed, "learner", i)),
            writer, protocol,
            description="fastai-like learner graph: %s (width=%d, classes=%d, rows=%d)"
                        % (kind, width, n_classes, rows),
            needs_project=KINDS[kind]))
    return out
