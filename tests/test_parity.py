"""The twins compute the same function: same weights and batches in, same numbers out.

Every implementation runs tests/parity_trace.py in its own process (Keras fixes its
backend at import), which traces each of its modes (tests/conftest.py's parity_traces).
The tolerances are derived from the computation by tests/tolerances.py
(docs/parity_tolerances.md): float32 forward error bounds from the data, the weights, the
number of summed terms and Adam's step, evaluated step by step. Two twins a and b are held
to the sum of their bounds against the numpy twin (the triangle inequality through it).
"""

import functools
import itertools
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.plan import TAGS, VARIANTS
from frameworks import (
    IMPLEMENTATIONS,
    ModeUnsupported,
    SimpleNetSpec,
    initial_weights,
    make_dataset,
)
from tests import tolerances
from tests.helpers import TRACE, framework_env, run_python
from tests.parity_trace import SPEC, forward_weights

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
TRACE_LABELS = LABELS  # traced once per session (tests/conftest.py)
TRACE_REFUSED = sorted(REFUSED)  # asked of their framework's trace process


@pytest.fixture(scope="session")
def traces(parity_traces):
    return {label: parity_traces[label] for label in LABELS}


def test_every_implementation_and_variant_is_traced():
    assert set(IMPLEMENTATIONS) <= {label.split(":")[0] for label in LABELS}
    covered = set(LABELS) | set(REFUSED) | set(CUDA_ONLY) | DATA_PARALLEL
    assert covered == {f"{impl}:{mode}" for impl, mode in VARIANTS.values()}


def weights(trace, key):
    return [trace[f"{key}_{i}"] for i in range(4)]


def flat(arrays):
    return np.concatenate([w.ravel() for w in arrays])


@functools.cache
def forward_bound():
    """One twin's bound on its forward pass (512, 1), from the traced inputs and weights."""
    return tolerances.forward(make_dataset(SPEC).X_test[:512], forward_weights(SPEC)).E_p


def bounds_against_numpy(trace, numpy_trace):
    """``(one step, epoch)``: tests/tolerances.py's StepBounds of ``trace`` against the
    numpy twin's, for the one step on the first 32 rows and the epoch of 313 steps."""
    data = make_dataset(SPEC)
    start = initial_weights(SPEC)
    one = tolerances.step_bounds(SPEC, data.X_train[:32], data.y_train[:32], start,
                                 flat(weights(trace, "step_weights"))[None],
                                 flat(weights(numpy_trace, "step_weights"))[None])
    X, y = data.epoch_arrays(0)
    epoch = tolerances.step_bounds(SPEC, X, y, start, trace["epoch_step_trajectory"],
                                   numpy_trace["epoch_step_trajectory"])
    return one, epoch


