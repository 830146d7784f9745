"""`sidebyside-reports merge PART... --out DIR`: the parts of one plan, run with
`pytest --benchmark --shard I/N` on one or several machines, joined back into one run with
its report.

The parts must be of one plan, one split (the same N), one commit and the same installed
versions, and together hold every row of the plan exactly once; where they are not, one
sentence says what differs. Machines may differ (a CI matrix's runners, a job array's
nodes): every row records the machine that ran it (``machine``), and when they differ a
flag in the report says which rows ran where. The parts' row summaries are kept as they
are: every ratio in them compares rows of one block, which ran in one part
(benchmarks/shard.py), so no number is recomputed.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import uuid
from pathlib import Path

from reports.errors import ReportError
from results.atomic import write_folder
from results.format import RESULTS_FILE_NAME
from results.load import load_run, parse_run
from results.model import ABSENT, Commit, Machine, MergedPart, Run

# Plan fields that may differ between parts of one plan: the plugin turns --affinity auto
# into none on a machine that is busy when its part starts (benchmarks/plugin.py).
PER_MACHINE_PLAN_FIELDS = ("affinity",)
# What a row records of the machine that ran it (from its part's environment).
MACHINE_FIELDS = ("cpu_model", "cpu_cores", "machine", "os", "python")
# Differences listed in a refusal before "and N more", and a list's items before "...".
SHOWN_DIFFERENCES = 3
SHOWN_ITEMS = 4


def _label(part: Run) -> str:
    return part.path


def _plan(part: Run) -> dict:
    return {k: v for k, v in part.plan.items() if k not in PER_MACHINE_PLAN_FIELDS}


def _commit(part: Run) -> str:
    commit = part.environment.get("commit") or Commit()
    text = (commit.get("id") or "unknown")[:12]
    return text + (" with uncommitted changes" if commit.get("dirty") else "")


def _differing(parts: list[Run], value, what: str) -> str | None:
    """``what`` and the parts' values where ``value(part)`` (a dict) differs between them:
    'plan (epochs: a.json 3, b.json 30)', or None when they agree."""
    values = [value(p) for p in parts]
    keys = sorted({k for v in values for k in v})
    differing = [k for k in keys if len({json.dumps(v.get(k), sort_keys=True)
                                         for v in values}) > 1]
    if not differing:
        return None
    shown = [f"{key}: " + ", ".join(f"{_label(p)} {_show(v.get(key))}"
                                    for p, v in zip(parts, values))
             for key in differing[:SHOWN_DIFFERENCES]]
    more = len(differing) - SHOWN_DIFFERENCES
    return f"{what} ({'; '.join(shown)}{f'; and {more} more' if more > 0 else ''})"


def _show(value) -> str:
    if isinstance(value, list) and len(value) > SHOWN_ITEMS:
        return f"[{', '.join(map(str, value[:SHOWN_ITEMS]))}, ... ({len(value)} in all)]"
    if isinstance(value, list):
        return f"[{', '.join(map(str, value))}]"
    return "none" if value is None else (value if isinstance(value, str)
                                         else json.dumps(value))


def check_parts(parts: list[Run]) -> None:
    """Raise ReportError (one sentence) unless ``parts`` (loaded runs) are the N
    parts of one split plan, each once, of one commit and the same versions."""
    for part in parts:
        if part.shard is ABSENT:
            raise ReportError(f"{_label(part)}: not a part of a split run (it was not run "
                              f"with `pytest --benchmark --shard I/N`), so it has no parts "
                              f"to be merged with")
    differences = [d for d in (
        _differing(parts, lambda p: {"N": p.shard.count}, "the split"),
        _differing(parts, _plan, "plan"),
        # the same plan always has the same rows; told apart only when the plans are not
        _differing(parts, lambda p: {"plan rows": p.shard.plan_rows}, "planned rows")
        if _differing(parts, _plan, "plan") is None else None,
        _differing(parts, lambda p: {"commit": _commit(p)}, "commit"),
        _differing(parts, lambda p: p.environment.get("versions") or {}, "versions"),
    ) if d]
    if differences:
        raise ReportError("the parts are not of one plan run at one commit with the same "
                          "versions: they differ in " + "; and in ".join(differences))
    count = parts[0].shard.count
    by_index: dict[int, Run] = {}
    for part in parts:
        index = part.shard.index
        if index > count:
            raise ReportError(f"{_label(part)}: part {index} of {count} cannot be; the file "
                              f"is damaged")
        if index in by_index:
            raise ReportError(f"{_label(by_index[index])} and {_label(part)} are both part "
                              f"{index} of {count}; give each part once")
        by_index[index] = part
    missing = [i for i in range(1, count + 1) if i not in by_index]
    if missing:
        raise ReportError(f"part{'s' if len(missing) > 1 else ''} "
                          f"{', '.join(map(str, missing))} of {count} "
                          f"{'are' if len(missing) > 1 else 'is'} missing (given: "
                          f"{', '.join(map(str, sorted(by_index)))}); merge needs every part")
    owner: dict[str, Run] = {}
    for part in parts:
        for row in part.rows:
            if row.id in owner:
                raise ReportError(f"the row {row.id} is in two parts, "
                                  f"{_label(owner[row.id])} and {_label(part)}; the parts "
                                  f"of one split never share a row")
            owner[row.id] = part
    planned = parts[0].shard.plan_rows
    lost = [r for r in planned if r not in owner]
    extra = [r for r in owner if r not in planned]
    if lost or extra:
        raise ReportError("the parts' rows are not the plan's: "
                          + (f"{', '.join(lost)} in no part" if lost else "")
                          + ("; " if lost and extra else "")
                          + (f"{', '.join(extra)} not in the plan" if extra else ""))


def _machine(part: Run) -> dict:
    """The machine that ran ``part``: its index and MACHINE_FIELDS of its environment."""
    return {"part": part.shard.index,
            **{k: part.environment.get(k) for k in MACHINE_FIELDS}}


def _machine_name(machine: Machine) -> str:
    cores = machine.get("cpu_cores")
    return (f"{machine.get('cpu_model') or 'unknown CPU'}"
            + (f", {cores} cores" if cores else "") + (f", {machine.os}"
                                                       if machine.get("os") else ""))


def _without_shard_option(command: str) -> str:
    """The parts' command without ``--shard I/N``: the command of the whole plan."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    kept, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word == "--shard":
            skip = True
        elif not word.startswith("--shard="):
            kept.append(word)
    return shlex.join(kept)


