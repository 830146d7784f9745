"""Each framework at its best: its course (or idiomatic) row beside its fastest row.

``best_table(tidy)`` takes the tidy table of a run (one row per variant x device x batch
size, with columns ``row, variant, implementation, device, batch_size, status,
us_per_step, us_per_step_ci_low, us_per_step_ci_high, first_epoch_s`` and optionally
``tag``, ``tuned_note`` and ``reason``) and returns one row per framework x device x batch
size; ``best_cells`` gives its display strings, ``best_latex_frame`` narrows it for a LaTeX
page, and ``section`` is the report's section of it.
A run's result file records each row's tag and note; a frame without them (a hand-made
one, an older file) takes them from the variant registry (frameworks/variants.py), which
is imported only then.
"""

from __future__ import annotations

import math

import pandas as pd

from reports.cells import UNSTABLE_MARK, UNSTABLE_NOTE, marked, shows_unstable_mark
from reports.document import LatexTable, Section
from results import numbers
from results.schema import SWEEP_AXES

#: the frameworks in the order the table shows them (implementation names)
FRAMEWORKS = ("torch", "keras-tensorflow", "keras-jax", "keras-torch", "jax", "numpy")
#: the floor every fastest row is compared with: the epoch as one jax.lax.scan
FLOOR_VARIANT = "jax-scan"
MEASURED = ("ok", "partial")  # statuses with a summary (partial: some processes failed)
# The columns that tell one block of compared rows from another: the device and the sizes
# that a sweep varies (one batch size, and in a sweep's run one width and data size).
BLOCK_FIELDS = ("device", *SWEEP_AXES.values())

COLUMNS = [
    "framework", "device", "batch_size",
    "base_variant", "base_tag",
    "base_planned",  # whether the run planned the base row here (its dashes are then a failure)
    "base_row", "base_us_per_step", "base_ci_low", "base_ci_high",
    "base_first_epoch_s", "base_unstable",  # unstable: the suite could not pin the time down
    "best_variant", "best_tag", "best_row", "best_us_per_step", "best_ci_low", "best_ci_high",
    "best_first_epoch_s", "best_unstable",
    "speedup",            # base_us_per_step / best_us_per_step (>= 1)
    "speedup_ci_low", "speedup_ci_high",  # its 95% interval (with_speedup_intervals)
    "ratio_to_floor",     # best_us_per_step / jax-scan's us_per_step, same device and batch
    "note",               # what the fastest row changes in the user's code ("" unless tuned)
    "not_measured",       # "variant: reason" of this framework's rows that did not run
]


def _registry() -> tuple[dict, dict, dict]:
    from frameworks.variants import VARIANTS

    return ({name: (v.implementation, v.mode) for name, v in VARIANTS.items()},
            {name: v.tag for name, v in VARIANTS.items()},
            {name: v.note for name, v in VARIANTS.items() if v.tag == "tuned"})


def base_variant(framework: str, tags: dict[str, str] | None = None,
                 implementations: dict[str, str] | None = None) -> str:
    """The framework's course row, or its idiomatic row where the course has no lesson.

    ``tags`` and ``implementations`` map each variant to its tag and implementation, in table
    order (default: every variant the suite has). ValueError when the framework has neither.
    """
    if tags is None or implementations is None:
        variants, tags, _ = _registry()
        implementations = {v: impl for v, (impl, _) in variants.items()}
    mine = [v for v in tags if implementations.get(v) == framework]
    for wanted in ("course", "idiomatic"):
        for variant in mine:
            if tags[variant] == wanted:
                return variant
    raise ValueError(f"{framework} has no course or idiomatic variant in VARIANTS")


