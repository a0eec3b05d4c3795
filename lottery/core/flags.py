"""Command-line flags generated from the hyperparameter dataclasses.

Every field of :class:`~lottery.core.hparams.ExperimentHparams` and of its nested dataclasses is a
flag named by its path (``--trials``, ``--training.lr``, ``--pruning.criterion``); ``--help``
shows each with its help text and, once ``--preset`` is given, the preset's value under the
profile, labelled with both (``(lenet, quick profile: 5000)``). Values are parsed from the
field's type; the dataclasses validate them.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterator

from lottery.core.hparams import ExperimentHparams

PREFIX = "hp:"  # argparse destinations of generated flags

HELP = {
    "model.name": "architecture",
    "model.dropout": "dropout rate of the fully connected layers (LTH Fig. 6: 0.5)",
    "model.width": "multiplier of the hidden widths (fc units, conv channels); 1: the paper's",
    "model.init": "initialization scheme of the weights (glorot_normal: the paper's)",
    "data.dataset": "dataset (a *synthetic* name is the offline stand-in)",
    "data.val_size": "training examples held out for early stopping",
    "data.split_seed": "seed of the train/validation split",
    "data.train_subset": "keep the first N training examples ('none': all)",
    "data.test_subset": "keep the first N test examples ('none': all)",
    "data.augment": "random flips and 4-pixel pad-and-crop of training batches (true/false; "
                    "'none': the dataset's default, on for CIFAR-10)",
    "training.optimizer": "adam or sgd (with momentum)",
    "training.lr": "learning rate",
    "training.iterations": "training iterations per network",
    "training.batch_size": "examples per batch",
    "training.momentum": "SGD momentum",
    "training.weight_decay": "L2 weight decay",
    "training.milestones": "comma list: iterations where the learning rate is multiplied by "
                           "gamma",
    "training.gamma": "learning-rate factor at each milestone",
    "training.warmup": "iterations of linear learning-rate warmup",
    "training.eval_every": "iterations between evaluations (validation loss for early stop)",
    "training.test_curve": "evaluate the test set at every evaluation (true/false); the "
                           "early-stop and final test accuracy are measured either way",
    "training.final_train_subset": "measure the final training accuracy on the first N "
                                   "examples of the shuffled training split ('none': all)",
    "pruning.strategy": "layerwise (a rate per layer kind) or global (all layers ranked "
                        "together)",
    "pruning.conv_rate": "fraction of surviving conv weights pruned per round (layerwise)",
    "pruning.fc_rate": "fraction of surviving fc weights pruned per round (layerwise)",
    "pruning.output_rate": "fraction of surviving output-layer weights pruned per round",
    "pruning.global_rate": "fraction of all surviving weights pruned per round (global)",
    "pruning.criterion": "which weights survive (large_final = magnitude; Zhou et al. 2019)",
    "levels": "pruning rounds after the dense network (IMP)",
    "trials": "independent runs (init and data order)",
    "seed": "experiment seed (inits, data orders and controls derive from it)",
    "rewind_iteration": "reset survivors to iteration K of the dense run (0: to init)",
    "controls": "comma list of controls trained beside each ticket, or 'none'",
    "oneshot_rounds": "comma list of one-shot targets, each as that many IMP rounds' density",
}


def fields(cls=ExperimentHparams, prefix: str = "") -> Iterator[tuple[str, type]]:
    """(path, type) of every leaf field, nested dataclasses walked."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if not field.compare:  # e.g. the preset's name: not a hyperparameter
            continue
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            yield from fields(kind, f"{prefix}{field.name}.")
        else:
            yield f"{prefix}{field.name}", kind


def parser_for(kind: type):
    """A string -> value converter for a field type (None allowed as 'none' where typed)."""
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType) and type(None) in args:
        inner = parser_for(next(a for a in args if a is not type(None)))
        return lambda text: None if text.strip().lower() == "none" else inner(text)
    if typing.get_origin(kind) is tuple:
        item = parser_for(args[0])
        return lambda text: () if text.strip().lower() in ("", "none") else tuple(
            item(part) for part in text.split(","))
    if kind is bool:
        return _boolean
    return {int: _integer, float: float, str: lambda text: text.strip()}[kind]


def argument_type(name: str, kind: type):
    """An argparse ``type`` reading ``kind`` whose error names the flag (``name: reason``)."""
    convert = parser_for(kind)

    def typed(text: str):
        try:
            return convert(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{name}: {error}") from None
    typed.__name__ = name  # argparse says "invalid <name> value" when the type itself fails
    return typed


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"expected true or false, got {text!r}")
    return value in ("true", "1", "yes")


def _integer(text: str) -> int:
    value = float(text) if any(c in text.lower() for c in ".e") else int(text)
    if value != int(value):
        raise ValueError(f"expected a whole number, got {text!r}")
    return int(value)


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "none"
    return str(value)


def add_flags(parser: argparse.ArgumentParser, defaults: ExperimentHparams | None,
              label: str = "preset") -> None:
    """One flag per hyperparameter; help shows ``defaults``' values (the resolved preset),
    each labelled ``(label: value)`` -- say which profile they are under, e.g.
    ``lenet, quick profile``, since ``presets`` lists the paper profile's."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for path, kind in fields():
        section = path.split(".")[0] if "." in path else "experiment"
        if section not in groups:
            groups[section] = parser.add_argument_group(f"{section} hyperparameters")
        help_text = HELP.get(path, "")
        if defaults is not None:
            help_text += f" ({label}: {_shown(_value(defaults, path))})"
        groups[section].add_argument(f"--{path}", dest=PREFIX + path,
                                     type=argument_type(path, kind),
                                     default=argparse.SUPPRESS, metavar=metavar(kind),
                                     help=help_text)


def metavar(kind: type) -> str:
    if typing.get_origin(kind) is tuple:
        return "LIST"
    base = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
    return {int: "N", float: "X", bool: "BOOL", str: "NAME"}.get(base, "VALUE")


def _value(hp: ExperimentHparams, path: str):
    value = hp
    for part in path.split("."):
        value = getattr(value, part)
    return value


def overrides(args: argparse.Namespace) -> dict:
    """The flags given, as :meth:`ExperimentHparams.replace` keywords."""
    return {key[len(PREFIX):].replace(".", "__"): value for key, value in vars(args).items()
            if key.startswith(PREFIX)}
