"""Floor 3, claims: the papers' numbers and how ours are judged against them.

The claim and verdict framework, every paper value the suite cites, and the figure helpers
that draw the paper's numbers beside ours. Imports core and engine; no study.
"""
