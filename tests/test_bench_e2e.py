"""`pytest --benchmark` end to end, in a subprocess, as a user runs it."""

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

from benchmarks.options import make_plan
from benchmarks.plan import TAGS, VARIANTS, known_refusal
from benchmarks.worker_steps import FAULT_ENV
from results.format import RESULTS_FORMAT_VERSION
from tests.helpers import ROOT, framework_env


def run_pytest(args, tmp_path, **env):
    tmp = tmp_path / "tmpdir"
    tmp.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=600,
                          env=framework_env(TMPDIR=str(tmp), **env))


def workers_of_this_run(marker) -> list[int]:
    """PIDs of live worker processes whose environment mentions ``marker`` (the run's own
    TMPDIR, under which every worker's TMPDIR and caches lie). Workers of other runs on the
    machine (another test session, a user's benchmark) are not this run's to judge."""
    pids = []
    for proc in psutil.process_iter():
        try:
            if ("benchmarks.worker" in proc.cmdline()
                    and any(str(marker) in value for value in proc.environ().values())):
                pids.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue  # gone, or not ours to read
    return pids


def the_results(report_dir):
    (path,) = list(report_dir.glob("*/results.json"))
    return json.loads(path.read_text()), path


# The quick preset end to end starts a worker for every CPU variant (minutes of CPU): marked
# slow, so that plain `pytest` leaves it out and `pytest -m slow` runs it (CI runs both).
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quick")
    # --benchmark-disable switches off pytest-benchmark's fixture, which the suite does not
    # use: the rows are measured all the same.
    result = run_pytest(["--benchmark", "--preset", "quick", "--benchmark-disable",
                         f"--report-dir={tmp}"], tmp)
    return result, tmp


@slow
def test_quick_preset_passes_and_measures_every_row(quick_run):
    result, report_dir = quick_run
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    data, _ = the_results(report_dir)
    assert (data["format"], data["format_version"]) == ("sidebyside-run", RESULTS_FORMAT_VERSION)
    assert data["complete"] is True and data["interrupted_by"] is None
    planned = [row.id for row in make_plan("quick").rows()]
    # every CPU variant (CUDA graphs have no CPU row; the data-parallel rows have a preset of
    # their own) but one the installed Keras is known to refuse (fit-spe on torch)
    assert planned == [f"{v}-cpu-b1024" for v in VARIANTS
                       if v != "torch-compile-step-cudagraphs" and TAGS[v] != "distributed"
                       and not known_refusal(v)]
    assert [r["id"] for r in data["rows"]] == planned
    for row in data["rows"]:
        assert row["status"] == "ok", (row["id"], row["reason"])
    assert data["flags"] == []
    assert data["plan"]["processes"] == 1
    # auto pins only on a quiet machine, and says so when it does not
    busy = data["environment"]["busy_before"]
    assert data["plan"]["affinity"] == ("none" if busy else "auto")
    assert busy == any("workers not pinned" in w for w in data["warnings"])
    assert data["environment"]["load_after"] is not None


@slow
def test_every_row_has_its_numbers_filled(quick_run):
    data, _ = the_results(quick_run[1])
    for row in data["rows"]:
        s = row["summary"]
        for key in ("us_per_step", "samples_per_s", "first_epoch_s", "steady_epoch_s_median",
                    "test_accuracy_mean", "final_loss_mean", "bayes_accuracy",
                    "target_accuracy", "rss_after_import_bytes",
                    "peak_rss_above_baseline_bytes", "import_s", "build_s", "cores_used",
                    "ratio_to_torch_loop"):
            assert s[key] is not None, (row["id"], key)
        assert s["us_per_step"] > 0 and 0 <= s["test_accuracy_mean"] <= 1
        (process,) = row["processes"]
        assert len(process["curves"]) == 2  # 2 epochs x 1 seed
        for key in ("framework_version", "convention", "adam_epsilon",
                    "adam_epsilon_placement", "compile", "precision", "device"):
            assert process["settings"][key] is not None, (row["id"], key)
        assert process["cpu"]["cores_used"] > 0
        assert process["threads"]["requested"] == data["plan"]["threads"]


