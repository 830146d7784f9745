"""Read a run result file (docs/result_format.md), or say in one sentence why it can't be read.

`load_results` returns the file's JSON as a dict in format 2, checked: every field that the
reports read is there with the right type, and every timing is a finite positive number.
A format-1 file (the `sidebyside` section inside pytest-benchmark's JSON) is converted to
format 2: each row becomes one process whose steady epochs are the rounds; such a file has
`converted_from_format_version: 1` and the warning `FORMAT_1_NOTE`.
"""

from __future__ import annotations

import datetime
import json
import math
import statistics
from pathlib import Path

from reports.format import RESULTS_FILE_NAME, RESULTS_FORMAT, RESULTS_FORMAT_VERSION

# Real result files are tens of KB; checked with stat before reading, so that a wrong file
# of hundreds of MB is refused before it is read into memory.
MAX_RESULT_BYTES = 20 * 2**20

# No epoch of SimpleNet lasts a day: a larger timing is a damaged file (and would overflow
# the plots' axes).
MAX_TIMING_S = 86_400.0

ROW_STATUSES = ("ok", "partial", "skipped", "failed", "timeout", "not run")
PROCESS_STATUSES = ("ok", "failed", "timeout", "skipped")
FORMAT_1_NOTE = "format 1: one process per row, no interval"
BASELINE_VARIANT = "torch-loop"  # the course's PyTorch loop: every ratio is to this row


class ReportError(Exception):
    """A user's input cannot be used; the message is one sentence for them."""


class _Damaged(Exception):
    """A field of the file is missing or has the wrong type; the message names it."""


def load_results(path: str | Path) -> dict:
    """The checked content of a result file, as a format-2 dict with `_path` added.

    ``path`` is a results.json, a format-1 benchmark.json, or a run folder holding one.
    Raises ReportError (one sentence) for: no such file, a file over MAX_RESULT_BYTES,
    not JSON, JSON of another tool, an unknown format version, a damaged file (a field
    missing or of the wrong type), NaN/Infinity anywhere, or a timing that is not > 0.
    """
    path = result_path(path)
    try:
        size_bytes = path.stat().st_size
        if size_bytes > MAX_RESULT_BYTES:
            raise ReportError(f"{path}: {size_bytes:,} bytes is too large for a result file "
                              f"(at most {MAX_RESULT_BYTES:,}; real ones are tens of KB)")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ReportError(f"{path}: not a text file, so not a sidebyside result file") from None
    except OSError as err:
        raise ReportError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                          parse_int=_bounded_int)
    except _NonFinite as err:
        raise ReportError(f"{path}: holds {err}, not a finite number; a result file never "
                          "has NaN or Infinity, so it is damaged") from None
    except _HugeInteger as err:
        raise ReportError(f"{path}: holds the integer {err}, too large for any field of a "
                          "result file, so it is damaged") from None
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except ValueError as err:  # e.g. an integer beyond Python's digit limit
        raise ReportError(f"{path}: not a valid result file ({err})") from None
    except RecursionError:
        raise ReportError(f"{path}: JSON nested too deeply for a result file") from None
    try:
        data = _to_format_2(path, data)
        _check_format_2(data)
    except _Damaged as err:
        raise ReportError(f"{path}: damaged result file: {err}") from None
    data["_path"] = str(path)
    return data


def result_path(path: str | Path) -> Path:
    """The result file that ``path`` names: ``path`` itself, or the results.json (else the
    format-1 benchmark.json) of a run folder. Raises ReportError (one sentence) when there
    is none."""
    path = Path(path)
    if path.is_dir():
        for name in (RESULTS_FILE_NAME, "benchmark.json"):  # format 2, then format 1
            if (path / name).is_file():
                return path / name
        raise ReportError(f"{path}: a folder without {RESULTS_FILE_NAME}; give a result file")
    if not path.exists():
        raise ReportError(f"{path}: no such file")
    if not path.is_file():
        raise ReportError(f"{path}: not a regular file; give a result file")
    return path


class _NonFinite(ValueError):
    pass


