"""Format 1 read as format 2 (docs/result_format.md): the `sidebyside` section inside
pytest-benchmark's JSON, converted so that the reports read one layout. Each row becomes one
process whose steady epochs are the rounds; the run gets ``converted_from_format_version: 1``
and the warning ``FORMAT_1_NOTE``. Part of the loading adapter (results.load), which checks
the result against format 2's contract afterwards.
"""

from __future__ import annotations

import math
import statistics

from results import schema
from results.format import RESULTS_FORMAT
from results.summary import REFERENCE_VARIANT

FORMAT_1_NOTE = ("a result file from the first version of sidebyside (format 1): one process "
                 "per row, so no interval")
MAX_TIMING_S = schema.MAX_TIMING_S
_Damaged = schema.Damaged  # a field missing or of the wrong type; the message names it


def to_format_2(data: dict) -> dict:
    """Format 1 (``data``, checked against results.schema.FORMAT_1) as format 2's layout: one
    process per row, its rounds as the steady epochs. Raises results.schema.Damaged (naming
    the field) where the file breaks what format 1 guaranteed."""
    section = data["sidebyside"]
    plan = _get(section, "plan", dict, "sidebyside")
    rows = _get(section, "rows", list, "sidebyside")
    benchmarks = _get(data, "benchmarks", list, "")
    infos = {}
    for i, bench in enumerate(benchmarks):
        where = f"benchmarks[{i}]"
        info = _get(_mapping(bench, where), "extra_info", dict, where)
        if "row" in info:
            stats = _get(bench, "stats", dict, where)
            rounds = _get(stats, "data", list, f"{where}.stats")
            infos[info["row"]] = (info, rounds, f"{where}.stats.data")
    environment = dict(_get(section, "environment", dict, "sidebyside"))
    cpu = ((data.get("machine_info") or {}).get("cpu") or {})
    environment.setdefault("cpu_model", cpu.get("brand_raw"))
    commit = data.get("commit_info") or {}
    environment.setdefault("commit", {"id": commit.get("id"), "dirty": commit.get("dirty")})
    environment.setdefault("versions", {})
    out_rows = []
    for i, row in enumerate(rows):
        row = _mapping(row, f"sidebyside.rows[{i}]")
        out_rows.append(_row(row, infos.get(row.get("id")), plan,
                                           f"sidebyside.rows[{i}]"))
    _add_ratios(out_rows)
    return {
        # Converted to format 2's layout (one process per row, no estimator field).
        "format": RESULTS_FORMAT, "format_version": 2,
        "converted_from_format_version": 1,
        "started": section.get("started") or data.get("datetime"), "finished": None,
        "complete": True, "interrupted_by": None,
        "plan": {"processes": 1, **plan},
        "environment": environment,
        "rows": out_rows,
        "flags": section.get("flags") or [],
        "warnings": [FORMAT_1_NOTE, *(section.get("warnings") or [])],
        "pytest_benchmark_version": data.get("version"),
    }


def _row(row: dict, measured, plan: dict, where: str) -> dict:
    """One format-1 row as a format-2 row; ``measured``: (its benchmark's extra_info, its
    rounds, where they are) or None."""
    for key in ("id", "implementation", "mode", "device"):
        _get(row, key, str, where)
    out = {"id": row["id"], "variant": f"{row['implementation']}-{row['mode']}",
           "implementation": row["implementation"], "mode": row["mode"],
           "device": row["device"], "batch_size": _get(row, "batch_size", int, where),
           "status": row.get("status"), "reason": row.get("reason") or "", "stderr_tail": "",
           "processes": [], "summary": None}
    if out["status"] != "ok":
        return out
    if measured is None:  # format 1 could say ok and lose the numbers
        out.update(status="failed", reason="measured, but its numbers are missing from the file")
        return out
    info, rounds, rounds_where = measured
    if not rounds:
        raise _Damaged(f"{rounds_where} is empty, but {row['id']} is ok")
    for k, value in enumerate(rounds):
        _positive(value, f"round {k} of {row['id']}", MAX_TIMING_S)
    where = f"the benchmark of {row['id']}"
    process = _process(row, info, rounds, out["batch_size"], plan, where)
    out["processes"] = [process]
    out["summary"] = _summary(info, rounds, process["steps_per_epoch"], process["n_train"])
    return out


