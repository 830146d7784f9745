"""`python -m reports compare`: verdicts on planted format-2 runs whose answers are known."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports import compare_rule, numbers
from reports.cli import main as reports_main
from reports.compare import compare_runs
from reports.compare_markdown import to_markdown
from reports.compare_rule import bootstrap_ratio_ci, holm, processes_needed, welch_log_p
from reports.markdown import parse_markdown_table
from results.load import load_run
from tests import format2
from tests.report_cases import as_run

VARIANTS = ("torch-loop", "torch-compile", "keras-jax-fit", "keras-torch-fit",
            "keras-tensorflow-fit", "numpy-loop", "jax-loop", "tensorflow-loop")
BASE_US = {v: 100.0 * (i + 1) for i, v in enumerate(VARIANTS)}


def noisy(rng, base_us: float, n: int, cv: float) -> list[float]:
    """n process samples around base_us with a lognormal spread of about cv."""
    return list(base_us * np.exp(rng.normal(0.0, cv, n)))


def sixteen_rows(rng, processes=3, cv=0.02, change=None):
    """8 variants x 2 batch sizes, independent draws; ``change`` {row id: factor} scales
    that row's samples."""
    rows = []
    for batch in (32, 1024):
        for variant in VARIANTS:
            samples = noisy(rng, BASE_US[variant] * (1 + batch / 1024), processes, cv)
            row_id = f"{variant}-cpu-b{batch}"
            factor = (change or {}).get(row_id, 1.0)
            rows.append(format2.row(variant, [s * factor for s in samples], batch_size=batch))
    return format2.run(rows)


def by_row(comparison):
    return comparison.rows.set_index("row")


# -- Holm, the test and the interval, against hand-worked answers ------------------------

def test_holm_matches_a_hand_worked_example():
    # m = 4; sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005 = 0.02, 3*0.01 = 0.03,
    # 2*0.03 = 0.06, max(0.06, 1*0.04) = 0.06 (the running maximum keeps the order).
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_leaves_untested_rows_out_of_the_family_and_caps_at_one():
    adjusted = holm([math.nan, 0.02, 0.01, 0.9])
    assert math.isnan(adjusted[0])
    # m = 3: 3*0.01 = 0.03, 2*0.02 = 0.04, min(1, 1*0.9) = 0.9
    assert adjusted[1:] == pytest.approx([0.04, 0.03, 0.9])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])


def test_welch_on_logs_equals_a_t_test_computed_by_hand():
    old, new = [100.0, 104.0, 98.0], [130.0, 128.0, 135.0]
    a, b = np.log(old), np.log(new)
    va, vb = a.var(ddof=1) / 3, b.var(ddof=1) / 3
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)  # Welch-Satterthwaite
    from scipy.stats import t as student_t
    assert welch_log_p(old, new) == pytest.approx(2 * student_t.sf(abs(t), df))


def test_the_test_can_reach_its_level_with_three_processes_per_side():
    # Mann-Whitney U cannot go below p = 0.1 with 3 against 3; this test must.
    assert welch_log_p([100, 101, 99], [130, 131, 129]) < 0.001


def test_the_interval_holds_the_ratio_of_medians_and_1_for_identical_samples():
    low, high = bootstrap_ratio_ci([1.0, 1.1, 0.9, 1.05], [1.3, 1.43, 1.17, 1.365])
    assert low <= 1.3 <= high and low > 1
    low, high = bootstrap_ratio_ci([1.0, 1.1, 0.9], [1.0, 1.1, 0.9])
    assert low < 1 < high


def test_the_bootstrap_memory_is_bounded_whatever_the_sample_size(monkeypatch):
    seen = {}
    real = compare_rule.stats.bootstrap

    def spy(data, statistic, **kwargs):
        seen["values"] = kwargs["batch"] * max(len(d) for d in data)
        return real(data, statistic, **kwargs)

    monkeypatch.setattr(compare_rule.stats, "bootstrap", spy)
    big = np.random.default_rng(0).uniform(1, 2, 50_000)
    bootstrap_ratio_ci(big, big * 1.1, n_resamples=40)
    assert seen["values"] <= compare_rule.BOOTSTRAP_VALUES_PER_BATCH


