#!/usr/bin/env bash
# Retrain the bundled classifier from scratch, then evaluate it:
#   1. install (the train and eval extras included)
#   2. generate the training corpus into build/corpus (seed $SEED, default 0)
#   3. train: safepickle/model/ and tests/data/model-recorded.json
#   4. evaluate against the peers: benchmarks/results/classifier.md
# The new model is left in the working tree for review; commit it with the
# evaluation it was measured with.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
SEED="${SEED:-0}"
CORPUS="build/corpus-seed$SEED"

bash scripts/install.sh

rm -rf "$CORPUS"
"$PYTHON" -m training.generate --out "$CORPUS" --seed "$SEED"
"$PYTHON" -m training.train --generated "$CORPUS"
"$PYTHON" -m pytest -q -p no:cacheprovider tests/test_classifier.py
"$PYTHON" -m benchmarks.evaluate --generated "$CORPUS"
