"""Did a change change the speed, and is the change real? Two runs, row by row.

Rows that both runs sampled with resident workers (format 3: each process holds many
interleaved one-epoch samples) are judged on the robust estimator, the p10 of the samples
(results/estimate.py), by ``ROBUST_RULE``:

- ratio: p10(NEW samples) / p10(OLD samples), divided by the machine factor: the median of
  that ratio over every row so compared, when there are at least ``MACHINE_FACTOR_MIN_ROWS``
  (a machine that is 10% slower today makes every row 10% slower; that is the machine, not
  the change: the factor is printed, so a change that slows every row alike shows there);
- its interval: each run's p10 resampled by the two-level bootstrap (processes, then samples
  within each; the runs independently), the factor recomputed in every resample, at the
  level 1 - alpha/m for the m rows (Bonferroni: the family-wise error stays at alpha);
- verdict: **same** when the interval lies within [1/(1+Δ), 1+Δ]; else **slower** when it
  lies above 1, **faster** when below 1; **inconclusive** only when it holds 1 and reaches
  beyond the band, i.e. the data cannot tell a change of Δ from none.

Rows of format-2 files (one sample per worker process) keep format 2's method:
the unit of sampling is the worker process: each ok process of a row gives one sample, its
µs per step (`summary.process_us_per_step` of docs/result_format.md). Rounds within one
process are correlated and are not used. Per row measured in both runs:

- ratio: median(NEW samples) / median(OLD samples);
- its 95% confidence interval: percentile bootstrap with the two runs resampled
  independently (`scipy.stats.bootstrap`, `n_resamples` bounded, memory bounded by `batch`);
- p: Welch's t-test on the logarithms of the samples. Why this test: with the few processes
  a run has (3 per row by default), Mann-Whitney U cannot reach 0.05 at all (its smallest
  two-sided p for 3 against 3 is 0.1), while Welch's t can, when the effect is large against
  the spread. Logarithms make a ratio a difference and tame the right skew of times;
  Welch's form does not assume equal spreads in the two runs. It needs 2 samples per side;
- Holm's step-down correction of the p values across the tested rows;
- one verdict (Δ = `delta_pct`): **same** when the interval lies within [1/(1+Δ), 1+Δ];
  else **slower** when adjusted p < alpha and the interval lies above 1; **faster** when
  adjusted p < alpha and it lies below 1; else **inconclusive**, with an estimate of how
  many processes per side would tell a change of Δ from none.

Where both runs counted a row's instructions per step (``--metric instructions``), the
verdict is on that count instead, by the rule ``reports.instructions.RULE`` with the
tolerance it states; ``metric`` says which measurement decided, and ``time_ratio`` keeps the
time's ratio beside it.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from reports import instructions
from reports.load import FORMAT_1_NOTE
from reports.run_versions import version_note
from results.estimate import (
    ESTIMATOR,
    ESTIMATOR_TEXT,
    p10,
    percentile_interval,
    pooled,
    two_level_draws,
)
from results.format import FORMAT_2_ESTIMATOR
from results.model import ABSENT, Commit, Environment, Run

TEST_NAME = "Welch's t-test on the logarithms of the per-process µs/step"
CI_NAME = "95% percentile bootstrap (runs resampled independently) of the ratio of medians"
CORRECTION_NAME = "Holm's step-down correction across rows"
N_RESAMPLES = 9999
# The robust path's resamples per run and row: its tails sit at alpha / (2 x rows), 0.16% for
# 16 rows, which 4000 resamples still put 6 draws beyond.
ROBUST_RESAMPLES = 4000
BOOTSTRAP_VALUES_PER_BATCH = 1_000_000  # bounds the bootstrap's memory: batch x samples
MIN_SAMPLES_PER_SIDE = 2  # Welch's t needs a variance on each side
POWER = 0.8  # for the processes-needed estimate

VERDICTS = ("slower", "faster", "same", "inconclusive")
COST_COLUMNS = ("metric", "time_ratio", "old_instructions_per_step",
                "new_instructions_per_step", "tolerance_pct")
COLUMNS = ["row", "old_us_per_step", "new_us_per_step", "old_processes", "new_processes",
           "ratio", "ci_low", "ci_high", "p_value", "p_holm", "verdict", "unstable",
           "processes_needed", "note", "regression",
           # since format 3: the estimator compared (p10, or format 2's median) and the ratio
           # before the machine factor
           "estimator", "raw_ratio",
           # which measurement decided: "time", or "instructions" where both runs counted the
           # row (reports/instructions.py); the time's ratio is kept beside it
           "metric", "time_ratio", "old_instructions_per_step", "new_instructions_per_step",
           "tolerance_pct"]
# The robust path (module docstring): at least this many rows give a machine factor (the
# median of fewer rows is too easily one row's own change).
MACHINE_FACTOR_MIN_ROWS = 4
ROBUST_CI_NAME = ("two-level bootstrap (processes, then samples within each; the two runs "
                  "resampled independently)")


@dataclasses.dataclass
class Comparison:
    """Rows compared (`rows`, columns COLUMNS) and what could not be compared."""
    rows: pd.DataFrame
    only_old: list[str]
    only_new: list[str]
    not_compared: list[str]  # in both, but not measured in one of them
    skipped_in_both: list[str]
    differences: list[str]
    notes: list[str]  # about a whole run, e.g. a format-1 file
    delta_pct: float
    threshold_pct: float
    alpha: float
    # in both and measured in both, but at other sizes (e.g. --n-train): not compared
    resized: list[str] = dataclasses.field(default_factory=list)

    @property
    def regressions(self) -> pd.DataFrame:
        """Rows called slower whose ratio exceeds 1 + threshold_pct / 100."""
        return self.rows[self.rows["regression"].astype(bool)]

    # The robust path's machine factor (None: fewer than MACHINE_FACTOR_MIN_ROWS rows, or
    # no row compared on it) and how many rows it compared (the Bonferroni family).
    machine_factor: float | None = None
    robust_rows: int = 0
    normalised: bool = True  # compare_runs's machine_factor: whether a factor was asked for

    @property
    def too_few(self) -> list[str]:
        """Rows judged by format 2's test that had too few processes for it (rows decided
        on instructions have no test, and need none)."""
        return [r for r, p, e, m in zip(self.rows["row"], self.rows["p_value"],
                                        self.rows["estimator"], self.rows["metric"])
                if pd.isna(p) and e != ESTIMATOR and m == "time"]


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p values, same order as ``p_values``; NaN stays NaN.

    Holm, S. (1979), "A simple sequentially rejective multiple test procedure",
    Scandinavian Journal of Statistics 6(2), 65-70: with the m p values sorted ascending,
    the k-th (k = 1..m) is adjusted to max over j <= k of min(1, (m - j + 1) p_(j)).
    Rejecting where the adjusted p < alpha controls the family-wise error rate at alpha.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = len(tested)
    running = 0.0
    for rank, i in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def bootstrap_ratio_ci(old, new, n_resamples: int = N_RESAMPLES, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of median(new) / median(old); (nan, nan) below 2 + 2.

    The two samples are resampled independently (scipy.stats.bootstrap, paired=False);
    at most BOOTSTRAP_VALUES_PER_BATCH values are held at once, whatever the sample size.
    """
    old, new = np.asarray(old, float), np.asarray(new, float)
    if min(len(old), len(new)) < 2:
        return math.nan, math.nan

    def ratio_of_medians(a, b, axis):
        return np.median(b, axis=axis) / np.median(a, axis=axis)

    batch = max(1, BOOTSTRAP_VALUES_PER_BATCH // max(len(old), len(new)))
    result = stats.bootstrap((old, new), ratio_of_medians, n_resamples=n_resamples,
                             batch=min(batch, n_resamples), vectorized=True, paired=False,
                             confidence_level=level, method="percentile",
                             rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def welch_log_p(old, new) -> float:
    """Two-sided p of Welch's t-test on log(old) against log(new); nan when it is undefined
    (fewer than 2 samples on a side, or no spread on either side)."""
    if min(len(old), len(new)) < MIN_SAMPLES_PER_SIDE:
        return math.nan
    a, b = np.log(np.asarray(old, float)), np.log(np.asarray(new, float))
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return math.nan
    with warnings.catch_warnings():
        # Nearly identical samples make scipy warn of precision loss; p is then near 1 or
        # near 0 either way, and a warning would garble the one-table output.
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def processes_needed(old, new, delta_pct: float, alpha: float, rows_tested: int = 1,
                     limit: int = 10_000) -> int | None:
    """Processes per side for Welch's test to find a change of ``delta_pct`` with 80% power
    at Holm's strictest level alpha / rows_tested, from the pooled SD s of the log samples:
    the least n >= 3 with n >= 2 (t_(1-a/2, 2n-2) + t_(power, 2n-2))^2 s^2 / log(1+delta)^2,
    the usual two-sample size formula with t quantiles (e.g. Chow, Shao and Wang, Sample
    Size Calculations in Clinical Research, section 3.2). None when the spread is unknown
    (fewer than 2 samples on a side); ``limit`` when even that many would not do."""
    if min(len(old), len(new)) < 2:
        return None
    a, b = np.log(np.asarray(old, float)), np.log(np.asarray(new, float))
    pooled_var = (np.var(a, ddof=1) * (len(a) - 1) + np.var(b, ddof=1) * (len(b) - 1)) / (
        len(a) + len(b) - 2)
    level = alpha / max(1, rows_tested)
    effect = math.log1p(delta_pct / 100)

    def enough(n: int) -> bool:
        df = 2 * n - 2
        z = stats.t.ppf(1 - level / 2, df) + stats.t.ppf(POWER, df)
        return n >= 2 * z**2 * pooled_var / effect**2

    # The t quantiles fall as n grows, so once n is enough every larger n is: a bisection
    # finds the least one in about log2(limit) steps (a scan took up to 10,000 quantiles).
    low, high = 3, limit  # the answer lies in [low, high]; high stands for "none below"
    while low < high:
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle + 1
    return low


def verdict(ci_low: float, ci_high: float, p_holm: float, delta_pct: float,
            alpha: float) -> str:
    """same / slower / faster / inconclusive, in that order of checking (module docstring)."""
    band = 1 + delta_pct / 100
    if not math.isnan(ci_low) and 1 / band <= ci_low and ci_high <= band:
        return "same"
    if not math.isnan(p_holm) and p_holm < alpha:
        if ci_low > 1:
            return "slower"
        if ci_high < 1:
            return "faster"
    return "inconclusive"


def robust_verdict(ci_low: float, ci_high: float, delta_pct: float) -> str:
    """same / slower / faster / inconclusive of an interval of the ratio new / old
    (``ROBUST_RULE``)."""
    band = 1 + delta_pct / 100
    if math.isnan(ci_low) or math.isnan(ci_high):
        return "inconclusive"
    if 1 / band <= ci_low and ci_high <= band:
        return "same"
    if ci_low > 1:
        return "slower"
    if ci_high < 1:
        return "faster"
    return "inconclusive"


def robust_rule(delta_pct: float, alpha: float, rows: int, factor: float | None,
                normalise: bool = True) -> str:
    """The rule of the robust path, in words, for under the table."""
    band = 1 + delta_pct / 100
    level = 100 * (1 - alpha / max(1, rows))
    machine = (f"divided by the machine factor {factor:.3f} (the median ratio over the {rows} "
               "rows: how much slower or faster the new run's machine was on everything; a "
               "change that slows every row alike shows here, not in a verdict)"
               if factor is not None else
               "not normalised (the runs' machines are compared as they are)" if not normalise
               else
               f"not normalised (a machine factor needs at least {MACHINE_FACTOR_MIN_ROWS} rows)")
    return (f"Rule ({ESTIMATOR} rows): new/old is the ratio of the rows' {ESTIMATOR} "
            f"({ESTIMATOR_TEXT}), {machine}. Its {level:.4g}% interval ({ROBUST_CI_NAME}; "
            f"{100 * (1 - alpha):g}% family-wise over the {rows} rows, Bonferroni) decides: "
            f"same if it lies within [{1 / band:.3f}, {band:.3f}] (±{delta_pct:g}%); slower "
            "if it lies above 1; faster if below 1; inconclusive if it holds 1 and reaches "
            "beyond that band (the data cannot tell a change of "
            f"{delta_pct:g}% from none).")


def _sample_groups(run: Run) -> dict[str, list[list[float]]]:
    """Each row's interleaved samples (µs/step), one list per ok process, for the rows that
    have them (format 3's resident workers)."""
    out = {}
    for row in run.rows:
        ok = row.ok_processes()
        if row.summary and row.summary.get("estimator") == ESTIMATOR and ok \
                and all(p.samples_epoch_s for p in ok):
            out[row.id] = [[s / p.steps_per_epoch * 1e6 for s in p.samples_epoch_s]
                           for p in ok]
    return out


def compare_robust(old_groups: dict, new_groups: dict, names: list[str], delta_pct: float,
                   alpha: float, n_resamples: int,
                   normalise: bool = True) -> tuple[list[dict], float | None]:
    """The robust path's records (COLUMNS but the p values) for ``names`` and the machine
    factor (None when not applied: fewer rows than MACHINE_FACTOR_MIN_ROWS, or
    ``normalise`` False); see the module docstring."""
    if not names:
        return [], None
    ratios, draws = [], []
    for seed, name in enumerate(names):
        a, b = old_groups[name], new_groups[name]
        ratios.append(p10(pooled(b)) / p10(pooled(a)))
        # Independent seeds per run and row: the runs are resampled independently.
        draws.append(two_level_draws(b, n_resamples=n_resamples, seed=2 * seed + 1)
                     / two_level_draws(a, n_resamples=n_resamples, seed=2 * seed))
    ratios, draws = np.asarray(ratios), np.vstack(draws)  # (rows,), (rows, resamples)
    factor = None
    if normalise and len(names) >= MACHINE_FACTOR_MIN_ROWS:
        factor = float(np.median(ratios))
        draws = draws / np.median(draws, axis=0)
        normalised = ratios / factor
    else:
        normalised = ratios
    confidence = 1 - alpha / len(names)
    records = []
    for i, name in enumerate(names):
        a, b = old_groups[name], new_groups[name]
        low, high = percentile_interval(draws[i], confidence)
        note = ""
        if min(len(pooled(a)), len(pooled(b))) < 2:
            low = high = math.nan
            note = "too few samples for an interval (fewer than 2 on a side)"
        records.append({
            "row": name, "old_us_per_step": p10(pooled(a)), "new_us_per_step": p10(pooled(b)),
            "old_processes": len(a), "new_processes": len(b), "ratio": float(normalised[i]),
            "raw_ratio": float(ratios[i]), "ci_low": low, "ci_high": high,
            "p_value": math.nan, "p_holm": math.nan, "note": note, "estimator": ESTIMATOR,
            "verdict": robust_verdict(low, high, delta_pct)})
    return records, factor


def _samples(run: Run) -> dict[str, list[float]]:
    return {r.id: r.summary.process_us_per_step for r in run.rows if r.summary}


def _sizes(run: Run) -> dict[str, dict]:
    """Each row's recorded sizes beyond its batch: hidden_size and n_train (recorded since
    sweeps vary them; absent in older files)."""
    return {r.id: {k: getattr(r, k) for k in ("hidden_size", "n_train")
                   if getattr(r, k) is not ABSENT}
            for r in run.rows}


def _status(run: Run) -> dict[str, str]:
    return {r.id: r.status for r in run.rows}


def _unstable(run: Run) -> set[str]:
    return {r.id for r in run.rows if r.summary and r.summary.get("unstable")}


def compare_runs(old: Run, new: Run, delta_pct: float = 5.0, alpha: float = 0.05,
                 threshold_pct: float | None = None,
                 n_resamples: int = N_RESAMPLES, machine_factor: bool = True) -> Comparison:
    """Compare two loaded runs (reports.load.load_run) row by row.

    ``delta_pct``: the smallest change that matters, percent; ``threshold_pct`` (default
    ``delta_pct``): a "slower" row beyond it is a regression; ``alpha``: the family-wise
    level of the tests after Holm's correction. ``machine_factor`` False: the robust path's
    ratios are not divided by the median ratio over the rows (for runs on different
    machines, where that difference is what is being measured).
    """
    threshold_pct = delta_pct if threshold_pct is None else threshold_pct
    old_samples, new_samples = _samples(old), _samples(new)
    old_status, new_status = _status(old), _status(new)
    unstable_old, unstable_new = _unstable(old), _unstable(new)
    # Rows are matched by id, and the id holds the row's sizes (a sweep's -h256, -n5000); a
    # row whose recorded sizes differ anyway (two runs with other --n-train) is a different
    # measurement, listed as not compared.
    old_sizes, new_sizes = _sizes(old), _sizes(new)
    resized = {r: f"{r} (sizes differ: " + ", ".join(
                   f"{key} {old_sizes[r][key]} → {new_sizes[r][key]}"
                   for key in old_sizes[r] if key in new_sizes[r]
                   and old_sizes[r][key] != new_sizes[r][key]) + ")"
               for r in set(old_sizes) & set(new_sizes)
               if any(old_sizes[r][k] != new_sizes[r][k]
                      for k in set(old_sizes[r]) & set(new_sizes[r]))}
    names = [r for r in old_samples if r in new_samples and r not in resized]
    old_groups, new_groups = _sample_groups(old), _sample_groups(new)
    robust = [r for r in names if r in old_groups and r in new_groups]
    robust_records, factor = compare_robust(old_groups, new_groups, robust, delta_pct, alpha,
                                            min(n_resamples, ROBUST_RESAMPLES),
                                            normalise=machine_factor)
    records = []
    for name in (r for r in names if r not in robust):
        a, b = old_samples[name], new_samples[name]
        low, high = bootstrap_ratio_ci(a, b, n_resamples=n_resamples)
        p = welch_log_p(a, b)
        note = ""
        if min(len(a), len(b)) < MIN_SAMPLES_PER_SIDE:
            note = (f"too few processes for a test ({len(a)} old, {len(b)} new; it needs "
                    f"{MIN_SAMPLES_PER_SIDE} per side)")
        elif math.isnan(p):
            note = "no spread in either run, so no test"
        unstable = " and ".join(side for side, rows in (("old", unstable_old),
                                                        ("new", unstable_new)) if name in rows)
        records.append({
            "row": name, "old_us_per_step": statistics.median(a),
            "new_us_per_step": statistics.median(b), "old_processes": len(a),
            "new_processes": len(b), "ratio": statistics.median(b) / statistics.median(a),
            "ci_low": low, "ci_high": high, "p_value": p, "unstable": unstable,
            "note": note, "estimator": FORMAT_2_ESTIMATOR,
            "raw_ratio": statistics.median(b) / statistics.median(a)})
    rows = pd.DataFrame.from_records(records, columns=[c for c in COLUMNS
                                                       if c not in ("p_holm", "verdict",
                                                                    "regression")
                                                       and c not in COST_COLUMNS])
    rows["p_holm"] = holm(rows["p_value"].to_numpy(dtype=float)) if len(rows) else []
    tested = int(rows["p_value"].notna().sum())
    rows["processes_needed"] = [processes_needed(old_samples[r], new_samples[r], delta_pct,
                                                 alpha, tested) for r in rows["row"]]
    rows["verdict"] = [verdict(lo, hi, p, delta_pct, alpha) for lo, hi, p in
                       zip(rows["ci_low"], rows["ci_high"], rows["p_holm"])]
    for record in robust_records:
        record["unstable"] = " and ".join(
            side for side, unstable_rows in (("old", unstable_old), ("new", unstable_new))
            if record["row"] in unstable_rows)
    if robust_records:
        # Table order: the rows as the old run lists them.
        order = {name: i for i, name in enumerate(names)}
        robust_columns = [c for c in COLUMNS if c != "regression" and c not in COST_COLUMNS]
        rows = pd.concat([rows.astype(object), pd.DataFrame.from_records(
            robust_records, columns=robust_columns).astype(object)],
            ignore_index=True) if len(rows) else pd.DataFrame.from_records(
            robust_records, columns=robust_columns)
        rows = rows.sort_values("row", key=lambda col: col.map(order)).reset_index(drop=True)
        for column in ("old_us_per_step", "new_us_per_step", "ratio", "raw_ratio", "ci_low",
                       "ci_high", "p_value", "p_holm"):
            rows[column] = rows[column].astype(float)
    rows = instructions.apply_to_comparison(rows, old, new)
    rows["regression"] = [v == "slower" and r > 1 + threshold_pct / 100
                          for v, r in zip(rows["verdict"], rows["ratio"])]
    for i in rows.index[(rows["verdict"] == "inconclusive") & (rows["metric"] == "time")]:
        needed = rows.at[i, "processes_needed"]
        if not rows.at[i, "note"] and rows.at[i, "estimator"] == ESTIMATOR:
            rows.at[i, "note"] = ("the interval holds 1 and reaches beyond "
                                  f"±{delta_pct:g}%: more --rounds or --processes narrow it")
        elif not rows.at[i, "note"] and needed is not None and not pd.isna(needed):
            rows.at[i, "note"] = (f"about {int(needed)} processes per side would tell a "
                                  f"{delta_pct:g}% change from none")
    rows["processes_needed"] = rows["processes_needed"].astype("Int64")
    rows = rows[COLUMNS]
    in_both = set(old_status) & set(new_status)
    measured = set(rows["row"])
    # The versions first: every other difference may follow from them.
    versions = version_note(old, new)
    notes = ([versions] if versions else []) + run_notes(old, "old") + run_notes(new, "new")
    return Comparison(
        rows=rows,
        only_old=sorted(set(old_status) - set(new_status)),
        only_new=sorted(set(new_status) - set(old_status)),
        not_compared=sorted(f"{r} (old: {old_status[r]}, new: {new_status[r]})"
                            for r in in_both if r not in measured and r not in resized
                            and not old_status[r] == new_status[r] == "skipped"),
        resized=sorted(resized.values()),
        skipped_in_both=sorted(r for r in in_both
                               if old_status[r] == new_status[r] == "skipped"),
        differences=differences(old, new), notes=notes,
        delta_pct=delta_pct, threshold_pct=threshold_pct, alpha=alpha,
        machine_factor=factor, robust_rows=len(robust), normalised=machine_factor)


def run_notes(run: Run, side: str) -> list[str]:
    """What a reader of the comparison must know about a whole run: a format-1 file, an
    interrupted run, a machine that was busy before the run began."""
    notes = []
    if run.converted_from_format_version == 1:
        notes.append(f"the {side} run is a format-1 file ({FORMAT_1_NOTE})")
    if run.complete is False:
        notes.append(f"the {side} run did not finish (interrupted by "
                     f"{run.get('interrupted_by') or 'an unknown cause'})")
    env = run.environment or Environment()
    if env.get("busy_before"):
        notes.append(f"the machine was busy when the {side} run began "
                     f"({env.get('busy_reason') or 'no reason recorded'})")
    return notes


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, inner, out)
    else:
        out[prefix] = value


# Recorded per run but expected to differ between any two runs: not listed.
_VOLATILE_ENVIRONMENT = ("load_before", "load_after", "commit", "cpu_model")


def differences(old: Run, new: Run) -> list[str]:
    """Every environment, plan and row-setting value that differs between the two runs."""
    def facts(run: Run) -> dict:
        out = {}
        env = run.environment or Environment()
        # every field the file records, as the file has them: a generic walk
        _flatten("environment", {k: v for k, v in env.to_dict().items()
                                 if k not in _VOLATILE_ENVIRONMENT}, out)
        _flatten("plan", run.get("plan", {}), out)
        out["machine.cpu"] = env.get("cpu_model")
        out["commit"] = (env.get("commit") or Commit()).get("id")
        for row in run.rows:
            ok = row.ok_processes()
            if ok:
                settings = {k: v for k, v in (ok[0].get("settings") or {}).items()
                            if k != "data"}
                _flatten(row.id, settings, out)
        return out

    a, b = facts(old), facts(new)
    return [f"{key}: {a.get(key)!r} → {b.get(key)!r}" for key in sorted(set(a) | set(b))
            if key in a and key in b and a[key] != b[key]]


def _rows(n: int, one: str = "had", many: str = "had") -> str:
    return f"1 row {one}" if n == 1 else f"{n} rows {many}"


def _number(value, spec: str) -> str:
    return "–" if value is None or pd.isna(value) else format(value, spec)


def to_markdown(comparison: Comparison, old_name: str, new_name: str) -> str:
    """The comparison as Markdown: method, one table line per row, then what was not compared."""
    from reports.markdown import markdown_escape
    from reports.markdown import to_markdown as table_markdown

    c = comparison
    band = 1 + c.delta_pct / 100
    legacy = int((c.rows["estimator"] != ESTIMATOR).sum()) if len(c.rows) else 0
    legacy_rule = (f"Rule ({FORMAT_2_ESTIMATOR} rows, result files of format 2): one sample "
                   f"per worker process (its µs/step). New/old: ratio of the medians; "
                   f"{CI_NAME}; p from {TEST_NAME}, adjusted by {CORRECTION_NAME}. Verdict: "
                   f"same if the interval lies within [{1 / band:.3f}, {band:.3f}] "
                   f"(±{c.delta_pct:g}%); slower or faster if adjusted p < {c.alpha:g} and the "
                   "interval lies above or below 1; else inconclusive.")
    rules = ([robust_rule(c.delta_pct, c.alpha, c.robust_rows, c.machine_factor, c.normalised)]
             if c.robust_rows else []) + ([legacy_rule] if legacy or not c.robust_rows else [])
    lines = [f"# sidebyside comparison: {markdown_escape(new_name)} against "
             f"{markdown_escape(old_name)}", "",
             "Each row's estimator is in the table; the rule that gives the verdicts is under "
             f"it. REGRESSION: slower by more than {c.threshold_pct:g}%.", ""]
    lines += [f"Note: {markdown_escape(note)}." for note in c.notes] + ([""] if c.notes else [])
    if len(c.rows):
        shown = pd.DataFrame({
            "Row": c.rows["row"],
            "Old µs/step": c.rows["old_us_per_step"].map(lambda v: _number(v, ".1f")),
            "New µs/step": c.rows["new_us_per_step"].map(lambda v: _number(v, ".1f")),
            "Processes": [f"{a} / {b}" for a, b in zip(c.rows["old_processes"],
                                                     c.rows["new_processes"])],
            "Estimator": c.rows["estimator"],
            "New/old": c.rows["ratio"].map(lambda v: _number(v, ".3f")),
            "Interval": ["–" if pd.isna(lo) else f"{lo:.3f} – {hi:.3f}" for lo, hi in
                       zip(c.rows["ci_low"], c.rows["ci_high"])],
            "p (Holm)": c.rows["p_holm"].map(lambda v: _number(v, ".3g")),
            "Verdict": [v + (" — REGRESSION" if r else "") for v, r in
                        zip(c.rows["verdict"], c.rows["regression"])],
            "Unstable": c.rows["unstable"],
            "Note": c.rows["note"],
        })
        counted = c.rows["metric"] == "instructions"
        if counted.any():
            # The cost beside the time: the time's ratio stays visible where the cost decided.
            shown.insert(5, "Metric", c.rows["metric"])
            shown.insert(6, "Old instr/step", c.rows["old_instructions_per_step"].map(
                lambda v: _number(v, ",.0f")))
            shown.insert(7, "New instr/step", c.rows["new_instructions_per_step"].map(
                lambda v: _number(v, ",.0f")))
            shown.insert(8, "Time new/old", c.rows["time_ratio"].map(
                lambda v: _number(v, ".3f")))
        lines += [table_markdown(shown), ""]
        for rule in rules:
            lines += [markdown_escape(rule), ""]
        if counted.any():
            lines += [f"{_rows(int(counted.sum()), 'was', 'were')} judged on instructions "
                      f"per step (both runs counted them), the rest on time. "
                      f"{instructions.RULE}", ""]
        counts = c.rows["verdict"].value_counts()
        lines += ["Verdicts: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS) + ".",
                  ""]
        if c.too_few:
            lines += [f"{_rows(len(c.too_few))} too few processes for the test to ever "
                      f"reach its level (at least {MIN_SAMPLES_PER_SIDE} per side are needed) "
                      "and count as inconclusive.", ""]
        unstable = c.rows[c.rows["unstable"] != ""]
        if len(unstable):
            lines += [f"{_rows(len(unstable), 'was', 'were')} unstable in a run (p10 rows: "
                      "an interval wider than ±5% around the headline; median rows: spread "
                      "over processes or starved workers); their intervals above carry that.",
                      ""]
    else:
        lines += ["No row was measured in both runs.", ""]
    if c.skipped_in_both:
        lines += [f"{len(c.skipped_in_both)} rows were skipped in both runs "
                  f"({markdown_escape(', '.join(c.skipped_in_both))}).", ""]
    for title, items in [("Only in the old run", c.only_old), ("Only in the new run", c.only_new),
                         ("In both runs but not measured in both", c.not_compared),
                         ("In both runs but at other sizes, so not compared", c.resized),
                         ("Environment and configuration differences", c.differences)]:
        if items:
            lines += [f"## {title}", ""] + [f"- {markdown_escape(item)}" for item in items] + [""]
    return "\n".join(lines)
