"""results.json (format 3): the row summary, its intervals and flags, the writer, the table."""

import json
import math
import re

import numpy as np
import pytest

from benchmarks import results as res
from benchmarks.export import benchmark_json
from benchmarks.plan import SINGLE_TWINS, Row
from benchmarks.table import side_by_side
from results import format as result_format
from results import model
from results import summary as summaries
from results.model import Run

STEPS = 10


def process(index, us_per_step, *, status="ok", seeds=(0,), accuracy=0.8, starved=False,
            cold=None, samples_us=None, sampled_with=None):
    """A worker process; ``samples_us`` (µs/step) makes it a resident worker's, with its
    interleaved samples, sampled in the same rounds as the rows ``sampled_with``."""
    epoch_s = us_per_step * STEPS / 1e6
    resident = {} if samples_us is None else {
        "samples_epoch_s": [us * STEPS / 1e6 for us in samples_us],
        "sample_round_position": [0] * len(samples_us),
        "sampled_with": list(sampled_with or [])}
    return resident | {
        "index": index, "status": status, "reason": "" if status == "ok" else "boom",
        "wall_s": 1.0, "seeds": list(seeds), "cold_cache": index == 0 if cold is None else cold,
        "first_epoch_s": 2 * epoch_s, "steady_epoch_s": [epoch_s * 0.99, epoch_s, epoch_s * 1.2],
        "steps_per_epoch": STEPS, "batch_size": 100, "effective_batch_size": 100,
        "n_train": 1000, "n_test": 100, "import_s": 1.0, "build_s": 0.1,
        "per_seed": [{"seed": s, "final_loss": 0.3, "test_loss": 0.3,
                      "test_accuracy": accuracy + s / 100, "time_to_accuracy_s": None}
                     for s in seeds],
        "curves": [], "bayes_accuracy": 0.9, "target_accuracy": 0.85,
        "memory": {"rss_after_import_bytes": 100, "rss_baseline_bytes": 200,
                   "peak_rss_above_baseline_bytes": 1000 + index, "peak_rss_scope": "train_epoch",
                   "gpu_peak_bytes": None, "gpu_peak_method": None},
        "cpu": {"train_cpu_s": 1.0, "train_wall_s": 1.0, "cores_used": 1.0,
                "runqueue_wait_s": 0.5 if starved else 0.0, "starved": starved,
                "starved_reason": "its threads waited 0.50 s for a CPU" if starved else None},
        "settings": {"device": "cpu", "convention": "matched"},
    }


def row(variant="numpy-loop", processes=(), batch=32):
    impl, mode = variant.rsplit("-", 1)
    record = res.new_row(Row(impl, mode, "cpu", batch))
    record.processes = [model.Process.from_dict(p) for p in processes]
    record.status, record.reason = res.row_status(record, len(processes) or 1)
    return record


def test_the_row_time_is_the_p10_of_every_sample_with_a_two_level_interval():
    rng = np.random.default_rng(0)
    # Additive, non-negative noise on 100 µs/step: a busy machine only ever adds time.
    groups = [list(100 + rng.exponential(30, 20)) for _ in range(3)]
    s = summaries.summarize(row(processes=[process(i, 100, samples_us=g)
                                           for i, g in enumerate(groups)]))
    pooled = np.concatenate(groups)
    assert s.estimator == "p10" and s.samples == 60
    assert s.us_per_step == pytest.approx(np.quantile(pooled, 0.1))
    assert s.us_per_step_median == pytest.approx(np.median(pooled))
    assert s.us_per_step_median > s.us_per_step + 10  # the median carries the noise
    assert s.us_per_step_ci_low <= s.us_per_step <= s.us_per_step_ci_high
    assert s.process_us_per_step == pytest.approx([np.quantile(g, 0.1) for g in groups])
    assert s.spread_iqr_pct is not None and s.processes_ok == 3


