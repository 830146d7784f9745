"""The progress lines of `pytest --benchmark` (benchmarks/progress.py): plain sentences in the
reports' number style, worked out by hand."""

import re

import pytest

from benchmarks import progress
from benchmarks import results as res
from benchmarks.coordinator import Coordinator
from benchmarks.options import make_plan
from benchmarks.plan import Row
from results import numbers
from results.model import Summary

NS = "\u202f"  # results.numbers.THOUSANDS


@pytest.mark.parametrize("count, noun, expected", [
    (1, "row", "1 row"), (2, "row", "2 rows"), (0, "row", "0 rows"),
    (1, "process", "1 process"), (3, "process", "3 processes"),
    (1, "thread", "1 thread"), (1200, "step", f"1{NS}200 steps"), (2, "epoch", "2 epochs"),
    (2, "worker process", "2 worker processes"),
])
def test_a_count_agrees_with_its_noun_and_groups_its_digits(count, noun, expected):
    assert numbers.counted(count, noun) == expected


@pytest.mark.parametrize("seconds, expected", [
    (6.6, "7 s"), (89.4, "89 s"), (150.0, "2.5 min"), (720.0, "12 min"), (0.2, "0 s")])
def test_durations_are_whole_seconds_then_minutes_to_two_figures(seconds, expected):
    assert progress.duration(seconds) == expected


@pytest.mark.parametrize("seconds, expected", [
    (0.0, "almost done"), (0.4, "almost done"), (4.9, "almost done"),
    (5.0, "about 5 s left"), (150.0, "about 2.5 min left")])
def test_the_time_left_never_reads_about_0_s(seconds, expected):
    assert progress.left(seconds) == expected


def test_the_quick_presets_header_is_singular_where_it_is_one():
    line = progress.header(15, 1, "quick", "2", (0,), 1, "none", "/r/results.json")
    assert line == ("sidebyside: 15 rows, 1 process each (preset quick); 2 epochs per seed, "
                    "seed 0; 1 thread per worker, affinity none; results in /r/results.json")
    several = progress.header(16, 3, "default", "12 at batch 32, 120 at batch 1024", (0, 1, 2),
                              2, "auto", "r.json", " (part 1 of 2)")
    assert several.startswith("sidebyside: 16 rows (part 1 of 2), 3 processes each")
    assert "epochs per seed: 12 at batch 32, 120 at batch 1024, seeds 0, 1 and 2; " \
           "2 threads per worker" in several


def test_groups_say_rows_on_a_device_at_a_batch_and_why_a_comparison_was_split():
    quick = [Row("torch", "loop", "cpu", 1024, n_train=2048) for _ in range(15)]
    line = progress.groups([quick[:8], quick[8:]], 6.5)
    # a batch size's digits are grouped like every number in the reports
    assert line == (f"8 rows on cpu at batch 1{NS}024; 7 rows on cpu at batch 1{NS}024 (the "
                    "rows of one comparison split into groups that fit the memory budget of "
                    "6.50 GiB)")
    # groups that differ in width or training samples say so; two comparisons are no split
    wide = [Row("numpy", "loop", "cpu", 64, hidden_size=16, n_train=10000),
            Row("numpy", "loop", "cpu", 64, hidden_size=256, n_train=10000)]
    assert progress.groups([[wide[0]], [wide[1]]], 6.5) == \
        "1 row on cpu at batch 64, width 16; 1 row on cpu at batch 64, width 256"
    wider = [Row("numpy", "loop", "cpu", 64, hidden_size=4096, n_train=10000),
             Row("numpy", "loop", "cpu", 64, hidden_size=16, n_train=10000)]
    assert progress.groups([[wider[0]], [wider[1]]], 6.5) == \
        f"1 row on cpu at batch 64, width 4{NS}096; 1 row on cpu at batch 64, width 16"


def test_the_start_line_names_groups_only_where_rows_are_sampled_together():
    assert progress.start(2, "about 7 s (estimate)", "2 rows on cpu at batch 1024") == (
        "sidebyside: 2 worker processes, about 7 s (estimate); rows sampled together, in "
        "interleaved rounds: 2 rows on cpu at batch 1024")
    # data-parallel rows run their processes alone: no empty list after a colon
    assert progress.start(1, "about 30 s (estimate)", progress.groups([], 6.5)) == \
        "sidebyside: 1 worker process, about 30 s (estimate)"


