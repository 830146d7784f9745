"""The run's own result file (format 2, docs/result_format.md): its types, its summary, its writer.

Everything that reads a run (the terminal table, `reports`, the benchmark.json export) reads
the file this module writes; the summary of a row is computed here once.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import TypedDict

from results.atomic import write_text_atomic

# The format's name, version and history live in results/format.py, shared with the readers.
from results.format import RESULTS_FORMAT, RESULTS_FORMAT_VERSION  # noqa: F401

# A process is "starved" when its threads spent this long waiting for a CPU per second of
# training (run-queue wait summed over its threads, /proc/<pid>/task/*/schedstat): on a quiet
# machine this stays under 0.05; with one busy loop per core it exceeds 0.5.
STARVED_WAIT_PER_S = 0.25
# ... while other processes kept at least this many cores busy (the machine's busy CPU time
# less the worker's own, per second of training): without that, the wait is the framework's
# own threads queueing for the CPUs they were given (pools with more threads than CPUs),
# not a busy machine.
STARVED_OTHERS_CORES = 0.25
# The machine is "busy" when, over the second before the run, other work kept its CPUs this
# busy (psutil.cpu_percent over all cores; a quiet machine sits near 0, one busy loop on
# 2 cores gives 50). The load average is recorded but does not decide: it trails the last
# minute, so a run started right after another (an A/A comparison) would always count as busy.
BUSY_CPU_PCT = 25.0
# ... or when some task waited for a CPU more than this share of the last 10 s
# (/proc/pressure/cpu "some avg10", percent; near 0 on a quiet machine).
BUSY_CPU_PRESSURE_PCT = 20.0
# Bootstrap resamples for every interval: 95% percentile intervals of a median over at most
# a few dozen processes are stable to about 1% at 2000, and the cost stays bounded.
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
REFERENCE_VARIANT = "torch-loop"  # "× torch loop" is relative to the course's PyTorch loop


class Load(TypedDict, total=False):
    load1: float
    load5: float
    load15: float
    cpu_pressure_some_avg10: float | None
    cpu_busy_pct: float | None  # only where sampled (before the run): see BUSY_CPU_PCT


class Process(TypedDict, total=False):
    """One worker process, one sample; the keys are docs/result_format.md's ``Process``."""

    index: int
    status: str
    reason: str
    wall_s: float
    seeds: list[int]
    cold_cache: bool
    first_epoch_s: float
    steady_epoch_s: list[float]
    steps_per_epoch: int
    batch_size: int
    effective_batch_size: int
    n_train: int
    n_test: int
    hidden_size: int    # since issue 11: the width the process trained
    n_parameters: int   # since issue 11: counted from the built model's weights
    import_s: float
    build_s: float
    per_seed: list[dict]
    curves: list[dict]
    memory: dict
    load: dict
    cpu: dict
    threads: dict
    affinity: list[int] | None
    settings: dict
    overhead: dict | None
    distributed: dict  # only in a distributed row's process (issue 12)
    bayes_accuracy: float  # beyond the contract: the data's Bayes accuracy, for the summary
    target_accuracy: float  # beyond the contract: the time-to-accuracy target used


class Summary(TypedDict):
    processes_ok: int
    estimator: str  # since format 3: "p10" (results.estimate); absent: format 2's median
    us_per_step: float
    us_per_step_ci_low: float | None
    us_per_step_ci_high: float | None
    us_per_step_median: float  # since format 3: the median of the same samples
    samples: int  # since format 3: one-epoch samples over all ok processes
    sample_spread_iqr_pct: float | None  # since format 3: their IQR / median, percent
    process_us_per_step: list[float]
    spread_iqr_pct: float | None
    unstable: bool
    unstable_reasons: list[str]
    samples_per_s: float
    steady_epoch_s_median: float
    first_epoch_s: float
    first_epoch_cold: bool
    test_accuracy_mean: float
    test_accuracy_sd: float | None
    n_seeds: int
    time_to_accuracy_s_median: float | None
    time_to_accuracy_reached_seeds: int
    target_accuracy: float
    bayes_accuracy: float
    final_loss_mean: float | None  # None: every seed's loss diverged (non-finite)
    peak_rss_above_baseline_bytes: int | None
    rss_after_import_bytes: int | None
    gpu_peak_bytes: int | None
    import_s: float
    build_s: float
    cores_used: float
    ratio_to_torch_loop: float | None
    ratio_ci_low: float | None
    ratio_ci_high: float | None
    ratio_method: str | None  # since format 3: "rounds" or "processes" (summarize)
    # Only in the summary of a data-parallel row or its single-process twin (issue 12;
    # data_parallel_summary): replicas, threads_per_process, total_threads,
    # samples_per_s_ci_low/high, max_weight_gap_vs_single; a data-parallel row's also
    # single_row, single_us_per_step, speedup_vs_single (+ _ci_low/_ci_high) and
    # scaling_efficiency (+ _ci_low/_ci_high).