def test_the_summary_is_reproducible():
    record = row(processes=[process(i, us) for i, us in enumerate([100, 130, 98, 111])])
    assert summaries.summarize(record) == summaries.summarize(record)


def test_one_process_has_an_interval_from_its_own_samples_but_no_spread_over_processes():
    s = summaries.summarize(row(processes=[process(0, 100, samples_us=[100, 101, 99, 103, 100])]))
    assert s.us_per_step_ci_low <= s.us_per_step <= s.us_per_step_ci_high
    assert s.spread_iqr_pct is None  # fewer than 3 processes
    assert s.test_accuracy_sd is None  # one seed


def test_one_sample_has_no_interval_and_is_unstable_for_it():
    s = summaries.summarize(row(processes=[process(0, 100, samples_us=[100])]))
    assert s.us_per_step == pytest.approx(100)
    assert s.us_per_step_ci_low is None and s.us_per_step_ci_high is None
    assert s.unstable is True and "one sample only" in s.unstable_reasons[0]


def test_a_wide_interval_marks_the_row_unstable_and_names_the_process_spread():
    processes = [process(i, us, samples_us=[us, us * 1.01, us * 1.02, us * 1.1])
                 for i, us in enumerate([100, 150, 70])]
    s = summaries.summarize(row(processes=processes))
    assert s.unstable is True
    (reason,) = s.unstable_reasons
    assert "is not pinned down: its 95% interval [" in reason and "above ±5%" in reason
    # in the reports' number style: three figures, the interval at the headline's decimals
    assert "the processes' own p10 range from 70.2 to 150 µs/step (114% apart)" in reason
    assert re.search(r"p10 \d+\.\d µs/step is not pinned down: its 95% interval "
                     r"\[\d+\.\d, \d+\.\d\] reaches \d+% from it", reason), reason


def test_processes_that_differ_no_longer_make_a_row_unstable_when_its_p10_is_pinned_down():
    # 20 processes alternating between 100 and 112 µs/step (12% apart: format 2's IQR rule
    # called that unstable); the low ones hold the p10 at 100 in every resample.
    processes = [process(i, 100, samples_us=[(100 if i % 2 else 112) + k / 10 for k in
                                             range(10)]) for i in range(20)]
    s = summaries.summarize(row(processes=processes))
    assert s.spread_iqr_pct > 10
    assert s.unstable is False and s.unstable_reasons == []
    assert s.us_per_step == pytest.approx(100.5, abs=1)


def test_a_starved_process_is_named_when_the_row_is_unstable_but_alone_does_not_mark_it():
    steady = [process(0, 100), process(1, 100, starved=True), process(2, 100)]
    assert summaries.summarize(row(processes=steady)).unstable is False
    wide = [process(0, 100), process(1, 200, starved=True), process(2, 60)]
    (reason,) = summaries.summarize(row(processes=wide)).unstable_reasons
    # numbered from 1 (index 1 is the second process), the reason after a colon: no nesting
    assert "process 2 starved of CPU while training: its threads waited 0.50 s for a CPU" \
        in reason


def test_the_ratio_to_torch_loop_pairs_processes_by_index():
    torch = row("torch-loop", [process(i, us) for i, us in enumerate([100, 200, 100])])
    other = row("numpy-loop", [process(i, us) for i, us in enumerate([50, 100, 50])])
    summaries.summarize_all([torch, other], SINGLE_TWINS)
    s = other.summary
    # Each pair is 0.5, though the processes' own times differ by 2x: drawn together, the
    # slow process of each row moves both, and only the spread of the epochs within a
    # process (0.99 to 1.2 of its time) widens the interval.
    assert s.ratio_to_torch_loop == pytest.approx(0.5)
    assert 0.5 * 0.99 / 1.2 <= s.ratio_ci_low <= 0.5 <= s.ratio_ci_high <= 0.5 * 1.2 / 0.99
    assert torch.summary.ratio_to_torch_loop == 1.0
    assert s.ratio_method == "p10-processes"  # no interleaved samples: paired by process


