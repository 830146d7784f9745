"""A row's summary from its processes, computed once, by the writer, and read by everyone.

The headline time, its interval and the ratio to the torch-loop row (``summarize``), the
data-parallel rows' speedup over their single-process twins (``scaling``) and the fairness
flags of a run (``flag_differences``). The writer (benchmarks/plugin.py) fills every row's
``summary`` with ``summarize_all``; the readers (reports/) take the stored summary and never
recompute it. A row, a process and a summary here are results.model's records.
"""

from __future__ import annotations

import statistics

from results import estimate, numbers
from results.model import Process, Row, Summary

REFERENCE_VARIANT = "torch-loop"  # "× torch loop" is relative to the course's PyTorch loop

# A process is "starved" (benchmarks/accounting.py judges it, the diagnostics say it) when
# its threads spent this long waiting for a CPU per second of training (run-queue wait summed
# over its threads, /proc/<pid>/task/*/schedstat): on a quiet machine this stays under 0.05;
# with one busy loop per core it exceeds 0.5.
STARVED_WAIT_PER_S = 0.25
# ... while other processes kept at least this many cores busy (the machine's busy CPU time
# less the worker's own, per second of training): without that, the wait is the framework's
# own threads queueing for the CPUs they were given (pools with more threads than CPUs),
# not a busy machine.
STARVED_OTHERS_CORES = 0.25


def process_samples_us(process: Process) -> list[float]:
    """A process's samples in µs per step: its interleaved one-epoch samples
    (``samples_epoch_s``) or, in a process sampled alone (a data-parallel row, a file of
    format 2), its steady epochs."""
    epochs = process.samples_epoch_s or process.steady_epoch_s
    return [seconds / process.steps_per_epoch * 1e6 for seconds in epochs]


def process_us_per_step(process: Process) -> float:
    """A process's own headline: the p10 of its samples (``process_samples_us``), µs."""
    return estimate.p10(process_samples_us(process))


def bootstrap_median_ci(samples: list[float]) -> tuple[float | None, float | None]:
    """95% percentile-bootstrap interval of the median of ``samples``; (None, None) below 2.

    scipy.stats.bootstrap with ``BOOTSTRAP_RESAMPLES`` resamples and a fixed seed, so that
    one file always yields one interval. The percentile method, because BCa is undefined
    when all resamples agree (two processes with equal times).
    """
    if len(samples) < 2:
        return None, None
    import numpy as np  # here, not at the top: reading a summary needs neither
    from scipy import stats

    if max(samples) == min(samples):
        return samples[0], samples[0]
    result = stats.bootstrap((np.asarray(samples, dtype=float),), np.median,
                             n_resamples=estimate.BOOTSTRAP_RESAMPLES,
                             confidence_level=estimate.CONFIDENCE,
                             method="percentile", rng=np.random.default_rng(0))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def summarize(row: Row, reference: Row | None = None) -> Summary | None:
    """The row's headline numbers from its ok processes; None when none is ok.

    Time: ``estimate.headline`` of the processes' samples (the p10 of all of them, with a
    two-level bootstrap interval). ``reference`` is the torch-loop row of the same device and
    sizes (identity_key): the ratio is the quotient of the two headlines, its interval a
    two-level bootstrap that draws the same processes of both rows (process i of each) and,
    where the two were sampled in the same rounds (``sampled_with``), the same rounds
    (``ratio_method`` "p10-rounds"; else "p10-processes"): estimate.headline_ratio.
    """
    ok = row.ok_processes()
    if not ok:
        return None
    time = estimate.headline([process_samples_us(p) for p in ok])
    reasons = unstable_reasons(time, ok)
    first = ok[0]
    summary = Summary(
        processes_ok=len(ok), estimator=estimate.ESTIMATOR, us_per_step=time["us_per_step"],
        us_per_step_ci_low=time["us_per_step_ci_low"],
        us_per_step_ci_high=time["us_per_step_ci_high"],
        us_per_step_median=time["us_per_step_median"], samples=time["samples"],
        sample_spread_iqr_pct=time["sample_spread_iqr_pct"],
        process_us_per_step=time["process_us_per_step"],
        spread_iqr_pct=estimate.iqr_pct(time["process_us_per_step"]),
        unstable=bool(reasons), unstable_reasons=reasons,
        samples_per_s=first.n_train / (time["us_per_step"] * first.steps_per_epoch / 1e6),
        steady_epoch_s_median=time["us_per_step_median"] * first.steps_per_epoch / 1e6,
        first_epoch_s=first.first_epoch_s, first_epoch_cold=first.cold_cache,
        **_accuracy(ok), **_resources(ok))
    ratio = ratio_low = ratio_high = ratio_method = None
    if reference is not None and reference is not row:
        ratio, ratio_low, ratio_high, ratio_method = ratio_to(row, ok, reference)
    elif reference is row:
        ratio = 1.0
    summary.ratio_to_torch_loop, summary.ratio_ci_low = ratio, ratio_low
    summary.ratio_ci_high, summary.ratio_method = ratio_high, ratio_method
    if first.distributed:  # a data-parallel row or its twin; other processes have none
        _set(summary, replica_summary(ok))
    return summary