@slow
def test_terminal_shows_progress_and_the_side_by_side_table_only(quick_run):
    out = quick_run[0].stdout
    rows = len(make_plan('quick').rows())
    assert f"[1/{rows}] torch-loop-cpu-b1024 process 1 of 1 starting ..." in out
    assert "about" in out and "(estimate" in out and " left" in out
    assert f"sidebyside: {rows} rows, 1 process each (preset quick); 2 epochs per seed" in out
    assert "sidebyside" in out and "µs/step" in out and "Bayes accuracy" in out
    assert "µs/step p10" in out and "± —" in out  # one seed: no SD, the one missing mark
    assert re.search(r"sampling \d+ rows in 5 interleaved rounds", out)
    assert "held at most" in out  # the run's peak total resident memory
    assert "benchmark: 8 tests" not in out and "Name (time in" not in out  # not pytest-benchmark's


@slow
def test_pytest_benchmark_compare_reads_the_export(quick_run):
    (path,) = list(quick_run[1].glob("*/benchmark.json"))
    compare = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(path)],
                             capture_output=True, text=True, timeout=120)
    assert compare.returncode == 0, compare.stderr
    assert "test_train[keras-jax-fit-cpu-b1024]" in compare.stdout


@slow
def test_the_workers_leave_nothing_in_tmpdir(quick_run):
    assert list((quick_run[1] / "tmpdir").iterdir()) == []


@slow
@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX")
def test_no_worker_outlives_the_run(quick_run):
    assert workers_of_this_run(quick_run[1] / "tmpdir") == []


def test_processes_interleave_rows_and_a_crash_loses_no_other_row(tmp_path):
    above = os.cpu_count() + 1  # more threads than cores: allowed, with a warning
    result = run_pytest(["--benchmark", "--preset", "quick", "--impl", "torch-loop,numpy",
                         "--processes", "2", "--threads", str(above), f"--report-dir={tmp_path}",
                         f"--benchmark-json={tmp_path / 'also.json'}"],
                        tmp_path, **{FAULT_ENV: "crash:torch-loop-cpu-b1024"})
    assert result.returncode == 1, result.stdout[-3000:]  # a failed row fails the run...
    data, _ = the_results(tmp_path)  # ...and the rest is saved
    order = [list(m.groups()) for line in result.stdout.splitlines()
             if (m := re.match(r"\[\d+/\d+\] (\S+) process (\d+ of \d+) starting", line))]
    assert order == [["torch-loop-cpu-b1024", "1 of 2"], ["numpy-loop-cpu-b1024", "1 of 2"],
                     ["torch-loop-cpu-b1024", "2 of 2"], ["numpy-loop-cpu-b1024", "2 of 2"]]
    rows = {r["id"]: r for r in data["rows"]}
    crashed, numpy = rows["torch-loop-cpu-b1024"], rows["numpy-loop-cpu-b1024"]
    assert crashed["status"] == "failed" and "injected crash" in crashed["reason"]
    assert "injected crash" in crashed["stderr_tail"]
    assert numpy["status"] == "ok" and [p["index"] for p in numpy["processes"]] == [0, 1]
    assert numpy["summary"]["processes_ok"] == 2
    assert numpy["summary"]["us_per_step_ci_low"] is not None
    assert any(f"--threads {above} is above the" in w for w in data["warnings"])
    assert f"WARNING: --threads {above} is above the" in result.stdout
    # --benchmark-json gets the export too: the ok row, one round per timed epoch sampled
    (bench,) = json.loads((tmp_path / "also.json").read_text())["benchmarks"]
    rounds = make_plan("quick").rounds
    assert bench["param"] == "numpy-loop-cpu-b1024" and bench["stats"]["rounds"] == 2 * rounds
    assert [len(p["samples_epoch_s"]) for p in numpy["processes"]] == [rounds, rounds]
    assert numpy["processes"][0]["sampled_with"] == ["torch-loop-cpu-b1024",
                                                     "numpy-loop-cpu-b1024"]
    assert data["resources"]["peak_resident_total_bytes"] > 0


