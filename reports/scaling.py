"""Where the difference vanishes: a sweep's points, fits, crossovers and plots.

A run made with ``--sweep AXIS=...`` (or the ``sweep`` preset) measures every row at several
sizes along one axis at a time: the batch size, SimpleNet's hidden width or the training
samples (``plan.sweeps`` of results.json). Everything here reads only the loaded run
(reports.load.load_run, the result model), so ``reports build`` makes the same files again:

- ``sweep_points``: one line per axis, point and row (``sweep.csv``);
- ``fit_table``: per variant, device and axis, a robust fit of
  µs per step = overhead + cost per unit × size, with 95% intervals, the overhead-bound
  regime, the crossover of the variant's framework and the log-log slopes of time per
  epoch and peak memory (``sweep_fit.csv``);
- ``figures``: µs per step, samples per second and peak memory against the swept size;
- ``teacher_sentences``: the result in two sentences, from the numbers.

The size of a point is the batch size (unit: a sample), the model's parameter count (unit:
a parameter; the width sweep) or the training samples (unit: a training sample). For the
last, time per step should not grow (the step does not see the data set): its cost per unit
is a check, and the slopes of time per epoch and peak memory are the result.
"""

from __future__ import annotations

import math
import warnings

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reports import plots, tables
from reports.document import LatexTable, Section
from results.model import Memory, Row, Run, Summary

# axis -> (the row field it sets, the fit's size column, the unit of one size, its words)
AXES = {
    "batch": ("batch_size", "batch_size", "sample", "batch size"),
    "hidden": ("hidden_size", "n_parameters", "parameter", "hidden width"),
    "n_train": ("n_train", "n_train", "training sample", "training samples"),
}
# A framework has caught up at a point when its fastest row there is at most this much
# slower than the fastest row of all: the crossover's definition, which the report's
# caption and sentences state as 10%.
WITHIN = 0.10
NOT_WITHIN = "not within the swept range"
NOT_WITHIN_SHORT = "none"  # in the printed tables, whose caption says what it means
# The interval of a fit: a percentile bootstrap that resamples the processes within each
# swept value (scipy.stats.bootstrap with one sample per value, paired=False), so that
# every resample keeps every size. A process is the suite's unit of sampling.
BOOTSTRAP_RESAMPLES = 999
CONFIDENCE = 0.95
MEASURED = ("ok", "partial")

POINT_COLUMNS = ["axis", "variant", "implementation", "device", "batch_size", "hidden_size",
                 "n_parameters", "n_train", "size", "row", "status", "processes_ok",
                 "us_per_step", "ci_low_us", "ci_high_us", "unstable", "samples_per_s",
                 "epoch_s", "peak_rss_bytes", "regime", "process_us_per_step",
                 "process_peak_rss_bytes"]
FIT_COLUMNS = ["variant", "implementation", "device", "axis", "unit", "batch_size",
               "hidden_size", "n_train", "points", "samples", "overhead_us",
               "overhead_ci_low_us", "overhead_ci_high_us", "per_unit_ns", "per_unit_ci_low_ns",
               "per_unit_ci_high_ns", "overhead_bound_below", "regime_at_largest",
               "throughput_at_scale_per_s", "samples_per_s_at_largest",
               "epoch_time_loglog_slope", "peak_memory_loglog_slope", "crossover",
               "within_from"]
# The fixed sizes that tell one series of an axis from another (the width sweep at batch
# 32 and at batch 1024, say); the swept one is left empty in sweep_fit.csv.
CONTEXT = {"batch": ("hidden_size", "n_train"), "hidden": ("batch_size", "n_train"),
           "n_train": ("batch_size", "hidden_size")}
DEFAULT_HIDDEN_SIZE = tables.DEFAULT_HIDDEN_SIZE
PLOTS = ("scaling_time_per_step", "scaling_throughput", "scaling_memory")


TITLE = "Scaling"


