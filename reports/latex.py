"""LaTeX: text escaped for T1 fonts (``latex_escape``), a table as a float that fits the
page (``to_latex``, needing ``LATEX_PACKAGES``), and a run's report as report.tex
(``report``) and report-tables.tex (``tables_fragment``), both at once by ``files``.

Two layouts are print's own: the main tables and "Each framework at its best"
(``TABLE_SECTIONS``) are floats without a heading, as in report-tables.tex, and every figure
is a float at the end.
"""

from __future__ import annotations

import math
import re
import unicodedata

import pandas as pd

from reports.caveats import DIAGNOSTICS_POINTER
from reports.cells import NO_BREAK_SPACE, header_label, plot_label
from reports.document import SMOKE_NOTE, Document, LatexTable, Section
from reports.latex_longtable import longtable
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
                  # between digit groups (results.numbers): a thin space that never breaks
                  "\u202f": r"\,",
                  # a header's unit bound to its word (reports.cells.header_label)
                  NO_BREAK_SPACE: "~",
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
# lmodern: T1 with the default Computer Modern has only bitmap (Type 3) fonts, which print
# blurred and copy out of the PDF garbled (ligatures lost, × as another letter).
LATEX_PACKAGES = (r"\usepackage[T1]{fontenc}", r"\usepackage{lmodern}",
                  r"\usepackage[utf8]{inputenc}", r"\usepackage{textcomp}",
                  r"\usepackage{booktabs}", r"\usepackage{array}",
                  r"\usepackage{tabularx}", r"\usepackage{longtable}",
                  r"\usepackage{graphicx}", r"\usepackage{float}")


# The text block that a fragment must fit at least: the standard article class at 10 pt
# (345 pt = 34.5 em). Wider tables step down one font size at a time (a last resort).
_LATEX_TEXT_EM = 34.5
_LATEX_SIZES = ((r"\normalsize", 10), (r"\small", 9), (r"\footnotesize", 8),
                (r"\scriptsize", 7))
_ROW_MIN_EM = 10.0  # "keras-torch-fit-cpu-b1024" in two lines
_COLUMN_GAP_EM = 0.8  # \tabcolsep of 4 pt on either side


# The page a fragment must fit at least: the standard article class at 10 pt, whose text
# block is 550 pt high. A table whose float (caption, table and notes together) would take
# more than ``_FLOAT_BUDGET_PT`` of it is a longtable instead, which breaks across pages:
# a float cannot, and one taller than the page is "Float too large" (it runs under the page
# number). The budget keeps a margin for the estimate's error.
_TEXT_HEIGHT_PT = 550.0
_FLOAT_BUDGET_PT = 0.9 * _TEXT_HEIGHT_PT
# About how many characters a line of the text block holds: a caption at 10 pt, a note at
# \footnotesize (8 pt); counted short (about 0.5 em a character) so that heights come out
# high rather than low.
_CAPTION_CHARS, _NOTE_CHARS = 70, 85


def _lines(table: pd.DataFrame, two_line_cells: bool) -> int:
    """About how many lines ``table`` takes: a row's name breaks every ``_ROW_MIN_EM`` (0.5
    em a character), a number with its interval under it takes two."""
    return sum(max(2 if two_line_cells else 1,
                   math.ceil(0.5 * len(str(name)) / _ROW_MIN_EM))
               for name in table[table.columns[0]])


def _height_pt(body_lines: int, size_pt: int, caption: str, notes) -> float:
    """About how tall a float of ``body_lines`` lines at ``size_pt`` is in the standard
    article, with its ``caption`` (10 pt) and ``notes`` (8 pt), in points: a line is 1.2
    times its font size, the header takes three lines, the rules and the gaps about 30 pt."""
    caption_lines = math.ceil(len(caption) / _CAPTION_CHARS)
    note_lines = sum(math.ceil(len(n) / _NOTE_CHARS) for n in notes)
    return ((body_lines + 3) * 1.2 * size_pt + caption_lines * 12 + note_lines * 9.5
            + 30 + 2 * len(notes))


def notes_block(notes) -> list[str]:
    """``notes`` (plain text) as the lines that end a table, inside its float or its
    longtable's last row, so that they are always set on the page of the table they explain
    (the convention of threeparttable's tablenotes, which only texlive-latex-extra has): a
    bulleted paragraph each at \footnotesize, ragged right, row ids breaking after hyphens.
    Paragraphs rather than a list, because a list inside a table cell adds space above it."""
    if not notes:
        return []
    return [r"\par\smallskip{\footnotesize\raggedright\setlength{\parindent}{0pt}"
            r"\setlength{\parskip}{1pt}",
            *(rf"\hangindent=1em\textbullet~{_breakable(n)}\par" for n in notes), "}"]


