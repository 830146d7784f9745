"""The plots: Figures for notebooks without touching the backend, legible on a slide,
colour-blind-safe with a marker per variant, intervals and bands, legends inside."""

import warnings

import matplotlib
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.text import Text

from reports import images, plots, tables
from reports.build import figures
from reports.plots import PLOTS
from reports.report import footnote
from tests.helpers import run_python
from tests.report_cases import (
    as_run,
    hostile_run,
    old_run,
    run_without_gpu,
    with_format2_summary,
    write,
)

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing:UserWarning")


@pytest.fixture(scope="module")
def run():
    data = hostile_run()
    data["_path"] = "hostile.json"
    frame = tables.tidy(as_run(data))
    return frame, tables.learning_curves(as_run(data)), footnote(as_run(data), frame)


@pytest.fixture(scope="module")
def drawn(run):
    """Every plot of the hostile run, drawn (rendering is what breaks on mathtext)."""
    frame, curves, note = run
    figs = {"time_per_step": plots.time_per_step(frame, note),
            "learning_curves": plots.learning_curves(curves, frame, note),
            "accuracy_vs_time": plots.accuracy_vs_time(curves, frame, note),
            "peak_memory": plots.peak_memory(frame, note)}
    for fig in figs.values():
        images.render(fig)
    return figs


