"""`python -m frameworks.conventions`: the README's fairness numbers come from here."""

import re
import subprocess
import sys

from tests.helpers import ROOT, compile_cache_env, framework_env


def test_matching_adam_closes_the_gap_that_the_stock_conventions_leave(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "frameworks.conventions", "--epochs", "1", "--seeds", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=framework_env(KERAS_HOME=str(tmp_path), **compile_cache_env()))
    assert result.returncode == 0, result.stderr[-3000:]
    gaps = {label.strip(): float(value) for label, value in
            re.findall(r"^  (.+?)\s+(\d\.\de[-+]\d+)$", result.stdout, re.M)}
    matched = gaps["matched (PyTorch's epsilon placement in both)"]
    stock = gaps["Keras's own placement and default epsilon 1e-7"]
    assert matched < 1e-5
    assert stock > 10 * matched
    assert re.search(r"matched\s+torch\s+0\.\d{4} ± 0\.0000", result.stdout)
