"""Resident workers (benchmarks/runner.py's ResidentWorker): trained once, then sampled one
epoch at a time on request; a worker that fails anywhere is one outcome, never a traceback."""

import sys
import textwrap

from benchmarks.options import Row, make_plan
from benchmarks.runner import ResidentWorker

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
    record = outcome.record()
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
