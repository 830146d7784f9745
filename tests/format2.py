"""Format-2 result files (docs/result_format.md) made to order, for tests of the reports.

The numbers are planted: each process's sample (µs per step) is given, and every field that
derives from it is computed here, independently of reports/, so that tests know the answers.
"""

from __future__ import annotations

import copy
import json
import statistics
from pathlib import Path

STEPS_PER_EPOCH = 32
N_TRAIN = 1024
FIXTURES = Path(__file__).with_name("fixtures")


def process(index: int, us_per_step: float, status: str = "ok", seeds=(0,),
            settings: dict | None = None, starved: bool = False) -> dict:
    """One worker process whose steady epochs all last ``us_per_step`` x steps."""
    epoch_s = us_per_step * STEPS_PER_EPOCH / 1e6
    ok = status == "ok"
    return {
        "index": index, "status": status, "reason": "" if ok else "injected crash",
        "wall_s": 3.0, "seeds": list(seeds), "cold_cache": index == 0,
        "first_epoch_s": epoch_s * 5 if ok else None,
        "steady_epoch_s": [epoch_s] * 3 if ok else [],
        "steps_per_epoch": STEPS_PER_EPOCH, "batch_size": 32, "effective_batch_size": 32,
        "n_train": N_TRAIN, "n_test": 1000, "import_s": 1.0, "build_s": 0.5,
        "per_seed": [{"seed": s, "final_loss": 0.3, "test_loss": 0.31, "test_accuracy": 0.88,
                      "time_to_accuracy_s": 0.5 if s % 2 == 0 else None} for s in seeds]
        if ok else [],
        "curves": [{"seed": s, "epoch": e, "train_loss": 0.5 / e, "test_loss": 0.5 / e,
                    "test_accuracy": 0.8 + 0.02 * e, "elapsed_s": e * epoch_s}
                   for s in seeds for e in (1, 2, 3, 4)] if ok else [],
        "memory": {"rss_after_import_bytes": 200 * 2**20, "rss_baseline_bytes": 250 * 2**20,
                   "peak_rss_above_baseline_bytes": 2**20, "peak_rss_scope": "training",
                   "gpu_peak_bytes": None, "gpu_peak_method": None},
        "load": {"before": {"load1": 0.1, "load5": 0.1, "load15": 0.1,
                            "cpu_pressure_some_avg10": None}, "after": None},
        "cpu": {"train_cpu_s": 1.0, "train_wall_s": 1.0, "cores_used": 0.4 if starved else 1.0,
                "runqueue_wait_s": None, "starved": starved,
                "starved_reason": "less CPU than threads x wall" if starved else None},
        "threads": {"requested": 1, "measured_cores_used": 1.0, "threadpools": [],
                    "framework_intra_op": 1, "framework_inter_op": 1},
        "affinity": [index % 2],
        "settings": settings if settings is not None else {
            "framework_version": "2.13.0", "convention": "matched", "precision": "float32",
            "intra_op_threads": 1, "device_name": "cpu", "data": {"seed": 0}},
        "overhead": None,
    }