def test_processes_needed_follows_the_two_sample_size_formula():
    from scipy.stats import t as student_t

    s = 0.2  # log samples -s, 0, s have SD s; the same shape in both runs
    old = list(100 * np.exp([-s, 0, s]))
    new = list(103 * np.exp([-s, 0, s]))

    def enough(n, level):
        df = 2 * n - 2
        z = student_t.ppf(1 - level / 2, df) + student_t.ppf(0.8, df)
        return n >= 2 * z**2 * s**2 / math.log(1.05) ** 2

    for rows_tested in (1, 16):
        n = processes_needed(old, new, 5.0, 0.05, rows_tested)
        level = 0.05 / rows_tested  # Holm's strictest step
        assert enough(n, level) and not enough(n - 1, level)
    assert processes_needed(old, new, 5.0, 0.05, 16) > processes_needed(old, new, 5.0, 0.05, 1)
    assert processes_needed([100], new, 5.0, 0.05) is None


# -- verdicts ------------------------------------------------------------------------------

def test_a_planted_30_percent_slowdown_is_slower_and_the_rest_are_not():
    rng = np.random.default_rng(1)
    old = sixteen_rows(rng)
    new = sixteen_rows(np.random.default_rng(1), change={"torch-loop-cpu-b32": 1.3})
    c = by_row(compare_runs(as_run(old), as_run(new)))
    row = c.loc["torch-loop-cpu-b32"]
    # The same draws times 1.3: the ratio of medians is exactly 1.3.
    assert row["ratio"] == pytest.approx(1.3)
    assert row["verdict"] == "slower" and row["ci_low"] > 1 and row["p_holm"] < 0.05
    assert row["regression"]
    others = c.drop("torch-loop-cpu-b32")
    assert set(others["verdict"]) <= {"same", "inconclusive"}  # identical draws
    assert (others["ratio"] == 1).all()
    faster = by_row(compare_runs(as_run(new), as_run(old))).loc["torch-loop-cpu-b32"]
    assert faster["verdict"] == "faster" and faster["ci_high"] < 1


def test_a_a_runs_with_independent_draws_are_never_slower_or_faster():
    old = sixteen_rows(np.random.default_rng(2), cv=0.03)
    new = sixteen_rows(np.random.default_rng(3), cv=0.03)
    verdicts = set(compare_runs(as_run(old), as_run(new)).rows["verdict"])
    assert verdicts <= {"same", "inconclusive"}


def test_a_a_false_alarms_stay_near_alpha_over_many_independent_rows():
    # 120 independent A/A pairs, each compared alone (no Holm help): slower or faster may
    # come out by chance at about alpha; far more would mean a miscalibrated test.
    rng = np.random.default_rng(4)
    alarms = 0
    for _ in range(120):
        old = format2.run([format2.row("numpy-loop", noisy(rng, 100, 3, 0.05))])
        new = format2.run([format2.row("numpy-loop", noisy(rng, 100, 3, 0.05))])
        verdict = compare_runs(as_run(old), as_run(new), n_resamples=499).rows["verdict"]
        alarms += verdict.item() in ("slower", "faster")
    assert alarms <= 12  # 10%; the expected count is at most 0.05 x 120 = 6


def test_identical_runs_are_same_or_inconclusive_and_list_no_differences():
    data = sixteen_rows(np.random.default_rng(5))
    same = compare_runs(as_run(data), as_run(data))
    assert set(same.rows["verdict"]) <= {"same", "inconclusive"}
    assert (same.rows["ratio"] == 1).all()
    assert same.differences == []


def test_a_small_change_measured_tightly_is_same():
    old = format2.run([format2.row("numpy-loop", [100, 100.2, 99.8, 100.1, 99.9])])
    new = format2.run([format2.row("numpy-loop", [101, 101.2, 100.8, 101.1, 100.9])])
    row = compare_runs(as_run(old), as_run(new)).rows.iloc[0]
    assert row["verdict"] == "same"
    assert 1 / 1.05 <= row["ci_low"] and row["ci_high"] <= 1.05


