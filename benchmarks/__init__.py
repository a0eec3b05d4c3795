"""Speed benchmark of the training engine: ``benchmarks/run.py`` (``make bench``)."""
