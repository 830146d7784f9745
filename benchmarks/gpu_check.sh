#!/usr/bin/env bash
# The GPU rows in one command: every CUDA row the machine can run, in under 5 minutes,
# ending with the short side-by-side table (and a report folder beside the results).
#
#   bash benchmarks/gpu_check.sh [more pytest options]
#
# Needs a CUDA build of the frameworks (README: "GPU"). Rows whose framework sees no
# GPU are skipped with the reason, so the same command is safe anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3 KERAS_HOME="${KERAS_HOME:-${TMPDIR:-/tmp}/sidebyside-keras}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec python -m pytest --benchmark --preset gpu -p no:cacheprovider \
    --report-dir="${SIDEBYSIDE_REPORT_DIR:-reports/runs}" "$@"
