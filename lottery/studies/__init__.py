"""Floor 4, studies: one folder per experiment kind, each its stage, claims and figures.

A study imports the floors below it, never another study's internals nor the run floor.
"""
