"""The twins compute the same function: same weights and batches in, same numbers out.

Every implementation runs tests/parity_trace.py in its own process (Keras fixes its
backend at import); the tolerances are the issue's: 1e-6 for a forward pass, one
step and every step's loss, 1e-5 for the weights after one epoch of 313 steps.
"""

import itertools
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.options import TAGS, VARIANTS
from frameworks import IMPLEMENTATIONS, ModeUnsupported, SimpleNetSpec
from tests.helpers import TRACE, framework_env, run_python, run_traces

FORWARD_TOL = 1e-6
STEP_TOL = 1e-6
LOSS_TOL = 1e-6
EPOCH_WEIGHT_TOL = 1e-5

# Modes that their framework refuses (the benchmark shows them as skipped rows); a
# test below checks that they are refused, and with the framework's reason.
REFUSED = {"keras-torch:fit-spe": "steps_per_execution"}
# Every variant the benchmarks time that runs on the CPU, read from the registry: a new
# mode cannot be timed without being checked here. CUDA-only modes: test_cuda_only_*.
# Data-parallel variants and their single-process twins (which train in the course's mode,
# traced here): tests/test_distributed.py checks them against one process at the global
# batch, with their engine's replicas made before the framework starts.
DATA_PARALLEL = {f"{impl}:{mode}" for variant, (impl, mode) in VARIANTS.items()
                 if TAGS[variant] == "distributed"}
LABELS = [f"{impl}:{mode}" for impl, mode in VARIANTS.values()
          if "cpu" in IMPLEMENTATIONS[impl].devices_for(mode)
          and f"{impl}:{mode}" not in REFUSED and f"{impl}:{mode}" not in DATA_PARALLEL]
CUDA_ONLY = [f"{impl}:{mode}" for impl, mode in VARIANTS.values()
             if "cpu" not in IMPLEMENTATIONS[impl].devices_for(mode)]
FLOOR = "numpy:loop"


@pytest.fixture(scope="session")
def traces(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("parity")
    env = framework_env(tmp_path_factory, TORCHINDUCTOR_CACHE_DIR=str(out_dir / "inductor"))
    return run_traces(LABELS, out_dir, env)


def test_every_implementation_and_variant_is_traced():
    assert set(IMPLEMENTATIONS) <= {label.split(":")[0] for label in LABELS}
    covered = set(LABELS) | set(REFUSED) | set(CUDA_ONLY) | DATA_PARALLEL
    assert covered == {f"{impl}:{mode}" for impl, mode in VARIANTS.values()}


def weights(trace, key):
    return [trace[f"{key}_{i}"] for i in range(4)]


def max_abs(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


PAIRS = list(itertools.combinations(LABELS, 2))
pair_ids = [f"{a}~{b}" for a, b in PAIRS]


def test_every_implementation_has_193_parameters(traces):
    assert SimpleNetSpec().n_parameters == 193
    for label, trace in traces.items():
        assert int(trace["n_params"]) == 193, label


# Each pair test records the gap it measured (``record_property``): run with
# ``--junitxml`` to read them.
@pytest.mark.parametrize(("a", "b"), PAIRS, ids=pair_ids)
def test_forward_outputs_agree(traces, record_property, a, b):
    fa, fb = traces[a]["forward"], traces[b]["forward"]
    assert fa.shape == fb.shape == (512, 1)
    assert fa.dtype == fb.dtype == np.float32
    gap = float(np.max(np.abs(fa - fb)))
    record_property("forward_gap", gap)
    assert gap <= FORWARD_TOL


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=pair_ids)
def test_one_adam_step_agrees(traces, record_property, a, b):
    loss_gap = abs(float(traces[a]["step_loss"]) - float(traces[b]["step_loss"]))
    weight_gap = max_abs(weights(traces[a], "step_weights"), weights(traces[b], "step_weights"))
    record_property("step_loss_gap", loss_gap)
    record_property("step_weight_gap", weight_gap)
    assert loss_gap <= LOSS_TOL
    assert weight_gap <= STEP_TOL


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=pair_ids)
def test_one_epoch_of_steps_agrees(traces, record_property, a, b):
    la, lb = traces[a]["epoch_step_losses"], traces[b]["epoch_step_losses"]
    assert la.shape == lb.shape == (313,)
    loss_gap = float(np.max(np.abs(la - lb)))
    weight_gap = max_abs(weights(traces[a], "epoch_step_weights"),
                         weights(traces[b], "epoch_step_weights"))
    record_property("epoch_loss_gap", loss_gap)
    record_property("epoch_weight_gap", weight_gap)
    assert loss_gap <= LOSS_TOL
    assert weight_gap <= EPOCH_WEIGHT_TOL