def _process(row: dict, info: dict, rounds: list, batch_size: int, plan: dict,
             where: str) -> dict:
    """The row's one process: its rounds as the steady epochs, its last point per seed as
    that seed's result."""
    steps = _get(info, "steps_per_epoch", int, where)
    curves = _get(info, "learning_curves", list, where)
    last = {}
    for point in curves:
        last[_mapping(point, where).get("seed")] = point
    per_seed = [{"seed": seed, "final_loss": p.get("train_loss"), "test_loss": p.get("test_loss"),
                 "test_accuracy": p.get("test_accuracy"),
                 "time_to_accuracy_s": None}  # format 1 kept only the median over seeds
                for seed, p in last.items()]
    n_train = _get(info, "n_train", int, where)
    memory_keys = ("rss_after_import_bytes", "rss_baseline_bytes",
                   "peak_rss_above_baseline_bytes", "peak_rss_scope", "gpu_peak_bytes",
                   "gpu_peak_method")
    return {
        "index": 0, "status": "ok", "reason": "", "wall_s": row.get("wall_s"),
        "seeds": info.get("seeds", []), "cold_cache": True,
        "first_epoch_s": info.get("first_epoch_s"), "steady_epoch_s": rounds,
        "steps_per_epoch": steps, "batch_size": batch_size,
        "effective_batch_size": min(batch_size, n_train), "n_train": n_train,
        "n_test": plan.get("n_test"), "import_s": info.get("import_s"),
        "build_s": info.get("build_s"), "per_seed": per_seed, "curves": curves,
        "memory": {k: info.get(k) for k in memory_keys}, "load": None, "cpu": None,
        "threads": None, "affinity": None, "settings": info.get("settings") or {},
        "overhead": info.get("overhead")}


def _summary(info: dict, rounds: list, steps: int, n_train: int) -> dict:
    """The row's summary from its one process: its sample, as format 2 defines it, is its
    median steady epoch per step; no interval (one process)."""
    median_s = statistics.median(rounds)
    us_per_step = median_s / steps * 1e6 if steps > 0 else None
    q1, q3 = (statistics.quantiles(rounds, n=4, method="inclusive")[::2]
              if len(rounds) > 1 else (median_s, median_s))
    accuracies = info.get("test_accuracy_per_seed") or []
    return {
        "processes_ok": 1, "us_per_step": us_per_step,
        "us_per_step_ci_low": None, "us_per_step_ci_high": None,
        "process_us_per_step": [us_per_step],
        "spread_iqr_pct": None, "unstable": False, "unstable_reasons": [],
        "samples_per_s": n_train / median_s,
        "steady_epoch_s_median": median_s,
        "first_epoch_s": info.get("first_epoch_s"), "first_epoch_cold": True,
        "test_accuracy_mean": info.get("test_accuracy_mean"),
        "test_accuracy_sd": info.get("test_accuracy_sd") if len(accuracies) > 1 else None,
        "n_seeds": len(accuracies),
        "time_to_accuracy_s_median": info.get("time_to_accuracy_s_median"),
        "time_to_accuracy_reached_seeds": info.get("time_to_accuracy_reached_seeds"),
        "target_accuracy": info.get("target_accuracy"),
        "bayes_accuracy": info.get("bayes_accuracy"),
        "final_loss_mean": info.get("final_loss_mean"),
        "peak_rss_above_baseline_bytes": info.get("peak_rss_above_baseline_bytes"),
        "rss_after_import_bytes": info.get("rss_after_import_bytes"),
        "gpu_peak_bytes": info.get("gpu_peak_bytes"),
        "import_s": info.get("import_s"), "build_s": info.get("build_s"),
        "cores_used": None, "ratio_to_torch_loop": None, "ratio_ci_low": None,
        "ratio_ci_high": None,
        # Added for format 1 only: its samples were rounds, so their quartiles are kept.
        "steady_epoch_s_q1": q1,
        "steady_epoch_s_q3": q3,
    }


def _add_ratios(rows: list[dict]) -> None:
    """Format 1 kept no ratio: us_per_step over torch-loop's at the same device and batch."""
    base = {(r["device"], r["batch_size"]): r["summary"]["us_per_step"] for r in rows
            if r["variant"] == REFERENCE_VARIANT and r["summary"]
            and _is_positive(r["summary"]["us_per_step"])}
    for r in rows:
        key = (r["device"], r["batch_size"])
        if r["summary"] and key in base and _is_positive(r["summary"]["us_per_step"]):
            r["summary"]["ratio_to_torch_loop"] = r["summary"]["us_per_step"] / base[key]


# -- checking what format 1 guaranteed -----------------------------------------------------

def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_positive(value) -> bool:
    return _is_number(value) and math.isfinite(value) and value > 0


def _positive(value, where: str, limit: float | None = None) -> None:
    """A timing: a number > 0 (and at most ``limit`` when given)."""
    if not _is_positive(value):
        raise _Damaged(f"the timing {where} is {value!r}, but timings must be numbers > 0")
    if limit is not None and value > limit:
        raise _Damaged(f"the timing {where} is {value!r}, longer than a day")


def _mapping(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise _Damaged(f"{where or 'the file'} is {type(value).__name__}, not an object")
    return value


_MISSING = object()


def _get(obj: dict, key: str, kind, where: str, default=_MISSING):
    """obj[key], checked to be of ``kind``; ``default`` when absent (if given)."""
    name = f"{where}.{key}" if where else key
    if key not in obj:
        if default is not _MISSING:
            return default
        raise _Damaged(f"{name} is missing")
    value = obj[key]
    if not isinstance(value, kind):
        raise _Damaged(f"{name} is {'null' if value is None else type(value).__name__}, "
                       f"not {_KIND_NAMES.get(kind, getattr(kind, '__name__', kind))}")
    return value


_KIND_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer",
               bool: "true or false"}
