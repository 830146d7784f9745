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

import dataclasses
import hashlib
import json
import os
import re
import statistics
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.ticker import NullFormatter

from reports import html, latex, markdown, plots
from reports.document import UNSTABLE_MARK
from reports.load import ReportError, load_run
from results.atomic import StagedFolder, write_bytes_atomic, write_text_atomic
from results.format import RESULTS_FILE_NAME
from results.model import Commit, Environment, Row, Run, Summary
from results.summary import REFERENCE_VARIANT

TITLE = "sidebyside: runs side by side"
CLASS_TITLE = "sidebyside: a class's runs by machine"
PLOT_NAME = "combined"
# At most this many runs per LaTeX table: a column per run, and the text block holds four
# at \small beside the row names (reports.latex.to_latex steps the font down beyond).
LATEX_RUNS_PER_TABLE = 4
DASH = "–"


class NothingCombined(ReportError):
    """No input could be combined; ``problems`` holds one sentence per input."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message)
        self.problems = problems


@dataclasses.dataclass
class Labelled:
    """One loaded run and how the report names it."""
    run: Run
    label: str

    @property
    def path(self) -> str:
        """The result file it was read from."""
        return self.run.path


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


def _measured(run: Run) -> list[Row]:
    return [r for r in run.rows if r.summary]


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
            except ReportError as err:
                problems.append(str(err))
                continue
            key = run_id(run)
            if key in seen:
                problems.append(f"{run.path}: the same run as {seen[key]} (run id "
                                f"{key}), so it is counted once")
                continue
            if not _measured(run):
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
    return list(dict.fromkeys(r.device for r in _measured(run)))


def machine_label(run: Run) -> str:
    """A run's default label: its CPU model and the devices it measured (a GPU by model)."""
    env = run.environment or Environment()
    parts = []
    for device in _devices(run):
        parts.append(device if device == "cpu" else f"{device} {_gpu_model(run, device)}")
    return f"{short_model(env.get('cpu_model') or 'unknown CPU')} · {', '.join(parts)}"


_MODEL_NOISE = re.compile(r"\((?:R|TM|tm|r)\)|®|™|\bCPU\b|\bProcessor\b|\b\d+-Core\b")


def short_model(model: str) -> str:
    """A CPU or GPU model without its trademarks and filler words, for a label: "Intel(R)
    Xeon(R) Processor @ 2.80GHz" is "Intel Xeon @ 2.80GHz"."""
    return " ".join(_MODEL_NOISE.sub(" ", model).split()) or model


def _gpu_model(run: Run, device: str) -> str:
    for row in _measured(run):
        if row.device == device:
            for process in row.ok_processes():
                name = (process.get("settings") or {}).get("device_name")
                if name:
                    return str(name)
    return "unknown GPU"


def machine_of(run: Run, device: str) -> str:
    """The machine model a run's rows on ``device`` ran on: the CPU's for CPU rows, the
    GPU's for the others."""
    if device == "cpu":
        return (run.environment or Environment()).get("cpu_model") or "unknown CPU"
    return _gpu_model(run, device)


def _labels(runs: list[tuple[Run, int]], given: list[str] | None) -> list[str]:
    if given:
        return [given[argument] for _, argument in runs]
    labels = [machine_label(run) for run, _ in runs]
    for label in set(labels):  # the same machine twice: numbered
        if labels.count(label) > 1:
            labels = [f"{text} #{n}" if text == label else text
                      for n, text in enumerate(labels, 1)]
    return labels


# -- plans ----------------------------------------------------------------------------------

def plan_differences(runs: list[Labelled]) -> list[str]:
    """One phrase per plan setting that differs between the runs: 'epochs (A: 3; B: 30)'."""
    out = []
    for key in _shared_plan_keys(runs):
        by_value: dict[str, list[str]] = {}
        for run in runs:
            value = run.run.plan[key]
            by_value.setdefault(_value(value), []).append(run.label)
        if len(by_value) > 1:
            out.append(f"{key} (" + "; ".join(f"{value} in {', '.join(labels)}"
                                              for value, labels in by_value.items()) + ")")
    return out


def _shared_plan_keys(runs: list[Labelled]) -> list[str]:
    """The plan settings that every run records (a setting that older files lack, such as
    the sweeps, had its default then)."""
    keys = set(runs[0].run.plan)
    for run in runs[1:]:
        keys &= set(run.run.plan)
    return sorted(keys)


