"""Dependency ranges, the constraints files and the matrix: the bounds agree everywhere, and a
framework older than its bound skips its rows with the version found and the one needed."""

import importlib.metadata
import re
import tomllib

import pytest

from frameworks import IMPLEMENTATIONS, FrameworkNotInstalled, versions
from tests.helpers import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETS = ("cpu", "gpu", "oldest", "colab", "newest")


def requirements():
    """Every requirement of the base install and the extras: (name, operator, version)."""
    project = PYPROJECT["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += [line for line in extra if not line.startswith("sidebyside")]
    parsed = []
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]+\])?(>=|==|<|<=|~=)([0-9.]+)", line)
        assert match, f"pyproject.toml: {line!r} is not NAME[EXTRAS]>=VERSION"
        parsed.append((match.group(1), match.group(3), match.group(4)))
    return parsed


def pins(name):
    """constraints/NAME.txt as {package: version}."""
    found = {}
    for line in (ROOT / "constraints" / f"{name}.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            package, version = line.split("==")
            found[package] = version
    return found


def test_every_requirement_is_a_lower_bound_without_an_upper_one():
    assert {op for _, op, _ in requirements()} == {">="}


def test_the_skips_bounds_are_pyprojects():
    bounds = {name: version for name, _, version in requirements()}
    for module, version in versions.MINIMUM.items():
        assert bounds[module] == version, module


def test_the_oldest_set_is_every_lower_bound():
    oldest = pins("oldest")
    for name, _, version in requirements():
        assert oldest[name] == version, name


@pytest.mark.parametrize("name", SETS)
def test_every_set_lies_within_the_ranges(name):
    pinned = pins(name)
    for package, _, version in requirements():
        if package in pinned:
            assert versions.parse(pinned[package]) >= versions.parse(version), package


def test_the_matrix_covers_python_3_11_to_3_13_in_tox_and_ci():
    tox = (ROOT / "tox.ini").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for name, python in (("oldest", "3.11"), ("colab", "3.13"), ("newest", "3.12")):
        assert f"[testenv:matrix-{name}]" in tox and f"constraints/{name}.txt" in tox
        assert f"\"{name} python{python}\"" in ci, name
    assert "-c constraints/cpu.txt" in ci


@pytest.mark.parametrize(("version", "parsed"), [
    ("2.11.0+cu128", (2, 11, 0)), ("2.21.0rc1", (2, 21, 0)), ("0.12.0.1", (0, 12, 0, 1)),
    ("3.13.2", (3, 13, 2)),
])
def test_parse(version, parsed):
    assert versions.parse(version) == parsed


def test_a_framework_below_its_bound_skips_with_the_version_found_and_needed(monkeypatch):
    found = importlib.metadata.version("numpy")
    monkeypatch.setitem(versions.MINIMUM, "numpy", "99.0")
    with pytest.raises(FrameworkNotInstalled) as info:
        IMPLEMENTATIONS["numpy"].require()
    assert str(info.value) == (
        f"numpy cannot run here: numpy {found} is installed, but 99.0 or newer is needed "
        f"(the oldest version the suite is tested with): pip install -U 'numpy>=99.0'")
    monkeypatch.setitem(versions.MINIMUM, "numpy", found)
    IMPLEMENTATIONS["numpy"].require()


def test_tensorflow_is_found_under_either_distribution(monkeypatch):
    def version(dist):
        if dist == "tensorflow-cpu":
            return "2.18.0"
        raise importlib.metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(importlib.metadata, "version", version)
    assert versions.installed("tensorflow") == ("tensorflow-cpu", "2.18.0")
    assert "pip install -U 'tensorflow-cpu>=" in versions.too_old("tensorflow")
    assert versions.describe(["tensorflow", "jax"]) == "tensorflow 2.18.0, jax not installed"


def test_a_report_command_without_pandas_says_so_in_one_sentence(tmp_path):
    """The reports' needs are in the base install; an environment that lacks one anyway gets
    one sentence naming it, not a traceback."""
    import subprocess
    import sys

    from tests.helpers import QUIET_ENV

    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "pandas.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'pandas'\", name='pandas')\n")
    env = {**QUIET_ENV, "PATH": "/usr/bin:/bin",
           "PYTHONPATH": f"{blocked}:{ROOT}"}
    result = subprocess.run([sys.executable, "-P", "-m", "reports", "build",
                             str(ROOT / "tests" / "fixtures" / "run_new.json"),
                             "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "python -m reports: error: build needs pandas, which is not installed: pip install "
        "pandas matplotlib scipy (the project's own install, pip install -e ., brings all "
        "three)"]


def test_every_framework_too_old_is_named_at_once_and_missing_ones_get_their_extra(monkeypatch):
    impl = IMPLEMENTATIONS["keras-jax"]
    monkeypatch.setattr(versions, "too_old", lambda module: f"{module} is old" if module in (
        "keras", "jax") else None)
    monkeypatch.setattr(type(impl), "missing", lambda self: [])
    with pytest.raises(FrameworkNotInstalled) as info:
        impl.require()
    assert str(info.value) == "keras-jax cannot run here: keras is old; jax is old"
    monkeypatch.setattr(type(impl), "missing", lambda self: ["keras", "jax"])
    with pytest.raises(FrameworkNotInstalled) as info:
        impl.require()
    assert str(info.value) == (
        "keras-jax needs keras and jax, which are not installed: pip install -e '.[jax]' in "
        "the project's folder (add -c constraints/cpu.txt for the CPU builds the README "
        "measured with)")
    monkeypatch.setattr(type(impl), "missing", lambda self: ["jax"])
    with pytest.raises(FrameworkNotInstalled, match="needs jax, which is not installed"):
        impl.require()


def test_a_report_library_that_fails_to_import_is_one_sentence_naming_the_first_cause(tmp_path):
    """pandas built for a newer numpy raises ImportError("C extension: None not built")
    from ImportError("Please upgrade numpy ..."): the command names the first."""
    import subprocess
    import sys

    (tmp_path / "pandas.py").write_text(
        "try:\n"
        "    raise ImportError('Please upgrade numpy to >= 2.0.2 to use this pandas version.')\n"
        "except ImportError as e:\n"
        "    raise ImportError('C extension: None not built.') from e\n")
    env = dict(__import__("os").environ, PYTHONPATH=f"{tmp_path}:{ROOT}")
    done = subprocess.run([sys.executable, "-m", "reports", "build",
                           str(ROOT / "tests" / "fixtures" / "run_old.json"), "--out",
                           str(tmp_path / "out")], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "python -m reports: error: build could not import what it needs here: Please upgrade "
        "numpy to >= 2.0.2 to use this pandas version. (pip install -U pandas matplotlib scipy "
        "numpy)"]
