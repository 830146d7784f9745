"""Turn one result file into its report folder: CSV, Markdown, LaTeX, plots and one HTML page."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pandas as pd

from reports import best, distributed, instructions, plots, scaling, tables
from reports.load import ReportError, as_data, load_run
from results.atomic import StagedFolder, write_bytes_atomic, write_text_atomic
from results.epochs import describe as describe_epochs
from results.format import DEFAULT_RUNS_DIR, RESULTS_FILE_NAME
from results.model import ABSENT, Commit, Environment, Resources, Run

PLOTS = ("time_per_step", "learning_curves", "accuracy_vs_time", "peak_memory")
# Where `reports build` puts a report whose result file is not in a run folder: relative, so
# under the current working directory (the same default as `pytest --benchmark`'s runs).
TITLE = "sidebyside: SimpleNet in Keras and PyTorch"
SMOKE_NOTE = ("smoke run (quick preset): too few steps for accuracy or speed to mean anything; "
              "it only shows that every row runs")
# Columns that hold integers; written as pandas' nullable Int64 so that a skipped row's empty
# cell does not turn 29 into 29.0.
INTEGER_COLUMNS = ("batch_size", "steady_rounds", "time_to_accuracy_reached_seeds",
                   "peak_rss_above_baseline_bytes", "rss_after_import_bytes", "gpu_peak_bytes",
                   "n_seeds", "processes_ok", "seed", "epoch", "index", "steps_per_epoch",
                   "effective_batch_size", "n_train", "n_test", "hidden_size", "n_parameters",
                   "peak_rss_bytes", "points", "samples")


def footnote(run: Run, frame: pd.DataFrame) -> dict:
    """Everything a citation of this run needs, as labelled strings (a format-1 file is read
    as reports.load converts it: its machine and commit in the environment)."""
    plan, env = run.plan, run.environment or Environment()
    commit = env.commit or Commit()
    cpu = env.get("cpu_model") or env.get("machine", "unknown CPU")
    gpus = sorted({d for d in frame["device_name"].dropna() if d != "cpu"})
    versions = sorted({v for v in frame["framework_version"].dropna()} |
                      {v for v in frame["backend_version"].dropna()})
    fair = frame[frame["status"].isin(tables.MEASURED_STATUSES)]
    fairness = {column: ", ".join(sorted(set(fair[column].dropna()))) for column in
                ("convention", "initial_weights", "adam_epsilon", "adam_epsilon_placement",
                 "loss_clip", "precision") if column in fair.columns}
    commit_text = (commit.get("id") or "unknown")[:12] + (" (uncommitted changes)"
                                                          if commit.get("dirty") else "")
    started = run.get("started") or ""
    version = run.get("converted_from_format_version") or run.get("format_version")
    made_with = (f", pytest-benchmark {run.pytest_benchmark_version}"
                 if run.get("pytest_benchmark_version") else "")
    return {
        "date": started[:19].replace("T", " ") + " UTC",
        "command": env.get("command", ""),
        "seeds": ", ".join(str(s) for s in plan["seeds"]),
        "epochs": describe_epochs(plan["epochs"], plan.get("min_steps") or 0,
                                  plan.get("batch_sizes") or (), plan["n_train"])
        if plan.get("batch_sizes") else str(plan["epochs"]),
        "data": f"{plan['n_train']} training and {plan['n_test']} test samples, "
                f"Bayes accuracy {fair['bayes_accuracy'].iloc[0]:.2f}" if len(fair) else "",
        "hardware": f"{cpu}, {env.get('cpu_cores')} cores" + (f"; GPU {', '.join(gpus)}"
                                                               if gpus else ""),
        "threads": f"{plan['threads']} per framework",
        "os": env.get("os", ""),
        "python": env.get("python", ""),
        "frameworks": "; ".join(versions),
        "commit": commit_text,
        "fairness": "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in fairness.items() if v),
        # since format 3: how the time was sampled, and the memory the workers held together
        "sampling": (f"{plan.get('processes')} processes x {plan.get('rounds')} interleaved "
                     "one-epoch samples a row, p10" if run.resources is not ABSENT else ""),
        "peak resident memory": _gib((run.resources or Resources()).get(
            "peak_resident_total_bytes")),
        "format": f"sidebyside result format {version}{made_with}",
    }


def _gib(value) -> str:
    return "" if value is None else f"{value / 2**30:.2f} GiB, all processes together"


def footnote_text(note: dict) -> str:
    return " · ".join(f"{k}: {v}" for k, v in note.items() if v)


def default_out_dir(run: Run, runs_dir: Path) -> Path:
    """Where ``build`` puts a report by default: the result file's own run folder (the
    folder of a ``results.json``, or of a format-1 ``benchmark.json``), else a new folder
    named after the file under ``runs_dir`` (an edited copy beside a run must not replace
    that run's report; ``build_report`` adds -2, -3, ... where the name is taken)."""
    path = Path(run.path)
    if is_run_folder_file(path):
        return path.parent
    return runs_dir / (path.stem or path.name)


def is_run_folder_file(path: Path) -> bool:
    """Whether ``path`` is the result file of the folder it lies in: a ``results.json``, or a
    format-1 ``benchmark.json`` without a results.json beside it."""
    if path.name == RESULTS_FILE_NAME:
        return True
    return path.name == "benchmark.json" and not (path.parent / RESULTS_FILE_NAME).exists()


def _check_out_dir(out: Path, result_path: Path) -> None:
    """Refuse an output folder that holds another run's result file: its report would be
    replaced by this one's."""
    for name in (RESULTS_FILE_NAME, "benchmark.json"):
        other = out / name
        if other.is_file() and not _same_file(other, result_path) and (
                name == RESULTS_FILE_NAME or not (out / RESULTS_FILE_NAME).exists()):
            raise ReportError(f"{out} is the run folder of another result file ({other}); "
                              f"its report would be replaced, so give another folder")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def is_smoke_run(run: Run) -> bool:
    """True for a quick-preset run, whose numbers only show that every row runs."""
    return (run.plan or {}).get("preset") == "quick"


def integer_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every column of ``INTEGER_COLUMNS`` as nullable Int64 where its values
    are whole numbers (a column that holds fractions is left as it is)."""
    frame = frame.copy()
    for column in INTEGER_COLUMNS:
        if column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        whole = values.dropna()
        if values.notna().sum() == frame[column].notna().sum() and (whole % 1 == 0).all():
            frame[column] = values.astype("Int64")
    return frame


def _csv(frame: pd.DataFrame) -> str:
    return integer_columns(frame).to_csv(index=False)


def build_report(result_path, out_dir=None, runs_dir=None) -> Path:
    """Write every report file for ``result_path`` into ``out_dir``; return the folder.

    Files: results.csv, learning_curves.csv, per_seed.csv, per_process.csv, report.md,
    report.tex (standalone; ``pdflatex report.tex`` in the folder builds it),
    report-tables.tex (a fragment for ``\\input``), report.html (one
    self-contained page) and each plot as PNG and SVG; a sweep's run (``plan.sweeps``) also
    sweep.csv, sweep_fit.csv and the scaling plots.

    Without ``out_dir``: a run's ``results.json`` (or format-1 ``benchmark.json``) gets its
    report in its own folder; any other file (an edited copy, a download) in a new folder
    named after it under ``runs_dir`` (default ./sidebyside-runs under the current working
    directory), with -2, -3, ... added where that name is taken: another run's report is
    never replaced. The files are written into a temporary folder beside the report folder
    and moved in at the end (results.atomic.StagedFolder): an interruption leaves the old
    report, or none, never a part.

    Raises ReportError (one sentence) for a file that cannot be loaded, for a run with no
    rows at all (stopped before its plan was written: a report of empty tables would look
    like a finished one), for an ``out_dir`` that holds another result file (that run's
    report would be replaced) and for a report file that would replace the result file.
    Raises OSError when a file cannot be written (nothing is moved into place then).
    """
    run = load_run(result_path)
    source = Path(run.path)
    if not run.rows:
        raise ReportError(f"{result_path}: the run holds no rows (it stopped before any row "
                          f"was planned), so there is nothing to report")
    fresh = not out_dir and not is_run_folder_file(source)
    out = Path(out_dir) if out_dir else default_out_dir(run, Path(runs_dir or DEFAULT_RUNS_DIR))
    if not fresh:
        _check_out_dir(out, source)
    staged = StagedFolder(out, protect=(source,), fresh=fresh)
    try:
        with staged as staging:
            _write_report(run, staging)
    except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM: say whether the report is whole
        err.report_folder = staged.folder  # None: nothing was moved into place
        raise
    except FileExistsError as err:
        raise ReportError(f"{err.filename} is the result file being read; a report there "
                          f"would replace it, so give another folder") from None
    return staged.folder


def _write_report(run: Run, out: Path) -> None:
    """Every report file of the loaded ``run``, written into the folder ``out``."""
    data = as_data(run)  # for the sections that do not read the model yet
    frame = tables.tidy(run)
    curves = tables.learning_curves(run)
    note = footnote(run, frame)
    main = tables.main_tables(frame)
    notes = tables.table_notes(frame)
    flags = run.get("flags", [])
    smoke = is_smoke_run(run)
    # "Each framework at its best" needs each row's tag, which newer result files record
    # (older files: no such table).
    best_of = best.best_table(frame) if frame["tag"].notna().any() else None
    data_parallel = distributed.section(run)  # None unless the run has such rows
    cost = cost_section(data, note, out)  # None unless the run counted instructions

    write_text_atomic(out / "results.csv", _csv(frame))
    write_text_atomic(out / "learning_curves.csv", _csv(curves))
    write_text_atomic(out / "per_seed.csv", _csv(tables.per_seed(run)))
    write_text_atomic(out / "per_process.csv", _csv(tables.per_process(run)))
    # A sweep's run: sweep.csv, sweep_fit.csv, its plots and a Scaling section.
    scaled = scaling_section(data, note, out)
    write_text_atomic(out / "report.md", markdown_report(main, notes, flags, note, smoke,
                                                         best_of, scaled, data_parallel, cost))
    images = {}
    for name in PLOTS:
        png, svg = plots.render(_figure(name, frame, curves, note))
        write_bytes_atomic(out / f"{name}.png", png)
        write_bytes_atomic(out / f"{name}.svg", svg)
        images[name] = png
    write_text_atomic(out / "report-tables.tex", latex_tables_fragment(main, notes, best_of))
    write_text_atomic(out / "report.tex", latex_report(main, notes, flags, note, smoke,
                                                       best_of, scaled, data_parallel, cost))
    write_text_atomic(out / "report.html", html_report(main, notes, flags, note, images, smoke,
                                                       best_of, scaled, data_parallel, cost))


def scaling_section(data: dict, note: dict, out: Path) -> dict | None:
    """For a sweep's run: write sweep.csv, sweep_fit.csv and the scaling plots
    (PNG and SVG) into ``out`` and return what the reports' Scaling section shows
    (``table``, ``sentences``, ``images``: name -> PNG bytes); None for any other run."""
    if not scaling.has_sweep(data):
        return None
    points, fits = scaling.csv_frames(data)
    write_text_atomic(out / "sweep.csv", _csv(points))
    write_text_atomic(out / "sweep_fit.csv", _csv(fits))
    images = {}
    for name, fig in scaling.figures(points, note).items():
        png, svg = plots.render(fig)
        write_bytes_atomic(out / f"{name}.png", png)
        write_bytes_atomic(out / f"{name}.svg", svg)
        images[name] = png
    return {"table": scaling.display_table(fits),
            "by_sweep": scaling.display_tables_by_sweep(fits),
            "sentences": scaling.teacher_sentences(points, fits), "images": images}


def cost_section(data: dict, note: dict, out: Path) -> dict | None:
    """For a run with ``--metric instructions``: write cost.csv and the breakdown plot (PNG and
    SVG) into ``out`` and return what the reports' cost section shows (``table``,
    ``sentences``, ``images``: name -> PNG bytes); None for any other run."""
    if not instructions.has_section(data):
        return None
    table = instructions.table(data)
    write_text_atomic(out / "cost.csv", _csv(instructions.frame(data)))
    png, svg = plots.render(instructions.breakdown_figure(data, note))
    write_bytes_atomic(out / f"{COST_PLOT}.png", png)
    write_bytes_atomic(out / f"{COST_PLOT}.svg", svg)
    return {"table": table, "sentences": instructions.sentences(data),
            "images": {COST_PLOT: png}}


COST_PLOT = "instructions_per_step"


def figures(result_path) -> dict:
    """The report's plots as matplotlib Figures, by name (for notebooks: a Figure displays
    itself inline, and nothing here changes the matplotlib backend); a sweep's run adds
    reports.scaling's plots."""
    run = load_run(result_path)
    data = as_data(run)  # for the sections that do not read the model yet
    frame, curves = tables.tidy(run), tables.learning_curves(run)
    note = footnote(run, frame)
    out = {name: _figure(name, frame, curves, note) for name in PLOTS}
    if scaling.has_sweep(data):  # a sweep's run: its scaling plots too
        out |= scaling.figures(scaling.csv_frames(data)[0], note)
    if instructions.has_section(data):
        out[COST_PLOT] = instructions.breakdown_figure(data, note)
    return out


