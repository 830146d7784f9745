"""The worker's steps (benchmarks/worker.py's measure, of worker_steps.py, timing.py and
accounting.py), each alone, on the numpy twin in this process: set up, build, train the
seeds, top up, account CPU and memory, data-parallel extras, and the whole pipeline's
record."""

import dataclasses
import json

import numpy as np
import pytest

from benchmarks import accounting, timing, worker
from benchmarks import worker_steps as steps
from benchmarks.options import make_plan
from benchmarks.plan import TARGET_GAP, Row
from benchmarks.results import STARVED_OTHERS_CORES, STARVED_WAIT_PER_S
from frameworks import IMPLEMENTATIONS, make_dataset
from frameworks.variants import VARIANTS

# The Process fields a worker writes for a resident row, in the order results.json has them.
RECORD_FIELDS = [
    "seeds", "first_epoch_s", "steady_epoch_s", "samples_epoch_s", "sample_round_position",
    "steps_per_epoch", "batch_size", "effective_batch_size", "n_train", "n_test",
    "hidden_size", "n_parameters", "import_s", "build_s", "per_seed", "curves",
    "bayes_accuracy", "target_accuracy", "memory", "load", "cpu", "threads", "affinity",
    "settings", "overhead", "equivalence"]


def job_for(row: Row, seeds=(0,), index: int = 1, **plan_options) -> dict:
    """A job as the runner sends it (runner._run). ``index`` 1: a later process, which makes
    no equivalence check (that check's child process is the runner tests' subject)."""
    plan = make_plan("quick", **{"batch_size": str(row.batch_size)} | plan_options)
    return {"row": dataclasses.asdict(row), "plan": plan.to_dict() | {"target_gap": TARGET_GAP},
            "index": index, "seeds": list(seeds), "cpus": None}


def events():
    heard = []
    return heard, lambda event, **fields: heard.append((event, fields))


def test_set_up_imports_the_framework_and_gives_it_its_threads():
    setup = steps.set_up(job_for(Row("numpy", "loop", "cpu", 64)))
    assert setup.variant.name == "numpy-loop" and setup.impl.name == "numpy"
    assert setup.import_s >= 0 and setup.slow == 1.0
    assert set(setup.threads) == {"intra_op_threads"}
    assert {"load1", "load5", "load15"} <= set(setup.load_before)


def test_set_up_skips_a_framework_that_is_not_installed(monkeypatch):
    missing = dataclasses.replace(IMPLEMENTATIONS["numpy"], requires=("no_such_module_here",),
                                  pip=("no-such-package",))
    monkeypatch.setitem(IMPLEMENTATIONS, "numpy", missing)
    with pytest.raises(steps.Skip, match="pip install no-such-package"):
        steps.set_up(job_for(Row("numpy", "loop", "cpu", 64)))


def test_set_up_skips_a_device_the_framework_lacks_and_raises_an_injected_crash(monkeypatch):
    with pytest.raises(steps.Skip, match="numpy runs on the CPU only"):
        steps.set_up(job_for(Row("numpy", "loop", "cuda", 64), device="cuda"))
    row = Row("numpy", "loop", "cpu", 64)
    monkeypatch.setenv(steps.FAULT_ENV, f"crash:{row.id}")
    with pytest.raises(RuntimeError, match="injected crash"):
        steps.set_up(job_for(row))
    monkeypatch.setenv(steps.FAULT_ENV, f"slow:{row.id}:3")
    assert steps.set_up(job_for(row)).slow == 3.0


def test_build_takes_a_sweep_rows_own_sizes_and_the_target_below_the_bayes_accuracy():
    row = Row("numpy", "loop", "cpu", 64, hidden_size=8, n_train=500)
    job = job_for(row, seeds=(3, 4), n_train="1000")
    built = steps.build(job, steps.set_up(job))
    spec = built.spec
    assert (spec.batch_size, spec.hidden_size, spec.n_train, spec.seed) == (64, 8, 500, 3)
    assert spec.n_test == job["plan"]["n_test"] and spec.epochs == job["plan"]["epochs"]
    assert built.target_accuracy == round(built.data.bayes_accuracy - TARGET_GAP, 6)
    assert built.equivalence is None  # a later process: the first one checked it
    assert sum(w.size for w in built.twin.get_weights()) == 10 * 8 + 8 + 8 + 1
    given = job_for(row, target_accuracy="0.75")
    assert steps.build(given, steps.set_up(given)).target_accuracy == 0.75


def _built(seeds=(0,), epochs="2", batch=250):
    job = job_for(Row("numpy", "loop", "cpu", batch), seeds=seeds, epochs=epochs,
                  n_train="1000")
    return job, steps.build(job, steps.set_up(job))