def _set(summary: Summary, fields: dict) -> None:
    """Set ``fields`` (names of Summary's) on ``summary``."""
    for name, value in fields.items():
        setattr(summary, name, value)


def _accuracy(ok: list[Process]) -> dict:
    """The summary's accuracy fields from the ok processes: each seed once, from the process
    that trained it first."""
    per_seed = list({s.seed: s for p in reversed(ok) for s in p.per_seed}.values())
    accuracies = [s.test_accuracy for s in per_seed]
    reached = [s.time_to_accuracy_s for s in per_seed if s.time_to_accuracy_s is not None]
    return dict(
        test_accuracy_mean=statistics.fmean(accuracies),
        test_accuracy_sd=statistics.stdev(accuracies) if len(accuracies) > 1 else None,
        n_seeds=len(per_seed),
        time_to_accuracy_s_median=statistics.median(reached) if reached else None,
        time_to_accuracy_reached_seeds=len(reached),
        target_accuracy=ok[0].target_accuracy, bayes_accuracy=ok[0].bayes_accuracy,
        final_loss_mean=_mean_or_none([s.final_loss for s in per_seed]))


def _resources(ok: list[Process]) -> dict:
    """The summary's memory (bytes), start-up times (s) and cores used: the median over the
    ok processes of those that recorded it."""
    def median_of(get):
        values = [v for v in (get(p) for p in ok) if v is not None]
        return statistics.median(values) if values else None

    peak = median_of(lambda p: p.memory.peak_rss_above_baseline_bytes)
    rss = median_of(lambda p: p.memory.rss_after_import_bytes)
    gpu = median_of(lambda p: p.memory.gpu_peak_bytes)
    return dict(
        peak_rss_above_baseline_bytes=None if peak is None else int(peak),
        rss_after_import_bytes=None if rss is None else int(rss),
        gpu_peak_bytes=None if gpu is None else int(gpu),
        import_s=statistics.median(p.import_s for p in ok),
        build_s=statistics.median(p.build_s for p in ok),
        cores_used=statistics.median(p.cpu.cores_used for p in ok))


