"""The tidy table of a run (one row per implementation x device x batch size) and its renderings."""

from __future__ import annotations

import html
import math
import re
import statistics
import unicodedata

import pandas as pd

from results.model import Cpu, Process, Row, Run, Summary

BASELINE_VARIANT = "torch-loop"  # the course's PyTorch loop: every ratio is to this row

SETTING_COLUMNS = ("framework_version", "keras_backend", "backend_version", "compile",
                   "convention", "initial_weights", "adam_epsilon", "adam_epsilon_placement",
                   "loss_clip", "precision", "intra_op_threads", "inter_op_threads",
                   "device_name")
ROW_COLUMNS = ("row", "variant", "implementation", "mode", "device", "batch_size", "tag",
               "tuned_note", "status",
               "reason")
# Every Summary field of docs/result_format.md, in its order.
SUMMARY_COLUMNS = ("processes_ok", "us_per_step", "us_per_step_ci_low", "us_per_step_ci_high",
                   "process_us_per_step", "spread_iqr_pct", "unstable", "unstable_reasons",
                   "samples_per_s", "steady_epoch_s_median", "first_epoch_s",
                   "first_epoch_cold", "test_accuracy_mean", "test_accuracy_sd", "n_seeds",
                   "time_to_accuracy_s_median", "time_to_accuracy_reached_seeds",
                   "target_accuracy", "bayes_accuracy", "final_loss_mean",
                   "peak_rss_above_baseline_bytes", "rss_after_import_bytes", "gpu_peak_bytes",
                   "import_s", "build_s", "cores_used", "ratio_to_torch_loop", "ratio_ci_low",
                   "ratio_ci_high",
                   # since format 3; a format-2 row's estimator is FORMAT_2_ESTIMATOR
                   "estimator", "us_per_step_median", "samples", "sample_spread_iqr_pct",
                   "ratio_method")
# Columns of format-1 days that the rendering still reads: quartiles of the samples (the
# processes' median steady epochs; a format-1 file's rounds), the number of steady epochs,
# and the ratio under its old name.
EXTRA_COLUMNS = ("steady_epoch_s_q1", "steady_epoch_s_q3", "steady_epoch_s_iqr",
                 "steady_rounds", "time_ratio_to_torch_loop")
# A sweep's run (plan.sweeps) adds these after batch_size: the row's width and
# training samples, which tell its points apart. Other runs' tables are as they were.
SWEEP_ROW_COLUMNS = ("hidden_size", "n_train")
# What two rows must share to stand side by side (a table block, a plot panel).
IDENTITY_COLUMNS = ("device", "batch_size", *SWEEP_ROW_COLUMNS)
# A file from before sweeps records no width: all its rows have the course's (frameworks.spec's).
DEFAULT_HIDDEN_SIZE = 16
INTEGER_COLUMNS = ("batch_size", "processes_ok", "n_seeds", "time_to_accuracy_reached_seeds",
                   "peak_rss_above_baseline_bytes", "rss_after_import_bytes", "gpu_peak_bytes",
                   "steady_rounds", "samples")
BOOLEAN_COLUMNS = ("unstable", "first_epoch_cold")
_TEXT_SUMMARY = ("process_us_per_step", "unstable_reasons", "estimator", "ratio_method")
NUMBER_COLUMNS = tuple(c for c in SUMMARY_COLUMNS + EXTRA_COLUMNS
                       if c not in INTEGER_COLUMNS + BOOLEAN_COLUMNS + _TEXT_SUMMARY)
# Summary columns that only a run of several processes per row can fill. A converted format-1
# file (one process per row, its rounds as samples) has none, so its table leaves them out;
# the rendering then shows the rounds' IQR in seconds instead, as format 1 did.
FORMAT_2_ESTIMATOR = "median"  # results.format's: what us_per_step is in a format-2 file
FORMAT_2_ONLY_COLUMNS = ("us_per_step_ci_low", "us_per_step_ci_high", "spread_iqr_pct",
                         "ratio_ci_low", "ratio_ci_high")


