"""Parity where the loss clip and Adam's edge cases are active.

Each implementation (at its default mode) runs tests/parity_trace.py once, in its own
process (shared with its other parity traces, tests/conftest.py), over every regime
below: one short epoch of 8 steps from the shared start.
The tolerances are derived step by step from the computation, as in test_parity.py
(tests/tolerances.py, docs/parity_tolerances.md): the inputs' scale, the learning rate,
Adam's betas and epsilon all enter the bounds. Every implementation is compared with the
numpy twin, so any two agree within the sum of their bounds.
"""


import numpy as np
import pytest

from frameworks import IMPLEMENTATIONS, SimpleNetSpec, initial_weights, load
from frameworks.base import PROB_EPSILON
from tests import tolerances
from tests.helpers import trace_of
from tests.parity_trace import edge_inputs

BASE = {"n_train": 256, "n_test": 1, "batch_size": 32, "seed": 7}
REGIMES = [
    # Large steps: the weights move by up to lr per step, so any rounding difference is
    # amplified quickly.
    {"name": "lr=0.5", "spec": {**BASE, "lr": 0.5}},
    # Inputs scaled so that most outputs saturate: the 1e-7 probability clip is active
    # and its gradient convention (zero outside the range) decides the update.
    {"name": "saturated", "spec": {**BASE, "lr": 0.01}, "x_scale": 40.0},
    {"name": "beta1=0", "spec": {**BASE, "adam_beta1": 0.0}},
    {"name": "beta2=0.99999", "spec": {**BASE, "adam_beta2": 0.99999}},
    {"name": "beta1=0,beta2=0", "spec": {**BASE, "adam_beta1": 0.0, "adam_beta2": 0.0}},
    {"name": "epsilon=1e-3", "spec": {**BASE, "adam_epsilon": 1e-3}},
    {"name": "epsilon=1e-12", "spec": {**BASE, "adam_epsilon": 1e-12}},
]
REGIME_IDS = [r["name"] for r in REGIMES]
LABELS = [name for name in IMPLEMENTATIONS if name != "numpy"]
STEPS = BASE["n_train"] // BASE["batch_size"]


TRACE_REGIMES = REGIMES  # traced once per session (tests/conftest.py)


@pytest.fixture(scope="module")
def traces(parity_traces):
    return parity_traces


def regime_bounds(traces, label, regime):
    """tests/tolerances.py's StepBounds of ``label`` against the numpy twin in ``regime``."""
    spec, X, y = edge_inputs(REGIMES[REGIME_IDS.index(regime)])
    return tolerances.step_bounds(spec, X, y, initial_weights(spec),
                                  traces[label][f"{regime}/step_weights"],
                                  traces["numpy"][f"{regime}/step_weights"])


@pytest.mark.parametrize("regime", REGIME_IDS)
@pytest.mark.parametrize("label", LABELS)
def test_steps_agree_with_numpy(traces, record_property, label, regime):
    """Every step's weights, the outputs before it and its loss within the derived bounds.

    The input scale enters through the dot products' terms, the learning rate and Adam's
    hyperparameters through the update's sensitivity; near saturation the loss's -log p
    turns an output gap dp into dp / p (at p = 0.99987, seen at lr = 0.5, one float32 ulp
    of 1 - p moves that sample's term by 4.5e-4), which the loss bound carries.
    """
    got, want = trace_of(traces, label), traces["numpy"]
    weights, floor = got[f"{regime}/step_weights"], want[f"{regime}/step_weights"]
    assert weights.shape == floor.shape == (STEPS, SimpleNetSpec().n_parameters)
    bounds = regime_bounds(traces, label, regime)
    gaps = {"weight": np.abs(weights - floor)}
    outputs, floor_outputs = got[f"{regime}/step_outputs"], want[f"{regime}/step_outputs"]
    assert outputs.shape == floor_outputs.shape == (STEPS, BASE["batch_size"], 1)
    gaps["output"] = np.abs(outputs - floor_outputs)
    losses, floor_losses = got[f"{regime}/step_losses"], want[f"{regime}/step_losses"]
    assert losses.shape == floor_losses.shape == (STEPS,)
    assert np.all(np.isfinite(losses))
    gaps["loss"] = np.abs(losses - floor_losses)
    tolerances.assert_steps_within(bounds, gaps, record_property)


@pytest.mark.parametrize("regime", REGIME_IDS)
@pytest.mark.parametrize("label", ["numpy", *LABELS])
def test_train_epoch_is_its_steps(traces, label, regime):
    trace = trace_of(traces, label)
    bounds = regime_bounds(traces, label, regime)
    sizes = np.full(STEPS, BASE["batch_size"])
    step_mean = float(np.sum(trace[f"{regime}/step_losses"] * sizes) / sizes.sum())
    assert abs(float(trace[f"{regime}/epoch_mean_loss"]) - step_mean) \
        <= bounds.epoch_mean_loss(sizes)
    assert np.all(np.abs(trace[f"{regime}/epoch_weights"] - trace[f"{regime}/step_weights"][-1])
                  <= bounds.epoch_weights())


@pytest.mark.parametrize("regime", REGIME_IDS)
def test_every_regime_moved_the_weights(traces, regime):
    """Guards the checks above against agreeing because nothing happened."""
    weights = traces["numpy"][f"{regime}/step_weights"]
    spec = edge_inputs(REGIMES[REGIME_IDS.index(regime)])[0]
    start = np.concatenate([w.ravel() for w in initial_weights(spec)])
    assert float(np.max(np.abs(weights[-1] - start))) > 1e-3


def test_saturated_regime_has_the_clip_active():
    """Most outputs lie outside [1e-7, 1 - 1e-7], at the start and after the epoch."""
    regime = REGIMES[REGIME_IDS.index("saturated")]
    spec, X, y = edge_inputs(regime)
    net = load("numpy", spec)
    for _ in range(2):
        p = net.predict(X)
        clipped = (p < PROB_EPSILON) | (p > 1 - PROB_EPSILON)
        assert clipped.mean() > 0.5
        assert (~clipped).any()  # and some are not, so that the step still moves
        net.train_epoch(X, y)