def unstable_reasons(time: dict, ok: list[Process]) -> list[str]:
    """Why a row's headline is not pinned down (one sentence with its causes), or [].

    Unstable: an end of the headline's 95% interval lies farther from it than
    ``estimate.UNSTABLE_HALF_WIDTH_PCT``. The sentence names what widened it: the processes
    disagreeing, the samples within a process varying, too few samples, starved processes.
    A spread between processes alone does not make a row unstable when the interval is
    narrow anyway.
    """
    value, low, high = (time["us_per_step"], time["us_per_step_ci_low"],
                        time["us_per_step_ci_high"])
    if time["samples"] >= 2 and time["half_width_pct"] <= estimate.UNSTABLE_HALF_WIDTH_PCT:
        return []
    if time["samples"] < 2:
        return ["one sample only, so no interval: give more --rounds"]
    causes, pct = [], numbers.COLUMN_FIGURES["percent"]
    own = time["process_us_per_step"]
    if len(own) > 1:
        causes.append(f"the processes' own {estimate.ESTIMATOR} range from "
                      f"{numbers.number(min(own))} to {numbers.number(max(own))} µs/step "
                      f"({numbers.number(100 * (max(own) / min(own) - 1), pct)}% apart)")
    if time["sample_spread_iqr_pct"] is not None:
        causes.append(f"samples vary by {numbers.number(time['sample_spread_iqr_pct'], pct)}% "
                      "(IQR/median)")
    if time["samples"] < 10:
        causes.append(f"only {time['samples']} samples")
    starved = [p for p in ok if p.cpu.starved]
    if starved:
        # Numbered from 1, as the progress lines number them ("process 1 of 3").
        names = ", ".join(str(p.index + 1) for p in starved)
        causes.append(f"process{'es' if len(starved) > 1 else ''} {names} starved of CPU "
                      f"while training: {starved[0].cpu.starved_reason}")
    places = numbers.decimals(value, numbers.COLUMN_FIGURES["time"])
    return [f"{estimate.ESTIMATOR} {numbers.number(value)} µs/step is not pinned down: its "
            f"95% interval {numbers.interval(low, high, places)} reaches "
            f"{numbers.number(time['half_width_pct'], pct)}% from it (above "
            f"±{estimate.UNSTABLE_HALF_WIDTH_PCT:g}%); " + "; ".join(causes)]


def ratio_to(row: Row, ok: list[Process], reference: Row
             ) -> tuple[float | None, float | None, float | None, str | None]:
    """(ratio, ci_low, ci_high, method) of ``row``'s time to ``reference``'s (summarize)."""
    ref = {p.index: p for p in reference.ok_processes()}
    both = [p for p in ok if p.index in ref]
    if not both:
        return None, None, None, None
    mine = [process_samples_us(p) for p in both]
    theirs = [process_samples_us(ref[p.index]) for p in both]
    by_round = all(p.samples_epoch_s and ref[p.index].samples_epoch_s
                   and row.id in (ref[p.index].sampled_with or ()) for p in both)
    ratio, low, high = estimate.headline_ratio(mine, theirs, paired_rounds=by_round)
    return ratio, low, high, "p10-rounds" if by_round else "p10-processes"


def replica_summary(ok: list[Process]) -> dict:
    """A data-parallel row's (or its single-process twin's) own extra summary fields.

    Samples per second with its 95% bootstrap interval over processes (each process's
    training samples over its median steady epoch), the replicas and threads, and the
    largest weight gap from the single-process twin over the processes that measured one.
    """
    rates = [p.n_train / statistics.median(p.steady_epoch_s) for p in ok]
    low, high = bootstrap_median_ci(rates)
    gaps = [p.distributed.max_weight_gap_vs_single for p in ok
            if p.distributed.max_weight_gap_vs_single is not None]
    first = ok[0].distributed
    return {"replicas": first.replicas, "threads_per_process": first.threads_per_process,
            "total_threads": first.total_threads,
            "samples_per_s_ci_low": low, "samples_per_s_ci_high": high,
            "max_weight_gap_vs_single": max(gaps) if gaps else None}


def scaling(row: Row, single: Row) -> dict:
    """A data-parallel row against its single-process twin (same device, global batch and
    total threads): speedup and scaling efficiency, each with a 95% bootstrap interval.

    Per process index i (the two rows' processes ran next to each other): the speedup
    s_i = t_single_i / t_dp_i, with t the time per global step. ``speedup_vs_single`` is
    the median of the s_i; ``scaling_efficiency`` = speedup / N, the usual strong-scaling
    efficiency T_1 / (N x T_N) (e.g. Hennessy and Patterson's speedup over processors)
    with T_1 the single process at the same global batch: 1 would be N times faster than
    the single process. Null where no pair of processes is ok.
    """
    replicas = row.summary.replicas
    dp = {p.index: process_us_per_step(p) for p in row.ok_processes()}
    pairs = [process_us_per_step(p) / dp[p.index] for p in single.ok_processes()
             if p.index in dp]
    out = {"single_row": single.id,
           "single_us_per_step": single.summary.us_per_step if single.summary else None}
    if not pairs:
        return out | dict.fromkeys(("speedup_vs_single", "speedup_ci_low", "speedup_ci_high",
                                    "scaling_efficiency", "efficiency_ci_low",
                                    "efficiency_ci_high"))
    speedup = statistics.median(pairs)
    low, high = bootstrap_median_ci(pairs)
    return out | {"speedup_vs_single": speedup, "speedup_ci_low": low, "speedup_ci_high": high,
                  "scaling_efficiency": speedup / replicas,
                  "efficiency_ci_low": None if low is None else low / replicas,
                  "efficiency_ci_high": None if high is None else high / replicas}


