"""Reproducible training corpus for the SafePickle classifier.

`python3 -m training.generate --out DIR` writes labelled pickle files (benign
ones saved by the real libraries, malicious ones assembled opcode by opcode)
and DIR/manifest.tsv. See docs/training-corpus.md.
"""
