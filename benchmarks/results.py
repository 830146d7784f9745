"""From a worker's raw measurements to the numbers a row reports, and the fairness flags."""

from __future__ import annotations

import os
import platform
import statistics
import sys

# The `sidebyside` section of the result JSON (pytest-benchmark's own format around it).
# History:
#   1: first version (rows with status, per-row extra_info, plan, flags, environment).
RESULTS_FORMAT_VERSION = 1


def quantiles(values: list[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def summarize(result: dict) -> dict:
    """The row's headline numbers (units in the names), for extra_info and the tables."""
    steady = result["steady_epoch_s"]
    q1, median, q3 = quantiles(steady)
    steps = result["steps_per_epoch"]
    seeds = result["seeds"]
    accuracies = [s["test_accuracy"] for s in seeds]
    reached = [s["time_to_accuracy_s"] for s in seeds if s["time_to_accuracy_s"] is not None]
    return {
        "steady_epoch_s_median": median,
        "steady_epoch_s_q1": q1,
        "steady_epoch_s_q3": q3,
        "steady_epoch_s_iqr": q3 - q1,
        "steady_rounds": len(steady),
        "us_per_step": median / steps * 1e6,
        "samples_per_s": result["n_train"] / median,
        "steps_per_epoch": steps,
        "first_epoch_s": result["first_epoch_s"],
        "import_s": result["import_s"],
        "build_s": result["build_s"],
        "test_accuracy_mean": statistics.fmean(accuracies),
        "test_accuracy_sd": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        "test_accuracy_per_seed": accuracies,
        "final_loss_mean": statistics.fmean(s["final_loss"] for s in seeds),
        "bayes_accuracy": result["bayes_accuracy"],
        "target_accuracy": result["target_accuracy"],
        "time_to_accuracy_s_median": statistics.median(reached) if reached else None,
        "time_to_accuracy_reached_seeds": len(reached),
        "seeds": [s["seed"] for s in seeds],
        "epochs": max(c["epoch"] for c in result["curves"]),
        "n_train": result["n_train"],
        **result["memory"],
        "learning_curves": result["curves"],
        "settings": result["settings"],
        "overhead": result.get("overhead"),
    }


# Settings that must be equal for two rows on one device to be compared fairly. Others
# (compile mode, versions, Keras backend) differ by design and are only recorded.
FAIRNESS_KEYS = (
    "convention",
    "adam_epsilon",
    "adam_epsilon_placement",
    "loss_clip",
    "precision",
    "intra_op_threads",
    "tf32",
    "tf32_matmul",
    "initial_weights",
)


def flag_differences(settings_by_row: dict[str, dict]) -> list[str]:
    """One sentence per fairness setting that differs between rows on the same device."""
    flags = []
    devices = sorted({s.get("device", "?") for s in settings_by_row.values()})
    for device in devices:
        rows = {r: s for r, s in settings_by_row.items() if s.get("device", "?") == device}
        for key in FAIRNESS_KEYS:
            values: dict[str, list[str]] = {}
            for row_id, settings in rows.items():
                if key in settings and settings[key] is not None:
                    values.setdefault(repr(settings[key]), []).append(row_id)
            if len(values) > 1:
                parts = "; ".join(f"{value} in {', '.join(ids)}" for value, ids in values.items())
                flags.append(f"{device}: rows differ in {key}: {parts}")
    return flags


def environment(command: list[str]) -> dict:
    """What a footnote needs beyond pytest-benchmark's machine_info and commit_info."""
    return {
        "command": " ".join(command),
        "python": sys.version.split()[0],
        "os": platform.platform(),
        "cpu_cores": os.cpu_count(),
        "machine": platform.machine(),
    }
