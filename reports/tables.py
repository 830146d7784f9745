"""The tidy table of a run (one row per implementation x device x batch size) and its renderings."""

from __future__ import annotations

import statistics

import pandas as pd

BASELINE_VARIANT = "torch-loop"  # the course's PyTorch loop: every ratio is to this row

SETTING_COLUMNS = ("framework_version", "keras_backend", "backend_version", "compile",
                   "convention", "initial_weights", "adam_epsilon", "adam_epsilon_placement",
                   "loss_clip", "precision", "intra_op_threads", "inter_op_threads",
                   "device_name")
ROW_COLUMNS = ("row", "variant", "implementation", "mode", "device", "batch_size", "status",
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
                   "ratio_ci_high")
# Columns of format-1 days that the rendering still reads: quartiles of the samples (the
# processes' median steady epochs; a format-1 file's rounds), the number of steady epochs,
# and the ratio under its old name.
EXTRA_COLUMNS = ("steady_epoch_s_q1", "steady_epoch_s_q3", "steady_epoch_s_iqr",
                 "steady_rounds", "time_ratio_to_torch_loop")
INTEGER_COLUMNS = ("batch_size", "processes_ok", "n_seeds", "time_to_accuracy_reached_seeds",
                   "peak_rss_above_baseline_bytes", "rss_after_import_bytes", "gpu_peak_bytes",
                   "steady_rounds")
BOOLEAN_COLUMNS = ("unstable", "first_epoch_cold")
_TEXT_SUMMARY = ("process_us_per_step", "unstable_reasons")
NUMBER_COLUMNS = tuple(c for c in SUMMARY_COLUMNS + EXTRA_COLUMNS
                       if c not in INTEGER_COLUMNS + BOOLEAN_COLUMNS + _TEXT_SUMMARY)


def tidy(data: dict) -> pd.DataFrame:
    """One row per result row (failed and skipped rows included), from a loaded format-2 run.

    Columns: ROW_COLUMNS, then SUMMARY_COLUMNS (empty for rows without a summary;
    `process_us_per_step` as space-separated numbers, `unstable_reasons` joined by "; "),
    EXTRA_COLUMNS, then SETTING_COLUMNS from the row's first ok process (as strings).
    Integer columns are pandas nullable Int64, `unstable`/`first_epoch_cold` nullable boolean,
    so a missing value stays missing instead of turning 29 into 29.0.
    """
    records = []
    for row in data["rows"]:
        summary = row.get("summary") or {}
        record = {
            "row": row["id"],
            "variant": row["variant"],
            "implementation": row["implementation"],
            "mode": row["mode"],
            "device": row["device"],
            "batch_size": row["batch_size"],
            "status": row["status"],
            "reason": row["reason"].splitlines()[0] if row.get("reason") else "",
        }
        for column in SUMMARY_COLUMNS:
            record[column] = summary.get(column)
        record["process_us_per_step"] = " ".join(
            repr(v) for v in summary.get("process_us_per_step") or []) or None
        record["unstable_reasons"] = "; ".join(summary.get("unstable_reasons") or []) or None
        ok = _ok_processes(row)
        record.update(_sample_quartiles(summary, ok))
        record["steady_rounds"] = sum(len(p["steady_epoch_s"]) for p in ok) if ok else None
        record["time_ratio_to_torch_loop"] = summary.get("ratio_to_torch_loop")
        settings = (ok[0].get("settings") or {}) if ok else {}
        for column in SETTING_COLUMNS:
            value = settings.get(column)
            record[column] = None if value is None else str(value)
        records.append(record)
    frame = pd.DataFrame.from_records(
        records, columns=[*ROW_COLUMNS, *SUMMARY_COLUMNS, *EXTRA_COLUMNS, *SETTING_COLUMNS])
    return _typed(frame, NUMBER_COLUMNS)


def _ok_processes(row: dict) -> list[dict]:
    return sorted((p for p in row.get("processes") or [] if p.get("status") == "ok"),
                  key=lambda p: p["index"])


