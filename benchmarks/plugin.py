"""The pytest plugin behind `pytest --benchmark`: options, rows, progress, results, summary."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import pytest

from benchmarks import options as opts
from benchmarks.results import (
    RESULTS_FORMAT_VERSION,
    environment,
    flag_differences,
    summarize,
)
from benchmarks.runner import ROOT, run_row
from reports.atomic import write_text_atomic

BENCH_DIR = ROOT / "benchmarks"
TESTS_DIR = ROOT / "tests"
# Relative, so under the current working directory: never inside the installed package.
DEFAULT_RUNS_DIR = Path("sidebyside-runs")


def pytest_addoption(parser):
    group = parser.getgroup("sidebyside", "sidebyside: the side-by-side benchmark suite")
    group.addoption("--benchmark", action="store_true",
                    help="run the benchmark suite in benchmarks/ (without it: the tests)")
    group.addoption("--preset", default="default", metavar="NAME",
                    help=f"what to run unless overridden: {', '.join(opts.PRESETS)} "
                         "(quick: a smoke run under a minute; default: every row, under 5 "
                         "minutes on 2 cores; gpu: the CUDA rows alone; full: numbers worth "
                         "publishing)")
    group.addoption("--impl", metavar="LIST",
                    help="implementations or variants, comma-separated: "
                         f"{', '.join(opts.VARIANTS)}; or an implementation's name for all "
                         "its modes (default: all)")
    group.addoption("--device", metavar="LIST", help="cpu, cuda (default: both; CUDA rows "
                    "are skipped with the reason where there is no GPU)")
    group.addoption("--batch-size", metavar="LIST", help="batch sizes, e.g. 32,1024")
    group.addoption("--epochs", metavar="N", help="training epochs per seed")
    group.addoption("--seeds", metavar="LIST", help="seeds, e.g. 0,1,2 (accuracy is reported "
                    "as mean and spread over them)")
    group.addoption("--rounds", metavar="N", help="at least this many steady-state epochs "
                    "timed per row (training epochs after the first count; more are added)")
    group.addoption("--n-train", metavar="N", help="training samples")
    group.addoption("--threads", metavar="N", help="threads per framework (default: all cores)")
    group.addoption("--target-accuracy", metavar="FRACTION",
                    help="test accuracy for time-to-accuracy (default: Bayes accuracy - "
                         f"{opts.TARGET_GAP})")
    group.addoption("--worker-timeout", metavar="SECONDS",
                    help="a row's worker is stopped after this long and the row failed")
    group.addoption("--overhead-check", action="store_true",
                    help="also time each row's train_epoch with a bare loop in the same "
                         "worker, in 7 alternating blocks of 3 + 3 epochs, and report the ratio")
    group.addoption("--report-dir", metavar="DIR",
                    help=f"where each run's folder goes (default: ./{DEFAULT_RUNS_DIR} in the "
                         "current folder); "
                         "write --report-dir=DIR: pytest reads a bare existing folder after "
                         "an option as a place to look for tests")


def pytest_ignore_collect(collection_path, config):
    """Plain `pytest` collects tests/ only; `pytest --benchmark` collects benchmarks/ only."""
    path = Path(collection_path)
    if config.getoption("benchmark"):
        return True if path == TESTS_DIR or TESTS_DIR in path.parents else None
    return True if path == BENCH_DIR or BENCH_DIR in path.parents else None


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark reads --benchmark-json
def pytest_configure(config):
    if not config.getoption("benchmark"):
        given = config.args_source == pytest.Config.ArgsSource.ARGS  # not testpaths
        asked = [Path(arg.split("::")[0]).resolve() for arg in config.args] if given else []
        if any(p == BENCH_DIR or BENCH_DIR in p.parents for p in asked):
            raise pytest.UsageError("the benchmark suite runs with `pytest --benchmark`; "
                                    "plain `pytest` runs the tests")
        return
    try:
        plan = opts.make_plan(
            preset=config.getoption("preset"), impl=config.getoption("impl"),
            device=config.getoption("device"), batch_size=config.getoption("batch_size"),
            epochs=config.getoption("epochs"), seeds=config.getoption("seeds"),
            rounds=config.getoption("rounds"), n_train=config.getoption("n_train"),
            threads=config.getoption("threads"),
            worker_timeout=config.getoption("worker_timeout"),
            target_accuracy=config.getoption("target_accuracy"),
            overhead_check=config.getoption("overhead_check"))
    except opts.OptionError as err:
        raise pytest.UsageError(str(err)) from None
    suite = Suite(config, plan)
    if not config.getoption("benchmark_json"):
        config.option.benchmark_json = suite.run_dir / "benchmark.json"
    config.pluginmanager.register(suite, "sidebyside-suite")


class Suite:
    """One `pytest --benchmark` run: runs the rows, keeps every outcome, writes the results."""

    def __init__(self, config, plan: opts.Plan):
        self.config, self.plan = config, plan
        self.started = datetime.datetime.now(datetime.UTC)
        runs = Path(config.getoption("report_dir") or DEFAULT_RUNS_DIR)
        # UTC stamps sort by time; the seconds keep two runs in one minute apart.
        self.run_dir = runs / self.started.strftime("%Y%m%d-%H%M%S")
        self.outcomes = {}
        self.rows = plan.rows()
        self.json_path = None

    # -- pytest hooks -------------------------------------------------------------

    def pytest_generate_tests(self, metafunc):
        if "row" in metafunc.fixturenames:
            metafunc.parametrize("row", self.rows, ids=[r.id for r in self.rows])

    @pytest.fixture
    def sidebyside(self):
        return self

    def pytest_sessionstart(self, session):
        bench_session = getattr(self.config, "_benchmarksession", None)
        if bench_session is not None and bench_session.json:
            # pytest-benchmark writes its JSON in place; ours goes in whole or not at all.
            def save_json(output_json, path=bench_session.json):
                text = json.dumps(output_json, indent=4, ensure_ascii=True, default=str)
                write_text_atomic(path, text)
                self.json_path = Path(path)
            bench_session.save_json = save_json
        self._say(f"sidebyside: {len(self.rows)} rows, preset {self.plan.preset}, "
                  f"{self.plan.epochs} epochs x seeds {list(self.plan.seeds)}, "
                  f"{self.plan.threads} threads; results in {self.run_dir}")

    def pytest_benchmark_update_json(self, config, benchmarks, output_json):
        output_json["sidebyside"] = {
            "format_version": RESULTS_FORMAT_VERSION,
            "started": self.started.isoformat(),
            "plan": self.plan.to_dict(),
            "environment": environment(["pytest", *sys.argv[1:]]),
            "rows": [self._row_record(row) for row in self.rows],
            "flags": self._flags(),
        }

    def pytest_sessionfinish(self, session):
        # pytest-benchmark has written the JSON by now (its hook wraps this one).
        self.report_dir, self.report_error = None, None
        bench_session = getattr(self.config, "_benchmarksession", None)
        if self.json_path is None and self.outcomes and bench_session and bench_session.json:
            self._save_without_benchmarks(bench_session)
        if self.json_path is None:
            return
        from reports.build import build_report

        try:
            self.report_dir = build_report(self.json_path, self.run_dir)
        except Exception as err:  # the results are saved; a report can be built again later
            self.report_error = f"{type(err).__name__}: {err}"

    def pytest_terminal_summary(self, terminalreporter):
        from benchmarks.table import side_by_side

        tr = terminalreporter
        tr.section("sidebyside")
        for line in side_by_side(self.rows, self.outcomes):
            tr.write_line(line)
        for flag in self._flags():
            tr.write_line(f"FLAG {flag}", yellow=True)
        if self.json_path:
            tr.write_line(f"results: {self.json_path}")
        if getattr(self, "report_dir", None):
            tr.write_line(f"report:  {self.report_dir / 'report.html'} (and report.md, "
                          "results.csv, report.tex, plots)")
        elif getattr(self, "report_error", None):
            tr.write_line(f"the report could not be built ({self.report_error}); build it "
                          f"again with: python -m reports build {self.json_path}", red=True)

    def _flags(self) -> list[str]:
        return flag_differences({row_id: o.result["settings"]
                                 for row_id, o in self.outcomes.items() if o.status == "ok"})

    def _save_without_benchmarks(self, bench_session):
        """pytest-benchmark saves nothing when no row was timed; the failures still count."""
        hook = self.config.hook
        output_json = hook.pytest_benchmark_generate_json(
            config=self.config, benchmarks=[], include_data=True,
            machine_info=bench_session.get_machine_info(),
            commit_info=hook.pytest_benchmark_generate_commit_info(config=self.config))
        hook.pytest_benchmark_update_json(config=self.config, benchmarks=[],
                                          output_json=output_json)
        bench_session.save_json(output_json)

    # -- running rows -------------------------------------------------------------

    def run(self, row):
        index = self.rows.index(row) + 1
        self._say(f"[{index}/{len(self.rows)}] {row.id} ...")
        outcome = run_row(row, self.plan, on_progress=self._progress)
        self.outcomes[row.id] = outcome
        if outcome.status == "ok":
            s = summarize(outcome.result)
            self._say(f"    done in {outcome.wall_s:.1f} s: {s['us_per_step']:.1f} us/step, "
                      f"first epoch {s['first_epoch_s']:.2f} s, "
                      f"accuracy {s['test_accuracy_mean']:.4f}")
        else:
            self._say(f"    {outcome.status}: {outcome.reason.splitlines()[0]}")
        return outcome

    def _progress(self, row, message):
        if message["epoch"] == message["epochs"]:
            self._say(f"    seed {message['seed']}: {message['epochs']} epochs, "
                      f"last {message['epoch_s']:.3f} s/epoch, "
                      f"test accuracy {message['test_accuracy']:.4f}")

    def _row_record(self, row):
        outcome = self.outcomes.get(row.id)
        record = {"id": row.id, "implementation": row.implementation, "mode": row.mode,
                  "device": row.device, "batch_size": row.batch_size}
        if outcome is None:
            return record | {"status": "not run", "reason": "the run ended before this row"}
        return record | {"status": outcome.status, "reason": outcome.reason,
                         "wall_s": outcome.wall_s}

    def _say(self, line):
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        capman = self.config.pluginmanager.get_plugin("capturemanager")
        if tr is None:
            return
        if capman is not None:
            with capman.global_and_fixture_disabled():
                tr.write_line(line)
        else:
            tr.write_line(line)
