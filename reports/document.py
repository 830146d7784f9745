"""A report as a document: sections of tables, sentences, notes and figures, in one order that
every renderer (reports/markdown.py, latex.py, html.py) follows.

Each report module is entered with the run (results.model.Run, or a table made from it) and
hands back a finished ``Section``, or None where the run has nothing for it; ``run_document``
puts them together. Modelled on pandas' ``Styler``: one table model, many renderers.
"""

from __future__ import annotations

import dataclasses
import re

import pandas as pd
from matplotlib.figure import Figure

from results import numbers
from results.summary import REFERENCE_VARIANT

# After a time per step: the suite marked its row unstable, the time not pinned down (a
# shaded cell in HTML). Said under each table that shows it (UNSTABLE_NOTE).
UNSTABLE_MARK = "†"
UNSTABLE_NOTE = (f"{UNSTABLE_MARK} after a time per step, its cell shaded on the web page: the "
                 "row is unstable, that time not pinned down; the Caveats section says which "
                 "rows and why.")
SMOKE_NOTE = ("smoke run (quick preset): too few steps for accuracy or speed to mean anything; "
              "it only shows that every row runs")


def plot_label(name: str) -> str:
    """A figure's name as its label: ``time_per_step`` is "Time per step"."""
    return name.replace("_", " ").capitalize()


# A cell that shows a number: it starts with one (a sign, digits, infinity), as every
# display string of results.numbers does ("1 024", "415 [415, 418]", "0.452×", "32 (cpu)").
_NUMBER_CELL = re.compile(r"[-+]?[0-9∞]")


def is_number_column(cells) -> bool:
    """Whether a column of display strings holds numbers (right-aligned, so that digits line
    up) rather than text (left-aligned, as text reads): every cell a number, ``MISSING`` or
    empty, and one at least not empty (a column of ``MISSING`` alone is a column of numbers
    that has none)."""
    cells = [str(c) for c in cells]
    shown = [c for c in cells if c not in (numbers.MISSING, "")]
    return any(cells) and all(_NUMBER_CELL.match(c) for c in shown)