def _sample_quartiles(summary: dict, ok: list[dict]) -> dict:
    """Quartiles of the row's samples: each ok process's median steady epoch, seconds."""
    if summary.get("steady_epoch_s_q1") is not None:  # a converted format-1 file's rounds
        q1, q3 = summary["steady_epoch_s_q1"], summary["steady_epoch_s_q3"]
    elif len(ok) >= 2:
        medians = [statistics.median(p["steady_epoch_s"]) for p in ok]
        q1, _, q3 = statistics.quantiles(medians, n=4, method="inclusive")
    else:
        return {"steady_epoch_s_q1": None, "steady_epoch_s_q3": None,
                "steady_epoch_s_iqr": None}
    return {"steady_epoch_s_q1": q1, "steady_epoch_s_q3": q3, "steady_epoch_s_iqr": q3 - q1}


def _typed(frame: pd.DataFrame, number_columns) -> pd.DataFrame:
    for column in frame.columns:
        if column in INTEGER_COLUMNS or column in PER_PROCESS_INTEGERS:
            frame[column] = frame[column].astype("Int64")
        elif column in BOOLEAN_COLUMNS or column in PER_PROCESS_BOOLEANS:
            frame[column] = frame[column].astype("boolean")
        elif column in number_columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


PER_SEED_COLUMNS = ("row", "process", "seed", "test_accuracy", "test_loss", "final_loss",
                    "time_to_accuracy_s")


def per_seed(data: dict) -> pd.DataFrame:
    """One row per trained seed: row, process (its index), seed, test_accuracy, test_loss,
    final_loss (training loss of the last epoch), time_to_accuracy_s (empty: not reached)."""
    records = [{"row": row["id"], "process": p["index"], **{
                   k: s.get(k) for k in PER_SEED_COLUMNS[2:]}}
               for row in data["rows"] for p in _ok_processes(row)
               for s in p.get("per_seed") or []]
    frame = pd.DataFrame.from_records(records, columns=PER_SEED_COLUMNS)
    frame["process"] = frame["process"].astype("Int64")
    frame["seed"] = frame["seed"].astype("Int64")
    return _typed(frame, PER_SEED_COLUMNS[3:])


PER_PROCESS_COLUMNS = ("row", "process", "status", "reason", "us_per_step", "steady_epochs",
                       "first_epoch_s", "cold_cache", "wall_s", "cores_used", "starved",
                       "affinity")
PER_PROCESS_INTEGERS = ("process", "steady_epochs")
PER_PROCESS_BOOLEANS = ("cold_cache", "starved")


def per_process(data: dict) -> pd.DataFrame:
    """One row per worker process: row, process (index), status, reason, us_per_step (the
    process's sample, from the row's summary; empty unless ok), steady_epochs (count),
    first_epoch_s, cold_cache, wall_s, cores_used (CPU time / wall time while training),
    starved, affinity (the CPUs it was pinned to, space-separated; empty: not pinned)."""
    records = []
    for row in data["rows"]:
        samples = iter((row.get("summary") or {}).get("process_us_per_step") or [])
        ok_indexes = {p["index"] for p in _ok_processes(row)}
        # The summary lists the ok processes' samples in process-index order.
        sample_of = {index: next(samples, None) for index in sorted(ok_indexes)}
        for p in row.get("processes") or []:
            cpu = p.get("cpu") or {}
            affinity = p.get("affinity")
            records.append({
                "row": row["id"], "process": p["index"], "status": p["status"],
                "reason": (p.get("reason") or "").split("\n")[0],
                "us_per_step": sample_of.get(p["index"]) if p["status"] == "ok" else None,
                "steady_epochs": len(p.get("steady_epoch_s") or []) or None,
                "first_epoch_s": p.get("first_epoch_s"), "cold_cache": p.get("cold_cache"),
                "wall_s": p.get("wall_s"), "cores_used": cpu.get("cores_used"),
                "starved": cpu.get("starved"),
                "affinity": None if affinity is None else " ".join(str(c) for c in affinity),
            })
    frame = pd.DataFrame.from_records(records, columns=PER_PROCESS_COLUMNS)
    return _typed(frame, ("us_per_step", "first_epoch_s", "wall_s", "cores_used"))


