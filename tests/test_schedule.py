"""Which rows are sampled together, in what order, and the memory they may hold
(benchmarks/schedule.py)."""

from collections import Counter

import pytest

from benchmarks import schedule
from benchmarks.options import make_plan
from benchmarks.plan import Row


def test_every_round_asks_every_worker_once_in_a_fresh_order():
    orders = schedule.round_orders(8, 200, seed=0)
    assert len(orders) == 200
    assert all(sorted(order) == list(range(8)) for order in orders)
    assert len({tuple(order) for order in orders}) > 150  # shuffled, not one fixed order
    # Every worker takes every place in a round: first after the wait, last, in between.
    places = Counter((worker, place) for order in orders for place, worker in enumerate(order))
    assert len(places) == 64 and min(places.values()) >= 10


def test_the_order_is_seeded_by_the_process_set():
    assert schedule.round_orders(5, 10, seed=1) == schedule.round_orders(5, 10, seed=1)
    assert schedule.round_orders(5, 10, seed=1) != schedule.round_orders(5, 10, seed=2)


def test_blocks_are_the_comparisons_device_and_sizes_in_plan_order():
    rows = make_plan("default", device="cpu").rows()
    blocks = schedule.blocks(rows)
    assert [(b[0].device, b[0].batch_size) for b in blocks] == [("cpu", 32), ("cpu", 1024)]
    assert all(len({(r.device, r.batch_size) for r in b}) == 1 for b in blocks)
    assert sum(len(b) for b in blocks) == len(rows) == 16


def test_the_default_block_fits_the_budget_in_one_part():
    block = schedule.blocks(make_plan("default", device="cpu").rows())[0]
    assert sum(schedule.worker_rss_bytes(r) for r in block) < schedule.MEMORY_BUDGET_BYTES
    assert schedule.split_block(block, schedule.MEMORY_BUDGET_BYTES) == [block]


def test_a_block_over_the_budget_is_split_with_torch_loop_in_the_first_part():
    block = [Row("numpy", "loop", "cpu", 32), Row("keras-jax", "fit", "cpu", 32),
             Row("torch", "loop", "cpu", 32), Row("keras-tensorflow", "fit", "cpu", 32)]
    budget = 1500 * 2**20
    parts = schedule.split_block(block, budget)
    assert len(parts) > 1
    assert sorted(r.id for p in parts for r in p) == sorted(r.id for r in block)
    assert "torch-loop" in [r.variant for r in parts[0]]
    assert all(sum(schedule.worker_rss_bytes(r) for r in p) <= budget for p in parts)
    for part in parts:  # each part keeps the block's order
        assert part == sorted(part, key=block.index)


def test_a_row_above_the_budget_alone_gets_a_part_of_its_own():
    block = [Row("torch", "loop", "cpu", 32), Row("keras-torch", "fit", "cpu", 32)]
    assert schedule.split_block(block, 100 * 2**20) == [[block[0]], [block[1]]]


def test_data_parallel_rows_are_not_resident():
    assert schedule.is_resident(Row("torch", "loop", "cpu", 32))
    assert not schedule.is_resident(Row("torch", "ddp", "cpu", 32))
    assert not schedule.is_resident(Row("torch", "ddp-single", "cpu", 32))


def test_the_resident_total_counts_this_process_at_least():
    assert schedule.resident_total_bytes() > 10 * 2**20


def test_the_startup_is_said_in_the_result_file_words():
    assert schedule.startup_text([[1], [0]]) == (
        "2 workers at a time, each on CPUs of its own (CPU 1; CPU 0) while it imports, builds "
        "and trains its seeds; each then moves to CPU 1 and is sampled there alone")
    assert schedule.startup_text([[0, 1]]) == "one worker at a time, on CPU 0+1"
    assert schedule.startup_text([None]) == "one worker at a time"


