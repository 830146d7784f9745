"""The short side-by-side table printed at the end of `pytest --benchmark`."""

from __future__ import annotations

from benchmarks.results import summarize

HEADER = ("row", "us/step", "IQR %", "first epoch s", "test accuracy", "to target s",
          "peak MiB")


def _cells(row, outcome) -> tuple[str, ...]:
    if outcome is None:
        return (row.id, "not run", "", "", "", "", "")
    if outcome.status != "ok":
        return (row.id, outcome.status, "", "", "", "", "")
    s = summarize(outcome.result)
    iqr_pct = 100 * s["steady_epoch_s_iqr"] / s["steady_epoch_s_median"]
    tta = s["time_to_accuracy_s_median"]
    reached = f"{tta:.2f}" if tta is not None else "not reached"
    peak = s["peak_rss_above_baseline_bytes"]
    gpu = s["gpu_peak_bytes"]
    peak_text = f"{peak / 2**20:.1f}" if peak is not None else "?"
    if gpu is not None:
        peak_text += f" (GPU {gpu / 2**20:.1f})"
    return (row.id, f"{s['us_per_step']:.1f}", f"{iqr_pct:.1f}", f"{s['first_epoch_s']:.3f}",
            f"{s['test_accuracy_mean']:.4f} ± {s['test_accuracy_sd']:.4f}", reached, peak_text)


def side_by_side(rows, outcomes) -> list[str]:
    table = [HEADER] + [_cells(row, outcomes.get(row.id)) for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, widths))) for r in table]
    lines.insert(1, "-" * len(lines[0]))
    for row in rows:
        outcome = outcomes.get(row.id)
        if outcome is not None and outcome.status != "ok" and outcome.reason:
            lines.append(f"{row.id} {outcome.status}: {outcome.reason.splitlines()[0]}")
    bayes = next((o.result["bayes_accuracy"] for o in outcomes.values() if o.status == "ok"),
                 None)
    if bayes is not None:
        lines.append(f"(Bayes accuracy of the data: {bayes:.4f}; us/step and IQR from the "
                     "steady-state epochs; peak: resident memory above the built model)")
    return lines
