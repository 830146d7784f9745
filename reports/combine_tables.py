"""The tables of `sidebyside-reports combine` (reports.combine): several runs side by side,
each run's ratio to the first with compare's verdict, and a class's runs grouped by machine
model and device; from the loaded runs (results.model.Run)."""

from __future__ import annotations

import dataclasses
import json
import statistics

import pandas as pd

from reports import latex, numbers
from reports.cells import UNSTABLE_MARK
from reports.errors import ReportError
from results.model import Environment, Row, Run, Summary
from results.summary import REFERENCE_VARIANT

# At most this many runs per LaTeX table: a column per run, and the text block holds four
# at \small beside the row names (reports.latex.to_latex steps the font down beyond).
LATEX_RUNS_PER_TABLE = 4
DASH = numbers.MISSING  # the one symbol for a missing value (results.numbers)


@dataclasses.dataclass
class Labelled:
    """One loaded run and how the report names it."""
    run: Run
    label: str

    @property
    def path(self) -> str:
        """The result file it was read from."""
        return self.run.path


def measured_rows(run: Run) -> list[Row]:
    return [r for r in run.rows if r.summary]


def gpu_model(run: Run, device: str) -> str:
    for row in measured_rows(run):
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
    return gpu_model(run, device)


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
    left out, missing rows' reasons, runs that did not finish) and ``delta_pct``. Raises
    ReportError (one sentence) when the runs share no row.
    """
    from reports.compare import compare_runs

    shown, notes = _shown_rows(runs)
    # No machine factor: the runs are usually other machines, and how much faster one
    # machine is on every row is what the table is for.
    comparisons = [None] + [compare_runs(runs[0].run, run.run, delta_pct=delta_pct,
                                         machine_factor=False)
                            for run in runs[1:]]
    records, missing = [], {}
    for run, comparison in zip(runs, comparisons):
        rows = _by_id(run.run)
        compared = ({} if comparison is None else
                    {r["row"]: r for r in comparison.rows.to_dict("records")})
        for row_id in shown:
            row = rows.get(row_id)
            records.append(_record(run, row_id, row, compared.get(row_id, {})))
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


def _shown_rows(runs: list[Labelled]) -> tuple[list[str], list[str]]:
    """The row ids to show (every run's, or where the plans differ the rows all runs share)
    and the note that says so."""
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
    return shown, notes


def _record(run: Labelled, row_id: str, row: Row | None, compared: dict) -> dict:
    """combined.csv's line of one row in one run: its numbers as the run recorded them and
    its ratio to the first run (``compared``: that row of compare's table, or empty)."""
    summary = (row.summary if row is not None else None) or Summary()
    return {
        "run": run.label, "path": run.path, "row": row_id,
        "status": row.status if row else "absent",
        "reason": "" if row and row.summary else _missing_reason(row),
        "us_per_step": summary.get("us_per_step"),
        "us_per_step_ci_low": summary.get("us_per_step_ci_low"),
        "us_per_step_ci_high": summary.get("us_per_step_ci_high"),
        "ratio_to_torch_loop": summary.get("ratio_to_torch_loop"),
        "ratio_ci_low": summary.get("ratio_ci_low"),
        "ratio_ci_high": summary.get("ratio_ci_high"),
        "ratio_to_first": compared.get("ratio"), "ratio_to_first_ci_low": compared.get("ci_low"),
        "ratio_to_first_ci_high": compared.get("ci_high"), "verdict": compared.get("verdict"),
        "unstable": bool(summary.get("unstable"))}


def _interval(low, high, headline, figures: int = numbers.COLUMN_FIGURES["time"]) -> str:
    """"[low, high]" at the decimals that show ``headline`` to ``figures`` figures, so that
    an interval and its value read as one number (results.numbers); MISSING without
    either end."""
    if numbers.is_missing(headline):
        return numbers.interval(low, high, 0)
    return numbers.interval(low, high, numbers.decimals(float(headline), figures))


def _cells(line: dict, first: bool) -> dict[str, str]:
    """One run's cells of one row: the display strings of its column group."""
    if line["us_per_step"] is None or pd.isna(line["us_per_step"]):
        short = DASH + " " + ("not in run" if line["status"] == "absent" else line["status"])
        cells = {"µs/step": short, "95% CI": "", "× torch loop": ""}
        if not first:
            cells |= {"÷ first": "", "÷ first, 95% CI": "", "verdict": ""}
        return cells
    mark = f" {UNSTABLE_MARK}" if line["unstable"] else ""
    cells = {"µs/step": numbers.number(line["us_per_step"]) + mark,
             "95% CI": _interval(line["us_per_step_ci_low"], line["us_per_step_ci_high"],
                                 line["us_per_step"]),
             "× torch loop": numbers.ratio(line["ratio_to_torch_loop"])}
    if not first:
        cells |= {"÷ first": numbers.ratio(line["ratio_to_first"]),
                  "÷ first, 95% CI": numbers.ratio_interval(line["ratio_to_first_ci_low"],
                                                            line["ratio_to_first_ci_high"]),
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
        for row in measured_rows(run.run):
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
    """One group's lines as display strings (results.numbers)."""
    return pd.DataFrame({
        "Row": frame["row"],
        "Runs": frame["runs"].astype(str),
        "× torch loop, median": [numbers.ratio(v) for v in frame["ratio_median"]],
        "middle half": [numbers.ratio_interval(a, b) if n >= 2 else DASH
                        for a, b, n in zip(frame["ratio_q1"], frame["ratio_q3"],
                                           frame["runs_with_ratio"])],
        "range": [numbers.ratio_interval(a, b) if n >= 2 else DASH
                  for a, b, n in zip(frame["ratio_min"], frame["ratio_max"],
                                     frame["runs_with_ratio"])],
        "µs/step, median": [numbers.number(v) for v in frame["us_per_step_median"]],
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
            f"{numbers.number(line['ratio_q1'], 2)} to {numbers.number(line['ratio_q3'], 2)} "
            "times as long per step as the PyTorch loop (middle half of the runs; median "
            f"{numbers.number(line['ratio_median'], 2)}).")


