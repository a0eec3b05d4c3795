"""``python -m lottery``: see :mod:`lottery.run.cli`."""

from lottery.run.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
