"""Benign library groups and how many samples each gets."""

from . import (arrays, boosting, frames, learners, plain, references, science,
               sklearn_models, torch_models)

# group -> (samples(rng, count, seed), full count, quick count)
GROUPS = {
    "torch": (torch_models.samples, 460, 5),
    "sklearn": (sklearn_models.samples, 440, 5),
    "xgboost": (lambda r, n, s: boosting.samples(r, n, s, "xgboost"), 60, 2),
    "lightgbm": (lambda r, n, s: boosting.samples(r, n, s, "lightgbm"), 60, 2),
    "catboost": (lambda r, n, s: boosting.samples(r, n, s, "catboost"), 40, 2),
    "numpy": (arrays.numpy_samples, 300, 5),
    "scipy": (arrays.scipy_samples, 120, 3),
    "pandas": (frames.samples, 260, 5),
    "python": (plain.samples, 180, 4),
    "dill": (lambda r, n, s: plain.samples(r, n, s, "dill"), 80, 3),
    "cloudpickle": (lambda r, n, s: plain.samples(r, n, s, "cloudpickle"), 80, 3),
    "networkx": (science.networkx_samples, 100, 3),
    "gensim": (science.gensim_samples, 60, 3),
    "statsmodels": (science.statsmodels_samples, 60, 3),
    "transformers": (science.transformers_samples, 80, 3),
    "references": (references.samples, 130, 3),
    "learner": (learners.samples, 80, 3),
}


def benign_samples(seed, quick):
    """All benign sample specs, in generation order."""
    import random
    from .spec import sub_seed
    out = []
    for group, (make_samples, full, small) in GROUPS.items():
        rng = random.Random(sub_seed(seed, "benign", group))
        out.extend(make_samples(rng, small if quick else full, seed))
    return out
