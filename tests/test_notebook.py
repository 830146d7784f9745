"""The notebook path (README, "In a notebook"): the cell's code run headlessly, as Colab
would run it, and what Jupyter would show."""

import html

from benchmarks.notebook import Run, run
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
