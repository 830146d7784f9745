"""Result files that test the reports' rendering: a run a teacher could get on a laptop
without a GPU, with names and a footnote that every output format must escape."""

import copy
import json
from pathlib import Path

FIXTURES = Path(__file__).with_name("fixtures")
OLD = FIXTURES / "run_old.json"

NO_GPU = "no NVIDIA GPU on this machine (nvidia-smi not found)"
# Every character that means something in Markdown, HTML, LaTeX or matplotlib's mathtext,
# a line break and non-ASCII letters.
HOSTILE_NAME = "my_net $x^2$ 50% & #1 ~a \\b {c} | <d>\nsecond line é 東"
HOSTILE_CPU = "Intel® Xeon® Gold — München 東京"


def run_without_gpu(**changes) -> dict:
    """The fixture run plus a skipped CUDA twin of every row (as on a machine without GPU)."""
    data = json.loads(OLD.read_text())
    rows = data["sidebyside"]["rows"]
    for row in list(rows):
        cuda = copy.deepcopy(row)
        cuda.update(id=row["id"].replace("-cpu-", "-cuda-"), device="cuda", status="skipped",
                    reason=NO_GPU)
        rows.append(cuda)
    data["sidebyside"]["plan"]["devices"] = ["cpu", "cuda"]
    data["sidebyside"].update(changes)
    return data


def hostile_run() -> dict:
    """``run_without_gpu`` with one row and the implementation renamed to ``HOSTILE_NAME``,
    a non-ASCII CPU name, and a command line with ``--`` options."""
    data = run_without_gpu()
    old_id = "numpy-loop-cpu-b32"
    new_id = f"{HOSTILE_NAME}-cpu-b32"
    for row in data["sidebyside"]["rows"]:
        if row["id"] == old_id:
            row["id"], row["implementation"] = new_id, HOSTILE_NAME
    for bench in data["benchmarks"]:
        if bench["extra_info"].get("row") == old_id:
            bench["extra_info"]["row"] = new_id
    data["machine_info"]["cpu"]["brand_raw"] = HOSTILE_CPU
    data["sidebyside"]["environment"]["command"] = (
        "pytest --benchmark --preset=quick --report-dir=~/runs_2026 # 100%")
    data["sidebyside"]["flags"] = [f"{HOSTILE_NAME}: adam epsilon 1e-08 vs 1e-07"]
    return data


def write(data: dict, folder: Path, name: str = "run.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
