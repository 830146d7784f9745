"""`pytest --benchmark` end to end, in a subprocess, as a user runs it."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from benchmarks.options import VARIANTS, make_plan
from benchmarks.worker import FAULT_ENV
from tests.helpers import ROOT, framework_env


def run_pytest(args, tmp_path, **env):
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=600,
                          env=framework_env(KERAS_HOME=str(tmp_path / "keras"), **env))


def the_json(report_dir):
    (path,) = list(report_dir.glob("*/benchmark.json"))
    return json.loads(path.read_text()), path


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quick")
    result = run_pytest(["--benchmark", "--preset", "quick", f"--report-dir={tmp}"], tmp)
    return result, tmp


def test_quick_preset_passes_and_measures_every_row(quick_run):
    result, report_dir = quick_run
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    data, _ = the_json(report_dir)
    planned = {row.id for row in make_plan("quick").rows()}
    # every CPU variant (CUDA graphs have no CPU row); Keras refuses fit-spe on torch
    assert planned == {f"{v}-cpu-b1024" for v in VARIANTS if v != "torch-compile-step-cudagraphs"}
    refused = {"keras-torch-fit-spe-cpu-b1024"}
    expected = planned - refused
    assert {b["extra_info"]["row"] for b in data["benchmarks"]} == expected
    assert {b["param"] for b in data["benchmarks"]} == expected
    rows = data["sidebyside"]["rows"]
    assert {r["id"] for r in rows} == planned
    assert all(r["status"] == "ok" for r in rows if r["id"] in expected)
    assert all(r["status"] == "skipped" and "steps_per_execution" in r["reason"]
               for r in rows if r["id"] in refused)
    assert data["sidebyside"]["format_version"] == 1
    assert data["sidebyside"]["flags"] == []


def test_every_row_has_its_numbers_filled(quick_run):
    data, _ = the_json(quick_run[1])
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        for key in ("us_per_step", "samples_per_s", "first_epoch_s", "steady_epoch_s_median",
                    "steady_epoch_s_iqr", "test_accuracy_mean", "test_accuracy_sd",
                    "final_loss_mean", "bayes_accuracy", "target_accuracy",
                    "rss_after_import_bytes", "peak_rss_above_baseline_bytes", "import_s",
                    "build_s"):
            assert info[key] is not None, (bench["param"], key)
        assert info["us_per_step"] > 0 and 0 <= info["test_accuracy_mean"] <= 1
        assert "time_to_accuracy_s_median" in info
        assert len(info["learning_curves"]) == 2  # 2 epochs x 1 seed
        settings = info["settings"]
        for key in ("framework_version", "convention", "adam_epsilon",
                    "adam_epsilon_placement", "compile", "precision", "device"):
            assert settings[key] is not None, (bench["param"], key)
        assert len(bench["stats"]["data"]) == info["steady_rounds"] >= 2
        assert bench["stats"]["median"] == pytest.approx(info["steady_epoch_s_median"])


def test_terminal_shows_progress_and_the_side_by_side_table(quick_run):
    out = quick_run[0].stdout
    assert f"[1/{len(make_plan('quick').rows())}] torch-loop-cpu-b1024" in out
    assert "sidebyside" in out and "us/step" in out and "Bayes accuracy" in out


def test_pytest_benchmark_compare_reads_the_results(quick_run):
    _, path = the_json(quick_run[1])
    compare = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(path)],
                             capture_output=True, text=True, timeout=120)
    assert compare.returncode == 0, compare.stderr
    assert "test_train[keras-jax-fit-cpu-b1024]" in compare.stdout


def test_a_crashing_framework_loses_no_other_rows(tmp_path):
    result = run_pytest(["--benchmark", "--preset", "quick", "--impl", "torch-loop,numpy",
                         f"--report-dir={tmp_path}"], tmp_path,
                        **{FAULT_ENV: "crash:torch-loop-cpu-b1024"})
    assert result.returncode == 1  # a failed row fails the run...
    data, _ = the_json(tmp_path)  # ...and the rest is still saved
    rows = {r["id"]: r for r in data["sidebyside"]["rows"]}
    assert rows["torch-loop-cpu-b1024"]["status"] == "failed"
    assert "injected crash" in rows["torch-loop-cpu-b1024"]["reason"]
    assert rows["numpy-loop-cpu-b1024"]["status"] == "ok"
    assert [b["param"] for b in data["benchmarks"]] == ["numpy-loop-cpu-b1024"]


def test_ctrl_c_saves_what_was_measured(tmp_path):
    args = [sys.executable, "-m", "pytest", "--benchmark", "--preset", "quick",
            "--impl", "numpy,torch-loop,keras-jax-fit", f"--report-dir={tmp_path}"]
    env = framework_env(KERAS_HOME=str(tmp_path / "keras"),
                        **{FAULT_ENV: "hang:keras-jax-fit-cpu-b1024"})
    proc = subprocess.Popen(args, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    seen = ""
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        seen += line
        if "[2/3] keras-jax-fit-cpu-b1024" in line:
            time.sleep(8)  # inside the hanging worker now (it imports keras first)
            proc.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline, seen
    seen += proc.communicate(timeout=120)[0]
    assert proc.returncode == 2, seen[-3000:]
    data, _ = the_json(tmp_path)
    rows = {r["id"]: r["status"] for r in data["sidebyside"]["rows"]}
    assert rows == {"torch-loop-cpu-b1024": "ok", "keras-jax-fit-cpu-b1024": "not run",
                    "numpy-loop-cpu-b1024": "not run"}
    assert [b["param"] for b in data["benchmarks"]] == ["torch-loop-cpu-b1024"]
    assert not list(tmp_path.glob("*/.*.tmp"))  # no half-written file left behind


def test_a_usage_error_is_one_sentence_and_a_nonzero_exit(tmp_path):
    result = run_pytest(["--benchmark", "--impl", "kears"], tmp_path)
    assert result.returncode == 4
    assert "--impl: unknown name 'kears'; choose from: torch" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_plain_pytest_does_not_collect_the_benchmarks(tmp_path):
    result = run_pytest(["--collect-only", "-q"], tmp_path)
    assert result.returncode == 0
    assert "bench_training.py" not in result.stdout and "tests/test_spec.py" in result.stdout
    asked = run_pytest(["benchmarks/bench_training.py"], tmp_path)
    assert asked.returncode == 4
    assert "runs with `pytest --benchmark`" in asked.stderr
    assert "Traceback" not in asked.stderr


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX")
def test_no_worker_outlives_the_run(quick_run):
    out = subprocess.run(["pgrep", "-f", "benchmarks.worker"], capture_output=True, text=True)
    assert out.stdout.strip() == ""