def to_latex(table: pd.DataFrame, caption: str, notes: list[str] = ()) -> str:
    """A booktabs table as wide as the text block, never wider, its notes under it on the
    same page.

    A float (``table``) holding a ``tabularx`` whose Row column is an X column (its names
    break after hyphens), its notes inside the float after the table; where that float
    would not fit well within a page of the standard article (``_height_pt``,
    ``_FLOAT_BUDGET_PT``): a ``longtable`` that breaks across pages and repeats its header,
    its Row column the width left over, its notes held to its last rows (``longtable``).
    Every number column is right-aligned with a width from its longest cell
    (``_number_columns``), and its header wraps. A table that would not fit the standard
    article's text block is set one font size smaller, as often as needed, and one still too
    wide at the smallest size is scaled to the line (``\resizebox``). ``notes`` are plain
    text (``notes_block``). Needs the packages in ``LATEX_PACKAGES``.
    """
    headers, cells, specs, numbers_em = _number_columns(table)
    total_em = _ROW_MIN_EM + numbers_em + _COLUMN_GAP_EM * (len(headers) + 1)
    size, size_pt = next(((name, points) for name, points in _LATEX_SIZES
                          if total_em * points <= _LATEX_TEXT_EM * 10), _LATEX_SIZES[-1])
    head = " & ".join([latex_escape(header_label(table.columns[0]))] +
                      [latex_escape(h) for h in headers]) + r" \\"
    body = []
    for i, name in enumerate(table[table.columns[0]]):
        numbers = [value + (r"\par " + second if second else "")
                   for value, second in (column_cells[i] for column_cells in cells)]
        body.append(" & ".join([_breakable(name)] + numbers) + r" \\")
    body_lines = _lines(table, any(second for column in cells for _, second in column))
    if _height_pt(body_lines, size_pt, caption, notes) > _FLOAT_BUDGET_PT:
        # The Row column takes what the number columns and the gaps (2 \tabcolsep each,
        # 4 pt) leave of the line.
        row_width = (rf"\dimexpr\linewidth-{numbers_em:.2f}em-"
                     rf"{8 * (len(headers) + 1)}pt\relax")
        lines = longtable(size, rf"@{{}}>{{\raggedright\arraybackslash}}p{{{row_width}}}"
                                rf"{''.join(specs)}@{{}}", latex_escape(caption), head, body,
                          notes_block(notes))
    elif total_em * _LATEX_SIZES[-1][1] > _LATEX_TEXT_EM * 10:
        # The last resort: too wide even at the smallest size, the table is scaled down to
        # the line (its Row column at its narrowest).
        lines = [r"\begin{table}[htbp]", r"\centering",
                 rf"\caption{{{latex_escape(caption)}}}", size, r"\setlength{\tabcolsep}{4pt}",
                 r"\resizebox{\linewidth}{!}{%",
                 rf"\begin{{tabular}}{{>{{\raggedright\arraybackslash}}"
                 rf"p{{{_ROW_MIN_EM}em}}{''.join(specs)}}}", r"\toprule", head, r"\midrule",
                 *body, r"\bottomrule", r"\end{tabular}}", *notes_block(notes),
                 r"\end{table}"]
    else:
        lines = [r"\begin{table}[htbp]", r"\centering",
                 rf"\caption{{{latex_escape(caption)}}}", size, r"\setlength{\tabcolsep}{4pt}",
                 rf"\begin{{tabularx}}{{\linewidth}}{{X{''.join(specs)}}}", r"\toprule",
                 head, r"\midrule", *body, r"\bottomrule", r"\end{tabularx}",
                 *notes_block(notes), r"\end{table}"]
    return "\n".join(lines)


