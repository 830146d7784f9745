# `pytest` runs tests/; `pytest --benchmark` runs the suite in benchmarks/ (see README).
pytest_plugins = ["benchmarks.plugin"]
