"""`pytest --benchmark`'s own options: their help, and their values checked into a Plan
before anything runs (a wrong value is one sentence, pytest.UsageError)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import options as opts
from benchmarks import shard as shards
from benchmarks.plan import TARGET_GAP, VARIANTS, Plan
from benchmarks.runner import machine_devices
from results.atomic import new_file_problem
from results.format import DEFAULT_RUNS_DIR

# (the option, its help; a flag where ``store_true``), in the order `pytest --help` shows
# them. Every other option takes one value (METAVARS) or, --sweep, one per axis.
OPTIONS = (
    ("--benchmark", "run the benchmark suite in benchmarks/ (without it: the tests)"),
    ("--preset", f"what to run unless overridden: {', '.join(opts.PRESETS)} (quick: a smoke "
                 "run, every CPU variant once; default: the course rows and each framework's "
                 "fastest gear in 3 processes, about 6 minutes on 2 cores; gpu: the CUDA rows "
                 "alone; full: every variant, numbers worth publishing; sweep: batch and "
                 "width sweeps for the Scaling section; distributed: the data-parallel rows "
                 "beside their single-process twins)"),
    ("--impl", "implementations or variants, comma-separated: "
               f"{', '.join(VARIANTS)}; or an implementation's name for all its modes "
               "but the data-parallel ones (default: the preset's); a data-parallel variant "
               "brings its single-process twin"),
    ("--device", "cpu, cuda (default: both; CUDA rows are skipped with the reason where "
                 "there is no GPU)"),
    ("--batch-size", "batch sizes, e.g. 32,1024 (at most --n-train)"),
    ("--epochs", "training epochs per seed"),
    ("--seeds", "seeds, e.g. 0,1,2, spread over the processes (accuracy is reported as mean "
                "and spread over them)"),
    ("--rounds", "one-epoch samples per worker process, taken in rounds interleaved over the "
                 "rows of a block, after training (data-parallel rows: at least this many "
                 "steady-state epochs)"),
    ("--processes", "worker processes per row, each a draw of process-level effects "
                    f"(default: by preset; at most {opts.MAX_PROCESSES})"),
    ("--affinity", "pin each worker to these CPUs (e.g. 0 or 0,1); none: not pinned; auto "
                   "(default): as many CPUs as threads, the last ones"),
    ("--replicas", "replicas of each data-parallel row (torch-ddp, keras-jax-dp, "
                   "keras-tensorflow-mirrored; default 2; at most "
                   f"{opts.THREADS_PER_CORE_MAX} × the cores); rows that cannot have N are "
                   "skipped with the reason"),
    ("--n-train", "training samples"),
    ("--sweep", "measure every row at each of these sizes, one axis at a time: "
                "batch=1,16,256,4096 (batch sizes), hidden=16,256,4096 (SimpleNet's hidden "
                "width) or n_train=1000,10000 (training samples); the other sizes stay the "
                "preset's; the report gains a Scaling section"),
    ("--threads", f"threads per framework (default {opts.DEFAULT_THREADS}; at most "
                  f"{opts.THREADS_PER_CORE_MAX} x the cores: {opts.max_threads()} here)"),
    ("--target-accuracy", "test accuracy for time-to-accuracy (default: Bayes accuracy - "
                          f"{TARGET_GAP})"),
    ("--worker-timeout", "a worker process is stopped after this long and its row failed "
                         "(seconds, more than 0 and at most a week)"),
    ("--metric", "time (default), or instructions: also count each CPU row's training step "
                 "under valgrind's callgrind, after the timed processes (instructions per "
                 "step, deterministic; needs valgrind)"),
    ("--overhead-check", "also time each row's train_epoch with a bare loop in the same "
                         "worker, in 7 alternating blocks of 3 + 3 epochs, and report the "
                         "ratio"),
    ("--shard", "run the I-th of N disjoint parts of the plan (I from 1 to N), each a whole "
                "group of rows compared with each other (a device and batch size); "
                "`sidebyside-reports merge` joins the parts' results"),
    ("--report-dir", f"where each run's folder goes (default: ./{DEFAULT_RUNS_DIR} in the "
                     "current folder); in a checkout that is not pip-installed write "
                     "--report-dir=DIR: there pytest reads a bare existing folder as a place "
                     "to look for tests before it loads the suite"),
)
FLAGS = ("--benchmark", "--overhead-check")
METAVARS = {"--preset": "NAME", "--impl": "LIST", "--device": "LIST", "--batch-size": "LIST",
            "--epochs": "N", "--seeds": "LIST", "--rounds": "N", "--processes": "N",
            "--affinity": "CPUS", "--replicas": "N", "--n-train": "N", "--sweep": "AXIS=LIST",
            "--threads": "N", "--target-accuracy": "FRACTION", "--worker-timeout": "SECONDS",
            "--metric": "NAME", "--shard": "I/N", "--report-dir": "DIR"}
DEFAULTS = {"--preset": "default"}

# Options with which pytest runs no test: --help and --markers configure the plugins and stop;
# --collect-only, --fixtures, --fixtures-per-test only collect. No run folder for them.
SHOWS_ONLY = ("help", "markers")
COLLECTS_ONLY = ("collectonly", "showfixtures", "show_fixtures_per_test")


def add_options(parser) -> None:
    """Add ``OPTIONS`` to pytest's ``parser``, in their group."""
    group = parser.getgroup("sidebyside", "sidebyside: the side-by-side benchmark suite")
    for option, text in OPTIONS:
        if option in FLAGS:
            group.addoption(option, action="store_true", help=text)
        elif option == "--sweep":
            group.addoption(option, metavar=METAVARS[option], action="append", help=text)
        else:
            group.addoption(option, metavar=METAVARS[option], help=text,
                            **({"default": DEFAULTS[option]} if option in DEFAULTS else {}))