def _figure(name, frame, curves, note):
    if name == "time_per_step":
        return plots.time_per_step(frame, note)
    if name == "learning_curves":
        return plots.learning_curves(curves, frame, note)
    if name == "accuracy_vs_time":
        return plots.accuracy_vs_time(curves, frame, note)
    return plots.peak_memory(frame, note)


def _title(note: dict, smoke: bool) -> str:
    return f"{TITLE}, {note['date']}" + (" (smoke run)" if smoke else "")


FLAGS_CAPTION = ("Settings that differ between rows on one device (the comparison is not fair "
                 "there).")


BEST_CAPTION = ("Per framework: its course row (or idiomatic, where the course has no lesson) "
                "beside its fastest row in this run, the speedup between them, the fastest "
                "row's ratio to jax-scan (the epoch as one compiled jax.lax.scan: what is left "
                "when only the arithmetic is), and what the fastest row changes in the code. "
                "µs/step: each row's headline, by the estimator named in the Time table "
                "(p10 since result format 3, the median over processes before).")


BEST_CAPTION_LATEX = ("Per framework: its course row (or idiomatic, where the course has no "
                      "lesson) and its fastest row in this run, each with its time per step, "
                      "the speedup between them, and the fastest row's ratio to jax-scan (the "
                      "epoch as one compiled jax.lax.scan). Under the table: what the fastest "
                      "row changes in the code. Times by the estimator named in the Time table "
                      "(p10 since result format 3, the median over processes before).")


