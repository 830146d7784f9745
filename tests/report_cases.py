"""Result files that test the reports' rendering: a run a teacher could get on a laptop
without a GPU, with names and a footnote that every output format must escape.

The cases are made from the format-1 fixture (tests/fixtures/run_old.json) and returned as
the reports read them: converted to format 2 by ``results.load.load_results`` (the only way
rendering code ever sees a run), with ``_path`` set to the file it was read from.
"""

import copy
import json
import tempfile
from pathlib import Path

from results.load import load_results
from results.model import Run

FIXTURES = Path(__file__).with_name("fixtures")
OLD = FIXTURES / "run_old.json"

NO_GPU = "no NVIDIA GPU on this machine (nvidia-smi not found)"
# Every character that means something in Markdown, HTML, LaTeX or matplotlib's mathtext,
# a line break and non-ASCII letters.
HOSTILE_NAME = "my_net $x^2$ 50% & #1 ~a \\b {c} | <d>\nsecond line é 東"
HOSTILE_CPU = "Intel® Xeon® Gold — München 東京"


def loaded(raw: dict, name: str = "run.json") -> dict:
    """``raw`` (a result file's JSON, either format) as ``load_results`` returns it: format 2,
    checked, with ``_path`` naming a file that no longer exists."""
    with tempfile.TemporaryDirectory() as folder:
        return load_results(write(raw, Path(folder), name))


def as_run(data: dict) -> Run:
    """``data`` (a run as ``load_results`` returns it, or a result file's JSON) as the result
    model that the report modules read, its ``path`` from ``_path``."""
    run = Run.from_dict({key: value for key, value in data.items() if key != "_path"})
    run.path = data.get("_path")
    return run


def old_run() -> dict:
    """The format-1 fixture run, loaded (format 2: one process per row, rounds as epochs)."""
    return loaded(json.loads(OLD.read_text()), OLD.name)


def run_without_gpu(**changes) -> dict:
    """The fixture run plus a skipped CUDA twin of every row (as on a machine without GPU),
    loaded (format 2)."""
    return loaded(_raw_run_without_gpu(**changes))


