"""Resident workers (benchmarks/resident.py's ResidentWorker): trained once, then sampled one
epoch at a time on request; a worker that fails anywhere is one outcome, never a traceback."""

import sys
import textwrap

from benchmarks.options import make_plan
from benchmarks.plan import Row
from benchmarks.resident import ResidentWorker

ROW = Row("numpy", "loop", "cpu", 256)


def fake_worker(tmp_path, body):
    script = tmp_path / "fake_worker.py"
    script.write_text(textwrap.dedent(body))
    return [sys.executable, str(script)]


def test_a_real_worker_trains_its_seeds_then_answers_each_sample_request(tmp_path):
    plan = make_plan("quick", epochs="3", seeds="0,1", n_train="1000", batch_size="256",
                     processes="1", rounds="4")
    worker = ResidentWorker(ROW, plan, 0, str(tmp_path), sampled_with=(ROW.id, "other"))
    try:
        assert worker.start(), worker.outcome.reason
        assert worker.alive
        seconds = [worker.sample(position) for position in (1, 0, 1)]
    finally:
        outcome = worker.finish()
    assert all(s is not None and s > 0 for s in seconds)
    assert outcome.status == "ok", outcome.reason
    record = outcome.record().to_dict()
    assert record["samples_epoch_s"] == seconds  # in the order they were asked for
    assert record["sample_round_position"] == [1, 0, 1]
    assert record["sampled_with"] == [ROW.id, "other"]
    # Training is as before: 3 epochs x 2 seeds, the first of them the first epoch; the
    # samples are not topped up into the steady epochs.
    assert len(record["curves"]) == 6 and len(record["steady_epoch_s"]) == 5
    assert [s["seed"] for s in record["per_seed"]] == [0, 1]
    assert record["memory"]["peak_rss_above_baseline_bytes"] >= 0
    assert not worker.alive and worker.sample(0) is None
    assert list(tmp_path.iterdir()) in ([], [tmp_path / "cache"])  # its scratch is gone


def test_a_worker_that_dies_while_sampled_fails_with_its_stderr(tmp_path):
    command = fake_worker(tmp_path, """
        import json, sys
        job = json.loads(sys.stdin.readline())
        print(json.dumps({"event": "ready"}), flush=True)
        sys.stdin.readline()
        sys.stderr.write("RuntimeError: died in the timed epoch\\n")
        sys.exit(3)
    """)
    worker = ResidentWorker(ROW, make_plan("quick"), 0, str(tmp_path), command=command)
    assert worker.start()
    assert worker.sample(0) is None and not worker.alive
    outcome = worker.finish()
    assert outcome.status == "failed"
    assert outcome.reason.startswith("worker exited with status 3: RuntimeError: died")


def test_a_worker_that_never_becomes_ready_times_out(tmp_path):
    command = fake_worker(tmp_path, """
        import sys, time
        sys.stdin.readline()
        time.sleep(60)
    """)
    worker = ResidentWorker(ROW, make_plan("quick", worker_timeout="1.5"), 0, str(tmp_path),
                            command=command)
    assert worker.start() is False
    outcome = worker.finish()
    assert outcome.status == "timeout"
    assert "longer than its time limit of 1.5 s to become ready" in outcome.reason


def test_a_row_that_cannot_run_here_is_skipped_with_the_reason(tmp_path):
    command = fake_worker(tmp_path, """
        import json, sys
        sys.stdin.readline()
        print(json.dumps({"event": "skip", "reason": "no such framework here"}), flush=True)
    """)
    worker = ResidentWorker(ROW, make_plan("quick"), 0, str(tmp_path), command=command)
    assert worker.start() is False
    outcome = worker.finish()
    assert (outcome.status, outcome.reason) == ("skipped", "no such framework here")


def _two_cpus():
    import os

    return hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2


def test_a_worker_started_on_other_cpus_moves_every_thread_to_its_sampling_cpus(tmp_path):
    import os

    import pytest

    if not _two_cpus():
        pytest.skip("needs two CPUs")
    plan = make_plan("quick", epochs="1", seeds="0", n_train="1000", batch_size="256",
                     processes="1", rounds="2")
    sampling = plan.cpus_for_worker()
    startup = [cpu for cpu in sorted(os.sched_getaffinity(0)) if cpu not in sampling][:1]
    worker = ResidentWorker(ROW, plan, 0, str(tmp_path))
    try:
        assert worker.launch(startup)
        assert worker.wait_ready() is True, worker.outcome.reason
        threads = os.listdir(f"/proc/{worker.proc.pid}/task")
        assert threads
        assert all(sorted(os.sched_getaffinity(int(tid))) == sampling for tid in threads)
        assert worker.sample(0) is not None
    finally:
        outcome = worker.finish()
    assert outcome.status == "ok", outcome.reason
    assert outcome.record().affinity == sampling


