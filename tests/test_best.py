"""reports/best.py: each framework's course row beside its fastest, on a hand-made run."""

import math
import re

import pandas as pd
import pytest

from benchmarks.plan import TUNED_NOTES
from reports.best import HEADER, base_variant, best_cells, best_notes, best_table
from reports.markdown import to_markdown

COLUMNS = ["row", "variant", "implementation", "device", "batch_size", "status", "reason",
           "us_per_step", "us_per_step_ci_low", "us_per_step_ci_high", "first_epoch_s"]


def run_rows():
    def row(variant, impl, batch, status, us=None, low=None, high=None, first=None, reason=""):
        return [f"{variant}-cpu-b{batch}", variant, impl, "cpu", batch, status, reason,
                us, low, high, first]

    return pd.DataFrame([
        row("torch-loop", "torch", 32, "ok", 400.0, 390.0, 410.0, 1.0),
        row("torch-compile", "torch", 32, "ok", 300.0, 290.0, 310.0, 20.0),
        row("torch-compile-step", "torch", 32, "ok", 200.0, 190.0, 210.0, 30.0),
        row("keras-torch-fit", "keras-torch", 32, "ok", 1000.0, 900.0, 1100.0, 2.0),
        row("keras-torch-fit-spe", "keras-torch", 32, "skipped",
            reason="Keras says steps_per_execution must be 1"),
        row("jax-loop", "jax", 32, "ok", 40.0, None, None, 0.5),
        row("jax-scan", "jax", 32, "ok", 5.0, 4.0, 6.0, 0.7),
        row("numpy-loop", "numpy", 32, "failed", reason="crash"),
        row("torch-loop", "torch", 1024, "ok", 900.0, 850.0, 950.0, 0.1),
        row("torch-compile-step", "torch", 1024, "partial", 1800.0, 1700.0, 1900.0, 25.0),
    ], columns=COLUMNS)


def by_framework(table, batch):
    return {r.framework: r for r in table[table["batch_size"] == batch].itertuples()}


def test_base_variant_is_the_course_row_or_the_idiomatic_one():
    assert base_variant("torch") == "torch-loop"
    assert base_variant("keras-tensorflow") == "keras-tensorflow-fit"
    assert base_variant("jax") == "jax-loop"  # no course lesson: the idiomatic row
    with pytest.raises(ValueError):
        base_variant("mxnet")


def test_fastest_row_ratios_and_note_by_hand():
    rows = by_framework(best_table(run_rows()), 32)
    torch = rows["torch"]
    assert (torch.base_variant, torch.best_variant, torch.best_tag) == \
        ("torch-loop", "torch-compile-step", "tuned")
    assert torch.speedup == pytest.approx(400 / 200)
    assert torch.ratio_to_floor == pytest.approx(200 / 5)
    assert (torch.best_ci_low, torch.best_ci_high, torch.best_first_epoch_s) == (190, 210, 30)
    assert torch.note == TUNED_NOTES["torch-compile-step"]
    jax = rows["jax"]
    assert (jax.base_variant, jax.best_variant) == ("jax-loop", "jax-scan")
    assert jax.speedup == pytest.approx(8.0) and jax.ratio_to_floor == pytest.approx(1.0)
    assert math.isnan(jax.base_ci_low)  # a single process: no interval


def test_a_refused_gear_is_said_not_dropped():
    rows = by_framework(best_table(run_rows()), 32)
    keras_torch = rows["keras-torch"]
    assert keras_torch.best_variant == keras_torch.base_variant == "keras-torch-fit"
    assert keras_torch.speedup == pytest.approx(1.0) and keras_torch.note == ""
    assert keras_torch.ratio_to_floor == pytest.approx(200.0)
    assert "keras-torch-fit-spe: Keras says steps_per_execution must be 1" in \
        keras_torch.not_measured
    numpy = rows["numpy"]
    assert pd.isna(numpy.best_variant) and math.isnan(numpy.speedup)
    assert numpy.not_measured == "numpy-loop: crash"


def test_no_floor_in_the_block_gives_nan_and_a_slower_tuned_row_is_not_best():
    rows = by_framework(best_table(run_rows()), 1024)
    assert set(rows) == {"torch"}
    torch = rows["torch"]
    assert torch.best_variant == "torch-loop" and torch.speedup == pytest.approx(1.0)
    assert math.isnan(torch.ratio_to_floor)
    assert torch.note == ""  # the fastest row is the course row: nothing to change


def best_markdown(table: pd.DataFrame) -> str:
    """The table as report.md shows it."""
    return to_markdown(pd.DataFrame(best_cells(table), columns=list(HEADER)))


