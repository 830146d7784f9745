"""Did a change change the speed, and is the change real? Two runs, row by row.

Per row present in both runs: the ratio NEW/OLD of the median steady-state epoch time,
a 95% confidence interval for it from a percentile bootstrap of the per-round times
(resampling each run's rounds), and a two-sided Mann-Whitney U test on the same
rounds. A row is a significant change only when p < alpha and the interval excludes 1.
"""

from __future__ import annotations

import dataclasses
import statistics

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

TEST_NAME = "two-sided Mann-Whitney U on per-round epoch times"
CI_NAME = "95% percentile bootstrap of the ratio of medians"


@dataclasses.dataclass
class Comparison:
    rows: pd.DataFrame
    only_old: list[str]
    only_new: list[str]
    not_compared: list[str]  # in both, but not measured in one of them
    skipped_in_both: list[str]
    differences: list[str]
    threshold_pct: float
    alpha: float

    @property
    def regressions(self) -> pd.DataFrame:
        return self.rows[self.rows["regression"]]


def _rounds(data: dict) -> dict[str, list[float]]:
    return {b["extra_info"]["row"]: b["stats"]["data"] for b in data["benchmarks"]
            if b.get("extra_info", {}).get("row") and b["stats"].get("data")}


def _status(data: dict) -> dict[str, str]:
    return {r["id"]: r["status"] for r in data["sidebyside"]["rows"]}


def bootstrap_ratio_ci(old, new, n_boot=10_000, seed=0, level=0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of median(new) / median(old)."""
    rng = np.random.default_rng(seed)
    old, new = np.asarray(old, float), np.asarray(new, float)
    old_medians = np.median(rng.choice(old, (n_boot, len(old))), axis=1)
    new_medians = np.median(rng.choice(new, (n_boot, len(new))), axis=1)
    ratios = new_medians / old_medians
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


def compare_runs(old: dict, new: dict, threshold_pct: float = 5.0, alpha: float = 0.05,
                 n_boot: int = 10_000) -> Comparison:
    old_rounds, new_rounds = _rounds(old), _rounds(new)
    old_status, new_status = _status(old), _status(new)
    records = []
    for row in [r for r in old_rounds if r in new_rounds]:
        a, b = old_rounds[row], new_rounds[row]
        ratio = statistics.median(b) / statistics.median(a)
        low, high = bootstrap_ratio_ci(a, b, n_boot=n_boot)
        p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
        significant = p < alpha and (low > 1 or high < 1)
        verdict = ("slower" if ratio > 1 else "faster") if significant else "not significant"
        records.append({
            "row": row, "old_epoch_s": statistics.median(a), "new_epoch_s": statistics.median(b),
            "old_rounds": len(a), "new_rounds": len(b), "ratio": ratio, "ci_low": low,
            "ci_high": high, "p_value": p, "verdict": verdict,
            "regression": bool(significant and ratio > 1 + threshold_pct / 100),
        })
    rows = pd.DataFrame.from_records(records, columns=[
        "row", "old_epoch_s", "new_epoch_s", "old_rounds", "new_rounds", "ratio", "ci_low",
        "ci_high", "p_value", "verdict", "regression"])
    in_both = set(old_status) & set(new_status)
    return Comparison(
        rows=rows,
        only_old=sorted(set(old_status) - set(new_status)),
        only_new=sorted(set(new_status) - set(old_status)),
        not_compared=sorted(f"{r} (old: {old_status[r]}, new: {new_status[r]})"
                            for r in in_both if r not in set(rows["row"])
                            and not old_status[r] == new_status[r] == "skipped"),
        skipped_in_both=sorted(r for r in in_both
                               if old_status[r] == new_status[r] == "skipped"),
        differences=differences(old, new),
        threshold_pct=threshold_pct, alpha=alpha)


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, inner, out)
    else:
        out[prefix] = value


def differences(old: dict, new: dict) -> list[str]:
    """Every environment and configuration value that differs between the two runs."""
    def facts(data):
        out = {}
        sbs = data["sidebyside"]
        _flatten("environment", sbs.get("environment", {}), out)
        _flatten("plan", sbs.get("plan", {}), out)
        cpu = (data.get("machine_info") or {}).get("cpu") or {}
        out["machine.cpu"] = cpu.get("brand_raw")
        out["commit"] = (data.get("commit_info") or {}).get("id")
        for bench in data["benchmarks"]:
            info = bench.get("extra_info", {})
            settings = {k: v for k, v in info.get("settings", {}).items() if k != "data"}
            _flatten(f"{info.get('row')}", settings, out)
        return out

    a, b = facts(old), facts(new)
    return [f"{key}: {a.get(key)!r} → {b.get(key)!r}" for key in sorted(set(a) | set(b))
            if key in a and key in b and a[key] != b[key]]


def to_markdown(comparison: Comparison, old_name: str, new_name: str) -> str:
    from reports.tables import to_markdown as table_markdown

    c = comparison
    lines = [f"# sidebyside comparison: {new_name} against {old_name}", "",
             f"Ratio NEW/OLD of the median steady-state epoch time; {CI_NAME}; p from a "
             f"{TEST_NAME}. Significant: p < {c.alpha:g} and the interval excludes 1. "
             f"Regression: significantly slower by more than {c.threshold_pct:g}%.", ""]
    if len(c.rows):
        shown = pd.DataFrame({
            "Row": c.rows["row"],
            "Old epoch s": c.rows["old_epoch_s"].map(lambda v: f"{v:.4f}"),
            "New epoch s": c.rows["new_epoch_s"].map(lambda v: f"{v:.4f}"),
            "New/old": c.rows["ratio"].map(lambda v: f"{v:.3f}"),
            "95% CI": [f"{lo:.3f} – {hi:.3f}" for lo, hi in zip(c.rows["ci_low"],
                                                               c.rows["ci_high"])],
            "p": c.rows["p_value"].map(lambda v: f"{v:.3g}"),
            "Verdict": [v + (" — REGRESSION" if r else "") for v, r in
                        zip(c.rows["verdict"], c.rows["regression"])],
        })
        lines += [table_markdown(shown), ""]
    else:
        lines += ["No row was measured in both runs.", ""]
    if c.skipped_in_both:
        lines += [f"{len(c.skipped_in_both)} rows were skipped in both runs "
                  f"({', '.join(c.skipped_in_both)}).", ""]
    for title, items in [("Only in the old run", c.only_old), ("Only in the new run", c.only_new),
                         ("In both runs but not measured in both", c.not_compared),
                         ("Environment and configuration differences", c.differences)]:
        if items:
            lines += [f"## {title}", ""] + [f"- {item}" for item in items] + [""]
    return "\n".join(lines)
