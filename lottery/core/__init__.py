"""Floor 2, the core: experiments that are configured, keyed and stored.

Typed hyperparameters and their flags, the papers' presets and profiles, the run store and
its keys, training one batched group, executors (local or Ray), and the runner with IMP and
one-shot pruning (Frankle & Carbin 2019). Imports only the engine.
"""