def test_the_estimate_shares_starts_and_training_among_workers_starting_at_once(monkeypatch):
    """Two workers starting at once halve the starts and the seeds' training, not the
    sampled rounds, which run one epoch at a time (Coordinator.estimate_s)."""
    from benchmarks import coordinator

    plan = make_plan("default", devices_here=("cpu",), impl="numpy")
    row = plan.rows()[0]
    us = coordinator.US_PER_STEP_BY_IMPLEMENTATION["numpy"][0 if row.batch_size <= 128 else 1]
    steps = -(-plan.n_train // row.batch_size)
    start = coordinator.START_S["numpy"] + plan.epochs_for(row) * steps * us / 1e6
    rounds = plan.rounds * steps * us / 1e6

    def estimate(slots):
        monkeypatch.setattr(type(plan), "startup_cpu_slots", lambda self, threads=None: slots)
        c = coordinator.Coordinator(plan, {}, [row], "/tmp", print, lambda: None)
        return c.estimate_s([row])

    processes = plan.processes
    assert estimate([[1]]) == pytest.approx(processes * (start + rounds))
    assert estimate([[1], [0]]) == pytest.approx(processes * (start / 2 + rounds))


def test_a_rows_first_process_pays_for_the_equivalence_check_with_a_second_start(monkeypatch):
    """The starts are means over a default run's three processes, one of which checked the
    twin in a child that starts as the worker does: a start without the check is 3/4 of
    the mean, the first process pays two. One process per row (the quick preset) then costs
    1.5 mean starts a row, three processes three, as measured."""
    from benchmarks import coordinator

    def starts_s(processes):
        plan = make_plan("default", devices_here=("cpu",), impl="torch-compile",
                         processes=str(processes), affinity="none")
        row = plan.rows()[0]
        # no training and no rounds: the starts alone
        monkeypatch.setitem(coordinator.US_PER_STEP_BY_IMPLEMENTATION, "torch", (0.0, 0.0))
        return coordinator.Coordinator(plan, {}, [row], "/tmp", print,
                                       lambda: None).estimate_s([row])

    mean_start = coordinator.START_S["torch"] + coordinator.EXTRA_FIRST_EPOCH_S["torch-compile"]
    assert mean_start == 20.5
    assert starts_s(1) == pytest.approx(1.5 * 20.5)  # 15.375 twice
    assert starts_s(3) == pytest.approx(3 * 20.5)  # 15.375 * 4: the measured mean, 3 times


@pytest.mark.parametrize("load, factor", [
    (None, 1.0),  # not measured
    ({"load1": 0.1, "cpu_pressure_some_avg10": 0.0}, 1.0),  # quiet
    ({"load1": 2.41, "cpu_pressure_some_avg10": 54.62}, 1.5462),  # the first quick run here
    ({"load1": 4.51, "cpu_pressure_some_avg10": 86.37}, 1.8637),  # the second
    ({"load1": 9.0, "cpu_pressure_some_avg10": None}, 1.0),  # no /proc/pressure: quiet figure
])
def test_a_busy_machine_stretches_the_estimate_by_the_share_of_time_tasks_waited(load, factor):
    from benchmarks.coordinator import busy_factor

    assert busy_factor(load) == pytest.approx(factor)


def test_the_estimate_says_the_quiet_figure_and_the_factor_on_a_busy_machine():
    from benchmarks import progress

    assert progress.estimate(150.0, 1.0) == "about 2.5 min (estimate)"
    assert progress.estimate(150.0, 1.08) == "about 2.5 min (estimate)"  # within the noise
    assert progress.estimate(275.0, 1.5462) == (
        "about 7.1 min at this load (estimate: 4.6 min on a quiet machine × 1.5, as tasks "
        "waited for a CPU 55% of the 10 s before the run)")


def test_the_eta_scales_the_estimate_left_by_the_pace_so_far():
    import time

    from benchmarks.coordinator import Coordinator

    c = Coordinator(make_plan("quick"), {"rows": []}, [], "", say=lambda line: None,
                    save=lambda: None)
    # A block of 8 of 48 processes ended together after 50 s, which the estimate gave 25 s
    # (a slow machine): the rest, estimated at 75 s, takes about 150 s, not 40 processes at
    # the first one's 50 s (the count's rule, which made a 5-minute run promise an hour).
    c._began, c._done_count, c._total = time.perf_counter() - 50, 1, 48
    c._estimated_s, c._credited_s = 100.0, 25.0
    assert c.eta_s() == pytest.approx(150, rel=0.02)
    c._credited_s = 0.0  # nothing estimated: the count of processes left, at the pace so far
    assert c.eta_s() == pytest.approx(50 * 47, rel=0.02)
