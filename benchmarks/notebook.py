"""Run the benchmark from a notebook cell and show its report inline (Colab, Jupyter).

    from benchmarks.notebook import run
    run("quick")          # the last value of a cell: Jupyter shows the report

``run`` starts ``pytest --benchmark`` in a process of its own, exactly as the command line
does (the benchmark is a pytest plugin, and every row runs in worker processes anyway),
streams its progress into the cell's output, and returns a ``Run`` whose ``_repr_html_``
is the run's report.html. Its results are read by the checked reader of result files
(results.load), as every other reader reads them.
"""

from __future__ import annotations

import dataclasses
import html
import subprocess
import sys
from pathlib import Path

from results import load, model
from results.format import DEFAULT_RUNS_DIR, RESULTS_FILE_NAME

#: The height of the inline report, in CSS pixels; it scrolls inside.
FRAME_HEIGHT_PX = 640
#: Lines of pytest's output kept for a run that made no report.
OUTPUT_TAIL_LINES = 40


@dataclasses.dataclass
class Run:
    """One ``pytest --benchmark`` run: its exit code, its output, its run folder (None when
    it made none, e.g. for a bad option) and, from there, its results and its report."""

    returncode: int
    output: str
    run_dir: Path | None

    @property
    def ok(self) -> bool:
        """pytest's exit code was 0 (every row ran or was skipped with a reason)."""
        return self.returncode == 0

    @property
    def result_model(self) -> model.Run | None:
        """results.json as the shared result model (results.model.Run), or None without one.
        Read and checked as the reports read it (results.load.load_run): raises
        results.load.UnreadableResult, one sentence, for a file that breaks the format (one
        written by this run never does)."""
        path = self.run_dir / RESULTS_FILE_NAME if self.run_dir else None
        if path is None or not path.is_file():
            return None
        return load.load_run(path)

    @property
    def results(self) -> dict | None:
        """results.json (docs/result_format.md) as a dict, or None without one: the result
        model's ``to_dict``, which keeps every key of the file in its order."""
        run = self.result_model
        return run.to_dict() if run is not None else None

    @property
    def report_html(self) -> Path | None:
        """The run's report.html, or None without one."""
        path = self.run_dir / "report.html" if self.run_dir else None
        return path if path and path.is_file() else None

    def _repr_html_(self) -> str:
        """report.html in an iframe (its plots are inline data: images, and an iframe keeps
        its styles out of the notebook's page); without a report, the end of the output."""
        if self.report_html is not None:
            page = self.report_html.read_text(encoding="utf-8")
            return (f'<iframe title="sidebyside report" srcdoc="{html.escape(page)}" '
                    f'style="width:100%;height:{FRAME_HEIGHT_PX}px;border:0"></iframe>'
                    f"<p>{html.escape(str(self.report_html))}</p>")
        tail = "\n".join(self.output.splitlines()[-OUTPUT_TAIL_LINES:])
        return (f"<p>pytest --benchmark exited with {self.returncode} and made no report; "
                f"the end of its output:</p><pre>{html.escape(tail)}</pre>")

    def __repr__(self) -> str:
        where = self.report_html or self.run_dir or "no run folder"
        return f"Run(returncode={self.returncode}, report={str(where)!r})"


def _run_dirs(root: Path) -> set[Path]:
    return {p for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()


def run(preset: str = "quick", *options: str, report_dir: str | Path = DEFAULT_RUNS_DIR,
        echo: bool = True) -> Run:
    """``pytest --benchmark --preset PRESET OPTIONS...`` with the run folder under
    ``report_dir``; the ``Run``. ``options`` are the command line's (README, "Options"),
    e.g. ``run("quick", "--impl", "torch,keras-jax")``. With ``echo`` every line of
    pytest's output is printed as it comes (the cell's progress). Never raises for a
    failed run: its ``Run`` has the exit code and the output.
    """
    root = Path(report_dir)
    before = _run_dirs(root)
    command = [sys.executable, "-m", "pytest", "--benchmark", f"--preset={preset}",
               f"--report-dir={root}", *options]
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as process:
        for line in process.stdout:
            lines.append(line)
            if echo:
                print(line, end="", flush=True)
    new = sorted(_run_dirs(root) - before)
    return Run(process.returncode, "".join(lines), new[-1] if new else None)