def _refuse_constant(token: str):
    raise _NonFinite(token)  # NaN, Infinity, -Infinity: Python's json accepts them


class _HugeInteger(ValueError):
    pass


def _bounded_int(token: str) -> int:
    # Byte counts are the largest integers in a result file; 2**63 is far above any.
    if len(token.lstrip("-")) > 19 or abs(int(token)) >= 2**63:
        raise _HugeInteger(token if len(token) <= 30 else token[:27] + "...")
    return int(token)


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):  # 1e400 parses to inf
        raise _NonFinite(token)
    return value


# -- format detection and the format-1 conversion ---------------------------------------

def _to_format_2(path: Path, data) -> dict:
    if isinstance(data, dict) and data.get("format") == RESULTS_FORMAT:
        version = data.get("format_version")
        if version != RESULTS_FORMAT_VERSION:
            raise ReportError(f"{path}: result format version {version!r} is not one this "
                              f"version of sidebyside reads (it reads 1 and "
                              f"{RESULTS_FORMAT_VERSION})")
        return data
    beside = path.parent / RESULTS_FILE_NAME
    if path.name != RESULTS_FILE_NAME and beside.is_file() and isinstance(data, dict) and \
            "benchmarks" in data:
        raise ReportError(f"{path}: the pytest-benchmark export of a run; give the run's "
                          f"result file, {beside}")
    if not isinstance(data, dict) or "sidebyside" not in data:
        made_by = ("pytest-benchmark without sidebyside"
                   if isinstance(data, dict) and "benchmarks" in data else "another tool")
        raise ReportError(f"{path}: JSON from {made_by}, not a result file of "
                          "`pytest --benchmark` in this repository")
    section = data["sidebyside"]
    version = section.get("format_version") if isinstance(section, dict) else None
    if version != 1:
        raise ReportError(f"{path}: result format version {version!r} is not one this "
                          f"version of sidebyside reads (it reads 1 and "
                          f"{RESULTS_FORMAT_VERSION})")
    return _from_format_1(data)


