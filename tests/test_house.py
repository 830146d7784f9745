"""The house rules a newcomer relies on: small files and functions, and a report path
without call-backs between modules (tools/code_sizes.py, tools/trace_report_path.py)."""

import os
import subprocess
import sys

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import code_sizes  # noqa: E402

PACKAGES = ("frameworks", "benchmarks", "results", "reports")


def test_no_source_file_over_400_lines_and_no_function_over_60():
    files = sorted(p for package in PACKAGES for p in (ROOT / package).glob("*.py"))
    assert len(files) > 50  # the packages were found
    long_files = [(p.name, n) for p in files
                  if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400]
    long_functions = [(n, where) for p in files for n, where in code_sizes.function_lengths(p)
                      if n > 60]
    assert long_files == [] and long_functions == []


def test_the_report_path_has_no_call_backs_between_modules():
    # Each report module is entered with the model and hands back its section: no module
    # calls into one that is still waiting for it.
    out = subprocess.run([sys.executable, "tools/trace_report_path.py"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "MPLBACKEND": "Agg",
                              "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("stops: ") for line in lines)  # the build was traced
    assert "call-backs into a module on the stack: 0" in lines, out.stdout
