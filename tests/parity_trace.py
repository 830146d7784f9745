"""Runs one implementation through the parity script and saves what it computed.

    python tests/parity_trace.py NAME[:MODE][@DEVICE] OUT.npz [REGIMES.json]
    python tests/parity_trace.py --job JOB.json

With REGIMES.json (a list of regimes, see ``edge_trace``) it traces those short runs
instead of the default one (test_parity_edges.py). A job file (``run_job``) holds several
such traces of one implementation, run one after another in this one process: the test
session's shared fixture (tests/conftest.py) starts one such process per implementation,
so that the parity tests import each framework once. Run as a subprocess by the parity
tests, because Keras fixes its backend at import and so each Keras backend needs a process
of its own.
"""

import json
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from frameworks import SimpleNetSpec, initial_weights, load, make_dataset  # noqa: E402
from frameworks.base import batch_slices  # noqa: E402

SPEC = SimpleNetSpec(n_train=10_000, batch_size=32, seed=7)


def forward_weights(spec):
    """Weights with non-zero biases, so that the forward check covers every parameter."""
    rng = np.random.default_rng(99)
    return [(rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in initial_weights(spec)]


def trace(name, mode, device="cpu"):
    spec, data = SPEC, make_dataset(SPEC)
    net = load(name, spec, mode=mode, device=device)
    out = {"n_params": sum(w.size for w in net.get_weights())}

    net.set_weights(forward_weights(spec))
    out["forward"] = net.predict(data.X_test[:512])

    net.set_weights(initial_weights(spec))
    out["step_loss"] = net.train_step(data.X_train[:32], data.y_train[:32])
    out["step_weights"] = net.get_weights()

    X, y = data.epoch_arrays(0)
    net.set_weights(initial_weights(spec))
    losses, trajectory = [], []
    for b in batch_slices(len(X), 32):
        losses.append(net.train_step(X[b], y[b]))
        trajectory.append(np.concatenate([w.ravel() for w in net.get_weights()]))
    out["epoch_step_losses"] = losses
    out["epoch_step_weights"] = net.get_weights()
    # The weights after every step (steps, n_params): the tolerances are derived step by
    # step from the gaps before each step (tests/tolerances.py).
    out["epoch_step_trajectory"] = np.stack(trajectory)

    net.set_weights(initial_weights(spec))
    out["epoch_mean_loss"] = net.train_epoch(X, y)
    out["epoch_weights"] = net.get_weights()
    return out


def edge_inputs(regime):
    """The spec and the training arrays of one regime, in epoch 0's order."""
    spec = SimpleNetSpec(**regime["spec"])
    data = make_dataset(spec)
    X, y = data.epoch_arrays(0)
    return spec, X * np.float32(regime.get("x_scale", 1.0)), y


def edge_trace(name, mode, regimes):
    """Each regime ``{"name", "spec": SimpleNetSpec fields, "x_scale"}``: every step's
    outputs (predicted just before it), loss and weights over one epoch of train_step
    (batches of equal size), then train_epoch's mean loss and weights."""
    out = {}
    for regime in regimes:
        spec, X, y = edge_inputs(regime)
        net = load(name, spec, mode=mode)
        key = regime["name"]
        outputs, losses, weights = [], [], []
        for b in batch_slices(len(X), spec.batch_size):
            outputs.append(net.predict(X[b]))
            losses.append(net.train_step(X[b], y[b]))
            weights.append(np.concatenate([w.ravel() for w in net.get_weights()]))
        out[f"{key}/step_outputs"] = np.stack(outputs)
        out[f"{key}/step_losses"] = losses
        out[f"{key}/step_weights"] = np.stack(weights)
        net.set_weights(initial_weights(spec))
        out[f"{key}/epoch_mean_loss"] = net.train_epoch(X, y)
        out[f"{key}/epoch_weights"] = np.concatenate([w.ravel() for w in net.get_weights()])
    return out


def save(label, path, regimes=None):
    """Trace ``label`` (``NAME[:MODE][@DEVICE]``), or its ``regimes`` where given, and
    write the arrays to ``path`` (.npz)."""
    label, _, device = label.partition("@")
    name, _, mode = label.partition(":")
    if regimes:
        result = edge_trace(name, mode or None, regimes)
    else:
        result = trace(name, mode or None, device or "cpu")
    arrays = {}
    for key, value in result.items():
        if isinstance(value, list) and isinstance(value[0], np.ndarray):
            for i, w in enumerate(value):
                arrays[f"{key}_{i}"] = w
        else:
            arrays[key] = np.asarray(value)
    np.savez(path, **arrays)


def refusal(label):
    """The reason the framework gives for refusing ``NAME:MODE`` (ModeUnsupported's
    message), or "" where it builds the twin."""
    from frameworks import ModeUnsupported

    name, _, mode = label.partition(":")
    try:
        load(name, mode=mode)
    except ModeUnsupported as err:
        return str(err)
    return ""


def call(label, function, path):
    """``function`` (``module.name``, e.g. ``tests.test_api.api_outcomes``) called with the
    implementation ``label`` in this process; its JSON-able answer written to ``path``."""
    import importlib

    module, _, name = function.rpartition(".")
    with open(path, "w") as f:
        json.dump(getattr(importlib.import_module(module), name)(label), f)


def run_job(path):
    """The traces of a job file ``[{"label", "out", "regimes" (optional), "refused"
    (optional), "call" (optional)}, ...]``, in order; an entry with ``"refused": true``
    saves ``refusal``'s answer (key ``refused``) instead of a trace, and one with a
    ``"call"`` the JSON answer of that test function (``call``): a test that needs a Keras
    backend of its own asks it of this process, where the framework is imported already.

    Every label names the same implementation: one Keras backend per process."""
    with open(path) as f:
        job = json.load(f)
    names = {entry["label"].partition(":")[0].partition("@")[0] for entry in job}
    if len(names) != 1:
        raise SystemExit(f"a job traces one implementation, got {sorted(names)}")
    for entry in job:
        if entry.get("call"):
            call(entry["label"], entry["call"], entry["out"])
        elif entry.get("refused"):
            np.savez(entry["out"], refused=np.array(refusal(entry["label"])))
        else:
            save(entry["label"], entry["out"], entry.get("regimes"))


def main(argv):
    if argv[0] == "--job":
        run_job(argv[1])
        return
    label, path, *regimes = argv
    if regimes:
        with open(regimes[0]) as f:
            regimes = json.load(f)
    save(label, path, regimes or None)


if __name__ == "__main__":
    main(sys.argv[1:])
