"""The run result file's name, version and text: one place that the writer (benchmarks/) and
the readers (reports/) both import. It imports nothing of ours, so reading a result never
loads pytest or the benchmark plugin."""

import json
import math

# The `format` field of results.json (docs/result_format.md).
RESULTS_FORMAT = "sidebyside-run"
# How a run's warning about a machine busy before it opens (then the reason): the plugin
# writes it, the reports' caveats recognise it and keep only the reason.
BUSY_WARNING_PREFIX = "the machine was busy before the run: "

# History of `format_version`:
#   1: the `sidebyside` section inside pytest-benchmark's JSON (one worker process per row,
#      rounds as samples). Still read: converted to format 2 on loading (results/load.py).
#   2: a file of its own, results.json; several worker processes per row; a process is one
#      sample.
#      Fields added since, without a change of meaning: rows' tag and tuned_note (each
#      framework at its course default and at its best); plan.sweeps, rows' hidden_size and
#      n_train, processes' hidden_size and n_parameters (sweeps; absent in older files, read
#      as width 16 and plan.n_train); plan.replicas, the tag "distributed",
#      Process.distributed and a distributed row's extra Summary fields (data-parallel rows;
#      docs/result_format.md); run_id, shard (a part of a split plan), merged_from and rows'
#      machine (a run merged from parts).
#   3: resident workers sampled in interleaved rounds; a process holds many one-epoch samples
#      (samples_epoch_s) and a row's us_per_step is their 10th percentile (Summary.estimator)
#      with a two-level bootstrap interval, where format 2's was the median of the processes'
#      median epochs; the run's peak total resident memory (resources). docs/result_format.md.
RESULTS_FORMAT_VERSION = 3
# The versions of results.json that the readers take as they are (format 1 is converted).
READABLE_FORMAT_VERSIONS = (2, 3)
# What a format-2 file's us_per_step is (its summaries have no ``estimator``).
FORMAT_2_ESTIMATOR = "median"

# The name of the result file inside a run folder.
RESULTS_FILE_NAME = "results.json"

# Where `reports build` puts a report when the result file is not in a run folder, and
# where the plugin puts run folders: relative, so under the current working directory.
DEFAULT_RUNS_DIR = "sidebyside-runs"


class NonFiniteNumber(ValueError):
    """A result held NaN or infinity, which the format never stores."""


def dumps(run: dict) -> str:
    """The file's text; refuses NaN and infinity (allow_nan=False) with NonFiniteNumber."""
    try:
        return json.dumps(run, indent=1, allow_nan=False) + "\n"
    except ValueError as err:
        raise NonFiniteNumber(f"a non-finite number in the results ({err})") from None


def without_non_finite(value):
    """``value`` with every NaN or infinite float (a diverged loss, say) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: without_non_finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_non_finite(v) for v in value]
    return value