def learning_curves(data: dict) -> pd.DataFrame:
    """Tidy learning curves: row, process, seed, epoch, train_loss, test_loss, test_accuracy,
    elapsed_s, from every ok process."""
    columns = ["row", "process", "seed", "epoch", "train_loss", "test_loss", "test_accuracy",
               "elapsed_s"]
    records = [{"row": row["id"], "process": p["index"], **{k: point.get(k) for k in columns[2:]}}
               for row in data["rows"] for p in _ok_processes(row)
               for point in p.get("curves") or []]
    return pd.DataFrame.from_records(records, columns=columns)


# -- rendering ------------------------------------------------------------------------

def _fmt(value, spec: str) -> str:
    if value is None or pd.isna(value):  # None, NaN and pandas's NA (nullable Int64)
        return "–"
    return format(value, spec)


def _mib(value) -> str:
    return _fmt(None if value is None or pd.isna(value) else value / 2**20, ".1f")


def _status_cell(row) -> str | None:
    if row["status"] == "ok":
        return None
    return f"{row['status']}: {row['reason']}" if row["reason"] else row["status"]


def main_tables(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The three tables of the report (time, accuracy, memory), as display strings."""
    time_rows, acc_rows, mem_rows = [], [], []
    for _, r in frame.iterrows():
        status = _status_cell(r)
        key = {"Row": r["row"]}
        if status:
            time_rows.append(key | {"µs/step": status})
            acc_rows.append(key | {"Test accuracy": status})
            mem_rows.append(key | {"Peak RSS MiB": status})
            continue
        time_rows.append(key | {
            "µs/step": _fmt(r["us_per_step"], ".1f"),
            "Epoch s (median)": _fmt(r["steady_epoch_s_median"], ".4f"),
            "IQR s": _fmt(r["steady_epoch_s_iqr"], ".4f"),
            "Samples/s": _fmt(r["samples_per_s"], ".0f"),
            "First epoch s": _fmt(r["first_epoch_s"], ".3f"),
            "× torch loop": _fmt(r["time_ratio_to_torch_loop"], ".2f"),
        })
        acc_rows.append(key | {
            "Test accuracy": _fmt(r["test_accuracy_mean"], ".4f"),
            "SD": _fmt(r["test_accuracy_sd"], ".4f"),
            "Bayes": _fmt(r["bayes_accuracy"], ".4f"),
            "Final loss": _fmt(r["final_loss_mean"], ".4f"),
            "To target s": _fmt(r["time_to_accuracy_s_median"], ".2f")
            if r["time_to_accuracy_reached_seeds"] else "not reached",
        })
        mem_rows.append(key | {
            "Peak RSS MiB": _mib(r["peak_rss_above_baseline_bytes"]),
            "After import MiB": _mib(r["rss_after_import_bytes"]),
            "GPU peak MiB": _mib(r["gpu_peak_bytes"]),
        })
    return {name: pd.DataFrame(rows).fillna("") for name, rows in
            [("Time", time_rows), ("Accuracy", acc_rows), ("Memory", mem_rows)]}


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency: pandas's needs tabulate)."""
    header = list(table.columns)
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    for _, row in table.iterrows():
        cells = [str(row[c]).replace("|", "\\|") for c in header]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "µ": r"$\mu$", "×": r"$\times$", "–": "--",
                  "·": r"$\cdot$", "±": r"$\pm$", "→": r"$\to$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(table: pd.DataFrame, caption: str) -> str:
    """A booktabs tabular in a table float (needs \\usepackage{booktabs})."""
    columns = "l" + "r" * (len(table.columns) - 1)
    lines = [r"\begin{table}[ht]", r"\centering", rf"\begin{{tabular}}{{{columns}}}",
             r"\toprule", " & ".join(latex_escape(c) for c in table.columns) + r" \\",
             r"\midrule"]
    for _, row in table.iterrows():
        lines.append(" & ".join(latex_escape(row[c]) for c in table.columns) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{latex_escape(caption)}}}",
              r"\end{table}"]
    return "\n".join(lines)


def parse_markdown_table(text: str) -> list[dict]:
    """Read back a table written by ``to_markdown`` (for tests and for users' scripts)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    split = lambda line: [c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")]
    header = split(lines[0])
    return [dict(zip(header, split(line))) for line in lines[2:]]