@pytest.fixture(scope="session")
def bounds(traces):
    """label -> its bounds against the numpy twin, computed once each, when first asked."""
    cache = {}

    def of(label):
        if label not in cache:
            cache[label] = bounds_against_numpy(traces[label], traces[FLOOR])
        return cache[label]
    return of


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
    gap = np.abs(fa - fb)
    bound = 2 * forward_bound()
    record_property("forward_gap", float(gap.max()))
    record_property("forward_bound", float(bound.max()))
    record_property("forward_gap_over_bound", float(np.max(gap / bound)))
    assert np.all(gap <= bound)


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=pair_ids)
def test_one_adam_step_agrees(traces, bounds, record_property, a, b):
    (one_a, _), (one_b, _) = bounds(a), bounds(b)
    loss_gap = abs(float(traces[a]["step_loss"]) - float(traces[b]["step_loss"]))
    weight_gap = np.abs(flat(weights(traces[a], "step_weights"))
                        - flat(weights(traces[b], "step_weights")))
    loss_bound = float(one_a.losses[0] + one_b.losses[0])
    weight_bound = one_a.weights[0] + one_b.weights[0]
    record_property("step_loss_gap", loss_gap)
    record_property("step_weight_gap", float(weight_gap.max()))
    record_property("step_loss_bound", loss_bound)
    record_property("step_weight_bound", float(weight_bound.max()))
    record_property("step_weight_gap_over_bound", float(np.max(weight_gap / weight_bound)))
    assert loss_gap <= loss_bound
    assert np.all(weight_gap <= weight_bound)


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=pair_ids)
def test_one_epoch_of_steps_agrees(traces, bounds, record_property, a, b):
    (_, epoch_a), (_, epoch_b) = bounds(a), bounds(b)
    la, lb = traces[a]["epoch_step_losses"], traces[b]["epoch_step_losses"]
    assert la.shape == lb.shape == (313,)
    loss_gap = np.abs(la - lb)
    wa, wb = traces[a]["epoch_step_trajectory"], traces[b]["epoch_step_trajectory"]
    assert wa.shape == wb.shape == (313, 193)
    assert np.array_equal(wa[-1], flat(weights(traces[a], "epoch_step_weights")))
    weight_gap = np.abs(wa - wb)
    weight_bound = epoch_a.weights + epoch_b.weights
    record_property("epoch_loss_gap", float(loss_gap.max()))
    record_property("epoch_weight_gap", float(weight_gap[-1].max()))
    record_property("epoch_loss_bound", float(np.max(epoch_a.losses + epoch_b.losses)))
    record_property("epoch_loss_gap_over_bound",
                    float(np.max(loss_gap / (epoch_a.losses + epoch_b.losses))))
    record_property("epoch_weight_bound", float(weight_bound[-1].max()))
    record_property("epoch_weight_gap_over_bound", float(np.max(weight_gap / weight_bound)))
    assert np.all(loss_gap <= epoch_a.losses + epoch_b.losses)
    assert np.all(weight_gap <= weight_bound)


@pytest.mark.parametrize("label", LABELS)
def test_train_epoch_matches_its_own_steps_and_numpy(traces, bounds, label):
    """train_epoch (Keras's fit, torch's loop) is the same 313 steps as train_step.

    Only its end is traced, so its weights are held to every step's allowance added up,
    taken along this twin's own steps (tests/tolerances.py, StepBounds.epoch_weights)."""
    trace, floor = traces[label], traces[FLOOR]
    _, epoch = bounds(label)
    sizes = np.array([32] * 312 + [16])
    step_mean = float(np.sum(trace["epoch_step_losses"] * sizes) / sizes.sum())
    assert abs(float(trace["epoch_mean_loss"]) - step_mean) <= epoch.epoch_mean_loss(sizes)
    fit = flat(weights(trace, "epoch_weights"))
    assert np.all(np.abs(fit - flat(weights(trace, "epoch_step_weights")))
                  <= epoch.epoch_weights())
    assert np.all(np.abs(fit - flat(weights(floor, "epoch_step_weights")))
                  <= epoch.epoch_weights())


def test_training_moved_the_weights(traces):
    """Guards the checks above against agreeing because nothing happened."""
    trace = traces[FLOOR]
    start = weights(trace, "epoch_step_weights")
    assert max_abs(start, weights(trace, "step_weights")) > 1e-3
    losses = trace["epoch_step_losses"]
    assert losses[-50:].mean() < losses[:50].mean()


@pytest.mark.parametrize("label", sorted(REFUSED))
def test_refused_modes_are_refused_with_the_frameworks_reason(parity_traces, label):
    """A mode the framework refuses is a skipped row with a reason, never a silent gap.

    Asked in the framework's own trace process (tests/parity_trace.py, ``refusal``): load
    raises ModeUnsupported, whose message is recorded ("" had the twin been built)."""
    reason = str(parity_traces[label]["refused"])
    assert reason and REFUSED[label] in reason
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
    one, epoch = bounds_against_numpy(trace, numpy_trace)
    assert np.all(np.abs(trace["forward"] - numpy_trace["forward"]) <= 2 * forward_bound())
    assert np.all(np.abs(flat(weights(trace, "step_weights"))
                         - flat(weights(numpy_trace, "step_weights"))) <= one.weights[0])
    assert np.all(np.abs(trace["epoch_step_losses"] - numpy_trace["epoch_step_losses"])
                  <= epoch.losses)
    assert np.all(np.abs(flat(weights(trace, "epoch_weights"))
                         - flat(weights(numpy_trace, "epoch_step_weights")))
                  <= epoch.epoch_weights())