def best_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """Per framework, device and batch size: its base row, its fastest measured row, their
    ratio and the fastest row's ratio to ``jax-scan`` (columns: ``COLUMNS``).

    Only rows whose ``status`` is ok or partial count as measured; the others are listed in
    ``not_measured`` with their ``reason`` (e.g. Keras refusing ``steps_per_execution`` on
    torch), so a missing gear is said, not left out. A ratio is NaN where a side is missing.
    Raises ``KeyError`` naming a required column that ``tidy`` lacks.
    """
    frame = _comparable(tidy)
    measured = frame[frame["status"].isin(MEASURED) & frame["us_per_step"].notna()]
    records = []
    identity = [c for c in BLOCK_FIELDS if c in frame.columns]
    for key in frame[identity].drop_duplicates().itertuples(index=False):
        wanted = pd.Series(key, index=identity)
        block = frame[(frame[identity] == wanted).all(axis=1)]
        ok = measured[(measured[identity] == wanted).all(axis=1)]
        floor = ok[ok["variant"] == FLOOR_VARIANT]
        floor_us = float(floor["us_per_step"].iloc[0]) if len(floor) else math.nan
        for framework in FRAMEWORKS:
            rows = block[block["implementation"] == framework]
            if not rows.empty:
                records.append(dict(zip(identity, key)) | _framework_record(
                    frame, framework, rows, ok[ok["implementation"] == framework], floor_us))
    return pd.DataFrame.from_records(records, columns=[*COLUMNS[:3], *identity[2:], *COLUMNS[3:]])


def _comparable(tidy: pd.DataFrame) -> pd.DataFrame:
    """``tidy`` checked for the columns the table reads, with every row's tag and tuned note
    (from the variant registry where the run recorded none), without the data-parallel rows
    and their twins (they get more threads than --threads: the report's "Data parallel"
    section compares them, among themselves)."""
    required = ["variant", "implementation", "device", "batch_size", "status", "us_per_step",
                "us_per_step_ci_low", "us_per_step_ci_high", "first_epoch_s"]
    missing = [c for c in required if c not in tidy.columns]
    if missing:
        raise KeyError(f"the tidy table lacks column(s): {', '.join(missing)}")
    frame = tidy.copy()
    if "tag" not in frame.columns or frame["tag"].isna().all():
        frame["tag"] = frame["variant"].map(_registry()[1])
    if "tuned_note" not in frame.columns or frame["tuned_note"].isna().all():
        frame["tuned_note"] = frame["variant"].map(_registry()[2]).fillna("")
    frame = frame[frame["tag"] != "distributed"]
    if "reason" not in frame.columns:
        frame["reason"] = ""
    return frame


def _framework_record(frame: pd.DataFrame, framework: str, rows: pd.DataFrame,
                      mine: pd.DataFrame, floor_us: float) -> dict:
    """One framework's line in one block: ``rows`` its rows there, ``mine`` those measured."""
    tags = dict(zip(frame["variant"], frame["tag"]))
    notes = dict(zip(frame["variant"], frame["tuned_note"].fillna("")))
    implementations = dict(zip(frame["variant"], frame["implementation"]))
    try:  # the run's own course (or idiomatic) row, else the suite's, not run here
        base_name = base_variant(framework, tags, implementations)
    except ValueError:
        base_name = base_variant(framework)
    base = mine[mine["variant"] == base_name]
    best = mine.loc[[mine["us_per_step"].idxmin()]] if len(mine) else mine
    not_measured = rows[~rows.index.isin(mine.index)]
    record = {"framework": framework, "base_variant": base_name,
              "base_tag": tags.get(base_name) or _registry()[1][base_name],
              # in this block's plan at all (else its dashes are the preset's choice)
              "base_planned": bool((rows["variant"] == base_name).any()),
              **_side("base", base), **_side("best", best)}
    record["speedup"] = record["base_us_per_step"] / record["best_us_per_step"]
    record["speedup_ci_low"] = record["speedup_ci_high"] = math.nan
    record["ratio_to_floor"] = record["best_us_per_step"] / floor_us
    record["note"] = notes.get(record["best_variant"], "") \
        if record["best_tag"] == "tuned" else ""
    record["not_measured"] = "; ".join(
        f"{r.variant}: {r.reason or r.status}" for r in not_measured.itertuples())
    return record


def _side(prefix: str, rows: pd.DataFrame) -> dict:
    """The numbers of the first of ``rows`` (NaN, and no variant, when there is none)."""
    row = None if rows.empty else rows.iloc[0]
    out = {f"{prefix}_{name}": math.nan if row is None else _number(row[column])
           for name, column in [("us_per_step", "us_per_step"), ("ci_low", "us_per_step_ci_low"),
                                ("ci_high", "us_per_step_ci_high"),
                                ("first_epoch_s", "first_epoch_s")]}
    unstable = None if row is None or "unstable" not in row.index else row["unstable"]
    out[f"{prefix}_unstable"] = not numbers.is_missing(unstable) and bool(unstable)
    out[f"{prefix}_row"] = None if row is None or "row" not in row.index else row["row"]
    if prefix == "best":
        out |= {"best_variant": None if row is None else row["variant"],
                "best_tag": None if row is None else row["tag"]}
    return out