def section(run: Run, footnote: dict) -> Section | None:
    """The report's Scaling section of a sweep's run: sentences from the numbers, the fits'
    table (on a printed page one per sweep), the scaling plots, sweep.csv and sweep_fit.csv;
    None for any other run. ``footnote``: reports.report.footnote's."""
    if not has_sweep(run):
        return None
    points, fits = csv_frames(run)
    return Section(
        key="scaling", title=TITLE, caption=CAPTION, table=display_table(fits),
        sentences=teacher_sentences(points, fits), figures=figures(points, footnote),
        files={"sweep.csv": tables.csv_text(points), "sweep_fit.csv": tables.csv_text(fits)},
        # One table per sweep, the sweep named in its caption: a Sweep column in every
        # line made the table wider than the page.
        latex=[LatexTable(table, f"{TITLE}, {sweep}. Crossover or within 10% from "
                                 f"{NOT_WITHIN_SHORT}: {NOT_WITHIN}.")
               for sweep, table in display_tables_by_sweep(fits)])


def has_sweep(run: Run) -> bool:
    """Whether the run swept a size and measured at least one of its points."""
    return tables.is_sweep(run.plan or {}) and not sweep_points(run).dropna(
        subset=["us_per_step"]).empty


def _n_parameters(row: Row, hidden_size: int) -> int:
    counted = [p.n_parameters for p in row.ok_processes() if p.get("n_parameters")]
    if counted:
        return int(counted[0])
    from frameworks.spec import SimpleNetSpec  # what a worker counts (older files lack it)

    return SimpleNetSpec(hidden_size=hidden_size).n_parameters


def memory_column(axis: str) -> str:
    """The sweep.csv column of an axis's memory: the whole process's peak for the training
    samples (the data is loaded before an epoch starts, so the peak above it stays flat),
    the peak above an epoch's start for the batch and the width."""
    return "process_peak_rss_bytes" if axis == "n_train" else "peak_rss_bytes"


def _process_peak_rss_bytes(row: Row) -> float | None:
    peaks = [memory.rss_baseline_bytes + memory.peak_rss_above_baseline_bytes
             for process in row.ok_processes()
             for memory in [process.get("memory") or Memory()]
             if memory.get("rss_baseline_bytes") is not None
             and memory.get("peak_rss_above_baseline_bytes") is not None]
    return float(np.median(peaks)) if peaks else None


def sweep_points(run: Run) -> pd.DataFrame:
    """One line per swept axis, point and row (POINT_COLUMNS); empty without ``plan.sweeps``.

    A row belongs to an axis when its other two sizes are the plan's (batch: width 16 and
    ``plan.n_train``; hidden and n_train: a batch size of ``plan.batch_sizes``), so a point
    shared by two sweeps appears once under each. Times are µs per step (the row's summary:
    median over processes, 95% bootstrap interval), ``epoch_s`` the median steady epoch,
    ``peak_rss_bytes`` the peak resident memory above the start of an epoch (data already
    loaded), ``process_peak_rss_bytes`` the whole process's peak while training, data
    included (per process ``rss_baseline_bytes`` + ``peak_rss_above_baseline_bytes``, median
    over the ok processes; what the training-set sweep's memory means). ``regime`` is
    filled by ``annotate_regimes``.
    """
    plan = run.plan or {}
    sweeps, n_train = plan.get("sweeps") or {}, plan.get("n_train")
    batch_sizes = set(plan.get("batch_sizes") or [])
    records = []
    for axis, values in sweeps.items():
        field, size_column = AXES[axis][0], AXES[axis][1]
        for row in run.rows:
            sizes = {"batch_size": row.batch_size,
                     "hidden_size": row.get("hidden_size", DEFAULT_HIDDEN_SIZE),
                     "n_train": row.get("n_train", n_train)}
            fixed = {"batch_size": sizes["batch_size"] in batch_sizes,
                     "hidden_size": sizes["hidden_size"] == DEFAULT_HIDDEN_SIZE,
                     "n_train": sizes["n_train"] == n_train}
            if sizes[field] not in values or not all(
                    ok for name, ok in fixed.items() if name != field):
                continue
            s = row.summary or Summary()
            sizes["n_parameters"] = _n_parameters(row, sizes["hidden_size"])
            records.append({
                "axis": axis, "variant": row.variant,
                "implementation": row.implementation, "device": row.device, **sizes,
                "size": sizes[size_column], "row": row.id, "status": row.status,
                "processes_ok": s.get("processes_ok"), "us_per_step": s.get("us_per_step"),
                "ci_low_us": s.get("us_per_step_ci_low"),
                "ci_high_us": s.get("us_per_step_ci_high"), "unstable": s.get("unstable"),
                "samples_per_s": s.get("samples_per_s"), "epoch_s": s.get("steady_epoch_s_median"),
                "peak_rss_bytes": s.get("peak_rss_above_baseline_bytes"), "regime": "",
                "process_us_per_step": tuple(s.get("process_us_per_step") or ()),
                "process_peak_rss_bytes": _process_peak_rss_bytes(row)})
    frame = pd.DataFrame.from_records(records, columns=POINT_COLUMNS)
    for column in ("us_per_step", "ci_low_us", "ci_high_us", "samples_per_s", "epoch_s"):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    return frame


