"""The rules by which `compare` judges one row measured in two runs (reports.compare applies
them to every row).

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
- a row with fewer than ``MIN_PROCESSES_PER_SIDE`` processes in either run gets no verdict
  (``TOO_FEW_PROCESSES``) and no interval: with one process the bootstrap can resample only
  that process's samples, so the difference between processes (10 to 30% on the development
  machine) is not in the interval, and two `--preset quick` runs of one commit were called
  slower or faster in 4 of 14 rows. Format 2's rule refuses such rows for the same reason.

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
"""

from __future__ import annotations

import math
import statistics
import warnings

import numpy as np
from scipy import stats

from reports import numbers
from results.estimate import (
    ESTIMATOR,
    ESTIMATOR_TEXT,
    p10,
    percentile_interval,
    pooled,
    two_level_draws,
)
from results.format import FORMAT_2_ESTIMATOR

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
# The robust path's verdict for a row with too few processes in a run (module docstring):
# neither a change nor its absence can be said.
TOO_FEW_PROCESSES = "too few processes"
MIN_PROCESSES_PER_SIDE = 2
VERDICTS = ("slower", "faster", "same", "inconclusive", TOO_FEW_PROCESSES)
# The robust path (module docstring): at least this many rows give a machine factor (the
# median of fewer rows is too easily one row's own change).
MACHINE_FACTOR_MIN_ROWS = 4
ROBUST_CI_NAME = ("two-level bootstrap (processes, then samples within each; the two runs "
                  "resampled independently)")


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
    machine = (f"divided by the machine factor {numbers.number(factor, 3)} (the median ratio "
               f"over the {rows} "
               "rows: how much slower or faster the new run's machine was on everything; a "
               "change that slows every row alike shows here, not in a verdict)"
               if factor is not None else
               "not normalised (the runs' machines are compared as they are)" if not normalise
               else
               f"not normalised (a machine factor needs at least {MACHINE_FACTOR_MIN_ROWS} rows)")
    return (f"Rule ({ESTIMATOR} rows): new/old is the ratio of the rows' {ESTIMATOR} "
            f"({ESTIMATOR_TEXT}), {machine}. Its {numbers.number(level, 4)}% interval "
            f"({ROBUST_CI_NAME}; "
            f"{100 * (1 - alpha):g}% family-wise over the {rows} rows, Bonferroni) decides: "
            f"same if it lies within {numbers.ratio_interval(1 / band, band)} (±{delta_pct:g}%); "
            "slower "
            "if it lies above 1; faster if below 1; inconclusive if it holds 1 and reaches "
            "beyond that band (the data cannot tell a change of "
            f"{delta_pct:g}% from none).")


def median_record(name: str, old: list[float], new: list[float],
                  n_resamples: int = N_RESAMPLES) -> dict:
    """The record of one row by format 2's rule (one sample per process, µs/step): the
    medians, the processes, their ratio with its bootstrap interval, Welch's p (before
    Holm's correction) and a note where no test can be made."""
    low, high = bootstrap_ratio_ci(old, new, n_resamples=n_resamples)
    p = welch_log_p(old, new)
    note = ""
    if min(len(old), len(new)) < MIN_SAMPLES_PER_SIDE:
        note = (f"too few processes for a test ({len(old)} old, {len(new)} new; it needs "
                f"{MIN_SAMPLES_PER_SIDE} per side)")
    elif math.isnan(p):
        note = "no spread in either run, so no test"
    ratio = statistics.median(new) / statistics.median(old)
    return {"row": name, "old_us_per_step": statistics.median(old),
            "new_us_per_step": statistics.median(new), "old_processes": len(old),
            "new_processes": len(new), "ratio": ratio, "ci_low": low, "ci_high": high,
            "p_value": p, "note": note, "estimator": FORMAT_2_ESTIMATOR, "raw_ratio": ratio}


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
        verdict_ = robust_verdict(low, high, delta_pct)
        if min(len(a), len(b)) < MIN_PROCESSES_PER_SIDE:
            # An interval of one process's samples leaves out the variation between
            # processes: shown, it would look like a measured one.
            low = high = math.nan
            verdict_ = TOO_FEW_PROCESSES
        records.append({
            "row": name, "old_us_per_step": p10(pooled(a)), "new_us_per_step": p10(pooled(b)),
            "old_processes": len(a), "new_processes": len(b), "ratio": float(normalised[i]),
            "raw_ratio": float(ratios[i]), "ci_low": low, "ci_high": high,
            "p_value": math.nan, "p_holm": math.nan, "note": "", "estimator": ESTIMATOR,
            "verdict": verdict_})
    return records, factor
