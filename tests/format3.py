"""Format-3 result files (docs/result_format.md) made to order: resident workers' samples.

Each row's processes get planted one-epoch samples (µs per step); the summaries are made by
the suite's own summarizer, since what the tests here check (compare) reads the samples.
"""

from __future__ import annotations

import copy

import numpy as np

from benchmarks.plan import SINGLE_TWINS
from results import summary as summaries
from results.model import Row
from tests import format2

STEPS_PER_EPOCH = format2.STEPS_PER_EPOCH


def summary_of(record: dict) -> dict | None:
    """The summary of the row ``record`` (a dict of the file), as the file holds it."""
    summary = summaries.summarize(Row.from_dict(record))
    return summary.to_dict() if summary else None


def summarize_all(records: list[dict]) -> None:
    """Fill the ``summary`` of every row of ``records`` (dicts of the file) in place, as the
    suite's summarizer does for its rows (results.summary.summarize_all)."""
    rows = [Row.from_dict(record) for record in records]
    summaries.summarize_all(rows, SINGLE_TWINS)
    for record, row in zip(records, rows, strict=True):
        record["summary"] = row.summary.to_dict() if row.summary else None


def noisy_samples(rng, base_us: float, rounds: int, process_cv: float = 0.01,
                  burst_share: float = 0.4, burst: float = 0.5) -> list[float]:
    """One process's samples around ``base_us``: a process-level offset (lognormal, about
    ``process_cv``) times 1 + additive, non-negative noise (exponential with mean 1%, and in a
    ``burst_share`` of the samples a busy neighbour adding up to ``burst``)."""
    offset = base_us * np.exp(rng.normal(0.0, process_cv))
    noise = rng.exponential(0.01, rounds) + (rng.random(rounds) < burst_share) * rng.uniform(
        0, burst, rounds)
    return list(offset * (1 + noise))


def row(variant: str, groups: list[list[float]], batch_size: int = 32,
        sampled_with: list[str] | None = None) -> dict:
    """A row whose ok processes hold ``groups`` (µs/step, one list per process)."""
    record = format2.row(variant, [float(np.min(g)) for g in groups], batch_size=batch_size)
    for process, samples in zip(record["processes"], groups):
        process["samples_epoch_s"] = [us * STEPS_PER_EPOCH / 1e6 for us in samples]
        process["sample_round_position"] = [0] * len(samples)
        process["sampled_with"] = list(sampled_with or [record["id"]])
        # beyond the file's contract, what the worker hands the summarizer
        process["target_accuracy"], process["bayes_accuracy"] = 0.85, 0.9
    record["summary"] = summary_of(record)
    return record


def run(rows: list[dict], commit: str = "a" * 40) -> dict:
    """A complete format-3 run around ``rows``."""
    data = format2.run(copy.deepcopy(rows), commit=commit)
    data["format_version"] = 3
    summarize_all(data["rows"])
    data["resources"] = {"memory_budget_bytes": 6 * 2**30,
                         "peak_resident_total_bytes": 3 * 2**30,
                         "memory_method": "psutil", "interleaving": "random order per round",
                         "sampled_together": [[r["id"] for r in rows]]}
    return data