def _series(points: pd.DataFrame):
    """(axis, device, context dict, lines) for every series: one axis on one device at
    fixed other sizes."""
    for (axis, device), part in points.groupby(["axis", "device"], sort=False):
        context = list(CONTEXT[axis])
        for key, lines in part.groupby(context, sort=True):
            yield axis, device, dict(zip(context, key)), lines


def robust_fit(sizes, samples_us) -> dict:
    """µs per step = overhead + cost per unit × size, fitted robustly, with 95% intervals.

    ``sizes``: one size per swept value; ``samples_us``: for each, the processes' µs per
    step (one sample per process). The line is Theil-Sen's (scipy.stats.theilslopes,
    ``method="joint"``: intercept = median of y - slope x; Sen 1968, JASA 63, 1379-1389),
    over every process sample. The intervals are percentile bootstraps (``CONFIDENCE``,
    ``BOOTSTRAP_RESAMPLES``, fixed seed) that resample the processes within each size;
    None when no size has two processes. Returns overhead_us, per_unit_us and their
    ``_ci_low``/``_ci_high``; raises ValueError below two distinct sizes.
    """
    from scipy import stats

    sizes = np.asarray(sizes, dtype=float)
    groups = [np.asarray(g, dtype=float) for g in samples_us]
    if len(np.unique(sizes)) < 2:
        raise ValueError("a fit needs at least two distinct sizes")

    def fit(*samples):
        x = np.concatenate([np.full(len(s), size) for s, size in zip(samples, sizes)])
        result = stats.theilslopes(np.concatenate(samples), x, method="joint")
        return np.array([result.intercept, result.slope])

    overhead, slope = fit(*groups)
    out = {"overhead_us": float(overhead), "per_unit_us": float(slope),
           "overhead_ci_low_us": None, "overhead_ci_high_us": None,
           "per_unit_ci_low_us": None, "per_unit_ci_high_us": None}
    if max(len(g) for g in groups) < 2:
        return out
    # scipy refuses a sample of one for its bootstrap: such a size is kept as it is.
    single = [len(g) < 2 for g in groups]
    varied = [g for g, one in zip(groups, single) if not one]

    def resampled(*samples):
        it = iter(samples)
        return fit(*[g if one else next(it) for g, one in zip(groups, single)])

    with warnings.catch_warnings():
        # Equal samples make a degenerate bootstrap distribution: the interval is then the
        # point itself, which is what the data say.
        warnings.simplefilter("ignore")
        result = stats.bootstrap(varied, resampled, vectorized=False, paired=False,
                                 n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=CONFIDENCE,
                                 method="percentile", rng=np.random.default_rng(0))
    low, high = result.confidence_interval
    out |= {"overhead_ci_low_us": float(low[0]), "overhead_ci_high_us": float(high[0]),
            "per_unit_ci_low_us": float(low[1]), "per_unit_ci_high_us": float(high[1])}
    return out


