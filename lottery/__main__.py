"""``python -m lottery`` and the ``lottery`` command: see :mod:`lottery.run.cli`.

The command line is imported here, inside the guard, so that Ctrl-C during its start-up imports
(torch takes seconds) ends in one line, as it does once the command runs."""

import sys

INTERRUPTED = 130  # the shell's status for a process ended by SIGINT


def main(argv: list[str] | None = None) -> int:
    try:
        from lottery.run.cli import main as command  # deliberately late: see the docstring
    except KeyboardInterrupt:
        print("interrupted while starting; nothing was run", file=sys.stderr)
        return INTERRUPTED
    return command(argv)


if __name__ == "__main__":
    raise SystemExit(main())
