"""The row's headline time from interleaved samples: a low quantile with a two-level interval.

A row is measured in several worker processes (a process is a draw of process-level effects:
address-space layout, which core, what the allocator did), and each process gives many
one-epoch samples, taken in rounds interleaved with the other rows' workers (benchmarks/
runner.py's ``ResidentWorker``). Timing noise on a shared machine adds time and never takes
it away (Chen and Revels 2016, "Robust benchmarking in noisy environments", the basis of
BenchmarkTools.jl), so a low quantile of the samples estimates the workload's own time and is
moved little by a busy neighbour, while the mean and the median move with the noise.

Why the 10th percentile (``HEADLINE_QUANTILE``): on the 2-core development machine under load
(load average 5 to 15) two runs of the numpy row gave a p10 of 240 and 236 µs/step with one
epoch per sample, where the minimum moved by 28% between the runs and the 25th percentile
more than the 10th. Why one epoch per sample rather than samples calibrated to
about 50 ms (pyperf aims at 100 ms a value): the same two runs with calibrated samples gave
637 and 640 µs/step with intervals of ±50%, one epoch per sample 240 and 236 with ±7% (measured;
a guess at why: shorter samples more often fall wholly in a quiet moment between bursts of
other work, and the low quantile picks those out).

Functions here are pure (numpy arrays in, floats out) and seeded, so that one file always
gives one interval.
"""

from __future__ import annotations

import numpy as np

# The headline estimator: this quantile of the pooled one-epoch samples (module docstring).
HEADLINE_QUANTILE = 0.10
ESTIMATOR = "p10"
# Said under every table and in the result file (Summary.estimator).
ESTIMATOR_TEXT = ("p10: the 10th percentile of every one-epoch sample of the row's "
                  "processes, taken interleaved with the other rows")
# A row whose headline is not pinned down to within this (either end of its 95% interval
# farther than this from the headline, percent) is "unstable".
UNSTABLE_HALF_WIDTH_PCT = 5.0
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000


def p10(values) -> float:
    """The headline quantile of ``values`` (numpy's default linear interpolation)."""
    return float(np.quantile(np.asarray(values, dtype=float), HEADLINE_QUANTILE))


def pooled(groups: list[list[float]]) -> np.ndarray:
    """Every sample of every group in one 1-D float64 array."""
    return np.concatenate([np.asarray(g, dtype=float) for g in groups if len(g)])


def two_level_draws(groups: list[list[float]], statistic=None,
                    n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> np.ndarray:
    """``statistic`` (default: the headline quantile) of ``n_resamples`` two-level resamples
    of samples nested in processes; a float64 array of shape (n_resamples,).

    ``groups``: one list of samples per process (at least one sample in all). Each resample
    draws as many processes as there are, with replacement, then within each drawn process
    as many samples as the largest process has, with replacement from that process's own
    (so every process weighs the same), and computes ``statistic`` of the pooled draw.
    Resampling both stages with replacement is the two-stage bootstrap of Davison and Hinkley
    (1997), Bootstrap Methods and their Application, section 3.8: it keeps the variance
    between processes, which a bootstrap of the pooled samples would hide.
    scipy.stats.bootstrap resamples one level only, hence numpy here. With one process the
    draws are the within-process ones. ``statistic(array, axis)``, e.g. ``np.median``.
    Raises ValueError without a sample.
    """
    groups = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if not groups:
        raise ValueError("a bootstrap needs at least one sample")
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(groups), size=(n_resamples, len(groups)))
    return _statistic_of(_resample(groups, chosen, rng), statistic)


def _resample(groups: list[np.ndarray], chosen: np.ndarray, rng) -> np.ndarray:
    """The pooled samples of each resample (n_resamples, len(groups) * the longest group):
    the processes ``chosen`` (n_resamples, len(groups)), and within each as many samples as
    the longest process has, drawn with replacement from its own."""
    n_resamples, width = len(chosen), max(len(g) for g in groups)
    # Each process's samples as a row of ``width``, so that one draw of indices serves all.
    lengths = np.array([len(g) for g in groups])
    table = np.zeros((len(groups), width))
    for i, g in enumerate(groups):
        table[i, :len(g)] = g
    within = (rng.random((n_resamples, len(groups), width))
              * lengths[chosen][:, :, None]).astype(int)
    return table[chosen[:, :, None], within].reshape(n_resamples, -1)


