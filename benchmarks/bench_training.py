"""The suite `pytest --benchmark` runs: one test per row, each measured in its own worker.

The rows come from the options (benchmarks/options.py); the measuring happens in
benchmarks/worker.py, and pytest-benchmark gets the steady-state epoch times.
"""

import pytest

from benchmarks.replay import record_rounds
from benchmarks.results import summarize

# A failed row has nothing to time; it is reported as failed, not as an unused fixture.
pytestmark = pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")


def test_train(row, benchmark, sidebyside):
    benchmark.group = f"{row.device} batch {row.batch_size}: seconds per epoch"
    outcome = sidebyside.run(row)
    if outcome.status == "skipped":
        pytest.skip(f"{row.id}: {outcome.reason}")
    if outcome.status != "ok":
        pytest.fail(f"{row.id} {outcome.status}: {outcome.reason}", pytrace=False)
    benchmark.extra_info.update(summarize(outcome.result))
    benchmark.extra_info["row"] = row.id
    record_rounds(benchmark, outcome.result["steady_epoch_s"])