def _value(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, dict):
        return json.dumps(value)
    return "none" if value is None else str(value)


# -- side by side ---------------------------------------------------------------------------

def _by_id(run: Run) -> dict[str, Row]:
    return {r.id: r for r in run.rows}


def _missing_reason(row: Row | None) -> str:
    if row is None:
        return "not in this run"
    reason = (row.get("reason") or "").splitlines()
    return row.status + (f": {reason[0]}" if reason else "")


def side_by_side(runs: list[Labelled], delta_pct: float = 5.0) -> dict:
    """The side-by-side comparison of ``runs`` (the first is the reference).

    Returns ``frame`` (long: one line per row and run, the columns of combined.csv),
    ``rows`` (the row ids shown, in order), ``notes`` (sentences: plan differences, rows
    left out, missing rows' reasons, runs that did not finish) and ``delta_pct``.
    """
    from reports.compare import compare_runs

    differences = plan_differences(runs)
    ids = [list(_by_id(run.run)) for run in runs]
    if differences:  # different plans: only the rows every run has
        shown = [r for r in ids[0] if all(r in other for other in ids[1:])]
    else:
        shown = list(dict.fromkeys(r for run_ids in ids for r in run_ids))
    notes = []
    if differences:
        left_out = [r for r in dict.fromkeys(r for run_ids in ids for r in run_ids)
                    if r not in shown]
        notes.append(f"The runs' plans differ in {'; '.join(differences)}; they are combined "
                     f"on the {len(shown)} rows they share"
                     + (f", leaving out {', '.join(left_out)}" if left_out else ""))
    if not shown:
        raise ReportError(f"the runs share no row (their plans differ in "
                          f"{'; '.join(differences)}), so there is nothing to set side by side")
    # No machine factor: the runs are usually other machines, and how much faster one
    # machine is on every row is what the table is for.
    comparisons = [None] + [compare_runs(runs[0].run, run.run, delta_pct=delta_pct,
                                         machine_factor=False)
                            for run in runs[1:]]
    records, missing = [], {}
    for k, run in enumerate(runs):
        rows = _by_id(run.run)
        compared = ({} if comparisons[k] is None else
                    {r["row"]: r for r in comparisons[k].rows.to_dict("records")})
        for row_id in shown:
            row = rows.get(row_id)
            summary = (row.summary if row is not None else None) or Summary()
            c = compared.get(row_id, {})
            records.append({
                "run": run.label, "path": run.path, "row": row_id,
                "status": row.status if row else "absent",
                "reason": "" if row and row.summary else _missing_reason(row),
                "us_per_step": summary.get("us_per_step"),
                "us_per_step_ci_low": summary.get("us_per_step_ci_low"),
                "us_per_step_ci_high": summary.get("us_per_step_ci_high"),
                "ratio_to_torch_loop": summary.get("ratio_to_torch_loop"),
                "ratio_ci_low": summary.get("ratio_ci_low"),
                "ratio_ci_high": summary.get("ratio_ci_high"),
                "ratio_to_first": c.get("ratio"), "ratio_to_first_ci_low": c.get("ci_low"),
                "ratio_to_first_ci_high": c.get("ci_high"), "verdict": c.get("verdict"),
                "unstable": bool(summary.get("unstable"))})
            if not (row and row.summary):
                missing.setdefault((row_id, _missing_reason(row)), []).append(run.label)
    # one note per row and reason, naming the runs: a row skipped everywhere is one line
    notes += [f"{row_id} in {', '.join(labels)}: {reason}"
              for (row_id, reason), labels in missing.items()]
    for run in runs:
        if run.run.complete is False:
            notes.append(f"{run.label} did not finish (interrupted by "
                         f"{run.run.get('interrupted_by') or 'an unknown cause'})")
        if (run.run.environment or Environment()).get("busy_before"):
            notes.append(f"the machine of {run.label} was busy when the run began")
    frame = pd.DataFrame.from_records(records)
    return {"frame": frame, "rows": shown, "notes": notes, "delta_pct": delta_pct}


def _number(value, spec: str) -> str:
    return DASH if value is None or pd.isna(value) else format(value, spec)


