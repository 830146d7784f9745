"""`compare` on rows sampled by resident workers (format 3): p10 ratios, the machine factor,
the two-level interval and the printed rule, on planted runs whose answers are known."""

import copy

import numpy as np
import pandas as pd
import pytest

from reports.compare import compare_runs
from reports.compare_markdown import to_markdown
from reports.compare_rule import robust_verdict
from tests import format2, format3
from tests.report_cases import as_run

VARIANTS = ("torch-loop", "keras-tensorflow-fit", "keras-tensorflow-fit-spe", "keras-jax-fit",
            "keras-jax-fit-spe", "keras-torch-fit", "jax-scan", "numpy-loop")
SLOWED = "keras-jax-fit-cpu-b1024"


def sixteen_rows(seed, processes=3, rounds=20, machine=1.0, change=None, **noise):
    """The default plan's 16 rows, each with its own base time; ``machine`` scales every row
    (a slower machine), ``change`` {row id: factor} one row (a slower implementation)."""
    rng = np.random.default_rng(seed)
    rows = []
    for batch in (32, 1024):
        for i, variant in enumerate(VARIANTS):
            row_id = f"{variant}-cpu-b{batch}"
            base = 100.0 * (i + 1) * (1 + batch / 1024) * machine * (change or {}).get(row_id, 1)
            rows.append(format3.row(variant, [format3.noisy_samples(rng, base, rounds, **noise)
                                              for _ in range(processes)], batch_size=batch))
    return format3.run(rows)


def test_a_planted_30_percent_slowdown_is_slower_and_no_other_row_changed():
    old = sixteen_rows(1)
    new = sixteen_rows(2, change={SLOWED: 1.3})
    c = compare_runs(as_run(old), as_run(new))
    rows = c.rows.set_index("row")
    assert rows.loc[SLOWED, "verdict"] == "slower" and rows.loc[SLOWED, "regression"]
    assert rows.loc[SLOWED, "ratio"] == pytest.approx(1.3, rel=0.05)
    assert set(rows.drop(SLOWED)["verdict"]) <= {"same", "inconclusive"}
    assert (rows["estimator"] == "p10").all() and c.robust_rows == 16
    faster = compare_runs(as_run(new), as_run(old)).rows.set_index("row").loc[SLOWED]
    assert faster["verdict"] == "faster"


def test_a_uniformly_slower_machine_is_the_machine_factor_not_sixteen_verdicts():
    old = sixteen_rows(3)
    new = sixteen_rows(4, machine=1.15, change={SLOWED: 1.3})
    c = compare_runs(as_run(old), as_run(new))
    assert c.machine_factor == pytest.approx(1.15, rel=0.03)
    rows = c.rows.set_index("row")
    assert rows.loc[SLOWED, "verdict"] == "slower"
    assert rows.loc[SLOWED, "raw_ratio"] == pytest.approx(1.3 * 1.15, rel=0.05)
    assert rows.loc[SLOWED, "ratio"] == pytest.approx(1.3, rel=0.05)
    assert "slower" not in set(rows.drop(SLOWED)["verdict"])
    assert "faster" not in set(rows["verdict"])


def test_a_a_runs_call_no_row_slower_or_faster():
    alarms = 0
    for seed in range(6):
        c = compare_runs(as_run(sixteen_rows(10 + seed)), as_run(sixteen_rows(20 + seed)))
        alarms += int(c.rows["verdict"].isin(["slower", "faster"]).sum())
        assert (c.rows["verdict"] == "same").sum() >= 12  # the data decide
    assert alarms <= 2  # of 96 rows; the family-wise level is 5% per comparison


def test_few_rows_are_not_normalised_and_the_rule_says_so():
    rng = np.random.default_rng(5)
    old = format3.run([format3.row("numpy-loop", [format3.noisy_samples(rng, 100, 20)] * 3)])
    new = format3.run([format3.row("numpy-loop", [format3.noisy_samples(rng, 150, 20)] * 3)])
    c = compare_runs(as_run(old), as_run(new))
    assert c.machine_factor is None
    assert c.rows.iloc[0]["verdict"] == "slower"
    assert "not normalised (a machine factor needs at least 4 rows)" in to_markdown(c, "a", "b")