class RowRecord(TypedDict):
    id: str
    variant: str
    implementation: str
    mode: str
    device: str
    batch_size: int
    hidden_size: int  # SimpleNet's hidden width (16 but in a --sweep hidden=... run)
    n_train: int      # training samples (the plan's but in a --sweep n_train=... run)
    tag: str          # course, idiomatic or tuned (benchmarks.options.TAGS)
    tuned_note: str   # what a tuned (or distributed) row changes in the user's code, else ""
    status: str
    reason: str
    stderr_tail: str
    processes: list[Process]
    summary: Summary | None


def new_row(row, plan_n_train: int | None = None) -> RowRecord:
    """A planned row before anything ran (``row`` is a benchmarks.options.Row).

    ``n_train`` is the row's own (a sweep's point) or else ``plan_n_train``; left out when
    neither is known.
    """
    from benchmarks.options import DISTRIBUTED_NOTES, TAGS, TUNED_NOTES

    size = {} if (row.n_train or plan_n_train) is None else {
        "n_train": row.n_train or plan_n_train}
    return RowRecord(id=row.id, variant=row.variant, implementation=row.implementation,
                     mode=row.mode, device=row.device, batch_size=row.batch_size,
                     hidden_size=row.hidden_size, **size,
                     tag=TAGS[row.variant],
                     tuned_note=TUNED_NOTES.get(row.variant)
                     or DISTRIBUTED_NOTES.get(row.variant, ""),
                     status="not run", reason="the run ended before this row", stderr_tail="",
                     processes=[], summary=None)


def process_samples_us(process: Process) -> list[float]:
    """A process's samples in µs per step: its interleaved one-epoch samples
    (``samples_epoch_s``) or, in a process sampled alone (a data-parallel row, a file of
    format 2), its steady epochs."""
    epochs = process.get("samples_epoch_s") or process["steady_epoch_s"]
    return [seconds / process["steps_per_epoch"] * 1e6 for seconds in epochs]


def process_us_per_step(process: Process) -> float:
    """A process's own headline: the p10 of its samples (``process_samples_us``), µs."""
    from results import estimate

    return estimate.p10(process_samples_us(process))


