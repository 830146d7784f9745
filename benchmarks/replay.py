"""Hand pytest-benchmark the round times that a worker process measured.

pytest-benchmark times calls made in its own process; ours run in a worker of their
own (benchmarks/worker.py). Its ``pedantic()`` makes one stats object and feeds it one
duration per round; this does the same with the worker's durations, so that its
table, its JSON and ``pytest-benchmark compare`` treat them as its own. It touches two
private names of pytest-benchmark 5.3 (pinned in pyproject.toml); the end-to-end
test reads the JSON back with ``pytest-benchmark compare`` to catch a change.
"""

from __future__ import annotations


def record_rounds(benchmark, seconds: list[float]) -> None:
    if benchmark.disabled:
        return
    benchmark._mode = "benchmark.pedantic(...)"  # used once, as pedantic() marks it
    stats = benchmark._make_stats(1)  # one iteration per round: a round is one epoch
    for duration in seconds:
        stats.update(duration)