def _interval(low, high, spec: str) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return DASH
    return f"{format(low, spec)}–{format(high, spec)}"


def _cells(line: dict, first: bool) -> dict[str, str]:
    """One run's cells of one row: the display strings of its column group."""
    if line["us_per_step"] is None or pd.isna(line["us_per_step"]):
        short = DASH + " " + ("not in run" if line["status"] == "absent" else line["status"])
        cells = {"µs/step": short, "95% CI": "", "× torch loop": ""}
        if not first:
            cells |= {"÷ first": "", "÷ first, 95% CI": "", "verdict": ""}
        return cells
    mark = f" {UNSTABLE_MARK}" if line["unstable"] else ""
    cells = {"µs/step": _number(line["us_per_step"], ",.1f") + mark,
             "95% CI": _interval(line["us_per_step_ci_low"], line["us_per_step_ci_high"],
                                 ",.1f"),
             "× torch loop": _number(line["ratio_to_torch_loop"], ".2f")}
    if not first:
        cells |= {"÷ first": _number(line["ratio_to_first"], ".3f"),
                  "÷ first, 95% CI": _interval(line["ratio_to_first_ci_low"],
                                       line["ratio_to_first_ci_high"], ".3f"),
                  "verdict": line["verdict"] if isinstance(line["verdict"], str) else DASH}
    return cells


def display_groups(result: dict, runs: list[Labelled]) -> list[tuple[str, pd.DataFrame]]:
    """(run label, its column group as display strings) per run; every frame has the same
    rows (``result['rows']``), in order."""
    frame = result["frame"]
    groups = []
    for k, run in enumerate(runs):
        part = frame[frame["run"] == run.label].set_index("row")
        groups.append((run.label, pd.DataFrame(
            [_cells(part.loc[row_id].to_dict(), k == 0) for row_id in result["rows"]])))
    return groups


def flat_table(result: dict, runs: list[Labelled]) -> pd.DataFrame:
    """The side-by-side table with one column per run and quantity ("LABEL: µs/step"),
    for Markdown, whose tables have a single header line."""
    columns = {"Row": result["rows"]}
    for label, group in display_groups(result, runs):
        for name in group.columns:
            columns[f"{label}: {name.strip()}"] = list(group[name])
    return pd.DataFrame(columns)


def latex_tables(result: dict, runs: list[Labelled]) -> list[str]:
    """The side-by-side comparison as LaTeX floats that fit the page: per quantity (µs/step
    with its interval, × torch loop, ratio to the first run with interval and verdict) a
    table with one column per run, at most LATEX_RUNS_PER_TABLE runs each."""
    groups = dict(display_groups(result, runs))
    first = runs[0].label
    floats = []
    for start in range(0, len(runs), LATEX_RUNS_PER_TABLE):
        chunk = [run.label for run in runs[start:start + LATEX_RUNS_PER_TABLE]]
        time = {"Row": result["rows"]}
        ratio = {"Row": result["rows"]}
        for label in chunk:
            time[label] = list(groups[label]["µs/step"])
            # a column named "95% CI ..." is set under the number before it (to_latex)
            time[f"95% CI {label}"] = list(groups[label]["95% CI"])
            ratio[label] = list(groups[label]["× torch loop"])
        floats.append(latex.to_latex(pd.DataFrame(time), "µs per training step: median "
                                      "over worker processes (95% CI under it)"))
        floats.append(latex.to_latex(pd.DataFrame(ratio), "× torch loop: each row's time "
                                      "over the PyTorch loop's in the same run"))
        to_first = {"Row": result["rows"]}
        for label in chunk:
            if label == first:
                continue
            group = groups[label]
            to_first[label] = [f"{r} {v}" if r and r != DASH else (r or DASH)
                               for r, v in zip(group["÷ first"], group["verdict"])]
            to_first[f"95% CI {label}"] = list(group["÷ first, 95% CI"])
        if len(to_first) > 1:
            floats.append(latex.to_latex(
                pd.DataFrame(to_first), f"Each run's time over {first}'s, with its 95% CI "
                f"and the verdict of compare (±{result['delta_pct']:g}%)"))
    return floats


# -- a class's results ----------------------------------------------------------------------

