"""`sidebyside-reports combine RUN... --out DIR`: several runs in one report.

Two shapes, by what is given:

- **Side by side** (result files and run folders): one column group per run, labelled by the
  user (``--label``) or by machine and device: µs/step with its 95% interval and
  "× torch loop" as each run recorded them, and, for every run after the first, its ratio
  to the first with its interval and verdict, which come from ``reports.compare.compare_runs``
  (the rule of ``compare``, never restated here). Runs of one plan are shown on every row
  of any of them; a row missing or not measured in a run has a dash and the reason. Runs
  of different plans are combined on the rows they share, and the report says which
  settings differ.
- **A class's results** (a folder that is not a run folder: every ``*.json`` under it,
  subfolders too): runs grouped by machine model and device (the CPU's model for CPU rows,
  the GPU's for CUDA rows), and per group and row the number of runs and the median and
  spread of "× torch loop" over them.

An input that cannot be combined (not a result file, truncated, of a future format, a second
copy of a run already read, or a run with no measured row) is left out with one sentence
naming it; the report is written when at least one run is left.

Files: combined.csv, report.md, report.tex (standalone; ``pdflatex report.tex`` in the folder
builds it), report.html (self-contained) and the plot as combined.png and combined.svg.
"""


from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from reports import combine_render, numbers
from reports.cells import UNSTABLE_MARK
from reports.combine_tables import (
    GROUP_CAPTION,
    Labelled,
    flat_table,
    gpu_model,
    group_table,
    grouped,
    latex_tables,
    measured_rows,
    side_by_side,
    teacher_sentence,
)
from reports.errors import USER_ERRORS, ReportError
from results.atomic import write_folder
from results.format import RESULTS_FILE_NAME
from results.load import load_run
from results.model import Environment, Run

TITLE = "sidebyside: runs side by side"
CLASS_TITLE = "sidebyside: a class's runs by machine"


class NothingCombined(ReportError):
    """No input could be combined; ``problems`` holds one sentence per input."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message)
        self.problems = problems


# -- inputs ---------------------------------------------------------------------------------

def _is_run_folder(folder: Path) -> bool:
    return (folder / RESULTS_FILE_NAME).is_file() or (folder / "benchmark.json").is_file()


def collection_files(folder: Path) -> list[Path]:
    """Every ``*.json`` under ``folder`` (subfolders too, sorted, hidden names left out),
    but a run folder's benchmark.json export beside its results.json."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not name.endswith(".json"):
                continue
            if name == "benchmark.json" and RESULTS_FILE_NAME in files:
                continue  # the pytest-benchmark export of the run beside it
            found.append(Path(root) / name)
    return found


def run_id(run: Run) -> str:
    """The run's ``run_id`` (written since runs could be combined), else a digest of what
    was measured: the start, the environment and every row's processes, as the file holds
    them. Two copies of one file share it; two runs never do."""
    if run.get("run_id"):
        return run.run_id
    environment = run.get("environment")
    measured = {"started": run.get("started"),
                "environment": environment.to_dict() if environment else environment,
                "rows": [[r.id, [p.to_dict() for p in r.processes]] for r in run.rows]}
    text = json.dumps(measured, sort_keys=True, default=str)
    return "digest-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def load_inputs(paths: list[str]) -> tuple[list[tuple[Run, int]], list[str], bool]:
    """The runs that can be combined, each with the index of the argument it came from, one
    sentence per input that cannot, and whether a folder of result files was given."""
    runs, problems, seen, grouped = [], [], {}, False
    for argument, given in enumerate(paths):
        path = Path(given)
        if path.is_dir() and not _is_run_folder(path):
            grouped = True
            files = collection_files(path)
            if not files:
                problems.append(f"{given}: a folder without result files (*.json)")
        else:
            files = [path]
        for file in files:
            try:
                run = load_run(file)
            except USER_ERRORS as err:
                problems.append(str(err))
                continue
            key = run_id(run)
            if key in seen:
                problems.append(f"{run.path}: the same run as {seen[key]} (run id "
                                f"{key}), so it is counted once")
                continue
            if not measured_rows(run):
                statuses = sorted({r.status for r in run.rows})
                held = (f"its {len(run.rows)} rows are {', '.join(statuses)}"
                        if statuses else "it holds no row")
                problems.append(f"{run.path}: no row of this run was measured ({held}), "
                                f"so it has nothing to combine")
                continue
            seen[key] = run.path
            runs.append((run, argument))
    return _without_merged_parts(runs, problems), problems, grouped