SCALING_TITLE = "Scaling"


def _html_image(png: bytes, label: str) -> str:
    """A PNG inside the page itself (a data URL), so that report.html travels as one file."""
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img alt="{tables.html_escape(label)}" src="data:image/png;base64,{encoded}">'


def _plot_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def markdown_report(main: dict, notes: list[str], flags: list[str], note: dict,
                    smoke: bool = False, best_of: pd.DataFrame | None = None,
                    scaled: dict | None = None, data_parallel: tuple | None = None,
                    cost: dict | None = None) -> str:
    """report.md: the title, each table with its caption and notes, flags, the footnote;
    a sweep's run (``scaled``, from scaling_section) adds a Scaling section, and a run with
    data-parallel rows (``data_parallel``: ``reports.distributed.section``'s table and
    sentences, or None) a Data parallel section."""
    parts = [f"# {_title(note, smoke)}", ""]
    if smoke:
        parts += [f"**{SMOKE_NOTE[0].upper() + SMOKE_NOTE[1:]}.**", ""]
    for name, table in main.items():
        parts += [f"## {name}", "", tables.CAPTIONS[name], "", tables.to_markdown(table), ""]
        if notes:
            parts += [f"- {tables.markdown_escape(n)}" for n in notes] + [""]
    if cost:
        parts += [f"## {instructions.TITLE}", "", " ".join(cost["sentences"]), "",
                  instructions.CAPTION, "", tables.to_markdown(cost["table"]), ""]
        parts += [f"![{_plot_label(name)}]({name}.png)" for name in cost["images"]] + [""]
    if best_of is not None and len(best_of):
        parts += ["## Each framework at its best", "", BEST_CAPTION, "",
                  best.best_markdown(best_of), ""]
    if scaled:
        parts += [f"## {SCALING_TITLE}", "", " ".join(scaled["sentences"]), "",
                  scaling.CAPTION, "", tables.to_markdown(scaled["table"]), ""]
        parts += [f"![{_plot_label(name)}]({name}.png)" for name in scaled["images"]] + [""]
    if data_parallel is not None:
        dp_table, verdicts = data_parallel
        parts += [f"## {distributed.TITLE}", ""]
        parts += [f"**{tables.markdown_escape(v)}**" for v in verdicts] + ([""] if verdicts
                                                                           else [])
        parts += [distributed.CAPTION, "", tables.to_markdown(dp_table), ""]
    if flags:
        parts += ["## Flags", "", FLAGS_CAPTION, ""]
        parts += [f"- {tables.markdown_escape(flag)}" for flag in flags] + [""]
    parts += ["---", "", "Measured with sidebyside. " +
              tables.markdown_escape(footnote_text(note)), ""]
    return "\n".join(parts)


