"""Paper vs ours for notebooks 01-03: Frankle & Carbin (ICLR 2019)'s claims on LeNet, the
conv nets, VGG-19 and ResNet-18, and Frankle et al. (2019)'s rewinding, each measured on our
runs where the paper measures it (the verdict rule: :mod:`lottery.claims.framework`)."""

from __future__ import annotations

from lottery.claims.framework import (
    ACC,
    ES,
    NO_NUMBER,
    VAL_SIZE,
    At,
    Claim,
    Direction,
    Measurement,
    PerTrial,
    Runs,
    at_every_level,
    best_level_gap,
    binomial_floor,
    difference,
    drop_ratio,
    mean_over_levels,
    ratio,
    value,
)
from lottery.core.results import in_percent

# --- the claims -------------------------------------------------------------------------------
# Each claim cites the paper's sentence or figure beside it; LTH = Frankle & Carbin, ICLR 2019
# (arXiv 1803.03635 v5), Stabilizing = Frankle, Dziugaite, Roy & Carbin 2019 (arXiv 1903.01611).
# [~]: read from a plot, not stated in the text.

FINAL = "final_test_acc"
MNIST_ONE = binomial_floor(98.0)                          # one LeNet accuracy: ~0.28 pp
MNIST_GAP = binomial_floor(98.0, difference=True)         # a gap between two: ~0.40 pp
DEEP_ONE = binomial_floor(91.0)                           # VGG-19 / ResNet-18: ~0.57 pp
DEEP_GAP = binomial_floor(91.0, difference=True)          # ~0.81 pp


def val_at_early_stop(key: str) -> PerTrial:
    """The dense network's validation accuracy (%) at its early-stop iteration, per trial (LTH
    App. H reports validation accuracy), read from the history."""
    def measure(runs: Runs) -> Measurement:
        frame, history = runs[key], runs.history(key)
        dense = frame[(frame.level == 0) & (frame.variant == "ticket")]
        rows = history[(history.level == 0) & (history.variant == "ticket")]
        values = [in_percent("val_acc", rows[(rows.trial == t) & (rows.iteration == it)]
                             .val_acc.mean()) for t, it in zip(dense.trial,
                                                              dense.early_stop_iteration,
                                                              strict=True)]
        return Measurement(tuple(values), "dense, validation accuracy at early stop")
    return measure


