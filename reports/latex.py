"""LaTeX: text escaped for T1 fonts (``latex_escape``), a table as a float that fits the
page (``to_latex``, needing ``LATEX_PACKAGES``), and a run's report as report.tex
(``report``) and report-tables.tex (``tables_fragment``).

Two layouts are print's own: the main tables and "Each framework at its best"
(``TABLE_SECTIONS``) are floats without a heading, as in report-tables.tex, and every figure
is a float at the end.
"""

from __future__ import annotations

import math
import re
import unicodedata

import pandas as pd

from reports.document import SMOKE_NOTE, Document, LatexTable, Section, plot_label
from reports.text import plain_text

# Characters that LaTeX treats specially, and the symbols our tables and footnotes use.
# "-" becomes "-{}" so that "--benchmark" stays two hyphens instead of an en dash.
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
                  "-": "-{}", "µ": r"\textmu{}", "×": r"\texttimes{}", "–": "--",
                  "—": "---", "·": r"\textperiodcentered{}", "±": r"\textpm{}",
                  "→": r"\textrightarrow{}", "†": r"\textdagger{}", "°": r"\textdegree{}",
                  "®": r"\textregistered{}", "©": r"\textcopyright{}", "€": r"\texteuro{}",
                  "\n": " ", "\r": " ", "\t": " ",
                  # brackets: an \item or a command before them would read an optional argument
                  "[": "{[}", "]": "{]}"}
# 1e-08, 2.5E+03: kept on one line.
_SCIENTIFIC = re.compile(r"\d(?:\.\d+)?[eE][-+]?\d+")


def _latex_char(ch: str) -> str:
    if ch in _LATEX_SPECIAL:
        return _LATEX_SPECIAL[ch]
    if ch.isascii():
        return ch
    if ord(ch) <= 0x17F and unicodedata.category(ch).startswith("L"):
        return ch  # Latin letters (é, ß, ł): inputenc's utf8 and the T1 fonts have them
    # Other non-ASCII: the ASCII letters of its decomposition (é -> e), else its code point,
    # because the standard T1 fonts have no glyph for most of Unicode.
    ascii_form = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
    return "".join(_latex_char(c) for c in ascii_form) if ascii_form else f"[U+{ord(ch):04X}]"


def latex_escape(text) -> str:
    """``text`` as LaTeX source for T1 fonts with textcomp: ``plain_text``, every special
    character escaped, non-ASCII transliterated, numbers like 1e-08 kept unbroken in an
    ``\\mbox``."""
    text, out, end = plain_text(text), [], 0
    for match in _SCIENTIFIC.finditer(text):
        out.append("".join(_latex_char(c) for c in text[end:match.start()]))
        out.append(r"\mbox{" + "".join(_latex_char(c) for c in match.group()) + "}")
        end = match.end()
    out.append("".join(_latex_char(c) for c in text[end:]))
    return "".join(out)


# What a fragment from ``to_latex`` needs in the preamble (also written atop report-tables.tex).
LATEX_PACKAGES = (r"\usepackage[T1]{fontenc}", r"\usepackage[utf8]{inputenc}",
                  r"\usepackage{textcomp}", r"\usepackage{booktabs}", r"\usepackage{array}",
                  r"\usepackage{tabularx}")


# The text block that a fragment must fit at least: the standard article class at 10 pt
# (345 pt = 34.5 em). Wider tables step down one font size at a time (a last resort).
_LATEX_TEXT_EM = 34.5
_LATEX_SIZES = ((r"\normalsize", 10), (r"\small", 9), (r"\footnotesize", 8),
                (r"\scriptsize", 7))
_ROW_MIN_EM = 10.0  # "keras-torch-fit-cpu-b1024" in two lines
_COLUMN_GAP_EM = 0.8  # \tabcolsep of 4 pt on either side


def to_latex(table: pd.DataFrame, caption: str, notes: list[str] = ()) -> str:
    """A booktabs table float as wide as the text block, never wider.

    The Row column is a ``tabularx`` X column (its names break after hyphens); every number
    column is right-aligned with a width from its longest cell (0.5 em a character: the width
    of a digit), and its header wraps. A table that would not fit the standard article's text
    block is set one font size smaller, as often as needed. ``notes`` (plain text) are set
    under the table. Needs the packages in ``LATEX_PACKAGES``.
    """
    # A "95% CI" column goes under the number it belongs to, as a second line in its cell:
    # a column saved where the text block has none to spare.
    headers, cells = [], []
    for column in table.columns[1:]:
        values = [latex_escape(v) for v in table[column]]
        if str(column).startswith("95% CI") and headers:
            headers[-1] += " (95% CI)"
            cells[-1] = [(above[0], value) for above, value in zip(cells[-1], values)]
            continue
        headers.append(str(column))
        cells.append([(v, "") for v in values])
    specs, total_em = ["X"], _ROW_MIN_EM + _COLUMN_GAP_EM
    for header, column_cells in zip(headers, cells):
        # The header wraps, into two lines at most where the numbers are narrower.
        longest_em = max([0.5 * len(_latex_visible(part)) for cell in column_cells
                          for part in cell] +
                         [max(_word_em(word) for word in header.split()),
                          0.5 * math.ceil(len(header) / 2)])
        width_em = longest_em + 0.3
        total_em += width_em + _COLUMN_GAP_EM
        specs.append(rf">{{\raggedleft\arraybackslash}}p{{{width_em:.2f}em}}")
    size = next((name for name, points in _LATEX_SIZES
                 if total_em * points <= _LATEX_TEXT_EM * 10), _LATEX_SIZES[-1][0])
    row_cell = lambda v: latex_escape(v).replace("-{}", r"-{}\allowbreak{}")
    lines = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{latex_escape(caption)}}}",
             size, r"\setlength{\tabcolsep}{4pt}",
             rf"\begin{{tabularx}}{{\linewidth}}{{{''.join(specs)}}}", r"\toprule",
             " & ".join([latex_escape(table.columns[0])] +
                        [latex_escape(h) for h in headers]) + r" \\", r"\midrule"]
    for i, name in enumerate(table[table.columns[0]]):
        numbers = [value + (r"\par " + second if second else "")
                   for value, second in (column_cells[i] for column_cells in cells)]
        lines.append(" & ".join([row_cell(name)] + numbers) + r" \\")
    lines += [r"\bottomrule", r"\end{tabularx}"]
    if notes:
        lines.append(r"\par\smallskip\raggedright")
        lines += [latex_escape(note) + r"\par" for note in notes]
    lines.append(r"\end{table}")
    return "\n".join(lines)