def merged_run(parts: list[Run]) -> Run:
    """The parts (checked by ``check_parts``) as one run: every row in plan order with the
    ``machine`` that ran it, flags recomputed over all rows, and the parts listed in
    ``merged_from`` (docs/result_format.md). The file keeps the first part's key order."""
    from results.summary import flag_differences  # the plugin's own rule for flags

    parts = sorted(parts, key=lambda p: p.shard.index)
    first = parts[0]
    rows = {row.id: dataclasses.replace(row, machine=Machine.from_dict(_machine(part)))
            for part in parts for row in part.rows}
    ordered = [rows[r] for r in first.shard.plan_rows]
    machines = {}
    for row in ordered:
        machines.setdefault(_machine_name(row.machine), []).append(row.id)
    flags = flag_differences({r.id: next(p.settings for p in r.processes if p.status == "ok")
                              for r in ordered if r.summary})
    if len(machines) > 1:
        flags.append("rows ran on different machines: " + "; ".join(
            f"{name} in {', '.join(ids)}" for name, ids in machines.items()))
    finished = [p.get("finished") for p in parts]
    interrupted = [f"part {p.shard.index}: {p.interrupted_by}" for p in parts
                   if p.get("interrupted_by")]
    return dataclasses.replace(
        first, path=None, _keys=tuple(k for k in first._keys if k not in ("shard", "run_id")),
        started=min(p.started for p in parts),
        finished=None if None in finished else max(finished),
        complete=all(p.get("complete", True) for p in parts),
        interrupted_by="; ".join(interrupted) or None,
        plan=dict(first.plan, affinity=", ".join(dict.fromkeys(
            p.plan.get("affinity", "auto") for p in parts))),
        environment=_merged_environment(parts), rows=ordered, flags=flags,
        warnings=[f"part {p.shard.index}: {w}" for p in parts for w in p.get("warnings") or []],
        run_id=uuid.uuid4().hex, shard=ABSENT,
        merged_from=[MergedPart.from_dict({
            "path": p.path, "run_id": p.get("run_id"), "index": p.shard.index,
            "count": p.shard.count, "started": p.started, **_machine(p)}) for p in parts])


def _merged_environment(parts: list[Run]):
    """The first part's environment with the whole plan's command, every part's CPU model
    (where they differ) and every part's busy machine."""
    environment = parts[0].environment
    models = list(dict.fromkeys(p.environment.get("cpu_model") or "unknown CPU"
                                for p in parts))
    busy = [f"part {p.shard.index}: {p.environment.get('busy_reason')}"
            for p in parts if p.environment.get("busy_before")]
    return dataclasses.replace(
        environment, command=_without_shard_option(environment.get("command") or ""),
        **({"cpu_model": " and ".join(models)} if len(models) > 1 else {}),
        busy_before=bool(busy), busy_reason="; ".join(busy) or None)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def merge(paths: list[str], out: str | Path) -> Path:
    """Merge the parts ``paths`` (result files or run folders) into the run folder ``out``:
    its results.json and its report (reports.build), written beside it and moved in at once
    (results.atomic.write_folder). Returns the folder. Raises ReportError (one sentence) for
    parts that cannot be merged or an ``out`` that holds another run's result file."""
    from reports.build import report_files
    from results.format import dumps

    parts = [load_run(path) for path in paths]
    check_parts(parts)
    out = Path(out)
    inputs = [Path(p.path) for p in parts]
    if (out / RESULTS_FILE_NAME).exists():
        which = ("a part being merged" if any(_same(out / RESULTS_FILE_NAME, i) for i in inputs)
                 else "another run's result file")
        raise ReportError(f"{out} holds {out / RESULTS_FILE_NAME}, {which}; the merged run "
                          f"would replace it, so give a new folder")
    text = dumps(merged_run(parts).to_dict())
    # the report is of the merged file as the reader reads it, so it passes the reader's checks
    run = parse_run(text, out / RESULTS_FILE_NAME)
    try:
        return write_folder(out, {RESULTS_FILE_NAME: text, **report_files(run)},
                            protect=inputs)
    except FileExistsError as err:
        raise ReportError(f"{err.filename} is a part being merged; the merged run there "
                          f"would replace it, so give another folder") from None
