"""Bring your own model: iterative magnitude pruning of any ``nn.Module`` on the user's data.

Frankle & Carbin (2019), *The Lottery Ticket Hypothesis*: train the network, prune a fraction
of the surviving weights of lowest score, reset the survivors to their initial values and
train again; repeat for ``levels`` rounds. Frankle et al. (2019), *Stabilizing the Lottery
Ticket Hypothesis*: reset to the weights at iteration k instead of 0 ("rewinding"), which deep
networks with batch norm and residual connections need. Each level's ticket is trained beside
the paper's controls -- ``reinit`` (the ticket's mask, a fresh initialization) and
``random_mask`` (a random mask of the same per-layer density, the ticket's initial values) --
and the trials and controls of one level train as one batched computation where the module
allows it (:mod:`lottery.studies.own_model.members`). Every trained network is cached by what
determines it (:mod:`lottery.studies.own_model.store`), so a rerun loads and an interrupted search
resumes. Criteria come from :data:`lottery.engine.pruning.CRITERIA` (Zhou et al. 2019).

    result = find_ticket(model, (x, y), val=(xv, yv), test=(xt, yt),
                         optimizer=lambda p: torch.optim.Adam(p, lr=1e-3),
                         iterations=2000, levels=5)
    result.table()          # per level: percent remaining, accuracies, per variant
    sparse = result.ticket()  # the trained ticket of the last level, as the user's module
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from lottery.core.store import RunStore
from lottery.engine import pruning
from lottery.engine.masks import Mask
from lottery.studies.own_model.data import LoaderData, as_data
from lottery.studies.own_model.masks import apply_mask, dense_mask, prunable_weights
from lottery.studies.own_model.members import Group, State, load_state, module_state, probe
from lottery.studies.own_model.store import (
    MemberStore,
    architecture_fingerprint,
    optimizer_identity,
    timed,
)
from lottery.studies.own_model.training import Budget, Member, Trained, train_group

CONTROLS = ("reinit", "random_mask")
DEFAULT_RATES = {"conv": 0.1, "fc": 0.2, "output": 0.1}  # LTH Conv-2/4/6; LeNet's output 0.1


@dataclass(frozen=True)
class Pruning:
    """How each level prunes.

    ``rates``: fraction of surviving weights removed per level, by kind (``conv``, ``fc``,
    ``output``) or by weight name (a name wins over its kind); ``strategy``: ``layerwise``
    (each layer at its rate) or ``global`` (all pruned layers ranked together at
    ``global_rate``, as for VGG-19 and ResNet-18); ``criterion``: a key of
    :data:`lottery.engine.pruning.CRITERIA`, its ``_same_sign`` variant, or ``random``; ``layers``:
    the layers to prune (module or weight names; None: every Linear and Conv)."""

    rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    strategy: str = "layerwise"
    global_rate: float = 0.2
    criterion: str = "large_final"
    layers: tuple[str, ...] | None = None

    def check(self) -> None:
        if self.strategy not in ("layerwise", "global"):
            raise ValueError(f"pruning strategy must be 'layerwise' or 'global'; got "
                             f"{self.strategy!r}")
        for name, rate in [*self.rates.items(), ("global_rate", self.global_rate)]:
            if not 0 <= rate < 1:
                raise ValueError(f"pruning rate {name} must be in [0, 1); got {rate}")
        base = self.criterion.removesuffix("_same_sign")
        if base not in pruning.CRITERIA and self.criterion != "random":
            raise ValueError(f"unknown pruning criterion {self.criterion!r}; choose from "
                             f"{sorted(pruning.CRITERIA)} (or *_same_sign, random)")

    def rate_of(self, name: str, kind: str) -> float:
        if name in self.rates:
            return self.rates[name]
        if kind not in self.rates:
            raise ValueError(f"pruning rates give no rate for {name} (kind {kind!r})")
        return self.rates[kind]

    def key(self) -> dict:
        return {"rates": dict(sorted(self.rates.items())), "strategy": self.strategy,
                "global_rate": self.global_rate, "criterion": self.criterion,
                "layers": None if self.layers is None else list(self.layers)}


def fresh_init(module: nn.Module, seed: int) -> State:
    """A new initialization of ``module``'s architecture: ``reset_parameters()`` of every
    submodule that has one, drawn from ``seed`` (the global RNG is left as it was)."""
    model = copy.deepcopy(module)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for sub in model.modules():
            if callable(getattr(sub, "reset_parameters", None)):
                sub.reset_parameters()
    return module_state(model)


def _seed(*parts: int) -> int:
    """A seed for one trial, level and role (stable, far from the others)."""
    value = 0
    for part in parts:
        value = (value * 1_000_003 + part) % (2**31 - 1)
    return value


@dataclass
class TicketSearch:
    """IMP's outcome: every trained network, the tickets' masks and the per-level table."""

    module: nn.Module
    prunable: dict[str, str]          # weight name -> kind
    networks: dict[tuple[int, int, str], Trained] = field(default_factory=dict)
    masks: dict[tuple[int, int, str], Mask] = field(default_factory=dict)
    starts: dict[tuple[int, int, str], State] = field(default_factory=dict)
    iterations: int = 0

    @property
    def results(self) -> pd.DataFrame:
        """One row per trained network: trial, level, variant, percent remaining, metrics."""
        rows = [{"method": "imp", "trial": t, "level": lv, "variant": v,
                 "percent_remaining": 100 * self.masks[t, lv, v].density(),
                 "iterations": self.iterations, **net.metrics}
                for (t, lv, v), net in sorted(self.networks.items())]
        return pd.DataFrame(rows)

    def table(self, metric: str = "early_stop_test_acc") -> pd.DataFrame:
        """Per level: percent remaining and the mean of ``metric`` over trials per variant."""
        frame = self.results
        out = frame.pivot_table(index="level", columns="variant", values=metric, aggfunc="mean")
        out.insert(0, "percent_remaining", frame.groupby("level").percent_remaining.mean())
        return out[["percent_remaining", *[v for v in ("ticket", *CONTROLS) if v in out]]]

    @property
    def levels(self) -> int:
        return max(level for _, level, _ in self.networks)

    def mask(self, level: int | None = None, trial: int = 0, variant: str = "ticket") -> Mask:
        return self.masks[trial, self.levels if level is None else level, variant]

    def ticket(self, level: int | None = None, trial: int = 0, variant: str = "ticket",
               trained: bool = True) -> nn.Module:
        """The network of ``level`` (None: the last) as a copy of the user's module: trained,
        or (``trained=False``) its starting weights, pruned weights zero."""
        key = (trial, self.levels if level is None else level, variant)
        state = self.networks[key].final if trained else self.starts[key]
        model = load_state(copy.deepcopy(self.module), state)
        return apply_mask(model, self.masks[key])


@dataclass
class _Search:
    """What every level of one search shares."""

    module: nn.Module
    data: object
    val: object
    test: object
    make_optimizer: Callable
    budget: Budget
    loss: Callable
    pruning: Pruning
    prunable: dict[str, str]
    store: MemberStore
    device: torch.device
    vectorized: bool
    progress: bool

    def train(self, members: list[Member], start: int, snapshot_at: int | None,
              desc: str) -> list[Trained]:
        """Train ``members`` (loading the stored ones), batched where allowed."""
        keys = [self.store.key(m.start, m.mask, start, m.order_seed, snapshot_at)
                for m in members]
        found = [self.store.load(key) for key in keys]
        todo = [i for i, f in enumerate(found) if f is None]
        groups = [todo] if self.vectorized else [[i] for i in todo]
        for group in (g for g in groups if g):
            chosen = [members[i] for i in group]
            net = Group.of(self.module, [m.start for m in chosen], self.device,
                           self.vectorized, self.loss)
            trained, seconds = timed(
                train_group, net, chosen, self.make_optimizer, self.data, self.budget,
                start=start, val=self.val, test=self.test, snapshot_at=snapshot_at,
                device=self.device, desc=f"{desc} ({len(chosen)} networks)",
                progress=self.progress)
            for i, result in zip(group, trained, strict=True):
                self.store.save(keys[i], result, self.device, seconds)
                found[i] = result
        return found

    def next_mask(self, start: State, final: State, mask: Mask, seed: int) -> Mask:
        """``mask`` pruned by one round from the trained weights ``final``."""
        names = list(self.prunable)
        scores = pruning.scores(self.pruning.criterion, {n: start[n] for n in names},
                                {n: final[n] for n in names}, seed)
        if self.pruning.strategy == "global":
            return pruning.prune_global(scores, mask, self.pruning.global_rate)
        rates = {n: self.pruning.rate_of(n, kind) for n, kind in self.prunable.items()}
        return pruning.prune_layerwise(scores, mask, rates)


def find_ticket(model: nn.Module, train, *, val=None, test=None,
                optimizer: Callable | None = None, iterations: int = 1000,
                batch_size: int = 64, eval_every: int | None = None, levels: int = 5,
                pruning: Pruning | None = None, rewind_to: int = 0,
                controls: Sequence[str] = CONTROLS, trials: int = 1, seed: int = 0,
                loss: Callable = nn.functional.cross_entropy, batched: bool | str = "auto",
                store: str | RunStore | None | bool = True, device: str = "auto",
                data_id: str = "", progress: bool = True) -> TicketSearch:
    """Iterative magnitude pruning of ``model`` with rewinding and controls.

    ``train``/``val``/``test``: ``(inputs, targets)`` tensors, a ``TensorDataset`` or a
    ``DataLoader`` (val: early stop at the minimum validation loss; test: accuracies reported).
    ``optimizer``: a factory ``params -> torch.optim.Optimizer`` (default Adam, lr 1.2e-3).
    ``iterations``: the training budget of every network; ``rewind_to``: the iteration the
    tickets restart from (0: the initialization). Trial 0 starts from ``model``'s own weights,
    trial t > 0 from ``reset_parameters()`` under a seed. ``batched``: ``"auto"`` vectorizes
    the members of a level where :func:`~lottery.studies.own_model.members.probe` allows it and
    says in one line why not otherwise; True requires it, False trains one at a time. ``store``:
    True (``$LOTTERY_RUNS`` or ``runs/``), a folder, a RunStore, or None/False (no cache).
    ``data_id``: names the data in the store key beside its digest (use it when a DataLoader's
    dataset changes beyond its first batch)."""
    search = _prepare(model, train, val, test, optimizer, iterations, batch_size, eval_every,
                      pruning or Pruning(), rewind_to, controls, trials, seed, loss, batched,
                      store, device, data_id, progress, levels)
    result = TicketSearch(copy.deepcopy(model).cpu(), search.prunable, iterations=iterations)
    inits = [module_state(model) if t == 0 else fresh_init(model, _seed(seed, t))
             for t in range(trials)]
    dense = search.train([Member(inits[t], dense_mask(model, search.prunable), _seed(seed, t, 0))
                          for t in range(trials)], 0, rewind_to or None, "level 0")
    for t in range(trials):
        _record(result, (t, 0, "ticket"), inits[t], dense_mask(model, search.prunable), dense[t])
    rewinds = [dense[t].snapshot if rewind_to else inits[t] for t in range(trials)]
    for level in range(1, levels + 1):
        labels, members = _level_members(search, result, rewinds, level, controls, seed)
        trained = search.train(members, rewind_to, None, f"level {level}")
        for label, member, net in zip(labels, members, trained, strict=True):
            _record(result, label, member.start, member.mask, net)
    return result


def _level_members(search: _Search, result: TicketSearch, rewinds: list[State], level: int,
                   controls: Sequence[str], seed: int) -> tuple[list, list[Member]]:
    """Each trial's ticket of ``level`` -- pruned from its ticket of the level before -- and
    its controls; every member of a trial keeps the trial's data order."""
    labels, members = [], []
    for t, rewind in enumerate(rewinds):
        previous = result.networks[t, level - 1, "ticket"]
        mask = search.next_mask(rewind, previous.final, result.masks[t, level - 1, "ticket"],
                                _seed(seed, t, level, 99))
        for variant in ("ticket", *controls):
            role = 1 + CONTROLS.index(variant) if variant in CONTROLS else 0
            start, its_mask = _variant(variant, search.module, rewind, mask,
                                       _seed(seed, t, level, role))
            members.append(Member(start, its_mask, _seed(seed, t, 0)))
            labels.append((t, level, variant))
    return labels, members


