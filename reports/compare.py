"""Did a change change the speed, and is the change real? Two runs, row by row.

``compare_runs`` matches the rows of two loaded runs by id and judges every row measured in
both by the rules of reports.compare_rule: rows sampled by resident workers (format 3) on
the p10 of their samples with a machine factor, rows of format-2 files on the median over
their processes with Welch's test and Holm's correction. Where both runs counted a row's
instructions per step (``--metric instructions``), the verdict is on that count instead, by
the rule ``reports.instructions.RULE`` with the tolerance it states; ``metric`` says which
measurement decided, and ``time_ratio`` keeps the time's ratio beside it.
reports.compare_markdown writes the result as Markdown.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd

from reports import instructions, numbers
from reports.compare_rule import (
    MIN_PROCESSES_PER_SIDE,
    N_RESAMPLES,
    ROBUST_RESAMPLES,
    compare_robust,
    holm,
    median_record,
    processes_needed,
    verdict,
)
from reports.run_versions import version_note
from results.estimate import ESTIMATOR
from results.format1 import FORMAT_1_NOTE
from results.model import ABSENT, Commit, Environment, Run

COST_COLUMNS = ("metric", "time_ratio", "old_instructions_per_step",
                "new_instructions_per_step", "tolerance_pct")
COLUMNS = ["row", "old_us_per_step", "new_us_per_step", "old_processes", "new_processes",
           "ratio", "ci_low", "ci_high", "p_value", "p_holm", "verdict", "unstable",
           "processes_needed", "note", "regression",
           # since format 3: the estimator compared (p10, or format 2's median) and the ratio
           # before the machine factor
           "estimator", "raw_ratio",
           # which measurement decided: "time", or "instructions" where both runs counted the
           # row (reports/instructions.py); the time's ratio is kept beside it
           "metric", "time_ratio", "old_instructions_per_step", "new_instructions_per_step",
           "tolerance_pct"]


@dataclasses.dataclass
class Comparison:
    """Rows compared (`rows`, columns COLUMNS) and what could not be compared."""
    rows: pd.DataFrame
    only_old: list[str]
    only_new: list[str]
    not_compared: list[str]  # in both, but not measured in one of them
    skipped_in_both: list[str]
    differences: list[str]
    notes: list[str]  # about a whole run, e.g. a format-1 file
    delta_pct: float
    threshold_pct: float
    alpha: float
    # in both and measured in both, but at other sizes (e.g. --n-train): not compared
    resized: list[str] = dataclasses.field(default_factory=list)

    @property
    def regressions(self) -> pd.DataFrame:
        """Rows called slower whose ratio exceeds 1 + threshold_pct / 100."""
        return self.rows[self.rows["regression"].astype(bool)]

    # The robust path's machine factor (None: fewer than MACHINE_FACTOR_MIN_ROWS rows, or
    # no row compared on it) and how many rows it compared (the Bonferroni family).
    machine_factor: float | None = None
    robust_rows: int = 0
    normalised: bool = True  # compare_runs's machine_factor: whether a factor was asked for

    @property
    def judged(self) -> pd.Series:
        """Per row (bool, aligned with ``rows``), whether a rule could judge it: a row decided
        on its instructions, or one judged on time with at least MIN_PROCESSES_PER_SIDE
        processes in both runs (with fewer, a p10 row is "too few processes" and a median row
        has no test)."""
        rows = self.rows
        fewest = np.minimum(rows["old_processes"].to_numpy(dtype=float),
                            rows["new_processes"].to_numpy(dtype=float))
        return pd.Series((rows["metric"] == "instructions").to_numpy()
                         | (fewest >= MIN_PROCESSES_PER_SIDE), index=rows.index, dtype=bool)

    @property
    def too_few(self) -> list[str]:
        """Rows judged by format 2's test that had too few processes for it (rows decided
        on instructions have no test, and need none)."""
        return [r for r, p, e, m in zip(self.rows["row"], self.rows["p_value"],
                                        self.rows["estimator"], self.rows["metric"])
                if pd.isna(p) and e != ESTIMATOR and m == "time"]


def _sample_groups(run: Run) -> dict[str, list[list[float]]]:
    """Each row's interleaved samples (µs/step), one list per ok process, for the rows that
    have them (format 3's resident workers)."""
    out = {}
    for row in run.rows:
        ok = row.ok_processes()
        if row.summary and row.summary.get("estimator") == ESTIMATOR and ok \
                and all(p.samples_epoch_s for p in ok):
            out[row.id] = [[s / p.steps_per_epoch * 1e6 for s in p.samples_epoch_s]
                           for p in ok]
    return out


def _samples(run: Run) -> dict[str, list[float]]:
    return {r.id: r.summary.process_us_per_step for r in run.rows if r.summary}


def _sizes(run: Run) -> dict[str, dict]:
    """Each row's recorded sizes beyond its batch: hidden_size and n_train (recorded since
    sweeps vary them; absent in older files)."""
    return {r.id: {k: getattr(r, k) for k in ("hidden_size", "n_train")
                   if getattr(r, k) is not ABSENT}
            for r in run.rows}


def _status(run: Run) -> dict[str, str]:
    return {r.id: r.status for r in run.rows}


def _unstable(run: Run) -> set[str]:
    return {r.id for r in run.rows if r.summary and r.summary.get("unstable")}


def _resized(old: Run, new: Run) -> dict[str, str]:
    """The rows of both runs whose recorded sizes differ, each with a phrase saying how.

    Rows are matched by id, and the id holds the row's sizes (a sweep's -h256, -n5000); a row
    whose recorded sizes differ anyway (two runs with other --n-train) is a different
    measurement, listed as not compared."""
    old_sizes, new_sizes = _sizes(old), _sizes(new)
    return {r: f"{r} (sizes differ: " + ", ".join(
                f"{key} {old_sizes[r][key]} → {new_sizes[r][key]}"
                for key in old_sizes[r] if key in new_sizes[r]
                and old_sizes[r][key] != new_sizes[r][key]) + ")"
            for r in set(old_sizes) & set(new_sizes)
            if any(old_sizes[r][k] != new_sizes[r][k]
                   for k in set(old_sizes[r]) & set(new_sizes[r]))}


def _median_rows(names: list[str], old_samples: dict, new_samples: dict, unstable: dict,
                 delta_pct: float, alpha: float, n_resamples: int) -> pd.DataFrame:
    """The rows ``names`` judged by format 2's rule, their p values corrected by Holm's
    method over them (columns COLUMNS but the regression and the cost's)."""
    records = [median_record(name, old_samples[name], new_samples[name], n_resamples)
               | {"unstable": unstable[name]} for name in names]
    rows = pd.DataFrame.from_records(records, columns=[c for c in COLUMNS
                                                       if c not in ("p_holm", "verdict",
                                                                    "regression")
                                                       and c not in COST_COLUMNS])
    rows["p_holm"] = holm(rows["p_value"].to_numpy(dtype=float)) if len(rows) else []
    tested = int(rows["p_value"].notna().sum())
    rows["processes_needed"] = [processes_needed(old_samples[r], new_samples[r], delta_pct,
                                                 alpha, tested) for r in rows["row"]]
    rows["verdict"] = [verdict(lo, hi, p, delta_pct, alpha) for lo, hi, p in
                       zip(rows["ci_low"], rows["ci_high"], rows["p_holm"])]
    return rows


def _with_robust(rows: pd.DataFrame, robust_records: list[dict], unstable: dict,
                 order: list[str]) -> pd.DataFrame:
    """``rows`` and the robust path's records in one table, in the old run's ``order``."""
    if not robust_records:
        return rows
    robust_records = [record | {"unstable": unstable[record["row"]]}
                      for record in robust_records]
    position = {name: i for i, name in enumerate(order)}
    robust_columns = [c for c in COLUMNS if c != "regression" and c not in COST_COLUMNS]
    rows = pd.concat([rows.astype(object), pd.DataFrame.from_records(
        robust_records, columns=robust_columns).astype(object)],
        ignore_index=True) if len(rows) else pd.DataFrame.from_records(
        robust_records, columns=robust_columns)
    rows = rows.sort_values("row", key=lambda col: col.map(position)).reset_index(drop=True)
    for column in ("old_us_per_step", "new_us_per_step", "ratio", "raw_ratio", "ci_low",
                   "ci_high", "p_value", "p_holm"):
        rows[column] = rows[column].astype(float)
    return rows


def _judged(rows: pd.DataFrame, delta_pct: float, threshold_pct: float) -> pd.DataFrame:
    """``rows`` with ``regression`` (slower beyond ``threshold_pct``) and, for an
    inconclusive row judged on time, a note on what would decide it."""
    rows["regression"] = [v == "slower" and r > 1 + threshold_pct / 100
                          for v, r in zip(rows["verdict"], rows["ratio"])]
    for i in rows.index[(rows["verdict"] == "inconclusive") & (rows["metric"] == "time")]:
        needed = rows.at[i, "processes_needed"]
        # A p10 row's "inconclusive" has one reason and one remedy, said once under the
        # table (reports.compare_markdown); a median row's note is its own estimate.
        if not rows.at[i, "note"] and rows.at[i, "estimator"] != ESTIMATOR \
                and needed is not None and not pd.isna(needed):
            rows.at[i, "note"] = (f"about {int(needed)} processes per side would tell a "
                                  f"{delta_pct:g}% change from none")
    rows["processes_needed"] = rows["processes_needed"].astype("Int64")
    return rows[COLUMNS]


def compare_runs(old: Run, new: Run, delta_pct: float = 5.0, alpha: float = 0.05,
                 threshold_pct: float | None = None,
                 n_resamples: int = N_RESAMPLES, machine_factor: bool = True) -> Comparison:
    """Compare two loaded runs (results.load.load_run) row by row.

    ``delta_pct``: the smallest change that matters, percent; ``threshold_pct`` (default
    ``delta_pct``): a "slower" row beyond it is a regression; ``alpha``: the family-wise
    level of the tests after Holm's correction. ``machine_factor`` False: the robust path's
    ratios are not divided by the median ratio over the rows (for runs on different
    machines, where that difference is what is being measured).
    """
    threshold_pct = delta_pct if threshold_pct is None else threshold_pct
    old_samples, new_samples = _samples(old), _samples(new)
    resized = _resized(old, new)
    names = [r for r in old_samples if r in new_samples and r not in resized]
    unstable_old, unstable_new = _unstable(old), _unstable(new)
    unstable = {name: " and ".join(side for side, rows in (("old", unstable_old),
                                                           ("new", unstable_new))
                                   if name in rows) for name in names}
    old_groups, new_groups = _sample_groups(old), _sample_groups(new)
    robust = [r for r in names if r in old_groups and r in new_groups]
    robust_records, factor = compare_robust(old_groups, new_groups, robust, delta_pct, alpha,
                                            min(n_resamples, ROBUST_RESAMPLES),
                                            normalise=machine_factor)
    rows = _median_rows([r for r in names if r not in robust], old_samples, new_samples,
                        unstable, delta_pct, alpha, n_resamples)
    rows = _with_robust(rows, robust_records, unstable, names)
    rows = _judged(instructions.apply_to_comparison(rows, old, new), delta_pct,
                   threshold_pct)
    return Comparison(rows=rows, **_unmatched(old, new, set(rows["row"]), resized),
                      differences=differences(old, new), notes=_notes(old, new),
                      delta_pct=delta_pct, threshold_pct=threshold_pct, alpha=alpha,
                      machine_factor=factor, robust_rows=len(robust),
                      normalised=machine_factor)


# The verdicts that say something about a change; a gate needs at least one of them.
DECIDED = ("slower", "faster", "same")


def gate_failure(comparison: Comparison, fail_above_pct: float) -> str | None:
    """Why ``compare --fail-above`` fails, in one sentence, or None when it passes: a row
    slower beyond the threshold, a row measured in the old run and not in the new one (a
    crashed row must not pass a regression gate), no row compared, or, where every row was
    sampled by resident workers (p10), no row with a slower, faster or same verdict (a gate
    that passes having judged nothing, e.g. two runs of one process a row, would pass any
    change). Only a "slower" verdict fails a row: a row
    without one ("inconclusive", "too few processes") never does."""
    rows = comparison.rows
    failing = rows[(rows["verdict"] == "slower") & (rows["ratio"] > 1 + fail_above_pct / 100)]
    if len(failing):
        return (f"{len(failing)} row(s) slower by more than {fail_above_pct:g}% "
                f"({', '.join(failing['row'])})")
    lost = [r for r in comparison.not_compared if "(old: ok" in r or "(old: partial" in r]
    if lost:
        return (f"{len(lost)} row(s) measured in the old run were not measured in the new "
                f"one ({', '.join(lost)})")
    if not len(rows):
        return "no row was measured in both runs, so --fail-above has nothing to pass"
    # Older files' rows (format 1 or 2) keep their gate: their untested rows were always
    # "inconclusive" and passed, and CI set up on them is not failed by this.
    if not rows["verdict"].isin(DECIDED).any() and (rows["estimator"] == ESTIMATOR).all():
        few = int((~comparison.judged).sum())
        if few == len(rows):
            return (f"no row could be judged: every row had fewer than "
                    f"{MIN_PROCESSES_PER_SIDE} processes in a run; compare runs made with "
                    f"--processes {MIN_PROCESSES_PER_SIDE} or more")
        why = (f"{numbers.counted(few, 'row')} with fewer than {MIN_PROCESSES_PER_SIDE} "
               f"processes in a run, the rest inconclusive" if few else
               "every row inconclusive")
        return (f"no row could be judged: no row got a slower, faster or same verdict "
                f"({why}); compare runs made with more --processes or --rounds")
    return None


def one_run_twice(old: Run, new: Run) -> str | None:
    """One sentence when ``old`` and ``new`` are one run (the same file, or copies with one
    ``run_id``), where every row would be "inconclusive" or "same" and say nothing; else
    None. The runs are read by results.load.load_run, which sets their ``path``."""
    if old.path and new.path and os.path.samefile(old.path, new.path):
        said = f"the same result file ({old.path})"
    elif old.get("run_id") and old.get("run_id") == new.get("run_id"):
        said = f"copies of one run (run_id {old.get('run_id')})"
    else:
        return None
    return (f"OLD and NEW are {said}: a run compared with itself has no difference to "
            "find; give the result files of two runs")


def _unmatched(old: Run, new: Run, measured: set, resized: dict) -> dict:
    """The rows not compared, as the Comparison's lists: in one run only, not measured in
    both, at other sizes, and skipped in both."""
    old_status, new_status = _status(old), _status(new)
    in_both = set(old_status) & set(new_status)
    return {
        "only_old": sorted(set(old_status) - set(new_status)),
        "only_new": sorted(set(new_status) - set(old_status)),
        "not_compared": sorted(f"{r} (old: {old_status[r]}, new: {new_status[r]})"
                               for r in in_both if r not in measured and r not in resized
                               and not old_status[r] == new_status[r] == "skipped"),
        "resized": sorted(resized.values()),
        "skipped_in_both": sorted(r for r in in_both
                                  if old_status[r] == new_status[r] == "skipped")}


def _notes(old: Run, new: Run) -> list[str]:
    """The comparison's notes, each said once: the versions first (every other difference
    may follow from them), then each run's own, then a busy machine (one note for both)."""
    versions = version_note(old, new)
    busy = busy_note(old, new)
    first = [side for side, run in (("old", old), ("new", new))
             if run.converted_from_format_version == 1]
    format_1 = ([f"the {first[0]} run is {FORMAT_1_NOTE}"] if len(first) == 1 else
                ["both runs are " + FORMAT_1_NOTE.replace("a result file", "result files", 1)]
                if first else [])
    return (([versions] if versions else []) + format_1 + run_notes(old, "old")
            + run_notes(new, "new") + ([busy] if busy else []))


def run_notes(run: Run, side: str) -> list[str]:
    """What a reader of the comparison must know about one run: that it was interrupted."""
    notes = []
    if run.complete is False:
        notes.append(f"the {side} run did not finish (interrupted by "
                     f"{run.get('interrupted_by') or 'an unknown cause'})")
    return notes


def busy_note(old: Run, new: Run) -> str | None:
    """One note for a machine that was busy when either run began, with what to do about
    it (None when neither was): a busy machine adds time to some rows and not others."""
    reasons = {}
    for side, run in (("old", old), ("new", new)):
        env = run.environment or Environment()
        if env.get("busy_before"):
            reasons[side] = env.get("busy_reason") or "no reason recorded"
    if not reasons:
        return None
    sides = " and ".join(reasons)
    which = f"the {sides} run" if len(reasons) == 1 else "both runs"
    said = (next(iter(reasons.values())) if len(set(reasons.values())) == 1
            else "; ".join(f"{side} run: {reason}" for side, reason in reasons.items()))
    return (f"the machine was busy when {which} began, so other work may have slowed some "
            "rows: rerun on a quiet machine before trusting a slower or faster verdict. "
            f"Recorded: {said}")


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, inner, out)
    else:
        out[prefix] = value