def _lenet_claims() -> list[Claim]:
    """LTH Sec. 2 (Figs. 1, 3, 4): LeNet-300-100 on MNIST, iterative and one-shot pruning."""
    lenet, oneshot = ("lenet",), ("lenet_oneshot",)
    dense, dense_es = At("lenet", "dense"), At("lenet", "dense", metric=ES)

    def ticket(pm, metric=ACC, variant="ticket", key="lenet"):
        return At(key, variant, pm, metric)

    return [
        # LTH Figs. 3, 4a: the dense network tests at about 98% [~]
        Claim("LeNet dense: test accuracy at early stop (%)", 98.0, needs=lenet,
              per_trial=value(dense), floor=MNIST_ONE, source="LTH Figs. 3, 4a [~]"),
        # LTH Sec. 2: "winning tickets learn faster as Pm decreases from 100% to 21%, at which
        # point early-stopping occurs 38% earlier than for the original network"
        Claim("ticket at Pm 21.1%: early stop earlier than dense (% fewer iterations)", 38.0,
              needs=lenet, per_trial=ratio(ticket(21.1, ES), dense_es, percent_fewer=True),
              direction="> 0", source="LTH Sec. 2, Fig. 4a"),
        # LTH Sec. 2: "Further pruning causes learning to slow, returning to the early-stopping
        # performance of the original network when Pm = 3.6%"
        Claim("ticket at Pm 3.6%: early stop earlier than dense (% fewer iterations)", 0.0,
              needs=lenet, per_trial=ratio(ticket(3.6, ES), dense_es, percent_fewer=True),
              source="LTH Sec. 2, Fig. 4a"),
        # LTH Sec. 2: "Test accuracy increases with pruning, improving by more than 0.3
        # percentage points when Pm = 13.5%"
        Claim("ticket at Pm 13.5%: test acc at early stop minus dense (pp)", 0.3, "at_least",
              needs=lenet, per_trial=difference(ticket(13.5), dense), direction="> 0",
              floor=MNIST_GAP, source="LTH Sec. 2, Fig. 4a"),
        # LTH Sec. 2: "after this point, accuracy decreases, returning to the level of the
        # original network when Pm = 3.6%"
        Claim("ticket at Pm 3.6%: test acc at early stop minus dense (pp)", 0.0, needs=lenet,
              per_trial=difference(ticket(3.6), dense), floor=MNIST_GAP,
              source="LTH Sec. 2, Fig. 4a"),
        # LTH Sec. 2: "At Pm = 21%, the lottery ticket reaches minimum validation loss 2.51x
        # faster than when reinitialized and is half a percentage point more accurate"
        Claim("Pm 21.1%: ticket minus random reinit, test acc at early stop (pp)", 0.5,
              needs=lenet, per_trial=difference(ticket(21.1), ticket(21.1, variant="reinit")),
              direction="> 0", floor=MNIST_GAP, source="LTH Sec. 2, Figs. 3, 4a"),
        Claim("Pm 21.1%: reinit early-stop iteration / ticket's (x faster)", 2.51, needs=lenet,
              per_trial=ratio(ticket(21.1, ES, "reinit"), ticket(21.1, ES)), direction="> 1",
              source="LTH Sec. 2, Fig. 4a"),
        # LTH Sec. 2: "The average test accuracy of a reinitialized iterative winning ticket
        # begins to drop off from the original accuracy when Pm = 21.1%, compared to 2.9% for
        # the winning ticket" (21.1 / 2.9 = 7.3)
        Claim("accuracy drops earlier for reinit: Pm at reinit's drop / Pm at ticket's", 7.3,
              needs=lenet, per_trial=drop_ratio("lenet"), direction="> 1",
              source="LTH Sec. 2, Fig. 4a"),
        *_random_pruning_claims("lenet", "LeNet", MNIST_GAP),
        *_oneshot_claims(lenet, oneshot, ticket),
    ]


def _random_pruning_claims(key: str, name: str, gap: float = 0.0) -> list[Claim]:
    """LTH Fig. 1: randomly sampled sparse networks (dashed) learn slower and test worse than
    the winning tickets (solid) at every size. Our random pruning samples a random mask of each
    level's per-layer density from the dense network, the paper's random sampling. Judged at
    every level (``gap``: the test set's resolution of a difference)."""
    return [
        Claim(f"{name}: ticket minus random pruning at every level, test acc at early stop "
              f"(pp; mean of levels shown)", NO_NUMBER, needs=(key,),
              per_trial=at_every_level(key, "ticket", "random_mask", floor=gap),
              direction=Direction("ticket > random pruning at every level", at_every_level(
                  key, "ticket", "random_mask", floor=gap)),
              source="LTH Fig. 1 (right)"),
        Claim(f"{name}: ticket minus random pruning at every level, early-stop iteration "
              f"(mean of levels shown)", NO_NUMBER, needs=(key,),
              per_trial=at_every_level(key, "ticket", "random_mask", metric=ES),
              direction=Direction("ticket earlier at every level", at_every_level(
                  key, "ticket", "random_mask", metric=ES), "<"),
              source="LTH Fig. 1 (left)"),
    ]


