"""A table too tall for a float as a LaTeX ``longtable`` (``longtable``), for
``reports.latex.to_latex``, which escapes its text."""

from __future__ import annotations


def longtable(size: str, column_spec: str, caption: str, head: str, body: list[str],
              notes: list[str]) -> list[str]:
    r"""The lines of a booktabs ``longtable`` at font ``size`` (e.g. ``\small``) with
    ``column_spec``, its escaped ``caption`` above its ``head`` row (repeated atop every
    page it continues on), its ``body`` rows (each ending in ``\\``) and then ``notes``
    (``reports.latex.notes_block``'s lines, or none).

    The last row never starts a page alone: the row before it and, where there are notes,
    the last row itself hold on to what follows (longtable's ``\\*``). The closing rule and
    the notes are one more row, spanning every column at the full line: set in the body,
    not in a last foot, because longtable sets a last foot taller than its foot (and the
    rows before it) back on the page after its own output routine has run, where a page
    break repeats no header."""
    columns = column_spec.count("p{")
    held = {len(body) - 2, len(body) - 1} if notes else {len(body) - 2}
    body = [row[:-2] + r"\\*" if i in held else row for i, row in enumerate(body)]
    end = ([rf"\multicolumn{{{columns}}}{{@{{}}p{{\linewidth}}@{{}}}}{{%",
            r"\vspace{\aboverulesep}\hrule height\heavyrulewidth\vspace{\belowrulesep}",
            *notes, r"}\\"] if notes else [r"\bottomrule"])
    return ["{" + size, r"\setlength{\tabcolsep}{4pt}", r"\setlength{\LTcapwidth}{\linewidth}",
            rf"\begin{{longtable}}{{{column_spec}}}", rf"\caption{{{caption}}}\\",
            r"\toprule", head, r"\midrule", r"\endfirsthead",
            r"\toprule", head, r"\midrule", r"\endhead",
            *body, *end, r"\end{longtable}", "}"]