def _raw_run_without_gpu(**changes) -> dict:
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
    a non-ASCII CPU name, and a command line with ``--`` options; loaded (format 2)."""
    data = _raw_run_without_gpu()
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
        "pytest --benchmark --preset=quick --report-dir=~/runs_2026 # 100% "
        "/home/teacher/courses/deep-learning-2026/week-03/sidebyside/benchmarks/bench_training.py")
    data["sidebyside"]["flags"] = [f"{HOSTILE_NAME}: adam epsilon 1e-08 vs 1e-07"]
    return loaded(data)


def write(data: dict, folder: Path, name: str = "run.json") -> Path:
    """``data`` as a result file ``folder / name`` (``_path``, added by loading, left out)."""
    path = folder / name
    path.write_text(json.dumps({k: v for k, v in data.items() if k != "_path"}),
                    encoding="utf-8")
    return path


def with_format2_summary(frame, processes: int = 5, seeds: int = 2):
    """``frame`` (tidy rows of a format-1 run) with the Summary columns of result format 2
    (docs/result_format.md) that tidy() adds for a format-2 run, derived from its numbers."""
    frame = frame.copy()
    measured = frame["status"] == "ok"
    frame["processes_ok"] = measured.map({True: processes, False: None})
    frame["n_seeds"] = measured.map({True: seeds, False: None})
    frame["us_per_step_ci_low"] = frame["us_per_step"] * 0.97
    frame["us_per_step_ci_high"] = frame["us_per_step"] * 1.04
    frame["spread_iqr_pct"] = 3.5
    frame["ratio_to_torch_loop"] = frame["time_ratio_to_torch_loop"]
    frame["ratio_ci_low"] = frame["ratio_to_torch_loop"] * 0.95
    frame["ratio_ci_high"] = frame["ratio_to_torch_loop"] * 1.05
    frame["first_epoch_cold"] = True
    frame["unstable"] = False
    frame["unstable_reasons"] = [[] for _ in range(len(frame))]
    return frame


def build_hostile_report(folder: Path) -> Path:
    """``hostile_run``'s report folder, built in ``folder`` (matplotlib's default font lacks
    the CJK letter: its warning is expected)."""
    import warnings

    from reports.build import build_report

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Glyph .* missing", UserWarning)
        return build_report(write(hostile_run(), folder), folder / "report")


# A recorded string with what a terminal, a shell or a folder name can hold: ANSI colours,
# NUL, DEL, a bell, C1's NEL, a lone surrogate (JSON's "\ud800"), a lone backslash, a line
# break, LaTeX's specials, brackets and Markdown's cell separator.
CONTROL_TEXT = ("\x1b[31mboom\x1b[0m \x00nul \x7fdel \x07bell \x85nel \ud800 \\ & % $ # _ "
                "{ } ~ ^ [x] | pipe\nsecond line")


def control_character_run() -> dict:
    """A format-2 run (tests.format2) whose every recorded string that a report shows holds
    ``CONTROL_TEXT``: a failed row's reason, an unstable row's reasons, a tuned row's note,
    the flags, the command (with an escape in a folder name), the CPU and a setting."""
    from tests import format2

    rows = [format2.row("torch-loop", [400, 410, 405], unstable=True),
            format2.row("numpy-loop", [100, 101, 99]), format2.skipped_row("torch-loop")]
    failed = rows[1]
    failed.update(status="failed", summary=None, reason=CONTROL_TEXT)
    for process in failed["processes"]:
        process.update(status="failed", reason=CONTROL_TEXT)
    rows[0].update(tag="tuned", tuned_note=CONTROL_TEXT)
    rows[0]["summary"]["unstable_reasons"] = [CONTROL_TEXT]
    rows[0]["processes"][0]["settings"]["convention"] = CONTROL_TEXT
    run = format2.run(rows)
    run["flags"] = [CONTROL_TEXT]
    run["environment"].update(cpu_model=CONTROL_TEXT,
                              command="pytest --benchmark --report-dir=/tmp/a\x1bb\nc/runs")
    return run


# A default run's rows on a 2-core machine (µs per step at batch 32 and 1024, as measured
# by `pytest --benchmark` on the development machine): what the realistic case plants.
REALISTIC_US = {"torch-loop": (415, 588), "keras-tensorflow-fit": (1015, 8847),
                "keras-tensorflow-fit-spe": (376, 5689), "keras-jax-fit": (198, 510),
                "keras-jax-fit-spe": (83, 344), "keras-torch-fit": (2280, 2992),
                "jax-scan": (7.45, 132), "numpy-loop": (66.9, 161)}
BUSY_WARNING = ("the machine was busy before the run: its 2 CPUs were 100% busy in the "
                "second before the run (above 25%; load average 2.36)")
PARTIAL_ROW = "keras-torch-fit-cpu-b1024"
EPOCHS_TEXT = "12 at batch size 32, 120 at batch size 1\u202f024"


def realistic_run() -> dict:
    """A format-3 run like a default run on a busy 2-core machine: 16 CPU rows (8 variants
    at batch 32 and 1024) of 3 processes with 15 samples each, the machine busy, some
    processes starved of CPU (their samples burst: those rows come out unstable), one
    row partial (its third process crashed) and epochs per batch size as a default run's
    (``EPOCHS_TEXT``)."""
    import numpy as np

    from frameworks.variants import VARIANTS
    from tests import format3

    rng = np.random.default_rng(20)
    rows = []
    for b, batch in enumerate((32, 1024)):
        for variant, times in REALISTIC_US.items():
            busy = variant.startswith("keras") and (b == 0 or "jax" in variant)
            groups = [format3.noisy_samples(rng, times[b], 15, process_cv=0.05 if busy else 0.003,
                                            burst_share=0.5 if busy else 0.0, burst=0.8)
                      for _ in range(3)]
            row = format3.row(variant, groups, batch_size=batch)
            spec = VARIANTS[variant]
            row.update(implementation=spec.implementation, mode=spec.mode, tag=spec.tag,
                       tuned_note=spec.note if spec.tag == "tuned" else "")
            for process in row["processes"]:
                process["cpu"].update(runqueue_wait_s=0.5 if busy else 0.01,
                                      others_cores=1.3 if busy else 0.1)
                if busy and process["index"] < 2:
                    process["cpu"].update(starved=True, starved_reason=(
                        "its threads waited 0.5 s for a CPU per second of training (above "
                        "0.25) while other processes kept 1.30 cores busy"))
            if row["id"] == PARTIAL_ROW:
                lost = row["processes"][2]
                lost.update(status="failed", reason="worker exited with status 1: "
                                                    "RuntimeError: injected crash")
                row.update(status="partial", reason="process 3: injected crash")
                row["summary"] = format3.summary_of(row)
            rows.append(row)
    data = format3.run(rows)
    # a default run's rule (results/epochs.py) on this run's 1 024 samples: 12 epochs at
    # batch 32 (32 steps each), 120 at batch 1024 (one step each)
    data["plan"].update(epochs=12, min_steps=120)
    data["warnings"] = [BUSY_WARNING]
    data["environment"].update(busy_before=True, busy_reason=BUSY_WARNING.removeprefix(
        "the machine was busy before the run: "))  # as benchmarks/plugin.py records it
    return data
