"""The papers' numbers that our figures draw beside our curves.

Each :class:`PaperPoint` is one headline number of Frankle & Carbin (ICLR 2019) as listed in
``docs/PAPERS.md`` (its LeNet, conv-net and VGG-19 / ResNet-18 sections): which preset's curve it
belongs to, the metric (a column of the results table, accuracies in percent), the percent of
weights remaining, and the value. Numbers the paper states as a change from its dense network
("38% earlier", "+0.3 pp") are ``relative`` and drawn from our own dense network (or ticket),
because our profiles train for fewer iterations than the paper: ``dense*`` multiplies our dense
value, ``dense+`` adds to it, ``ticket*`` multiplies our ticket's value at the same level.
``approximate`` marks numbers read from a plot rather than stated ([~] in docs/PAPERS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = "Frankle & Carbin 2019"
RELATIVE = ("", "dense*", "dense+", "ticket*", "ticket+")


@dataclass(frozen=True)
class PaperPoint:
    preset: str
    metric: str
    percent: float
    value: float
    relative: str = ""            # one of RELATIVE; "" = absolute
    variant: str = "ticket"       # whose curve: ticket, reinit, random_mask
    what: str = ""                # the statement, as docs/PAPERS.md gives it
    approximate: bool = False
    at_least: bool = False        # the paper gives a bound ("within 1 pp down to 3.5%")

    def __post_init__(self):
        if self.relative not in RELATIVE:
            raise ValueError(f"relative must be one of {RELATIVE}; got {self.relative!r}")

    def resolve(self, dense: float | None, ticket: float | None = None) -> float | None:
        """The value to draw, given our dense (and ticket) value; None when it needs one of
        ours that is missing."""
        anchor = {"": 0.0, "dense": dense, "ticket": ticket}[self.relative[:-1] if self.relative
                                                             else ""]
        if anchor is None:
            return None
        if self.relative.endswith("*"):
            return anchor * self.value
        return anchor + self.value


ES, ES_ACC, FINAL = "early_stop_iteration", "early_stop_test_acc", "final_test_acc"


def _lenet() -> list[PaperPoint]:
    return [
        PaperPoint("lenet", ES_ACC, 100.0, 98.0, what="dense test accuracy ~98.0%"),
        PaperPoint("lenet", FINAL, 100.0, 98.0, what="dense test accuracy ~98.0%"),
        PaperPoint("lenet", ES, 21.1, 0.62, "dense*", what="early stop 38% earlier than dense"),
        PaperPoint("lenet", ES, 3.6, 1.0, "dense*", what="back to the dense early stop"),
        PaperPoint("lenet", ES_ACC, 13.5, 0.3, "dense+", what="+0.3 pp over dense"),
        PaperPoint("lenet", ES_ACC, 3.6, 0.0, "dense+", what="back to the dense accuracy"),
        PaperPoint("lenet", ES, 21.1, 2.51, "ticket*", "reinit",
                   what="reinit reaches its minimum 2.51x later than the ticket"),
        PaperPoint("lenet", ES_ACC, 21.1, -0.5, "ticket+", "reinit",
                   what="reinit 0.5 pp below the ticket"),
    ]


def _conv() -> list[PaperPoint]:
    points = []
    # (model, dense accuracy [~], best speedup at Pm, best accuracy gain at Pm, dropout gain)
    for model, dense, (speedup, at_s), (gain, at_g), dropout in (
            ("conv2", 67.6, (3.5, 8.8), (3.4, 4.6), 2.1),
            ("conv4", 75.0, (3.5, 9.2), (3.5, 11.1), 3.0),
            ("conv6", 79.0, (2.5, 15.1), (3.3, 26.4), 2.4)):
        points += [
            PaperPoint(model, ES_ACC, 100.0, dense, what="dense accuracy (validation, read "
                       "from the plot)", approximate=True),
            PaperPoint(model, ES, at_s, 1 / speedup, "dense*",
                       what=f"best early-stop speedup {speedup}x"),
            PaperPoint(model, ES_ACC, at_g, gain, "dense+", what=f"best gain +{gain} pp"),
            PaperPoint(f"{model}_dropout", ES_ACC, 100.0, dense + dropout, approximate=True,
                       what=f"dense with dropout: +{dropout} pp"),
        ]
    return points


def _scale() -> list[PaperPoint]:
    points = []
    for preset, dense in (("vgg19", 91.5), ("vgg19_lr0.01", 92.0), ("vgg19_warmup", 92.3),
                          ("vgg19_rewind", 91.5), ("resnet18", 90.5),
                          ("resnet18_lr0.01", 89.1), ("resnet18_warmup", 89.6),
                          ("resnet18_rewind", 90.5)):
        points.append(PaperPoint(preset, FINAL, 100.0, dense, what="dense test accuracy"))
    return points + [
        PaperPoint("vgg19_lr0.01", FINAL, 3.5, -1.0, "dense+",
                   what="within 1 pp of dense down to 3.5%", at_least=True),
        PaperPoint("vgg19_warmup", FINAL, 1.5, 0.0, "dense+",
                   what="tickets beat dense down to 1.5%", at_least=True),
        PaperPoint("resnet18_warmup", FINAL, 27.1, 90.5, what="best ticket 90.5% at 27.1%"),
        PaperPoint("resnet18_warmup", FINAL, 11.8, 0.0, "dense+",
                   what="tickets beat dense down to 11.8%", at_least=True),
    ]


POINTS: list[PaperPoint] = _lenet() + _conv() + _scale()

# horizontal bands on curves over training (Fig. 3): (preset, metric) -> (low, high, label)
BANDS: dict[tuple[str, str], tuple[float, float, str]] = {
    ("lenet", "test_acc"): (97.8, 98.2, "paper: dense test accuracy 98.0 ± 0.2%"),
}


def points_for(preset: str, metric: str, variant: str = "ticket") -> list[PaperPoint]:
    return [p for p in POINTS if p.preset == preset and p.metric == metric
            and p.variant == variant]


# --- the numbers the paper-vs-ours claims read (one home; the claims modules import these) ---

# Frankle, Dziugaite, Roy & Carbin 2019 ("Stabilizing the LTH"), LeNet-300-100 at 10.7% of
# weights remaining: stability to data order and to pruning (L2 distances) and test accuracy,
# ticket vs random reinit. [~] read from the paper's stability table as PAPERS.md gives it
# (marked "confirm against the paper" there: not confirmed against the paper text here).
STABILITY_PERCENT = 10.7
STABILITY_LENET = {"data_order_distance": {"ticket": 20.7, "reinit": 58.6},
                   "pruning_distance": {"ticket": 48.1, "reinit": 75.7},
                   "early_stop_test_acc": {"ticket": 98.3, "reinit": 97.5}}
STABILITY_SOURCE = "Frankle et al. 2019, LeNet stability table [~ as PAPERS.md gives it]"
# Frankle et al. 2020 (linear mode connectivity): "stable" when the error barrier < 2 pp [T]
STABLE_BARRIER_PP = 2.0
# Zhou et al. 2019, abstract [T, confirmed]: supermasks applied to an untrained network give
# "performance far better than chance (86% on MNIST, 41% on CIFAR-10)"; > 80% with the original
# init and ~95% for a learned supermask are as PAPERS.md gives them ([T] there, not confirmed
# against the paper's text here).
SUPERMASK_MNIST = {"init": 80.0, "signed_constant": 86.0, "learned": 95.0}
# Grosse & Backes 2020, abstract [T, confirmed]: several winning tickets "even if the initial
# weights are fixed", with "no overlap or correlation significantly larger than expected by
# chance" (Jaccard / chance = 1)
CHANCE_OVERLAP = 1.0