def test_a_noisy_row_is_inconclusive_and_says_how_many_processes_would_do():
    old = format2.run([format2.row("numpy-loop", [80, 100, 125])])
    new = format2.run([format2.row("numpy-loop", [84, 103, 129])])
    row = compare_runs(as_run(old), as_run(new)).rows.iloc[0]
    assert row["verdict"] == "inconclusive"
    assert row["processes_needed"] > 3
    assert f"about {row['processes_needed']} processes per side" in row["note"]


def test_too_few_processes_are_inconclusive_even_for_a_tenfold_slowdown():
    old = format2.run([format2.row("numpy-loop", [100])])
    new = format2.run([format2.row("numpy-loop", [1000, 1010, 990])])
    c = compare_runs(as_run(old), as_run(new))
    row = c.rows.iloc[0]
    assert row["ratio"] == pytest.approx(10)
    assert row["verdict"] == "inconclusive" and math.isnan(row["p_value"])
    assert "too few processes" in row["note"]
    assert c.too_few == ["numpy-loop-cpu-b32"]
    assert "too few processes for the test to ever reach its level" in to_markdown(c, "a", "b")


def test_unstable_rows_are_marked_with_the_run_they_were_unstable_in():
    old = format2.run([format2.row("numpy-loop", [100, 101, 99])])
    new = format2.run([format2.row("numpy-loop", [100, 101, 99], unstable=True)])
    c = compare_runs(as_run(old), as_run(new))
    assert c.rows["unstable"].item() == "new"
    assert "1 row was unstable in a run" in to_markdown(c, "a", "b")


def test_rows_in_one_run_only_skipped_and_not_measured_rows_and_differences_are_listed():
    old = format2.run([format2.row("torch-loop", [400, 401, 399]),
                       format2.row("numpy-loop", [100, 101, 99]),
                       format2.row("jax-loop", [50, 51, 49]),
                       format2.skipped_row("torch-loop")])
    new = format2.run([format2.row("torch-loop", [400, 401, 399]),
                       format2.row("jax-loop", [50, 51, 49], statuses=["failed"] * 3),
                       format2.skipped_row("torch-loop")], commit="b" * 40)
    new["environment"]["versions"]["torch"] = "2.14.0"
    new["environment"]["load_before"]["load1"] = 1.5  # differs every run: not listed
    c = compare_runs(as_run(old), as_run(new))
    assert c.only_old == ["numpy-loop-cpu-b32"] and c.only_new == []
    assert c.not_compared == ["jax-loop-cpu-b32 (old: ok, new: failed)"]
    assert c.skipped_in_both == ["torch-loop-cuda-b32"]
    assert any(d.startswith("commit:") for d in c.differences)
    assert "environment.versions.torch: '2.13.0' → '2.14.0'" in c.differences
    assert not any("load_before" in d for d in c.differences)


# -- the command line --------------------------------------------------------------------

@pytest.fixture()
def planted(tmp_path):
    old = sixteen_rows(np.random.default_rng(1))
    new = sixteen_rows(np.random.default_rng(1), change={"torch-loop-cpu-b32": 1.3})
    return (format2.write(tmp_path / "old.json", old),
            format2.write(tmp_path / "new.json", new))