def _number(value) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


HEADER = ("framework", "device", "batch", "course/idiomatic row", "µs/step", "first epoch s",
          "fastest row", "µs/step", "first epoch s", "speedup", "× jax-scan")


def best_cells(table: pd.DataFrame) -> list[tuple[str, ...]]:
    """``best_table``'s rows as display strings in ``HEADER``'s order: µs per step with 95%
    intervals, first-epoch seconds, the speedup and the ratio to jax-scan. What a fastest
    row changes in the code, and what was not measured, are the notes under the table
    (``best_notes``)."""
    cells = []
    for r in table.itertuples(index=False):
        cells.append((
            r.framework, r.device, numbers.grouped(r.batch_size, 0) + (
                f", width {numbers.grouped(r.hidden_size, 0)}, "
                f"{numbers.grouped(r.n_train, 0)} samples"
                if "hidden_size" in table.columns else ""),
            f"{r.base_variant} ({r.base_tag})",
            marked(_us(r.base_us_per_step, r.base_ci_low, r.base_ci_high), r.base_unstable),
            _fixed(r.base_first_epoch_s, 2),
            f"{r.best_variant} ({r.best_tag})" if isinstance(r.best_variant, str)
            else numbers.MISSING,
            marked(_us(r.best_us_per_step, r.best_ci_low, r.best_ci_high), r.best_unstable),
            _fixed(r.best_first_epoch_s, 2), _speedup(r), _ratio(r.ratio_to_floor)))
    return cells


def _speedup(r) -> str:
    """A row's speedup with its 95% interval where ``with_speedup_intervals`` gave one,
    marked unstable where either time it divides is (its course row against itself is
    exactly 1, however unstable the row)."""
    text = numbers.ratio_with_interval(r.speedup, r.speedup_ci_low, r.speedup_ci_high)
    same = r.base_variant == r.best_variant
    return marked(text, not same and (r.base_unstable or r.best_unstable))


def with_speedup_intervals(table: pd.DataFrame, run) -> pd.DataFrame:
    """``table`` (``best_table``'s) with each speedup's 95% interval from ``run`` (the
    results.model.Run it came from): the two rows' headline ratio bootstrapped from their
    samples as the headline's "× torch loop" is (results.summary.ratio_to, which pairs
    their processes, and their rounds where they were sampled together). Left NaN where
    the two rows are one, a side is missing or they share no process."""
    from results.summary import ratio_to

    rows = {row.id: row for row in run.rows}
    out = table.copy()
    for i, r in out.iterrows():
        base, best = rows.get(r["base_row"]), rows.get(r["best_row"])
        if base is None or best is None or base is best:
            continue
        _, low, high, _ = ratio_to(base, base.ok_processes(), best)
        out.loc[i, ["speedup_ci_low", "speedup_ci_high"]] = [
            math.nan if low is None else low, math.nan if high is None else high]
    return out


def best_notes(table: pd.DataFrame) -> list[str]:
    """The notes under ``best_table``'s table, plain text: what each tuned fastest row
    changes in the code, once a variant ("keras-jax-fit-spe: model.compile(...)."), then
    each framework's rows that were not measured, with their reasons."""
    changes, missing = {}, []
    for r in table.itertuples(index=False):
        if r.note:
            changes.setdefault(r.best_variant, f"{r.best_variant}: {r.note}.")
        if r.not_measured:
            missing.append(f"{r.framework} ({r.device}, b{r.batch_size}), not measured: "
                           f"{r.not_measured}.")
    unplanned = sorted({r.base_variant for r in table.itertuples(index=False)
                        if not r.base_planned})
    if unplanned:
        rows = ", ".join(unplanned)
        missing.append(f"{numbers.MISSING} for {rows}: not in this run's preset, so that "
                       "row has no time and its framework no speedup; to measure it, run "
                       f"with --impl {','.join(unplanned)} (or --preset full).")
    return [*changes.values(), *dict.fromkeys(missing)]


UNSTABLE_SPEEDUP_NOTE = (f"{UNSTABLE_MARK} after a speedup: one of the two times it divides "
                         "is unstable, so the speedup is not pinned down either; its interval "
                         "says how far off it may be.")
