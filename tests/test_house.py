"""The house rules a newcomer relies on: small files and functions, and a report path that is a
pipeline, without call-backs between modules and entering each stage once
(tools/code_sizes.py, tools/trace_report_path.py)."""

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


def test_the_report_path_is_a_pipeline_of_stages_each_entered_once():
    # Each report module is entered with the model and hands back its section: no module
    # calls into one that is still waiting for it (a call-back), and no stage is entered
    # again once control has left it, so the stages' path returns only to a driver, once
    # per stage it called: its stops are 2 x stages - 1.
    out = subprocess.run([sys.executable, "tools/trace_report_path.py", "--stages"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "MPLBACKEND": "Agg",
                              "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    value = {line.split(": ")[0]: line.split(": ")[1] for line in lines if ": " in line
             and not line.startswith(" ")}
    assert int(value["stops"]) > 50  # the build was traced, the result model with it
    assert value["call-backs into a module on the stack"] == "0", out.stdout
    assert value["stage re-entries"] == "0", out.stdout
    assert "reports/cells.py" in value["shared helpers"]
    stages = [line for line in lines[lines.index(next(x for x in lines if x.startswith(
        "stage returns"))) + 1:] if line.startswith("  ") and "reports/" in line
        and "->" not in line]
    assert len(stages) >= 15  # the driver, every section and every renderer
    assert int(value["stage stops"]) == 2 * len(stages) - 1, out.stdout
