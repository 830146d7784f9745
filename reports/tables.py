"""The tidy table of a run (one row per implementation x device x batch size) and its renderings."""

from __future__ import annotations

import math

import pandas as pd

BASELINE_VARIANT = "torch-loop"  # the course's PyTorch loop: every ratio is to this row

SETTING_COLUMNS = ("framework_version", "keras_backend", "backend_version", "compile",
                   "convention", "initial_weights", "adam_epsilon", "adam_epsilon_placement",
                   "loss_clip", "precision", "intra_op_threads", "inter_op_threads",
                   "device_name")
NUMBER_COLUMNS = ("steady_epoch_s_median", "steady_epoch_s_q1", "steady_epoch_s_q3",
                  "steady_epoch_s_iqr", "steady_rounds", "us_per_step", "samples_per_s",
                  "first_epoch_s", "test_accuracy_mean", "test_accuracy_sd", "bayes_accuracy",
                  "target_accuracy", "time_to_accuracy_s_median",
                  "time_to_accuracy_reached_seeds", "final_loss_mean",
                  "peak_rss_above_baseline_bytes", "rss_after_import_bytes", "gpu_peak_bytes",
                  "import_s", "build_s")


def tidy(data: dict) -> pd.DataFrame:
    """One row per implementation x device x batch size, failed and skipped rows included."""
    infos = {b["extra_info"]["row"]: b["extra_info"] for b in data["benchmarks"]
             if "row" in b.get("extra_info", {})}
    records = []
    for row in data["sidebyside"]["rows"]:
        info = infos.get(row["id"], {})
        record = {
            "row": row["id"],
            "variant": f"{row['implementation']}-{row['mode']}",
            "implementation": row["implementation"],
            "mode": row["mode"],
            "device": row["device"],
            "batch_size": row["batch_size"],
            "status": row["status"] if row["status"] != "ok" or info else "missing",
            "reason": (row.get("reason") or "").splitlines()[0] if row.get("reason") else "",
        }
        for column in NUMBER_COLUMNS:
            record[column] = info.get(column)
        settings = info.get("settings", {})
        for column in SETTING_COLUMNS:
            value = settings.get(column)
            record[column] = None if value is None else str(value)
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    for column in NUMBER_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["time_ratio_to_torch_loop"] = _ratio_to_baseline(frame)
    return frame


def _ratio_to_baseline(frame: pd.DataFrame) -> pd.Series:
    base = frame[frame["variant"] == BASELINE_VARIANT].set_index(["device", "batch_size"])[
        "steady_epoch_s_median"]
    keys = list(zip(frame["device"], frame["batch_size"]))
    return pd.Series([frame["steady_epoch_s_median"].iloc[i] / base.get(k, math.nan)
                      for i, k in enumerate(keys)], index=frame.index, dtype="float64")


def learning_curves(data: dict) -> pd.DataFrame:
    """Tidy learning curves: row, seed, epoch, train_loss, test_loss, test_accuracy, elapsed_s."""
    records = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        for point in info.get("learning_curves", []):
            records.append({"row": info["row"], **point})
    return pd.DataFrame.from_records(
        records, columns=["row", "seed", "epoch", "train_loss", "test_loss", "test_accuracy",
                          "elapsed_s"])


# -- rendering ------------------------------------------------------------------------

def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)


def _mib(value) -> str:
    return _fmt(None if value is None or value != value else value / 2**20, ".1f")


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
