"""Floor 5, run: what a user drives -- the command line, the notebook session, plans and
estimates, progress, headless reproduction and store housekeeping. The only floor that knows
every study.
"""