def _without_merged_parts(runs: list[tuple[Run, int]], problems: list[str]) -> list:
    """``runs`` without the parts of a run merged from them (`sidebyside-reports merge`)
    that is among them too: its rows are the merged run's, and would count twice. A
    sentence for each part left out is added to ``problems``."""
    merged_into = {part.run_id: run.path for run, _ in runs
                   for part in run.get("merged_from") or [] if part.get("run_id")}
    kept = []
    for run, argument in runs:
        if run.get("run_id") in merged_into:
            problems.append(f"{run.path}: a part of the merged run "
                            f"{merged_into[run.run_id]}, which holds its rows, so it is "
                            f"counted once")
            continue
        kept.append((run, argument))
    return kept


def _devices(run: Run) -> list[str]:
    return list(dict.fromkeys(r.device for r in measured_rows(run)))


def machine_label(run: Run) -> str:
    """A run's default label: its CPU model and the devices it measured (a GPU by model)."""
    env = run.environment or Environment()
    parts = []
    for device in _devices(run):
        parts.append(device if device == "cpu" else f"{device} {gpu_model(run, device)}")
    return f"{short_model(env.get('cpu_model') or 'unknown CPU')} · {', '.join(parts)}"


_MODEL_NOISE = re.compile(r"\((?:R|TM|tm|r)\)|®|™|\bCPU\b|\bProcessor\b|\b\d+-Core\b")


def short_model(model: str) -> str:
    """A CPU or GPU model without its trademarks and filler words, for a label: "Intel(R)
    Xeon(R) Processor @ 2.80GHz" is "Intel Xeon @ 2.80GHz"."""
    return " ".join(_MODEL_NOISE.sub(" ", model).split()) or model


def _labels(runs: list[tuple[Run, int]], given: list[str] | None) -> list[str]:
    if given:
        return [given[argument] for _, argument in runs]
    labels = [machine_label(run) for run, _ in runs]
    for label in set(labels):  # the same machine twice: numbered
        if labels.count(label) > 1:
            labels = [f"{text} #{n}" if text == label else text
                      for n, text in enumerate(labels, 1)]
    return labels


# -- the command ----------------------------------------------------------------------------

def document(runs: list[Labelled], grouped_mode: bool, delta_pct: float,
             problems: list[str]) -> dict:
    """The combined report as sections of tables and sentences, for every renderer
    (reports.combine_render): runs side by side, or a class's runs grouped by machine."""
    lists = [("Runs", combine_render.runs_list(runs)), ("Not combined", problems)]
    doc = (_class_document(runs) if grouped_mode else _side_by_side_document(runs, delta_pct))
    return doc | {"lists": lists}


def _side_by_side_document(runs: list[Labelled], delta_pct: float) -> dict:
    result = side_by_side(runs, delta_pct)
    band = 1 + delta_pct / 100
    caption = (f"Per run: µs per training step by the run's headline estimator (p10 of the "
               f"steady-state samples; in a result file of an older sidebyside, the median "
               f"over worker processes) with its 95% CI, and × torch loop (the row's time "
               f"over the PyTorch loop's in the same run). For every run after "
               f"{runs[0].label}: its time over "
               f"{runs[0].label}'s with the 95% CI, and the verdict of compare: same if "
               f"the interval lies within {numbers.ratio_interval(1 / band, band)}, slower or "
               f"faster if the test says so, else inconclusive (too few processes: a run "
               f"had one process for the row, so the difference between processes is not "
               f"measured and no verdict is given). {numbers.MISSING}: not "
               f"measured in that run (the reason is under the table). {UNSTABLE_MARK} after a "
               "time, its cell shaded on the web page: the row was unstable in that run, its "
               "time not pinned down (that run's report says why).")
    section = {"title": "Side by side", "caption": caption, "table": flat_table(result, runs),
               "html": combine_render.html_grouped_table(result, runs),
               "latex": latex_tables(result, runs), "notes": result["notes"]}
    plot = {"series": combine_render.side_by_side_series(result), "rows": result["rows"],
            "xlabel": "µs per training step (log scale; line: 95% CI)",
            "title": "SimpleNet training time per step, runs side by side"}
    return {"title": TITLE, "intro": f"{len(runs)} runs, {runs[0].label} first.",
            "sections": [section], "frame": result["frame"],
            "figure": combine_render.figure(plot, f"{len(runs)} runs"),
            "plot_caption": "Time per step, runs side by side"}


