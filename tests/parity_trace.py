"""Runs one implementation through the parity script and saves what it computed.

    python tests/parity_trace.py NAME[:MODE][@DEVICE] OUT.npz

Run as a subprocess by test_parity.py, because Keras fixes its backend at import and
so each Keras backend needs a process of its own.
"""

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
    out["epoch_step_losses"] = [net.train_step(X[b], y[b]) for b in batch_slices(len(X), 32)]
    out["epoch_step_weights"] = net.get_weights()

    net.set_weights(initial_weights(spec))
    out["epoch_mean_loss"] = net.train_epoch(X, y)
    out["epoch_weights"] = net.get_weights()
    return out


def main(argv):
    label, path = argv
    label, _, device = label.partition("@")
    name, _, mode = label.partition(":")
    result = trace(name, mode or None, device or "cpu")
    arrays = {}
    for key, value in result.items():
        if isinstance(value, list) and isinstance(value[0], np.ndarray):
            for i, w in enumerate(value):
                arrays[f"{key}_{i}"] = w
        else:
            arrays[key] = np.asarray(value)
    np.savez(path, **arrays)


if __name__ == "__main__":
    main(sys.argv[1:])