def plan_and_shard(config) -> tuple[Plan, shards.Shard | None]:
    """The run's Plan and its part (``--shard``) from the options; pytest.UsageError (one
    sentence) for a wrong value, a shard count above the plan's groups of rows, and a plan
    without rows."""
    value = config.getoption
    try:
        plan = opts.make_plan(
            preset=value("preset"), impl=value("impl"), device=value("device"),
            batch_size=value("batch_size"), epochs=value("epochs"), seeds=value("seeds"),
            rounds=value("rounds"), n_train=value("n_train"), threads=value("threads"),
            worker_timeout=value("worker_timeout"), target_accuracy=value("target_accuracy"),
            overhead_check=value("overhead_check"), processes=value("processes"),
            affinity=value("affinity"), sweep=value("sweep"), replicas=value("replicas"),
            metric=value("metric"),
            # A shard's plan must be the same on every machine of its array, whatever
            # devices each has: with --shard the preset's devices stay as they are.
            devices_here=None if value("shard") else machine_devices())
        shard = shards.parse(value("shard"))
        shards.rows_of(plan, shard)  # N above the plan's groups of rows: refused here
    except opts.OptionError as err:
        raise pytest.UsageError(str(err)) from None
    if not plan.rows():
        raise pytest.UsageError(
            f"no rows to run: {', '.join(plan.variants)} cannot run on "
            f"{', '.join(plan.devices)}; choose another --device or other --impl")
    return plan, shard


def check_other_options(config) -> Path:
    """Refuse, in one sentence (pytest.UsageError), pytest-benchmark's options that do not
    apply and an empty or unwritable output; return the folder for run folders."""
    for name in ("benchmark_only", "benchmark_skip"):
        if config.getoption(name, False):
            raise pytest.UsageError(
                f"--{name.replace('_', '-')} picks tests by pytest-benchmark's fixture, which "
                "the suite's rows do not use; leave it out (`pytest --benchmark` runs the rows)")
    report_dir = config.getoption("report_dir")
    if report_dir is not None and not report_dir.strip():
        raise pytest.UsageError("--report-dir: expected a folder, got an empty value; leave "
                                f"the option out for ./{DEFAULT_RUNS_DIR}")
    export = config.getoption("benchmark_json", None)
    if export is not None and not collects_only(config):
        problem = new_file_problem(Path(export))
        if problem:
            raise pytest.UsageError(f"--benchmark-json: {problem}")
    return Path(report_dir or DEFAULT_RUNS_DIR)


def collects_only(config) -> bool:
    """Whether pytest only collects (--collect-only, --fixtures, ...): nothing runs."""
    return any(config.getoption(name, False) for name in COLLECTS_ONLY)
