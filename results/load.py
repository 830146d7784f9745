"""Read a run result file (docs/result_format.md), or say in one sentence why it can't be read.

`load_run` returns the file as the result model (results.model.Run), checked: every field
that a reader reads is there with the right type, and every timing is a finite positive
number; `load_results` returns the same run as a dict in format 2's layout.
A format-1 file (the `sidebyside` section inside pytest-benchmark's JSON) is converted to
format 2 by results.format1: each row becomes one process whose steady epochs are the
rounds; such a file has `converted_from_format_version: 1` and the warning `FORMAT_1_NOTE`.
This module and results.format1 are the only code that reads the file's JSON: the reports,
`compare` and the notebook's ``Run`` all read a run through ``load_run``.
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

from results import format1, schema
from results.format import READABLE_FORMAT_VERSIONS, RESULTS_FILE_NAME, RESULTS_FORMAT
from results.model import Run, UnreadableVersion, check_version

# Real result files are tens of KB; checked with stat before reading, so that a wrong file
# of hundreds of MB is refused before it is read into memory.
MAX_RESULT_BYTES = 20 * 2**20



class UnreadableResult(Exception):
    """A result file cannot be read; the message is one sentence for the user, naming the
    file and what is wrong with it."""


_Damaged = schema.Damaged  # a field missing or of the wrong type; the message names it


def load_results(path: str | Path) -> dict:
    """The checked content of a result file as JSON data in format 2's layout, with `_path`
    added: the ``load_run`` model's ``to_dict``, for scripts that edit a result file (the
    reports themselves read the model). Raises UnreadableResult as ``load_run`` does."""
    run = load_run(path)
    data = run.to_dict()
    data["_path"] = run.path
    return data


def load_run(path: str | Path) -> Run:
    """The checked run of a result file (results.model.Run, its ``path`` set).

    ``path`` is a results.json, a format-1 benchmark.json, or a run folder holding one.
    Raises UnreadableResult (one sentence) for: no such file, a file over MAX_RESULT_BYTES,
    not JSON, JSON of another tool, an unknown format version, a damaged file (a field
    missing or of the wrong type), NaN/Infinity anywhere, or a timing that is not > 0.
    """
    path = result_path(path)
    try:
        size_bytes = path.stat().st_size
        if size_bytes > MAX_RESULT_BYTES:
            raise UnreadableResult(f"{path}: {size_bytes:,} bytes is too large for a result file "
                                   f"(at most {MAX_RESULT_BYTES:,}; real ones are tens of KB)")
        raw = path.read_bytes()
        # UTF-8, with or without the byte order mark that Windows editors add; UTF-16 and
        # UTF-32 (an editor's "Unicode") as RFC 8259's predecessor allowed, told by json.
        text = raw.decode("utf-8-sig" if raw[:3] == b"\xef\xbb\xbf"
                          else json.detect_encoding(raw))
        text = text.removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise UnreadableResult(f"{path}: not a text file in UTF-8 (or UTF-16/32), so not a "
                               f"sidebyside result file") from None
    except OSError as err:
        raise UnreadableResult(f"{path}: cannot be read ({err.strerror})") from None
    return parse_run(text, path)


def parse_run(text: str, path: str | Path) -> Run:
    """The checked run of a result file's ``text`` (its ``path`` set to ``path``, which the
    messages name). Raises UnreadableResult (one sentence) as ``load_run`` does."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                          parse_int=_bounded_int, object_pairs_hook=_unique_keys)
    except _DuplicateKey as err:
        raise UnreadableResult(f"{path}: the key {err} appears twice in one object, so it is "
                               f"not clear which value counts; the file is damaged") from None
    except _NonFinite as err:
        raise UnreadableResult(f"{path}: holds {err}, not a finite number; a result file never "
                               "has NaN or Infinity, so it is damaged") from None
    except _HugeInteger as err:
        raise UnreadableResult(f"{path}: holds the integer {err}, too large for any field of a "
                               "result file, so it is damaged") from None
    except json.JSONDecodeError as err:
        raise UnreadableResult(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except ValueError as err:  # e.g. an integer beyond Python's digit limit
        raise UnreadableResult(f"{path}: not a valid result file ({err})") from None
    except RecursionError:
        raise UnreadableResult(f"{path}: JSON nested too deeply for a result file") from None
    if "\\ud" in text.lower():  # a \uD800-style escape: maybe a lone surrogate
        data = _without_lone_surrogates(data)
    run = Run.from_dict(checked(data, path))
    run.path = str(path)
    return run


def _without_lone_surrogates(value):
    """``value`` with every lone surrogate (JSON allows "\\ud800" alone; no encoding can
    write it) replaced by U+FFFD, so that every report file can be written."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v)
                for k, v in value.items()}
    return value


def checked(data, path: str | Path) -> dict:
    """Parsed JSON ``data`` of the file ``path`` as a checked format-2 dict (a format-2
    file's own dict, a format-1 file's conversion); ``data`` itself is not changed. Raises
    UnreadableResult (one sentence naming the field) where it breaks docs/result_format.md."""
    try:
        data = _to_format_2(Path(path), data)
        _check_format_2(data)
    except _Damaged as err:
        raise UnreadableResult(f"{path}: damaged result file: {err}") from None
    return data


def result_path(path: str | Path) -> Path:
    """The result file that ``path`` names: ``path`` itself, or the results.json (else the
    format-1 benchmark.json) of a run folder. Raises UnreadableResult (one sentence) when there
    is none."""
    path = Path(path)
    if path.is_dir():
        for name in (RESULTS_FILE_NAME, "benchmark.json"):  # format 2, then format 1
            if (path / name).is_file():
                return path / name
        raise UnreadableResult(f"{path}: a folder without {RESULTS_FILE_NAME}; give a result "
                               "file")
    if not path.exists():
        raise UnreadableResult(f"{path}: no such file")
    if not path.is_file():
        raise UnreadableResult(f"{path}: not a regular file; give a result file")
    return path


class _NonFinite(ValueError):
    pass


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list) -> dict:
    # Python's json keeps the last of two equal keys silently; the writer never makes them,
    # so they come from a hand edit or a merge, and either value could be the right one.
    data = dict(pairs)
    if len(data) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(repr(key) if len(key) <= 40 else repr(key[:37] + "..."))
            seen.add(key)
    return data


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


# -- format detection --------------------------------------------------------------------

def _to_format_2(path: Path, data) -> dict:
    if isinstance(data, dict) and data.get("format") == RESULTS_FORMAT:
        _version(path, data.get("format_version"), READABLE_FORMAT_VERSIONS)
        return data
    beside = path.parent / RESULTS_FILE_NAME
    if path.name != RESULTS_FILE_NAME and beside.is_file() and isinstance(data, dict) and \
            "benchmarks" in data:
        raise UnreadableResult(f"{path}: the pytest-benchmark export of a run; give the run's "
                               f"result file, {beside}")
    if not isinstance(data, dict) or "sidebyside" not in data:
        made_by = ("pytest-benchmark without sidebyside"
                   if isinstance(data, dict) and "benchmarks" in data else "another tool")
        raise UnreadableResult(f"{path}: JSON from {made_by}, not a result file of "
                               "`pytest --benchmark` in this repository")
    section = data["sidebyside"]
    _version(path, section.get("format_version") if isinstance(section, dict) else None, (1,))
    schema.check(data, schema.FORMAT_1)
    return format1.to_format_2(data)


def _version(path: Path, version, readable: tuple) -> None:
    try:
        check_version(version, readable)
    except UnreadableVersion as err:
        raise UnreadableResult(f"{path}: {err}") from None


# -- checking format 2 ------------------------------------------------------------------

def _check_format_2(data: dict) -> None:
    """``data`` against the documented contract (results.schema.RUN), then what a type
    cannot say: the start time, the swept axes, unique row ids, a summary for every
    measured row and the numbers of every ok process."""
    schema.check(data, schema.RUN)
    try:
        datetime.datetime.fromisoformat(data["started"])
    except ValueError:
        raise _Damaged(f"started is {data['started']!r}, not an ISO 8601 time") from None
    for axis in data["plan"].get("sweeps", {}):
        if axis not in schema.SWEEP_AXES:
            raise _Damaged(f"plan.sweeps has the axis {axis!r}, not one of "
                           f"{', '.join(schema.SWEEP_AXES)}")
    seen = set()
    for i, row in enumerate(data["rows"]):
        where = f"rows[{i}]"
        if row["id"] in seen:
            raise _Damaged(f"the row {row['id']!r} appears twice")
        seen.add(row["id"])
        for j, process in enumerate(row["processes"]):
            if process["status"] == "ok":
                _check_ok_process(process, f"{where}.processes[{j}]")
        summary = row.get("summary")
        if summary is None:
            if row["status"] in ("ok", "partial"):
                raise _Damaged(f"{where} ({row['id']}) is {row['status']} but has no summary")
            continue
        samples = summary["process_us_per_step"]
        if summary["processes_ok"] != len(samples):
            raise _Damaged(f"{where}.summary.processes_ok is {summary['processes_ok']} but "
                           f"process_us_per_step has {len(samples)} samples")


def _check_ok_process(process: dict, where: str) -> None:
    """An ok process has its samples (steady epochs, or since format 3 interleaved samples:
    a resident worker that trained one epoch has no steady epoch), a first epoch and the
    steps per epoch."""
    for key in ("steady_epoch_s", "first_epoch_s", "steps_per_epoch"):
        if process.get(key) is None:
            raise _Damaged(f"{where}.{key} is {'null' if key in process else 'missing'}, "
                           f"but the process is ok")
    if not process["steady_epoch_s"] and not process.get("samples_epoch_s"):
        raise _Damaged(f"{where}.steady_epoch_s is empty"
                       + (" and so is samples_epoch_s" if "samples_epoch_s" in process else ""))


