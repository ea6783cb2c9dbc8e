"""Benign samples: objects built deterministically and saved by the real
libraries. Each module has `samples(rng, count)` returning BenignSample specs
for one library group; see spec.py for how a spec is saved."""