_LATEX_FRAGMENT_HEAD = "\n".join([
    "% sidebyside report tables, for \\input{report-tables.tex} in your own document.",
    "% Needs in the preamble:", *(f"%   {p}" for p in tables.LATEX_PACKAGES), ""])


def latex_tables_fragment(main: dict, notes: list[str],
                          best_of: pd.DataFrame | None = None) -> str:
    """report-tables.tex: the table floats (the three main tables, then "Each framework at
    its best" when the run has one), with the packages they need in a comment."""
    return _LATEX_FRAGMENT_HEAD + "\n\n".join(_latex_tables(main, notes, best_of)) + "\n"


def _latex_tables(main: dict, notes: list[str], best_of: pd.DataFrame | None) -> list[str]:
    floats = [tables.to_latex(table, f"{name}. {tables.CAPTIONS[name]}", notes)
              for name, table in main.items()]
    if best_of is not None and len(best_of):
        frame, best_notes = best.best_latex_frame(best_of)
        floats.append(tables.to_latex(frame, f"Each framework at its best. {BEST_CAPTION_LATEX}",
                                      best_notes))
    return floats


def _latex_footnote(note: dict) -> str:
    items = []
    for key, value in note.items():
        if not value:
            continue
        text = tables.latex_escape(value)
        if key == "command":
            # Typewriter spaces do not stretch: a long path needs places to break.
            for ch in "/=,":
                text = text.replace(ch, ch + r"\allowbreak{}")
            text = r"\texttt{" + text + "}"
        items.append(rf"\item[{tables.latex_escape(key)}] {text}")
    return "\n".join([r"\begin{description}\small\raggedright", *items,
                      r"\end{description}"])


