"""Floor 1, the engine: tensors and numerics with no configuration or storage.

Datasets as device tensors, the member-batched models of Frankle & Carbin (2019, Table 1),
masks, pruning criteria and Zhou et al.'s (2019) mask actions, the sparse fc path, exact
optimizers and their C kernel, and the analysis functions of what tickets look like. Nothing
here imports a higher floor (core, claims, studies, run).
"""