def _word_em(word: str) -> float:
    """A header word's (plain text) width in em, roughly: a digit or lower-case letter 0.5 em,
    a capital 0.75 em ("IQR" is wider than three digits)."""
    return sum(0.75 if ch.isupper() else 0.5 for ch in word)


def _latex_visible(source: str) -> str:
    """Roughly what LaTeX source prints, for measuring a cell (commands count as one letter)."""
    return re.sub(r"\\[a-zA-Z]+", "x", source.replace("{}", "")).replace("{", "").replace("}", "")



# -- a run's report ---------------------------------------------------------------------------

# The sections that report-tables.tex holds: in report.tex floats without a heading.
TABLE_SECTIONS = ("time", "accuracy", "memory", "best")
FRAGMENT_HEAD = "\n".join([
    "% sidebyside report tables, for \\input{report-tables.tex} in your own document.",
    "% Needs in the preamble:", *(f"%   {p}" for p in LATEX_PACKAGES), ""])


def _tables(section: Section) -> list[LatexTable]:
    """The floats of a printed page: ``latex``, else ``table`` with its notes."""
    if section.latex is not None:
        return section.latex
    return [] if section.table is None else [LatexTable(section.table, None, section.notes)]


def _floats(section: Section) -> list[str]:
    return [to_latex(t.table, t.caption or f"{section.title}. {section.caption}", t.notes)
            for t in _tables(section)]


def _breakable(text: str) -> str:
    """Escaped ``text`` whose row ids may break after their hyphens."""
    return latex_escape(text).replace("-{}", r"-{}\allowbreak{}")


def _section(section: Section) -> list[str]:
    esc = latex_escape
    if section.key in TABLE_SECTIONS:
        return [line for table in _floats(section) for line in (table, "")]
    body = [rf"\section*{{{esc(section.title)}}}"]
    if section.sentences:
        body += [esc(" ".join(section.sentences)), ""]
    if section.verdicts:  # ragged right: a line of long ids cannot be justified
        body += [r"{\raggedright", *(_breakable(v) + r"\par" for v in section.verdicts), "}"]
    floats = _tables(section)
    if section.caption and all(t.caption for t in floats):  # no float carries it
        body += [esc(section.caption), ""]
    body += [line for table in _floats(section) for line in (table, "")]
    if section.items:
        body += [r"\begin{itemize}", *(rf"\item {esc(i)}" for i in section.items),
                 r"\end{itemize}"]
    return body


def _latex_footnote(note: dict) -> str:
    items = []
    for key, value in note.items():
        if not value:
            continue
        text = latex_escape(value)
        if key == "command":
            # Typewriter spaces do not stretch: a long path needs places to break.
            for ch in "/=,":
                text = text.replace(ch, ch + r"\allowbreak{}")
            text = r"\texttt{" + text + "}"
        items.append(rf"\item[{latex_escape(key)}] {text}")
    return "\n".join([r"\begin{description}\small\raggedright", *items,
                      r"\end{description}"])


def tables_fragment(doc: Document) -> str:
    """report-tables.tex: the floats of ``TABLE_SECTIONS``, with the packages they need in a
    comment."""
    floats = [table for section in doc.sections if section.key in TABLE_SECTIONS
              for table in _floats(section)]
    return FRAGMENT_HEAD + "\n\n".join(floats) + "\n"


def report(doc: Document) -> str:
    """report.tex: a standalone article that ``pdflatex report.tex`` builds in the report
    folder (the figures are the PNGs beside it)."""
    esc = latex_escape
    subtitle = esc(doc.footnote["date"] + (f" — {SMOKE_NOTE}" if doc.smoke else ""))
    body = [r"\documentclass[11pt,a4paper]{article}", *LATEX_PACKAGES,
            r"\usepackage{lmodern}", r"\usepackage[margin=2cm]{geometry}",
            r"\usepackage{graphicx}",
            rf"\title{{{esc(doc.title)}}}", rf"\date{{{subtitle}}}", r"\author{}",
            r"\begin{document}", r"\maketitle"]
    for section in doc.sections:
        body += _section(section)
    figures = [*doc.figures, *(name for section in doc.sections for name in section.figures)]
    for name in figures:
        body += [r"\begin{figure}[htbp]", r"\centering",
                 rf"\includegraphics[width=\linewidth,height=0.8\textheight,keepaspectratio]"
                 rf"{{{name}.png}}", rf"\caption{{{esc(plot_label(name))}}}",
                 r"\end{figure}"]
    body += [r"\clearpage", r"\section*{How to cite these numbers}",
             "Measured with sidebyside.", _latex_footnote(doc.footnote), r"\end{document}", ""]
    return "\n".join(body)