def _oneshot_claims(lenet, oneshot, ticket) -> list[Claim]:
    """LTH Sec. 2, "One-shot pruning" and Fig. 4c."""
    key = "lenet_oneshot"
    return [
        # LTH Sec. 2: "the average winning ticket reaches minimum validation loss earlier than
        # the original network when 67.5% ≥ Pm ≥ 17.6%"
        Claim("one-shot, 67.5% ≥ Pm ≥ 17.6%: ticket minus dense early-stop iteration at "
              "every level (mean shown)", NO_NUMBER, needs=oneshot,
              per_trial=at_every_level(key, "ticket", "dense", (17.6, 67.5), ES),
              direction=Direction("one-shot ticket earlier at every level", at_every_level(
                  key, "ticket", "dense", (17.6, 67.5), ES), "<"), source="LTH Sec. 2, Fig. 4c"),
        # LTH Sec. 2: "... and higher test accuracy when 95.0% ≥ Pm ≥ 5.17%"
        Claim("one-shot, 95.0% ≥ Pm ≥ 5.17%: ticket minus dense test acc at every level (pp; "
              "mean shown)", NO_NUMBER, needs=oneshot,
              per_trial=at_every_level(key, "ticket", "dense", (5.17, 95.0), floor=MNIST_GAP),
              direction=Direction("one-shot ticket > dense at every level", at_every_level(
                  key, "ticket", "dense", (5.17, 95.0), floor=MNIST_GAP)),
              source="LTH Sec. 2, Fig. 4c"),
        # LTH Fig. 4c: the one-shot tickets' random reinit (red) falls below them (green)
        Claim("one-shot: ticket minus random reinit, test acc at early stop (pp)", NO_NUMBER,
              needs=oneshot, per_trial=mean_over_levels(key, "ticket", "reinit"),
              direction="> 0", source="LTH Fig. 4c"),
        # LTH Sec. 2: "iteratively-pruned winning tickets learn faster and reach higher test
        # accuracy at smaller network sizes" -- at 7.0%, below the one-shot range of faster
        # learning (17.6%), where Fig. 4a shows the gap
        Claim("Pm 7.0%: iterative minus one-shot ticket, test acc at early stop (pp)", NO_NUMBER,
              needs=lenet + oneshot, per_trial=difference(ticket(7.0), ticket(7.0, key=key)),
              direction="> 0", floor=MNIST_GAP, source="LTH Sec. 2, Fig. 4a"),
        Claim("Pm 7.0%: iterative / one-shot ticket, early-stop iteration (x)", NO_NUMBER,
              needs=lenet + oneshot,
              per_trial=ratio(ticket(7.0, ES), ticket(7.0, ES, key=key)), direction="< 1",
              source="LTH Sec. 2, Fig. 4a"),
    ]


# LTH Sec. 3: "The winning tickets reach minimum validation loss at best 3.5x faster for Conv-2
# (Pm = 8.8%), 3.5x for Conv-4 (Pm = 9.2%), and 2.5x for Conv-6 (Pm = 15.1%). Test accuracy
# improves at best 3.4 percentage points for Conv-2 (Pm = 4.6%), 3.5 for Conv-4 (Pm = 11.1%),
# and 3.3 for Conv-6 (Pm = 26.4%)"; Fig. 6 text: dropout "increases initial test accuracy (2.1,
# 3.0, and 2.4 percentage points on average ...), and iterative pruning increases it further
# (up to an additional 2.3, 4.6, and 4.7 percentage points, respectively, on average)"; App.
# H.2: dense validation accuracy 67.6% (Conv-2), 78.6 - 3.7 = 74.9% (Conv-4), 81.5 - 2.4 =
# 79.1% (Conv-6).
_CONV = {"conv2": (67.6, (8.8, 3.5), (4.6, 3.4), (2.1, 2.3)),
         "conv4": (74.9, (9.2, 3.5), (11.1, 3.5), (3.0, 4.6)),
         "conv6": (79.1, (15.1, 2.5), (26.4, 3.3), (2.4, 4.7))}


def _conv_claims() -> list[Claim]:
    """LTH Sec. 3 (Figs. 1, 5, 6): Conv-2/4/6 on CIFAR-10."""
    return [claim for m in _CONV for claim in _one_conv(m)]