def _mean_or_none(values: list) -> float | None:
    finite = [v for v in values if v is not None]  # a diverged loss is stored as None
    return statistics.fmean(finite) if finite else None


def identity_key(row: Row) -> tuple:
    """What two rows must share to be compared: device, batch size, width and training
    samples (a row without the last two, from before sweeps, has the plan's)."""
    return row.device, row.batch_size, row.get("hidden_size"), row.get("n_train")


def summarize_all(rows: list[Row], single_twins: dict[str, str]) -> None:
    """Fill every row's ``summary`` (in place), pairing each with its torch-loop row, and
    each data-parallel row with its single-process twin: ``single_twins`` maps a
    data-parallel variant to its twin's variant (the variant registry's, so that this module
    needs no registry of its own)."""
    reference = {identity_key(r): r for r in rows if r.variant == REFERENCE_VARIANT}
    for row in rows:
        row.summary = summarize(row, reference.get(identity_key(row)))
    singles = {(r.variant, *identity_key(r)): r for r in rows}
    for row in rows:
        single = singles.get((single_twins.get(row.variant), *identity_key(row)))
        if row.summary and single is not None and row.summary.replicas:
            _set(row.summary, scaling(row, single))


# -- fairness flags ---------------------------------------------------------------------------

# Settings that must be equal for two rows on one device to be compared fairly. Others
# (compile mode, versions, Keras backend) differ by design and are only recorded.
FAIRNESS_KEYS = (
    "convention",
    "adam_epsilon",
    "adam_epsilon_placement",
    "loss_clip",
    "precision",
    "intra_op_threads",
    "tf32",
    "tf32_matmul",
    "initial_weights",
)


# A data-parallel row and its single-process twin differ in threads per process by design
# (the twin is given all replicas' threads, so that both use as many threads in all): what
# they share is the total, which their settings record as this key and which is compared
# among them instead.
TOTAL_THREADS_KEY = "total_threads"


def flag_differences(settings_by_row: dict[str, dict]) -> list[str]:
    """One sentence per fairness setting that differs between rows on the same device.

    Rows whose settings hold ``TOTAL_THREADS_KEY`` (data-parallel rows and their twins) are
    compared on that total rather than on ``intra_op_threads``.
    """
    flags = []
    devices = sorted({s.get("device", "?") for s in settings_by_row.values()})
    for device in devices:
        rows = {r: s for r, s in settings_by_row.items() if s.get("device", "?") == device}
        for key in FAIRNESS_KEYS:
            values: dict[str, list[str]] = {}
            for row_id, settings in rows.items():
                if key == "intra_op_threads" and TOTAL_THREADS_KEY in settings:
                    continue
                if key in settings and settings[key] is not None:
                    values.setdefault(repr(settings[key]), []).append(row_id)
            if len(values) > 1:
                parts = "; ".join(f"{value} in {', '.join(ids)}" for value, ids in values.items())
                flags.append(f"{device}: rows differ in {key}: {parts}")
        totals: dict[str, list[str]] = {}
        for row_id, settings in rows.items():
            if TOTAL_THREADS_KEY in settings:
                totals.setdefault(repr(settings[TOTAL_THREADS_KEY]), []).append(row_id)
        if len(totals) > 1:
            parts = "; ".join(f"{value} in {', '.join(ids)}" for value, ids in totals.items())
            flags.append(f"{device}: data-parallel rows differ in {TOTAL_THREADS_KEY}: {parts}")
    return flags
