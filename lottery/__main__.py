"""``python -m lottery``: see :mod:`lottery.cli`."""

from lottery.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