def tidy(run: Run) -> pd.DataFrame:
    """One row per result row (failed and skipped rows included), from a loaded run.

    Columns: ROW_COLUMNS, then SUMMARY_COLUMNS (empty for rows without a summary;
    `process_us_per_step` as space-separated numbers, `unstable_reasons` joined by "; "),
    EXTRA_COLUMNS, then SETTING_COLUMNS from the row's first ok process (as strings). A
    sweep's run (``plan.sweeps`` not empty) has SWEEP_ROW_COLUMNS after ``batch_size``.
    Integer columns are pandas nullable Int64, `unstable`/`first_epoch_cold` nullable boolean,
    so a missing value stays missing instead of turning 29 into 29.0. A file converted from
    format 1 (``converted_from_format_version``, set by reports.load) has no
    FORMAT_2_ONLY_COLUMNS.
    """
    records = []
    plan = run.plan or {}
    for row in run.rows:
        summary = row.summary or Summary()
        record = {
            "row": row.id,
            "variant": row.variant,
            "implementation": row.implementation,
            "mode": row.mode,
            "device": row.device,
            "batch_size": row.batch_size,
            "hidden_size": row.get("hidden_size", DEFAULT_HIDDEN_SIZE),
            "n_train": row.get("n_train", plan.get("n_train")),
            "tag": row.get("tag"),  # recorded since the tuned rows; None in older files
            "tuned_note": row.get("tuned_note"),
            "status": row.status,
            # the first line; splitlines would also cut at C1's NEL and other separators
            "reason": re.split(r"\r\n|\r|\n", row.reason)[0] if row.get("reason") else "",
        }
        for column in SUMMARY_COLUMNS:
            record[column] = summary.get(column)
        if row.summary and not summary.get("estimator"):
            record["estimator"] = FORMAT_2_ESTIMATOR  # before format 3: median over processes
        record["process_us_per_step"] = " ".join(
            repr(v) for v in summary.get("process_us_per_step") or []) or None
        record["unstable_reasons"] = "; ".join(summary.get("unstable_reasons") or []) or None
        ok = _ok_processes(row)
        record.update(_sample_quartiles(summary, ok))
        record["steady_rounds"] = sum(len(_epochs(p)) for p in ok) if ok else None
        record["time_ratio_to_torch_loop"] = summary.get("ratio_to_torch_loop")
        settings = (ok[0].settings or {}) if ok else {}
        for column in SETTING_COLUMNS:
            value = settings.get(column)
            record[column] = None if value is None else str(value)
        records.append(record)
    row_columns = list(ROW_COLUMNS)
    if is_sweep(plan):
        at = row_columns.index("batch_size") + 1
        row_columns[at:at] = SWEEP_ROW_COLUMNS
    frame = pd.DataFrame.from_records(
        records, columns=[*row_columns, *SUMMARY_COLUMNS, *EXTRA_COLUMNS, *SETTING_COLUMNS])
    if run.converted_from_format_version == 1:
        frame = frame.drop(columns=list(FORMAT_2_ONLY_COLUMNS))
    return _typed(frame, NUMBER_COLUMNS)


def is_sweep(plan: dict) -> bool:
    """Whether a run's ``plan`` swept a size (``plan.sweeps``; absent in older files)."""
    return bool(plan.get("sweeps"))


def identity_columns(frame: pd.DataFrame) -> list[str]:
    """The IDENTITY_COLUMNS that ``frame`` has: a sweep's run has all, others two."""
    return [c for c in IDENTITY_COLUMNS if c in frame.columns]


def _ok_processes(row: Row) -> list[Process]:
    return sorted((p for p in row.processes or [] if p.status == "ok"),
                  key=lambda p: p.index)


def _epochs(process: Process) -> list[float]:
    """A process's timed samples, seconds: its interleaved one-epoch samples (format 3) or
    its steady epochs (format 2, data-parallel rows)."""
    return process.samples_epoch_s or process.steady_epoch_s


def _sample_quartiles(summary: Summary, ok: list[Process]) -> dict:
    """Quartiles of the row's samples: each ok process's median sample, seconds."""
    if summary.get("steady_epoch_s_q1") is not None:  # a converted format-1 file's rounds
        q1, q3 = summary.steady_epoch_s_q1, summary.steady_epoch_s_q3
    elif len(ok) >= 2:
        medians = [statistics.median(_epochs(p)) for p in ok]
        q1, _, q3 = statistics.quantiles(medians, n=4, method="inclusive")
    else:
        return {"steady_epoch_s_q1": None, "steady_epoch_s_q3": None,
                "steady_epoch_s_iqr": None}
    return {"steady_epoch_s_q1": q1, "steady_epoch_s_q3": q3, "steady_epoch_s_iqr": q3 - q1}