def test_importing_the_reports_leaves_the_backend_alone():
    code = ("import matplotlib, sys; matplotlib.use('svg'); before = matplotlib.get_backend()\n"
            "import reports.build, reports.plots\n"
            "assert matplotlib.get_backend() == before, matplotlib.get_backend()\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n"
            "print('ok')")
    result = run_python(code, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_figures_for_a_notebook(tmp_path):
    figs = figures(write(run_without_gpu(), tmp_path))
    assert list(figs) == list(PLOTS)
    assert all(isinstance(fig, Figure) for fig in figs.values())
    png, svg = images.render(figs["time_per_step"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in svg


def test_the_same_figure_gives_the_same_svg_bytes(tmp_path):
    # the SVG's ids (clip paths, markers) are hashed with a fixed salt: matplotlib's default
    # salts each id with a new uuid4, so a rebuilt report's SVGs differed from the last ones
    fig = figures(write(run_without_gpu(), tmp_path))["time_per_step"]
    first, again = images.render(fig)[1], images.render(fig)[1]
    assert b"clip-path=" in first and first == again


def test_names_that_look_like_mathtext_are_drawn_as_text(drawn):
    labels = [t.get_text() for t in drawn["time_per_step"].axes[0].get_yticklabels()]
    assert any(r"my_net \$x^2\$" in label for label in labels)


def test_every_text_is_legible_on_a_slide(drawn):
    for name, fig in drawn.items():
        assert tuple(fig.get_size_inches()) >= (13.33, 7.5), name
        for text in fig.findobj(Text):
            if text.get_text().strip():
                assert text.get_fontsize() >= 12, (name, text.get_text(), text.get_fontsize())


def test_each_variant_has_its_own_colour_and_marker_from_a_safe_palette(drawn):
    ax = drawn["time_per_step"].axes[0]
    dots = [line for line in ax.get_lines() if line.get_marker() not in (None, "None", "")]
    looks = {(line.get_color(), line.get_marker()) for line in dots}
    assert len(looks) == len(dots) == 4
    assert {line.get_color() for line in dots} <= set(plots.PALETTE)
    assert len({line.get_marker() for line in dots}) == 4


def test_time_per_step_is_dots_with_intervals_not_bars(drawn):
    fig = drawn["time_per_step"]
    for ax in fig.axes:
        assert not ax.patches  # no bars
        assert ax.get_xscale() == "log"
    lines = fig.axes[0].get_lines()
    intervals = [line for line in lines if len(line.get_xdata()) == 2]
    assert intervals and all(line.get_xdata()[0] <= line.get_xdata()[1] for line in intervals)


def test_time_per_step_draws_the_ci_when_the_run_has_one(run):
    frame, _, note = run
    fig = plots.time_per_step(with_format2_summary(frame), note)
    assert "95% CI" in fig.get_suptitle()
    x = [line.get_xdata() for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 2]
    row = frame[frame["row"] == "torch-loop-cpu-b32"].iloc[0]
    assert [pytest.approx(row["us_per_step"] * 0.97),
            pytest.approx(row["us_per_step"] * 1.04)] in [list(v) for v in x]


def test_learning_curves_show_a_band_over_seeds_and_share_y(drawn):
    fig = drawn["learning_curves"]
    bands = [c for ax in fig.axes for c in ax.collections if isinstance(c, PolyCollection)]
    measured_rows = 7
    assert len(bands) == 2 * measured_rows  # loss and accuracy, one band per row
    top, bottom = fig.axes[0], fig.axes[2]  # first column: loss, accuracy (2 x 2 panels)
    assert top.get_shared_y_axes().joined(top, fig.axes[1])
    assert bottom.get_shared_y_axes().joined(bottom, fig.axes[3])


def test_accuracy_vs_time_draws_every_seed(drawn, run):
    _, curves, _ = run
    fig = drawn["accuracy_vs_time"]
    drawn_lines = [line for ax in fig.axes for line in ax.get_lines()
                   if len(line.get_xdata()) > 2]
    seeds_per_row = curves.groupby("row")["seed"].nunique()
    assert len(drawn_lines) == seeds_per_row.sum() == 2 * 7
    assert fig.axes[0].get_shared_y_axes().joined(fig.axes[0], fig.axes[1])


def test_a_one_panel_legend_fits_inside_the_figure():
    data = old_run()
    frame = tables.tidy(as_run(data))
    frame = frame[frame["batch_size"] == 32]
    curves = tables.learning_curves(as_run(data))
    fig = plots.learning_curves(curves, frame, footnote(as_run(data), frame))
    fig.draw_without_rendering()  # lays the figure out as savefig does
    legend = fig.legends[0].get_window_extent()
    figure = fig.bbox
    assert figure.x0 <= legend.x0 and legend.x1 <= figure.x1
    assert figure.y0 <= legend.y0 and legend.y1 <= figure.y1


def test_a_run_without_measured_rows_says_so():
    data = run_without_gpu()
    data["_path"] = "none.json"
    frame = tables.tidy(as_run(data)).assign(status="skipped")
    fig = plots.time_per_step(frame, footnote(as_run(data), tables.tidy(as_run(data))))
    assert any("No row of this run was measured" in t.get_text() for t in fig.findobj(Text))


def test_the_palette_is_colour_blind_safe():
    assert plots.PALETTE == tuple(matplotlib.color_sequences["petroff10"])
    run = as_run({**run_without_gpu(), "_path": "x"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no font or layout warning for plain names
        images.render(plots.time_per_step(tables.tidy(run), footnote(run, tables.tidy(run))))


def test_learning_curves_mark_a_lost_seed_and_count_epochs_in_whole_numbers(run):
    frame, curves, note = run
    planned = len(note["seeds"].split(","))
    assert planned >= 2  # the hostile run plans several seeds
    # One row loses the process of its last seed: its curve averages fewer seeds.
    lossy = curves["row"].iloc[0]
    last_seed = curves.loc[curves["row"] == lossy, "seed"].max()
    fewer = curves[~((curves["row"] == lossy) & (curves["seed"] == last_seed))]
    fig = plots.learning_curves(fewer, frame, note)
    fig.draw_without_rendering()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    kept = fewer.loc[fewer["row"] == lossy, "seed"].nunique()
    marked = [label for label in labels if label.endswith(f"({kept} of {planned} seeds)")]
    variant = frame.loc[frame["row"] == lossy, "variant"].iloc[0]
    assert marked and all(label.startswith(plots._text(variant)) for label in marked)
    # Every other variant kept all its seeds: no mark.
    assert sum("seeds)" in label for label in labels) == len(marked)
    for ax in fig.axes[len(fig.axes) // 2:]:  # the accuracy row carries the epoch axis
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)


def test_learning_curves_give_each_batch_size_its_own_epoch_axis_and_the_target(drawn, run):
    frame, _, _ = run
    fig = drawn["learning_curves"]
    loss_row = fig.axes[: len(fig.axes) // 2]
    accuracy_row = fig.axes[len(fig.axes) // 2:]
    assert len(accuracy_row) >= 2
    # a column shares its x axis (loss above accuracy), two batch sizes do not
    assert loss_row[0].get_shared_x_axes().joined(loss_row[0], accuracy_row[0])
    assert not accuracy_row[0].get_shared_x_axes().joined(accuracy_row[0], accuracy_row[1])
    target = frame["target_accuracy"].dropna().iloc[0]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"target accuracy {target:.2f}" in labels
    assert any(line.get_ydata()[0] == target for line in accuracy_row[0].get_lines())


def test_no_two_of_many_variants_share_a_colour_and_a_marker():
    import pandas as pd

    # The quick preset plans 14 variants; a sweep of every implementation more.
    frame = pd.DataFrame({"variant": [f"variant-{i}" for i in range(40)]})
    looks = plots._looks(frame)
    pairs = [(look["color"], look["marker"]) for look in looks.values()]
    assert len(set(pairs)) == len(pairs) == 40


def test_panel_titles_group_a_batch_sizes_digits_like_the_reports(drawn, run):
    """"CPU, batch 1 024" (U+202F between the groups, results.numbers.grouped), in every plot
    that has a panel per batch size; the glyph is in the plots' font, so nothing is missing."""
    frame, _, _ = run
    from matplotlib.font_manager import FontProperties, findfont, get_font

    assert 1024 in set(frame["batch_size"])
    for name in ("time_per_step", "learning_curves", "accuracy_vs_time"):
        titles = {ax.get_title() for ax in drawn[name].axes} - {""}
        assert "CPU, batch 1\u202f024" in titles, (name, titles)
        assert not any("1024" in title for title in titles), (name, titles)
    font = get_font(findfont(FontProperties(family=matplotlib.rcParams["font.family"])))
    assert font.get_char_index(0x202F) != 0