def _number_columns(table: pd.DataFrame) -> tuple[list, list, list, float]:
    """The columns after the first as LaTeX: their headers, their cells (each a pair: the
    number and the line under it), their column specs and their total width in em (0.5 em
    a character: the width of a digit; the header wraps into two lines at most).

    A "95% CI" column goes under the number it belongs to, as a second line in its cell:
    a column saved where the text block has none to spare."""
    headers, cells = [], []
    for column in table.columns[1:]:
        values = [latex_escape(v) for v in table[column]]
        if str(column).startswith("95% CI") and headers:
            headers[-1] += " (95%" + NO_BREAK_SPACE + "CI)"
            cells[-1] = [(above[0], value) for above, value in zip(cells[-1], values)]
            continue
        # "× jax-scan": the sign stays with the name it divides by, never alone on a line
        headers.append(header_label(column).replace("× ", "×" + NO_BREAK_SPACE))
        cells.append([(v, "") for v in values])
    specs, numbers_em = [], 0.0
    for header, column_cells in zip(headers, cells):
        longest_em = max([0.5 * len(_latex_visible(part)) for cell in column_cells
                          for part in cell] +
                         [max(_word_em(word) for word in header.split(" ")),
                          0.5 * math.ceil(len(header) / 2)])
        width_em = longest_em + 0.3
        numbers_em += width_em
        specs.append(rf">{{\raggedleft\arraybackslash}}p{{{width_em:.2f}em}}")
    return headers, cells, specs, numbers_em


def _word_em(word: str) -> float:
    """A header word's (plain text) width in em, roughly: a digit or lower-case letter 0.5 em,
    a capital 0.75 em ("IQR" is wider than three digits)."""
    return sum(0.75 if ch.isupper() else 0.5 for ch in word)


def _latex_visible(source: str) -> str:
    """Roughly what LaTeX source prints, for measuring a cell (commands count as one letter)."""
    return re.sub(r"\\[a-zA-Z]+", "x", source.replace("{}", "")).replace("{", "").replace("}", "")



# -- a run's report ---------------------------------------------------------------------------

CITE_TITLE = "How to cite these numbers"
# The sections that report-tables.tex holds: in report.tex floats without a heading.
TABLE_SECTIONS = ("headline", "best", "time", "accuracy", "memory")
FRAGMENT_HEAD = "\n".join([
    "% sidebyside report tables, for \\input{report-tables.tex} in your own document.",
    "% Needs in the preamble:", *(f"%   {p}" for p in LATEX_PACKAGES), ""])


FRAGMENT_DIAGNOSTICS = f"{DIAGNOSTICS_POINTER} of report.tex and report.html"


def _tables(section: Section) -> list[LatexTable]:
    """The floats of a printed page: ``latex``, else ``table`` with its notes."""
    if section.latex is not None:
        return section.latex
    return [] if section.table is None else [LatexTable(section.table, None, section.notes)]


def _floats(section: Section) -> list[str]:
    return [to_latex(t.table, t.caption or f"{section.title}. {section.caption}", t.notes)
            for t in _tables(section)]


def _main_tables(doc: Document) -> dict[str, list[str]]:
    """The tables of ``TABLE_SECTIONS`` by section key, in order, every float before the last
    longtable placed here (float's ``[H]``): a longtable does not float, so a float before it
    that drifted to a later page would print after it, its number out of order."""
    tables = {s.key: _floats(s) for s in doc.sections if s.key in TABLE_SECTIONS}
    flat = [(key, i) for key, floats in tables.items() for i in range(len(floats))]
    longs = [n for n, (key, i) in enumerate(flat) if r"\begin{longtable}" in tables[key][i]]
    for key, i in flat[:longs[-1] if longs else 0]:
        tables[key][i] = tables[key][i].replace(r"\begin{table}[htbp]", r"\begin{table}[H]")
    return tables


# A command-line option ("--processes", "-k"): its hyphens stay with its name.
_OPTION = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")


def _breakable(text: str) -> str:
    r"""Escaped ``text`` whose row ids may break after their hyphens; a command-line option
    ("--processes") is kept whole in an ``\mbox``."""
    text, out, end = plain_text(text), [], 0
    for match in _OPTION.finditer(text):
        out.append(latex_escape(text[end:match.start()]).replace("-{}", r"-{}\allowbreak{}"))
        out.append(r"\mbox{" + latex_escape(match.group()) + "}")
        end = match.end()
    out.append(latex_escape(text[end:]).replace("-{}", r"-{}\allowbreak{}"))
    return "".join(out)


def _section(section: Section, main_tables: dict[str, list[str]]) -> list[str]:
    esc = latex_escape
    if section.key in TABLE_SECTIONS:  # the float's caption names the section
        lead = [esc(" ".join(section.sentences)), ""] if section.sentences else []
        return lead + [line for table in main_tables[section.key] for line in (table, "")]
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
        # ragged right, ids breaking after hyphens: a list of row ids cannot be justified
        body += [r"\begin{itemize}\raggedright", *(rf"\item {_breakable(i)}"
                                                   for i in section.items), r"\end{itemize}"]
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


