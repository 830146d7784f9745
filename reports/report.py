"""A run's report as a document (reports.document.Document): the footnote a citation needs,
then every report module's section, each built from the loaded run (results.model.Run).

The sections, in the order every format shows them: the headline, the PyTorch loop against
Keras fit (reports.headline); the caveats, each said once (reports.caveats); each framework at
its best (reports.best); the Time, Accuracy and Memory tables (reports.main_tables), the cost
per step (reports.instructions, runs with ``--metric instructions``), the scaling of a sweep
(reports.scaling_section), data parallelism (reports.distributed) and the flags; the appendix
of per-process diagnostics (reports.diagnostics); then the run's plots (reports.plots).
"""

from __future__ import annotations

import pandas as pd

from reports import (
    best,
    caveats,
    diagnostics,
    distributed,
    headline,
    instructions,
    main_tables,
    plots,
    scaling_section,
    tables,
    trained,
)
from reports.cells import MEASURED_STATUSES
from reports.document import Document, Section, without_missing_columns_in
from results import numbers
from results.model import ABSENT, Commit, Environment, Resources, Run

TITLE = "sidebyside: SimpleNet in Keras and PyTorch"
FLAGS_CAPTION = ("Settings that differ between rows on one device (the comparison is not fair "
                 "there).")


def run_document(run: Run) -> Document:
    """The report of ``run``: its sections (those the run has something for), its plots and
    its data files (reports.tables.run_tables's CSV files and each section's). A run of
    which no row was measured gets one section instead, that says so and why
    (reports.main_tables.nothing_measured), and no plots."""
    tidy = tables.run_tables(run)
    said = caveats.of(run, tidy.frame)
    note = footnote(run, tidy.frame, said.summary)
    if not tidy.frame["status"].isin(MEASURED_STATUSES).any():
        # Empty tables and plots of nothing would look like a finished report: one sentence
        # says what happened instead (and no smoke run's warning, which says rows ran).
        nothing = Section(key="nothing", title=main_tables.NOTHING_TITLE,
                          sentences=[main_tables.nothing_measured(tidy.frame)])
        return Document(title=TITLE, footnote=note, sections=[nothing], files=tidy.files)
    # the plots' subtitles: the footnote's machine and date, and what each seed trained
    plot_note = note | {"trained": trained.trained_text(run.plan, tidy.frame)}
    parts = [headline.section(tidy.frame), said.section,
             best.section(tidy.frame, run), *main_tables.sections(tidy.frame, run.plan),
             instructions.section(run, plot_note), scaling_section.section(run, plot_note),
             distributed.section(run), flags_section(run), diagnostics.section(run)]
    return Document(title=TITLE, footnote=note,
                    # a column with no value in any row is left out of every format
                    sections=[without_missing_columns_in(part) for part in parts
                              if part is not None],
                    figures=plots.figures(tidy.frame, tidy.curves, plot_note), files=tidy.files,
                    smoke=said.smoke)


def flags_section(run: Run) -> Section | None:
    """The run's flags (settings that differ between rows of one device), or None."""
    flags = run.get("flags", [])
    return Section(key="flags", title="Flags", caption=FLAGS_CAPTION, items=flags) \
        if flags else None


def footnote(run: Run, frame: pd.DataFrame, caveats_summary: str = "") -> dict:
    """Everything a citation of this run needs, as labelled strings (a format-1 file is read
    as results.load converts it: its machine and commit in the environment). ``frame``: the
    run's tidy table (reports.tables.tidy); ``caveats_summary``: the caveats in a few words
    (reports.caveats.Caveats.summary)."""
    plan, env = run.plan, run.environment or Environment()
    commit = env.commit or Commit()
    cpu = env.get("cpu_model") or env.get("machine", "unknown CPU")
    gpus = sorted({d for d in frame["device_name"].dropna() if d != "cpu"})
    versions = sorted({v for v in frame["framework_version"].dropna()} |
                      {v for v in frame["backend_version"].dropna()})
    fair = frame[frame["status"].isin(MEASURED_STATUSES)]
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
        "epochs": trained.epochs_text(plan, frame),
        "data": f"{numbers.grouped(plan['n_train'], 0)} training and "
                f"{numbers.grouped(plan['n_test'], 0)} test samples, "
                f"Bayes accuracy {numbers.fixed(fair['bayes_accuracy'].iloc[0], 2)}" if len(fair)
        else "",
        "hardware": f"{cpu}, {env.get('cpu_cores')} cores" + (f"; GPU {', '.join(gpus)}"
                                                               if gpus else ""),
        "threads": f"{plan['threads']} per framework",
        "os": env.get("os", ""),
        "python": env.get("python", ""),
        "frameworks": "; ".join(versions),
        "commit": commit_text,
        "fairness": "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in fairness.items() if v),
        # since format 3: how the time was sampled, and the memory the workers held together
        "sampling": _sampling(plan) if run.resources is not ABSENT else "",
        "peak resident memory": _gib((run.resources or Resources()).get(
            "peak_resident_total_bytes")),
        "caveats": caveats_summary,
        "format": f"sidebyside result format {version}{made_with}",
    }


def _gib(value) -> str:
    return "" if value is None else \
        f"{numbers.number(value / 2**30)} GiB, all processes together"


def _sampling(plan: dict) -> str:
    """"3 processes × 15 interleaved one-epoch samples a row, p10" (a count the plan does not
    record is left out)."""
    counts = [numbers.counted(n, noun) for n, noun in (
        (plan.get("processes"), "process"), (plan.get("rounds"), "interleaved one-epoch sample"))
        if n is not None]
    return " × ".join(counts) + " a row, p10" if counts else ""
