"""Plots that stand alone on a slide: title, axis labels with units, the data's ceiling.

Every function returns a ``matplotlib.figure.Figure`` built with the object-oriented API:
nothing here imports ``matplotlib.pyplot`` or changes the backend, so importing this module
(or ``reports.build``) leaves a notebook's inline plots alone. In a notebook::

    from reports.build import figures
    figs = figures("sidebyside-runs/20261129-180000/results.json")  # {name: Figure}
    figs["time_per_step"]                                             # Jupyter displays it

Sizes are for a 16:9 slide: 13.33 x 7.5 inches, no text under 12 pt.
"""

from __future__ import annotations

import matplotlib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

from reports import tables, text
from results import numbers

# The run's own plots, in the order the report shows them (``figures``).
PLOTS = ("time_per_step", "learning_curves", "accuracy_vs_time", "peak_memory")
SLIDE_INCHES = (13.33, 7.5)  # a 16:9 slide
# Colour-blind-safe (Petroff 2021, "Accessible color sequences for data visualization",
# shipped with matplotlib >= 3.10), and a marker per implementation so that colour is never
# the only cue.
PALETTE = tuple(matplotlib.color_sequences["petroff10"])
# Nine markers against ten colours: coprime lengths, so that the first 90 variants each get
# a pair of their own (equal lengths repeat the pair at the eleventh).
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*", "h")
FONT_PT = 12
STYLE = {"font.size": FONT_PT, "axes.titlesize": FONT_PT + 1, "axes.labelsize": FONT_PT,
         "xtick.labelsize": FONT_PT, "ytick.labelsize": FONT_PT, "legend.fontsize": FONT_PT,
         "figure.titlesize": FONT_PT + 1}


def _text(value) -> str:
    """A name from a result file as plain text (``reports.text.plain_text``): ``$`` would
    start matplotlib's mathtext."""
    return text.plain_text(value).replace("$", r"\$")


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"].isin(("ok", "partial"))]


def _looks(frame: pd.DataFrame) -> dict[str, dict]:
    """One colour and one marker per variant (implementation-mode), the same in every plot."""
    variants = list(dict.fromkeys(frame["variant"]))
    return {v: {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)]}
            for i, v in enumerate(variants)}


def _new_figure(size=SLIDE_INCHES) -> Figure:
    with matplotlib.rc_context(STYLE):
        return Figure(figsize=size, layout="constrained")


def _nothing_measured(title: str, footnote: dict) -> Figure:
    """The figure for a run in which no row was measured: says so instead of failing."""
    fig = Figure(figsize=(8, 3), layout="constrained")
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, "No row of this run was measured\n(see the report's tables for why).",
            ha="center", va="center", fontsize=FONT_PT)
    ax.axis("off")
    fig.suptitle(f"{title}\n{_subtitle(footnote)}", fontsize=FONT_PT)
    return fig


def _groups(frame: pd.DataFrame):
    """(device, panel title's batch, rows) for every block of rows measured in ``frame``: a
    device and batch size, and in a sweep's run also a width and a training-set size."""
    ok = _ok(frame)
    # what two rows share to stand in one panel: a sweep's run has all, others two
    columns = [c for c in tables.IDENTITY_COLUMNS if c in ok.columns]
    groups = []
    for key, part in ok.groupby(columns, sort=True):
        device, batch, *sizes = key
        # digits grouped like every number in the reports ("batch 1 024")
        label = numbers.grouped(int(batch), 0)
        if sizes:
            label += (f", width {numbers.grouped(int(sizes[0]), 0)}, "
                      f"{numbers.grouped(int(sizes[1]), 0)} samples")
        groups.append((device, label, part))
    return groups


def _subtitle(footnote: dict) -> str:
    """The machine, the date and, where given (``trained``: reports.trained.trained_text,
    "2 epochs, 3 seeds"), what each seed trained."""
    parts = (footnote["hardware"], footnote["date"], footnote.get("trained"))
    return _text(" · ".join(part for part in parts if part))


def _title(fig: Figure, title: str, footnote: dict) -> None:
    fig.suptitle(f"{title}\n{_subtitle(footnote)}", fontsize=FONT_PT + 1)


def _legend_below(fig: Figure, axes) -> None:
    """One legend for the figure, under the panels; constrained layout keeps it inside."""
    seen = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen.keys()), loc="outside lower center",
                   ncol=min(len(seen), 4), frameon=False, fontsize=FONT_PT)


def _time_interval(row) -> tuple[float, float, str]:
    """(low, high, what) around a row's µs per step: the 95% CI over processes where the
    result has one, else the interquartile range of its epochs (format 1)."""
    low, high = row.get("us_per_step_ci_low"), row.get("us_per_step_ci_high")
    if pd.notna(low) and pd.notna(high):
        return float(low), float(high), "95% CI"
    per_second = row["us_per_step"] / row["steady_epoch_s_median"]
    q1, q3 = row.get("steady_epoch_s_q1"), row.get("steady_epoch_s_q3")
    if pd.notna(q1) and pd.notna(q3):
        return float(q1 * per_second), float(q3 * per_second), "IQR"
    return float(row["us_per_step"]), float(row["us_per_step"]), "none"