def _one_conv(m: str) -> list[Claim]:
    dense_val, (speed_pm, speedup), (gain_pm, gain), (dropout_gain, pruned_gain) = _CONV[m]
    name, drop = m.replace("conv", "Conv-"), f"{m}_dropout"
    dense, gap = At(m, "dense"), binomial_floor(dense_val, difference=True)
    return [
        Claim(f"{name} dense: validation accuracy at early stop (%)", dense_val, needs=(m,),
              per_trial=val_at_early_stop(m), floor=binomial_floor(dense_val, VAL_SIZE),
              source="LTH App. H.2 (Adam lr of Fig. 2)"),
        Claim(f"{name} ticket at Pm {speed_pm}%: early-stop speedup over dense (x)", speedup,
              needs=(m,), per_trial=ratio(At(m, "dense", metric=ES), At(m, "ticket", speed_pm,
                                                                         ES)),
              direction="> 1", source="LTH Sec. 3, Fig. 5"),
        Claim(f"{name} ticket at Pm {gain_pm}%: test acc at early stop minus dense (pp)", gain,
              needs=(m,), per_trial=difference(At(m, "ticket", gain_pm), dense),
              direction="> 0", floor=gap, source="LTH Sec. 3, Fig. 5"),
        # LTH Sec. 3: "all three networks remain above their original average test accuracy
        # when Pm > 2%"
        Claim(f"{name}: ticket minus dense at every level while Pm > 2% (pp; mean shown)",
              NO_NUMBER, needs=(m,),
              per_trial=at_every_level(m, "ticket", "dense", (2.0, 100), slack=0.0, floor=gap),
              direction=Direction("ticket > dense at every level", at_every_level(
                  m, "ticket", "dense", (2.0, 100), slack=0.0, floor=gap)),
              source="LTH Sec. 3, Fig. 5"),
        # LTH Sec. 3, Fig. 5 (dashed): "the test accuracy of the random reinitialization
        # experiment drops off more quickly" -- read where the ticket gains most
        Claim(f"{name} Pm {gain_pm}%: ticket minus random reinit, test acc (pp)", NO_NUMBER,
              needs=(m,), per_trial=difference(At(m, "ticket", gain_pm),
                                               At(m, "reinit", gain_pm)),
              direction="> 0", floor=gap, source="LTH Sec. 3, Fig. 5"),
        *_random_pruning_claims(m, name, gap),
        Claim(f"{name} dense: dropout 0.5 gain in test acc at early stop (pp)", dropout_gain,
              needs=(m, drop), per_trial=difference(At(drop, "dense"), dense), direction="> 0",
              floor=gap, source="LTH Sec. 3, Fig. 6"),
        Claim(f"{name} dropout: best ticket gain over the dense net (pp)", pruned_gain,
              needs=(drop,), per_trial=best_level_gap(drop), direction="> 0", floor=gap,
              source="LTH Sec. 3, Fig. 6"),
    ]


def _scale_claims() -> list[Claim]:
    """LTH Sec. 4 (Figs. 7, 8) and late resetting (Stabilizing): VGG-19 and ResNet-18."""
    return _vgg_claims() + _resnet_claims()


def _end(key: str, variant: str = "ticket", pm: float | None = None) -> At:
    """Test accuracy at the end of training (LTH Figs. 7 and 8, right: 112K and 30K)."""
    return At(key, variant, pm, FINAL)


def _dense_claims(name: str, dense: dict[str, tuple[str, float]], source: str) -> list[Claim]:
    return [Claim(f"{name} {label}: dense test accuracy at the end (%)", acc, needs=(key,),
                  per_trial=value(_end(key, "dense")), floor=DEEP_ONE, source=source)
            for label, (key, acc) in dense.items()]


def _no_ticket_claims(name: str, key: str, pm: float, source: str) -> list[Claim]:
    """At lr 0.1 without warmup IMP finds no winning ticket: the ticket falls below the dense
    net and does no better than its random reinit (LTH Sec. 4; App. I.4: "for higher learning
    rates, the pruned networks with the original initialization perform no better than when
    randomly reinitialized"). Read at the Pm where the warmup tickets still win."""
    return [Claim(f"{name} lr 0.1 (no warmup), Pm {pm}%: ticket minus random reinit (pp)", 0.0,
                  needs=(key,), per_trial=difference(_end(key, pm=pm), _end(key, "reinit", pm)),
                  direction=Direction("no ticket: ticket < dense", difference(
                      _end(key, pm=pm), _end(key, "dense")), "<"),
                  floor=DEEP_GAP, source=source)]


