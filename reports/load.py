"""Read a result file of `pytest --benchmark`, or say in one sentence why it can't be read."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.results import RESULTS_FORMAT_VERSION


class ReportError(Exception):
    """A user's input cannot be used; the message is one sentence for them."""


def load_results(path: str | Path) -> dict:
    """The parsed JSON of a sidebyside result file, checked for format and version."""
    path = Path(path)
    if not path.exists():
        raise ReportError(f"{path}: no such file")
    if path.is_dir():
        candidate = path / "benchmark.json"
        if not candidate.exists():
            raise ReportError(f"{path}: a folder without benchmark.json; give a result file")
        path = candidate
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ReportError(f"{path}: not a text file, so not a sidebyside result file") from None
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except OSError as err:
        raise ReportError(f"{path}: cannot be read ({err.strerror})") from None
    if not isinstance(data, dict) or "sidebyside" not in data:
        made_by = "pytest-benchmark without sidebyside" if isinstance(data, dict) and \
            "benchmarks" in data else "another tool"
        raise ReportError(f"{path}: JSON from {made_by}, not a result file of "
                          "`pytest --benchmark` in this repository")
    version = data["sidebyside"].get("format_version") if isinstance(
        data["sidebyside"], dict) else None
    if version != RESULTS_FORMAT_VERSION:
        raise ReportError(f"{path}: result format version {version!r} is not one this "
                          f"version of sidebyside reads (it reads {RESULTS_FORMAT_VERSION})")
    data["_path"] = str(path)
    return data