def _variant(name: str, model: nn.Module, rewind: State, mask: Mask, seed: int
             ) -> tuple[State, Mask]:
    """A member's start and mask: the ticket, or one of the paper's controls."""
    if name == "ticket":
        return rewind, mask
    if name == "reinit":
        return fresh_init(model, seed), mask
    if name == "random_mask":
        return rewind, pruning.random_mask_like(mask, seed)
    raise ValueError(f"unknown control {name!r}; choose from {list(CONTROLS)}")


def _record(result: TicketSearch, label, start: State, mask: Mask, net: Trained) -> None:
    result.networks[label], result.masks[label], result.starts[label] = net, mask, start


def _default_optimizer(params):
    return torch.optim.Adam(params, lr=1.2e-3)  # LTH's LeNet rate


def _check_counts(iterations, batch_size, levels, rewind_to, trials, controls, batched) -> None:
    """One ``ValueError`` line for a bad setting, before any work."""
    for name, value, low in (("iterations", iterations, 1), ("batch_size", batch_size, 1),
                             ("levels", levels, 0), ("trials", trials, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    if not (isinstance(rewind_to, int) and 0 <= rewind_to < iterations):
        raise ValueError(f"rewind_to must be an iteration in [0, {iterations}); got {rewind_to!r}")
    unknown = [c for c in controls if c not in CONTROLS]
    if unknown:
        raise ValueError(f"unknown controls {unknown}; choose from {list(CONTROLS)}")
    if batched not in ("auto", True, False):
        raise ValueError(f"batched must be 'auto', True or False; got {batched!r}")


def _check_schedule(model: nn.Module, prunable: dict[str, str], prune: Pruning,
                    levels: int) -> None:
    """Refuse levels past the point where a layer keeps no weight (layer-wise rates)."""
    if prune.strategy == "global":
        return
    params = dict(model.named_parameters())
    pruning.check_schedule({n: params[n].numel() for n in prunable},
                           {n: prune.rate_of(n, k) for n, k in prunable.items()}, levels)


def _example(data, batch_size: int, device):
    x, y = (next(iter(data.loader)) if isinstance(data, LoaderData)
            else (data.x[:batch_size], data.y[:batch_size]))
    return x.to(device), y.to(device)


def _vectorize(model, data, batch_size, loss, make_optimizer, batched, device) -> bool:
    """Whether to train members batched; the reason in one line where not."""
    if batched is False:
        return False
    x, y = _example(data, batch_size, device)
    reason = probe(copy.deepcopy(model).to(device), x, y, loss, make_optimizer)
    if reason is None:
        return True
    if batched is True:
        raise ValueError(f"batched=True, but {type(model).__name__} cannot be vectorized: "
                         f"{reason}")
    print(f"own model: {type(model).__name__} trains its members one at a time ({reason})",
          file=sys.stderr, flush=True)
    return False


def _run_store(store) -> RunStore | None:
    if store is None or store is False:
        return None
    if isinstance(store, RunStore):
        return store
    return RunStore(None if store is True else store)


def _prepare(model, train, val, test, optimizer, iterations, batch_size, eval_every,
             prune: Pruning, rewind_to, controls, trials, seed, loss, batched, store, device,
             data_id, progress, levels) -> _Search:
    """Every check, then the shared context of a search (nothing trained yet)."""
    _check_counts(iterations, batch_size, levels, rewind_to, trials, controls, batched)
    prune.check()
    prunable = prunable_weights(model, prune.layers)
    _check_schedule(model, prunable, prune, levels)
    data = as_data(train, "train")
    val, test = (None if d is None else as_data(d, name) for d, name in ((val, "val"),
                                                                          (test, "test")))
    make_optimizer = optimizer or _default_optimizer
    device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                          "cpu" if device == "auto" else device)
    every = eval_every if eval_every is not None else max(1, iterations // 20)
    budget = Budget(iterations, batch_size, every if val is not None else 0)
    recipe = {"budget": budget.__dict__, "optimizer": optimizer_identity(make_optimizer),
              "loss": getattr(loss, "__qualname__", repr(loss)), "data_id": data_id,
              "data": [None if d is None else d.digest() for d in (data, val, test)],
              "seed": seed, "pruning": prune.key(), "device_type": device.type}
    vectorized = _vectorize(model, data, batch_size, loss, make_optimizer, batched, device)
    members = MemberStore(_run_store(store), architecture_fingerprint(model), recipe)
    return _Search(copy.deepcopy(model).cpu(), data, val, test, make_optimizer, budget, loss, prune,
                   prunable, members, device, vectorized, progress)
