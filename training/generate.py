"""Write the training corpus.

    python3 -m training.generate --out DIR [--quick] [--seed N] [--canary PATH]

Nothing is downloaded. Malicious files are written opcode by opcode and are
never loaded here. See docs/training-corpus.md.
"""

import argparse
import os
import random
import sys
import time
import warnings
from collections import Counter

from . import catalogue, containers, deliveries, malicious
from .benign.groups import benign_samples
from .benign.spec import save, sub_seed
from .expr import payload_call
from .payloads import Payloads
from .manifest import write_manifest

# Malicious samples per family in the full corpus; share of them injected
# into a benign model (only for families whose payload returns normally).
FULL_PER_FAMILY = 36
INJECTED_SHARE = 0.35
# Plain pickles are sometimes read with pandas.read_pickle instead.
PANDAS_SHARE = 0.12
# The quick corpus is loaded sample by sample in a test: its payloads are
# injected into plain pickles of light libraries only (the heavy ones still
# host payloads through the other containers).
QUICK_HOST_GROUPS = ("python", "numpy", "networkx", "dill", "cloudpickle")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python3 -m training.generate",
                                     description=__doc__.strip().splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory (new or empty)")
    parser.add_argument("--quick", action="store_true",
                        help="a small sample covering every family, delivery, "
                             "container and placement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--canary", metavar="PATH",
                        help="every payload creates PATH-<family> instead of "
                             "its realistic effect")
    return parser.parse_args(argv)


def ensure_fixed_hash_seed(argv):
    """Sets and dicts keyed by str pickle in hash order: without a fixed
    PYTHONHASHSEED two runs would write different bytes. Re-run the command
    with it set."""
    if os.environ.get("PYTHONHASHSEED") == "0":
        return
    env = dict(os.environ, PYTHONHASHSEED="0")
    os.execve(sys.executable, [sys.executable, "-m", "training.generate"] + argv, env)


def prepare_out(path):
    if os.path.exists(path):
        if not os.path.isdir(path):
            sys.exit("error: --out %s exists and is not a directory" % path)
        if os.listdir(path):
            sys.exit("error: --out %s is not empty" % path)
    os.makedirs(path, exist_ok=True)


def write_file(out, relpath, data):
    full = os.path.join(out, relpath)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)


def progress(message):
    print(message, file=sys.stderr, flush=True)


# ---- benign ---------------------------------------------------------------------

def generate_benign(out, seed, quick):
    rows, hosts = [], []
    specs = benign_samples(seed, quick)
    started = time.monotonic()
    for index, spec in enumerate(specs):
        data = save(spec, spec.make())
        relpath = "benign/%s/%s%s" % (spec.group, spec.name, spec.suffix)
        write_file(out, relpath, data)
        protocol = detect_protocol(spec, data)
        row = {"path": relpath, "label": "benign", "family": spec.group,
               "capability": "", "delivery": "", "container": spec.container,
               "placement": "standalone", "loader": spec.loader,
               "protocol": protocol, "payload": "", "description": spec.description}
        rows.append(row)
        if not spec.needs_project:
            # A user without the project's code could not load the model
            # the payload is injected into.
            hosts.append((row, data))
        if (index + 1) % 200 == 0:
            progress("benign %d/%d (%.0f s)" % (index + 1, len(specs),
                                                time.monotonic() - started))
    return rows, hosts


def detect_protocol(spec, data):
    """The protocol of the file's (main) pickle, or '' when it has none."""
    try:
        stream = pickle_stream(spec.container, data)
    except ValueError:
        return ""
    if stream is None:
        return ""
    return str(malicious.inject.host_protocol(stream))


def pickle_stream(container, data):
    if container == "torch_zip":
        return containers.read_torch_zip(data)[1]["data.pkl"]
    if container == "torch_legacy":
        start = 0
        for _ in range(3):
            start += malicious.inject.pickle_end(data[start:])
        return data[start:]
    if container == "npy":
        header, stream, dtype = containers.read_npy(data)
        return stream if dtype.hasobject else None
    return containers.unwrap(container, data)


# ---- malicious ------------------------------------------------------------------

def cycle(rng, items):
    order = list(items)
    while True:
        rng.shuffle(order)
        yield from order


def plan_malicious(rng, quick):
    """(family, delivery, container, placement) for every malicious sample.
    Deliveries and containers come from shuffled cycles shared by all
    families, so each is spread evenly; every family gets several of each."""
    per_family = 1 if quick else FULL_PER_FAMILY
    delivery_cycle = cycle(rng, deliveries.DELIVERIES)
    container_cycle = cycle(rng, containers.CONTAINERS)
    plan = []
    for family in catalogue.FAMILIES:
        for k in range(per_family):
            placement = "standalone"
            if family.returns and (rng.random() < INJECTED_SHARE
                                   or (quick and len(plan) % 3 == 1)):
                placement = "injected"
            container = next(container_cycle)
            if quick and len(plan) >= len(containers.CONTAINERS):
                # Once every container had its turn, the quick corpus stays
                # with plain pickles: they load fastest in a test.
                container = "pickle"
            plan.append((family, next(delivery_cycle), container, placement))
    return plan