def row(variant: str, samples, batch_size: int = 32, device: str = "cpu",
        statuses=None, unstable: bool = False, status: str | None = None) -> dict:
    """A row whose ok processes have the planted ``samples`` (µs per step), in order."""
    implementation, mode = variant.rsplit("-", 1)
    statuses = list(statuses or ["ok"] * len(samples))
    processes, ok_samples = [], []
    for index, (sample, process_status) in enumerate(zip(samples, statuses)):
        processes.append(process(index, sample, process_status, seeds=(index,)))
        if process_status == "ok":
            ok_samples.append(sample)
    if status is None:
        status = "ok" if len(ok_samples) == len(samples) else (
            "partial" if ok_samples else "failed")
    median = statistics.median(ok_samples) if ok_samples else None
    summary = None if not ok_samples else {
        "processes_ok": len(ok_samples), "us_per_step": median,
        "us_per_step_ci_low": min(ok_samples) if len(ok_samples) > 1 else None,
        "us_per_step_ci_high": max(ok_samples) if len(ok_samples) > 1 else None,
        "process_us_per_step": list(ok_samples), "spread_iqr_pct": None,
        "unstable": unstable, "unstable_reasons": ["spread 25% over processes"] if unstable
        else [],
        "samples_per_s": N_TRAIN / (median * STEPS_PER_EPOCH / 1e6),
        "steady_epoch_s_median": median * STEPS_PER_EPOCH / 1e6,
        "first_epoch_s": ok_samples[0] * STEPS_PER_EPOCH / 1e6 * 5, "first_epoch_cold": True,
        "test_accuracy_mean": 0.88, "test_accuracy_sd": 0.0 if len(ok_samples) > 1 else None,
        "n_seeds": len(ok_samples), "time_to_accuracy_s_median": 0.5,
        "time_to_accuracy_reached_seeds": 1, "target_accuracy": 0.85, "bayes_accuracy": 0.9,
        "final_loss_mean": 0.3, "peak_rss_above_baseline_bytes": 2**20,
        "rss_after_import_bytes": 200 * 2**20, "gpu_peak_bytes": None, "import_s": 1.0,
        "build_s": 0.5, "cores_used": 1.0, "ratio_to_torch_loop": None, "ratio_ci_low": None,
        "ratio_ci_high": None,
    }
    return {"id": f"{variant}-{device}-b{batch_size}", "variant": variant,
            "implementation": implementation, "mode": mode, "device": device,
            "batch_size": batch_size, "status": status,
            "reason": "" if status == "ok" else "process 1: injected crash",
            "stderr_tail": "", "processes": processes, "summary": summary}


def skipped_row(variant: str, batch_size: int = 32, device: str = "cuda") -> dict:
    implementation, mode = variant.rsplit("-", 1)
    return {"id": f"{variant}-{device}-b{batch_size}", "variant": variant,
            "implementation": implementation, "mode": mode, "device": device,
            "batch_size": batch_size, "status": "skipped", "reason": "no CUDA device",
            "stderr_tail": "", "processes": [], "summary": None}


def run(rows: list[dict], commit: str = "a" * 40, processes: int = 3) -> dict:
    """A complete run around ``rows``; ratios to torch-loop filled in by process index."""
    rows = copy.deepcopy(rows)
    base = {(r["device"], r["batch_size"]): r["summary"]["us_per_step"] for r in rows
            if r["variant"] == "torch-loop" and r["summary"]}
    for r in rows:
        key = (r["device"], r["batch_size"])
        if r["summary"] and key in base:
            r["summary"]["ratio_to_torch_loop"] = r["summary"]["us_per_step"] / base[key]
    load = {"load1": 0.2, "load5": 0.2, "load15": 0.2, "cpu_pressure_some_avg10": None}
    return {
        "format": "sidebyside-run", "format_version": 2,
        "started": "2026-11-29T18:00:00+00:00", "finished": "2026-11-29T18:05:00+00:00",
        "complete": True, "interrupted_by": None,
        "plan": {"variants": sorted({r["variant"] for r in rows}), "devices": ["cpu"],
                 "batch_sizes": sorted({r["batch_size"] for r in rows}), "epochs": 4,
                 "seeds": [0, 1, 2], "processes": processes, "affinity": "auto",
                 "threads": 1, "n_train": N_TRAIN, "n_test": 1000, "preset": "default"},
        "environment": {
            "command": "pytest --benchmark", "python": "3.11.7", "os": "Linux",
            "machine": "x86_64", "cpu_model": "AMD EPYC", "cpu_cores": 2,
            "commit": {"id": commit, "dirty": False},
            "versions": {"torch": "2.13.0", "keras": "3.15.1"},
            "load_before": load, "load_after": dict(load, load1=0.4),
            "busy_before": False, "busy_reason": None},
        "rows": rows, "flags": [], "warnings": [],
    }


def write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, indent=1))
    return path
