"""The golden report files (tests/fixtures/golden/), checked against numbers recomputed here
from the raw format-1 fixture (tests/fixtures/run_old.json) with numpy and the statistics
module, without results.load or tables.tidy: a golden file regenerated with UPDATE_GOLDEN=1
is only trusted as far as these numbers agree with it."""

import json
import math
import statistics

import numpy as np
import pandas as pd
import pytest

from reports.markdown import parse_markdown_table
from tests.report_cases import OLD

GOLDEN = OLD.parent / "golden"
REL = 1e-9  # both sides compute in float64 from the same JSON numbers


def expected_rows() -> dict:
    """Per measured row id: the numbers a report must show, computed from the raw file."""
    raw = json.loads(OLD.read_text())
    rounds_of = {b["extra_info"]["row"]: (b["stats"]["data"], b["extra_info"])
                 for b in raw["benchmarks"] if "row" in b["extra_info"]}
    out = {}
    for row in raw["sidebyside"]["rows"]:
        if row["status"] != "ok":
            continue
        rounds, info = rounds_of[row["id"]]
        median_s = statistics.median(rounds)
        q1, q3 = np.percentile(rounds, [25, 75])  # numpy's default: linear interpolation
        last_epoch = {}
        for point in info["learning_curves"]:
            if point["epoch"] == max(p["epoch"] for p in info["learning_curves"]):
                last_epoch[point["seed"]] = point
        out[row["id"]] = {
            "batch_size": row["batch_size"], "device": row["device"],
            "variant": f"{row['implementation']}-{row['mode']}",
            "us_per_step": median_s / info["steps_per_epoch"] * 1e6,
            "steady_epoch_s_median": median_s,
            "steady_epoch_s_iqr": q3 - q1,
            "steady_rounds": len(rounds),
            "samples_per_s": info["n_train"] / median_s,
            "test_accuracy_mean": statistics.mean(p["test_accuracy"]
                                                  for p in last_epoch.values()),
            "test_accuracy_sd": statistics.stdev(p["test_accuracy"]
                                                 for p in last_epoch.values()),
            "final_loss_mean": statistics.mean(p["train_loss"] for p in last_epoch.values()),
            "peak_rss_above_baseline_bytes": info["peak_rss_above_baseline_bytes"],
        }
    for numbers in out.values():
        base = next(v for v in out.values() if v["variant"] == "torch-loop"
                    and (v["device"], v["batch_size"]) ==
                    (numbers["device"], numbers["batch_size"]))
        numbers["ratio"] = numbers["us_per_step"] / base["us_per_step"]
    return out


@pytest.fixture(scope="module")
def expected():
    numbers = expected_rows()
    assert len(numbers) == 7  # the fixture's measured rows (one of eight failed)
    return numbers


def test_golden_results_csv_holds_the_numbers_of_the_raw_rounds(expected):
    frame = pd.read_csv(GOLDEN / "results.csv").set_index("row")
    raw_rows = json.loads(OLD.read_text())["sidebyside"]["rows"]
    assert list(frame.index) == [r["id"] for r in raw_rows]
    assert frame.loc["keras-torch-fit-cpu-b1024", "status"] == "failed"
    assert pd.isna(frame.loc["keras-torch-fit-cpu-b1024", "us_per_step"])
    for row_id, numbers in expected.items():
        golden = frame.loc[row_id]
        assert golden["status"] == "ok"
        for column in ("us_per_step", "steady_epoch_s_median", "steady_epoch_s_iqr",
                       "samples_per_s", "test_accuracy_mean", "test_accuracy_sd",
                       "final_loss_mean"):
            assert golden[column] == pytest.approx(numbers[column], rel=REL), (row_id, column)
        assert golden["ratio_to_torch_loop"] == pytest.approx(numbers["ratio"], rel=REL)
        assert golden["time_ratio_to_torch_loop"] == golden["ratio_to_torch_loop"]
        assert golden["steady_rounds"] == numbers["steady_rounds"]
        assert golden["peak_rss_above_baseline_bytes"] == \
            numbers["peak_rss_above_baseline_bytes"]
        assert golden["processes_ok"] == 1  # format 1: one process per row


def _markdown_table(name: str) -> list[dict]:
    markdown = (GOLDEN / "report.md").read_text()
    section = markdown.split(f"\n## {name}\n")[1]
    return parse_markdown_table(section.split("\n\n")[1])  # after the caption


# The report's number style, as its docs state it (results/numbers.py, README "Reading the
# report"), written out here again so that the goldens are checked against the rule and not
# against the code that made them: three significant figures but never fewer than the
# integer digits, at most six decimals (three figures down to 0.0001 s), digits grouped by
# threes with a narrow no-break space; accuracies to three decimals; ratios followed by ×.
NNBSP = "\u202f"


def sig3(value: float) -> str:
    places = 0 if value == 0 else min(6, max(0, 2 - math.floor(math.log10(abs(value)))))
    return f"{value:,.{places}f}".replace(",", NNBSP)


def rate3(value: float) -> str:
    """Three significant figures, integer digits too (a rate: 77 181 samples/s is 77 200)."""
    exponent = math.floor(math.log10(abs(value)))
    return f"{round(value, 2 - exponent):,.{max(0, 2 - exponent)}f}".replace(",", NNBSP)


def test_golden_report_md_shows_the_raw_numbers_rounded(expected):
    time = {line["Row"]: line for line in _markdown_table("Time")}
    accuracy = {line["Row"]: line for line in _markdown_table("Accuracy")}
    memory = {line["Row"]: line for line in _markdown_table("Memory")}
    assert set(time) == set(accuracy) == set(memory) == set(expected)
    for row_id, n in expected.items():
        # the headline names its estimator: a format-1 file's is the median
        assert time[row_id]["µs/step (median)"] == sig3(n["us_per_step"])
        assert time[row_id]["Epoch s (median)"] == sig3(n["steady_epoch_s_median"])
        assert time[row_id]["IQR s"] == sig3(n["steady_epoch_s_iqr"])
        assert time[row_id]["Samples/s"] == rate3(n["samples_per_s"])
        assert time[row_id]["× torch loop"] == sig3(n["ratio"]) + "×"
        assert accuracy[row_id]["Test accuracy"] == f"{n['test_accuracy_mean']:.3f}"
        assert accuracy[row_id]["SD"] == f"{n['test_accuracy_sd']:.3f}"
        assert accuracy[row_id]["Final loss"] == sig3(n["final_loss_mean"])
        assert memory[row_id]["Peak RSS MiB"] == sig3(n["peak_rss_above_baseline_bytes"] / 2**20)
    # A format-1 file has one process per row: no interval column is invented for it.
    assert "95% CI" not in (GOLDEN / "report.md").read_text()


def test_golden_report_tex_shows_the_same_rounded_numbers(expected):
    tex = (GOLDEN / "report.tex").read_text()
    for row_id, n in expected.items():
        assert sig3(n["us_per_step"]).replace(NNBSP, r"\,") in tex, row_id
        assert f"{n['test_accuracy_mean']:.3f}" in tex, row_id
