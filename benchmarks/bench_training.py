"""The suite `pytest --benchmark` runs: one test per row.

The first test runs every row's worker processes, interleaved (benchmarks/plugin.py); each
test then reports its own row's outcome from results.json.
"""

import pytest


def test_train(row, sidebyside):
    result = sidebyside.outcome(row)
    status, reason = result.status, result.reason.splitlines()[0] if result.reason else ""
    if status == "skipped":
        pytest.skip(f"{row.id}: {reason}")
    if status not in ("ok",):
        pytest.fail(f"{row.id} {status}: {reason}", pytrace=False)