def loglog_slope(sizes, values) -> float | None:
    """Theil-Sen slope of log(value) against log(size): the exponent k of value ~ size^k;
    None below two positive points."""
    from scipy import stats

    pairs = [(s, v) for s, v in zip(sizes, values)
             if v is not None and not pd.isna(v) and v > 0 and s > 0]
    if len({s for s, _ in pairs}) < 2:
        return None
    x, y = np.log([s for s, _ in pairs]), np.log([v for _, v in pairs])
    return float(stats.theilslopes(y, x).slope)


def regime(overhead_us: float, per_unit_us: float, size: float) -> str:
    """``overhead-bound`` where the fixed cost per step is at least the cost that grows with
    the size (overhead >= cost per unit × size: time stays nearly flat as the size grows),
    else ``compute-bound``. The same rule as fit_table's overhead_bound_below: a fitted
    overhead at or under 0 is never overhead-bound, and a cost per unit at or under 0 with
    a positive overhead always is."""
    if overhead_us <= 0:
        return "compute-bound"
    if per_unit_us <= 0:
        return "overhead-bound"
    return "overhead-bound" if overhead_us >= per_unit_us * size else "compute-bound"


def crossovers(points: pd.DataFrame, within: float = WITHIN) -> pd.DataFrame:
    """Per axis, device, series and framework (implementation): the smallest swept value at
    which the framework's fastest row is within ``within`` (10%) of the fastest row of all at
    that value, else NOT_WITHIN. Columns: axis, device, batch_size, hidden_size, n_train (the
    swept one empty), implementation, crossover, within_from (the smallest value from which
    on it is within at every larger value too: a framework that is fastest at the smallest
    size but falls behind later has a crossover there, and a later within_from or none),
    ratio_at_smallest, ratio_at_largest (the framework's best over the fastest, at the
    smallest and largest measured value)."""
    records = []
    measured = points[points["status"].isin(MEASURED) & points["us_per_step"].notna()]
    for axis, device, context, lines in _series(measured):
        column = AXES[axis][0]
        best = lines.groupby([column, "implementation"])["us_per_step"].min().unstack()
        ratio = best.div(best.min(axis=1), axis=0).sort_index()
        for framework in dict.fromkeys(lines["implementation"]):
            mine = ratio[framework].dropna()
            if mine.empty:
                continue
            inside = mine <= 1 + within
            # From the last value that is not within on, every larger one is.
            stays = inside[::-1].cummin()[::-1]
            records.append({"axis": axis, "device": device, **{c: None for c in AXES[axis][:1]},
                            **context, "implementation": framework,
                            "crossover": int(mine.index[inside][0]) if inside.any()
                            else NOT_WITHIN,
                            "within_from": int(mine.index[stays][0]) if stays.any()
                            else NOT_WITHIN,
                            "ratio_at_smallest": float(mine.iloc[0]),
                            "ratio_at_largest": float(mine.iloc[-1])})
    return pd.DataFrame.from_records(records, columns=[
        "axis", "device", "batch_size", "hidden_size", "n_train", "implementation",
        "crossover", "within_from", "ratio_at_smallest", "ratio_at_largest"])