def test_the_ratio_to_torch_loop_pairs_samples_taken_in_the_same_round():
    rng = np.random.default_rng(1)
    ids = ["torch-loop-cpu-b32", "numpy-loop-cpu-b32"]
    # The machine's noise of each round falls on both rows alike: the paired ratios are
    # exactly 0.5, though the samples themselves vary by a factor of 3.
    rounds = [list(100 * (1 + 2 * rng.random(15))) for _ in range(3)]
    torch = row("torch-loop", [process(i, 100, samples_us=r, sampled_with=ids)
                               for i, r in enumerate(rounds)])
    other = row("numpy-loop", [process(i, 50, samples_us=[x / 2 for x in r], sampled_with=ids)
                               for i, r in enumerate(rounds)])
    summaries.summarize_all([torch, other], SINGLE_TWINS)
    s = other.summary
    assert s.ratio_method == "p10-rounds"
    assert s.ratio_to_torch_loop == pytest.approx(0.5)
    assert s.ratio_ci_low == pytest.approx(0.5) and s.ratio_ci_high == pytest.approx(0.5)
    # Not sampled in the same rounds (another part of a split block): paired by process.
    apart = row("numpy-loop", [process(i, 50, samples_us=[x / 2 for x in r],
                                       sampled_with=ids[1:]) for i, r in enumerate(rounds)])
    torch_apart = row("torch-loop", [process(i, 100, samples_us=r, sampled_with=ids[:1])
                                     for i, r in enumerate(rounds)])
    summaries.summarize_all([torch_apart, apart], SINGLE_TWINS)
    assert apart.summary.ratio_method == "p10-processes"


def test_seeds_count_once_and_accuracy_spreads_over_them():
    processes = [process(0, 100, seeds=(0, 2)), process(1, 100, seeds=(1,)),
                 process(2, 100, seeds=(0,))]  # more processes than seeds: 0 again
    s = summaries.summarize(row(processes=processes))
    assert s.n_seeds == 3
    assert s.test_accuracy_mean == pytest.approx(0.81)
    assert s.test_accuracy_sd == pytest.approx(0.01)


def test_first_epoch_comes_from_the_first_cold_process():
    s = summaries.summarize(row(processes=[process(0, 100), process(1, 300)]))
    assert s.first_epoch_s == pytest.approx(2 * 100 * STEPS / 1e6)
    assert s.first_epoch_cold is True


def test_a_row_with_some_failed_processes_is_partial_and_summarized_from_the_rest():
    record = row(processes=[process(0, 100), process(1, 100, status="failed")])
    assert record.status == "partial"
    assert "1 of 2 processes failed: boom" == record.reason
    assert summaries.summarize(record).processes_ok == 1
    assert summaries.summarize(row(processes=[process(0, 1, status="failed")])) is None


def test_the_writer_refuses_non_finite_numbers(tmp_path):
    with pytest.raises(result_format.NonFiniteNumber):
        result_format.dumps({"x": math.nan})
    path = res.write_results(tmp_path / "results.json", Run(cost_wall_s=1.5))
    assert json.loads(path.read_text()) == {"cost_wall_s": 1.5}


def test_a_busy_machine_is_recognised_from_its_load():
    quiet = {"load1": 0.1, "load5": 0.1, "load15": 0.1, "cpu_pressure_some_avg10": 0.0}
    assert res.busy_reason(quiet, cores=2) is None
    # the trailing load average of a run that just ended does not count; busy CPUs do
    assert res.busy_reason(quiet | {"load1": 3.9, "cpu_busy_pct": 3.0}, cores=2) is None
    busy = quiet | {"load1": 3.9, "cpu_busy_pct": 55.0}
    assert "its 2 CPUs were 55% busy in the second before the run" in res.busy_reason(busy,
                                                                                     cores=2)
    # in the reports' number style: two figures of a percentage, three of a load
    assert "were 55% busy in the second before the run (above 25%; load average 3.86)" in \
        res.busy_reason(busy | {"cpu_busy_pct": 55.4, "load1": 3.857}, cores=2)
    waiting = quiet | {"cpu_pressure_some_avg10": 45.0}
    assert "tasks waited for a CPU 45% of the last 10 s" in res.busy_reason(waiting, cores=2)


