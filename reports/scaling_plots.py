"""A sweep's plots: µs per step, samples per second and peak memory against the swept size
(reports.scaling's points), one panel per axis, device and series."""

from __future__ import annotations

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from reports import plots
from reports.scaling import AXES, MEASURED, memory_column, panel_title, series

PLOTS = ("scaling_time_per_step", "scaling_throughput", "scaling_memory")


def _panels(points: pd.DataFrame, axes_wanted=None):
    measured = points[points["status"].isin(MEASURED) & points["us_per_step"].notna()]
    return [(axis, device, context, lines) for axis, device, context, lines in series(measured)
            if axes_wanted is None or axis in axes_wanted]


def _figure(title: str, footnote: dict, panels: list, draw) -> Figure:
    with matplotlib.rc_context(plots.STYLE):
        fig = plots._new_figure()
        if not panels:
            ax = fig.add_subplot()
            ax.text(0.5, 0.5, "No swept point of this run was measured.", ha="center",
                    va="center")
            ax.axis("off")
        else:
            grid = fig.subplots(1, len(panels), squeeze=False)[0]
            looks = plots._looks(pd.concat([lines for *_, lines in panels]))
            for ax, (axis, device, context, lines) in zip(grid, panels):
                draw(ax, axis, lines, looks)
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xlabel(f"{AXES[axis][3]} (log scale)")
                ax.set_title(plots._text(panel_title(axis, device, context)))
                ax.grid(which="major", color="0.9")
            plots._legend_below(fig, grid)
        plots._title(fig, title, footnote)
    return fig


def _line(ax, x, y, look, label):
    ax.plot(x, y, markersize=8, markeredgecolor="black", linewidth=2, label=plots._text(label),
            **look)


def time_per_step(points: pd.DataFrame, footnote: dict) -> Figure:
    """µs per step against the swept size, log-log, one line per variant with its 95%
    interval over processes as a band, one panel per axis and device."""
    def draw(ax, axis, lines, looks):
        column = AXES[axis][0]
        for variant, mine in lines.groupby("variant", sort=False):
            mine = mine.sort_values(column)
            low = mine["ci_low_us"].fillna(mine["us_per_step"])
            high = mine["ci_high_us"].fillna(mine["us_per_step"])
            ax.fill_between(mine[column], low, high, color=looks[variant]["color"], alpha=0.2,
                            linewidth=0)
            _line(ax, mine[column], mine["us_per_step"], looks[variant], variant)
        ax.set_ylabel("µs per training step (log scale)")

    return _figure("Time per step as the size grows (line: median over processes; band: "
                   "95% CI)", footnote, _panels(points), draw)


def throughput(points: pd.DataFrame, footnote: dict) -> Figure:
    """Training samples per second against the batch size, log-log, one line per variant."""
    def draw(ax, axis, lines, looks):
        for variant, mine in lines.groupby("variant", sort=False):
            mine = mine.sort_values("batch_size")
            _line(ax, mine["batch_size"], mine["samples_per_s"], looks[variant], variant)
        ax.set_ylabel("training samples per second (log scale)")

    return _figure("Throughput against batch size (higher is better)", footnote,
                   _panels(points, ("batch",)), draw)


def peak_memory(points: pd.DataFrame, footnote: dict) -> Figure:
    """Peak resident memory while training against the swept size, log-log (MiB: above the
    start of an epoch, or the whole process's peak for the training samples; see
    ``memory_column``); points without a positive peak are left out."""
    def draw(ax, axis, lines, looks):
        column, memory = AXES[axis][0], memory_column(axis)
        for variant, mine in lines.groupby("variant", sort=False):
            mine = mine[pd.to_numeric(mine[memory]) > 0].sort_values(column)
            if len(mine):
                _line(ax, mine[column], pd.to_numeric(mine[memory]) / 2**20,
                      looks[variant], variant)
        ax.set_ylabel("process peak memory, data included, MiB (log scale)" if
                      axis == "n_train" else "peak memory while training, MiB (log scale)")

    return _figure("Peak memory while training against the swept size", footnote,
                   _panels(points), draw)


def figures(points: pd.DataFrame, footnote: dict) -> dict[str, Figure]:
    """The Scaling section's plots by name (PLOTS); the throughput plot only with a batch
    sweep."""
    out = {"scaling_time_per_step": time_per_step(points, footnote)}
    if (points["axis"] == "batch").any():
        out["scaling_throughput"] = throughput(points, footnote)
    out["scaling_memory"] = peak_memory(points, footnote)
    return out