def _class_document(runs: list[Labelled]) -> dict:
    result = grouped(runs)
    course = {r.id for run in runs for r in run.run.rows if r.get("tag") == "course"}
    sections = []
    for machine, device, n in result["groups"]:
        frame = result["frame"][(result["frame"]["machine"] == machine)
                                & (result["frame"]["device"] == device)]
        sentence = teacher_sentence(machine, device, n, frame, course)
        sections.append({"title": f"{machine} ({device}): {n} run{'' if n == 1 else 's'}",
                         "caption": GROUP_CAPTION, "table": group_table(frame),
                         "sentences": [sentence] if sentence else [], "notes": []})
    if sections:
        sections[0]["notes"] = result["notes"]
    rows = list(dict.fromkeys(result["frame"]["row"]))
    plot = {"series": combine_render.grouped_series(result), "rows": rows,
            "xlabel": "× torch loop (log scale; dot: median, line: middle half of the runs)",
            "title": "Time per step over the PyTorch loop's, by machine"}
    return {"title": CLASS_TITLE,
            "intro": f"{len(runs)} runs in {len(result['groups'])} groups of machine model "
                     f"and device.",
            "sections": sections, "frame": result["frame"],
            "figure": combine_render.figure(plot, f"{len(runs)} runs"),
            "plot_caption": "× torch loop by machine"}


def combine(paths: list[str], out: str | Path, labels: list[str] | None = None,
            delta_pct: float = 5.0) -> tuple[Path, list[str]]:
    """Combine the runs ``paths`` into the report folder ``out``; return it and one sentence
    per input left out. Raises ReportError (one sentence) for labels that do not match the
    runs or an ``out`` that holds a result file, NothingCombined when no input can be
    combined; OSError when a file cannot be written (nothing is moved into place then)."""
    if labels is not None and len(labels) != len(paths):
        raise ReportError(f"--label was given {len(labels)} time{'' if len(labels) == 1 else 's'}"
                          f" for {len(paths)} runs; give one label per run, in order")
    twice = [label for label in dict.fromkeys(labels or []) if labels.count(label) > 1]
    if twice:
        raise ReportError(f"--label {twice[0]} is given twice; give each run a label of its "
                          f"own, since the report's columns are named by them")
    loaded, problems, grouped_mode = load_inputs(paths)
    if grouped_mode and labels:
        raise ReportError("--label names runs side by side, but a folder of result files is "
                          "grouped by machine instead; leave --label out")
    if not loaded:
        raise NothingCombined(f"no run could be combined ({len(problems)} input"
                              f"{'' if len(problems) == 1 else 's'} left out)", problems)
    names = _labels(loaded, labels)
    runs = [Labelled(run, label) for (run, _), label in zip(loaded, names)]
    out = Path(out)
    if (out / RESULTS_FILE_NAME).exists():
        raise ReportError(f"{out} is the run folder of {out / RESULTS_FILE_NAME}; its report "
                          f"would be replaced, so give another folder")
    doc = document(runs, grouped_mode, delta_pct, problems)
    try:
        folder = write_folder(out, combine_render.files(doc),
                              protect=[Path(run.path) for run in runs])
    except FileExistsError as err:
        raise ReportError(f"{err.filename} is an input; the report there would replace it, "
                          f"so give another folder") from None
    return folder, problems

