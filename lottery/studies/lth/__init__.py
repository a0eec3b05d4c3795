"""Frankle & Carbin (2019): IMP and one-shot pruning on the papers' presets (notebooks 01-03)."""