TITLE = "Each framework at its best"
CAPTION = ("Per framework: its course row (or idiomatic, where the course has no lesson) "
           "beside its fastest row in this run, the speedup between them, the fastest "
           "row's ratio to jax-scan (the epoch as one compiled jax.lax.scan: what is left "
           "when only the arithmetic is). Under the table: what each fastest row changes "
           "in the code. "
           "µs/step: each row's headline, by the estimator named in the Time table.")
CAPTION_LATEX = ("Per framework: its course row (or idiomatic, where the course has no "
                 "lesson) and its fastest row in this run, each with its time per step, "
                 "the speedup between them, and the fastest row's ratio to jax-scan (the "
                 "epoch as one compiled jax.lax.scan). Under the table: what each fastest "
                 "row changes in the code. Times by the estimator named in the Time "
                 "table.")


def section(tidy: pd.DataFrame, run=None) -> Section | None:
    """The report's "Each framework at its best" from the run's tidy table (reports.tables),
    or None when its rows record no tag (older files) or no framework has a row. With the
    ``run`` (results.model.Run) the table was made from, each speedup has its interval
    (``with_speedup_intervals``)."""
    if not tidy["tag"].notna().any():
        return None
    table = _measured_blocks(best_table(tidy))
    if not len(table):
        return None
    if run is not None:
        table = with_speedup_intervals(table, run)
    narrow, notes = best_latex_frame(table)
    shown = pd.DataFrame(best_cells(table), columns=list(HEADER))
    notes += [UNSTABLE_NOTE] if shows_unstable_mark(shown) else []
    notes += [UNSTABLE_SPEEDUP_NOTE] if shows_unstable_mark(shown[["speedup"]]) else []
    return Section(key="best", title=TITLE, caption=CAPTION, table=shown, notes=notes,
                   latex=[LatexTable(narrow, f"{TITLE}. {CAPTION_LATEX}", notes)])


def _measured_blocks(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without the blocks (device and batch size) where no row was measured, such
    as the CUDA rows of a machine without a GPU: a line of dashes per framework says nothing
    that the caveats' one line about the skipped rows does not."""
    if not len(table):
        return table
    identity = [c for c in BLOCK_FIELDS if c in table.columns]
    measured = table["best_variant"].map(lambda v: isinstance(v, str))
    keep = measured.groupby([table[c] for c in identity]).transform("any")
    return table[keep]


def best_latex_frame(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``best_table``'s result narrowed for a LaTeX page, and the notes to set under it
    (``best_notes``).

    The eleven columns of ``HEADER`` do not fit a text block, so the frame has five: the
    framework, device, batch size and both rows' names in the first (``latex.to_latex``
    breaks it at hyphens), then each side's µs per step with its 95% interval, the speedup
    and the ratio to jax-scan. First-epoch seconds stay in report.md and report.html.
    """
    records = []
    for r in table.itertuples(index=False):
        best = r.best_variant if isinstance(r.best_variant, str) else "none measured"
        records.append({
            "Framework: course row / fastest row":
                f"{r.framework} ({r.device}, b{r.batch_size}): {r.base_variant} / {best}",
            "µs/step course": marked(_sig_or_dash(r.base_us_per_step), r.base_unstable),
            "95% CI (course)": _interval(r.base_ci_low, r.base_ci_high, r.base_us_per_step),
            "µs/step fastest": marked(_sig_or_dash(r.best_us_per_step), r.best_unstable),
            "95% CI (fastest)": _interval(r.best_ci_low, r.best_ci_high, r.best_us_per_step),
            "Speedup": _speedup(r), "× jax-scan": _ratio(r.ratio_to_floor)})
    return pd.DataFrame.from_records(records), best_notes(table)


def _sig_or_dash(value: float) -> str:
    return numbers.number(value)


def _interval(low: float, high: float, value: float = math.nan) -> str:
    places = numbers.decimals(value if not math.isnan(value) else low, 3) \
        if not numbers.is_missing(low) else 0
    return numbers.interval(low, high, places)


def _us(value, low, high) -> str:
    return numbers.with_interval(value, low, high)


def _fixed(value: float, digits: int) -> str:
    return numbers.number(value, numbers.COLUMN_FIGURES["seconds"])


def _ratio(value: float) -> str:
    return numbers.ratio(value)
