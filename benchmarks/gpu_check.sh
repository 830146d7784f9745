#!/usr/bin/env bash
# The GPU rows in one command: first the parity of the CUDA-only variants (torch's CUDA
# graphs) against numpy, then every CUDA row the machine can run (every variant of
# benchmarks/plan.py VARIANTS on cuda: the course rows, the tuned ones such as
# torch-compile-step-cudagraphs, keras-*-fit-spe, keras-tensorflow-loop-xla, jax-scan),
# ending with the short side-by-side table (and a report folder beside the results); then the
# data-parallel rows on every GPU present (torch-ddp with nccl, one process per GPU;
# keras-jax-dp over the GPUs jax sees; keras-tensorflow-mirrored, MirroredStrategy over the
# GPUs), each beside its single-process twin, in a run folder of their own.
#
#   bash benchmarks/gpu_check.sh [more pytest options for the benchmark run]
#
# Run folders go under ./sidebyside-runs in the current folder (or $SIDEBYSIDE_REPORT_DIR),
# also when the script is run from an installed package. `python -P` keeps a benchmarks/ or
# reports.py of the current folder off the import path; PYTHONPATH puts the folder that holds
# this script's packages first (as the workers' own PYTHONPATH does), so that this copy of the
# suite runs even where another copy is installed in the same environment.
#
# Needs a CUDA build of the frameworks (README: "GPU"). Rows whose framework sees no
# GPU are skipped with the reason, so the same command is safe anywhere. The exit
# status is non-zero when either step failed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
suite="$here/bench_training.py"
export PYTHONPATH="$(dirname "$here")${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL=3 KERAS_HOME="${KERAS_HOME:-${TMPDIR:-/tmp}/sidebyside-keras}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

# The parity step needs the repository's tests/ (an installed package has none: skipped).
parity=0
tests="$(cd "$(dirname "$0")/.." && pwd)/tests/test_parity.py"
if [[ -f "$tests" ]]; then
    parity_args=(-q -p no:cacheprovider -k cuda_only)
    for arg in "$@"; do
        [[ "$arg" == "--collect-only" ]] && parity_args+=(--collect-only)
    done
    python -m pytest "$tests" "${parity_args[@]}" || parity=$?
fi
bench=0
python -P -m pytest --benchmark --preset gpu -p no:cacheprovider \
    --report-dir="${SIDEBYSIDE_REPORT_DIR:-sidebyside-runs}" "$suite" "$@" || bench=$?
# One replica per GPU present (the rows say why they are skipped where that cannot be).
gpus=$( (command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)
dp=0
python -P -m pytest --benchmark --preset gpu -p no:cacheprovider \
    --impl torch-ddp,keras-jax-dp,keras-tensorflow-mirrored --replicas "$(( gpus > 0 ? gpus : 2 ))" \
    --report-dir="${SIDEBYSIDE_REPORT_DIR:-sidebyside-runs}" "$suite" "$@" || dp=$?
if (( parity )); then
    echo "gpu_check: the CUDA-only variants' parity check failed (exit $parity)" >&2
fi
if (( dp )); then
    echo "gpu_check: the data-parallel rows failed (exit $dp)" >&2
fi
exit $(( bench ? bench : parity ? parity : dp ))
