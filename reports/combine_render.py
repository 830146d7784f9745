"""`sidebyside-reports combine`'s report (reports.combine.document) as its files: the plot
(combined.png and .svg), combined.csv, report.md, report.tex and report.html."""

from __future__ import annotations

import matplotlib
import pandas as pd
from matplotlib.ticker import NullFormatter

from reports import html, images, latex, markdown, plots
from reports.combine_tables import Labelled, display_groups
from results.model import Commit, Environment

PLOT_NAME = "combined"


# -- the plot -------------------------------------------------------------------------------

def figure(sections: dict, footnote: str):
    """One figure: per row a dot and an interval for each run (side by side: µs/step and its
    95% CI) or each group (a class: median × torch loop and the middle half), log x axis."""
    from matplotlib.figure import Figure

    series = sections["series"]  # [(name, {row: (value, low, high)})]
    rows = sections["rows"]
    height = min(max(4.0, 0.32 * len(rows) * max(1, len(series)) ** 0.5 + 2.5), 30.0)
    with matplotlib.rc_context(plots.STYLE):
        fig = Figure(figsize=(plots.SLIDE_INCHES[0], height), layout="constrained")
        ax = fig.add_subplot()
        step = 0.8 / max(1, len(series))
        for k, (name, points) in enumerate(series):
            look = {"color": plots.PALETTE[k % len(plots.PALETTE)],
                    "marker": plots.MARKERS[k % len(plots.MARKERS)]}
            ys, xs = [], []
            for i, row in enumerate(rows):
                if row not in points:
                    continue
                value, low, high = points[row]
                y = i - 0.4 + step * (k + 0.5)
                if low is not None and high is not None:
                    ax.plot([low, high], [y, y], color=look["color"], linewidth=2.5,
                            solid_capstyle="butt")
                ys.append(y)
                xs.append(value)
            ax.plot(xs, ys, linestyle="none", markersize=7, markeredgecolor="black",
                    label=plots._text(name), **look)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks(range(len(rows)), [plots._text(r) for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlabel(sections["xlabel"])
        ax.grid(axis="x", color="0.9")
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center",
                       ncol=min(len(handles), 2), frameon=False)
        fig.suptitle(plots._text(f"{sections['title']}\n{footnote}"),
                     fontsize=plots.FONT_PT + 1)
    return fig


def _point(value, low, high):
    clean = lambda v: None if v is None or pd.isna(v) else float(v)
    return clean(value), clean(low), clean(high)


def side_by_side_series(result: dict) -> list:
    series = []
    for label, part in result["frame"].groupby("run", sort=False):
        series.append((label, {r["row"]: _point(r["us_per_step"], r["us_per_step_ci_low"],
                                                r["us_per_step_ci_high"])
                               for r in part.to_dict("records")
                               if r["us_per_step"] is not None
                               and not pd.isna(r["us_per_step"])}))
    return series


def grouped_series(result: dict) -> list:
    series = []
    for machine, device, n in result["groups"]:
        part = result["frame"][(result["frame"]["machine"] == machine)
                               & (result["frame"]["device"] == device)]
        series.append((f"{machine} ({device}), {n} run{'' if n == 1 else 's'}",
                       {r["row"]: _point(r["ratio_median"], r["ratio_q1"], r["ratio_q3"])
                        for r in part.to_dict("records") if r["ratio_median"] is not None
                        and not pd.isna(r["ratio_median"])}))
    return series


# -- rendering ------------------------------------------------------------------------------

# The HTML table's columns per run: (header, cell above, cell below it in small print).
_HTML_COLUMNS = (("µs/step (95% CI)", "µs/step", "95% CI"), ("× torch loop", "× torch loop", None),
                 ("÷ first (95% CI)", "÷ first", "÷ first, 95% CI"), ("verdict", "verdict", None))


def html_grouped_table(result: dict, runs: list[Labelled]) -> str:
    """The side-by-side table with a header line of run labels over their column groups;
    each interval in small print under its number, so that a run is four narrow columns."""
    esc = html.escape
    groups = display_groups(result, runs)
    shown = [[c for c in _HTML_COLUMNS if c[1] in g.columns] for _, g in groups]
    top = '<th scope="col" rowspan="2">Row</th>' + "".join(
        f'<th scope="colgroup" colspan="{len(columns)}">{esc(label)}</th>'
        for (label, _), columns in zip(groups, shown))
    second = "".join(f'<th scope="col">{esc(header)}</th>' for columns in shown
                     for header, _, _ in columns)
    body = []
    for i, row_id in enumerate(result["rows"]):
        cells = []
        for (_, group), columns in zip(groups, shown):
            for _, above, below in columns:
                under = group.iloc[i][below] if below else ""
                cells.append(f"<td>{esc(group.iloc[i][above])}"
                             + (f"<br><small>{esc(under)}</small>" if under else "") + "</td>")
        body.append(f'<tr><th scope="row">{esc(row_id)}</th>{"".join(cells)}</tr>')
    return (f'<div class="wide"><table class="results"><thead><tr>{top}</tr><tr>{second}'
            f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def runs_list(runs: list[Labelled]) -> list[str]:
    out = []
    for run in runs:
        env = run.run.environment or Environment()
        commit = ((env.get("commit") or Commit()).get("id") or "unknown")[:12]
        out.append(f"{run.label}: {run.path} (started {run.run.started[:19]}, "
                   f"{env.get('cpu_model') or 'unknown CPU'}, commit {commit})")
    return out


def files(document: dict) -> dict:
    """Every file of the combined report, by name: text (str) or bytes."""
    png, svg = images.render(document["figure"])
    return {"combined.csv": document["frame"].to_csv(index=False), f"{PLOT_NAME}.png": png,
            f"{PLOT_NAME}.svg": svg, "report.md": markdown_report(document),
            "report.tex": latex_report(document), "report.html": html_report(document, png)}


def _list_md(items) -> list[str]:
    return [f"- {markdown.markdown_escape(i)}" for i in items] + ([""] if items else [])


def markdown_report(doc: dict) -> str:
    parts = [f"# {markdown.markdown_escape(doc['title'])}", "",
             markdown.markdown_escape(doc["intro"]), ""]
    for section in doc["sections"]:
        parts += [f"## {markdown.markdown_escape(section['title'])}", ""]
        parts += [markdown.markdown_escape(s) + "  " for s in section.get("sentences", [])]
        parts += ([""] if section.get("sentences") else [])
        parts += [markdown.markdown_escape(section["caption"]), "",
                  markdown.to_markdown(section["table"]), ""]
        parts += _list_md(section.get("notes", []))
    parts += [f"![{PLOT_NAME}]({PLOT_NAME}.png)", ""]
    for title, items in doc["lists"]:
        if items:
            parts += [f"## {title}", ""] + _list_md(items)
    return "\n".join(parts)


def latex_report(doc: dict) -> str:
    esc = latex.latex_escape
    body = [r"\documentclass[11pt,a4paper]{article}", *latex.LATEX_PACKAGES,
            r"\usepackage{lmodern}", r"\usepackage[margin=2cm]{geometry}",
            rf"\title{{{esc(doc['title'])}}}", r"\date{}",
            r"\author{}", r"\begin{document}", r"\maketitle",
            r"{\raggedright " + esc(doc["intro"]) + r"\par}"]
    for section in doc["sections"]:
        body.append(rf"\section*{{{esc(section['title'])}}}")
        # row ids break after their hyphens, and ragged right: long ids cannot be justified
        body += [r"{\raggedright " + esc(s).replace("-{}", r"-{}\allowbreak{}") + r"\par}"
                 for s in section.get("sentences", [])]
        for table in section.get("latex") or [latex.to_latex(
                section["table"], section["caption"])]:
            body += [table, ""]
        if section.get("notes"):
            body += [r"{\raggedright\small"]
            body += [esc(n).replace("-{}", r"-{}\allowbreak{}") + r"\par"
                     for n in section["notes"]]
            body += ["}"]
        body.append(r"\clearpage")
    body += [r"\begin{figure}[htbp]", r"\centering",
             rf"\includegraphics[width=\linewidth,height=0.8\textheight,keepaspectratio]"
             rf"{{{PLOT_NAME}.png}}", rf"\caption{{{esc(doc['plot_caption'])}}}",
             r"\end{figure}"]
    for title, items in doc["lists"]:
        if items:
            body += [rf"\section*{{{esc(title)}}}", r"{\raggedright\small"]
            body += [esc(i).replace("/", r"/\allowbreak{}").replace("-{}", r"-{}\allowbreak{}")
                     + r"\par" for i in items]
            body += ["}"]
    body += [r"\end{document}", ""]
    return "\n".join(body)


def html_report(doc: dict, png: bytes) -> str:
    esc = html.escape
    body = [f"<h1>{esc(doc['title'])}</h1><p>{esc(doc['intro'])}</p>"]
    for section in doc["sections"]:
        body.append(f"<h2>{esc(section['title'])}</h2>")
        body += [f"<p><strong>{esc(s)}</strong></p>" for s in section.get("sentences", [])]
        body.append(f'<p class="caption">{esc(section["caption"])}</p>')
        body.append(section.get("html") or html.table(section["table"]))
        if section.get("notes"):
            body.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>"
                                                       for n in section["notes"]) + "</ul>")
    body.append(f"<h2>{esc(doc['plot_caption'])}</h2>"
                + html.image(png, doc["plot_caption"]))
    for title, items in doc["lists"]:
        if items:
            body.append(f"<h2>{esc(title)}</h2><ul>" + "".join(f"<li>{esc(i)}</li>"
                                                              for i in items) + "</ul>")
    return html.page(doc["title"], body, style=(
        "table.results th[scope=colgroup]{text-align:center;border-bottom:1px solid #888}"
        "table.results th[scope=row]{text-align:left;font-weight:normal;white-space:nowrap}"
        "div.wide{overflow-x:auto}div.wide td{white-space:nowrap}"))


