"""Where the difference vanishes: a sweep's points, fits and crossovers.

A run made with ``--sweep AXIS=...`` (or the ``sweep`` preset) measures every row at several
sizes along one axis at a time: the batch size, SimpleNet's hidden width or the training
samples (``plan.sweeps`` of results.json). Everything here reads only the loaded run
(results.load.load_run, the result model), so ``reports build`` makes the same files again:

- ``sweep_points``: one line per axis, point and row (``sweep.csv``);
- ``fit_table``: per variant, device and axis, a robust fit of
  µs per step = overhead + cost per unit × size, with 95% intervals, the overhead-bound
  regime, the crossover of the variant's framework and the log-log slopes of time per
  epoch and peak memory (``sweep_fit.csv``).

reports.scaling_plots draws them, and reports.scaling_section puts them in words and makes
the report's Scaling section.

The size of a point is the batch size (unit: a sample), the model's parameter count (unit:
a parameter; the width sweep) or the training samples (unit: a training sample). For the
last, time per step should not grow (the step does not see the data set): its cost per unit
is a check, and the slopes of time per epoch and peak memory are the result.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from reports import tables
from results.model import Memory, Row, Run, Summary
from results.schema import SWEEP_AXES, is_sweep

# axis -> (the row field it sets, the fit's size column, the unit of one size, its words);
# the axes and their fields are results.schema.SWEEP_AXES.
_AXIS_WORDS = {
    "batch": ("batch_size", "sample", "batch size"),
    "hidden": ("n_parameters", "parameter", "hidden width"),
    "n_train": ("n_train", "training sample", "training samples"),
}
AXES = {axis: (field, *_AXIS_WORDS[axis]) for axis, field in SWEEP_AXES.items()}
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
CONTEXT = {axis: tuple(field for other, field in SWEEP_AXES.items() if other != axis)
           for axis in SWEEP_AXES}
DEFAULT_HIDDEN_SIZE = tables.DEFAULT_HIDDEN_SIZE


def has_sweep(run: Run) -> bool:
    """Whether the run swept a size and measured at least one of its points."""
    return is_sweep(run.plan or {}) and not sweep_points(run).dropna(
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


def series(points: pd.DataFrame):
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
    for axis, device, context, lines in series(measured):
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
    for axis, device, context, lines in series(measured):
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


def panel_title(axis: str, device: str, context: dict) -> str:
    """A series in words: "CPU: batch size (width 16, 16384 training samples)"."""
    words = {"batch_size": "batch {}", "hidden_size": "width {}",
             "n_train": "{} training samples"}
    fixed = ", ".join(words[name].format(int(context[name])) for name in CONTEXT[axis])
    return f"{device.upper()}: {AXES[axis][3]} ({fixed})"
