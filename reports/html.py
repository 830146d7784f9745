"""HTML: text escaped for it (``escape``), a table (``table``), a PNG inside the page
(``image``), a self-contained page's shell (``page``) and a run's report as report.html
(``report``)."""

from __future__ import annotations

import base64
import html
import re

import pandas as pd

from reports.cells import UNSTABLE_MARK, header_label, is_number_column, plot_label
from reports.document import SMOKE_NOTE, Document, Section
from reports.text import plain_text


def escape(text) -> str:
    """``text`` for HTML text or a quoted attribute: ``plain_text``, then ``&``, ``<``,
    ``>`` and both quotes as character references (``html.escape``)."""
    return html.escape(plain_text(text), quote=True)


# The page loads nothing: styles inline, images as data: URLs, no script.
HTML_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
HTML_STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
    "table.results{border-collapse:collapse;margin:.5em 0}"
    "table.results td,table.results th{padding:.25em .5em;border-bottom:1px solid #ccc;"
    "text-align:right;vertical-align:bottom;font-variant-numeric:tabular-nums}"
    "table.results td:first-child,table.results th:first-child{text-align:left;"
    "white-space:nowrap}"
    "table.results .text{text-align:left}"
    "table.results .ci{white-space:nowrap}"
    "table.results td.unstable{background:#fff4d6}"
    "p.caption{color:#444;max-width:60em}ul.notes{color:#444;font-size:.95em}"
    ".smoke{background:#fde2e1;padding:.5em 1em;border-left:4px solid #c0392b}"
    "img{max-width:100%}dt{font-weight:bold}")


def table(frame: pd.DataFrame) -> str:
    """A table of display strings as HTML (class ``results``): a column of numbers
    right-aligned, one of text (``is_number_column``) left-aligned (class ``text``), every
    "[low, high]" interval in a span that never breaks across lines (class ``ci``), and a
    cell that holds ``UNSTABLE_MARK`` (an unstable row's time) shaded."""
    kinds = [[] if is_number_column(frame.iloc[:, j]) else ["text"]
             for j in range(frame.shape[1])]
    head = "".join(f'<th scope="col"{_class(kinds[j])}>{escape(header_label(c))}</th>'
                   for j, c in enumerate(frame.columns))
    rows = []
    for row in frame.itertuples(index=False):
        cells = "".join(
            f"<td{_class(kinds[j] + (['unstable'] if UNSTABLE_MARK in str(v) else []))}>"
            f"{_cell(v)}</td>" for j, v in enumerate(row))
        rows.append(f"<tr>{cells}</tr>")
    return (f'<table class="results"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


# An interval as results.numbers writes it: "[low, high]", its ends without brackets.
_INTERVAL = re.compile(r"\[[^\[\]]*\]")


def _cell(value) -> str:
    """A cell's escaped text, each interval in a span that keeps it on one line."""
    return _INTERVAL.sub(lambda m: f'<span class="ci">{m.group()}</span>', escape(str(value)))


def _class(names: list[str]) -> str:
    return f' class="{" ".join(names)}"' if names else ""


def image(png: bytes, label: str) -> str:
    """A PNG inside the page itself (a data URL), so that the page travels as one file."""
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(label)}" src="data:image/png;base64,{encoded}">'


def page(title: str, body: list[str], style: str = "") -> str:
    """One self-contained HTML page: ``title`` (plain text), the ``body``'s HTML parts in
    order, ``HTML_STYLE`` and ``style`` inline, and a policy that loads nothing."""
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{HTML_CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title>"
            f"<style>{HTML_STYLE}{style}</style></head><body>{''.join(body)}</body></html>\n")


# -- a run's report ---------------------------------------------------------------------------

def _section(section: Section, images: dict[str, bytes]) -> list[str]:
    esc = escape
    head = f"<h2>{esc(section.title)}</h2>"
    if section.sentences:
        head += f"<p>{esc(' '.join(section.sentences))}</p>"
    head += "".join(f"<p><strong>{esc(v)}</strong></p>" for v in section.verdicts)
    if section.caption:
        head += f'<p class="caption">{esc(section.caption)}</p>'
    body = [head]
    if section.table is not None:
        body.append(table(section.table))
    if section.notes:
        body.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>"
                                                   for n in section.notes) + "</ul>")
    if section.items:
        body.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in section.items) + "</ul>")
    body += [image(images[name], plot_label(name)) for name in section.figures]
    return body


def report(doc: Document, images: dict[str, bytes]) -> str:
    """report.html: one self-contained page (tables, notes, figures as data: URLs, the
    footnote); ``images``: every figure's PNG by name."""
    esc = escape
    title = doc.title + (" (smoke run)" if doc.smoke else "")
    body = [f"<h1>{esc(title)}</h1><p>{esc(doc.footnote['date'])}</p>"]
    if doc.smoke:
        body.append(f'<p class="smoke">{esc(SMOKE_NOTE[0].upper() + SMOKE_NOTE[1:])}.</p>')
    for section in doc.sections:
        body += _section(section, images)
    for name in doc.figures:
        label = plot_label(name)
        body.append(f"<h2>{esc(label)}</h2>" + image(images[name], label))
    body.append("<h2>How to cite</h2><dl>" + "".join(
        f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in doc.footnote.items() if v)
        + "</dl>")
    return page(title, body)