def time_per_step(frame: pd.DataFrame, footnote: dict) -> Figure:
    """µs per training step (the run's estimator) as a dot with its interval, one panel per
    device and batch.

    The interval is the 95% bootstrap CI over processes (result format 2) or the
    interquartile range of the timed epochs (format 1). Log x axis: the rows differ by
    orders of magnitude, and a dot's position (unlike a bar's length) means the same on it.
    """
    if _ok(frame).empty:
        return _nothing_measured("SimpleNet training time per step", footnote)
    looks, groups = _looks(_ok(frame)), _groups(frame)
    variants = list(looks)
    with matplotlib.rc_context(STYLE):
        fig = _new_figure()
        axes = fig.subplots(1, len(groups), sharey=True, squeeze=False)[0]
        kinds = set()
        for ax, (device, batch, part) in zip(axes, groups):
            for _, row in part.iterrows():
                y = variants.index(row["variant"])
                low, high, kind = _time_interval(row)
                kinds.add(kind)
                value = row["us_per_step"]
                ax.plot([low, high], [y, y], color=looks[row["variant"]]["color"], linewidth=3,
                        solid_capstyle="butt")
                ax.plot([value], [y], linestyle="none", markersize=9,
                        markeredgecolor="black", **looks[row["variant"]])
                # The label sits right of the interval, never on it.
                ax.annotate(numbers.number(value), (max(high, value), y), xytext=(6, 0),
                            textcoords="offset points", va="center", fontsize=FONT_PT)
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            left, right = ax.get_xlim()
            ax.set_xlim(left / 1.3, right * 2.5)  # room for the labels
            ax.set_xlabel("µs per training step (log scale)")
            ax.set_title(_text(f"{device.upper()}, batch {batch}"))
            ax.grid(axis="x", color="0.9")
        axes[0].set_yticks(range(len(variants)), [_text(v) for v in variants])
        axes[0].set_ylim(len(variants) - 0.5, -0.5)
        interval = " or ".join(sorted(kinds - {"none"})) or "none"
        # The estimator of the dot: p10 since result format 3, the median before.
        shown = _ok(frame)
        dot = (" or ".join(sorted(set(shown["estimator"].dropna())))
               if "estimator" in shown.columns else "") or "median"
        _title(fig, f"SimpleNet training time per step (dot: {dot}; line: {interval})",
               footnote)
    return fig


