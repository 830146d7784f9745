"""The package as a user installs it: the plugin found through its pytest11 entry point from
any folder, reports written under the current folder, commands that a user's own reports.py
or benchmarks/ cannot hijack, gpu_check.sh installed."""

import configparser
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from reports.build import build_report
from results.format import DEFAULT_RUNS_DIR
from tests.helpers import QUIET_ENV, ROOT
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


def test_the_citation_file_names_the_folder_where_reports_land():
    """CITATION.cff tells a citer where the report's footnote is: the folder a run writes to
    by default (a path that does not exist sends them looking in vain)."""
    # The message is a folded YAML block: its words, whatever the line breaks.
    message = " ".join((ROOT / "CITATION.cff").read_text().split())
    assert f"{DEFAULT_RUNS_DIR}/<run>/report.md" in message
    assert "reports/runs" not in message


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this checkout, installed into a folder of its own."""
    base = tmp_path_factory.mktemp("package")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".venv-matrix-*", ".tox", "build", "dist", "*.egg-info", "__pycache__",
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


# -- how the plugin is loaded: entry point, the repository's conftest.py, or neither -------

def _sidebyside_entry_point_installed() -> bool:
    return any(ep.value == "benchmarks.plugin"
               for ep in importlib.metadata.entry_points(group="pytest11"))


needs_installed_entry_point = pytest.mark.skipif(
    not _sidebyside_entry_point_installed(),
    reason="sidebyside is not installed here (pip install -e .), so no pytest11 entry point")


def _quick_numpy_run(command, cwd, env, runs_dir, report_dir_args, timeout=600):
    """`pytest --benchmark --preset quick --impl numpy`: one row, one process."""
    return subprocess.run([*command, "--benchmark", "--preset", "quick", "--impl", "numpy",
                           *report_dir_args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**env, **QUIET_ENV})


def _the_run(runs_dir: Path) -> dict:
    (path,) = runs_dir.glob("*/results.json")
    return json.loads(path.read_text())


@pytest.mark.skipif(not PYTEST_SCRIPT.exists(), reason="no pytest script beside the interpreter")
def test_an_installed_suite_runs_from_another_folder(installed, tmp_path):
    """No path given, another folder, no ini file: the installed bench file is collected."""
    runs = tmp_path / "runs"
    result = _quick_numpy_run([str(PYTEST_SCRIPT)], installed["cwd"], installed["env"], runs,
                              [f"--report-dir={runs}"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout and "decoy" not in result.stdout + result.stderr
    run = _the_run(runs)
    assert [(r["id"], r["status"]) for r in run["rows"]] == [("numpy-loop-cpu-b1024", "ok")]
    assert run["complete"] is True
    assert (next(runs.iterdir()) / "report.html").exists()


@pytest.mark.skipif(not PYTEST_SCRIPT.exists(), reason="no pytest script beside the interpreter")
def test_report_dir_with_a_space_takes_an_existing_folder(installed, tmp_path):
    """`--report-dir DIR`: pytest's first look at the command line, before any plugin is
    loaded, reads the bare folder as a test path (and roots itself there); the suite's rows
    are run all the same, and the run folder goes into DIR."""
    runs = tmp_path / "existing runs"
    runs.mkdir()
    result = _quick_numpy_run([str(PYTEST_SCRIPT)], installed["cwd"], installed["env"], runs,
                              ["--report-dir", str(runs)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
    assert [r["status"] for r in _the_run(runs)["rows"]] == ["ok"]
    assert not (installed["cwd"] / DEFAULT_RUNS_DIR).exists()


@needs_installed_entry_point
def test_report_dir_with_a_space_in_the_repository(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = _quick_numpy_run([sys.executable, "-m", "pytest"], ROOT, env, runs,
                              ["--report-dir", str(runs)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert [r["status"] for r in _the_run(runs)["rows"]] == ["ok"]


def _checkout_copy(base: Path) -> Path:
    """This repository's files, as a fresh clone has them."""
    clone = base / "clone"
    shutil.copytree(ROOT, clone, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".venv-matrix-*", ".tox", "build", "dist", "*.egg-info", "__pycache__",
        "sidebyside-runs", "runs"))
    return clone