def _statistic_of(draws: np.ndarray, statistic=None) -> np.ndarray:
    if statistic is None:
        return np.quantile(draws, HEADLINE_QUANTILE, axis=1)
    return np.asarray(statistic(draws, axis=1), dtype=float)


def percentile_interval(draws: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile-bootstrap interval of ``draws`` at ``confidence`` (low, high)."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return float(low), float(high)


def two_level_bootstrap(groups: list[list[float]], statistic=None,
                        n_resamples: int = BOOTSTRAP_RESAMPLES, confidence: float = CONFIDENCE,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval (low, high) of ``statistic`` (default: the headline
    quantile) over samples nested in processes (``two_level_draws``); equal values give a
    zero-width interval."""
    return percentile_interval(two_level_draws(groups, statistic, n_resamples, seed),
                               confidence)


def iqr_pct(values) -> float | None:
    """Interquartile range over median, percent; None below 3 values."""
    values = np.asarray(values, dtype=float)
    if len(values) < 3:
        return None
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return float(100 * (q3 - q1) / median)


def headline(groups: list[list[float]], seed: int = 0) -> dict:
    """A row's time from its processes' samples (µs/step, one list per process).

    ``us_per_step``: p10 of the pooled samples with its two-level 95% interval;
    ``us_per_step_median``: their median; ``sample_spread_iqr_pct``: their IQR/median;
    ``process_us_per_step``: each process's own p10; ``half_width_pct``: the farther end of
    the interval from the headline, percent of it. Interval and half width are None for a
    single sample.
    """
    values = pooled(groups)
    value = p10(values)
    low = high = half_width = None  # one sample: no interval
    if len(values) > 1:
        low, high = two_level_bootstrap(groups, seed=seed)
        half_width = 100 * max(high / value - 1, 1 - low / value)
    return {"us_per_step": value, "us_per_step_ci_low": low, "us_per_step_ci_high": high,
            "us_per_step_median": float(np.median(values)),
            "sample_spread_iqr_pct": iqr_pct(values),
            "process_us_per_step": [p10(g) for g in groups if len(g)],
            "samples": int(len(values)), "half_width_pct": half_width}


def headline_ratio(row: list[list[float]], reference: list[list[float]], paired_rounds: bool,
                   n_resamples: int = BOOTSTRAP_RESAMPLES, confidence: float = CONFIDENCE,
                   seed: int = 0) -> tuple[float, float, float]:
    """``row``'s headline over ``reference``'s (the ratio of their p10s, so that "× torch
    loop" is the quotient of the two rows' headline times) with a 95% interval; (ratio,
    low, high).

    ``row`` and ``reference``: one list of samples per process, process i of each from the
    same process set (the same stretch of the run); processes that either side lacks are
    left out. The interval is the two-level bootstrap of ``two_level_draws`` applied to both
    rows at once: each resample draws the same processes for both, and with
    ``paired_rounds`` (the two rows were sampled in the same rounds, sample k of each in
    round k) the same rounds within them too, keeping only the rounds both have; without,
    the samples within a process are drawn for each row apart. Raises ValueError without a
    process that both have."""
    pairs = [(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
             for a, b in zip(row, reference) if len(a) and len(b)]
    if paired_rounds:
        pairs = [(a[:n], b[:n]) for a, b in pairs for n in [min(len(a), len(b))]]
    if not pairs:
        raise ValueError("a ratio needs a process that both rows have")
    value = p10(pooled([a for a, _ in pairs])) / p10(pooled([b for _, b in pairs]))
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(pairs), size=(n_resamples, len(pairs)))
    state = rng.bit_generator.state
    mine = _statistic_of(_resample([a for a, _ in pairs], chosen, rng))
    if paired_rounds:
        rng.bit_generator.state = state  # the same rounds for the reference
    theirs = _statistic_of(_resample([b for _, b in pairs], chosen, rng))
    return (value, *percentile_interval(mine / theirs, confidence))
