"""The instructions metric in the reports and in `compare` (reports/instructions.py), on the
format-2 fixtures with cost records planted in them."""

import json

import pandas as pd
import pytest

from reports import instructions
from reports.build import build_report
from reports.cli import main as reports_main
from reports.compare import compare_runs
from reports.compare_markdown import to_markdown
from results.load import UnreadableResult, load_results, load_run
from results.model import Row
from tests import format2

CATEGORIES = {"interpreter": 0.4, "framework runtime": 0.4, "math kernels": 0.05,
              "JIT-compiled": 0.05, "system": 0.1}


def planted_cost(per_step: list[float], tolerance_pct: float = 0.5, status: str = "ok") -> dict:
    """A row's Cost record whose processes counted ``per_step`` instructions per step."""
    median = sorted(per_step)[len(per_step) // 2]
    spread = (max(per_step) - min(per_step)) / median * 100 if len(per_step) > 1 else None
    processes = [{"index": i, "status": "ok", "reason": "", "wall_s": 30.0, "steps": 50,
                  "samples": 1600, "instructions": int(v * 50), "instructions_per_step": v,
                  "by_category": {k: f * v * 50 for k, f in CATEGORIES.items()},
                  "by_object": {"libpython3.11.so.1.0": 0.4 * v * 50}}
                 for i, v in enumerate(per_step)]
    return {"metric": "instructions", "status": status, "reason": "", "tool": "valgrind-3.19.0",
            "fixed": {"threads": 1}, "counted_steps": 50, "processes": processes,
            "instructions_per_step": median, "process_instructions_per_step": per_step,
            "spread_pct": spread, "tolerance_pct": max(tolerance_pct, spread or 0.0),
            "by_category_per_step": {k: f * median for k, f in CATEGORIES.items()}}


NOT_APPLICABLE = {"metric": "instructions", "status": "not applicable",
                  "reason": "the instructions metric does not apply on cuda: callgrind counts "
                            "CPU instructions, not the GPU's work", "processes": []}


@pytest.fixture
def runs(tmp_path):
    """(old, new) result files: numpy-loop b32 does 2% more work per step in the new run,
    torch-loop b32 the same; keras-jax-fit b32 counted in the old run only."""
    old_path = format2.FIXTURES / "run2_old.json"
    new_path = format2.FIXTURES / "run2_new.json"
    if not old_path.exists():
        pytest.skip("run2_old.json not made yet: python tests/fixtures/make_fixtures.py")
    paths = []
    for name, source, numpy_per_step in (("old", old_path, 640_000.0),
                                         ("new", new_path, 640_000.0 * 1.02)):
        data = json.loads(source.read_text())
        data["plan"]["metric"] = "instructions"
        for row in data["rows"]:
            if row["id"] == "torch-loop-cpu-b32":
                row["cost"] = planted_cost([1_576_000.0, 1_577_000.0])
            elif row["id"] == "numpy-loop-cpu-b32":
                row["cost"] = planted_cost([numpy_per_step])
            elif row["id"] == "keras-jax-fit-cpu-b32" and name == "old":
                row["cost"] = planted_cost([1_242_000.0], tolerance_pct=4.0)
            elif row["id"] == "keras-jax-fit-cpu-b1024":
                row["cost"] = NOT_APPLICABLE
        data["cost_wall_s"] = 420.0
        path = tmp_path / name / "results.json"
        path.parent.mkdir()
        path.write_text(json.dumps(data))
        paths.append(path)
    return paths


def test_compare_decides_on_the_cost_where_both_runs_counted_the_row(runs):
    old, new = (load_run(p) for p in runs)
    rows = compare_runs(old, new).rows.set_index("row")
    numpy_row = rows.loc["numpy-loop-cpu-b32"]
    assert numpy_row["metric"] == "instructions"
    assert numpy_row["verdict"] == "slower"
    assert numpy_row["ratio"] == pytest.approx(1.02)
    assert numpy_row["tolerance_pct"] == 0.5
    assert "tolerance ±0.5%" in numpy_row["note"]
    torch_row = rows.loc["torch-loop-cpu-b32"]
    assert torch_row["metric"] == "instructions" and torch_row["verdict"] == "same"
    # The spread between the two processes is the tolerance's floor where it is wider.
    assert torch_row["ci_low"] == pytest.approx(1_576_000 / 1_577_000)
    # Counted in one run only: judged on time, as every row without both counts.
    assert rows.loc["keras-jax-fit-cpu-b32", "metric"] == "time"
    assert rows.loc["keras-jax-fit-cpu-b32", "time_ratio"] == rows.loc["keras-jax-fit-cpu-b32",
                                                                       "ratio"]


def test_the_cost_verdict_follows_the_stated_rule():
    def row(values, tolerance=0.5):
        return Row.from_dict({"cost": planted_cost(values, tolerance)})

    assert instructions.compare_cost(row([100.0]), row([100.4]))["verdict"] == "same"
    assert instructions.compare_cost(row([100.0]), row([100.6]))["verdict"] == "slower"
    assert instructions.compare_cost(row([100.0]), row([99.0]))["verdict"] == "faster"
    # Processes that disagree by more than the change: the range straddles the band.
    wide = instructions.compare_cost(row([100.0, 100.1]), row([100.0, 103.0], 0.0))
    assert wide["tolerance_pct"] == pytest.approx(300 / 103)  # the new run's spread
    assert wide["verdict"] == "inconclusive"
    assert instructions.compare_cost(row([100.0]), Row.from_dict({"cost": NOT_APPLICABLE})) is None
    unrepeatable = Row.from_dict({"cost": planted_cost([100.0]) | {"tolerance_pct": None}})
    assert instructions.compare_cost(row([100.0]), unrepeatable) is None  # judged on time


def test_compare_csv_adds_metric_and_keeps_its_columns(runs, tmp_path, capsys):
    csv = tmp_path / "cmp.csv"
    assert reports_main(["compare", str(runs[0]), str(runs[1]), "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(csv)
    assert {"row", "ratio", "ci_low", "ci_high", "verdict", "metric"} <= set(table.columns)
    assert set(table["metric"]) == {"time", "instructions"}
    assert table.set_index("row").loc["numpy-loop-cpu-b32", "verdict"] == "slower"
    assert instructions.RULE in out
    assert "Old instr/step" in out and "Time new/old" in out


def test_a_row_decided_on_its_count_is_not_short_of_processes_for_a_test(runs):
    for path in runs:  # one timed process a side: too few for the time's test
        data = json.loads(path.read_text())
        row = next(r for r in data["rows"] if r["id"] == "numpy-loop-cpu-b32")
        row["summary"]["process_us_per_step"] = row["summary"]["process_us_per_step"][:1]
        row["summary"]["processes_ok"] = 1
        path.write_text(json.dumps(data))
    comparison = compare_runs(*(load_run(p) for p in runs))
    assert comparison.rows.set_index("row").loc["numpy-loop-cpu-b32", "verdict"] == "slower"
    assert "numpy-loop-cpu-b32" not in comparison.too_few


def test_markdown_without_counts_is_unchanged(runs):
    old = load_run(format2.FIXTURES / "run2_old.json")
    new = load_run(format2.FIXTURES / "run2_new.json")
    text = to_markdown(compare_runs(old, new), "old", "new")
    assert "instr/step" not in text and instructions.RULE not in text


def test_the_report_shows_the_cost_beside_the_time_and_where_it_goes(runs, tmp_path):
    folder = build_report(runs[1], tmp_path / "report")
    text = (folder / "report.md").read_text()
    assert f"## {instructions.TITLE}" in text
    assert "The cost processes took 7.0 minutes of wall time." in text
    assert ("| numpy-loop-cpu-b32 | 652\u202f800 | — | 0.414× | 135 | 40% | 40% | 5% | 5% | 10% |"
            in text)
    assert "| JIT-compiled |" in text
    cost = pd.read_csv(folder / "cost.csv").set_index("row")
    assert cost.loc["numpy-loop-cpu-b32", "instructions_per_step"] == 652_800
    assert cost.loc["numpy-loop-cpu-b32", "interpreter_per_step"] == pytest.approx(0.4 * 652_800)
    assert cost.loc["torch-loop-cpu-b32", "spread_pct"] == pytest.approx(100 / 1577)
    assert cost.loc["numpy-loop-cpu-b32", "ratio_to_torch_loop"] == pytest.approx(
        652_800 / 1_577_000)
    assert cost.loc["numpy-loop-cpu-b32", "us_per_step"] > 0
    assert cost.loc["keras-jax-fit-cpu-b1024", "status"] == "not applicable"
    assert "not applicable: the instructions metric does not apply on cuda" in text
    assert (folder / "instructions_per_step.png").stat().st_size > 10_000
    assert "instructions_per_step.png" in (folder / "report.tex").read_text()
    assert instructions.TITLE in (folder / "report.html").read_text()


def test_a_damaged_cost_record_is_refused_naming_its_field(runs):
    data = json.loads(runs[0].read_text())
    row = next(i for i, r in enumerate(data["rows"]) if r["id"] == "numpy-loop-cpu-b32")
    data["rows"][row]["cost"]["status"] = "fine"
    runs[0].write_text(json.dumps(data))
    with pytest.raises(UnreadableResult, match=rf"rows\[{row}\]\.cost\.status"):
        load_results(runs[0])


def test_the_terminal_cost_table_has_the_reports_cells(runs):
    """The end of `pytest --benchmark --metric instructions` and the report lay out the
    same lines of results.cost_table: every cell of the report's table is in the terminal's."""
    from benchmarks.table import cost_lines
    from results.model import Run

    data = json.loads(runs[1].read_text())
    terminal = cost_lines(Run.from_dict(data))
    assert terminal[:2] == ["", instructions.TITLE]
    report = instructions.table(Run.from_dict(data))
    assert len(terminal) == 4 + len(report)
    for line, (_, cells) in zip(terminal[4:], report.iterrows()):
        assert line == "| " + " | ".join(cells) + " |"
    assert ("| numpy-loop-cpu-b32 | 652\u202f800 | — | 0.414× | 135 | 40% | 40% | 5% | 5% | 10% |"
            in terminal)
    assert cost_lines(Run.from_dict(json.loads(format2.FIXTURES.joinpath(
        "run2_old.json").read_text()))) == []  # no cost record: no table
