"""The stability study's own parameters (notebook 05 and ``python -m lottery stability``): one
frozen dataclass whose fields are the notebook's parameter names and the command's flags."""

from __future__ import annotations

from dataclasses import dataclass

from lottery.core.params import StudyParams, at_least, fail, param


@dataclass(frozen=True)
class StabilityParams(StudyParams):
    stability_levels: tuple[int, ...] = param(
        (3, 7, 10, 15), "IMP levels measured at k = 0 (LeNet: 51.3, 21.1, 10.7, 3.6%% "
        "remaining); cut to --levels", "--at")
    focus_level: int = param(10, "the level of the paper's table, of the rewind sweep and of "
                                 "the histograms (LeNet: 10.7%%)", "--focus")
    connectivity_level: int = param(12, "the ticket whose first-layer connectivity is drawn")
    rewind_ks: tuple[int, ...] = param(
        (0, 100, 500, 2000), "rewind points in paper iterations, scaled like the training",
        "--ks")
    line_points: int = param(11, "networks along each line between two copies", "--points")
    info_inputs: int = param(2000, "test inputs binned for the information plane")
    info_bins: tuple[int, ...] = param((30, 4), "bin counts of the information plane")

    def check(self) -> None:
        if not self.stability_levels or min(self.stability_levels) < 1:
            fail("stability_levels", "a non-empty list of IMP levels >= 1",
                 self.stability_levels)
        at_least("focus_level", self.focus_level, 1)
        at_least("connectivity_level", self.connectivity_level, 1)
        if not self.rewind_ks or min(self.rewind_ks) < 0:
            fail("rewind_ks", "a non-empty list of iterations >= 0", self.rewind_ks)
        at_least("line_points", self.line_points, 3)
        at_least("info_inputs", self.info_inputs, 2)
        if not self.info_bins or min(self.info_bins) < 2:
            fail("info_bins", "a non-empty list of bin counts >= 2", self.info_bins)
