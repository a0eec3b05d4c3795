"""Figures: the paper's numbers drawn, min-max bars said in the caption, legends keyed by colour
and line style, one colour per Pm, censored early stops marked, tick labels apart."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import pytest
from figure_fakes import fake_result  # tests/ is on the path (pytest's rootdir conftest)
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba

from lottery.claims import figures, paper_values
from lottery.claims.reference_figures import reference_figures


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def fig4():
    imp = fake_result(levels=18, censored_level=16)
    oneshot = fake_result(levels=6, method="oneshot", variants=("ticket",), rate=0.33)
    frame = figures.combine(figures.series(imp, "iterative (ticket)"),
                            figures.series(imp, "random reinit", "reinit"),
                            figures.series(oneshot, "one-shot (ticket)"))
    return imp, frame, figures.plot_fig4_panels(frame, title="test")


def marks(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def xy(line):
    return float(line.get_xdata()[0]), float(line.get_ydata()[0])


def test_paper_numbers_are_drawn_where_the_paper_gives_them():
    imp, _, fig = fig4()
    es_ax, acc_ax = fig.axes[0], fig.axes[1]
    assert (100.0, 98.0) in [xy(line) for line in marks(acc_ax, figures.PAPER)]
    dense_es = imp.results.query("level == 0").early_stop_iteration.mean()
    relative = [xy(line) for line in marks(es_ax, figures.PAPER_RELATIVE)]
    assert (21.1, pytest.approx(0.62 * dense_es)) in relative  # "38% earlier than dense"
    dense_acc = 100 * imp.results.query("level == 0").early_stop_test_acc.mean()
    assert (13.5, pytest.approx(dense_acc + 0.3)) in [xy(line) for line in
                                                      marks(acc_ax, figures.PAPER_RELATIVE)]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"paper ({paper_values.SOURCE})" in labels
    assert "paper's change, from our dense" in labels


def test_no_paper_numbers_without_a_preset_or_on_other_data():
    frame = figures.series(fake_result().results, "ticket")  # a bare table: preset unknown
    ax = figures.plot_metric_vs_remaining(frame, "early_stop_test_acc")
    assert not marks(ax, figures.PAPER) and not marks(ax, figures.PAPER_RELATIVE)
    transferred = fake_result()
    transferred.hparams = transferred.hparams.replace(data__dataset="fashion_mnist")
    for other in (transferred, fake_result(profile="smoke")):  # smoke: the synthetic stand-in
        ax = figures.plot_metric_vs_remaining(figures.series(other, "ticket"),
                                              "early_stop_test_acc")
        assert not marks(ax, figures.PAPER) and not marks(ax, figures.PAPER_RELATIVE)


def test_error_bars_span_min_to_max_and_the_caption_says_so():
    imp, _, fig = fig4()
    dense = 100 * imp.results.query("level == 0").early_stop_test_acc
    segments = [seg for c in fig.axes[1].collections if isinstance(c, LineCollection)
                for seg in c.get_segments()]
    at_dense = [sorted(seg[:, 1]) for seg in segments if seg[0, 0] == 100.0]
    assert [pytest.approx(dense.min()), pytest.approx(dense.max())] in at_dense
    caption = " ".join(t.get_text() for t in fig.texts)
    assert "mean over 2 trials" in caption and "minimum to maximum over trials" in caption


def test_censored_early_stops_are_marked():
    imp, _, fig = fig4()
    censored = marks(fig.axes[0], figures.CENSORED)
    percent = imp.results.query("level == 16 and variant == 'ticket'").percent_remaining.iloc[0]
    assert censored and pytest.approx(percent) in [float(p[0]) for c in censored
                                                   for p in c.get_offsets()]
    assert not marks(fig.axes[1], figures.CENSORED)  # accuracies are not censored
    assert "censored" in " ".join(t.get_text() for t in fig.texts)


def test_legend_keys_colour_and_line_style():
    conv = {m: fake_result(m, levels=3) for m in ("conv2", "conv4")}
    frame = figures.combine(*[figures.series(conv[m], m, v) for m in conv
                              for v in ("ticket", "random_mask")])
    fig = figures.plot_panels(frame, ["early_stop_iteration", "early_stop_test_acc"])
    handles = {t.get_text(): h for t, h in zip(fig.legends[0].get_texts(),
                                               fig.legends[0].legend_handles, strict=True)}
    ticket, random = handles["conv2, winning ticket"], handles["conv2, random pruning"]
    assert to_rgba(ticket.get_color()) == to_rgba(random.get_color())
    assert ticket.get_linestyle() != random.get_linestyle()
    assert to_rgba(handles["conv4, winning ticket"].get_color()) != to_rgba(ticket.get_color())


def test_a_series_keeps_its_colour_in_every_panel():
    _, _, fig = fig4()
    colours = [{line.get_gid(): to_rgba(line.get_color()) for line in ax.get_lines()
                if str(line.get_gid()).startswith("series:")} for ax in fig.axes]
    assert len(colours[0]) == 3 and all(c == colours[0] for c in colours)
    assert len(set(colours[0].values())) == 3


def test_a_pm_keeps_its_colour_across_the_panels_of_fig3():
    imp = fake_result(levels=18)
    fig = figures.plot_fig3(imp, panels=[[0, 3, 7], [0, 7, 12, 15, 18]], reinit_levels=[3, 7])
    by_label: dict[str, set] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            by_label.setdefault(line.get_label(), set()).add(to_rgba(line.get_color()))
    pm = f"{imp.results.query('level == 7').percent_remaining.iloc[0]:.1f}"
    assert len(by_label[pm]) == 1  # level 7 drawn in all three panels
    reinit = by_label[f"{pm} (random reinit)"]
    assert reinit == by_label[pm]  # same colour, told apart by the dashes
    assert len({next(iter(c)) for label, c in by_label.items() if "reinit" not in label}) == 6
    assert marks(fig.axes[0], figures.PAPER_BAND)  # the paper's dense accuracy


def _overlaps(boxes):
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]


def test_tick_labels_do_not_overlap_when_levels_interleave():
    _, _, fig = fig4()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        assert len(boxes) >= 4 and not _overlaps(boxes)


def test_spaced_ticks_keep_the_ends_and_their_distance():
    values = [100 * 0.8 ** k for k in range(19)] + [100 * 0.67 ** k for k in range(7)]
    ticks = figures.spaced_ticks(values, width_in=3.5)
    assert ticks[0] == 100.0 and ticks[-1] == round(min(values), 1)
    assert len(ticks) < 10


def test_rewind_sweep_draws_the_papers_dense_and_rewind_point():
    sweep = {k: fake_result("resnet18", levels=3, variants=("ticket",)) for k in (0, 2, 10)}
    fig = figures.plot_rewind_sweep(sweep)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "paper: dense 90.5%" in labels and any(lab.startswith("paper's k = 500")
                                                  for lab in labels)


def test_reference_figures_carry_the_papers_numbers_and_say_ours_need_cifar10():
    made = reference_figures()
    assert {name for _, name in made} >= {"fig1_conv_random_pruning", "fig5_conv_iterative",
                                          "fig7_vgg19", "fig8_resnet18", "rewind_vs_reset"}
    for fig in made.values():
        stars = [a for ax in fig.axes for a in ax.get_children()
                 if a.get_gid() in (figures.PAPER, figures.PAPER_LINE)]
        assert stars
        assert "Our curves need CIFAR-10" in " ".join(t.get_text() for t in fig.texts)
