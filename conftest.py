"""`pytest` runs tests/; `pytest --benchmark` runs the suite in benchmarks/ (see README).

The plugin is registered by the installed package's `pytest11` entry point. A checkout that is
not installed with that entry point (or runs with PYTEST_DISABLE_PLUGIN_AUTOLOAD) loads it here;
loading it in both places would register it twice, which pytest refuses.
"""

import os
from importlib.metadata import entry_points

_ENTRY_POINT_LOADS_IT = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") and any(
    ep.value == "benchmarks.plugin" for ep in entry_points(group="pytest11"))
if not _ENTRY_POINT_LOADS_IT:
    pytest_plugins = ["benchmarks.plugin"]