def bootstrap_median_ci(samples: list[float]) -> tuple[float | None, float | None]:
    """95% percentile-bootstrap interval of the median of ``samples``; (None, None) below 2.

    scipy.stats.bootstrap with ``BOOTSTRAP_RESAMPLES`` resamples and a fixed seed, so that
    one file always yields one interval. The percentile method, because BCa is undefined
    when all resamples agree (two processes with equal times).
    """
    if len(samples) < 2:
        return None, None
    import numpy as np  # here, not at the top: the worker imports this module too
    from scipy import stats

    if max(samples) == min(samples):
        return samples[0], samples[0]
    result = stats.bootstrap((np.asarray(samples, dtype=float),), np.median,
                             n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=CONFIDENCE,
                             method="percentile", rng=np.random.default_rng(0))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def summarize(row: RowRecord, reference: RowRecord | None = None) -> Summary | None:
    """The row's headline numbers from its ok processes; None when none is ok.

    Time: ``estimate.headline`` of the processes' samples (the p10 of all of them, with a
    two-level bootstrap interval). ``reference`` is the torch-loop row of the same device and
    sizes (identity_key): where the two rows were sampled in the same rounds
    (``sampled_with``), each sample is paired with the reference's sample of the same round
    and the ratio is the median of those ratios (``ratio_method`` "rounds"); else process i
    is paired with the reference's process i, by their own p10 ("processes"). Either way
    with a two-level bootstrap interval.
    """
    from results import estimate

    ok = [p for p in row["processes"] if p["status"] == "ok"]
    if not ok:
        return None
    groups = [process_samples_us(p) for p in ok]
    time = estimate.headline(groups)
    reasons = unstable_reasons(time, ok)
    # Each seed once, from the process that trained it first.
    per_seed = list({s["seed"]: s for p in reversed(ok) for s in p["per_seed"]}.values())
    accuracies = [s["test_accuracy"] for s in per_seed]
    reached = [s["time_to_accuracy_s"] for s in per_seed if s["time_to_accuracy_s"] is not None]
    first = ok[0]
    steady_median = time["us_per_step_median"] * first["steps_per_epoch"] / 1e6

    def median_of(get):
        values = [v for v in (get(p) for p in ok) if v is not None]
        return statistics.median(values) if values else None

    peak = median_of(lambda p: p["memory"]["peak_rss_above_baseline_bytes"])
    rss = median_of(lambda p: p["memory"]["rss_after_import_bytes"])
    gpu = median_of(lambda p: p["memory"]["gpu_peak_bytes"])
    ratio = ratio_low = ratio_high = ratio_method = None
    if reference is not None and reference is not row:
        ratio, ratio_low, ratio_high, ratio_method = ratio_to(row, ok, reference)
    elif reference is row:
        ratio = 1.0
    summary = Summary(
        processes_ok=len(ok), estimator=estimate.ESTIMATOR, us_per_step=time["us_per_step"],
        us_per_step_ci_low=time["us_per_step_ci_low"],
        us_per_step_ci_high=time["us_per_step_ci_high"],
        us_per_step_median=time["us_per_step_median"], samples=time["samples"],
        sample_spread_iqr_pct=time["sample_spread_iqr_pct"],
        process_us_per_step=time["process_us_per_step"],
        spread_iqr_pct=estimate.iqr_pct(time["process_us_per_step"]),
        unstable=bool(reasons), unstable_reasons=reasons,
        samples_per_s=first["n_train"] / (time["us_per_step"] * first["steps_per_epoch"] / 1e6),
        steady_epoch_s_median=steady_median,
        first_epoch_s=first["first_epoch_s"], first_epoch_cold=first["cold_cache"],
        test_accuracy_mean=statistics.fmean(accuracies),
        test_accuracy_sd=statistics.stdev(accuracies) if len(accuracies) > 1 else None,
        n_seeds=len(per_seed),
        time_to_accuracy_s_median=statistics.median(reached) if reached else None,
        time_to_accuracy_reached_seeds=len(reached),
        target_accuracy=first["target_accuracy"], bayes_accuracy=first["bayes_accuracy"],
        final_loss_mean=_mean_or_none([s["final_loss"] for s in per_seed]),
        peak_rss_above_baseline_bytes=None if peak is None else int(peak),
        rss_after_import_bytes=None if rss is None else int(rss),
        gpu_peak_bytes=None if gpu is None else int(gpu),
        import_s=statistics.median(p["import_s"] for p in ok),
        build_s=statistics.median(p["build_s"] for p in ok),
        cores_used=statistics.median(p["cpu"]["cores_used"] for p in ok),
        ratio_to_torch_loop=ratio, ratio_ci_low=ratio_low, ratio_ci_high=ratio_high,
        ratio_method=ratio_method)
    if "distributed" in first:
        summary.update(replica_summary(ok))
    return summary


def unstable_reasons(time: dict, ok: list[Process]) -> list[str]:
    """Why a row's headline is not pinned down (one sentence with its causes), or [].

    Unstable: an end of the headline's 95% interval lies farther from it than
    ``estimate.UNSTABLE_HALF_WIDTH_PCT``. The sentence names what widened it: the processes
    disagreeing, the samples within a process varying, too few samples, starved processes.
    A spread between processes alone does not make a row unstable when the interval is
    narrow anyway.
    """
    from results import estimate

    value, low, high = (time["us_per_step"], time["us_per_step_ci_low"],
                        time["us_per_step_ci_high"])
    if time["samples"] >= 2 and time["half_width_pct"] <= estimate.UNSTABLE_HALF_WIDTH_PCT:
        return []
    if time["samples"] < 2:
        return ["one sample only, so no interval: give more --rounds"]
    causes = []
    own = time["process_us_per_step"]
    if len(own) > 1:
        causes.append(f"the processes' own {estimate.ESTIMATOR} range from {min(own):.1f} to "
                      f"{max(own):.1f} µs/step ({100 * (max(own) / min(own) - 1):.0f}% apart)")
    if time["sample_spread_iqr_pct"] is not None:
        causes.append(f"samples vary by {time['sample_spread_iqr_pct']:.0f}% (IQR/median)")
    if time["samples"] < 10:
        causes.append(f"only {time['samples']} samples")
    starved = [p for p in ok if p["cpu"]["starved"]]
    if starved:
        causes.append(f"process {', '.join(str(p['index']) for p in starved)} starved of CPU "
                      f"while training ({starved[0]['cpu']['starved_reason']})")
    return [f"{estimate.ESTIMATOR} {value:.1f} µs/step is not pinned down: its 95% interval "
            f"{low:.1f} to {high:.1f} reaches {time['half_width_pct']:.0f}% from it (above "
            f"±{estimate.UNSTABLE_HALF_WIDTH_PCT:g}%); " + "; ".join(causes)]


