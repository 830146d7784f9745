"""The GPU paths' CPU-side logic (CI has no GPU; benchmarks/gpu_check.sh runs the real thing)."""

import subprocess
import sys

from benchmarks.memory import GpuPeak
from benchmarks.options import make_plan
from benchmarks.plan import VARIANTS, Row
from benchmarks.runner import worker_env
from tests.helpers import ROOT, framework_env

SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def test_gpu_preset_makes_only_cuda_rows_and_no_numpy_row():
    rows = make_plan("gpu").rows()
    assert rows and all(r.device == "cuda" for r in rows)
    assert not [r for r in rows if r.implementation == "numpy"]
    assert {r.batch_size for r in rows} == {32, 1024}


def test_cpu_rows_hide_the_gpu_and_gpu_rows_do_not():
    plan = make_plan()
    cpu = worker_env(Row("keras-jax", "fit", "cpu", 32), plan, "/tmp/x")
    gpu = worker_env(Row("keras-jax", "fit", "cuda", 32), plan, "/tmp/x")
    assert cpu["CUDA_VISIBLE_DEVICES"] == "" and cpu["JAX_PLATFORMS"] == "cpu"
    assert "JAX_PLATFORMS" not in gpu or gpu["JAX_PLATFORMS"] != "cpu"
    # the allocators' peaks, not their pools
    assert gpu["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert gpu["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"


def test_gpu_peak_is_none_off_gpu():
    peak = GpuPeak("numpy")
    peak.reset()
    assert peak.peak_bytes() is None and peak.method is None


def test_the_gpu_script_parses_and_collects_the_cuda_rows():
    assert SCRIPT.stat().st_mode & 0o111, "gpu_check.sh must be executable"
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    result = subprocess.run(["bash", str(SCRIPT), "--collect-only", "-q"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env=framework_env(PATH=f"{sys.prefix}/bin:/usr/bin:/bin"))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "test_train[torch-loop-cuda-b32]" in out
    assert "test_train[keras-jax-fit-cuda-b1024]" in out
    # every variant on cuda, the CUDA-graph one too, but for one that the installed
    # framework is known to refuse (a preset leaves it out; --impl still asks for it)
    from benchmarks.plan import known_refusal

    refused = [variant for variant in VARIANTS if known_refusal(variant)]
    for variant in VARIANTS:
        if variant != "numpy-loop":
            planned = variant not in refused
            assert (f"test_train[{variant}-cuda-b32]" in out) == planned, variant
            assert (f"test_train[{variant}-cuda-b1024]" in out) == planned, variant
    # and first the CUDA-only variants' parity with numpy
    assert "test_cuda_only_variants_match_numpy[torch:compile-step-cudagraphs]" in out
    assert "cpu-b" not in out
