"""The notebook path (README, "In a notebook"): the cell's code run headlessly, as Colab
would run it, and what Jupyter would show."""

import html
import json

import pytest

from benchmarks.notebook import Run, run
from results.format import RESULTS_FILE_NAME
from results.load import UnreadableResult
from tests.format2 import FIXTURES
from tests.helpers import QUIET_ENV


def test_a_preset_runs_and_its_report_shows_inline(tmp_path, monkeypatch, capsys):
    for name, value in QUIET_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    result = run("quick", "--impl", "numpy", "--processes", "2",
                 report_dir=tmp_path / "runs")
    assert result.ok, result.output[-3000:]
    assert result.run_dir is not None and result.run_dir.parent == tmp_path / "runs"
    [row] = result.results["rows"]
    assert (row["variant"], row["status"]) == ("numpy-loop", "ok")
    # the row's first worker checked the twin before timing it; the second had no need to
    first, second = row["processes"]
    assert first["equivalence"]["equivalent"] and second["equivalence"] is None
    page = result._repr_html_()
    assert page.startswith("<iframe") and 'srcdoc="' in page
    shown = html.unescape(page.split('srcdoc="', 1)[1].split('"', 1)[0])
    assert shown == result.report_html.read_text(encoding="utf-8")
    assert "numpy" in shown
    # the progress went to the cell's output as it came
    assert "sidebyside" in capsys.readouterr().out


def test_a_failed_run_shows_its_output_not_a_traceback(tmp_path, monkeypatch):
    for name, value in QUIET_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    result = run("no-such-preset", report_dir=tmp_path / "runs", echo=False)
    assert not result.ok and result.run_dir is None and result.report_html is None
    page = result._repr_html_()
    assert "made no report" in page and "no-such-preset" in html.unescape(page)
    assert "Traceback" not in result.output
    assert repr(result) == f"Run(returncode={result.returncode}, report='no run folder')"
    assert isinstance(result, Run)


def test_its_results_are_read_by_the_checked_reader(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    data = json.loads((FIXTURES / "run3.json").read_text())
    (run_dir / RESULTS_FILE_NAME).write_text(json.dumps(data))
    result = Run(0, "", run_dir)
    assert result.result_model.to_dict() == data and result.results == data
    # A damaged file is one sentence naming the field, as the reports say it, not a KeyError
    # or a model built from a half-read file.
    del data["rows"][0]["processes"][0]["status"]
    (run_dir / RESULTS_FILE_NAME).write_text(json.dumps(data))
    with pytest.raises(UnreadableResult, match=r"rows\[0\]\.processes\[0\]\.status"):
        result.result_model  # noqa: B018
    assert Run(0, "", None).result_model is None