def ratio_to(row: RowRecord, ok: list[Process], reference: RowRecord
             ) -> tuple[float | None, float | None, float | None, str | None]:
    """(ratio, ci_low, ci_high, method) of ``row``'s time to ``reference``'s (summarize)."""
    from results import estimate

    ref = {p["index"]: p for p in reference["processes"] if p["status"] == "ok"}
    by_round = [estimate.paired_ratios([process_samples_us(p)],
                                       [process_samples_us(ref[p["index"]])])[0]
                for p in ok if p["index"] in ref and p.get("samples_epoch_s")
                and ref[p["index"]].get("samples_epoch_s")
                and row["id"] in (ref[p["index"]].get("sampled_with") or ())]
    by_round = [pairs for pairs in by_round if pairs]
    if by_round:
        return (*estimate.median_ratio(by_round), "rounds")
    pairs = [process_us_per_step(p) / process_us_per_step(ref[p["index"]])
             for p in ok if p["index"] in ref]
    if not pairs:
        return None, None, None, None
    low, high = bootstrap_median_ci(pairs)
    return statistics.median(pairs), low, high, "processes"


def replica_summary(ok: list[Process]) -> dict:
    """A data-parallel row's (or its single-process twin's) own extra summary fields.

    Samples per second with its 95% bootstrap interval over processes (each process's
    training samples over its median steady epoch), the replicas and threads, and the
    largest weight gap from the single-process twin over the processes that measured one.
    """
    rates = [p["n_train"] / statistics.median(p["steady_epoch_s"]) for p in ok]
    low, high = bootstrap_median_ci(rates)
    gaps = [p["distributed"]["max_weight_gap_vs_single"] for p in ok
            if p["distributed"]["max_weight_gap_vs_single"] is not None]
    first = ok[0]["distributed"]
    return {"replicas": first["replicas"], "threads_per_process": first["threads_per_process"],
            "total_threads": first["total_threads"],
            "samples_per_s_ci_low": low, "samples_per_s_ci_high": high,
            "max_weight_gap_vs_single": max(gaps) if gaps else None}


def scaling(row: RowRecord, single: RowRecord) -> dict:
    """A data-parallel row against its single-process twin (same device, global batch and
    total threads): speedup and scaling efficiency, each with a 95% bootstrap interval.

    Per process index i (the two rows' processes ran next to each other): the speedup
    s_i = t_single_i / t_dp_i, with t the time per global step. ``speedup_vs_single`` is
    the median of the s_i; ``scaling_efficiency`` = speedup / N, the usual strong-scaling
    efficiency T_1 / (N x T_N) (e.g. Hennessy and Patterson's speedup over processors)
    with T_1 the single process at the same global batch: 1 would be N times faster than
    the single process. Null where no pair of processes is ok.
    """
    replicas = row["summary"]["replicas"]
    dp = {p["index"]: process_us_per_step(p) for p in row["processes"] if p["status"] == "ok"}
    pairs = [process_us_per_step(p) / dp[p["index"]] for p in single["processes"]
             if p["status"] == "ok" and p["index"] in dp]
    out = {"single_row": single["id"],
           "single_us_per_step": single["summary"]["us_per_step"] if single["summary"]
           else None}
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


def identity_key(row: RowRecord) -> tuple:
    """What two rows must share to be compared: device, batch size, width and training
    samples (a row without the last two, from before issue 11, has the plan's)."""
    return row["device"], row["batch_size"], row.get("hidden_size"), row.get("n_train")


def summarize_all(rows: list[RowRecord]) -> None:
    """Fill every row's ``summary`` (in place), pairing each with its torch-loop row."""
    reference = {identity_key(r): r for r in rows if r["variant"] == REFERENCE_VARIANT}
    for row in rows:
        row["summary"] = summarize(row, reference.get(identity_key(row)))
    from benchmarks.options import SINGLE_TWINS

    singles = {(r["variant"], *identity_key(r)): r for r in rows}
    for row in rows:
        single = singles.get((SINGLE_TWINS.get(row["variant"]), *identity_key(row)))
        if row["summary"] and single is not None and "replicas" in row["summary"]:
            row["summary"].update(scaling(row, single))


