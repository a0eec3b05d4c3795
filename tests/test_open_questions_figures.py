"""Notebook 08's figures: house style (captions name the error bars, one colour per method)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from open_questions_fakes import info_table, init_table, recipe_table, width_table  # noqa: E402

from lottery.studies.open_questions import figures as figs  # noqa: E402


def _caption(fig) -> str:
    return " ".join(" ".join(t.get_text() for t in fig.texts).split())


@pytest.mark.parametrize("draw", [
    lambda: figs.plot_width(width_table()), lambda: figs.plot_width_gap(width_table()),
    lambda: figs.plot_inits(init_table()), lambda: figs.plot_recipes(recipe_table())])
def test_captions_name_the_error_bars(draw):
    fig = draw()
    assert "error bars: minimum to maximum over trials" in _caption(fig)
    plt.close(fig)


def test_each_recipe_keeps_its_colour_in_both_panels():
    fig = figs.plot_recipes(recipe_table())
    for ax in fig.axes:
        for line in ax.get_lines():
            label = line.get_label()
            for recipe, name in figs.RECIPE_NAMES.items():
                if label == name:
                    assert mcolors.same_color(line.get_color(), figs.COLORS[recipe])
    plt.close(fig)


def test_information_plane_draws_every_layer_and_estimator_and_states_the_caveat():
    fig = figs.plot_information_plane(info_table())
    assert len(fig.axes) == 6
    titles = {f"{layer}, {e}" for layer in ("fc1", "fc2", "fc3") for e in ("noisy", "binned 30")}
    assert {ax.get_title() for ax in fig.axes} == titles
    assert "conclusions depend on the estimator" in _caption(fig)
    plt.close(fig)


def test_widths_get_distinct_colours_narrow_to_wide():
    colours = figs.width_colours([0.25, 0.5, 1, 2, 4])
    assert len({tuple(c) for c in colours.values()}) == 5
