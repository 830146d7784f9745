"""Turn one result file into its report folder: the pipeline from the file to the files.

``build_report`` reads the file into the result model (results.load), makes the report
document (reports.report: each report module hands back its section), renders it
(reports.markdown, reports.latex, reports.html, and every figure as PNG and SVG:
reports.images) and writes every file at once (results.atomic.write_folder).
"""

from __future__ import annotations

import os
from pathlib import Path

from reports import html, images, latex, markdown
from reports.document import Document
from reports.errors import ReportError
from reports.report import run_document
from results.atomic import write_folder
from results.format import DEFAULT_RUNS_DIR, RESULTS_FILE_NAME
from results.load import load_run
from results.model import Run


def build_report(result_path, out_dir=None, runs_dir=None) -> Path:
    """Write every report file for ``result_path`` into ``out_dir``; return the folder.

    Files: results.csv, learning_curves.csv, per_seed.csv, per_process.csv, report.md,
    report.tex (standalone; ``pdflatex report.tex`` in the folder builds it),
    report-tables.tex (a fragment for ``\\input``), report.html (one
    self-contained page) and each plot as PNG and SVG; a sweep's run (``plan.sweeps``) also
    sweep.csv, sweep_fit.csv and the scaling plots; a run with ``--metric instructions``
    cost.csv and its plot.

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
    try:
        return write_folder(out, report_files(run), protect=(source,), fresh=fresh)
    except FileExistsError as err:
        raise ReportError(f"{err.filename} is the result file being read; a report there "
                          f"would replace it, so give another folder") from None


def report_files(run: Run) -> dict:
    """Every file of the report of the loaded ``run``, by name: text (str) or bytes."""
    doc = run_document(run)
    files = dict(doc.files)
    for section in doc.sections:
        files |= section.files
    pngs = {}  # name -> PNG, which report.html holds inside itself
    for name, figure in _figures(doc).items():
        pngs[name], svg = images.render(figure)
        files[f"{name}.png"], files[f"{name}.svg"] = pngs[name], svg
    return files | {"report.md": markdown.report(doc), **latex.files(doc),
                    "report.html": html.report(doc, pngs)}


def _figures(doc: Document) -> dict:
    """Every figure of ``doc`` by name: the run's own, then each section's."""
    out = dict(doc.figures)
    for section in doc.sections:
        out |= section.figures
    return out


def figures(result_path) -> dict:
    """The report's plots as matplotlib Figures, by name (for notebooks: a Figure displays
    itself inline, and nothing here changes the matplotlib backend): the run's own
    (reports.plots.PLOTS), then a sweep's scaling plots and the cost breakdown."""
    return _figures(run_document(load_run(result_path)))


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
