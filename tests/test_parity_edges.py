"""Parity where the loss clip and Adam's edge cases are active (issue 8).

Each implementation (at its default mode) runs tests/parity_trace.py once, in its own
process, over every regime below: one short epoch of 8 steps from the shared start.
The tolerances are test_parity.py's: 1e-6 for the outputs before every step, every
step's loss and the first step's weights, 1e-5 for the weights after the epoch; near
saturation the loss may also differ by what its outputs' gap implies (see below).
Every implementation is compared with the numpy twin, so any two agree within twice
these.
"""


import numpy as np
import pytest

from frameworks import IMPLEMENTATIONS, SimpleNetSpec, initial_weights, load
from frameworks.base import PROB_EPSILON
from tests.helpers import run_regime_traces, trace_of
from tests.parity_trace import edge_inputs

FORWARD_TOL = 1e-6
STEP_TOL = 1e-6
LOSS_TOL = 1e-6
EPOCH_WEIGHT_TOL = 1e-5

BASE = {"n_train": 256, "n_test": 1, "batch_size": 32, "seed": 7}
REGIMES = [
    # Large steps: the weights move by up to lr per step, so any rounding difference is
    # amplified quickly; 8 steps is short enough for float32 to stay within 1e-5.
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


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    return run_regime_traces(tmp_path_factory, "parity_edges", REGIMES)


def clipped_bce_terms(p, y):
    """Each sample's clipped BCE in float64: what a twin's loss is made of."""
    p = np.clip(p.astype(np.float64), PROB_EPSILON, 1 - PROB_EPSILON)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


@pytest.mark.parametrize("regime", REGIME_IDS)
@pytest.mark.parametrize("label", LABELS)
def test_steps_agree_with_numpy(traces, label, regime):
    """Weights and outputs within test_parity.py's tolerances (outputs scaled with the
    inputs); each step's loss within LOSS_TOL plus the change its outputs imply.

    The batch loss is a mean of -log p or -log(1 - p), which turns an output gap dp
    into dp / p or dp / (1 - p): within FORWARD_TOL near p = 0.5, but at p = 0.99987
    (seen at lr = 0.5) one float32 ulp of p (6e-8) moves that sample's term by 4.5e-4.
    So the loss may differ by the mean gap of the per-sample terms computed, in
    float64, from the two twins' own outputs: derived from what they computed.
    """
    got, want = trace_of(traces, label), traces["numpy"]
    weights, floor = got[f"{regime}/step_weights"], want[f"{regime}/step_weights"]
    assert weights.shape == floor.shape == (STEPS, SimpleNetSpec().n_parameters)
    assert float(np.max(np.abs(weights[0] - floor[0]))) <= STEP_TOL
    assert float(np.max(np.abs(weights - floor))) <= EPOCH_WEIGHT_TOL

    outputs, floor_outputs = got[f"{regime}/step_outputs"], want[f"{regime}/step_outputs"]
    assert outputs.shape == floor_outputs.shape == (STEPS, BASE["batch_size"], 1)
    # The logit is a sum whose float32 rounding grows with its terms, which the input
    # scale multiplies: scaled inputs get the forward tolerance scaled alike.
    x_scale = REGIMES[REGIME_IDS.index(regime)].get("x_scale", 1.0)
    assert float(np.max(np.abs(outputs - floor_outputs))) <= FORWARD_TOL * x_scale

    losses, floor_losses = got[f"{regime}/step_losses"], want[f"{regime}/step_losses"]
    assert losses.shape == floor_losses.shape == (STEPS,)
    assert np.all(np.isfinite(losses))
    _, X, y = edge_inputs(REGIMES[REGIME_IDS.index(regime)])
    y = y.reshape(STEPS, BASE["batch_size"], 1)
    implied = np.mean(np.abs(clipped_bce_terms(outputs, y) - clipped_bce_terms(floor_outputs, y)),
                      axis=(1, 2))
    assert np.all(np.abs(losses - floor_losses) <= LOSS_TOL + implied), \
        (losses - floor_losses, implied)


@pytest.mark.parametrize("regime", REGIME_IDS)
@pytest.mark.parametrize("label", ["numpy", *LABELS])
def test_train_epoch_is_its_steps(traces, label, regime):
    trace = trace_of(traces, label)
    sizes = np.full(STEPS, BASE["batch_size"])
    step_mean = float(np.sum(trace[f"{regime}/step_losses"] * sizes) / sizes.sum())
    assert abs(float(trace[f"{regime}/epoch_mean_loss"]) - step_mean) <= LOSS_TOL
    assert float(np.max(np.abs(trace[f"{regime}/epoch_weights"]
                               - trace[f"{regime}/step_weights"][-1]))) <= EPOCH_WEIGHT_TOL


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