def _typed(frame: pd.DataFrame, number_columns) -> pd.DataFrame:
    for column in frame.columns:
        if column in INTEGER_COLUMNS + SWEEP_ROW_COLUMNS or column in PER_PROCESS_INTEGERS:
            frame[column] = frame[column].astype("Int64")
        elif column in BOOLEAN_COLUMNS or column in PER_PROCESS_BOOLEANS:
            frame[column] = frame[column].astype("boolean")
        elif column in number_columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


PER_SEED_COLUMNS = ("row", "process", "seed", "test_accuracy", "test_loss", "final_loss",
                    "time_to_accuracy_s")


def per_seed(run: Run) -> pd.DataFrame:
    """One row per trained seed: row, process (its index), seed, test_accuracy, test_loss,
    final_loss (training loss of the last epoch), time_to_accuracy_s (empty: not reached)."""
    records = [{"row": row.id, "process": p.index, **{
                   k: s.get(k) for k in PER_SEED_COLUMNS[2:]}}
               for row in run.rows for p in _ok_processes(row)
               for s in p.per_seed or []]
    frame = pd.DataFrame.from_records(records, columns=PER_SEED_COLUMNS)
    frame["process"] = frame["process"].astype("Int64")
    frame["seed"] = frame["seed"].astype("Int64")
    return _typed(frame, PER_SEED_COLUMNS[3:])


PER_PROCESS_COLUMNS = ("row", "process", "status", "reason", "us_per_step", "steady_epochs",
                       "first_epoch_s", "cold_cache", "wall_s", "cores_used", "starved",
                       "affinity")
PER_PROCESS_INTEGERS = ("process", "steady_epochs")
PER_PROCESS_BOOLEANS = ("cold_cache", "starved")


def per_process(run: Run) -> pd.DataFrame:
    """One row per worker process: row, process (index), status, reason, us_per_step (the
    process's sample, from the row's summary; empty unless ok), steady_epochs (count),
    first_epoch_s, cold_cache, wall_s, cores_used (CPU time / wall time while training),
    starved, affinity (the CPUs it was pinned to, space-separated; empty: not pinned)."""
    records = []
    for row in run.rows:
        samples = iter((row.summary or Summary()).get("process_us_per_step") or [])
        ok_indexes = {p.index for p in _ok_processes(row)}
        # The summary lists the ok processes' samples in process-index order.
        sample_of = {index: next(samples, None) for index in sorted(ok_indexes)}
        for p in row.processes or []:
            cpu = p.cpu or Cpu()
            affinity = p.get("affinity")
            records.append({
                "row": row.id, "process": p.index, "status": p.status,
                "reason": (p.get("reason") or "").split("\n")[0],
                "us_per_step": sample_of.get(p.index) if p.status == "ok" else None,
                "steady_epochs": len(p.get("samples_epoch_s") or p.get("steady_epoch_s")
                                     or []) or None,
                "first_epoch_s": p.get("first_epoch_s"), "cold_cache": p.get("cold_cache"),
                "wall_s": p.get("wall_s"), "cores_used": cpu.get("cores_used"),
                "starved": cpu.get("starved"),
                "affinity": None if affinity is None else " ".join(str(c) for c in affinity),
            })
    frame = pd.DataFrame.from_records(records, columns=PER_PROCESS_COLUMNS)
    return _typed(frame, ("us_per_step", "first_epoch_s", "wall_s", "cores_used"))


def learning_curves(run: Run) -> pd.DataFrame:
    """Tidy learning curves: row, process, seed, epoch, train_loss, test_loss, test_accuracy,
    elapsed_s, from every ok process."""
    columns = ["row", "process", "seed", "epoch", "train_loss", "test_loss", "test_accuracy",
               "elapsed_s"]
    records = [{"row": row.id, "process": p.index, **{k: point.get(k) for k in columns[2:]}}
               for row in run.rows for p in _ok_processes(row) for point in p.curves or []]
    return pd.DataFrame.from_records(records, columns=columns)


# -- rendering ------------------------------------------------------------------------
# Everything below turns tidy() rows into display strings. Columns of result format 2
# (docs/result_format.md, Summary) are read when present and left out when absent, so that
# the same code renders format-1 fixtures and format-2 runs.

MEASURED_STATUSES = ("ok", "partial")  # rows with numbers; every other row is a note
UNSTABLE_MARK = "†"