def run_of(records):
    """A run of the rows ``records``, summarized (as the file holds it)."""
    summaries.summarize_all(records, SINGLE_TWINS)
    return {"format": result_format.RESULTS_FORMAT,
            "format_version": result_format.RESULTS_FORMAT_VERSION,
            "started": "2026-11-29T18:00:00+00:00", "finished": None,
            "rows": [record.to_dict() for record in records],
            "environment": {"machine": "x86_64", "python": "3.11", "os": "Linux",
                            "cpu_model": "cpu", "cpu_cores": 2,
                            "commit": {"id": "abc", "dirty": False}}}


def test_the_table_shows_the_missing_mark_for_one_sample_and_one_seed_and_names_the_estimator():
    run = run_of([row(processes=[process(0, 100, samples_us=[100])]), row("torch-loop")])
    lines = side_by_side(Run.from_dict(run))
    assert "µs/step p10" in lines[0]
    # no row has an interval (one sample) or a ratio (no torch loop measured): those columns
    # say nothing and are left out, with their legend
    assert "95% CI" not in lines[0] and "× torch loop" not in "\n".join(lines)
    assert lines[2] == "cpu, batch 32:"  # the block's heading; its rows by variant
    assert any("µs/step p10: the 10th percentile" in line for line in lines)  # said once
    assert not any("p10: p10" in line for line in lines)
    assert not re.search(r"\bus\b|\bx torch", "\n".join(lines))
    numpy_line = next(line for line in lines if line.startswith("numpy-loop "))
    assert "± —" in numpy_line  # no SD
    assert "0.0000" not in numpy_line
    assert any("—: no value, e.g. the interval of a single sample, the SD of one seed" in line
               for line in lines)  # the mark is explained, as the estimator makes it
    assert next(line for line in lines if line.startswith("torch-loop ")).split()[1] \
        == "not"  # "not run"


def test_the_table_marks_unstable_rows_and_gives_the_reason():
    run = run_of([row(processes=[process(i, us) for i, us in enumerate([100, 150, 70])])])
    lines = side_by_side(Run.from_dict(run))
    assert max(len(line) for line in lines[:4]) <= 120
    assert lines[3].startswith("numpy-loop ") and lines[3].endswith("UNSTABLE")
    assert any(line.startswith("numpy-loop-cpu-b32 unstable: p10") for line in lines)
    # the legend too fits the table's width, wrapped between words
    legend = lines[next(i for i, line in enumerate(lines) if line.startswith("(Bayes")):]
    assert len(legend) > 1 and max(len(line) for line in legend) <= 120
    assert " ".join(legend).startswith("(Bayes accuracy of the data") \
        and " ".join(legend).rstrip().endswith(")")


def test_the_export_has_one_round_per_ok_process_in_pytest_benchmarks_layout():
    run = run_of([row(processes=[process(0, 100), process(1, 120), process(2, 1, status="failed")]),
                  row("torch-loop")])
    data = benchmark_json(Run.from_dict(run))
    (bench,) = data["benchmarks"]
    assert bench["name"] == "test_train[numpy-loop-cpu-b32]"
    assert bench["stats"]["rounds"] == 2
    assert bench["stats"]["data"] == pytest.approx([100 * STEPS / 1e6, 120 * STEPS / 1e6])
    assert bench["stats"]["median"] == pytest.approx(110 * STEPS / 1e6)
    assert {"machine_info", "commit_info", "datetime", "version"} <= set(data)