def test_wait_ready_in_slices_says_still_starting_then_ready(tmp_path):
    command = fake_worker(tmp_path, """
        import json, sys, time
        sys.stdin.readline()
        time.sleep(0.6)
        print(json.dumps({"event": "ready"}), flush=True)
        sys.stdin.readline()
    """)
    worker = ResidentWorker(ROW, make_plan("quick"), 0, str(tmp_path), command=command)
    try:
        assert worker.launch()
        assert worker.wait_ready(slice_s=0.05) is None  # still starting, not failed
        assert worker.outcome.status == "failed" and not worker.ended  # untouched
        states = []
        while not states or states[-1] is None:
            states.append(worker.wait_ready(slice_s=0.05))
        assert states[-1] is True and worker.alive
    finally:
        worker.kill()


class _Coordinator:
    """What Coordinator._start_workers uses of the coordinator: its plan, progress lines and
    counters."""

    def __init__(self, plan, total):
        self.plan, self._done_count, self._total, self.lines = plan, 0, total, []

    def _say(self, line):
        self.lines.append(line)

    def _note_memory(self):
        pass


def test_workers_start_side_by_side_each_on_cpus_of_its_own_in_plan_order(tmp_path,
                                                                          monkeypatch):
    import json
    import os

    from benchmarks.coordinator import Coordinator

    # Four CPUs, one thread per worker: slots of one CPU each, the sampling CPU (3) first.
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    plan = make_plan("quick", worker_timeout="20")
    assert plan.startup_cpu_slots(1) == [[3], [2], [1], [0]]
    log = tmp_path / "log"
    command = fake_worker(tmp_path, f"""
        import json, sys, time
        job = json.loads(sys.stdin.readline())
        start = time.time()
        time.sleep(0.8 if job["row"]["batch_size"] == 1 else 0.3)
        with open({str(log)!r}, "a") as fh:
            fh.write(json.dumps([job["row"]["batch_size"], start, time.time(),
                                 job.get("startup_cpus"), job["cpus"]]) + "\\n")
        print(json.dumps({{"event": "ready"}}), flush=True)
        sys.stdin.readline()
    """)
    rows = [Row("numpy", "loop", "cpu", size) for size in (1, 2, 3, 4, 5, 6)]
    workers = [ResidentWorker(row, plan, 0, str(tmp_path), command=command) for row in rows]
    coordinator = _Coordinator(plan, len(rows))
    try:
        Coordinator._start_workers(coordinator, workers, 0)
        assert all(worker.alive for worker in workers)
    finally:
        for worker in workers:
            worker.kill()
    spans = {size: (start, end, startup, cpus) for size, start, end, startup, cpus in
             (json.loads(line) for line in log.read_text().splitlines())}
    assert sorted(spans) == [1, 2, 3, 4, 5, 6]
    # The first four started before the first of them was ready: side by side.
    assert max(spans[s][0] for s in (1, 2, 3, 4)) < min(spans[s][1] for s in (1, 2, 3, 4))
    # Never more than four at once.
    for start, _, _, _ in spans.values():
        assert sum(s <= start < e for s, e, _, _ in spans.values()) <= 4
    # Each on a CPU of its own (the sampling CPU needs no move), all sampled on CPU 3.
    first_four = [spans[s][2] for s in (1, 2, 3, 4)]
    assert sorted(map(str, first_four)) == sorted(map(str, [None, [2], [1], [0]]))
    assert all(spans[s][3] == [3] for s in spans)
    # Progress lines: each worker announced in plan order, and its ready line names it.
    announced = [line.split()[1] for line in coordinator.lines if line.startswith("[")]
    assert announced == [row.id for row in rows]
    assert sum(" ready after " in line for line in coordinator.lines) == 6


def test_startup_slots_one_at_a_time_on_listed_cpus_and_unpinned(monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert make_plan("quick").startup_cpu_slots(1) == [[1], [0]]
    assert make_plan("quick", threads="2").startup_cpu_slots(2) == [[0, 1]]
    assert make_plan("quick", affinity="0").startup_cpu_slots(1) == [[0]]
    assert make_plan("quick", affinity="none").startup_cpu_slots(1) == [None]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert make_plan("quick", threads="3").startup_cpu_slots(3) == [
        [13, 14, 15], [10, 11, 12], [7, 8, 9], [4, 5, 6]]