def _rewind_claims(name: str, base: str, k: int, pm: float) -> list[Claim]:
    """Stabilizing: rewinding to iteration k (lr 0.1, no warmup) gives tickets that beat the
    dense network at all sparsities (docs/PAPERS.md [T]); read at the Pm where LTH's warmup tickets
    end, against the dense net and against the ticket reset to iteration 0."""
    key = f"{base}_rewind"
    return [Claim(f"{name} lr 0.1, rewind k={k}, Pm {pm}%: ticket minus dense (pp)", 0.0,
                  "at_least", needs=(key,),
                  per_trial=difference(_end(key, pm=pm), _end(key, "dense")),
                  direction=Direction("rewound ticket > ticket reset to 0", difference(
                      _end(key, pm=pm), _end(base, pm=pm))),
                  floor=DEEP_GAP, source="Stabilizing the LTH (late resetting)")]


def _vgg_claims() -> list[Claim]:
    lr01, warm = "vgg19_lr0.01", "vgg19_warmup"
    reinit_gap = Direction("ticket > random reinit", difference(_end(lr01, pm=3.5),
                                                                _end(lr01, "reinit", 3.5)))
    return [
        *_dense_claims("VGG-19", {"lr 0.1": ("vgg19", 91.5), "lr 0.01": (lr01, 92.0),
                                  "lr 0.1 + warmup": (warm, 92.3)}, "LTH Fig. 7, 112K [~]"),
        # LTH Sec. 4: "Training VGG-19 with warmup (k = 10000, green line) at learning rate 0.1
        # improves the test accuracy of the unpruned network by about one percentage point"
        Claim("VGG-19 dense: warmup gain in test acc at the end (pp)", 1.0,
              needs=("vgg19", warm), per_trial=difference(_end(warm, "dense"),
                                                          _end("vgg19", "dense")),
              direction="> 0", floor=DEEP_GAP, source="LTH Sec. 4, Fig. 7"),
        # LTH Sec. 4: at lr 0.01 "subnetworks remain within 1 percentage point of the original
        # accuracy while Pm ≥ 3.5%" ... "When randomly reinitialized, the subnetworks lose
        # accuracy as they are pruned"
        Claim("VGG-19 lr 0.01, Pm 3.5%: ticket minus dense at the end (pp)", -1.0, "at_least",
              needs=(lr01,), per_trial=difference(_end(lr01, pm=3.5), _end(lr01, "dense")),
              direction=reinit_gap, floor=DEEP_GAP, source="LTH Sec. 4, Fig. 7"),
        # LTH Sec. 4: "these subnetworks learn faster than the unpruned network early in
        # training (Figure 7 left)" -- 30K, over the levels where they hold (Pm ≥ 3.5%)
        Claim("VGG-19 lr 0.01, 30K: ticket minus dense, Pm ≥ 3.5% (pp)", NO_NUMBER,
              needs=(lr01,), per_trial=mean_over_levels(lr01, "ticket", "dense", (3.5, 100),
                                                        iteration=30_000),
              direction="> 0", source="LTH Sec. 4, Fig. 7 (left, 30K)"),
        # LTH Sec. 4: warmup "made it possible to find winning tickets, exceeding this initial
        # accuracy when Pm ≥ 1.5%"
        Claim("VGG-19 lr 0.1 + warmup, Pm 1.5%: ticket minus dense at the end (pp)", 0.0,
              "at_least", needs=(warm,),
              per_trial=difference(_end(warm, pm=1.5), _end(warm, "dense")),
              direction=Direction("ticket > random reinit", difference(
                  _end(warm, pm=1.5), _end(warm, "reinit", 1.5))),
              floor=DEEP_GAP, source="LTH Sec. 4, Fig. 7"),
        # LTH Sec. 4: "At the higher learning rate, iterative pruning does not find winning
        # tickets, and performance is no better than when the pruned networks are randomly
        # reinitialized"
        *_no_ticket_claims("VGG-19", "vgg19", 1.5, "LTH Sec. 4, Fig. 7; App. I.4"),
        *_rewind_claims("VGG-19", "vgg19", 100, 1.5),
    ]