def latex_report(main: dict, notes: list[str], flags: list[str], note: dict,
                 smoke: bool = False, best_of: pd.DataFrame | None = None,
                 scaled: dict | None = None, data_parallel: tuple | None = None,
                 cost: dict | None = None) -> str:
    """report.tex: a standalone article that ``pdflatex report.tex`` builds in the report folder
    (the plots are the PNGs beside it)."""
    title = tables.latex_escape(TITLE)
    subtitle = tables.latex_escape(note["date"] + (f" — {SMOKE_NOTE}" if smoke else ""))
    body = [r"\documentclass[11pt,a4paper]{article}", *tables.LATEX_PACKAGES,
            r"\usepackage{lmodern}", r"\usepackage[margin=2cm]{geometry}",
            r"\usepackage{graphicx}",
            rf"\title{{{title}}}", rf"\date{{{subtitle}}}", r"\author{}",
            r"\begin{document}", r"\maketitle"]
    for table in _latex_tables(main, notes, best_of):
        body += [table, ""]
    if cost:
        body += [rf"\section*{{{tables.latex_escape(instructions.TITLE)}}}",
                 tables.latex_escape(" ".join(cost["sentences"])), "",
                 tables.to_latex(cost["table"], f"{instructions.TITLE}. "
                                                f"{instructions.CAPTION}"), ""]
    if data_parallel is not None:
        dp_table, verdicts = data_parallel
        body += [rf"\section*{{{distributed.TITLE}}}",
                 # row ids break after their hyphens, as in the tables' Row column, and
                 # ragged right: a line of long ids cannot be justified
                 r"{\raggedright",
                 *(tables.latex_escape(v).replace("-{}", r"-{}\allowbreak{}") + r"\par"
                   for v in verdicts), "}",
                 tables.to_latex(distributed.latex_table(dp_table),
                                 f"{distributed.TITLE}. {distributed.CAPTION}"), ""]
    if flags:
        body += [r"\section*{Flags}", tables.latex_escape(FLAGS_CAPTION),
                 r"\begin{itemize}", *(rf"\item {tables.latex_escape(f)}" for f in flags),
                 r"\end{itemize}"]
    if scaled:
        body += [rf"\section*{{{SCALING_TITLE}}}",
                 tables.latex_escape(" ".join(scaled["sentences"])), "",
                 tables.latex_escape(scaling.CAPTION), ""]
        # One table per sweep, the sweep named in its caption: a Sweep column in every
        # line made the table wider than the page.
        body += [tables.to_latex(table, f"{SCALING_TITLE}, {sweep}. Crossover or within 10% "
                                        f"from {scaling.NOT_WITHIN_SHORT}: "
                                        f"{scaling.NOT_WITHIN}.") + "\n"
                 for sweep, table in scaled["by_sweep"]]
    for name in (PLOTS + tuple(scaled["images"] if scaled else ())
                 + tuple(cost["images"] if cost else ())):
        body += [r"\begin{figure}[htbp]", r"\centering",
                 rf"\includegraphics[width=\linewidth,height=0.8\textheight,keepaspectratio]"
                 rf"{{{name}.png}}",
                 rf"\caption{{{tables.latex_escape(name.replace('_', ' ').capitalize())}}}",
                 r"\end{figure}"]
    body += [r"\clearpage", r"\section*{How to cite these numbers}",
             "Measured with sidebyside.", _latex_footnote(note), r"\end{document}", ""]
    return "\n".join(body)


