"""A report as a document: sections of tables, sentences, notes and figures, in one order that
every renderer (reports/markdown.py, latex.py, html.py) follows.

Each report module is entered with the run (results.model.Run, or a table made from it) and
hands back a finished ``Section``, or None where the run has nothing for it; ``run_document``
puts them together. Modelled on pandas' ``Styler``: one table model, many renderers.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
from matplotlib.figure import Figure

# After a row's name in a table: the suite marked the row unstable (a line shaded in HTML).
UNSTABLE_MARK = "†"
SMOKE_NOTE = ("smoke run (quick preset): too few steps for accuracy or speed to mean anything; "
              "it only shows that every row runs")


def plot_label(name: str) -> str:
    """A figure's name as its label: ``time_per_step`` is "Time per step"."""
    return name.replace("_", " ").capitalize()


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
