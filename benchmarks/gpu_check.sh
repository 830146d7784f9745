#!/usr/bin/env bash
# The GPU rows in one command: every CUDA row the machine can run, in under 5 minutes,
# ending with the short side-by-side table (and a report folder beside the results).
#
#   bash benchmarks/gpu_check.sh [more pytest options]
#
# Run folders go under ./sidebyside-runs in the current folder (or $SIDEBYSIDE_REPORT_DIR),
# also when the script is run from an installed package. `python -P` keeps a benchmarks/ or
# reports.py of the current folder off the import path; PYTHONPATH puts the folder that holds
# this script's packages first (as the workers' own PYTHONPATH does), so that this copy of the
# suite runs even where another copy is installed in the same environment.
#
# Needs a CUDA build of the frameworks (README: "GPU"). Rows whose framework sees no
# GPU are skipped with the reason, so the same command is safe anywhere.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
suite="$here/bench_training.py"
export PYTHONPATH="$(dirname "$here")${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL=3 KERAS_HOME="${KERAS_HOME:-${TMPDIR:-/tmp}/sidebyside-keras}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec python -P -m pytest --benchmark --preset gpu -p no:cacheprovider \
    --report-dir="${SIDEBYSIDE_REPORT_DIR:-sidebyside-runs}" "$suite" "$@"
