"""The package as a user installs it: the plugin found through its pytest11 entry point from
any folder, reports written under the current folder, commands that a user's own reports.py
or benchmarks/ cannot hijack, gpu_check.sh installed."""

import configparser
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from reports.build import DEFAULT_RUNS_DIR, build_report
from tests.helpers import ROOT
from tests.report_cases import run_without_gpu, write

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PYTEST_SCRIPT = Path(sys.executable).with_name("pytest")


def setuptools_version() -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in importlib.metadata.version("setuptools").split(".")[:2])
    except importlib.metadata.PackageNotFoundError:
        return (0,)


def test_pyproject_registers_the_plugin_commands_and_package_data():
    assert PYPROJECT["project"]["entry-points"]["pytest11"] == {"sidebyside": "benchmarks.plugin"}
    assert PYPROJECT["project"]["scripts"]["sidebyside-reports"] == "reports.cli:console_main"
    assert PYPROJECT["tool"]["setuptools"]["package-data"]["benchmarks"] == ["gpu_check.sh"]
    assert PYPROJECT["build-system"]["requires"] == ["setuptools>=77"]  # license = "MIT"


def test_tox_lint_does_not_build_the_package():
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    assert tox["testenv:lint"]["skip_install"] == "true"
    assert tox["testenv:lint"]["dependency_groups"] == "lint"
    assert PYPROJECT["dependency-groups"]["lint"][0].startswith("ruff==")


def test_the_repository_registers_the_plugin_once():
    result = subprocess.run([sys.executable, "-m", "pytest", "--benchmark", "--help"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--preset=NAME" in result.stdout and "sidebyside-runs" in result.stdout


def test_reports_go_under_the_current_folder_by_default(tmp_path, monkeypatch):
    data = run_without_gpu()
    source = write(data, tmp_path)
    monkeypatch.chdir(tmp_path)
    out = build_report(source)
    assert out.parent == Path(DEFAULT_RUNS_DIR) and not Path(DEFAULT_RUNS_DIR).is_absolute()
    assert (tmp_path / out / "report.html").exists()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this checkout, installed into a folder of its own."""
    base = tmp_path_factory.mktemp("package")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".tox", "build", "dist", "*.egg-info", "__pycache__",
        "sidebyside-runs", "runs"))
    # Offline where the installed setuptools can build it; else pip fetches setuptools>=77.
    offline = ["--no-build-isolation"] if setuptools_version() >= (77,) else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *offline,
                    str(source), "-w", str(base / "wheel")],
                   check=True, capture_output=True, timeout=300)
    wheel = next((base / "wheel").glob("sidebyside-*.whl"))
    target = base / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(wheel)], check=True, capture_output=True,
                   timeout=300)
    # A user's folder with modules named like ours: none of them may be imported.
    cwd = base / "user"
    (cwd / "benchmarks").mkdir(parents=True)
    (cwd / "reports.py").write_text("raise SystemExit('the decoy reports.py was imported')\n")
    (cwd / "benchmarks" / "__init__.py").write_text(
        "raise SystemExit('the decoy benchmarks/ was imported')\n")
    env = {**os.environ, "PYTHONPATH": str(target)}
    return {"wheel": wheel, "target": target, "cwd": cwd, "env": env}


def test_the_wheel_holds_the_gpu_check_and_the_entry_points(installed):
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        names = wheel.namelist()
        assert "benchmarks/gpu_check.sh" in names
        entry_points = wheel.read(next(n for n in names if n.endswith("entry_points.txt")))
    assert b"[pytest11]\nsidebyside = benchmarks.plugin" in entry_points
    assert b"sidebyside-reports = reports.cli:console_main" in entry_points


@pytest.mark.skipif(not PYTEST_SCRIPT.exists(), reason="no pytest script beside the interpreter")
def test_pytest_benchmark_works_from_another_folder(installed):
    result = subprocess.run([str(PYTEST_SCRIPT), "--benchmark", "--help"], cwd=installed["cwd"],
                            env=installed["env"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--preset=NAME" in result.stdout and "decoy" not in result.stdout + result.stderr


def test_the_console_script_ignores_modules_in_the_current_folder(installed, tmp_path):
    script = installed["target"] / "bin" / "sidebyside-reports"
    source = write(run_without_gpu(), tmp_path)
    result = subprocess.run([str(script), "build", str(source), "--out", str(tmp_path / "r")],
                            cwd=installed["cwd"], env=installed["env"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r" / "report.html").exists()


def test_python_dash_p_ignores_the_current_folder_and_plain_dash_m_does_not(installed):
    safe = subprocess.run([sys.executable, "-P", "-m", "reports", "--help"],
                          cwd=installed["cwd"], env=installed["env"], capture_output=True,
                          text=True, timeout=120)
    assert safe.returncode == 0 and "build" in safe.stdout
    # Why the README says `python -P -m reports`: without -P the user's reports.py wins.
    hijacked = subprocess.run([sys.executable, "-m", "reports", "--help"],
                              cwd=installed["cwd"], env=installed["env"], capture_output=True,
                              text=True, timeout=120)
    assert "decoy reports.py" in hijacked.stderr
