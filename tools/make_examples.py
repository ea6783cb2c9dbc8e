"""Regenerate the bundled examples in examples/.

    python3 tools/make_examples.py

The output is deterministic, so running it again leaves the committed files
unchanged. The malicious example is assembled opcode by opcode: nothing here
ever unpickles anything.
"""

import io
import pathlib
import pickle
import pickletools
import struct

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"

# Looks like what a small training script saves: names, weights, a history.
MODEL = {
    "name": "linear-demo",
    "version": 3,
    "features": ["age", "income", "score"],
    "weights": [0.25, -1.5, 3.125],
    "bias": 0.5,
    "history": {"loss": [0.9, 0.42, 0.17, 0.08], "accuracy": [0.61, 0.8, 0.9, 0.94]},
}


def short_unicode(text):
    data = text.encode("utf-8")
    return pickle.SHORT_BINUNICODE + struct.pack("<B", len(data)) + data


def malicious_reduce():
    """Protocol 4 pickle equivalent to `os.system("echo owned")`: what a
    class whose __reduce__ returns (os.system, ("echo owned",)) produces."""
    body = b"".join(
        [
            short_unicode("os"),
            pickle.MEMOIZE,
            short_unicode("system"),
            pickle.MEMOIZE,
            pickle.STACK_GLOBAL,
            pickle.MEMOIZE,
            short_unicode("echo owned"),
            pickle.MEMOIZE,
            pickle.TUPLE1,
            pickle.MEMOIZE,
            pickle.REDUCE,
            pickle.MEMOIZE,
            pickle.STOP,
        ]
    )
    frame = pickle.FRAME + struct.pack("<Q", len(body))
    return pickle.PROTO + bytes([4]) + frame + body


def main():
    EXAMPLES.mkdir(exist_ok=True)
    files = {
        "benign_model.pkl": pickle.dumps(MODEL, protocol=4),
        "benign_proto0.pkl": pickle.dumps(MODEL, protocol=0),
        "malicious_reduce.pkl": malicious_reduce(),
    }
    for name, data in files.items():
        # Opcode-level validation only: pickletools.dis never imports or
        # calls anything the pickle names.
        pickletools.dis(data, out=io.StringIO())
        (EXAMPLES / name).write_bytes(data)
        print(f"wrote examples/{name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