@pytest.mark.parametrize("label", LABELS)
def test_train_epoch_matches_its_own_steps_and_numpy(traces, label):
    """train_epoch (Keras's fit, torch's loop) is the same 313 steps as train_step."""
    trace, floor = traces[label], traces[FLOOR]
    sizes = np.array([32] * 312 + [16])
    step_mean = float(np.sum(trace["epoch_step_losses"] * sizes) / sizes.sum())
    assert abs(float(trace["epoch_mean_loss"]) - step_mean) <= LOSS_TOL
    assert max_abs(weights(trace, "epoch_weights"), weights(trace, "epoch_step_weights")) \
        <= EPOCH_WEIGHT_TOL
    assert max_abs(weights(trace, "epoch_weights"), weights(floor, "epoch_step_weights")) \
        <= EPOCH_WEIGHT_TOL


def test_training_moved_the_weights(traces):
    """Guards the checks above against agreeing because nothing happened."""
    trace = traces[FLOOR]
    start = weights(trace, "epoch_step_weights")
    assert max_abs(start, weights(trace, "step_weights")) > 1e-3
    losses = trace["epoch_step_losses"]
    assert losses[-50:].mean() < losses[:50].mean()


@pytest.mark.parametrize("label", sorted(REFUSED))
def test_refused_modes_are_refused_with_the_frameworks_reason(label):
    """A mode the framework refuses is a skipped row with a reason, never a silent gap."""
    name, mode = label.split(":")
    result = run_python(
        "from frameworks import load, ModeUnsupported\n"
        "try:\n"
        f"    load({name!r}, mode={mode!r})\n"
        "except ModeUnsupported as err:\n"
        "    print('REFUSED', err)\n")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "REFUSED" in result.stdout and REFUSED[label] in result.stdout
    assert issubclass(ModeUnsupported, RuntimeError)


@pytest.mark.parametrize("label", CUDA_ONLY)
def test_cuda_only_variants_match_numpy(tmp_path, label):
    """CUDA graphs and kin, where a GPU is at hand (benchmarks/gpu_check.sh runs this too)."""
    probe = run_python("import torch; print(torch.cuda.is_available())")
    if probe.stdout.strip() != "True":
        pytest.skip("no CUDA device: this variant runs on CUDA only")
    path = tmp_path / "trace.npz"
    proc = subprocess.run([sys.executable, str(TRACE), f"{label}@cuda", str(path)],
                          capture_output=True, text=True, env=framework_env(), timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    floor = subprocess.run([sys.executable, str(TRACE), "numpy", str(tmp_path / "np.npz")],
                           capture_output=True, text=True, env=framework_env(), timeout=300)
    assert floor.returncode == 0, floor.stderr[-2000:]
    trace, numpy_trace = dict(np.load(path)), dict(np.load(tmp_path / "np.npz"))
    assert float(np.max(np.abs(trace["forward"] - numpy_trace["forward"]))) <= FORWARD_TOL
    assert max_abs(weights(trace, "step_weights"), weights(numpy_trace, "step_weights")) \
        <= STEP_TOL
    assert float(np.max(np.abs(trace["epoch_step_losses"] - numpy_trace["epoch_step_losses"]))) \
        <= LOSS_TOL
    assert max_abs(weights(trace, "epoch_weights"), weights(numpy_trace, "epoch_step_weights")) \
        <= EPOCH_WEIGHT_TOL