def _from_format_1(data: dict) -> dict:
    """Format 1 as format 2: one process per row, its rounds as the steady epochs."""
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
            infos[info["row"]] = (info, _get(stats, "data", list, f"{where}.stats"))
    environment = dict(_get(section, "environment", dict, "sidebyside"))
    cpu = ((data.get("machine_info") or {}).get("cpu") or {})
    environment.setdefault("cpu_model", cpu.get("brand_raw"))
    commit = data.get("commit_info") or {}
    environment.setdefault("commit", {"id": commit.get("id"), "dirty": commit.get("dirty")})
    environment.setdefault("versions", {})
    out_rows = []
    for i, row in enumerate(rows):
        row = _mapping(row, f"sidebyside.rows[{i}]")
        out_rows.append(_row_from_format_1(row, infos.get(row.get("id")), plan,
                                           f"sidebyside.rows[{i}]"))
    _add_format_1_ratios(out_rows)
    return {
        "format": RESULTS_FORMAT, "format_version": RESULTS_FORMAT_VERSION,
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


def _row_from_format_1(row: dict, measured, plan: dict, where: str) -> dict:
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
    info, rounds = measured
    for k, value in enumerate(rounds):
        _positive(value, f"round {k} of {row['id']}", MAX_TIMING_S)
    steps = _get(info, "steps_per_epoch", int, f"the benchmark of {row['id']}")
    # The process's sample, as format 2 defines it: its median steady epoch per step.
    median_s = statistics.median(rounds)
    us_per_step = median_s / steps * 1e6 if steps > 0 else None
    q1, q3 = (statistics.quantiles(rounds, n=4, method="inclusive")[::2]
              if len(rounds) > 1 else (median_s, median_s))
    where = f"the benchmark of {row['id']}"
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
    out["processes"] = [{
        "index": 0, "status": "ok", "reason": "", "wall_s": row.get("wall_s"),
        "seeds": info.get("seeds", []), "cold_cache": True,
        "first_epoch_s": info.get("first_epoch_s"), "steady_epoch_s": rounds,
        "steps_per_epoch": steps, "batch_size": out["batch_size"],
        "effective_batch_size": min(out["batch_size"], n_train), "n_train": n_train,
        "n_test": plan.get("n_test"), "import_s": info.get("import_s"),
        "build_s": info.get("build_s"), "per_seed": per_seed, "curves": curves,
        "memory": {k: info.get(k) for k in memory_keys}, "load": None, "cpu": None,
        "threads": None, "affinity": None, "settings": info.get("settings") or {},
        "overhead": info.get("overhead")}]
    accuracies = info.get("test_accuracy_per_seed") or []
    out["summary"] = {
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
    return out


def _add_format_1_ratios(rows: list[dict]) -> None:
    """Format 1 kept no ratio: us_per_step over torch-loop's at the same device and batch."""
    base = {(r["device"], r["batch_size"]): r["summary"]["us_per_step"] for r in rows
            if r["variant"] == BASELINE_VARIANT and r["summary"]
            and _is_positive(r["summary"]["us_per_step"])}
    for r in rows:
        key = (r["device"], r["batch_size"])
        if r["summary"] and key in base and _is_positive(r["summary"]["us_per_step"]):
            r["summary"]["ratio_to_torch_loop"] = r["summary"]["us_per_step"] / base[key]


# -- checking format 2 ------------------------------------------------------------------

_DAY_US = MAX_TIMING_S * 1e6
# Summary numbers that must be > 0 (and at most the limit, where one is given); the second
# set may be null where the contract says so.
_POSITIVE_SUMMARY = {"us_per_step": _DAY_US, "samples_per_s": None,
                     "steady_epoch_s_median": MAX_TIMING_S, "first_epoch_s": MAX_TIMING_S}
_POSITIVE_OR_NONE_SUMMARY = {"us_per_step_ci_low": _DAY_US, "us_per_step_ci_high": _DAY_US,
                             "ratio_to_torch_loop": None, "ratio_ci_low": None,
                             "ratio_ci_high": None, "time_to_accuracy_s_median": MAX_TIMING_S,
                             "steady_epoch_s_q1": MAX_TIMING_S, "steady_epoch_s_q3": MAX_TIMING_S}
_NUMBER_OR_NONE_SUMMARY = ("test_accuracy_mean", "test_accuracy_sd", "spread_iqr_pct",
                           "target_accuracy", "bayes_accuracy", "final_loss_mean",
                           "peak_rss_above_baseline_bytes", "rss_after_import_bytes",
                           "gpu_peak_bytes", "import_s", "build_s", "cores_used")


def _check_format_2(data: dict) -> None:
    try:
        datetime.datetime.fromisoformat(_get(data, "started", str, ""))
    except ValueError:
        raise _Damaged(f"started is {data['started']!r}, not an ISO 8601 time") from None
    plan = _get(data, "plan", dict, "")
    seeds = _get(plan, "seeds", list, "plan")
    if not all(_is_int(seed) for seed in seeds):
        raise _Damaged("plan.seeds must be a list of integers")
    for key in ("epochs", "n_train", "n_test"):
        if not _is_int(_get(plan, key, int, "plan")):
            raise _Damaged(f"plan.{key} must be an integer")
    _get(plan, "threads", object, "plan")
    sweeps = _get(plan, "sweeps", dict, "plan", {})  # since issue 11
    for axis, values in sweeps.items():
        if not (isinstance(values, list) and values
                and all(_is_int(v) and v > 0 for v in values)):
            raise _Damaged(f"plan.sweeps.{axis} must be a list of positive integers")
    environment = _get(data, "environment", dict, "")
    commit = environment.get("commit")
    if commit is not None:
        _mapping(commit, "environment.commit")
        _typed_fields(commit, "environment.commit", {"id": str, "dirty": bool})
    rows = _get(data, "rows", list, "")
    for key in ("flags", "warnings"):
        if not all(isinstance(item, str) for item in _get(data, key, list, "", [])):
            raise _Damaged(f"{key} must be a list of strings")
    seen = set()
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        row = _mapping(row, where)
        for key in ("id", "variant", "implementation", "mode", "device"):
            _get(row, key, str, where)
        if row["id"] in seen:
            raise _Damaged(f"the row {row['id']!r} appears twice")
        seen.add(row["id"])
        if isinstance(_get(row, "batch_size", int, where), bool) or row["batch_size"] <= 0:
            raise _Damaged(f"{where}.batch_size must be a positive integer")
        for key in ("hidden_size", "n_train"):  # since issue 11; absent in older files
            if key in row and not (_is_int(row[key]) and row[key] > 0):
                raise _Damaged(f"{where}.{key} must be a positive integer")
        if row.get("status") not in ROW_STATUSES:
            raise _Damaged(f"{where}.status is {row.get('status')!r}, not one of "
                           f"{', '.join(ROW_STATUSES)}")
        _get(row, "reason", str, where, "")
        for j, process in enumerate(_get(row, "processes", list, where)):
            _check_process(_mapping(process, f"{where}.processes[{j}]"),
                           f"{where}.processes[{j}]")
        summary = row.get("summary")
        if summary is None:
            if row["status"] in ("ok", "partial"):
                raise _Damaged(f"{where} ({row['id']}) is {row['status']} but has no summary")
            continue
        _check_summary(_mapping(summary, f"{where}.summary"), f"{where}.summary")


def _check_process(process: dict, where: str) -> None:
    if isinstance(_get(process, "index", int, where), bool):
        raise _Damaged(f"{where}.index must be an integer")
    if process.get("status") not in PROCESS_STATUSES:
        raise _Damaged(f"{where}.status is {process.get('status')!r}, not one of "
                       f"{', '.join(PROCESS_STATUSES)}")
    for key, kind in (("cpu", dict), ("settings", dict), ("affinity", list),
                      ("steady_epoch_s", list), ("reason", str)):
        if process.get(key) is not None and not isinstance(process[key], kind):
            raise _Damaged(f"{where}.{key} is {type(process[key]).__name__}, not "
                           f"{_KIND_NAMES[kind]}")
    _typed_fields(process, where, {"cold_cache": bool, "wall_s": float})
    _typed_fields(process.get("cpu") or {}, f"{where}.cpu", {"starved": bool,
                                                              "cores_used": float})
    if not all(_is_int(cpu) for cpu in process.get("affinity") or []):
        raise _Damaged(f"{where}.affinity must be a list of CPU numbers")
    if process["status"] != "ok":
        return
    steady = _get(process, "steady_epoch_s", list, where)
    if not steady:
        raise _Damaged(f"{where}.steady_epoch_s is empty")
    for k, value in enumerate(steady):
        _positive(value, f"{where}.steady_epoch_s[{k}]", MAX_TIMING_S)
    _positive(process.get("first_epoch_s"), f"{where}.first_epoch_s", MAX_TIMING_S)
    steps = _get(process, "steps_per_epoch", int, where)
    if isinstance(steps, bool) or steps <= 0:
        raise _Damaged(f"{where}.steps_per_epoch must be a positive integer")
    for key, fields in (("per_seed", _PER_SEED_FIELDS), ("curves", _CURVE_FIELDS)):
        for k, item in enumerate(_get(process, key, list, where, [])):
            _typed_fields(_mapping(item, f"{where}.{key}[{k}]"), f"{where}.{key}[{k}]", fields)
            _in_range(item, f"{where}.{key}[{k}]", _SEED_RANGES)


def _check_summary(summary: dict, where: str) -> None:
    for key, limit in _POSITIVE_SUMMARY.items():
        _positive(summary.get(key), f"{where}.{key}", limit)
    for key, limit in _POSITIVE_OR_NONE_SUMMARY.items():
        if summary.get(key) is not None:
            _positive(summary[key], f"{where}.{key}", limit)
    for key in _NUMBER_OR_NONE_SUMMARY:
        value = summary.get(key)
        if value is not None and not _is_number(value):
            raise _Damaged(f"{where}.{key} is {value!r}, not a number")
    _in_range(summary, where, _SUMMARY_RANGES)
    for key in ("n_seeds", "time_to_accuracy_reached_seeds"):
        if not _is_int(summary.get(key)):
            raise _Damaged(f"{where}.{key} is {summary.get(key)!r}, not an integer")
    _typed_fields(summary, where, {"peak_rss_above_baseline_bytes": int,
                                   "rss_after_import_bytes": int, "gpu_peak_bytes": int,
                                   "first_epoch_cold": bool})
    samples = _get(summary, "process_us_per_step", list, where)
    if not samples:
        raise _Damaged(f"{where}.process_us_per_step is empty")
    for k, value in enumerate(samples):
        _positive(value, f"{where}.process_us_per_step[{k}]", _DAY_US)
    processes_ok = _get(summary, "processes_ok", int, where)
    if not _is_int(processes_ok):
        raise _Damaged(f"{where}.processes_ok must be an integer")
    if processes_ok != len(samples):
        raise _Damaged(f"{where}.processes_ok is {processes_ok} but process_us_per_step has "
                       f"{len(samples)} samples")
    _get(summary, "unstable", bool, where, False)
    if not all(isinstance(r, str) for r in _get(summary, "unstable_reasons", list, where, [])):
        raise _Damaged(f"{where}.unstable_reasons must be a list of strings")


_PER_SEED_FIELDS = {"seed": int, "final_loss": float, "test_loss": float,
                    "test_accuracy": float, "time_to_accuracy_s": float}
_CURVE_FIELDS = {"seed": int, "epoch": int, "train_loss": float, "test_loss": float,
                 "test_accuracy": float, "elapsed_s": float}


# What a number can be at all, whatever the run: an accuracy is a fraction, a binary
# cross-entropy and a byte count are never negative. A value outside is a damaged file,
# not a result to draw.
_FRACTION, _NON_NEGATIVE = (0.0, 1.0), (0.0, math.inf)
_SUMMARY_RANGES = {"test_accuracy_mean": _FRACTION, "test_accuracy_sd": _NON_NEGATIVE,
                   "target_accuracy": _FRACTION, "bayes_accuracy": _FRACTION,
                   "final_loss_mean": _NON_NEGATIVE, "spread_iqr_pct": _NON_NEGATIVE,
                   "peak_rss_above_baseline_bytes": _NON_NEGATIVE,
                   "rss_after_import_bytes": _NON_NEGATIVE, "gpu_peak_bytes": _NON_NEGATIVE,
                   "import_s": _NON_NEGATIVE, "build_s": _NON_NEGATIVE,
                   "cores_used": _NON_NEGATIVE}
_SEED_RANGES = {"final_loss": _NON_NEGATIVE, "test_loss": _NON_NEGATIVE,
                "train_loss": _NON_NEGATIVE, "test_accuracy": _FRACTION,
                "time_to_accuracy_s": _NON_NEGATIVE, "elapsed_s": _NON_NEGATIVE}


def _in_range(obj: dict, where: str, ranges: dict) -> None:
    """Each of ``ranges`` present (and a number) in ``obj`` lies in its closed interval."""
    for key, (low, high) in ranges.items():
        value = obj.get(key)
        if _is_number(value) and not low <= value <= high:
            allowed = "at least 0" if high == math.inf else f"between {low:g} and {high:g}"
            raise _Damaged(f"{where}.{key} is {value!r}, but it must be {allowed}")


def _typed_fields(obj: dict, where: str, fields: dict) -> None:
    """Each of ``fields`` present in ``obj`` is null or of its kind (float: any number)."""
    checks = {int: _is_int, float: _is_number, bool: lambda v: isinstance(v, bool),
              str: lambda v: isinstance(v, str)}
    for key, kind in fields.items():
        value = obj.get(key)
        if value is not None and not checks[kind](value):
            raise _Damaged(f"{where}.{key} is {value!r}, not "
                           f"{'a number' if kind is float else _KIND_NAMES[kind]}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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

