"""The twins compute the same function: same weights and batches in, same numbers out.

Every implementation runs tests/parity_trace.py in its own process (Keras fixes its
backend at import); the tolerances are the issue's: 1e-6 for a forward pass, one
step and every step's loss, 1e-5 for the weights after one epoch of 313 steps.
"""

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from frameworks import IMPLEMENTATIONS, SimpleNetSpec
from tests.helpers import framework_env

FORWARD_TOL = 1e-6
STEP_TOL = 1e-6
LOSS_TOL = 1e-6
EPOCH_WEIGHT_TOL = 1e-5

# Every implementation at its default mode, and the other modes the benchmarks time.
LABELS = [*IMPLEMENTATIONS, "torch:compile", "keras-tensorflow:fit-xla", "keras-tensorflow:loop"]
TRACE = Path(__file__).with_name("parity_trace.py")


@pytest.fixture(scope="session")
def traces(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("parity")
    env = framework_env(tmp_path_factory, TORCHINDUCTOR_CACHE_DIR=str(out_dir / "inductor"))
    pending = list(LABELS)
    running, results = {}, {}
    while pending or running:
        while pending and len(running) < 2:  # two cores: two processes at a time
            label = pending.pop(0)
            path = out_dir / f"{label.replace(':', '_')}.npz"
            running[label] = (path, subprocess.Popen(
                [sys.executable, str(TRACE), label, str(path)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
        label = next(iter(running))
        path, proc = running.pop(label)
        output, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{label} failed:\n{output[-3000:]}"
        results[label] = dict(np.load(path))
    return results


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


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=pair_ids)
def test_forward_outputs_agree(traces, a, b):
    fa, fb = traces[a]["forward"], traces[b]["forward"]
    assert fa.shape == fb.shape == (512, 1)
    assert fa.dtype == fb.dtype == np.float32
    assert float(np.max(np.abs(fa - fb))) <= FORWARD_TOL


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=pair_ids)
def test_one_adam_step_agrees(traces, a, b):
    assert abs(float(traces[a]["step_loss"]) - float(traces[b]["step_loss"])) <= LOSS_TOL
    assert max_abs(weights(traces[a], "step_weights"), weights(traces[b], "step_weights")) \
        <= STEP_TOL


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=pair_ids)
def test_one_epoch_of_steps_agrees(traces, a, b):
    la, lb = traces[a]["epoch_step_losses"], traces[b]["epoch_step_losses"]
    assert la.shape == lb.shape == (313,)
    assert float(np.max(np.abs(la - lb))) <= LOSS_TOL
    assert max_abs(weights(traces[a], "epoch_step_weights"),
                   weights(traces[b], "epoch_step_weights")) <= EPOCH_WEIGHT_TOL


@pytest.mark.parametrize("label", LABELS)
def test_train_epoch_matches_its_own_steps_and_numpy(traces, label):
    """train_epoch (Keras's fit, torch's loop) is the same 313 steps as train_step."""
    trace, floor = traces[label], traces["numpy"]
    sizes = np.array([32] * 312 + [16])
    step_mean = float(np.sum(trace["epoch_step_losses"] * sizes) / sizes.sum())
    assert abs(float(trace["epoch_mean_loss"]) - step_mean) <= LOSS_TOL
    assert max_abs(weights(trace, "epoch_weights"), weights(trace, "epoch_step_weights")) \
        <= EPOCH_WEIGHT_TOL
    assert max_abs(weights(trace, "epoch_weights"), weights(floor, "epoch_step_weights")) \
        <= EPOCH_WEIGHT_TOL


def test_training_moved_the_weights(traces):
    """Guards the checks above against agreeing because nothing happened."""
    trace = traces["numpy"]
    start = weights(trace, "epoch_step_weights")
    assert max_abs(start, weights(trace, "step_weights")) > 1e-3
    losses = trace["epoch_step_losses"]
    assert losses[-50:].mean() < losses[:50].mean()