def test_compare_command_writes_csv_and_markdown(planted, tmp_path, capsys):
    old, new = planted
    md, csv = tmp_path / "cmp.md", tmp_path / "cmp.csv"
    assert reports_main(["compare", str(old), str(new), "--markdown", str(md),
                         "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    comparison = compare_runs(load_run(old), load_run(new))
    names = Path(old).as_posix(), Path(new).as_posix()
    # the file is Markdown, escaped; standard output the same comparison as plain text
    assert md.read_text().strip() == to_markdown(comparison, *names).strip()
    assert out.strip() == to_markdown(comparison, *names, plain=True).strip()
    assert "\\" not in out and "| Row |" not in out and "| Row |" in md.read_text()
    assert "Welch's t-test" in out and "Holm" in out and "REGRESSION" in out
    table = pd.read_csv(csv)
    assert {"row", "ratio", "ci_low", "ci_high", "verdict"} <= set(table.columns)
    assert table.set_index("row").loc["torch-loop-cpu-b32", "verdict"] == "slower"
    assert len(table) == 16
    # the CSV stays machine-readable: plain floats, no formatting
    assert all(table[c].dtype == float for c in ("ratio", "ci_low", "ci_high"))


def test_compares_table_writes_its_numbers_in_the_reports_style(planted):
    old, new = planted
    comparison = compare_runs(load_run(old), load_run(new))
    text = to_markdown(comparison, "old", "new")
    table = text[text.index("| Row |"):]
    shown = {line["Row"]: line for line in parse_markdown_table(table[:table.index("\n\n")])}
    assert len(shown) == 16
    for row in comparison.rows.to_dict("records"):
        line = shown[row["row"]]
        assert line["Old µs/step"] == numbers.number(row["old_us_per_step"])
        assert line["New µs/step"] == numbers.number(row["new_us_per_step"])
        assert line["New/old"] == numbers.ratio(row["ratio"])
        assert line["Interval"] == numbers.ratio_interval(row["ci_low"], row["ci_high"])
        assert line["Interval"].startswith("[") and "–" not in line["Interval"]
        p = row["p_holm"]
        assert line["p (Holm)"] == ("< 0.0001" if p < 1e-4 else numbers.number(p, 2))
    slowed = shown["torch-loop-cpu-b32"]["Verdict"]
    assert slowed == "slower, REGRESSION"
    # the rule under the table: its band as an interval in the same style (Markdown-escaped)
    assert "same if the interval lies within \\[0.952, 1.05\\]" in text
    assert "–" not in text  # one missing-value symbol, and no en-dash ranges


@pytest.mark.parametrize("fail_above, status", [("20", 1), ("29", 1), ("31", 0), ("50", 0)])
def test_fail_above_fails_only_on_a_slower_verdict_beyond_its_threshold(planted, capsys,
                                                                       fail_above, status):
    old, new = planted
    assert reports_main(["compare", str(old), str(new), "--fail-above", fail_above]) == status
    if status:
        assert "torch-loop-cpu-b32" in capsys.readouterr().err


def test_fail_above_does_not_fail_on_an_inconclusive_slowdown(tmp_path):
    old = format2.write(tmp_path / "o.json", format2.run([format2.row("numpy-loop", [100])]))
    new = format2.write(tmp_path / "n.json", format2.run([format2.row("numpy-loop", [200])]))
    assert reports_main(["compare", str(old), str(new), "--fail-above", "5"]) == 0


@pytest.mark.parametrize("option, value", [
    ("--fail-above", "nan"), ("--threshold", "nan"), ("--delta", "nan"),
    ("--fail-above", "inf"), ("--threshold", "-1"), ("--fail-above", "-5"),
    ("--delta", "0"), ("--delta", "-inf"), ("--alpha", "nan"), ("--alpha", "1.5")])
def test_bad_percentages_are_refused_in_one_sentence(planted, capsys, option, value):
    old, new = planted
    assert reports_main(["compare", str(old), str(new), f"{option}={value}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0]


@pytest.mark.parametrize("option", ["--csv", "--markdown"])
@pytest.mark.parametrize("where", ["folder is a file", "is a folder"])
def test_an_output_that_cannot_be_written_is_one_sentence_and_nothing_is_written(
        planted, tmp_path, capsys, option, where):
    old, new = planted
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    target = a_file / "x.md" if where == "folder is a file" else tmp_path
    other = tmp_path / "other.out"
    other_option = "--markdown" if option == "--csv" else "--csv"
    before = sorted(p.name for p in tmp_path.iterdir())
    assert reports_main(["compare", str(old), str(new), option, str(target),
                         other_option, str(other)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and option in err[0]
    assert captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing partial
    assert a_file.read_text() == "keep me"


def test_real_format_2_fixtures_give_their_planted_verdicts():
    """tests/fixtures/run2_*.json come from a real quick run (make_fixtures.py --format 2)."""
    old_path = format2.FIXTURES / "run2_old.json"
    if not old_path.exists():
        pytest.skip("run2_old.json not made yet: python tests/fixtures/make_fixtures.py "
                    "--format 2 (needs the format-2 writer of benchmarks/)")
    comparison = compare_runs(load_run(old_path), load_run(format2.FIXTURES / "run2_new.json"))
    c = by_row(comparison)
    slowed = c.loc["torch-loop-cpu-b32"]
    assert slowed["ratio"] == pytest.approx(1.3)
    assert slowed["verdict"] in ("slower", "inconclusive")
    assert "slower" not in set(c.drop("torch-loop-cpu-b32")["verdict"])
    # The same samples give a ratio of exactly 1 in every other row.
    assert c.drop("torch-loop-cpu-b32")["ratio"].to_numpy() == pytest.approx(1.0)
    assert comparison.only_old == ["numpy-loop-cpu-b1024"]  # dropped from the new run
    # The injected crash: failed in both runs, so never compared.
    assert "keras-torch-fit-cpu-b1024" not in c.index
    assert any(d.startswith("commit:") or "commit" in d for d in comparison.differences)


def test_interrupted_runs_and_a_busy_machine_are_said(tmp_path):
    old = format2.run([format2.row("numpy-loop", [100, 101, 99])])
    new = format2.run([format2.row("numpy-loop", [100, 101, 99])])
    new.update(complete=False, interrupted_by="SIGTERM")
    old["environment"].update(busy_before=True, busy_reason="load average 3.1 on 2 cores")
    text = to_markdown(compare_runs(as_run(old), as_run(new)), "a", "b")
    assert "the new run did not finish (interrupted by SIGTERM)" in text
    assert "busy when the old run began" in text
    assert "Recorded: load average 3.1 on 2 cores." in text


def test_fail_above_fails_when_a_row_measured_before_was_not_measured_now(tmp_path, capsys):
    old = format2.write(tmp_path / "o.json", format2.run([
        format2.row("numpy-loop", [100, 101, 99]), format2.row("jax-loop", [50, 51, 49])]))
    new = format2.write(tmp_path / "n.json", format2.run([
        format2.row("numpy-loop", [100, 101, 99]),
        format2.row("jax-loop", [50, 51, 49], statuses=["failed"] * 3)]))
    assert reports_main(["compare", str(old), str(new), "--fail-above", "5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "jax-loop-cpu-b32" in err[0] and "not measured" in err[0]
    # Without the gate the same comparison is only a report.
    assert reports_main(["compare", str(old), str(new)]) == 0


def test_fail_above_fails_when_no_row_was_measured_in_both(tmp_path, capsys):
    old = format2.write(tmp_path / "o.json", format2.run([format2.row("numpy-loop", [100, 99])]))
    new = format2.write(tmp_path / "n.json", format2.run([format2.row("jax-loop", [50, 51])]))
    assert reports_main(["compare", str(old), str(new), "--fail-above", "5"]) == 1
    assert "no row was measured in both" in capsys.readouterr().err


def test_compare_piped_into_a_reader_that_stops_early_gives_no_traceback(planted):
    """`sidebyside-reports compare A B | head -1`: no BrokenPipeError traceback."""
    import subprocess
    import sys

    old, new = planted
    command = (f"{sys.executable} -P -m reports compare {old} {new} | head -c 10 >/dev/null; "
               "exit ${PIPESTATUS[0]}")
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120,
                          cwd=format2.FIXTURES.parents[1])
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 0


def _spellings(tmp_path, old, new) -> dict:
    """An output path that is an input result file, spelt in every way a shell allows."""
    run = tmp_path / "run"
    run.mkdir()
    results = format2.write(run / "results.json", json.loads(new.read_text()))
    (tmp_path / "link.json").symlink_to(results)
    os.link(old, tmp_path / "hard.json")
    return {
        "NEW itself": (["--csv", str(new)], new),
        "OLD itself": (["--markdown", str(old)], old),
        "another spelling": (["--csv", str(tmp_path / "run" / ".." / "new.json")], new),
        "relative": (["--markdown", os.path.relpath(old)], old),
        "a symbolic link": (["--csv", str(tmp_path / "link.json")], results),
        "a hard link": (["--markdown", str(tmp_path / "hard.json")], old),
        "the results.json of a run folder given": (["--csv", str(results)], results),
    }


@pytest.mark.parametrize("case", ["NEW itself", "OLD itself", "another spelling", "relative",
                                  "a symbolic link", "a hard link",
                                  "the results.json of a run folder given"])
def test_an_output_that_is_an_input_is_refused_and_the_input_is_kept(planted, tmp_path,
                                                                     capsys, case):
    old, new = planted
    option, protected = _spellings(tmp_path, old, new)[case]
    new_arg = str(tmp_path / "run") if case.startswith("the results.json") or \
        case == "a symbolic link" else str(new)
    before = {p: p.read_bytes() for p in (old, new, tmp_path / "run" / "results.json")}
    listing = sorted(p.name for p in tmp_path.iterdir())
    assert reports_main(["compare", str(old), new_arg, *option]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "would replace it" in lines[0] and captured.out == ""
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing


def test_csv_and_markdown_naming_one_file_is_refused(planted, tmp_path, capsys):
    old, new = planted
    out = tmp_path / "cmp.txt"
    assert reports_main(["compare", str(old), str(new), "--csv", str(out), "--markdown",
                         str(tmp_path / "." / "cmp.txt")]) == 2
    assert "name the same file" in capsys.readouterr().err and not out.exists()


# A script run as its own process: it plants a real signal at one moment of `compare` (while
# comparing, or while the CSV is being flushed to disk) and runs the command.
_SIGNAL_DURING_COMPARE = """
import os, signal, sys
import reports.compare
from reports.cli import main

moment, name, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
signum = getattr(signal, name)
if moment == "comparing":
    real = reports.compare.compare_runs
    def compare_runs(*args, **kwargs):
        comparison = real(*args, **kwargs)
        signal.raise_signal(signum)
        return comparison  # reached only if the signal did not stop the command
    reports.compare.compare_runs = compare_runs
else:
    real_fsync = os.fsync
    def fsync(fd):
        real_fsync(fd)
        signal.raise_signal(signum)
    os.fsync = fsync
sys.exit(main(argv))
"""


@pytest.mark.parametrize("moment", ["comparing", "writing"])
@pytest.mark.parametrize("signal_name, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_during_compare_leaves_inputs_intact_and_no_output_half_written(
        planted, tmp_path, moment, signal_name, status):
    import subprocess
    import sys

    old, new = planted
    before = {p: p.read_bytes() for p in (old, new)}
    csv, md = tmp_path / "out" / "cmp.csv", tmp_path / "out" / "cmp.md"
    csv.parent.mkdir()
    proc = subprocess.run([sys.executable, "-P", "-c", _SIGNAL_DURING_COMPARE, moment,
                           signal_name, "compare", str(old), str(new), "--csv", str(csv),
                           "--markdown", str(md)],
                          capture_output=True, text=True, timeout=120,
                          cwd=format2.FIXTURES.parents[1])
    assert proc.returncode == status, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"interrupted by {signal_name}" in lines[0], proc.stderr
    assert "the result files are intact" in lines[0]
    assert "Traceback" not in proc.stderr
    assert {p: p.read_bytes() for p in (old, new)} == before
    # No temporary file is left beside the outputs, and no output exists in part: the CSV
    # is interrupted between its flush and its rename, so neither output was written.
    assert list(csv.parent.iterdir()) == []


# -- outputs are new files only, and the terminal never gets a traceback ----------------------

def _other_paths(tmp_path) -> dict:
    """Existing paths that are not the inputs: another run's files, a link, a FIFO."""
    third = tmp_path / "third"
    third.mkdir()
    for name in ("results.json", "benchmark.json", "report.md"):
        (third / name).write_text(f"{name} of a third run\n")
    (tmp_path / "to-null").symlink_to(os.devnull)
    os.mkfifo(tmp_path / "fifo")
    return {"another run's results.json": third / "results.json",
            "another run's benchmark.json": third / "benchmark.json",
            "another run's report.md": third / "report.md",
            "a link to a device": tmp_path / "to-null",
            "a FIFO": tmp_path / "fifo"}


@pytest.mark.parametrize("option", ["--csv", "--markdown"])
@pytest.mark.parametrize("case", ["another run's results.json", "another run's benchmark.json",
                                  "another run's report.md", "a link to a device", "a FIFO"])
def test_an_existing_file_is_never_written_over_by_compare(planted, tmp_path, capsys, option,
                                                          case):
    old, new = planted
    target = _other_paths(tmp_path)[case]
    before = {p: (p.is_symlink(), p.stat().st_mode, p.read_bytes() if p.is_file() else None)
              for p in tmp_path.rglob("*") if not p.is_dir()}
    assert reports_main(["compare", str(old), str(new), option, str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (f"python -m reports: error: {option}: {target} already "
                                    "exists and the suite never overwrites a file; give the "
                                    "name of a new file")
    assert captured.out == ""
    assert {p: (p.is_symlink(), p.stat().st_mode, p.read_bytes() if p.is_file() else None)
            for p in tmp_path.rglob("*") if not p.is_dir()} == before


@pytest.mark.parametrize(("args", "message"), [
    (["--csv", ""], "--csv: expected the name of a new file for the comparison, got an empty "
                    "value"),
    (["--markdown", "x" * 300 + ".md"], "cannot be written (File name too long); give "
                                        "another name"),
])
def test_an_empty_or_impossible_output_name_is_one_sentence(planted, tmp_path, capsys,
                                                            monkeypatch, args, message):
    old, new = planted
    monkeypatch.chdir(tmp_path)
    listing = sorted(tmp_path.iterdir())
    assert reports_main(["compare", str(old), str(new), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert sorted(tmp_path.iterdir()) == listing


def test_fail_above_names_the_command_the_user_ran(tmp_path, capsys):
    old = format2.write(tmp_path / "o.json", format2.run([format2.row("numpy-loop", [100, 99])]))
    new = format2.write(tmp_path / "n.json", format2.run([format2.row("jax-loop", [50, 51])]))
    assert reports_main(["compare", str(old), str(new), "--fail-above", "5"],
                        prog="sidebyside-reports") == 1
    assert capsys.readouterr().err.startswith("sidebyside-reports: no row was measured")


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"}, {"PYTHONIOENCODING": "latin-1"},
                                 {"LC_ALL": "C", "PYTHONUTF8": "0",
                                  "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""}])
def test_a_terminal_that_cannot_show_mu_gets_an_escape_not_a_traceback(planted, env):
    import subprocess
    import sys

    old, new = planted
    proc = subprocess.run([sys.executable, "-P", "-m", "reports", "compare", str(old), str(new)],
                          capture_output=True, timeout=120, cwd=format2.FIXTURES.parents[1],
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert b"Traceback" not in proc.stderr
    assert b"\\xb5s/step" in proc.stdout or b"\xb5s/step" in proc.stdout


def test_standard_output_on_a_full_disk_is_one_sentence(planted):
    import subprocess
    import sys

    old, new = planted
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-P", "-m", "reports", "compare", str(old),
                               str(new)], stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=120, cwd=format2.FIXTURES.parents[1])
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == ("python -m reports: error: standard output could not be "
                                   "written (No space left on device)")


@pytest.mark.parametrize("cv", [0.001, 0.01, 0.05, 0.2, 0.6, 3.0])
@pytest.mark.parametrize("rows_tested", [1, 16])
def test_processes_needed_is_the_least_n_a_plain_scan_finds(cv, rows_tested):
    """The bisection against the formula tried for n = 3, 4, ... in turn."""
    from scipy import stats

    rng = np.random.default_rng(int(cv * 1000) + rows_tested)
    old, new = (list(100 * np.exp(rng.normal(0, cv, 3))) for _ in range(2))
    a, b = np.log(old), np.log(new)
    pooled = (np.var(a, ddof=1) + np.var(b, ddof=1)) / 2  # equal sizes: the plain mean
    level, effect = 0.05 / rows_tested, math.log1p(0.05)
    expected = next((n for n in range(3, 10_000)
                     if n >= 2 * (stats.t.ppf(1 - level / 2, 2 * n - 2)
                                  + stats.t.ppf(0.8, 2 * n - 2)) ** 2 * pooled / effect**2),
                    10_000)
    assert processes_needed(old, new, 5.0, 0.05, rows_tested) == expected


def test_compare_help_describes_the_method_it_uses(capsys):
    # The help once described only format 2's method (median, Welch, Holm), while a run of
    # format 3 is judged on p10 with Bonferroni's intervals.
    with pytest.raises(SystemExit):
        reports_main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "p10 of the samples" in text and "Bonferroni" in text and "machine factor" in text
    assert "an older sidebyside's files: the median over processes" in text
    assert "or when every row is a p10 row and none got a slower, faster or same verdict" in text
