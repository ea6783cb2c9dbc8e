"""Plain Python data and standard-library value types, and the same kind of
data saved through dill and cloudpickle (data only: no functions, whose
code objects are a separate policy question)."""

from .spec import BenignSample, sub_seed

KINDS = ("config", "history", "vocab", "nested", "stdlib_values", "stdlib_value",
         "collections", "numbers", "text_bytes", "records", "namespace")


def _data(kind, n, seed):
    def make():
        import argparse
        import collections
        import datetime
        import decimal
        import fractions
        import ipaddress
        import pathlib
        import random
        import uuid
        import zoneinfo
        r = random.Random(seed)
        if kind == "config":
            return {"model": r.choice(["resnet18", "bert-base", "mlp"]),
                    "lr": r.choice([1e-3, 3e-4, 0.1]), "batch_size": 2 ** r.randint(3, 8),
                    "layers": [r.randint(8, 512) for _ in range(n % 5 + 1)],
                    "dropout": round(r.random() / 2, 3), "use_amp": r.random() > 0.5,
                    "seed": seed % 1000, "tags": ("baseline", "v%d" % n)}
        if kind == "history":
            return {"epoch": list(range(n)), "loss": [round(1 / (i + 1.5), 5) for i in range(n)],
                    "accuracy": [round(min(0.99, 0.5 + i * 0.03), 4) for i in range(n)]}
        if kind == "vocab":
            words = ["the", "model", "weight", "tensor", "vector", "token", "layer"]
            return {"%s_%d" % (r.choice(words), i): i for i in range(n * 3)}
        if kind == "nested":
            def tree(depth):
                if depth == 0:
                    return r.choice([1, 2.5, "leaf", None, True, b"\x00\x01"])
                return {"d%d" % depth: [tree(depth - 1) for _ in range(2)],
                        "n": depth}
            return tree(1 + n % 4)
        if kind == "stdlib_values":
            return [datetime.datetime(2020 + n % 5, 1 + n % 12, 3, 4, 5, 6),
                    datetime.date(2021, 6, 1 + n % 28), datetime.timedelta(seconds=n),
                    datetime.datetime(2022, 3, 4, tzinfo=datetime.timezone.utc),
                    datetime.datetime(2023, 5, 6, 7, tzinfo=zoneinfo.ZoneInfo(
                        r.choice(["Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC"]))),
                    decimal.Decimal("%d.%02d" % (n, n % 100)), fractions.Fraction(n + 1, 7),
                    uuid.UUID(int=seed * 7919 % 2**128), pathlib.PurePosixPath("/data/run%d" % n),
                    ipaddress.ip_address("10.0.%d.%d" % (n % 256, seed % 256)),
                    complex(n, -1), range(n), slice(1, n, 2)]
        if kind == "stdlib_value":
            # one value pickled alone: a timestamp or a zone is a whole file
            zone = zoneinfo.ZoneInfo(r.choice(["Europe/Paris", "America/New_York", "UTC"]))
            return r.choice([
                datetime.datetime(2024, 1 + n % 12, 2, 3, tzinfo=zone), zone,
                datetime.datetime(2024, 1 + n % 12, 2, tzinfo=datetime.timezone.utc),
                datetime.date(2020, 1 + n % 12, 5), datetime.timedelta(hours=n),
                decimal.Decimal("%d.5" % n), fractions.Fraction(n, 3), uuid.UUID(int=n),
                pathlib.PurePosixPath("/data/%d" % n), collections.OrderedDict(a=n)])
        if kind == "collections":
            counter = collections.Counter(r.choice("abcdef") for _ in range(n * 4))
            return {"ordered": collections.OrderedDict((str(i), i * i) for i in range(n)),
                    "counter": counter, "deque": collections.deque(range(n), maxlen=n + 2),
                    "default": collections.defaultdict(list, {"a": [1, 2]}),
                    "frozen": frozenset(range(n)), "tuple": tuple(range(n))}
        if kind == "numbers":
            return [r.randint(-2**70, 2**70) for _ in range(n)] + [r.random() for _ in range(n)] \
                + [float("inf"), -0.0, 2**31, -2**31 - 1]
        if kind == "text_bytes":
            return {"text": "".join(r.choice("abcé字\n\\ ") for _ in range(n * 5)),
                    "raw": bytes(r.randrange(256) for _ in range(n * 4)),
                    "buffer": bytearray(b"abc" * n)}
        if kind == "records":
            return [{"id": i, "label": r.choice(["cat", "dog", "bird"]),
                     "bbox": [r.random() for _ in range(4)]} for i in range(n)]
        if kind == "namespace":
            return argparse.Namespace(lr=0.01 * (n + 1), epochs=n, output_dir="/runs/%d" % n,
                                      fp16=bool(n % 2))
        raise ValueError(kind)
    return make


def samples(rng, count, seed, group="python"):
    """group: python (pickle.dumps), dill or cloudpickle."""
    order = list(KINDS)
    rng.shuffle(order)
    writer = {"python": "pickle"}.get(group, group)
    out = []
    for i in range(count):
        kind = order[i % len(order)]
        n = rng.randint(1, 30)
        protocol = rng.randint(0, 5) if group == "python" else rng.choice((2, 3, 4, 5))
        out.append(BenignSample(
            "%04d_%s" % (i, kind), group, _data(kind, n, sub_seed(seed, group, i)),
            writer, protocol, description="%s data: %s (n=%d)" % (group, kind, n)))
    return out
