"""Plots that stand alone on a slide: title, axis labels with units, the data's ceiling."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

# SVG output without a creation date, so the same results give the same bytes.
SVG_METADATA = {"Date": None}
LINESTYLES = ("-", "--", "-.", ":")


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "ok"]


def _nothing_measured(title: str, footnote: dict):
    """The figure for a run in which no row was measured: says so instead of failing."""
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.text(0.5, 0.5, "No row of this run was measured\n(see the report's tables for why).",
            ha="center", va="center")
    ax.axis("off")
    fig.suptitle(f"{title}\n{_subtitle(footnote)}", fontsize=10)
    return fig


def _panels(frame: pd.DataFrame, rows: int = 1, height: float = 4.8):
    """A figure with one column of axes per (device, batch size) measured in ``frame``."""
    ok = _ok(frame)
    groups = sorted(set(zip(ok["device"], ok["batch_size"])))
    fig, axes = plt.subplots(rows, len(groups), figsize=(5.5 * len(groups), height),
                             squeeze=False)
    parts = [(device, batch, ok[(ok["device"] == device) & (ok["batch_size"] == batch)])
             for device, batch in groups]
    return fig, axes, parts


def _subtitle(footnote: dict) -> str:
    return (f"{footnote['hardware']} · {footnote['date']} · "
            f"{footnote['epochs']} epochs × seeds {footnote['seeds']}")


def time_per_step(frame: pd.DataFrame, footnote: dict):
    """Median µs per training step with the interquartile range as error bars."""
    if _ok(frame).empty:
        return _nothing_measured("SimpleNet training time per step", footnote)
    fig, axes, parts = _panels(frame)
    for ax, (device, batch, part) in zip(axes[0], parts):
        steps = part["us_per_step"] / part["steady_epoch_s_median"]  # steps per second / 1e6
        low = (part["steady_epoch_s_median"] - part["steady_epoch_s_q1"]) * steps
        high = (part["steady_epoch_s_q3"] - part["steady_epoch_s_median"]) * steps
        y = range(len(part))
        ax.barh(y, part["us_per_step"], xerr=[low, high], color="#4878a8", ecolor="black",
                capsize=3)
        for i, value in zip(y, part["us_per_step"]):
            ax.annotate(f" {value:,.0f}", (value, i), xytext=(8, 0), textcoords="offset points",
                        va="center", fontsize=8)
        ax.set_yticks(list(y), part["variant"])
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(right=ax.get_xlim()[1] * 3)  # room for the labels
        ax.set_xlabel("µs per training step (log scale)")
        ax.set_title(f"{device.upper()}, batch {batch}")
    fig.suptitle("SimpleNet training time per step (bar: median; whiskers: interquartile "
                 f"range)\n{_subtitle(footnote)}", fontsize=10)
    fig.tight_layout()
    return fig


def learning_curves(curves: pd.DataFrame, frame: pd.DataFrame, footnote: dict):
    """Mean training loss and test accuracy by epoch, every implementation on one axis."""
    if _ok(frame).empty:
        return _nothing_measured("SimpleNet learning curves", footnote)
    fig, axes, parts = _panels(frame, rows=2, height=7.5)
    for col, (device, batch, part) in enumerate(parts):
        for k, (_, row) in enumerate(part.iterrows()):
            style = dict(linestyle=LINESTYLES[k % len(LINESTYLES)], linewidth=3.0 - 0.25 * k)
            mean = curves[curves["row"] == row["row"]].groupby("epoch").mean(numeric_only=True)
            axes[0][col].plot(mean.index, mean["train_loss"], label=row["variant"], **style)
            axes[1][col].plot(mean.index, mean["test_accuracy"], label=row["variant"], **style)
        bayes = part["bayes_accuracy"].iloc[0] if len(part) else None
        if bayes:
            axes[1][col].axhline(bayes, color="black", linestyle="--", linewidth=1,
                                 label=f"Bayes accuracy {bayes:.2f}")
        axes[0][col].set_title(f"{device.upper()}, batch {batch}")
        axes[0][col].set_ylabel("training loss (BCE, mean over seeds)")
        axes[1][col].set_ylabel("test accuracy (mean over seeds)")
        axes[1][col].set_xlabel("epoch")
    _legend_below(fig, axes[1][0])
    fig.suptitle("SimpleNet learning curves (the twins overlap: same function, same batches)\n"
                 + _subtitle(footnote), fontsize=10)
    return fig


def _legend_below(fig, ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.1, 1, 0.92))  # room for the legend and the title
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8,
               frameon=False)


def accuracy_vs_time(curves: pd.DataFrame, frame: pd.DataFrame, footnote: dict):
    """Test accuracy against training wall-clock time: the time-to-accuracy picture."""
    if _ok(frame).empty:
        return _nothing_measured("Test accuracy against training time", footnote)
    fig, axes, parts = _panels(frame)
    for ax, (device, batch, part) in zip(axes[0], parts):
        for _, row in part.iterrows():
            c = curves[(curves["row"] == row["row"]) & (curves["seed"] == curves["seed"].min())]
            ax.plot(c["elapsed_s"], c["test_accuracy"], marker=".", label=row["variant"])
        if len(part):
            ax.axhline(part["target_accuracy"].iloc[0], color="grey", linestyle=":",
                       linewidth=1, label=f"target {part['target_accuracy'].iloc[0]:.2f}")
            ax.axhline(part["bayes_accuracy"].iloc[0], color="black", linestyle="--",
                       linewidth=1, label=f"Bayes {part['bayes_accuracy'].iloc[0]:.2f}")
        ax.set_xscale("log")
        ax.set_xlabel("training wall-clock time, s (log scale; first seed, compile included)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{device.upper()}, batch {batch}")
    _legend_below(fig, axes[0][0])
    fig.suptitle("Test accuracy against training time\n" + _subtitle(footnote), fontsize=10)
    return fig


def peak_memory(frame: pd.DataFrame, footnote: dict):
    """Peak resident memory while training, above the built model, per row."""
    if _ok(frame).empty:
        return _nothing_measured("Peak memory while training", footnote)
    ok = _ok(frame).copy()
    fig, ax = plt.subplots(figsize=(8, 0.35 * max(len(ok), 4) + 1.5))
    y = range(len(ok))
    mib = ok["peak_rss_above_baseline_bytes"] / 2**20
    ax.barh(y, mib, color="#6a9f58")
    for i, value in zip(y, mib):
        ax.annotate(f" {value:.1f}", (value, i), va="center", fontsize=8)
    ax.set_xlim(right=max(mib.max() * 1.15, 1) if len(mib) else 1)
    ax.set_yticks(list(y), ok["row"])
    ax.invert_yaxis()
    ax.set_xlabel("peak resident memory during training, MiB above the built model")
    fig.suptitle("Peak memory while training\n" + _subtitle(footnote), fontsize=10)
    fig.tight_layout()
    return fig


def render(fig) -> tuple[bytes, bytes]:
    """(PNG bytes, SVG bytes) of a figure, which is then closed."""
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=130)
    fig.savefig(svg, format="svg", metadata=SVG_METADATA)
    plt.close(fig)
    return png.getvalue(), svg.getvalue()
