"""A report as a document: sections of tables, sentences, notes and figures, in one order that
every renderer (reports/markdown.py, latex.py, html.py) follows.

Each report module is entered with the run (results.model.Run, or a table made from it) and
hands back a finished ``Section``, or None where the run has nothing for it; ``run_document``
puts them together. Modelled on pandas' ``Styler``: one table model, many renderers. What
the tables' cells share (the unstable mark, which columns hold numbers) is in reports.cells.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
from matplotlib.figure import Figure

from reports.cells import without_missing_columns
from results import numbers

SMOKE_NOTE = ("smoke run (quick preset): too few steps for accuracy or speed to mean anything; "
              "it only shows that every row runs")


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