def grouped(runs: list[Labelled]) -> dict:
    """Runs grouped by machine model and device, and per group and row the spread of
    × torch loop over the runs.

    Returns ``frame`` (one line per group and row: machine, device, runs_in_group, row,
    runs, ratio median, q1, q3, min, max, µs/step median; quartiles inclusive, from
    ``statistics.quantiles``, so with one run all equal that run's value), ``groups``
    ((machine, device, number of runs) in order) and ``notes``.
    """
    values: dict[tuple, dict[str, list]] = {}
    members: dict[tuple, set] = {}
    for run in runs:
        for row in _measured(run.run):
            key = (machine_of(run.run, row.device), row.device)
            members.setdefault(key, set()).add(run.path)
            summary = row.summary
            entry = values.setdefault(key, {}).setdefault(row.id, {"ratio": [], "us": []})
            entry["us"].append(summary.us_per_step)
            if summary.get("ratio_to_torch_loop") is not None:
                entry["ratio"].append(summary.ratio_to_torch_loop)
    records = []
    order = sorted(values, key=lambda k: (-len(members[k]), k))
    for key in order:
        for row_id, entry in values[key].items():
            ratios = sorted(entry["ratio"])
            q1 = q3 = statistics.median(ratios) if ratios else None
            if len(ratios) >= 2:
                q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
            records.append({
                "machine": key[0], "device": key[1], "runs_in_group": len(members[key]),
                "row": row_id, "runs": len(entry["us"]), "runs_with_ratio": len(ratios),
                "ratio_median": statistics.median(ratios) if ratios else None,
                "ratio_q1": q1, "ratio_q3": q3,
                "ratio_min": ratios[0] if ratios else None,
                "ratio_max": ratios[-1] if ratios else None,
                "us_per_step_median": statistics.median(entry["us"])})
    notes = []
    differences = plan_differences(runs) if len(runs) <= 8 else _plan_keys_differing(runs)
    if differences:
        notes.append(f"The runs' plans differ in {'; '.join(differences)}: a row's runs "
                     f"may have trained other sizes or epochs")
    return {"frame": pd.DataFrame.from_records(records),
            "groups": [(k[0], k[1], len(members[k])) for k in order], "notes": notes}


def _plan_keys_differing(runs: list[Labelled]) -> list[str]:
    """The plan settings that differ among many runs, each with how many values it takes."""
    out = []
    for key in _shared_plan_keys(runs):
        values = {json.dumps(run.run.plan[key], sort_keys=True) for run in runs}
        if len(values) > 1:
            out.append(f"{key} ({len(values)} values)")
    return out


def group_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One group's lines as display strings."""
    return pd.DataFrame({
        "Row": frame["row"],
        "Runs": frame["runs"].astype(str),
        "× torch loop, median": [_number(v, ".2f") for v in frame["ratio_median"]],
        "middle half": [_interval(a, b, ".2f") if n >= 2 else DASH
                        for a, b, n in zip(frame["ratio_q1"], frame["ratio_q3"],
                                           frame["runs_with_ratio"])],
        "range": [_interval(a, b, ".2f") if n >= 2 else DASH
                  for a, b, n in zip(frame["ratio_min"], frame["ratio_max"],
                                     frame["runs_with_ratio"])],
        "µs/step, median": [_number(v, ",.1f") for v in frame["us_per_step_median"]],
    }).reset_index(drop=True)


GROUP_CAPTION = ("Per row: how many runs measured it, the median of their × torch loop (the "
                 "row's time per step over the PyTorch loop's in the same run), the middle "
                 "half of the runs (first to third quartile) and all of them (least to "
                 "greatest), and the median µs per step.")


def teacher_sentence(machine: str, device: str, n_runs: int, frame: pd.DataFrame,
                     course_rows: set[str] = frozenset()) -> str | None:
    """'On the 14 runs on <machine> (cpu), keras-tensorflow-fit-cpu-b32 took 2.4 to 3.1 times
    as long per step as the PyTorch loop (middle half of the runs; median 2.7).', for the
    group's first course row (``course_rows``; else its first row) other than the loop
    itself that two runs or more measured; None when there is none."""
    lines = [line for line in frame.to_dict("records") if line["runs_with_ratio"] >= 2
             and not line["row"].startswith(REFERENCE_VARIANT + "-")]
    lines.sort(key=lambda line: line["row"] not in course_rows)  # stable: table order kept
    if not lines:
        return None
    line = lines[0]
    return (f"On the {n_runs} runs on {machine} ({device}), {line['row']} took "
            f"{line['ratio_q1']:.2g} to {line['ratio_q3']:.2g} times as long per step as the "
            f"PyTorch loop (middle half of the runs; median {line['ratio_median']:.2g}).")


