"""Markdown (GitHub's): text and tables escaped for it (``markdown_escape``,
``to_markdown``, read back by ``parse_markdown_table``) and a run's report as report.md
(``report``)."""

from __future__ import annotations

import re

import pandas as pd

from reports.cells import is_number_column, plot_label
from reports.document import SMOKE_NOTE, Document, Section
from reports.text import plain_text

# Characters that GitHub Markdown would read as markup inside a table cell (raw HTML, math,
# emphasis, links, code, strike-through, the cell separator); each gets a backslash.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>$|~&])")


def markdown_escape(text) -> str:
    """``text`` for one table cell or list item of GitHub Markdown: ``plain_text``, markup
    characters (the cell separator ``|`` among them) backslash-escaped, line breaks shown as
    ``<br>``."""
    lines = _MARKDOWN_SPECIAL.sub(r"\\\1", plain_text(text)).splitlines() or [""]
    return "<br>".join(lines)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of display strings: a header line, the first column
    and every column of text left-aligned, the columns of numbers right-aligned
    (``is_number_column``), every cell through ``markdown_escape`` (no extra dependency:
    pandas's needs tabulate)."""
    header = list(table.columns)
    right = [i > 0 and is_number_column(table.iloc[:, i]) for i in range(len(header))]
    # Headers as named, plain spaces (no header_label): a Markdown file is read and searched
    # as text, and where it is rendered the renderer decides how a header wraps.
    lines = ["| " + " | ".join(markdown_escape(h) for h in header) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    # by position: two columns may share a name ("µs/step" of two rows side by side)
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(markdown_escape(cell) for cell in row) + " |")
    return "\n".join(lines)



def _markdown_unescape(cell: str) -> str:
    cell = re.sub(r"(?<!\\)<br>", "\n", cell)
    return re.sub(r"\\(.)", r"\1", cell)


def parse_markdown_table(text: str) -> list[dict]:
    """Read back a table written by ``to_markdown`` (for tests and for users' scripts)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # Separators are " | "; an escaped pipe always has its backslash right before it.
    split = lambda line: [_markdown_unescape(c.strip())
                          for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
    header = split(lines[0])
    return [dict(zip(header, split(line))) for line in lines[2:]]



def footnote_text(note: dict) -> str:
    """The footnote as one line: "label: value" for every value, joined by " · "."""
    return " · ".join(f"{k}: {v}" for k, v in note.items() if v)


def _section(section: Section) -> list[str]:
    esc = markdown_escape
    parts = [f"## {section.title}", ""]
    if section.sentences:
        parts += [esc(" ".join(section.sentences)), ""]
    if section.verdicts:
        parts += [f"**{esc(v)}**" for v in section.verdicts] + [""]
    if section.caption:
        parts += [section.caption, ""]  # written by us, as Markdown
    if section.table is not None:
        parts += [to_markdown(section.table), ""]
    for lines in (section.notes, section.items):
        parts += [f"- {esc(line)}" for line in lines] + ([""] if lines else [])
    if section.figures:
        parts += [f"![{plot_label(name)}]({name}.png)" for name in section.figures] + [""]
    return parts


def report(doc: Document) -> str:
    """report.md: the title (and the smoke run's warning), every section, the footnote. The
    run's own figures are files beside it."""
    parts = [f"# {doc.title}, {doc.footnote['date']}" + (" (smoke run)" if doc.smoke else ""),
             ""]
    if doc.smoke:
        parts += [f"**{SMOKE_NOTE[0].upper() + SMOKE_NOTE[1:]}.**", ""]
    for section in doc.sections:
        parts += _section(section)
    parts += ["---", "", "Measured with sidebyside. " +
              markdown_escape(footnote_text(doc.footnote)), ""]
    return "\n".join(parts)