def test_the_rule_is_printed_under_the_table():
    c = compare_runs(as_run(sixteen_rows(6)), as_run(sixteen_rows(7, change={SLOWED: 1.3})))
    text = to_markdown(c, "old", "new")
    table_end = text.index("| numpy-loop-cpu-b1024 |")
    rule = text.index("Rule (p10 rows)")
    assert rule > table_end
    assert "machine factor" in text[rule:] and "Bonferroni" in text[rule:]
    assert "inconclusive if it holds 1 and reaches beyond that band" in text


def test_the_verdict_rule_on_intervals():
    assert robust_verdict(0.97, 1.04, 5.0) == "same"
    assert robust_verdict(1.02, 1.08, 5.0) == "slower"  # above 1, beyond the band
    assert robust_verdict(0.90, 0.98, 5.0) == "faster"
    assert robust_verdict(0.98, 1.10, 5.0) == "inconclusive"  # holds 1, reaches beyond
    assert robust_verdict(float("nan"), float("nan"), 5.0) == "inconclusive"


def test_a_format_2_run_against_a_format_3_run_uses_format_2s_method():
    rng = np.random.default_rng(8)
    old = format2.run([format2.row("numpy-loop", [100, 101, 99])])
    new = format3.run([format3.row("numpy-loop", [format3.noisy_samples(rng, 100, 20)] * 3)])
    row = compare_runs(as_run(old), as_run(new)).rows.iloc[0]
    assert row["estimator"] == "median" and not np.isnan(row["p_value"])


def test_the_csv_keeps_its_columns_and_says_the_estimator(tmp_path):
    from reports.cli import main as reports_main

    old = format2.write(tmp_path / "old.json", sixteen_rows(9))
    new = format2.write(tmp_path / "new.json", sixteen_rows(11, change={SLOWED: 1.3}))
    out = tmp_path / "c.csv"
    assert reports_main(["compare", str(old), str(new), "--csv", str(out)]) == 0
    import pandas as pd

    table = pd.read_csv(out).set_index("row")
    assert {"ratio", "ci_low", "ci_high", "verdict", "estimator", "raw_ratio"} <= set(
        table.columns)
    assert table.loc[SLOWED, "verdict"] == "slower"


def test_a_real_format_3_run_against_itself_and_against_a_planted_slowdown():
    from results.load import load_results

    old = load_results(format2.FIXTURES / "run3.json")
    # Measured at load average 10 on 2 cores: most rows' intervals are wide, so a run against
    # itself (resampled independently, as two runs are) is same or inconclusive, never more.
    same = compare_runs(as_run(old), as_run(old))
    assert same.machine_factor == 1.0
    assert set(same.rows["verdict"]) <= {"same", "inconclusive"}
    new = copy.deepcopy(old)
    for row in new["rows"]:
        if row["id"] == "numpy-loop-cpu-b1024":
            for process in row["processes"]:
                process["samples_epoch_s"] = [1.3 * s for s in process["samples_epoch_s"]]
    rows = compare_runs(as_run(old), as_run(new)).rows.set_index("row")
    assert rows.loc["numpy-loop-cpu-b1024", "verdict"] == "slower"
    assert rows.loc["numpy-loop-cpu-b1024", "ratio"] == pytest.approx(1.3)
    assert set(rows.drop("numpy-loop-cpu-b1024")["verdict"]) <= {"same", "inconclusive"}


def test_a_real_format_3_run_builds_a_report_that_names_its_estimator(tmp_path):
    from reports.build import build_report

    out = build_report(format2.FIXTURES / "run3.json", tmp_path / "report")
    markdown = (out / "report.md").read_text()
    assert "| Row | µs/step (p10) | 95% CI µs/step | Median µs/step |" in markdown
    assert "sampling: 3 processes × 15 interleaved one-epoch samples a row, p10" in markdown
    assert "peak resident memory: 5.29 GiB, all processes together" in markdown