# -- the plot -------------------------------------------------------------------------------

def figure(sections: dict, footnote: str):
    """One figure: per row a dot and an interval for each run (side by side: µs/step and its
    95% CI) or each group (a class: median × torch loop and the middle half), log x axis."""
    from matplotlib.figure import Figure

    series = sections["series"]  # [(name, {row: (value, low, high)})]
    rows = sections["rows"]
    height = min(max(4.0, 0.32 * len(rows) * max(1, len(series)) ** 0.5 + 2.5), 30.0)
    with matplotlib.rc_context(plots.STYLE):
        fig = Figure(figsize=(plots.SLIDE_INCHES[0], height), layout="constrained")
        ax = fig.add_subplot()
        step = 0.8 / max(1, len(series))
        for k, (name, points) in enumerate(series):
            look = {"color": plots.PALETTE[k % len(plots.PALETTE)],
                    "marker": plots.MARKERS[k % len(plots.MARKERS)]}
            ys, xs = [], []
            for i, row in enumerate(rows):
                if row not in points:
                    continue
                value, low, high = points[row]
                y = i - 0.4 + step * (k + 0.5)
                if low is not None and high is not None:
                    ax.plot([low, high], [y, y], color=look["color"], linewidth=2.5,
                            solid_capstyle="butt")
                ys.append(y)
                xs.append(value)
            ax.plot(xs, ys, linestyle="none", markersize=7, markeredgecolor="black",
                    label=plots._text(name), **look)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks(range(len(rows)), [plots._text(r) for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlabel(sections["xlabel"])
        ax.grid(axis="x", color="0.9")
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center",
                       ncol=min(len(handles), 2), frameon=False)
        fig.suptitle(plots._text(f"{sections['title']}\n{footnote}"),
                     fontsize=plots.FONT_PT + 1)
    return fig


def _point(value, low, high):
    clean = lambda v: None if v is None or pd.isna(v) else float(v)
    return clean(value), clean(low), clean(high)


def side_by_side_series(result: dict) -> list:
    series = []
    for label, part in result["frame"].groupby("run", sort=False):
        series.append((label, {r["row"]: _point(r["us_per_step"], r["us_per_step_ci_low"],
                                                r["us_per_step_ci_high"])
                               for r in part.to_dict("records")
                               if r["us_per_step"] is not None
                               and not pd.isna(r["us_per_step"])}))
    return series


def grouped_series(result: dict) -> list:
    series = []
    for machine, device, n in result["groups"]:
        part = result["frame"][(result["frame"]["machine"] == machine)
                               & (result["frame"]["device"] == device)]
        series.append((f"{machine} ({device}), {n} run{'' if n == 1 else 's'}",
                       {r["row"]: _point(r["ratio_median"], r["ratio_q1"], r["ratio_q3"])
                        for r in part.to_dict("records") if r["ratio_median"] is not None
                        and not pd.isna(r["ratio_median"])}))
    return series


# -- rendering ------------------------------------------------------------------------------

# The HTML table's columns per run: (header, cell above, cell below it in small print).
_HTML_COLUMNS = (("µs/step (95% CI)", "µs/step", "95% CI"), ("× torch loop", "× torch loop", None),
                 ("÷ first (95% CI)", "÷ first", "÷ first, 95% CI"), ("verdict", "verdict", None))


def _html_grouped_table(result: dict, runs: list[Labelled]) -> str:
    """The side-by-side table with a header line of run labels over their column groups;
    each interval in small print under its number, so that a run is four narrow columns."""
    esc = html.escape
    groups = display_groups(result, runs)
    shown = [[c for c in _HTML_COLUMNS if c[1] in g.columns] for _, g in groups]
    top = '<th scope="col" rowspan="2">Row</th>' + "".join(
        f'<th scope="colgroup" colspan="{len(columns)}">{esc(label)}</th>'
        for (label, _), columns in zip(groups, shown))
    second = "".join(f'<th scope="col">{esc(header)}</th>' for columns in shown
                     for header, _, _ in columns)
    body = []
    for i, row_id in enumerate(result["rows"]):
        cells = []
        for (_, group), columns in zip(groups, shown):
            for _, above, below in columns:
                under = group.iloc[i][below] if below else ""
                cells.append(f"<td>{esc(group.iloc[i][above])}"
                             + (f"<br><small>{esc(under)}</small>" if under else "") + "</td>")
        body.append(f'<tr><th scope="row">{esc(row_id)}</th>{"".join(cells)}</tr>')
    return (f'<div class="wide"><table class="results"><thead><tr>{top}</tr><tr>{second}'
            f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _runs_list(runs: list[Labelled]) -> list[str]:
    out = []
    for run in runs:
        env = run.run.environment or Environment()
        commit = ((env.get("commit") or Commit()).get("id") or "unknown")[:12]
        out.append(f"{run.label}: {run.path} (started {run.run.started[:19]}, "
                   f"{env.get('cpu_model') or 'unknown CPU'}, commit {commit})")
    return out


def render(document: dict, out: Path) -> None:
    """Write every file of the combined report into the folder ``out``."""
    write_text_atomic(out / "combined.csv", document["frame"].to_csv(index=False))
    png, svg = plots.render(document["figure"])
    write_bytes_atomic(out / f"{PLOT_NAME}.png", png)
    write_bytes_atomic(out / f"{PLOT_NAME}.svg", svg)
    write_text_atomic(out / "report.md", markdown_report(document))
    write_text_atomic(out / "report.tex", latex_report(document))
    write_text_atomic(out / "report.html", html_report(document, png))


def _list_md(items) -> list[str]:
    return [f"- {markdown.markdown_escape(i)}" for i in items] + ([""] if items else [])


def markdown_report(doc: dict) -> str:
    parts = [f"# {markdown.markdown_escape(doc['title'])}", "",
             markdown.markdown_escape(doc["intro"]), ""]
    for section in doc["sections"]:
        parts += [f"## {markdown.markdown_escape(section['title'])}", ""]
        parts += [markdown.markdown_escape(s) + "  " for s in section.get("sentences", [])]
        parts += ([""] if section.get("sentences") else [])
        parts += [markdown.markdown_escape(section["caption"]), "",
                  markdown.to_markdown(section["table"]), ""]
        parts += _list_md(section.get("notes", []))
    parts += [f"![{PLOT_NAME}]({PLOT_NAME}.png)", ""]
    for title, items in doc["lists"]:
        if items:
            parts += [f"## {title}", ""] + _list_md(items)
    return "\n".join(parts)


def latex_report(doc: dict) -> str:
    esc = latex.latex_escape
    body = [r"\documentclass[11pt,a4paper]{article}", *latex.LATEX_PACKAGES,
            r"\usepackage{lmodern}", r"\usepackage[margin=2cm]{geometry}",
            r"\usepackage{graphicx}", rf"\title{{{esc(doc['title'])}}}", r"\date{}",
            r"\author{}", r"\begin{document}", r"\maketitle",
            r"{\raggedright " + esc(doc["intro"]) + r"\par}"]
    for section in doc["sections"]:
        body.append(rf"\section*{{{esc(section['title'])}}}")
        # row ids break after their hyphens, and ragged right: long ids cannot be justified
        body += [r"{\raggedright " + esc(s).replace("-{}", r"-{}\allowbreak{}") + r"\par}"
                 for s in section.get("sentences", [])]
        for table in section.get("latex") or [latex.to_latex(
                section["table"], section["caption"])]:
            body += [table, ""]
        if section.get("notes"):
            body += [r"{\raggedright\small"]
            body += [esc(n).replace("-{}", r"-{}\allowbreak{}") + r"\par"
                     for n in section["notes"]]
            body += ["}"]
        body.append(r"\clearpage")
    body += [r"\begin{figure}[htbp]", r"\centering",
             rf"\includegraphics[width=\linewidth,height=0.8\textheight,keepaspectratio]"
             rf"{{{PLOT_NAME}.png}}", rf"\caption{{{esc(doc['plot_caption'])}}}",
             r"\end{figure}"]
    for title, items in doc["lists"]:
        if items:
            body += [rf"\section*{{{esc(title)}}}", r"{\raggedright\small"]
            body += [esc(i).replace("/", r"/\allowbreak{}").replace("-{}", r"-{}\allowbreak{}")
                     + r"\par" for i in items]
            body += ["}"]
    body += [r"\end{document}", ""]
    return "\n".join(body)


def html_report(doc: dict, png: bytes) -> str:
    esc = html.escape
    body = [f"<h1>{esc(doc['title'])}</h1><p>{esc(doc['intro'])}</p>"]
    for section in doc["sections"]:
        body.append(f"<h2>{esc(section['title'])}</h2>")
        body += [f"<p><strong>{esc(s)}</strong></p>" for s in section.get("sentences", [])]
        body.append(f'<p class="caption">{esc(section["caption"])}</p>')
        body.append(section.get("html") or html.table(section["table"]))
        if section.get("notes"):
            body.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>"
                                                       for n in section["notes"]) + "</ul>")
    body.append(f"<h2>{esc(doc['plot_caption'])}</h2>"
                + html.image(png, doc["plot_caption"]))
    for title, items in doc["lists"]:
        if items:
            body.append(f"<h2>{esc(title)}</h2><ul>" + "".join(f"<li>{esc(i)}</li>"
                                                              for i in items) + "</ul>")
    return html.page(doc["title"], body, style=(
        "table.results th[scope=colgroup]{text-align:center;border-bottom:1px solid #888}"
        "table.results th[scope=row]{text-align:left;font-weight:normal;white-space:nowrap}"
        "div.wide{overflow-x:auto}div.wide td{white-space:nowrap}"))