def fit_table(points: pd.DataFrame) -> pd.DataFrame:
    """One line per variant, device, axis and series (FIT_COLUMNS).

    overhead_us and per_unit_ns (ns per sample, parameter or training sample) come from
    ``robust_fit`` over the process samples; overhead_bound_below is the swept value below
    which the row is overhead-bound (where overhead = cost per unit × size; for the width
    sweep in hidden units); throughput_at_scale_per_s the samples per second the cost per
    sample allows once the overhead no longer counts (batch axis only); the log-log slopes
    are over the rows' medians; crossover is ``crossovers``' value for the variant's
    framework. Needs two measured sizes; a variant with fewer has no line.
    """
    cross = crossovers(points)
    records = []
    measured = points[points["status"].isin(MEASURED) & points["us_per_step"].notna()]
    for axis, device, context, lines in _series(measured):
        column, size_column, unit, _ = AXES[axis]
        for variant, mine in lines.groupby("variant", sort=False):
            mine = mine.sort_values("size")
            if mine["size"].nunique() < 2:
                continue
            fit = robust_fit(mine["size"], mine["process_us_per_step"])
            largest = mine.iloc[-1]
            per_unit = fit["per_unit_us"]
            below = fit["overhead_us"] / per_unit if per_unit > 0 else math.inf
            # A fitted overhead at or under 0 is no measurable fixed cost: no size is
            # overhead-bound (the fit can dip below 0 within its interval).
            below = 0.0 if fit["overhead_us"] <= 0 else below
            if axis == "hidden" and math.isfinite(below) and below > 0:
                # parameters are affine in the width: back to hidden units
                a, b = np.polyfit(mine["n_parameters"], mine["hidden_size"], 1)
                below = a * below + b
            match = cross[(cross["axis"] == axis) & (cross["device"] == device)
                          & (cross["implementation"] == largest["implementation"])]
            for name, value in context.items():
                match = match[match[name] == value]
            ns = lambda us: None if us is None else us * 1e3  # noqa: E731
            records.append({
                "variant": variant, "implementation": largest["implementation"],
                "device": device, "axis": axis, "unit": unit, column: None, **context,
                "points": int(mine["size"].nunique()),
                "samples": int(sum(len(s) for s in mine["process_us_per_step"])),
                "overhead_us": fit["overhead_us"],
                "overhead_ci_low_us": fit["overhead_ci_low_us"],
                "overhead_ci_high_us": fit["overhead_ci_high_us"],
                "per_unit_ns": ns(per_unit), "per_unit_ci_low_ns": ns(fit["per_unit_ci_low_us"]),
                "per_unit_ci_high_ns": ns(fit["per_unit_ci_high_us"]),
                "overhead_bound_below": below if math.isfinite(below) else None,
                "regime_at_largest": regime(fit["overhead_us"], per_unit, largest["size"]),
                "throughput_at_scale_per_s": 1e6 / per_unit if axis == "batch" and per_unit > 0
                else None,
                "samples_per_s_at_largest": largest["samples_per_s"],
                "epoch_time_loglog_slope": loglog_slope(mine[column], mine["epoch_s"]),
                "peak_memory_loglog_slope": loglog_slope(mine[column],
                                                         mine[memory_column(axis)]),
                "crossover": match["crossover"].iloc[0] if len(match) else NOT_WITHIN,
                "within_from": match["within_from"].iloc[0] if len(match) else NOT_WITHIN})
    return pd.DataFrame.from_records(records, columns=FIT_COLUMNS)


