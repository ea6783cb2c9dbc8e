"""Runs multiprocessing, concurrent.futures, joblib's loky and torch's
DataLoader under the guard, in a process of its own, and prints one JSON
line: for each workload, whether it finished with the right results and
whether its workers were guarded themselves.

    python ipc_victim.py patch WORKLOAD...   # safepickle.patch() first thing
    python ipc_victim.py import-first WORKLOAD...   # patch() after the imports
    python ipc_victim.py env WORKLOAD...     # guarded from interpreter start
                                             # (SAFEPICKLE_GUARD=1 + autostart)

Each worker task also feeds pickle.loads a pickle that would create a
directory (CANARY_DIR): the guard in the worker must refuse it, so trusting
the pool's own messages does not trust what a task loads.
"""

import json
import os
import pickle
import sys

# At the top, as a user would write it: spawned workers re-import this
# module (with the parent's argv) and so patch too. "import-first" patches
# after the process machinery is imported, with its copies of
# pickle.loads (ForkingPickler.loads, loky's loads) already bound.
if len(sys.argv) > 1 and sys.argv[1] == "import-first":
    import concurrent.futures.process  # noqa: F401
    import multiprocessing.connection  # noqa: F401
    import multiprocessing.queues  # noqa: F401

    import joblib  # noqa: F401
    import torch.utils.data  # noqa: F401

if len(sys.argv) > 1 and sys.argv[1] in ("patch", "import-first"):
    import safepickle

    safepickle.patch()

TIMEOUT = 90


class _Mkdir:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def work(i):
    """A task: its result, and what the worker's guard made of a payload."""
    guarded = hasattr(pickle.loads, "__safepickle_original__")
    payload = pickle.dumps(_Mkdir(os.path.join(os.environ["CANARY_DIR"], f"task{i}")))
    try:
        pickle.loads(payload)
        refused = False
    except pickle.UnpicklingError as exc:
        refused = type(exc).__name__ == "UnsafePickleError"
    return {"i": i, "square": i * i, "guarded": guarded, "refused": refused}


def _check(results, n):
    ok = [r["i"] for r in results] == list(range(n)) and all(
        r["square"] == r["i"] ** 2 for r in results
    )
    return {
        "ok": ok,
        "workers_guarded": all(r["guarded"] for r in results),
        "payload_refused": all(r["refused"] for r in results),
    }


def pool(method, n=40):
    import multiprocessing

    with multiprocessing.get_context(method).Pool(2) as p:
        return _check(p.map_async(work, range(n)).get(timeout=TIMEOUT), n)


def executor(method, n=20):
    import concurrent.futures
    import multiprocessing

    ctx = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        return _check(list(ex.map(work, range(n), timeout=TIMEOUT)), n)


def loky(n=20):
    import joblib

    run = joblib.Parallel(n_jobs=2, backend="loky", timeout=TIMEOUT)
    return _check(run(joblib.delayed(work)(i) for i in range(n)), n)


class _Items:
    def __len__(self):
        return 16

    def __getitem__(self, i):
        import torch

        r = work(i)
        return {"x": torch.full((2,), float(i)), "i": i, "guarded": r["guarded"],
                "refused": r["refused"]}


def dataloader(method):
    from torch.utils.data import DataLoader

    results = []
    loader = DataLoader(_Items(), batch_size=4, num_workers=2, multiprocessing_context=method,
                        timeout=TIMEOUT)
    for batch in loader:
        for k in range(len(batch["i"])):
            i = int(batch["i"][k])
            ok = float(batch["x"][k][0]) == float(i)
            results.append({"i": i, "square": i * i if ok else -1,
                            "guarded": bool(batch["guarded"][k]),
                            "refused": bool(batch["refused"][k])})
    return _check(results, 16)


WORKLOADS = {
    "pool-fork": lambda: pool("fork"),
    "pool-spawn": lambda: pool("spawn"),
    "pool-forkserver": lambda: pool("forkserver"),
    "executor-fork": lambda: executor("fork"),
    "executor-spawn": lambda: executor("spawn"),
    "loky": loky,
    "dataloader-fork": lambda: dataloader("fork"),
    "dataloader-spawn": lambda: dataloader("spawn"),
}


def main():
    out = {"main_guarded": hasattr(pickle.loads, "__safepickle_original__")}
    for name in sys.argv[2:]:
        try:
            out[name] = WORKLOADS[name]()
        except Exception as exc:  # reported, the test says what failed
            out[name] = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