@pytest.mark.parametrize("processes, called", [(1, False), (3, True)])
def test_a_planted_slowdown_is_called_slower_only_with_processes_to_tell_it_apart(
        processes, called):
    # One process per row (the quick preset): the interval would hold only that process's
    # samples, so the difference between processes is not in it and a verdict would claim
    # more than was measured; with three the same planted 1.3x is slower.
    old = sixteen_rows(1, processes=processes)
    new = sixteen_rows(2, processes=processes, change={SLOWED: 1.3})
    for a, b, direction in ((old, new, "slower"), (new, old, "faster")):
        rows = compare_runs(as_run(a), as_run(b)).rows.set_index("row")
        if called:
            assert rows.loc[SLOWED, "verdict"] == direction
        else:
            assert set(rows["verdict"]) == {"too few processes"}
            assert not rows["regression"].any()
            assert rows["ci_low"].isna().all() and rows["ci_high"].isna().all()
            assert rows.loc[SLOWED, "ratio"] == pytest.approx(1.3 if a is old else 1 / 1.3,
                                                              rel=0.05)


def test_a_row_with_one_process_in_one_run_gets_no_verdict_and_the_reason_once(tmp_path):
    from benchmarks.options import PRESETS
    from reports.cli import main as reports_main

    old = sixteen_rows(3)
    new = sixteen_rows(4, change={SLOWED: 1.3})
    one = [r for r in new["rows"] if r["id"] in (SLOWED, "numpy-loop-cpu-b32")]
    for row in one:
        row["processes"] = row["processes"][:1]
    format3.summarize_all(new["rows"])
    old_path = format2.write(tmp_path / "old.json", old)
    new_path = format2.write(tmp_path / "new.json", new)
    csv, md = tmp_path / "c.csv", tmp_path / "c.md"
    assert reports_main(["compare", str(old_path), str(new_path), "--csv", str(csv),
                         "--markdown", str(md), "--fail-above", "5"]) == 0  # no regression
    table = pd.read_csv(csv).set_index("row")
    assert table.loc[[SLOWED, "numpy-loop-cpu-b32"], "verdict"].tolist() == [
        "too few processes"] * 2
    assert "too few processes" not in set(table.drop([SLOWED, "numpy-loop-cpu-b32"])["verdict"])
    c = compare_runs(as_run(old), as_run(new))
    reason = (f"2 rows had fewer than 2 processes in a run (verdict \"too few processes\"): "
              "the difference between processes is not measured, so no verdict and no "
              f"interval; run with --processes 2 or more (the default preset runs "
              f"{PRESETS['default']['processes']}).")
    for text in (to_markdown(c, "old", "new", plain=True), md.read_text()):
        assert text.count("the difference between processes is not measured") == 1
        assert "2 too few processes." in text
    assert reason in to_markdown(c, "old", "new", plain=True)


def test_a_column_with_nothing_in_it_is_left_out_of_the_table_but_not_the_csv(tmp_path):
    from reports.cli import main as reports_main
    from reports.markdown import parse_markdown_table

    old = format2.write(tmp_path / "old.json", sixteen_rows(6))
    new = format2.write(tmp_path / "new.json", sixteen_rows(7, change={SLOWED: 1.3}))
    csv, md = tmp_path / "c.csv", tmp_path / "c.md"
    assert reports_main(["compare", str(old), str(new), "--csv", str(csv), "--markdown",
                         str(md)]) == 0
    text = md.read_text()
    header = text[text.index("| Row |"):]
    shown = parse_markdown_table(header[:header.index("\n\n")])
    # p10 rows have no p value, and no row here has a note or an instability
    assert not {"p (Holm)", "Note", "Unstable"} & set(shown[0])
    assert {"Row", "New/old", "Interval", "Verdict"} <= set(shown[0])
    assert {"p_value", "p_holm", "note", "unstable"} <= set(pd.read_csv(csv).columns)


def test_a_run_compared_with_itself_is_refused_in_one_sentence(tmp_path, capsys):
    from reports.cli import main as reports_main

    data = sixteen_rows(8)
    data["run_id"] = "0" * 32
    path = format2.write(tmp_path / "run.json", data)
    copy_path = format2.write(tmp_path / "copy.json", data)
    for args, said in (([path, path], "the same result file"),
                       ([path, tmp_path / "." / "run.json"], "the same result file"),
                       ([path, copy_path], "copies of one run (run_id " + "0" * 32)):
        assert reports_main(["compare", *map(str, args)]) == 2
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1
    other = dict(data, run_id="1" * 32)
    assert reports_main(["compare", str(path),
                         str(format2.write(tmp_path / "other.json", other))]) == 0