def without_missing_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (display strings) without the columns in which every cell is ``MISSING``
    or empty: a column with no value in any row (GPU peak on a CPU-only run) tells the
    reader nothing. The first column (the rows' names) always stays; a table without rows
    keeps its columns."""
    if not len(table):
        return table
    # by position: two columns may share a name ("µs/step" of two rows side by side)
    keep = [i for i in range(table.shape[1]) if i == 0 or any(
        str(cell) not in (numbers.MISSING, "") for cell in table.iloc[:, i])]
    return table.iloc[:, keep]


# A unit at the end of a column's header (or before its parenthesis): "First epoch s",
# "Epoch s (median)", "Peak RSS MiB". A header that wraps in a narrow column must not leave
# the unit alone on a line ("first / epoch / s"), so it is bound to the word before it.
_HEADER_UNIT = re.compile(r" (s|ms|µs|µs/step|MiB|GiB|%)(?= \(|$)")
NO_BREAK_SPACE = "\u00a0"


def header_label(name) -> str:
    """A column's header as every format shows it: its unit (s, µs/step, MiB, % ...) joined
    to the word before it by ``NO_BREAK_SPACE`` (the "epoch s" of "First epoch s"), so that
    a header wraps between words but never before its unit; other headers unchanged."""
    return _HEADER_UNIT.sub(NO_BREAK_SPACE + r"\1", str(name))


RATIO = "× torch loop"
UNSTABLE_RATIO_NOTE = (f"{UNSTABLE_MARK} after a ratio: the row's time or the torch loop's is "
                       "unstable, so the ratio is not pinned down either; its interval says "
                       "how far off it may be.")


def ratio_unstable(frame: pd.DataFrame) -> pd.Series:
    """Per row of ``frame`` (bool, its index), whether its "× torch loop" rests on an
    unstable time: its own or the torch loop's of its block, the row whose id is the row's
    with ``torch-loop`` for its variant (same device, batch size and sweep point). The loop's
    own ratio (1.00×, exact) never."""
    unstable = {str(r["row"]): is_unstable(r) for _, r in frame.iterrows()}
    loop_id = lambda r: REFERENCE_VARIANT + str(r["row"])[len(str(r["variant"])):]
    return pd.Series([r["variant"] != REFERENCE_VARIANT
                      and (is_unstable(r) or unstable.get(loop_id(r), False))
                      for _, r in frame.iterrows()], index=frame.index, dtype=bool)


def is_unstable(row) -> bool:
    """Whether the suite marked ``row`` (a tidy frame's row) unstable; False where the
    column is absent or missing (bool(pd.NA) would raise)."""
    value = row.get("unstable")
    return not numbers.is_missing(value) and bool(value)


def shows_unstable_mark(table: pd.DataFrame) -> bool:
    """Whether a cell of ``table`` (display strings) carries ``UNSTABLE_MARK``."""
    return bool(table.map(lambda cell: UNSTABLE_MARK in str(cell)).to_numpy().any()) \
        if len(table) else False


def marked(time: str, unstable: bool) -> str:
    """A time's display string (a value, or "value [low, high]") with ``UNSTABLE_MARK``
    after the value where its row is unstable: the mark sits on the number that is not
    pinned down, not on the row's other columns (its accuracy, its memory)."""
    if not unstable or time == numbers.MISSING:
        return time
    value, bracket, interval = time.partition(" [")
    return f"{value} {UNSTABLE_MARK}{bracket}{interval}"


@dataclasses.dataclass
class LatexTable:
    """A table as a printed page sets it (narrower than the screen's, where it must be):
    ``table`` of display strings, its float's ``caption`` (None: the section's title and
    caption) and the ``notes`` set under it."""
    table: pd.DataFrame
    caption: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Section:
    """One part of a report, in the order a reader meets it.

    ``key`` names the part ("time", "best", "cost", ...); ``sentences`` (plain text) are read
    first as one paragraph, ``verdicts`` each as an emphasised paragraph; ``caption`` says
    what the ``table`` (display strings, or None) holds; ``notes`` go under the table,
    ``items`` make a list of their own; ``figures`` (name -> Figure) follow. ``latex``: the
    floats a printed page shows instead of ``table`` (None: ``table`` as it is; a float with
    a caption of its own leaves the section's caption to the text). ``files``: what the
    section adds to the report folder besides its figures (name -> text, e.g. a CSV).
    """
    key: str
    title: str
    caption: str = ""
    table: pd.DataFrame | None = None
    sentences: list[str] = dataclasses.field(default_factory=list)
    verdicts: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    items: list[str] = dataclasses.field(default_factory=list)
    figures: dict[str, Figure] = dataclasses.field(default_factory=dict)
    latex: list[LatexTable] | None = None
    files: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Document:
    """A whole report: ``title``; ``footnote``, everything a citation needs as labelled
    strings (its ``date`` also heads the report); ``smoke`` for a run whose numbers only show
    that every row runs; the ``sections`` in order; the run's own ``figures`` (name ->
    Figure, shown after the sections); ``files``, the report folder's data files (name ->
    text)."""
    title: str
    footnote: dict[str, str]
    sections: list[Section]
    figures: dict[str, Figure] = dataclasses.field(default_factory=dict)
    files: dict[str, str] = dataclasses.field(default_factory=dict)
    smoke: bool = False


def _shows_missing(table: pd.DataFrame) -> bool:
    return bool(len(table)) and bool((table.astype(str) == numbers.MISSING).to_numpy().any())


def without_missing_columns_in(section: Section) -> Section:
    """``section`` with ``without_missing_columns`` applied to its table and each printed
    one, and, under a table that then shows no ``MISSING``, without the notes that explain
    that mark (they start "—:"): every format shows the same columns."""
    def notes(lines: list[str], table: pd.DataFrame) -> list[str]:
        explains = f"{numbers.MISSING}:"
        return lines if _shows_missing(table) else [n for n in lines
                                                    if not n.startswith(explains)]

    if section.table is None:
        return section
    table = without_missing_columns(section.table)
    latex = None if section.latex is None else [
        dataclasses.replace(t, table=(shown := without_missing_columns(t.table)),
                            notes=notes(t.notes, shown)) for t in section.latex]
    return dataclasses.replace(section, table=table, notes=notes(section.notes, table),
                               latex=latex)