def _resnet_claims() -> list[Claim]:
    lr01, warm = "resnet18_lr0.01", "resnet18_warmup"
    dense_high_lr = At("resnet18", "dense", metric=FINAL)
    return [
        # LTH Sec. 4: the original network at lr 0.1 reaches 90.5%; the other two [~]
        *_dense_claims("ResNet-18", {"lr 0.1": ("resnet18", 90.5), "lr 0.01": (lr01, 89.1),
                                     "lr 0.03 + warmup": (warm, 89.6)},
                       "LTH Sec. 4 (lr 0.1), Fig. 8 at 30K [~]"),
        # LTH Sec. 4: "The accuracy of the best winning ticket at the lower learning rate (89.5%
        # when 41.7% ≥ Pm ≥ 21.9%) falls short of the original network's accuracy at the higher
        # learning rate (90.5%)"
        Claim("ResNet-18 lr 0.01, 41.7% ≥ Pm ≥ 21.9%: ticket test acc at the end (%)", 89.5,
              needs=(lr01,), per_trial=mean_over_levels(lr01, "ticket", None, (21.9, 41.7), FINAL),
              direction=Direction("below the dense net at lr 0.1", mean_over_levels(
                  lr01, "ticket", dense_high_lr, (21.9, 41.7), FINAL), "<"),
              floor=DEEP_ONE, source="LTH Sec. 4, Fig. 8"),
        # LTH Sec. 4: "At the lower learning rate, winning tickets again initially learn faster
        # (left plots of Figure 8)" -- 10K, over the levels where they hold (Pm ≥ 21.9%)
        Claim("ResNet-18 lr 0.01, 10K: ticket minus dense, Pm ≥ 21.9% (pp)", NO_NUMBER,
              needs=(lr01,), per_trial=mean_over_levels(lr01, "ticket", "dense", (21.9, 100),
                                                        iteration=10_000),
              direction="> 0", source="LTH Sec. 4, Fig. 8 (left, 10K)"),
        # LTH Sec. 4: warmup tickets close the gap, "reaching 90.5% test accuracy with learning
        # rate 0.03 (warmup, k = 20000) at Pm = 27.1%"
        Claim("ResNet-18 lr 0.03 + warmup, Pm 27.1%: ticket test acc at the end (%)", 90.5,
              needs=(warm,), per_trial=value(_end(warm, pm=27.1)),
              direction=Direction("above the lr 0.01 ticket", difference(
                  _end(warm, pm=27.1), _end(lr01, pm=27.1))),
              floor=DEEP_ONE, source="LTH Sec. 4, Fig. 8"),
        # LTH Sec. 4: "For these hyperparameters, we still find winning tickets when Pm ≥ 11.8%"
        Claim("ResNet-18 lr 0.03 + warmup, Pm 11.8%: ticket minus dense at the end (pp)", 0.0,
              "at_least", needs=(warm,),
              per_trial=difference(_end(warm, pm=11.8), _end(warm, "dense")),
              direction=Direction("ticket > random reinit", difference(
                  _end(warm, pm=11.8), _end(warm, "reinit", 11.8))),
              floor=DEEP_GAP, source="LTH Sec. 4, Fig. 8"),
        # LTH Sec. 4: "we could not find hyperparameters for which we could identify winning
        # tickets at the original learning rate, 0.1"
        *_no_ticket_claims("ResNet-18", "resnet18", 11.8, "LTH Sec. 4, Fig. 8; App. I.4"),
        *_rewind_claims("ResNet-18", "resnet18", 500, 11.8),
    ]


CLAIMS = {"01_lenet_mnist": _lenet_claims, "02_conv_cifar10": _conv_claims,
          "03_vgg_resnet_rewinding": _scale_claims}