def quick_pair(processes=1):
    """Two runs as two `--preset quick` runs make them (one process a row), a planted 1.3x
    slowdown in SLOWED and the first three rows unstable in the new run."""
    old = sixteen_rows(1, processes=processes)
    new = sixteen_rows(2, processes=processes, change={SLOWED: 1.3})
    for row in new["rows"][:3]:
        row["summary"]["unstable"] = True
    return old, new


def test_one_process_runs_print_no_rule_that_judged_no_row_and_keep_the_reason():
    c = compare_runs(*map(as_run, quick_pair()))
    assert set(c.rows["verdict"]) == {"too few processes"} and not c.judged.any()
    for text in (to_markdown(c, "old", "new", plain=True), to_markdown(c, "old", "new")):
        assert "Rule (" not in text and "decides" not in text
        assert "REGRESSION" not in text and "the rule that gives the verdicts" not in text
        assert "16 rows had fewer than 2 processes in a run" in text
        assert "16 too few processes." in text


def test_unstable_rows_are_pointed_at_intervals_only_where_the_table_has_them():
    one = to_markdown(compare_runs(*map(as_run, quick_pair())), "old", "new", plain=True)
    assert "3 rows were unstable in a run" in one and "Interval" not in one
    said = next(line for line in one.splitlines() if "unstable in a run" in line)
    assert said.endswith("starved workers).")  # no interval to point at
    three = to_markdown(compare_runs(*map(as_run, quick_pair(processes=3))), "old", "new",
                        plain=True)
    assert "3 rows were unstable in a run" in three and "Interval" in three
    assert "starved workers); their intervals above carry that." in three
    # one unstable row with an interval, one without: each is said as it is
    old, new = quick_pair(processes=3)
    new["rows"][0]["processes"] = new["rows"][0]["processes"][:1]
    format3.summarize_all(new["rows"])
    for row in new["rows"][:2]:
        row["summary"]["unstable"] = True
    mixed = to_markdown(compare_runs(as_run(old), as_run(new)), "old", "new", plain=True)
    assert "2 rows were unstable in a run" in mixed
    assert "starved workers); the intervals above carry that where a row has one." in mixed


def test_fail_above_fails_when_no_row_could_be_judged(tmp_path, capsys):
    from reports.cli import main as reports_main

    old, new = (format2.write(tmp_path / f"{side}.json", data)
                for side, data in zip(("old", "new"), quick_pair()))
    assert reports_main(["compare", str(old), str(new)]) == 0  # no gate: a report, as before
    capsys.readouterr()
    assert reports_main(["compare", str(old), str(new), "--fail-above", "5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(
        ": no row could be judged: every row had fewer than 2 processes in a run; compare "
        "runs made with --processes 2 or more")


def test_fail_above_with_no_slower_faster_or_same_row_says_what_the_rows_had():
    from reports.compare import gate_failure

    c = compare_runs(*map(as_run, quick_pair()))
    # one row as a run of three processes would leave it: inconclusive, judged by the rule
    c.rows.loc[0, ["old_processes", "new_processes", "verdict"]] = [3, 3, "inconclusive"]
    assert gate_failure(c, 5) == (
        "no row could be judged: no row got a slower, faster or same verdict (15 rows with "
        "fewer than 2 processes in a run, the rest inconclusive); compare runs made with more "
        "--processes or --rounds")
    # every row judged by the rule and none decided: said without "0 rows"
    every = compare_runs(*map(as_run, quick_pair()))
    every.rows[["old_processes", "new_processes", "verdict"]] = [3, 3, "inconclusive"]
    assert gate_failure(every, 5) == (
        "no row could be judged: no row got a slower, faster or same verdict (every row "
        "inconclusive); compare runs made with more --processes or --rounds")
    c.rows.loc[1, "verdict"] = "same"
    assert gate_failure(c, 5) is None