def test_train_seeds_times_every_epoch_and_keeps_the_last_seeds_data():
    job, built = _built(seeds=(0, 1), epochs="3")
    start = [w.copy() for w in built.twin.get_weights()]
    heard, emit = events()
    training = timing.train_seeds(built, [0, 1], 3, 1.0, emit, keep_first_weights=True)
    assert len(training.timed) == 6 and len(training.steady_epoch_s) == 5
    assert training.first_epoch_s == training.timed[0].seconds
    assert training.steady_epoch_s == [e.seconds for e in training.timed[1:]]
    assert [(c["seed"], c["epoch"]) for c in training.curves] == [
        (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]
    assert [s["seed"] for s in training.per_seed] == [0, 1]
    assert training.per_seed[1]["final_loss"] == training.curves[-1]["train_loss"]
    # the top-up and the samples go on with the last seed's epoch order
    assert training.next_epoch == 3
    assert np.array_equal(training.data.X_test, make_dataset(built.spec.replace(seed=1)).X_test)
    assert not np.array_equal(training.data.X_test, built.data.X_test)
    # the first seed's trained weights, for a data-parallel row's weight gap
    assert training.first_seed_weights is not None
    assert any(not np.array_equal(a, b) for a, b in zip(start, training.first_seed_weights))
    assert [e for e, _ in heard] == ["progress"] * 7
    assert heard[0][1]["stage"] == "first epoch" and heard[-1][1]["epoch"] == 3


def test_top_up_times_epochs_until_the_rounds_are_there():
    _, built = _built()
    training = timing.train_seeds(built, [0], 2, 1.0, lambda *a, **k: None)
    assert training.first_seed_weights is None and len(training.steady_epoch_s) == 1
    timing.top_up(built.twin, training, rounds=4, slow=1.0)
    assert len(training.steady_epoch_s) == 4 and len(training.timed) == 5
    assert training.next_epoch == 5
    timing.top_up(built.twin, training, rounds=2, slow=1.0)  # enough already: nothing more
    assert len(training.timed) == 5


def test_the_cpu_clock_counts_this_process_busy():
    clock = accounting.CpuClock.start()
    until = clock.wall_start_s + 0.05
    import time

    while time.perf_counter() < until:
        pass
    cpu = clock.stop()
    assert cpu.wall_s >= 0.05 and 0 < cpu.own_cpu_s <= cpu.wall_s * 1.5
    assert cpu.runqueue_wait_s is None or cpu.runqueue_wait_s >= 0


def _epoch(seconds, cpu_s, peak, start):
    return timing.Epoch(seconds, 0.5, cpu_s, peak, start)


WINDOW = accounting.MemoryWindow(gpu=None, rss_baseline_bytes=1_000, peak_is_per_phase=True)
CPU = accounting.CpuWindow(wall_s=2.0, own_cpu_s=1.0, runqueue_wait_s=0.1, machine_busy_s=1.5)


def test_own_usage_takes_the_epoch_whose_memory_grew_most():
    timed = [_epoch(0.5, 0.4, 100, 5_000), _epoch(0.5, 0.6, 300, 6_000),
             _epoch(1.0, 1.0, None, None)]
    usage = accounting.own_usage(timed, CPU, WINDOW, rss_after_import_bytes=4_000)
    assert (usage.train_cpu_s, usage.timed_wall_s, usage.cores_used) == (2.0, 2.0, 1.0)
    assert (usage.peak_rss_above_baseline_bytes, usage.rss_baseline_bytes) == (300, 6_000)
    assert usage.rss_after_import_bytes == 4_000 and usage.gpu_peak_bytes is None
    unmeasured = accounting.own_usage([_epoch(1.0, 0.5, None, None)], CPU, WINDOW, None)
    assert (unmeasured.peak_rss_above_baseline_bytes, unmeasured.rss_baseline_bytes) == (None,
                                                                                        1_000)


def test_sum_over_ranks_adds_every_process_and_counts_this_hosts_others_as_siblings(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("KERAS_DISTRIBUTION_PROCESS_ID", raising=False)
    usage = accounting.own_usage([_epoch(1.0, 0.5, 100, 5_000)], CPU, WINDOW, 4_000)
    host = accounting.socket.gethostname()
    sent = []

    def gather(value):
        sent.append(value)
        return [value, (4_500, 200, 0.7, None, host, 0.9), (4_600, 250, 0.8, None, "other", 2.0)]

    summed = accounting.sum_over_ranks(usage, own_cpu_s=1.0, gather=gather)
    assert sent == [(4_000, 100, 0.5, None, host, 1.0)]
    assert summed.rss_after_import_bytes == 4_000 + 4_500 + 4_600
    assert summed.peak_rss_above_baseline_bytes == 550
    assert summed.train_cpu_s == pytest.approx(2.0) and summed.cores_used == pytest.approx(2.0)
    assert summed.sibling_replicas_cpu_s == 0.9  # rank 1 here; rank 2 on another machine
    assert summed.memory_processes == 3 and summed.gpu_peak_bytes is None
    assert summed.rss_baseline_bytes == usage.rss_baseline_bytes
    unknown = accounting.sum_over_ranks(usage, 1.0, lambda v: [v, (None, 1, 1.0, None, host, 0.0)])
    assert unknown.rss_after_import_bytes is None  # a rank that could not measure: unknown


def test_starved_needs_a_wait_for_the_cpu_and_others_on_the_cores():
    def usage(wait_s, siblings=0.0):
        base = accounting.own_usage([_epoch(1.0, 1.0, None, None)], CPU, WINDOW, None)
        return dataclasses.replace(base, runqueue_wait_s=wait_s, sibling_replicas_cpu_s=siblings)

    long_wait = 2.0 * CPU.wall_s * STARVED_WAIT_PER_S
    busy = dataclasses.replace(CPU, machine_busy_s=CPU.own_cpu_s + 4.0 * CPU.wall_s
                               * STARVED_OTHERS_CORES + 0.1)
    starved = accounting.starved(usage(long_wait), busy)
    assert starved.starved_reason and "cores busy" in starved.starved_reason
    assert starved.others_cores > STARVED_OTHERS_CORES
    assert accounting.starved(usage(0.0), busy).starved_reason is None  # no wait: not starved
    # the machine's busy time is the row's own replicas': not starved
    siblings = busy.machine_busy_s - busy.own_cpu_s
    alone = accounting.starved(usage(long_wait, siblings), busy)
    assert alone.others_cores == 0.0 and alone.starved_reason is None
    unknown = accounting.starved(usage(long_wait), dataclasses.replace(CPU, machine_busy_s=None))
    assert unknown.others_cores is None and "used the CPUs" in unknown.starved_reason


def test_distributed_extras_for_a_single_process_twin_and_none_for_other_rows():
    _, built = _built()
    training = timing.train_seeds(built, [0], 2, 1.0, lambda *a, **k: None)
    job = job_for(Row("numpy", "loop", "cpu", 250), n_train="1000")
    setup = steps.set_up(job)
    usage = accounting.own_usage(training.timed, CPU, WINDOW, None)
    assert steps.distributed_extras(setup, built, training, usage) is None
    plan = make_plan("quick", impl="torch-ddp", threads="2", replicas="3")
    twin_setup = dataclasses.replace(setup, row=Row("torch", "ddp-single", "cpu", 250),
                                     plan=plan, variant=VARIANTS["torch-ddp-single"])
    extras = steps.distributed_extras(twin_setup, built, training, usage)
    assert extras == {"replicas": 1, "threads_per_process": 6, "total_threads": 6,
                      "memory_processes": 1, "max_weight_gap_vs_single": None}


def test_measure_writes_the_same_record_sampled_resident_or_topped_up():
    row = Row("numpy", "loop", "cpu", 250)
    heard, emit = events()
    commands = [json.dumps({"command": "sample", "position": p}) for p in (2, 0)]
    resident = worker.measure(job_for(row, n_train="1000") | {"resident": True}, emit,
                              commands + [json.dumps({"command": "stop"})])
    assert list(resident) == RECORD_FIELDS
    assert resident["sample_round_position"] == [2, 0] and len(resident["samples_epoch_s"]) == 2
    assert [e for e, _ in heard].count("ready") == 1 and [e for e, _ in heard][-2:] == [
        "sample", "sample"]
    assert len(resident["steady_epoch_s"]) == 1  # 2 epochs, the first the compile's
    assert resident["cpu"]["train_wall_s"] == pytest.approx(
        sum(resident["steady_epoch_s"]) + resident["first_epoch_s"]
        + sum(resident["samples_epoch_s"]))
    topped = worker.measure(job_for(row, n_train="1000", rounds="4"), lambda *a, **k: None)
    assert list(topped) == [f for f in RECORD_FIELDS if "sample" not in f]
    assert len(topped["steady_epoch_s"]) == 4
    assert topped["steps_per_epoch"] == 4 and topped["n_parameters"] == 193
    assert "distributed" not in topped


def test_a_worker_trains_each_seed_the_epochs_its_batch_size_needs():
    """With a step minimum (the default preset's rule, results/epochs.py) a large batch trains
    more epochs than the plan's count; the learning curve holds every one of them."""
    row = Row("numpy", "loop", "cpu", 250)
    job = job_for(row, n_train="1000")
    job["plan"] |= {"epochs": 2, "min_steps": 20}  # 4 steps an epoch: 5 epochs for 20 steps
    record = worker.measure(job, lambda *a, **k: None)
    assert record["steps_per_epoch"] == 4
    assert [point["epoch"] for point in record["curves"]] == [1, 2, 3, 4, 5]
    # every epoch after the first (the compile's), topped up to the plan's rounds
    assert len(record["steady_epoch_s"]) == max(5 - 1, job["plan"]["rounds"])
