"""The worker protocol: results, skips, crashes and hangs, each ending as one outcome."""

import sys
import textwrap

import pytest

from benchmarks.options import Row, make_plan
from benchmarks.results import summarize
from benchmarks.runner import run_row

ROW = Row("numpy", "loop", "cpu", 256)


def fake_worker(tmp_path, body):
    script = tmp_path / "fake_worker.py"
    script.write_text(textwrap.dedent(body))
    return [sys.executable, str(script)]


def test_real_worker_measures_a_numpy_row():
    plan = make_plan("quick", epochs="3", seeds="0,1", rounds="6", n_train="1000")
    progress = []
    outcome = run_row(ROW, plan, on_progress=lambda row, m: progress.append(m))
    assert outcome.status == "ok", outcome.reason
    result = outcome.result
    assert len(progress) == 6  # 3 epochs x 2 seeds
    # epochs after the very first are steady rounds (5), topped up to the 6 asked for
    assert len(result["steady_epoch_s"]) == 6
    assert result["first_epoch_s"] > 0 and min(result["steady_epoch_s"]) > 0
    assert [s["seed"] for s in result["seeds"]] == [0, 1]
    assert len(result["curves"]) == 6
    assert result["steps_per_epoch"] == 4
    assert result["memory"]["peak_rss_above_baseline_bytes"] >= 0
    assert result["settings"]["threads_requested"] == plan.threads
    summary = summarize(result)
    assert summary["us_per_step"] == pytest.approx(
        summary["steady_epoch_s_median"] / 4 * 1e6)
    assert summary["bayes_accuracy"] == 0.9


def test_cuda_row_without_a_gpu_is_skipped_with_the_reason():
    outcome = run_row(Row("torch", "loop", "cuda", 32), make_plan("quick"))
    assert outcome.status == "skipped"
    assert "no CUDA" in outcome.reason or "no NVIDIA GPU" in outcome.reason


def test_a_crashing_worker_fails_its_row_with_the_tail_of_its_stderr(tmp_path):
    command = fake_worker(tmp_path, """
        import sys
        print('{"event": "progress", "seed": 0, "epoch": 1, "epochs": 2}', flush=True)
        sys.stderr.write("loading...\\n" * 500 + "Segmentation fault in the framework\\n")
        sys.exit(139)
    """)
    outcome = run_row(ROW, make_plan("quick"), command=command)
    assert outcome.status == "failed"
    assert outcome.reason.startswith("worker exited with status 139: Segmentation fault in")
    assert "Segmentation fault in the framework" in outcome.reason
    assert len(outcome.reason) < 2500  # the tail, not the whole log
    assert len(outcome.progress) == 1  # what it said before dying is kept


def test_a_hanging_worker_is_stopped_at_its_time_limit(tmp_path):
    command = fake_worker(tmp_path, """
        import sys, time
        sys.stderr.write("stuck in a compiler\\n"); sys.stderr.flush()
        time.sleep(600)
    """)
    outcome = run_row(ROW, make_plan("quick", worker_timeout="2"), command=command)
    assert outcome.status == "timeout"
    assert "time limit of 2 s" in outcome.reason
    assert "stuck in a compiler" in outcome.reason
    assert outcome.wall_s < 30


def test_noise_on_the_protocol_stream_is_ignored(tmp_path):
    command = fake_worker(tmp_path, """
        print("a library printed this")
        print('{"event": "skip", "reason": "nothing to do"}')
    """)
    outcome = run_row(ROW, make_plan("quick"), command=command)
    assert (outcome.status, outcome.reason) == ("skipped", "nothing to do")


def test_worker_exiting_without_a_result_fails(tmp_path):
    command = fake_worker(tmp_path, "pass\n")
    outcome = run_row(ROW, make_plan("quick"), command=command)
    assert outcome.status == "failed"
    assert "status 0" in outcome.reason
