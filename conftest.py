"""`pytest` runs tests/; `pytest --benchmark` runs the suite in benchmarks/ (see README).

An installed package registers the plugin through its `pytest11` entry point, which pytest
loads before it imports this file. Where that did not happen (a checkout that is not
installed, PYTEST_DISABLE_PLUGIN_AUTOLOAD, --disable-plugin-autoload) the plugin is loaded
here; loading it in both places would register one module under two names, which pytest
refuses. Whether it is loaded is read from sys.modules, not from the installed metadata:
an entry point that is installed but was not loaded still needs this file.
"""

import sys
from pathlib import Path

import pytest

_LOADED = sys.modules.get("benchmarks.plugin")
if _LOADED is None:
    pytest_plugins = ["benchmarks.plugin"]

# The entry point imports `benchmarks.plugin` by name. Run by the `pytest` script (whose
# folder, not the current one, is first on sys.path) in a checkout other than the installed
# copy, that name finds the installed copy, and the tests would check it instead of this
# checkout: say so and stop, rather than pass on the wrong code. (`pytest --benchmark` may
# run an installed suite from any folder, this one included.)
_HERE = Path(__file__).resolve().parent
_OTHER_COPY = (None if _LOADED is None or Path(_LOADED.__file__).resolve().parents[1] == _HERE
               else Path(_LOADED.__file__).resolve().parents[1])


def pytest_configure(config):
    if _OTHER_COPY is not None and not config.getoption("benchmark"):
        raise pytest.UsageError(
            f"pytest loaded sidebyside from {_OTHER_COPY}, not from this checkout ({_HERE}), "
            "so the tests would check that copy; run `python -m pytest` here, or "
            "`pip install -e .` in this checkout")
