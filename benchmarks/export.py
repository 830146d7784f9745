"""benchmark.json: the run in pytest-benchmark's JSON layout, for `pytest-benchmark compare`.

pytest-benchmark times calls made in its own process; ours run in worker processes, so
nothing is handed to its fixture. Its documented JSON layout (what ``--benchmark-json``
writes and ``pytest-benchmark compare`` reads) is built here from results.json, with the
statistics computed by its public ``pytest_benchmark.stats.Stats``. A round of this export
is one timed epoch, in seconds: every interleaved sample of every worker process (format 3),
or for a process sampled alone (a data-parallel row) the median of its steady epochs.
"""

from __future__ import annotations

import statistics

import pytest_benchmark
from pytest_benchmark.stats import Stats

from results.model import Commit, Run

TEST_NAME = "test_train"
TEST_FILE = "benchmarks/bench_training.py"


def benchmark_json(run: Run) -> dict:
    """pytest-benchmark's JSON for the rows of ``run`` (results.model.Run) with an ok
    process."""
    env = run.environment
    benchmarks = []
    for row in run.rows:
        ok = row.ok_processes()
        if not ok:
            continue
        stats = Stats()
        for process in ok:
            for seconds in (process.get("samples_epoch_s")
                            or [statistics.median(process.steady_epoch_s)]):
                stats.update(seconds)
        name = f"{TEST_NAME}[{row.id}]"
        benchmarks.append({
            "group": f"{row.device} batch {row.batch_size}: seconds per epoch, "
                     "one round per timed epoch",
            "name": name,
            "fullname": f"{TEST_FILE}::{name}",
            "params": {"row": row.id},
            "param": row.id,
            "extra_info": {"row": row.id, "status": row.status,
                           "us_per_step": row.summary.get("us_per_step") if row.summary
                           else None},
            "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": 1,
                        "max_time": None, "min_time": None, "warmup": False},
            "stats": stats.as_dict() | {"data": stats.data, "iterations": 1},
        })
    commit = env.get("commit") or Commit()
    return {
        "machine_info": {"node": "", "processor": env.get("machine", ""),
                         "machine": env.get("machine", ""),
                         "python_implementation": "CPython",
                         "python_version": env.get("python", ""),
                         "release": env.get("os", ""), "system": env.get("os", ""),
                         "cpu": {"brand_raw": env.get("cpu_model", ""),
                                 "count": env.get("cpu_cores")}},
        "commit_info": {"id": commit.get("id"), "dirty": commit.get("dirty"),
                        "project": "sidebyside"},
        "benchmarks": benchmarks,
        "datetime": run.get("finished") or run.started,
        "version": pytest_benchmark.__version__,
    }