# Recorded per run but expected to differ between any two runs: not listed. A busy machine
# is said once in the notes (busy_note), not again as a difference.
_VOLATILE_ENVIRONMENT = ("load_before", "load_after", "commit", "cpu_model", "busy_before",
                         "busy_reason")


def differences(old: Run, new: Run) -> list[str]:
    """Every environment, plan and row-setting value that differs between the two runs."""
    def facts(run: Run) -> dict:
        out = {}
        env = run.environment or Environment()
        # every field the file records, as the file has them: a generic walk
        _flatten("environment", {k: v for k, v in env.to_dict().items()
                                 if k not in _VOLATILE_ENVIRONMENT}, out)
        _flatten("plan", run.get("plan", {}), out)
        out["machine.cpu"] = env.get("cpu_model")
        out["commit"] = (env.get("commit") or Commit()).get("id")
        for row in run.rows:
            ok = row.ok_processes()
            if ok:
                settings = {k: v for k, v in (ok[0].get("settings") or {}).items()
                            if k != "data"}
                _flatten(row.id, settings, out)
        return out

    a, b = facts(old), facts(new)
    return [f"{key}: {a.get(key)!r} → {b.get(key)!r}" for key in sorted(set(a) | set(b))
            if key in a and key in b and a[key] != b[key]]