def choose_protocol(rng, delivery, target, container):
    allowed = deliveries.protocols_for(delivery, target)
    preferred = [p for p in containers.CONTAINER_PROTOCOLS.get(container, ())
                 if p in allowed]
    if preferred and rng.random() < 0.7:
        return rng.choice(preferred)
    return rng.choice(allowed)


def pick_host(rng, hosts_by_container, container, delivery, target):
    """A benign file of this container whose pickle protocol the delivery
    can be written at, with the placements it allows."""
    candidates = hosts_by_container.get(container, [])
    allowed = deliveries.protocols_for(delivery, target)
    for _ in range(12):
        if not candidates:
            return None
        row, data = rng.choice(candidates)
        if not row["protocol"] or int(row["protocol"]) not in allowed:
            continue
        places = malicious.injectable_places(container, data)
        if deliveries.needs_memo(delivery):
            places = tuple(p for p in places if p == "tail")
        if places:
            return row, data, places
    return None


def generate_malicious(out, seed, quick, canary, hosts):
    rng = random.Random(sub_seed(seed, "malicious"))
    hosts_by_container = {}
    for row, data in hosts:
        if (quick and row["container"] == "pickle"
                and row["family"] not in QUICK_HOST_GROUPS):
            continue
        hosts_by_container.setdefault(row["container"], []).append((row, data))
    targets = {family.name: payload_target(family)
               for family in catalogue.FAMILIES}
    rows = []
    counters = Counter()
    for family, delivery, container, placement in plan_malicious(rng, quick):
        sample_rng = random.Random(sub_seed(seed, family.name, len(rows)))
        target, is_root = targets[family.name]
        delivery = compatible_delivery(sample_rng, target, is_root, delivery)
        description = "%s; %s" % (family.how, deliveries.describe(delivery))
        if placement == "injected":
            picked = pick_host(sample_rng, hosts_by_container, container,
                               delivery, target)
            if picked is None:
                placement = "standalone"
        if placement == "injected":
            host_row, host_data, places = picked
            where = sample_rng.choice(places)
            data, part = malicious.injected(family, delivery, container, host_data,
                                            where, sample_rng, canary)
            protocol = host_row["protocol"]
            description += "; injected (%s%s) into %s" % (
                where, ", " + part if part else "", host_row["path"])
        else:
            protocol = choose_protocol(sample_rng, delivery, target, container)
            data, _ = malicious.standalone(family, delivery, container, protocol,
                                           sample_rng, canary)
        loader = containers.CONTAINERS[container][1]
        if (container == "pickle" and not quick
                and sample_rng.random() < PANDAS_SHARE):
            loader = "pandas"
        counters[family.name] += 1
        relpath = "malicious/%s/%03d_%s_%s%s" % (
            family.name, counters[family.name], delivery,
            "inj_" if placement == "injected" else "", container) \
            + containers.CONTAINERS[container][0]
        write_file(out, relpath, data)
        rows.append({"path": relpath, "label": "malicious", "family": family.name,
                     "capability": family.capability, "delivery": delivery,
                     "container": container, "placement": placement,
                     "loader": loader, "protocol": str(protocol),
                     "payload": family.payload, "description": description})
    return rows


def payload_target(family):
    """(payload call, whether it is the root of the family's expression);
    the arguments vary from sample to sample, the call's place does not."""
    tree = family.build(Payloads(random.Random(0), family.name),
                        malicious.nested_pickle)
    target = payload_call(tree)
    return target, target is tree


def compatible_delivery(rng, target, is_root, delivery):
    """The planned delivery, or another one when it cannot spell this
    payload call (INST cannot name a dotted attribute, ...)."""
    while not deliveries.supports(delivery, target, is_root):
        delivery = rng.choice(list(deliveries.DELIVERIES))
    return delivery


# ---- main -----------------------------------------------------------------------

def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    ensure_fixed_hash_seed(argv)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    prepare_out(args.out)
    canary = os.path.abspath(args.canary) if args.canary else None
    started = time.monotonic()
    benign_rows, hosts = generate_benign(args.out, args.seed, args.quick)
    benign_time = time.monotonic() - started
    malicious_rows = generate_malicious(args.out, args.seed, args.quick, canary, hosts)
    rows = benign_rows + malicious_rows
    write_manifest(os.path.join(args.out, "manifest.tsv"), rows)
    labels = Counter(row["label"] for row in rows)
    progress("wrote %d files (%s) to %s in %.1f s (benign %.1f s)" % (
        len(rows), ", ".join("%s %d" % kv for kv in sorted(labels.items())),
        args.out, time.monotonic() - started, benign_time))


if __name__ == "__main__":
    main()