# -- the command ----------------------------------------------------------------------------

def document(runs: list[Labelled], grouped_mode: bool, delta_pct: float,
             problems: list[str]) -> dict:
    """The combined report as sections of tables and sentences, for every renderer."""
    lists = [("Runs", _runs_list(runs)), ("Not combined", problems)]
    if not grouped_mode:
        result = side_by_side(runs, delta_pct)
        band = 1 + delta_pct / 100
        caption = (f"Per run: median µs per training step over its worker processes with "
                   f"the 95% CI, and × torch loop (the row's time over the PyTorch loop's in "
                   f"the same run). For every run after {runs[0].label}: its time over "
                   f"{runs[0].label}'s with the 95% CI, and the verdict of compare: same if "
                   f"the interval lies within [{1 / band:.3f}, {band:.3f}], slower or faster "
                   f"if the test says so, else inconclusive. A dash: not measured in that "
                   f"run (the reason is under the table). {UNSTABLE_MARK}: unstable.")
        section = {"title": "Side by side", "caption": caption,
                   "table": flat_table(result, runs), "html": _html_grouped_table(result, runs),
                   "latex": latex_tables(result, runs), "notes": result["notes"]}
        plot = {"series": side_by_side_series(result), "rows": result["rows"],
                "xlabel": "µs per training step (log scale; line: 95% CI)",
                "title": "SimpleNet training time per step, runs side by side"}
        return {"title": TITLE, "intro": f"{len(runs)} runs, {runs[0].label} first.",
                "sections": [section], "lists": lists, "frame": result["frame"],
                "figure": figure(plot, f"{len(runs)} runs"),
                "plot_caption": "Time per step, runs side by side"}
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
    plot = {"series": grouped_series(result), "rows": rows,
            "xlabel": "× torch loop (log scale; dot: median, line: middle half of the runs)",
            "title": "Time per step over the PyTorch loop's, by machine"}
    return {"title": CLASS_TITLE,
            "intro": f"{len(runs)} runs in {len(result['groups'])} groups of machine model "
                     f"and device.",
            "sections": sections, "lists": lists, "frame": result["frame"],
            "figure": figure(plot, f"{len(runs)} runs"),
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
    staged = StagedFolder(out, protect=[Path(run.path) for run in runs])
    try:
        with staged as staging:
            render(doc, staging)
    except KeyboardInterrupt as err:
        err.report_folder = staged.folder
        raise
    except FileExistsError as err:
        raise ReportError(f"{err.filename} is an input; the report there would replace it, "
                          f"so give another folder") from None
    return staged.folder, problems