# The page loads nothing: styles inline, images as data: URLs, no script.
HTML_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
HTML_STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
    "table.results{border-collapse:collapse;margin:.5em 0}"
    "table.results td,table.results th{padding:.25em .7em;border-bottom:1px solid #ccc;"
    "text-align:right;vertical-align:bottom;font-variant-numeric:tabular-nums}"
    "table.results td:first-child,table.results th:first-child{text-align:left;"
    "white-space:nowrap}"
    "table.results tr.unstable td{background:#fff4d6}"
    "p.caption{color:#444;max-width:60em}ul.notes{color:#444;font-size:.95em}"
    ".smoke{background:#fde2e1;padding:.5em 1em;border-left:4px solid #c0392b}"
    "img{max-width:100%}dt{font-weight:bold}")


def _html_table(table: pd.DataFrame) -> str:
    esc = tables.html_escape
    head = "".join(f'<th scope="col">{esc(str(c))}</th>' for c in table.columns)
    rows = []
    for _, row in table.iterrows():
        unstable = tables.UNSTABLE_MARK in str(row.iloc[0])
        cells = "".join(f"<td>{esc(str(v))}</td>" for v in row)
        rows.append(f'<tr class="unstable">{cells}</tr>' if unstable else f"<tr>{cells}</tr>")
    return (f'<table class="results"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def html_report(main: dict, notes: list[str], flags: list[str], note: dict,
                images: dict[str, bytes], smoke: bool = False,
                best_of: pd.DataFrame | None = None, scaled: dict | None = None,
                data_parallel: tuple | None = None, cost: dict | None = None) -> str:
    """report.html: one self-contained page (tables, notes, plots as data: URLs, footnote)."""
    esc = tables.html_escape
    title = TITLE + (" (smoke run)" if smoke else "")
    body = [f"<h1>{esc(title)}</h1><p>{esc(note['date'])}</p>"]
    if smoke:
        body.append(f'<p class="smoke">{esc(SMOKE_NOTE[0].upper() + SMOKE_NOTE[1:])}.</p>')
    for name, table in main.items():
        body.append(f'<h2>{esc(name)}</h2><p class="caption">{esc(tables.CAPTIONS[name])}</p>')
        body.append(_html_table(table))
        if notes:
            body.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in notes) +
                        "</ul>")
    if cost:
        body.append(f"<h2>{esc(instructions.TITLE)}</h2><p>{esc(' '.join(cost['sentences']))}"
                    f'</p><p class="caption">{esc(instructions.CAPTION)}</p>')
        body.append(_html_table(cost["table"]))
        body += [_html_image(png, _plot_label(name)) for name, png in cost["images"].items()]
    if best_of is not None and len(best_of):
        body.append(f'<h2>Each framework at its best</h2><p class="caption">'
                    f"{esc(BEST_CAPTION)}</p>")
        body.append(_html_table(pd.DataFrame(best.best_cells(best_of), columns=best.HEADER)))
    if data_parallel is not None:
        dp_table, verdicts = data_parallel
        body.append(f"<h2>{esc(distributed.TITLE)}</h2>" +
                    "".join(f"<p><strong>{esc(v)}</strong></p>" for v in verdicts) +
                    f'<p class="caption">{esc(distributed.CAPTION)}</p>')
        body.append(_html_table(dp_table))
    if flags:
        body.append(f"<h2>Flags</h2><p class=\"caption\">{esc(FLAGS_CAPTION)}</p><ul>" +
                    "".join(f"<li>{esc(f)}</li>" for f in flags) + "</ul>")
    for name, png in images.items():
        label = name.replace("_", " ").capitalize()
        body.append(f"<h2>{esc(label)}</h2>" + _html_image(png, label))
    if scaled:
        body.append(f"<h2>{SCALING_TITLE}</h2><p>{esc(' '.join(scaled['sentences']))}</p>"
                    f'<p class="caption">{esc(scaling.CAPTION)}</p>')
        body.append(_html_table(scaled["table"]))
        body += [_html_image(png, _plot_label(name))
                 for name, png in scaled["images"].items()]
    body.append("<h2>How to cite</h2><dl>" + "".join(
        f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in note.items() if v) + "</dl>")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{HTML_CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title>"
            f"<style>{HTML_STYLE}</style></head><body>{''.join(body)}</body></html>\n")