CAPTIONS = {
    "Time": "Steady-state training time of one training step, by the estimator in the "
            "column's header. p10: the 10th percentile of one-epoch samples taken by workers "
            "that stay resident and are sampled in rounds interleaved with the other rows "
            "(robust to the time a busy machine adds), with its 95% two-level bootstrap "
            "interval (processes, then samples within them) and the median of the same "
            "samples beside it; median (result files of format 2): the median over processes "
            "of each one's median steady epoch, with a 95% bootstrap interval over processes. "
            "IQR %: the spread over processes (n/a under 3). × torch loop: the ratio to the "
            "course's PyTorch loop at the same device and batch size (1.00 is the same "
            "speed, 2.00 twice as slow): the row's p10 over torch loop's, its interval "
            "resampling the processes (and, where they were sampled together, the rounds) of "
            "both rows at once.",
    "Accuracy": "Test accuracy after the last epoch, mean and SD over the seeds; "
                "to target: median training time until the target accuracy.",
    "Memory": "Peak resident memory while training, above the process after the model "
              "was built; after import: the process once its framework is imported.",
}


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _fmt(value, spec: str) -> str:
    if _missing(value):
        return "–"
    return format(value, spec)


def _mib(value) -> str:
    return _fmt(None if _missing(value) else value / 2**20, ".1f")


def _get(row, column):
    """The value of ``column`` in ``row``, or None where tidy() did not provide it."""
    return row[column] if column in row.index else None


def _interval(low, high, spec: str, alone: str) -> str:
    if _missing(low) or _missing(high):
        return alone
    return f"{format(low, spec)}–{format(high, spec)}"


def _spread_cells(row, frame: pd.DataFrame) -> dict:
    if "spread_iqr_pct" in frame.columns:  # format 2: spread over processes
        processes = _get(row, "processes_ok")
        alone = "n/a (1 process)" if not _missing(processes) and processes == 1 else "n/a"
        value = _get(row, "spread_iqr_pct")
        return {"IQR %": alone if _missing(value) else format(value, ".1f")}
    rounds = _get(row, "steady_rounds")
    if not _missing(rounds) and rounds <= 1:
        return {"IQR s": "n/a (1 round)"}
    return {"IQR s": _fmt(_get(row, "steady_epoch_s_iqr"), ".4f")}


def _sd_cell(row) -> str:
    seeds = _get(row, "n_seeds")
    if not _missing(seeds) and seeds <= 1:
        return "n/a (1 seed)"
    return _fmt(_get(row, "test_accuracy_sd"), ".4f")


def _unstable(row) -> bool:
    value = _get(row, "unstable")
    return not _missing(value) and bool(value)  # bool(pd.NA) raises: test missing first


def _row_label(row) -> str:
    return f"{row['row']} {UNSTABLE_MARK}" if _unstable(row) else str(row["row"])


