"""PyTorch: state dicts, whole modules, optimizers and LR schedulers (their
state and the objects), training checkpoints, plain tensors; zip and legacy
torch.save formats, and tensors through plain pickle."""

from .spec import BenignSample, sub_seed


def _module(kind, width, depth, seed):
    import torch
    from torch import nn
    torch.manual_seed(seed)
    if kind == "mlp":
        layers = []
        size = width
        for i in range(depth):
            layers += [nn.Linear(size, width), nn.ReLU()]
            size = width
        layers.append(nn.Linear(size, 3))
        return nn.Sequential(*layers)
    if kind == "cnn":
        return nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(width, width, 3), nn.Flatten(),
            nn.Linear(width * 4, 10))
    if kind == "lstm":
        return nn.LSTM(width, width, num_layers=depth, batch_first=True)
    if kind == "gru":
        return nn.GRU(width, width // 2 + 1, num_layers=depth)
    if kind == "embedding":
        return nn.Sequential(nn.Embedding(50 + width, width), nn.LayerNorm(width))
    if kind == "transformer":
        heads = 2
        return nn.TransformerEncoderLayer(d_model=heads * max(2, width // 4),
                                          nhead=heads, dim_feedforward=width,
                                          dropout=0.1, batch_first=True)
    if kind == "attention":
        return nn.MultiheadAttention(embed_dim=4 * max(1, width // 8), num_heads=4)
    raise ValueError(kind)


MODULE_KINDS = ("mlp", "cnn", "lstm", "gru", "embedding", "transformer",
                "attention")
OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")
SCHEDULERS = ("StepLR", "CosineAnnealingLR", "ExponentialLR", "OneCycleLR",
              "MultiStepLR", "ReduceLROnPlateau")


def _optimizer(module, name, lr):
    import torch
    cls = getattr(torch.optim, name)
    kwargs = {"lr": lr}
    if name == "SGD":
        kwargs["momentum"] = 0.9
    opt = cls(module.parameters(), **kwargs)
    params = [p for p in module.parameters() if p.requires_grad]
    loss = sum((p.float() ** 2).sum() for p in params)
    loss.backward()
    opt.step()
    return opt


def _scheduler(opt, name):
    import torch.optim.lr_scheduler as s
    if name == "StepLR":
        sched = s.StepLR(opt, step_size=3, gamma=0.5)
    elif name == "CosineAnnealingLR":
        sched = s.CosineAnnealingLR(opt, T_max=10)
    elif name == "ExponentialLR":
        sched = s.ExponentialLR(opt, gamma=0.95)
    elif name == "OneCycleLR":
        # Cycling momentum needs it from the first step on (RMSprop keeps no
        # momentum buffer when it started without one).
        cycles = type(opt).__name__ in ("SGD", "Adam", "AdamW")
        sched = s.OneCycleLR(opt, max_lr=0.1, total_steps=20,
                             cycle_momentum=cycles)
    elif name == "MultiStepLR":
        sched = s.MultiStepLR(opt, milestones=[2, 5], gamma=0.1)
    else:
        sched = s.ReduceLROnPlateau(opt, patience=2)
        sched.step(1.0)
        return sched
    opt.step()
    sched.step()
    return sched


def _builder(what, kind, width, depth, opt_name, sched_name, seed):
    def make():
        import torch
        module = _module(kind, width, depth, seed)
        if what == "state_dict":
            return module.state_dict()
        if what == "module":
            return module
        if what == "tensor":
            torch.manual_seed(seed)
            return {"embedding": torch.randn(width, depth + 1),
                    "ids": torch.arange(width, dtype=torch.int64)}
        opt = _optimizer(module, opt_name, 10.0 ** -(1 + seed % 3))
        if what == "optimizer_state":
            return opt.state_dict()
        if what == "optimizer":
            return opt
        sched = _scheduler(opt, sched_name)
        if what == "scheduler_state":
            return sched.state_dict()
        if what == "scheduler":
            return sched
        return {  # checkpoint
            "epoch": seed % 90 + 1,
            "global_step": seed % 10000,
            "model_state_dict": module.state_dict(),
            "optimizer_state_dict": opt.state_dict(),
            "scheduler_state_dict": sched.state_dict(),
            "loss": round(1.0 / (1 + seed % 17), 4),
            "metrics": {"accuracy": (seed % 100) / 100.0,
                        "val_loss": [0.9, 0.5, 0.31][: 1 + seed % 3]},
            "config": {"arch": kind, "width": width, "depth": depth,
                       "optimizer": opt_name, "scheduler": sched_name},
        }
    return make


WHATS = ("state_dict", "state_dict", "module", "optimizer_state", "optimizer",
         "scheduler_state", "scheduler", "checkpoint", "checkpoint", "tensor")


def samples(rng, count, seed):
    order = list(WHATS)
    rng.shuffle(order)
    out = []
    for i in range(count):
        what = order[i % len(order)]
        kind = rng.choice(MODULE_KINDS)
        width = rng.choice((4, 8, 12, 16, 24, 32))
        depth = rng.randint(1, 3)
        opt_name = rng.choice(OPTIMIZERS)
        sched_name = rng.choice(SCHEDULERS)
        r = rng.random()
        if i < 2:
            # Both torch.save formats even in the smallest corpus.
            r = (0.0, 0.99)[i]
        if what == "tensor" and r < 0.5 and i >= 2:
            writer, protocol = "pickle", rng.choice((2, 3, 4, 5))
        elif r < 0.65:
            writer, protocol = "torch_zip", rng.choice((2, 2, 2, 1, 3, 4, 5))
        else:
            writer, protocol = "torch_legacy", rng.choice((2, 2, 1, 3, 4, 5))
        name = "%04d_%s_%s" % (i, kind, what)
        make = _builder(what, kind, width, depth, opt_name, sched_name,
                        sub_seed(seed, "torch", i))
        detail = {"optimizer": opt_name, "optimizer_state": opt_name,
                  "scheduler": sched_name, "scheduler_state": sched_name}
        out.append(BenignSample(
            name, "torch", make, writer, protocol,
            description="torch %s %s(width=%d, depth=%d)%s" % (
                what, kind, width, depth,
                " " + detail[what] if what in detail else "")))
    return out