def cite_block(doc: Document) -> list[str]:
    """How to cite the numbers: "Measured with sidebyside." and the footnote's labelled
    values (``doc.footnote``): what ends report.tex and report-tables.tex, under the
    heading ``CITE_TITLE``."""
    return ["Measured with sidebyside.", _latex_footnote(doc.footnote)]


def tables_fragment(doc: Document) -> str:
    """report-tables.tex: the caveats (the tables' notes refer to them), the tables of
    ``TABLE_SECTIONS`` with their notes (for a run of which nothing was measured, the
    sentence that says so), and how to cite them (``cite_block``, as report.tex
    ends), the packages they need in a comment."""
    # A smoke run's numbers mean nothing: the fragment that a course's notes input says so
    # first, as report.tex's title does.
    # Its heading is the note's words before the colon, which its text then does not repeat.
    title, _, rest = SMOKE_NOTE.partition(": ")
    parts = [rf"\paragraph{{{latex_escape(title[0].upper() + title[1:])}}} "
             rf"{_breakable(rest[0].upper() + rest[1:])}."] if doc.smoke else []
    main_tables = _main_tables(doc)
    for section in doc.sections:
        if section.key == "nothing":  # a run of which no row was measured: its one sentence
            parts.append(rf"\paragraph{{{latex_escape(section.title)}}} "
                         + _breakable(" ".join(section.sentences)))
        elif section.key == "caveats":
            # the appendix they point to is not in the fragment: say which file has it
            items = [i.replace(DIAGNOSTICS_POINTER, FRAGMENT_DIAGNOSTICS) for i in section.items]
            parts.append("\n".join([rf"\paragraph{{{latex_escape(section.title)}}}",
                                    r"\begin{itemize}\small\raggedright",
                                    *(rf"\item {_breakable(i)}" for i in items),
                                    r"\end{itemize}"]))
        elif section.key in TABLE_SECTIONS:
            # the headline's sentence before its table, as report.tex has it
            parts += ([_breakable(" ".join(section.sentences))] if section.sentences else [])
            parts += main_tables[section.key]
    # The tables are set before the citation (and before the article goes on): floats would
    # otherwise drift past it and split it from the numbers it cites.
    parts.append("\n".join([r"\clearpage", rf"\paragraph{{{CITE_TITLE}}}", *cite_block(doc)]))
    return FRAGMENT_HEAD + "\n\n".join(parts) + "\n"


def report(doc: Document) -> str:
    """report.tex: a standalone article that ``pdflatex report.tex`` builds in the report
    folder (the figures are the PNGs beside it)."""
    esc = latex_escape
    subtitle = esc(doc.footnote["date"] + (f" — {SMOKE_NOTE}" if doc.smoke else ""))
    body = [r"\documentclass[11pt,a4paper]{article}", *LATEX_PACKAGES,
            r"\usepackage[margin=2cm]{geometry}",
            rf"\title{{{esc(doc.title)}}}", rf"\date{{{subtitle}}}", r"\author{}",
            r"\begin{document}", r"\maketitle"]
    keys = [section.key for section in doc.sections]
    main_tables = _main_tables(doc)
    last_table = max((i for i, key in enumerate(keys) if key in TABLE_SECTIONS), default=None)
    for i, section in enumerate(doc.sections):
        if last_table is not None and i == last_table + 1:
            # LaTeX's floats may drift past a heading: the main tables are set before the
            # sections after them (the appendix), not under their headings.
            body.append(r"\clearpage")
        body += _section(section, main_tables)
    figures = [*doc.figures, *(name for section in doc.sections for name in section.figures)]
    for name in figures:
        body += [r"\begin{figure}[htbp]", r"\centering",
                 rf"\includegraphics[width=\linewidth,height=0.8\textheight,keepaspectratio]"
                 rf"{{{name}.png}}", rf"\caption{{{esc(plot_label(name))}}}",
                 r"\end{figure}"]
    body += [r"\clearpage", rf"\section*{{{CITE_TITLE}}}", *cite_block(doc),
             r"\end{document}", ""]
    return "\n".join(body)


def files(doc: Document) -> dict[str, str]:
    """Both LaTeX files of ``doc`` by name: report.tex (``report``) and report-tables.tex
    (``tables_fragment``)."""
    return {"report.tex": report(doc), "report-tables.tex": tables_fragment(doc)}
