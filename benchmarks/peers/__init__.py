"""Peer tools run on the same files as SafePickle, and the metrics that
compare them.

Each runner module (``*_runner.py``) wraps one tool and is only ever imported
inside a worker subprocess (``worker.py``); ``batch.py`` starts the workers,
``tools.py`` lists the peers, ``cache.py`` keeps their results,
``metrics.py`` and ``table.py`` turn verdicts into figures, and
``run_corpus.py`` ties it together for a corpus on disk.
"""
