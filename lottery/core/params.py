"""A study's own parameters as one frozen dataclass, read the same way everywhere.

The experiment's hyperparameters (:mod:`lottery.core.hparams`) say how one network trains; a
study adds a few parameters of its own (which levels to measure, which rewind points, how many
points along a line). Declared once as a frozen dataclass whose fields carry their help text
(:func:`param`), they give the study's command-line flags (:func:`add_flags`, one typed flag a
field, named like the field), its notebook's check (:meth:`StudyParams.from_mapping`: the
notebook's ``parameters`` cell uses the same names) and its plan's input -- so a typo or a bad
value is the same one ``error:`` line naming the field, from the CLI, from a notebook and from
``reproduce`` before any kernel starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Mapping, Sequence

from lottery.core import flags
from lottery.engine.errors import HparamError

DEST = "param:"  # argparse destinations of study parameters


def param(default, help: str, *aliases: str):
    """A field of a study's parameters: its default, its help, and older short flag names."""
    if isinstance(default, list | tuple):
        default = tuple(default)
    return dataclasses.field(default=default, metadata={"help": help, "aliases": aliases})


@dataclasses.dataclass(frozen=True)
class StudyParams:
    """Base of a study's parameters: typed fields (int, float, bool, str, tuples of them),
    checked on construction; subclasses add their own checks in ``check``."""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, list):  # a notebook's lists read as the tuples they mean
                object.__setattr__(self, field.name, value := tuple(value))
            if not _is(value, hints[field.name]):
                raise HparamError(f"parameter {field.name} must be {_describe(hints[field.name])}"
                                  f"; got {value!r}")
        self.check()

    def check(self) -> None:
        """The study's own rules across fields (raise :func:`fail`)."""

    @classmethod
    def from_mapping(cls, values: Mapping):
        """The parameters named in ``values`` (a notebook's cell); others keep defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    @classmethod
    def from_args(cls, args: argparse.Namespace):
        """The parameters the flags of :func:`add_flags` parsed."""
        given = {k[len(DEST):]: v for k, v in vars(args).items() if k.startswith(DEST)}
        return cls(**given)


def fail(name: str, allowed: str, value) -> None:
    raise HparamError(f"parameter {name} must be {allowed}; got {value!r}")


def at_least(name: str, value, low: int) -> None:
    """An integer parameter's floor."""
    if value < low:
        fail(name, f"an integer >= {low}", value)


def add_flags(parser: argparse.ArgumentParser, cls: type[StudyParams], title: str) -> None:
    """One flag a field, ``--field-name`` (and its aliases), typed from the annotation, the
    default shown in its help."""
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        kind, shown = hints[field.name], _shown(field.default)
        names = [f"--{field.name.replace('_', '-')}", *field.metadata.get("aliases", ())]
        group.add_argument(*names, dest=DEST + field.name, default=field.default,
                           type=flags.argument_type(names[0][2:], kind),
                           metavar=flags.metavar(kind),
                           help=f"{field.metadata.get('help', '')} (default: {shown})")


def _is(value, kind) -> bool:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple:
        return isinstance(value, tuple) and all(_is(v, args[0]) for v in value)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind)


def _describe(kind) -> str:
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        return "a list of " + {int: "integers", float: "numbers", bool: "booleans",
                               str: "names"}.get(item, str(item))
    return {int: "an integer", float: "a number", bool: "True or False", str: "a name"}.get(
        kind, str(kind))


def _shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, Sequence) and not isinstance(
        value, str) else str(value)