def row_status(row: RowRecord, planned_processes: int) -> tuple[str, str]:
    """The row's status and reason from its processes (docs/result_format.md's rules)."""
    processes = row["processes"]
    if not processes:
        return row["status"], row["reason"]
    ok = [p for p in processes if p["status"] == "ok"]
    bad = [p for p in processes if p["status"] not in ("ok", "skipped")]
    if len(ok) == len(processes):
        missing = planned_processes - len(ok)
        return ("ok", "") if not missing else (
            "partial", f"{missing} of {planned_processes} processes not run")
    if ok:
        return "partial", (f"{len(bad)} of {len(processes)} processes failed: "
                           f"{bad[0]['reason'].splitlines()[0]}")
    if all(p["status"] == "skipped" for p in processes):
        return "skipped", processes[0]["reason"]
    return bad[0]["status"], bad[0]["reason"]


# -- the machine ------------------------------------------------------------------------------


def cpu_pressure_avg10() -> float | None:
    """/proc/pressure/cpu "some avg10": percent of the last 10 s some task waited for a CPU."""
    try:
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some"):
                return float(dict(f.split("=") for f in line.split()[1:])["avg10"])
    except (OSError, ValueError, KeyError):
        return None
    return None


def load_now(sample_s: float = 0.0) -> Load:
    """The load averages (os.getloadavg) and the CPU pressure, now; with ``sample_s`` > 0
    also how busy every CPU was over the next ``sample_s`` seconds (percent, psutil)."""
    load1, load5, load15 = os.getloadavg()
    load = Load(load1=load1, load5=load5, load15=load15,
                cpu_pressure_some_avg10=cpu_pressure_avg10())
    if sample_s > 0:
        import psutil

        load["cpu_busy_pct"] = psutil.cpu_percent(interval=sample_s)
    return load


def busy_reason(load: Load, cores: int | None = None) -> str | None:
    """Why the machine counts as busy (one phrase), or None when it is quiet."""
    cores = cores or os.cpu_count() or 1
    busy = load.get("cpu_busy_pct")
    if busy is not None and busy > BUSY_CPU_PCT:
        return (f"its {cores} CPUs were {busy:.0f}% busy in the second before the run "
                f"(above {BUSY_CPU_PCT:g}%; load average {load['load1']:.2f})")
    pressure = load["cpu_pressure_some_avg10"]
    if pressure is not None and pressure > BUSY_CPU_PRESSURE_PCT:
        return (f"tasks waited for a CPU {pressure:.0f}% of the last 10 s "
                f"(/proc/pressure/cpu, above {BUSY_CPU_PRESSURE_PCT:g}%)")
    return None


def _commit() -> dict:
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip() or None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10)
        return {"id": sha, "dirty": bool(dirty.stdout.strip()) if sha else None}
    except (OSError, subprocess.SubprocessError):
        return {"id": None, "dirty": None}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict:
    found = {}
    for name in ("torch", "tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib", "optax",
                 "numpy", "scipy", "pytest-benchmark"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def environment(command: list[str], load_before: Load) -> dict:
    """The run's ``environment`` section (its ``load_after`` is filled at the end)."""
    reason = busy_reason(load_before)
    return {
        "command": " ".join(command),
        "python": sys.version.split()[0],
        "os": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "commit": _commit(),
        "versions": _versions(),
        "load_before": load_before,
        "load_after": None,
        "busy_before": reason is not None,
        "busy_reason": reason,
    }


# -- the file ---------------------------------------------------------------------------------


class NonFiniteNumber(ValueError):
    """A result held NaN or infinity, which the format never stores."""


def dumps(run: dict) -> str:
    """The file's text; refuses NaN and infinity (allow_nan=False) with NonFiniteNumber."""
    try:
        return json.dumps(run, indent=1, allow_nan=False) + "\n"
    except ValueError as err:
        raise NonFiniteNumber(f"a non-finite number in the results ({err})") from None


def write_results(path: Path, run: dict) -> Path:
    """Write ``run`` to ``path`` atomically (a reader sees the old file or the new one)."""
    return write_text_atomic(path, dumps(run))


def without_non_finite(value):
    """``value`` with every NaN or infinite float (a diverged loss, say) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: without_non_finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_non_finite(v) for v in value]
    return value


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
# (issue 12): what they share is the total, which their settings record as this key and
# which is compared among them instead.
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
