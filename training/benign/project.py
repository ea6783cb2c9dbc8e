"""A user's own project, as real model files name it: classes of the
modules `myproject.models`, `myproject.callbacks` and `myproject.data`, and
of `__main__` (a training script's own classes).

These modules exist only in a process that imported this one: importing it
registers them in sys.modules (and the `__main__` classes as attributes of
whatever `__main__` is), so the generator can save instances and the
corpus read-back can load them. Any other process fails to load such a file
with ModuleNotFoundError, as a user without the project's code would; they
are therefore never used as injection hosts (BenignSample.needs_project).
"""

import dataclasses
import enum
import pathlib
import sys
import types

import torch
from torch import nn

PACKAGE = "myproject"


def _module(name, doc):
    module = types.ModuleType(name, doc)
    module.__file__ = "/home/user/%s.py" % name.replace(".", "/")
    return module


def _place(cls, module, qualname=None):
    cls.__module__ = module.__name__
    cls.__qualname__ = qualname or cls.__name__
    setattr(module, cls.__qualname__, cls)
    return cls


# ---- myproject.models -----------------------------------------------------------

class Stage(enum.Enum):
    """Where in the training loop a callback runs."""
    BEFORE_FIT = "before_fit"
    AFTER_BATCH = "after_batch"
    AFTER_EPOCH = "after_epoch"


class Task(enum.IntEnum):
    CLASSIFICATION = 1
    REGRESSION = 2
    SEGMENTATION = 3


@dataclasses.dataclass
class TrainConfig:
    """Hyperparameters of one run.

    | name | default | meaning |
    | --- | --- | --- |
    | lr | 1e-3 | peak learning rate |
    | epochs | 10 | passes over the data |
    """
    lr: float = 1e-3
    epochs: int = 10
    batch_size: int = 64
    task: Task = Task.CLASSIFICATION
    data_dir: pathlib.PurePath = pathlib.PurePosixPath("data")
    command: str = "python train.py"
    extra: dict = dataclasses.field(default_factory=dict)


class TabularNet(nn.Module):
    """Embeddings for categorical columns, an MLP over everything."""

    def __init__(self, n_categories, n_continuous, hidden, n_out):
        super().__init__()
        self.embeds = nn.ModuleList(nn.Embedding(n, min(8, n // 2 + 1))
                                    for n in n_categories)
        width = sum(e.embedding_dim for e in self.embeds) + n_continuous
        self.bn_cont = nn.BatchNorm1d(n_continuous)
        self.layers = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(),
                                    nn.Dropout(0.1), nn.Linear(hidden, n_out))

    def forward(self, x_cat, x_cont):
        parts = [e(x_cat[:, i]) for i, e in enumerate(self.embeds)]
        return self.layers(torch.cat(parts + [self.bn_cont(x_cont)], 1))


class LabelSmoothingLoss(nn.Module):
    def __init__(self, eps=0.1):
        super().__init__()
        self.eps = eps

    def forward(self, output, target):
        n = output.size(-1)
        log_probs = torch.log_softmax(output, dim=-1)
        nll = nn.functional.nll_loss(log_probs, target)
        return (1 - self.eps) * nll - self.eps * log_probs.mean() * n / n


class Learner:
    """A model together with what trains it: data, loss, optimizer factory,
    metrics and callbacks (the shape of a fastai Learner)."""

    def __init__(self, dls, model, loss_func, opt_func, metrics, cbs, path, config):
        self.dls = dls
        self.model = model
        self.loss_func = loss_func
        self.opt_func = opt_func
        self.metrics = metrics
        self.cbs = cbs
        self.path = path
        self.config = config
        self.model_dir = "models"
        self.train_bn = True
        self.moms = (0.95, 0.85, 0.95)
        self.opt = None

    def fit(self, n_epoch):
        for cb in self.cbs:
            cb.before_fit()


# ---- myproject.callbacks --------------------------------------------------------

class Callback:
    order = 0

    def before_fit(self):
        pass

    def after_batch(self):
        pass

    def after_epoch(self):
        pass


class Recorder(Callback):
    """Keeps losses and metric values per epoch."""
    order = 50

    def __init__(self, metric_names):
        self.metric_names = list(metric_names)
        self.values = []
        self.losses = []

    def after_epoch(self):
        self.values.append([])


class EarlyStopping(Callback):
    def __init__(self, monitor="valid_loss", patience=3, comp=None):
        self.monitor = monitor
        self.patience = patience
        self.comp = comp
        self.wait = 0


class CSVLogger(Callback):
    def __init__(self, fname):
        self.fname = fname
        self.append = False


# ---- myproject.data -------------------------------------------------------------

class TabularDataset:
    def __init__(self, x_cat, x_cont, y, columns):
        self.x_cat = x_cat
        self.x_cont = x_cont
        self.y = y
        self.columns = columns

    def __len__(self):
        return len(self.y)


class DataLoader:
    """Batches of a dataset in an order drawn from its own random.Random."""

    def __init__(self, dataset, bs, shuffle, rng, collate_fn, drop_last=False):
        self.dataset = dataset
        self.bs = bs
        self.shuffle = shuffle
        self.rng = rng
        self.collate_fn = collate_fn
        self.drop_last = drop_last

    def order(self):
        idx = list(range(len(self.dataset)))
        if self.shuffle:
            self.rng.shuffle(idx)
        return idx


class DataLoaders:
    def __init__(self, train, valid, path, device="cpu"):
        self.train = train
        self.valid = valid
        self.path = path
        self.device = device


def collate(batch, pad_value=0):
    return list(batch)


# ---- __main__ -------------------------------------------------------------------

@dataclasses.dataclass
class Experiment:
    """One row of the results table:

    | run | metric | value |
    | --- | --- | --- |
    """
    name: str
    seed: int
    config: TrainConfig
    results: dict = dataclasses.field(default_factory=dict)
    notes: str = ""


class Vocab:
    def __init__(self, itos):
        self.itos = list(itos)
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    def lookup(self, token):
        return self.stoi.get(token, 0)


def _install():
    """Register the modules (idempotent)."""
    if PACKAGE + ".models" in sys.modules:
        return
    package = _module(PACKAGE, "A user's training project.")
    package.__path__ = []
    models = _module(PACKAGE + ".models", "Models and the learner.")
    callbacks = _module(PACKAGE + ".callbacks", "Training-loop callbacks.")
    data = _module(PACKAGE + ".data", "Datasets and loaders.")
    for cls in (Stage, Task, TrainConfig, TabularNet, LabelSmoothingLoss, Learner):
        _place(cls, models)
    for cls in (Callback, Recorder, EarlyStopping, CSVLogger):
        _place(cls, callbacks)
    for obj in (TabularDataset, DataLoader, DataLoaders, collate):
        _place(obj, data)
    main = sys.modules["__main__"]
    for cls in (Experiment, Vocab):
        _place(cls, main)
    package.models, package.callbacks, package.data = models, callbacks, data
    sys.modules.update({PACKAGE: package, models.__name__: models,
                        callbacks.__name__: callbacks, data.__name__: data})


_install()
