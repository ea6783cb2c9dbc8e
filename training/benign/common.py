"""Shared choices for how benign objects are saved."""

from .spec import JOBLIB_COMPRESSIONS


def pickle_or_joblib(rng, joblib_share=0.5):
    """(writer, protocol, compression) as model files are usually saved."""
    if rng.random() < joblib_share:
        return ("joblib", rng.choice((None, 2, 3, 4, 5)),
                rng.choice(JOBLIB_COMPRESSIONS))
    return "pickle", rng.choice((0, 1, 2, 3, 4, 4, 5, 5)), None