def _seed_band(curves: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean, min and max of ``column`` over seeds, by epoch."""
    return curves.groupby("epoch")[column].agg(["mean", "min", "max"])


def _planned_seeds(footnote: dict) -> int | None:
    """How many seeds the run planned (the footnote's "0, 1, 2"), None if it does not say."""
    seeds = str(footnote.get("seeds", "")).strip()
    return len(seeds.split(",")) if seeds else None


def _curve_label(variant: str, seeds_measured: int, planned: int | None) -> str:
    """The legend entry of one learning curve: the variant, and "2 of 3 seeds" where a seed's
    process was lost (its line and band then average fewer runs than the others')."""
    if planned and seeds_measured < planned:
        return _text(f"{variant} ({seeds_measured} of {planned} seeds)")
    return _text(variant)


def learning_curves(curves: pd.DataFrame, frame: pd.DataFrame, footnote: dict) -> Figure:
    """Training loss (top) and test accuracy (bottom) by epoch: line the mean over seeds,
    band the range over seeds, one line per variant; a variant that lost a seed says so in
    the legend. Epochs are whole numbers on the x axis. Panels in a row share their y axis."""
    if _ok(frame).empty:
        return _nothing_measured("SimpleNet learning curves", footnote)
    looks, groups = _looks(_ok(frame)), _groups(frame)
    planned = _planned_seeds(footnote)
    with matplotlib.rc_context(STYLE):
        fig = _new_figure()
        # Each batch size trains its own number of epochs (results/epochs.py): a column
        # shares its x axis, columns do not.
        axes = fig.subplots(2, len(groups), sharey="row", sharex="col", squeeze=False)
        for col, (device, batch, part) in enumerate(groups):
            for _, row in part.iterrows():
                mine = curves[curves["row"] == row["row"]]
                if mine.empty:
                    continue
                look = looks[row["variant"]]
                label = _curve_label(row["variant"], mine["seed"].nunique(), planned)
                for ax, column in ((axes[0][col], "train_loss"), (axes[1][col], "test_accuracy")):
                    band = _seed_band(mine, column)
                    ax.fill_between(band.index, band["min"], band["max"], color=look["color"],
                                    alpha=0.15, linewidth=0)
                    ax.plot(band.index, band["mean"], label=label, markersize=7, **look)
            bayes = part["bayes_accuracy"].iloc[0] if len(part) else None
            target = part["target_accuracy"].iloc[0] if len(part) else None
            if pd.notna(target):  # what "to target" in the tables means
                axes[1][col].axhline(target, color="grey", linestyle=":", linewidth=1.5,
                                     label=f"target accuracy {target:.2f}")
            if pd.notna(bayes):
                axes[1][col].axhline(bayes, color="black", linestyle="--", linewidth=1,
                                     label=f"Bayes accuracy {bayes:.2f}")
            axes[0][col].set_title(_text(f"{device.upper()}, batch {batch}"))
            axes[1][col].set_xlabel("epoch")
            # Epochs are counted: no tick at 1.5.
            axes[1][col].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[0][0].set_ylabel("training loss (BCE)")
        axes[1][0].set_ylabel("test accuracy")
        _legend_below(fig, axes[1])
        _title(fig, "SimpleNet learning curves (line: mean over seeds; band: range over seeds)",
               footnote)
    return fig


def accuracy_vs_time(curves: pd.DataFrame, frame: pd.DataFrame, footnote: dict) -> Figure:
    """Test accuracy against training wall-clock time, one line per seed: the
    time-to-accuracy picture. Panels share their y axis."""
    if _ok(frame).empty:
        return _nothing_measured("Test accuracy against training time", footnote)
    looks, groups = _looks(_ok(frame)), _groups(frame)
    with matplotlib.rc_context(STYLE):
        fig = _new_figure()
        axes = fig.subplots(1, len(groups), sharey=True, squeeze=False)[0]
        for ax, (device, batch, part) in zip(axes, groups):
            for _, row in part.iterrows():
                mine = curves[curves["row"] == row["row"]]
                for k, (_, seed) in enumerate(mine.groupby("seed")):
                    ax.plot(seed["elapsed_s"], seed["test_accuracy"], alpha=0.8, markersize=6,
                            label=_text(row["variant"]) if k == 0 else None,
                            **looks[row["variant"]])
            if len(part):
                target, bayes = part["target_accuracy"].iloc[0], part["bayes_accuracy"].iloc[0]
                if pd.notna(target):
                    ax.axhline(target, color="grey", linestyle=":", linewidth=1.5,
                               label=f"target {target:.2f}")
                if pd.notna(bayes):
                    ax.axhline(bayes, color="black", linestyle="--", linewidth=1,
                               label=f"Bayes {bayes:.2f}")
            ax.set_xscale("log")
            ax.set_xlabel("training time, s (log)")
            ax.set_title(_text(f"{device.upper()}, batch {batch}"))
        axes[0].set_ylabel("test accuracy")
        _legend_below(fig, axes)
        _title(fig, "Test accuracy against training time (every seed; first epoch includes "
               "compiling)", footnote)
    return fig


def peak_memory(frame: pd.DataFrame, footnote: dict) -> Figure:
    """Peak resident memory while training, MiB above the built model, per row (linear axis)."""
    if _ok(frame).empty:
        return _nothing_measured("Peak memory while training", footnote)
    ok = _ok(frame)
    looks = _looks(ok)
    with matplotlib.rc_context(STYLE):
        fig = _new_figure((SLIDE_INCHES[0], max(SLIDE_INCHES[1], 0.3 * len(ok) + 2)))
        ax = fig.add_subplot()
        mib = ok["peak_rss_above_baseline_bytes"] / 2**20
        y = list(range(len(ok)))
        ax.barh(y, mib.fillna(0), color=[looks[v]["color"] for v in ok["variant"]])
        for i, value in zip(y, mib):
            ax.annotate(" " + numbers.number(value), (0 if pd.isna(value)
                        else value, i), va="center", fontsize=FONT_PT)
        top = mib.max() if mib.notna().any() else 1
        ax.set_xlim(0, max(top * 1.15, 1))
        ax.set_yticks(y, [_text(r) for r in ok["row"]])
        ax.set_ylim(len(ok) - 0.5, -0.5)
        ax.set_xlabel("peak resident memory during training, MiB above the built model")
        _title(fig, "Peak memory while training", footnote)
    return fig


def figures(frame: pd.DataFrame, curves: pd.DataFrame, footnote: dict) -> dict[str, Figure]:
    """The run's own plots by name (``PLOTS``), from its tidy table and learning curves
    (reports.tables) and its footnote (reports.report.footnote; its ``trained``, where
    given, says in each subtitle what each seed trained)."""
    return {"time_per_step": time_per_step(frame, footnote),
            "learning_curves": learning_curves(curves, frame, footnote),
            "accuracy_vs_time": accuracy_vs_time(curves, frame, footnote),
            "peak_memory": peak_memory(frame, footnote)}
