"""What `compare` prints for a reader: plain text on standard output (Markdown only in the
--markdown file), each caveat said once, every ratio in one digit rule, and no file-format
jargon; and `build`'s error for a folder that cannot be made."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reports import numbers
from reports.compare import compare_runs
from reports.compare_markdown import to_markdown
from tests.report_cases import OLD, as_run, realistic_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def busy_pair(tmp_path_factory):
    """Two realistic format-3 runs on a busy machine, written as result files; the new run's
    keras-jax-fit rows 30% slower."""
    folder = tmp_path_factory.mktemp("busy")
    old, new = realistic_run(), realistic_run()
    new["environment"]["busy_reason"] = "its 2 CPUs were 80% busy (above 25%; load 1.9)"
    for row in new["rows"]:
        if row["variant"] == "keras-jax-fit":
            for process in row["processes"]:
                process["samples_epoch_s"] = [s * 1.3 for s in process["samples_epoch_s"]]
    paths = []
    for name, data in (("old.json", old), ("new.json", new)):
        (folder / name).write_text(json.dumps(data))
        paths.append(folder / name)
    return paths


def _compare(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-P", "-m", "reports", "compare", *map(str, args)],
                          capture_output=True, text=True, timeout=180, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_standard_output_is_plain_text_and_the_markdown_file_is_escaped(busy_pair, tmp_path):
    old, new = busy_pair
    md = tmp_path / "cmp.md"
    proc = _compare(old, new, "--markdown", md)  # stdout is a pipe here, not a terminal
    assert proc.returncode == 0, proc.stderr
    out, markdown = proc.stdout, md.read_text()
    assert "\\" not in out  # no Markdown escape: "\[0.99, 1.91\]", "busy\_reason"
    assert re.search(r"\[\d[\d.]*, \d[\d.]*\]", out)  # the intervals, unescaped
    assert not out.startswith("#") and "| Row |" not in out
    assert re.search(r"\\\[\d[\d.]*, \d[\d.]*\\\]", markdown)  # escaped in the file
    assert markdown.startswith("# ") and "| Row |" in markdown


def test_a_busy_machine_is_said_once_and_no_row_note_repeats_it(busy_pair):
    old, new = busy_pair
    comparison = compare_runs(as_run(json.loads(old.read_text())),
                              as_run(json.loads(new.read_text())))
    text = to_markdown(comparison, "old", "new", plain=True)
    assert text.count("busy when") == 1
    assert "the machine was busy when both runs began" in text
    assert "rerun on a quiet machine" in text
    # both recorded reasons are kept, in the one note
    assert "load average 2.36" in text and "load 1.9" in text
    assert not any("busy" in d for d in comparison.differences)
    notes = [n for n in comparison.rows["note"] if n]
    assert not any("busy" in n for n in notes)
    # the p10 rows' one reason for "inconclusive" is said once under the table
    inconclusive = int((comparison.rows["verdict"] == "inconclusive").sum())
    assert inconclusive >= 2
    assert not any("reaches beyond" in n for n in notes)
    assert text.count("more --rounds or --processes narrow it") == 1


def test_every_ratio_and_its_interval_have_three_significant_figures(busy_pair):
    old, new = busy_pair
    comparison = compare_runs(as_run(json.loads(old.read_text())),
                              as_run(json.loads(new.read_text())))
    text = to_markdown(comparison, "old", "new", plain=True)
    cells = re.findall(r"(\d[\d.]*)× +\[(\d[\d.]*), (\d[\d.]*)\]", text) or \
        re.findall(r"\[(\d[\d.]*), (\d[\d.]*)\]", text)
    assert cells
    for cell in cells:
        for value in cell:
            assert len(value.replace(".", "").lstrip("0")) == 3, (value, cell)


@pytest.mark.parametrize("value, low, high, shown", [
    (6.53, 6.52, 12.3, "6.53× [6.52, 12.3]"),
    (0.659, 0.564, 0.82, "0.659× [0.564, 0.820]"),
    (0.827, 0.747, 2.239, "0.827× [0.747, 2.24]"),
    (1.0, 0.994, 1.116, "1.00× [0.994, 1.12]"),
    (41.3, 33.3, 67.1, "41.3× [33.3, 67.1]"),
    (1.5, None, None, "1.50×"),
])
def test_the_ratio_rule(value, low, high, shown):
    assert numbers.ratio_with_interval(value, low, high) == shown


@pytest.mark.parametrize("value, shown", [
    (994_555.2, "995\u202f000"), (4_284_518, "4\u202f280\u202f000"),
    (4.2849, "4.28"), (123.4, "123"), (None, numbers.MISSING)])
def test_a_rate_keeps_three_significant_figures_integer_digits_too(value, shown):
    assert numbers.rate(value) == shown


def test_the_terminal_table_formats_a_ratio_by_the_same_rule():
    from benchmarks.table import _cells
    run = as_run(realistic_run())
    shown = [c for row in run.rows if row.summary for c in _cells(row)
             if c.endswith("×") and row.variant != "torch-loop"]
    assert shown
    for cell in shown:
        (value,) = re.findall(r"\d[\d.]*", cell)
        assert len(value.replace(".", "").lstrip("0")) == 3, cell


def test_compare_says_what_an_old_file_format_means_once_and_no_jargon_otherwise(busy_pair,
                                                                                 tmp_path):
    old, new = busy_pair
    text = _compare(old, new).stdout
    assert not re.search(r"format[ -][123]", text)
    copy = tmp_path / OLD.name  # the same file twice is refused: a copy is another file
    copy.write_bytes(OLD.read_bytes())
    text = _compare(OLD, copy).stdout
    assert text.count("format 1") == 1 and "first version of sidebyside" in text
    assert "format 2" not in text and "format-1" not in text


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_build_into_a_folder_that_cannot_be_made_names_that_folder(busy_pair):
    old, _ = busy_pair
    proc = subprocess.run([sys.executable, "-P", "-m", "reports", "build", str(old),
                           "--out", "/proc/forbidden"], capture_output=True, text=True,
                          timeout=180, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "/proc/forbidden" in lines[0] and ".tmp" not in lines[0]
    assert "Traceback" not in proc.stderr
    assert not os.path.exists("/proc/forbidden")


def test_a_staged_folder_that_cannot_be_made_names_its_target(tmp_path, monkeypatch):
    import tempfile

    from results.atomic import StagedFolder

    def refused(**kwargs):
        raise FileNotFoundError(2, "No such file or directory",
                                str(Path(kwargs["dir"]) / ".x.pid1-abc.tmp"))

    monkeypatch.setattr(tempfile, "mkdtemp", refused)
    with pytest.raises(OSError) as caught:
        with StagedFolder(tmp_path / "report"):
            pass
    assert caught.value.filename == str(tmp_path / "report")
    assert caught.value.strerror == "No such file or directory"