def main_tables(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The three tables of the report (time, accuracy, memory) as display strings.

    Only measured rows (status ok or partial) are in the tables; ``table_notes`` lists the
    others. A row marked unstable by the suite carries ``UNSTABLE_MARK`` after its name.
    Returns {"Time": DataFrame, "Accuracy": DataFrame, "Memory": DataFrame}, every cell a str.
    """
    has_ci = "us_per_step_ci_low" in frame.columns
    has_ratio_ci = "ratio_ci_low" in frame.columns
    ratio_column = ("ratio_to_torch_loop" if "ratio_to_torch_loop" in frame.columns
                    else "time_ratio_to_torch_loop")
    time_rows, acc_rows, mem_rows = [], [], []
    for _, r in frame[frame["status"].isin(MEASURED_STATUSES)].iterrows():
        key = {"Row": _row_label(r)}
        # The estimator in the header: p10 since format 3, the median before.
        time = key | {f"µs/step ({_get(r, 'estimator')})": _fmt(r["us_per_step"], ".1f")}
        if has_ci:
            time["95% CI µs/step"] = _interval(r["us_per_step_ci_low"], r["us_per_step_ci_high"],
                                               ".1f", "n/a (1 process)")
        if not _missing(_get(r, "us_per_step_median")):
            time["Median µs/step"] = _fmt(r["us_per_step_median"], ".1f")
        time |= {"Epoch s (median)": _fmt(r["steady_epoch_s_median"], ".4f")}
        time |= _spread_cells(r, frame)
        time |= {
            "Samples/s": _fmt(r["samples_per_s"], ".0f"),
            "First epoch s": _fmt(r["first_epoch_s"], ".3f"),
            "× torch loop": _fmt(_get(r, ratio_column), ".2f"),
        }
        if has_ratio_ci:
            time["95% CI ×"] = _interval(r["ratio_ci_low"], r["ratio_ci_high"], ".2f", "n/a")
        time_rows.append(time)
        reached = r["time_to_accuracy_reached_seeds"]
        acc_rows.append(key | {
            "Test accuracy": _fmt(r["test_accuracy_mean"], ".4f"),
            "SD": _sd_cell(r),
            "Bayes": _fmt(r["bayes_accuracy"], ".4f"),
            "Final loss": _fmt(r["final_loss_mean"], ".4f"),
            "To target s": _fmt(r["time_to_accuracy_s_median"], ".2f")
            if not _missing(reached) and reached else "not reached",
        })
        mem_rows.append(key | {
            "Peak RSS MiB": _mib(r["peak_rss_above_baseline_bytes"]),
            "After import MiB": _mib(r["rss_after_import_bytes"]),
            "GPU peak MiB": _mib(r["gpu_peak_bytes"]),
        })
    columns = {"Time": ["Row", "µs/step", "Epoch s (median)", "Samples/s", "First epoch s",
                        "× torch loop"],
               "Accuracy": ["Row", "Test accuracy", "SD", "Bayes", "Final loss", "To target s"],
               "Memory": ["Row", "Peak RSS MiB", "After import MiB", "GPU peak MiB"]}
    return {name: (pd.DataFrame(rows).fillna("") if rows else pd.DataFrame(columns=columns[name]))
            for name, rows in [("Time", time_rows), ("Accuracy", acc_rows),
                               ("Memory", mem_rows)]}


def table_notes(frame: pd.DataFrame) -> list[str]:
    """The lines under each table: rows not measured, one line per status and reason, then
    the unstable rows with the suite's reasons. Plain text (escape it for the output format).
    """
    notes = []
    others = frame[~frame["status"].isin(MEASURED_STATUSES)]
    groups: dict[tuple[str, str], list[str]] = {}
    for _, r in others.iterrows():
        groups.setdefault((str(r["status"]), str(r["reason"] or "")), []).append(str(r["row"]))
    for (status, reason), rows in groups.items():
        count = f"{status}, {len(rows)} row{'s' if len(rows) > 1 else ''}: "
        notes.append(count + ", ".join(rows) + (f". Reason: {reason}" if reason else ""))
    for _, r in frame[frame["status"].isin(MEASURED_STATUSES)].iterrows():
        if _unstable(r):
            reasons = _get(r, "unstable_reasons")
            text = "; ".join(reasons) if isinstance(reasons, list | tuple) else (
                "" if _missing(reasons) else str(reasons))
            notes.append(f"{UNSTABLE_MARK} {r['row']} is unstable" +
                         (f": {text}" if text else "") + " (treat its time with care)")
        if r["status"] == "partial" and r["reason"]:
            notes.append(f"{r['row']} is partial: {r['reason']}")
    return notes


# Terminal escape sequences (ECMA-48: CSI such as the colours of "\x1b[31mboom\x1b[0m", OSC
# such as a hyperlink, and the two-character ones): what a terminal consumes, not text.
_ANSI_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
                            r"|\x1b[@-Z\\-_]")
# Control characters but tab and the line breaks that every output format handles itself:
# C0, DEL and C1 (Unicode category Cc), and lone surrogates, which no encoding can write.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def plain_text(text) -> str:
    """``text`` (any value, as ``str``) with nothing that an output format cannot show:
    terminal escape sequences removed, every other control character (C0 but tab and line
    breaks, DEL, C1) and lone surrogate written as its code point, ``[U+001B]``. Every
    format's escaping (``markdown_escape``, ``latex_escape``, ``html_escape``, the plots'
    labels) starts here, so that a recorded string shows the same in all of them."""
    text = _ANSI_SEQUENCE.sub("", str(text))
    return _UNPRINTABLE.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)


def html_escape(text) -> str:
    """``text`` for HTML text or a quoted attribute: ``plain_text``, then ``&``, ``<``,
    ``>`` and both quotes as character references (``html.escape``)."""
    return html.escape(plain_text(text), quote=True)


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
    """A GitHub-flavoured Markdown table (no extra dependency: pandas's needs tabulate)."""
    header = list(table.columns)
    lines = ["| " + " | ".join(markdown_escape(h) for h in header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    for _, row in table.iterrows():
        cells = [markdown_escape(row[c]) for c in header]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