@pytest.fixture(scope="module")
def not_installed(tmp_path_factory):
    """A clone, and a Python that has every dependency but not sidebyside itself: a venv
    whose only path is a copy of this interpreter's site-packages (as links) without
    sidebyside's metadata, editable hook or packages."""
    base = tmp_path_factory.mktemp("not_installed")
    site = Path(sysconfig.get_paths()["purelib"])
    mirror = base / "site"
    mirror.mkdir()
    ours = {"benchmarks", "reports", "frameworks"}
    for entry in site.iterdir():
        if "sidebyside" in entry.name.lower() or entry.name in ours or entry.suffix == ".pth":
            continue
        (mirror / entry.name).symlink_to(entry)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True, timeout=120)
    python = venv / "bin" / "python"
    venv_site = subprocess.run([python, "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip()
    Path(venv_site, "dependencies.pth").write_text(f"{mirror}\n")
    return {"python": python, "clone": _checkout_copy(base),
            "env": {**os.environ, **QUIET_ENV, "TMPDIR": str(base)}}


def test_a_clone_that_is_not_installed_loads_the_plugin_from_its_conftest(not_installed):
    python, clone, env = not_installed["python"], not_installed["clone"], not_installed["env"]
    check = subprocess.run(
        [python, "-c", "import importlib.metadata as m, pytest; print(sorted(ep.name for ep "
         "in m.entry_points(group='pytest11')))"], capture_output=True, text=True, env=env,
        cwd=clone.parent, timeout=120)
    assert check.returncode == 0, check.stderr
    assert "sidebyside" not in check.stdout and "benchmark" in check.stdout  # the premise
    bench = subprocess.run([python, "-m", "pytest", "--benchmark", "--preset", "quick",
                            "--collect-only", "-q"], cwd=clone, env=env, capture_output=True,
                           text=True, timeout=300)
    assert bench.returncode == 0, bench.stdout[-2000:] + bench.stderr[-2000:]
    assert "benchmarks/bench_training.py::test_train[numpy-loop-cpu-b1024]" in bench.stdout
    tests = subprocess.run([python, "-m", "pytest", "--collect-only", "-q",
                            "tests/test_golden_values.py"], cwd=clone, env=env,
                           capture_output=True, text=True, timeout=300)
    assert tests.returncode == 0, tests.stdout[-2000:] + tests.stderr[-2000:]
    assert "3 tests collected" in tests.stdout


@pytest.mark.parametrize("how", [{"env": {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}},
                                 {"args": ["--disable-plugin-autoload"]},
                                 {"args": ["-p", "sidebyside", "--disable-plugin-autoload"]}],
                         ids=["env", "flag", "p-by-entry-point-name"])
def test_without_autoloading_the_conftest_or_p_loads_the_plugin_once(how):
    result = subprocess.run([sys.executable, "-m", "pytest", *how.get("args", []),
                             "--benchmark", "--preset", "quick", "--collect-only", "-q"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, **QUIET_ENV, **how.get("env", {})})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "test_train[numpy-loop-cpu-b1024]" in result.stdout
    assert "already registered" not in result.stdout + result.stderr


@needs_installed_entry_point
@pytest.mark.skipif(not PYTEST_SCRIPT.exists(), reason="no pytest script beside the interpreter")
def test_tests_of_another_checkout_are_refused_not_run_against_the_installed_copy(tmp_path):
    """The `pytest` script imports the installed copy; in a different checkout, its tests
    would check that copy: one sentence instead."""
    clone = _checkout_copy(tmp_path)
    result = subprocess.run([str(PYTEST_SCRIPT), "--collect-only", "-q",
                             "tests/test_golden_values.py"], cwd=clone, capture_output=True,
                            text=True, timeout=300, env={**os.environ, **QUIET_ENV})
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()
    assert f"not from this checkout ({clone})" in line and "python -m pytest" in line
    # `python -m pytest` puts the checkout first on the import path: its own code is tested.
    fixed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                            "tests/test_golden_values.py"], cwd=clone, capture_output=True,
                           text=True, timeout=300, env={**os.environ, **QUIET_ENV})
    assert fixed.returncode == 0 and "3 tests collected" in fixed.stdout, fixed.stderr