@pytest.mark.parametrize(("signum", "name"), [(signal.SIGINT, "SIGINT"),
                                              (signal.SIGTERM, "SIGTERM"),
                                              (signal.SIGHUP, "SIGHUP")])
def test_an_interrupt_saves_what_was_measured_and_stops_the_workers(tmp_path, signum, name):
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    # Two blocks: batch 64's rows are sampled and finish, then batch 1024's workers start,
    # torch-loop's hangs, and the interrupt loses that block's process set in flight.
    # (Two rows a block are enough to show that; each more is a framework started twice,
    # and torch imports in a third of Keras's time.)
    args = [sys.executable, "-m", "pytest", "--benchmark", "--preset", "quick",
            "--impl", "numpy,torch-loop", "--batch-size", "64,1024",
            f"--report-dir={tmp_path}"]
    env = framework_env(TMPDIR=str(tmp), **{FAULT_ENV: "hang:torch-loop-cpu-b1024"})
    proc = subprocess.Popen(args, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    seen = ""
    deadline = time.monotonic() + 180
    for line in proc.stdout:
        seen += line
        if "[3/4] torch-loop-cpu-b1024" in line:
            time.sleep(3)  # inside the hanging worker now
            # The check below can see this run's workers: the hanging one is found.
            assert workers_of_this_run(tmp), seen
            proc.send_signal(signum)
            break
        assert time.monotonic() < deadline, seen
    seen += proc.communicate(timeout=120)[0]
    assert proc.returncode == 2, seen[-3000:]
    assert f"interrupted by {name}" in seen
    data, _ = the_results(tmp_path)
    assert data["complete"] is False and data["interrupted_by"] == name
    rows = {r["id"]: r["status"] for r in data["rows"]}
    assert rows == {"torch-loop-cpu-b64": "ok", "numpy-loop-cpu-b64": "ok",
                    "torch-loop-cpu-b1024": "not run", "numpy-loop-cpu-b1024": "not run"}
    assert not list(tmp_path.glob("*/.*.tmp"))  # no half-written file left behind
    assert list(tmp.iterdir()) == []  # scratch folders removed
    assert workers_of_this_run(tmp) == []


@pytest.mark.parametrize(("args", "message"), [
    (["--impl="], "--impl: give at least one of"),
    (["--seeds="], "--seeds: expected integers >= 0"),
    (["--impl", "numpy", "--device", "cuda"],
     "no rows to run: numpy-loop cannot run on cuda; choose another --device"),
    (["--n-train", "500", "--batch-size", "100000"],
     "--batch-size: 100000 is larger than the 500 training samples"),
    (["--impl", "kears"], "--impl: unknown name 'kears'; choose from: torch"),
    (["--benchmark-only"], "--benchmark-only picks tests by pytest-benchmark's fixture"),
    (["--report-dir="], "--report-dir: expected a folder, got an empty value"),
    (["--worker-timeout", "inf"], "--worker-timeout: expected seconds > 0 and at most"),
    (["--processes", "100000000"], "--processes: expected one integer from 1 to 1000"),
    (["--threads", "100000"], "--threads: expected one integer from 1 to"),
    (["--benchmark-json=/proc"], "--benchmark-json: /proc is a folder; give the name of a new"),
    (["--benchmark-json=/proc/new/x.json"], "--benchmark-json: /proc/new/x.json cannot be "
                                            "written"),
])
def test_a_usage_error_is_one_sentence_and_exit_4(tmp_path, args, message):
    result = run_pytest(["--benchmark", "--preset", "quick", f"--report-dir={tmp_path}", *args],
                        tmp_path)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not list(tmp_path.glob("*/results.json"))


def test_a_report_dir_that_is_a_file_is_refused_before_the_first_row(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    result = run_pytest(["--benchmark", "--preset", "quick", "--impl", "numpy",
                         f"--report-dir={not_a_folder}"], tmp_path)
    assert result.returncode == 4
    assert (f"--report-dir: cannot write a run folder in {not_a_folder} (it is a file, not a "
            "folder); give a writable folder") in result.stderr
    assert "[1/1]" not in result.stdout and "Traceback" not in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_report_dir_is_refused_before_the_first_row(tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir(mode=0o555)
    result = run_pytest(["--benchmark", "--preset", "quick", "--impl", "numpy",
                         f"--report-dir={read_only}"], tmp_path)
    assert result.returncode == 4
    assert "--report-dir: cannot write a run folder" in result.stderr


def test_plain_pytest_does_not_collect_the_benchmarks(tmp_path):
    result = run_pytest(["--collect-only", "-q"], tmp_path)
    assert result.returncode == 0
    assert "bench_training.py" not in result.stdout and "tests/test_spec.py" in result.stdout
    asked = run_pytest(["benchmarks/bench_training.py"], tmp_path)
    assert asked.returncode == 4
    assert "runs with `pytest --benchmark`" in asked.stderr
    assert "Traceback" not in asked.stderr


def test_collecting_the_rows_writes_no_run_folder(tmp_path):
    runs = tmp_path / "runs"
    result = run_pytest(["--benchmark", "--collect-only", "-q", f"--report-dir={runs}"],
                        tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "test_train[numpy-loop-cpu-b32]" in result.stdout
    assert not runs.exists()


@pytest.mark.parametrize("asked", [["--help"], ["--markers"], ["--fixtures"],
                                   ["--fixtures-per-test"]])
def test_options_that_run_nothing_write_no_run_folder(tmp_path, asked):
    runs = tmp_path / "runs"
    result = run_pytest(["--benchmark", "--preset", "quick", *asked, f"--report-dir={runs}"],
                        tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert not runs.exists()


# The smallest run there is: one numpy row, a few steps.
TINY = ["--benchmark", "--preset", "quick", "--impl", "numpy", "--n-train", "200",
        "--batch-size", "32", "-p", "no:cacheprovider"]


def test_an_existing_file_is_never_the_export_and_is_refused_before_measuring(tmp_path):
    earlier = tmp_path / "earlier" / "results.json"
    earlier.parent.mkdir()
    earlier.write_text('{"measured": "before"}')
    runs = tmp_path / "runs"
    result = run_pytest([*TINY, f"--report-dir={runs}", f"--benchmark-json={earlier}"],
                        tmp_path)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert (f"--benchmark-json: {earlier} already exists and the suite never overwrites a "
            "file; give the name of a new file") in result.stderr
    assert earlier.read_text() == '{"measured": "before"}' and not runs.exists()


def test_nothing_selected_writes_no_run_folder(tmp_path):
    runs = tmp_path / "runs"
    result = run_pytest([*TINY, f"--report-dir={runs}", "-k", "nomatch"], tmp_path)
    assert result.returncode == 5, result.stdout[-2000:]  # pytest's: no tests ran
    assert ("sidebyside: no row was selected, so nothing ran and no run folder was written"
            in result.stdout)
    assert list(runs.iterdir()) == [] and list((tmp_path / "tmpdir").iterdir()) == []


def start_tiny(tmp_path, *args, **env):
    tmp = tmp_path / "tmpdir"
    tmp.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "pytest", *TINY, *args], cwd=ROOT,
                            env=framework_env(TMPDIR=str(tmp), **env), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def read_until(proc, marker, timeout_s=180) -> str:
    seen, deadline = "", time.monotonic() + timeout_s
    for line in proc.stdout:
        seen += line
        if marker in line:
            return seen
        assert time.monotonic() < deadline, seen
    raise AssertionError(f"{marker!r} never came:\n{seen[-3000:]}")


@pytest.mark.parametrize(("signum", "name"), [(signal.SIGINT, "SIGINT"),
                                              (signal.SIGTERM, "SIGTERM"),
                                              (signal.SIGHUP, "SIGHUP")])
def test_an_interrupt_while_the_report_is_built_says_how_to_build_it(tmp_path, signum, name):
    runs = tmp_path / "runs"
    proc = start_tiny(tmp_path, f"--report-dir={runs}", **{FAULT_ENV: "hang:report"})
    seen = read_until(proc, "sidebyside: building the report in")
    proc.send_signal(signum)
    seen += proc.communicate(timeout=120)[0]
    assert proc.returncode == 2, seen[-3000:]  # pytest's exit status for an interruption
    assert "Traceback" not in seen
    data, path = the_results(runs)
    assert data["complete"] is True and data["rows"][0]["status"] == "ok"
    assert (f"interrupted by {name} while the results were being saved and the report built: "
            f"{path} is intact (every finished process); build the report with: "
            f"sidebyside-reports build {path}") in seen
    assert list((tmp_path / "tmpdir").iterdir()) == []


def test_an_interrupt_before_a_worker_finished_writes_no_run_folder(tmp_path):
    runs = tmp_path / "runs"
    proc = start_tiny(tmp_path, f"--report-dir={runs}",
                      **{FAULT_ENV: "hang:numpy-loop-cpu-b32"})
    seen = read_until(proc, "[1/1] numpy-loop-cpu-b32")
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    seen += proc.communicate(timeout=120)[0]
    assert proc.returncode == 2, seen[-3000:]
    assert ("sidebyside: interrupted by SIGTERM before a worker finished, so nothing was "
            "measured and no run folder was written") in seen
    assert list(runs.iterdir()) == [] and list((tmp_path / "tmpdir").iterdir()) == []
    assert workers_of_this_run(tmp_path / "tmpdir") == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_runs_worker_dies_with_it_and_the_next_run_removes_its_scratch(tmp_path):
    tmp = tmp_path / "tmpdir"
    proc = start_tiny(tmp_path, f"--report-dir={tmp_path / 'runs'}",
                      **{FAULT_ENV: "hang:numpy-loop-cpu-b32"})
    read_until(proc, "[1/1] numpy-loop-cpu-b32")
    deadline = time.monotonic() + 60
    while not workers_of_this_run(tmp):
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.2)
    proc.kill()  # SIGKILL: nothing of the coordinator runs any more
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while workers_of_this_run(tmp):  # the kernel kills the worker (PR_SET_PDEATHSIG)
        assert time.monotonic() < deadline, "the worker outlived its coordinator"
        time.sleep(0.2)
    (stale,) = list(tmp.iterdir())
    assert stale.name.startswith(f"sidebyside-run-{proc.pid}-")
    again = run_pytest([*TINY, f"--report-dir={tmp_path / 'runs'}"], tmp_path)
    assert again.returncode == 0, again.stdout[-3000:]
    assert list(tmp.iterdir()) == []


def test_a_report_that_cannot_be_written_fails_the_run_and_keeps_the_results(tmp_path):
    """A full disk while the report is built: the results stay saved, the summary names the
    command that builds the report, and the status is not 0 (a script must not take the run
    for a whole one)."""
    plugin = tmp_path / "plugins" / "full_disk.py"
    plugin.parent.mkdir()
    # The report is built by `python -m reports build` in a child process: the plugin runs
    # that command with a disk that is full from the report's first file on.
    full_disk_build = ("import errno, os, sys, reports.build, reports.cli\n"
                       "def build_report(*args, **kwargs):\n"
                       "    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
                       "reports.build.build_report = build_report\n"
                       "sys.exit(reports.cli.main(sys.argv[1:]))\n")
    plugin.write_text("import sys\n"
                      "import benchmarks.run_folder\n"
                      "def report_command(results_path, out_dir):\n"
                      f"    return [sys.executable, '-c', {full_disk_build!r}, 'build',\n"
                      "            str(results_path), '--out', str(out_dir)]\n"
                      "benchmarks.run_folder.report_command = report_command\n")
    runs = tmp_path / "runs"
    result = run_pytest([*TINY, f"--report-dir={runs}", "-p", "full_disk"], tmp_path,
                        PYTHONPATH=os.pathsep.join([str(plugin.parent), str(ROOT)]))
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    data, path = the_results(runs)
    assert data["complete"] is True and data["rows"][0]["status"] == "ok"
    assert (f"the report could not be built (the report could not be written ([Errno "
            f"{errno.ENOSPC}] {os.strerror(errno.ENOSPC)})); build it again with: "
            f"sidebyside-reports build {path}") in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert sorted(p.name for p in path.parent.iterdir()) == ["benchmark.json", "results.json"]