def test_markdown_shows_ratios_intervals_and_skips():
    text = best_markdown(best_table(run_rows()))
    assert text.startswith("| framework | device | batch | course/idiomatic row |")
    torch_line = next(line for line in text.splitlines()
                      if line.startswith("| torch | cpu | 32 |"))
    # as a reader sees it: Markdown's backslash escapes (of the brackets) removed
    shown = re.sub(r"\\(.)", r"\1", torch_line)
    assert "200 [190, 210]" in shown and torch_line.endswith("| 2.00× | 40.0× |")
    assert all(line.count("|") == 12 for line in text.splitlines() if line.startswith("| "))
    # text left, numbers right: framework, device, batch, course row, µs/step, first epoch,
    # fastest row, µs/step, first epoch, speedup, × jax-scan
    assert text.splitlines()[1] == "|---|---|---:|---|---:|---:|---|---:|---:|---:|---:|"
    # under the table: what the fastest row changes, once a variant, and what was not run
    notes = best_notes(best_table(run_rows()))
    assert sum("torch.compile around the whole step" in n for n in notes) == 1
    assert any("not measured: keras-torch-fit-spe" in n for n in notes)


def test_a_missing_column_is_named():
    with pytest.raises(KeyError, match="us_per_step_ci_low"):
        best_table(run_rows().drop(columns=["us_per_step_ci_low"]))


def test_markdown_of_a_framework_without_a_measured_row_shows_dashes():
    text = best_markdown(best_table(run_rows()))
    numpy_line = next(line for line in text.splitlines() if line.startswith("| numpy |"))
    assert "| — |" in numpy_line
    assert any("not measured: numpy-loop: crash" in n
               for n in best_notes(best_table(run_rows())))


def test_a_run_that_records_tags_gets_the_table_in_its_report(tmp_path):
    """report.md and report.html show the table from the tags the result file records,
    without the benchmark package's registry (a result is read without it)."""
    from reports.build import build_report
    from tests import format2

    rows = [format2.row("torch-loop", [400, 410, 405]),
            format2.row("torch-compile-step", [200, 210, 205]),
            format2.row("jax-scan", [5, 5.5, 6])]
    for row, tag, note in zip(rows, ("course", "tuned", "tuned"), ("", "the whole step", "")):
        row["tag"], row["tuned_note"] = tag, note
        row["implementation"], row["mode"] = row["variant"].split("-", 1)  # torch, compile-step
    out = build_report(format2.write(tmp_path / "results.json", format2.run(rows)),
                       tmp_path / "report")
    md = (out / "report.md").read_text()
    assert "## Each framework at its best" in md
    line = next(x for x in md.splitlines() if x.startswith("| torch | cpu | 32 |"))
    # 405 / 205 and 205 / 5.5, from the medians of the samples above; the speedup's
    # interval bootstrapped from the two rows' samples holds it
    speedup = line.split(" | ")[-2]
    low, high = (float(x) for x in re.findall(r"\[(.*), (.*)\\\]", speedup)[0])
    assert speedup.startswith("1.98× \\[") and low <= 1.98 <= high, speedup
    assert line.endswith("| 37.3× |")
    assert "- torch-compile-step: the whole step." in md  # a note under the table
    assert "Each framework at its best" in (out / "report.html").read_text()
    for name in ("report.tex", "report-tables.tex"):
        tex = (out / name).read_text()
        assert "Each framework at its best" in tex and "the whole step" in tex, name
    _compiles_without_overfull_boxes(out)


def _compiles_without_overfull_boxes(out):
    """The fragment, \\input into a plain article with the packages it names, fits the page."""
    import re
    import shutil
    import subprocess

    from reports import latex

    if shutil.which("pdflatex") is None:
        return  # test_report_latex.py skips with the reason; the text checks above still ran
    (out / "notes.tex").write_text("\n".join([
        r"\documentclass{article}", *latex.LATEX_PACKAGES,
        r"\begin{document}", r"\input{report-tables.tex}", r"\end{document}", ""]))
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                             "notes.tex"], cwd=out, capture_output=True, timeout=180)
    log = (out / "notes.log").read_text(encoding="latin-1")
    assert result.returncode == 0, log[-3000:]
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)


def test_an_older_file_without_tags_has_no_such_table(tmp_path):
    from reports.build import build_report
    from tests import format2

    out = build_report(format2.write(tmp_path / "results.json",
                                     format2.run([format2.row("torch-loop", [400, 410, 405])])),
                       tmp_path / "report")
    assert "Each framework at its best" not in (out / "report.md").read_text()


def test_the_section_leaves_out_a_device_where_nothing_was_measured():
    from frameworks.variants import VARIANTS
    from reports.best import section

    frame = run_rows()
    frame["tag"] = frame["variant"].map({name: v.tag for name, v in VARIANTS.items()})
    cuda = frame.assign(device="cuda", status="skipped", reason="no NVIDIA GPU",
                        us_per_step=math.nan)
    shown = section(pd.concat([frame, cuda], ignore_index=True)).table
    assert set(shown["device"]) == {"cpu"}  # no line of dashes per framework for CUDA
    # a framework without a measured row beside measured ones keeps its line
    assert "numpy" in set(shown["framework"])
