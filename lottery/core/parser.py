"""The command line's argument parser: argparse, with every usage mistake reported as one
``error:`` line (exit 2) that suggests the nearest flag or subcommand for a misspelt one
(``--trails`` -> ``did you mean --trials?``).

Kept free of torch and pandas so that ``--help`` and a usage error answer at once.
"""

from __future__ import annotations

import argparse
import difflib
import re

# argparse's "invalid choice: 'ipm' (choose from 'models', 'data', ...)" (3.11: quoted names)
_INVALID_CHOICE = re.compile(r"invalid choice: '?([^'\s]*)'? \(choose from (.*)\)")


def nearest(word: str, candidates) -> str | None:
    """The candidate closest to ``word`` by difflib's ratio, if any is close enough."""
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def unrecognized(extras: list[str], options) -> str:
    """The message for arguments no parser took, with the nearest flag for each misspelt one."""
    guesses = {}
    for extra in extras:
        flag = extra.split("=", 1)[0]
        guess = nearest(flag, options) if flag.startswith("--") else None
        if guess:
            guesses[flag] = guess
    noun = "argument" if len(extras) == 1 else "arguments"
    message = f"unrecognized {noun}: {' '.join(extras)}"
    if len(guesses) == 1:
        return f"{message}; did you mean {next(iter(guesses.values()))}?"
    if guesses:
        hints = ", ".join(f"{guess} for {flag}" for flag, guess in guesses.items())
        return f"{message}; did you mean {hints}?"
    return message


def with_choice_hint(message: str) -> str:
    """argparse's invalid-choice message, with the nearest choice suggested first."""
    match = _INVALID_CHOICE.search(message)
    if not match:
        return message
    choices = [c.strip(" '") for c in match.group(2).split(",")]
    guess = nearest(match.group(1), choices)
    return f"{message}; did you mean {guess}?" if guess else message


class Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake reported as one ``error:`` line (exit 2) and the nearest
    flag or subcommand suggested for a misspelt one."""

    def error(self, message: str):
        message = with_choice_hint(" ".join(message.split()))
        self.exit(2, f"error: {message} (see --help)\n")

    def parse_args(self, args=None, namespace=None):
        known, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(unrecognized(extras, self.option_strings(known)))
        return known

    def option_strings(self, known: argparse.Namespace) -> list[str]:
        """Every ``--flag`` of this parser and of the subcommand chosen in ``known``."""
        options = [o for o in self._option_string_actions if o.startswith("--")]
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(known, action.dest, None) or "")
                if chosen is not None:
                    options += [o for o in chosen._option_string_actions if o.startswith("--")]
        return options