def annotate_regimes(points: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    """``points`` with ``regime`` set from its variant's fit (empty where there is none)."""
    points = points.copy()
    for i, point in points.iterrows():
        match = fits[(fits["variant"] == point["variant"]) & (fits["device"] == point["device"])
                     & (fits["axis"] == point["axis"])]
        for name in CONTEXT[point["axis"]]:
            match = match[match[name] == point[name]]
        if len(match) and pd.notna(point["us_per_step"]):
            fit = match.iloc[0]
            points.at[i, "regime"] = regime(fit["overhead_us"], fit["per_unit_ns"] / 1e3,
                                            point["size"])
    return points


def csv_frames(run: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sweep.csv's frame, sweep_fit.csv's frame) of a loaded run."""
    points = sweep_points(run)
    fits = fit_table(points)
    points = annotate_regimes(points, fits)
    points["process_us_per_step"] = [" ".join(repr(v) for v in s) or None
                                     for s in points["process_us_per_step"]]
    return points, fits


# -- words ------------------------------------------------------------------------------------


def _axis_words(axis: str, value) -> str:
    return {"batch": f"batch {int(value):,}", "hidden": f"width {int(value):,}",
            "n_train": f"{int(value):,} training samples"}[axis]


def _grows_to(axis: str, value) -> str:
    return {"batch": f"As the batch size grows to {int(value):,}",
            "hidden": f"As the hidden width grows to {int(value):,}",
            "n_train": f"As the training set grows to {int(value):,} samples"}[axis]


def _times(ratio: float) -> str:
    return f"{ratio:.1f} times" if ratio < 10 else f"{ratio:,.0f} times"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def teacher_sentences(points: pd.DataFrame, fits: pd.DataFrame) -> list[str]:
    """Two sentences a teacher could read aloud, from the numbers: the fixed cost per step
    and the gap it makes at the smallest size (batch axis, else the first), then how far
    the gap closes at the largest size and which frameworks catch up (the width axis, else
    the same). Empty without fits."""
    measured = points[points["status"].isin(MEASURED) & points["us_per_step"].notna()]
    if fits.empty or measured.empty:
        return []
    axes = list(dict.fromkeys(fits["axis"]))
    first = "batch" if "batch" in axes else axes[0]
    last = "hidden" if "hidden" in axes else first
    device = fits["device"].iloc[0]
    sentences = []
    for axis, at in ((first, "smallest"), (last, "largest")):
        lines = measured[(measured["axis"] == axis) & (measured["device"] == device)]
        lines = lines[lines[CONTEXT[axis][0]] == lines[CONTEXT[axis][0]].iloc[0]]
        column = AXES[axis][0]
        value = lines[column].min() if at == "smallest" else lines[column].max()
        here = lines[lines[column] == value]
        fast, slow = here.loc[here["us_per_step"].idxmin()], here.loc[here["us_per_step"].idxmax()]
        gap = slow["us_per_step"] / fast["us_per_step"]
        mine = fits[(fits["axis"] == axis) & (fits["device"] == device)]
        if at == "smallest":
            low = mine.loc[mine["overhead_us"].idxmin()]
            high = mine.loc[mine["overhead_us"].idxmax()]
            if len(here) < 2:  # one row: nothing to compare it with
                sentences.append(
                    f"Every training step of {low['variant']} pays a fixed cost of "
                    f"{_us_words(low['overhead_us'])} on the {device.upper()} that SimpleNet's "
                    f"arithmetic cannot hide.")
                continue
            sentences.append(
                f"Every training step pays a fixed cost that SimpleNet's arithmetic cannot "
                f"hide, from {_us_words(low['overhead_us'])} ({low['variant']}) to "
                f"{_us_words(high['overhead_us'])} ({high['variant']}) on the {device.upper()}, "
                f"so at {_axis_words(axis, value)} the slowest row ({slow['variant']}) takes "
                f"{_times(gap)} as long per step as the fastest ({fast['variant']}).")
            continue
        if axis == "n_train":  # a step does not see the data set: epochs and memory grow
            sentences.append(_n_train_sentence(lines[column].min(), value, mine))
            continue
        if len(here) < 2:
            continue
        best = mine.drop_duplicates("implementation")
        fastest = mine.loc[mine["variant"] == fast["variant"], "implementation"].iloc[0]
        # The fastest framework is within 10% of itself: it is not one that "comes within".
        others = best[best["implementation"] != fastest]
        caught = others[others["within_from"] != NOT_WITHIN]
        behind = others[others["within_from"] == NOT_WITHIN]
        start = lines[lines[column] == lines[column].min()]["us_per_step"]
        before = start.max() / start.min()
        change = (f"shrinks from {_times(before)} to {_times(gap)}" if gap < before else
                  f"is {_times(gap)} ({_times(before)} at the smallest)")
        text = (f"{_grows_to(axis, value)}, the gap between the slowest and the fastest row "
                f"{change}")
        if len(others) == 0:  # one framework: no framework to compare
            sentences.append(text + ".")
            continue
        text += f"; {fastest} is the fastest there, and "
        if len(caught):
            text += (f"{len(caught)} of the {len(others)} other"
                     f"{'' if len(others) == 1 else 's'} "
                     f"{'comes' if len(caught) == 1 else 'come'} within 10% of it and "
                     f"stay{'s' if len(caught) == 1 else ''} there ("
                     + _and([f"{r.implementation} from {_axis_words(axis, r.within_from)}"
                             for r in caught.itertuples()]) + ")")
        else:
            text += (f"{'the other' if len(others) == 1 else 'none of the others'} "
                     f"{'does not come' if len(others) == 1 else 'comes'} within 10% of it")
        if len(behind) and len(caught):
            text += (", while " + _and(list(behind["implementation"]))
                     + (" stays" if len(behind) == 1 else " stay")
                     + " slower over the whole sweep")
        sentences.append(text + ".")
    return sentences


def _n_train_sentence(smallest, largest, fits: pd.DataFrame) -> str:
    """The training-set sweep in words: how time per epoch and the process's peak memory
    grow (their log-log slopes over the rows); time per step is no result there."""
    def spread(values) -> str:
        values = pd.to_numeric(values).dropna()
        if values.empty:
            return "an unknown slope"
        low, high = f"{values.min():.2f}", f"{values.max():.2f}"
        return f"a log-log slope of {low}" + ("" if low == high else f" to {high}")
    return (f"As the training set grows from {int(smallest):,} to {int(largest):,} samples, "
            f"time per epoch grows with {spread(fits['epoch_time_loglog_slope'])} and the "
            f"whole process's peak memory, data included, with "
            f"{spread(fits['peak_memory_loglog_slope'])} (1: in proportion; 0: not at all); "
            f"time per step should not grow, since a step does not see the data set.")


def _us_words(us: float) -> str:
    """A fitted overhead in words: a fit can put a cost too small to measure under 0."""
    return "under 1 µs" if us < 1 else f"{us:,.0f} µs"


# -- plots ------------------------------------------------------------------------------------


def _panels(points: pd.DataFrame, axes_wanted=None):
    measured = points[points["status"].isin(MEASURED) & points["us_per_step"].notna()]
    return [(axis, device, context, lines) for axis, device, context, lines in _series(measured)
            if axes_wanted is None or axis in axes_wanted]


def _panel_title(axis: str, device: str, context: dict) -> str:
    words = {"batch_size": "batch {}", "hidden_size": "width {}",
             "n_train": "{} training samples"}
    fixed = ", ".join(words[name].format(int(context[name])) for name in CONTEXT[axis])
    return f"{device.upper()}: {AXES[axis][3]} ({fixed})"


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
                ax.set_title(plots._text(_panel_title(axis, device, context)))
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


# -- the report's table -------------------------------------------------------------------------

CAPTION = ("Per variant and swept axis: a robust straight-line fit (Theil-Sen over every "
           "process: its p10 since result format 3, its median before) of µs per step = "
           "overhead + cost per unit × size, with 95% bootstrap "
           "intervals over processes. Overhead-bound below: the size under which the fixed "
           "cost per step outweighs the cost that grows with the size (time stays flat). "
           "Slopes: how time per epoch and peak memory grow on log-log axes (1: in "
           "proportion; 0: not at all; -1: time per epoch halves as the batch doubles). "
           "Crossover: the smallest swept size at which the variant's framework, at its "
           "fastest row, is within 10% of the fastest row there; within 10% from: the "
           "smallest from which on it stays within at every larger swept size. A step's time "
           "is its epoch's time over its steps, so a cost paid once an epoch (Keras's fit "
           "sets up each epoch) weighs on an epoch of few large steps. For the training "
           "samples, a step does not see the data set: its fit is only a check, and the "
           "memory slope is that of the whole process's peak, data included "
           "(process_peak_rss_bytes); for the other axes, of the peak above an epoch's "
           "start (peak_rss_bytes). sweep.csv's regime of a point follows the same rule at "
           "its size: overhead-bound at or below the overhead-bound size.")


def _number(value, spec: str) -> str:
    return "–" if value is None or pd.isna(value) else format(value, spec)


def _with_ci(value, low, high, spec: str) -> str:
    text = _number(value, spec)
    if low is not None and high is not None and not pd.isna(low) and not pd.isna(high):
        text += f" [{format(low, spec)}, {format(high, spec)}]"
    return text


def display_tables_by_sweep(fits: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``display_table`` for a printed page: per sweep (axis, device and fixed sizes) two
    narrow tables, the fit and the growth, as (caption, table of str). The sweep and the
    unit move into the caption and the header, an interval into a "95% CI" column (a second
    line under its number in ``latex.to_latex``), ``NOT_WITHIN`` becomes
    ``NOT_WITHIN_SHORT``."""
    groups = []
    table = display_table(fits).assign(unit=list(fits["unit"]))
    for sweep, group in table.groupby("Sweep", sort=False):
        rows = fits.loc[group.index]
        unit = group["unit"].iloc[0]
        fit = pd.DataFrame({
            "Row": group["Row"],
            "Overhead µs/step": [_number(v, ",.0f") for v in rows["overhead_us"]],
            "95% CI overhead": [_interval(lo, hi, ",.0f") for lo, hi in
                                zip(rows["overhead_ci_low_us"], rows["overhead_ci_high_us"])],
            f"Cost per {unit}, ns": [_number(v, ".3g") for v in rows["per_unit_ns"]],
            "95% CI cost": [_interval(lo, hi, ".3g") for lo, hi in
                            zip(rows["per_unit_ci_low_ns"], rows["per_unit_ci_high_ns"])],
            "Overhead-bound below": group["Overhead-bound below"],
            "At the largest": group["At the largest"]})
        # "Peak RSS": latex.to_latex's width estimate is short for "Memory" (M and m).
        growth = group[["Row", "Epoch-time slope", "Memory slope", "Crossover",
                        "Within 10% from"]].replace({NOT_WITHIN: NOT_WITHIN_SHORT}) \
            .rename(columns={"Memory slope": "Peak RSS slope"})
        groups += [(f"{sweep}: the fit", fit), (f"{sweep}: growth and crossover", growth)]
    return groups


def _interval(low, high, spec: str) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return ""
    return f"[{format(low, spec)}, {format(high, spec)}]"


def display_table(fits: pd.DataFrame) -> pd.DataFrame:
    """``fit_table``'s lines as display strings for the report (every cell a str)."""
    records = []
    for r in fits.itertuples(index=False):
        context = _panel_title(r.axis, r.device, {"batch_size": r.batch_size,
                                                  "hidden_size": r.hidden_size,
                                                  "n_train": r.n_train})
        records.append({
            "Row": r.variant, "Sweep": context,
            "Overhead µs/step": _with_ci(r.overhead_us, r.overhead_ci_low_us,
                                         r.overhead_ci_high_us, ",.0f"),
            "Cost per unit, ns": f"{_with_ci(r.per_unit_ns, r.per_unit_ci_low_ns, r.per_unit_ci_high_ns, '.3g')} per {r.unit}",  # noqa: E501
            "Overhead-bound below": _number(r.overhead_bound_below, ",.0f"),
            "At the largest": r.regime_at_largest,
            "Epoch-time slope": _number(r.epoch_time_loglog_slope, ".2f"),
            "Memory slope": _number(r.peak_memory_loglog_slope, ".2f"),
            "Crossover": str(r.crossover), "Within 10% from": str(r.within_from)})
    return pd.DataFrame.from_records(records, columns=[
        "Row", "Sweep", "Overhead µs/step", "Cost per unit, ns", "Overhead-bound below",
        "At the largest", "Epoch-time slope", "Memory slope", "Crossover", "Within 10% from"])