def test_a_finished_process_is_one_sentence_without_nested_brackets():
    starved = ("its threads waited 0.57 s for a CPU per second of training, more than 0.25 s, "
               "while other processes kept 0.95 cores busy")
    line = progress.process_done("torch-loop-cpu-b1024", 0, 1, "ok", 6.2, 6.4, 695.5, starved)
    assert line == ("    torch-loop-cpu-b1024 process 1 of 1: ok in 6.20 s, p10 696 µs/step; "
                    f"starved of CPU: {starved}; about 6 s left")
    failed = progress.process_done("jax-scan-cpu-b32", 2, 3, "failed", 12.04, 300.0,
                                   reason="worker exited with status 1: MemoryError\nmore")
    assert failed == ("    jax-scan-cpu-b32 process 3 of 3: failed in 12.0 s: worker exited "
                      "with status 1: MemoryError; about 5.0 min left")
    last = progress.process_done("numpy-loop-cpu-b32", 0, 1, "ok", 1.5, 0.3, 68.1)
    assert last == ("    numpy-loop-cpu-b32 process 1 of 1: ok in 1.50 s, p10 68.1 µs/step; "
                    "almost done")


def test_a_seeds_accuracy_has_the_reports_decimals():
    line = progress.seed_trained(0, 2, 0.0012345, 0.48504)
    # a small time keeps its three significant figures
    assert line == "    seed 0 trained 2 epochs, the last in 0.00123 s; test accuracy 0.485"


def _summary(**changes) -> Summary:
    fields = dict(processes_ok=3, estimator="p10", us_per_step=14766.7,
                  us_per_step_ci_low=13944.1, us_per_step_ci_high=15589.4,
                  us_per_step_median=15012.0, first_epoch_s=0.01262, first_epoch_cold=True,
                  test_accuracy_mean=0.87654, test_accuracy_sd=0.01, n_seeds=3,
                  unstable=False, unstable_reasons=[])
    return Summary.from_dict(fields | changes)


def test_a_finished_row_reads_as_the_reports_write_its_numbers():
    line = progress.row_done("torch-loop-cpu-b32", _summary())
    assert line == (f"    torch-loop-cpu-b32 done: p10 14{NS}767 [13{NS}944, 15{NS}589] µs/step "
                    f"over 3 processes (median 15{NS}012), first epoch 0.0126 s, test accuracy "
                    "0.877 (mean of 3 seeds)")
    one = progress.row_done("numpy-loop-cpu-b1024", _summary(
        processes_ok=1, us_per_step=204.8, us_per_step_ci_low=202.8, us_per_step_ci_high=233.8,
        us_per_step_median=221.7, n_seeds=1))
    assert "p10 205 [203, 234] µs/step over 1 process (median 222)" in one
    assert one.endswith("test accuracy 0.877")


def test_the_coordinator_says_a_finished_rows_numbers_and_its_instability():
    lines = []
    coordinator = Coordinator(make_plan("quick"), {"rows": []}, [], "", say=lines.append,
                              save=lambda: None)
    reason = ("p10 695 µs/step is not pinned down: its 95% interval [627, 833] reaches 20% "
              "from it (above ±5%); only 5 samples")
    record = res.new_row(Row("torch", "loop", "cpu", 1024))
    record.summary = _summary(unstable=True, unstable_reasons=[reason])
    coordinator._row_finished(record)
    assert lines[0].startswith("    torch-loop-cpu-b1024 done: p10 14")
    assert lines[1] == (f"    UNSTABLE torch-loop-cpu-b1024: {reason}; to pin it down to ±5%: "
                        "more --rounds or --processes, or a quieter machine")
    for line in lines:
        assert not re.search(r"\d\.\d{4}\b(?! s)", line), line  # no four-decimal accuracy
        assert not re.search(r"\b1 (rows|processes|threads|seeds)\b", line), line


def test_the_coordinator_says_a_seeds_last_epoch_and_a_quiet_worker():
    lines = []
    coordinator = Coordinator(make_plan("quick"), {"rows": []}, [], "", say=lines.append,
                              save=lambda: None)
    coordinator._progress(None, 0, {"stage": "epoch", "epoch": 2, "epochs": 2, "seed": 0,
                                    "epoch_s": 0.061, "test_accuracy": 0.485})
    coordinator._progress(None, 0, {"stage": "epoch", "epoch": 1, "epochs": 2, "seed": 0,
                                    "epoch_s": 0.061, "test_accuracy": 0.485})  # not the last
    coordinator._progress(None, 0, {"stage": "quiet", "elapsed_s": 10.2})
    assert lines == ["    seed 0 trained 2 epochs, the last in 0.0610 s; test accuracy 0.485",
                     "    ... still working after 10 s (a first epoch that compiles takes a "
                     "while)"]
