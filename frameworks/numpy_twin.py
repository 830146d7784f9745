"""SimpleNet by hand in numpy: the framework-free floor and the third parity witness."""

from __future__ import annotations

import numpy as np

from frameworks.base import (
    PROB_EPSILON,
    Twin,
    batch_slices,
    check_features,
    check_features_labels,
    check_weights,
)
from frameworks.data import initial_weights


class SimpleNet:
    """Linear -> ReLU -> Linear -> sigmoid, with its backward pass written out."""

    def __init__(self, weights):
        self.W1, self.b1, self.W2, self.b2 = (np.array(w, dtype=np.float32) for w in weights)

    @property
    def params(self):
        return [self.W1, self.b1, self.W2, self.b2]

    def forward(self, X):
        self.X = X
        self.h_pre = X @ self.W1 + self.b1
        self.h = np.maximum(self.h_pre, 0)
        # exp overflows to inf for logits below -88, which gives the right p = 0.
        with np.errstate(over="ignore"):
            self.p = 1 / (1 + np.exp(-(self.h @ self.W2 + self.b2)))
        return self.p

    def backward(self, y):
        """Gradients of the mean BCE. The loss's gradient through the sigmoid is (p - y)/n,
        with zero where the probability clip is active (as in Keras and clipped torch)."""
        n = len(y)
        clipped = (self.p < PROB_EPSILON) | (self.p > 1 - PROB_EPSILON)
        dz = np.where(clipped, 0, self.p - y) / np.float32(n)
        dh = (dz @ self.W2.T) * (self.h_pre > 0)
        return [self.X.T @ dh, dh.sum(0), self.h.T @ dz, dz.sum(0)]


class Adam:
    """Adam with PyTorch's epsilon placement: eps is added after bias-correcting v."""

    def __init__(self, params, lr, betas, eps):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.reset()

    def reset(self):
        self.t = 0
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]

    def step(self, grads):
        self.t += 1
        b1, b2 = self.betas
        correction1 = 1 - b1**self.t
        correction2_sqrt = np.sqrt(1 - b2**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            denom = np.sqrt(v) / np.float32(correction2_sqrt) + np.float32(self.eps)
            p -= np.float32(self.lr / correction1) * m / denom


class NumpyTwin(Twin):
    name = "numpy"

    def __init__(self, spec, device="cpu", mode=None):
        super().__init__(spec, device, mode)
        # numpy has no defaults of its own: it always follows the matched convention.
        self.set_weights(initial_weights(spec))

    def get_weights(self):
        return [p.copy() for p in self.model.params]

    def set_weights(self, weights):
        self.model = SimpleNet(check_weights(weights, self.spec))
        spec = self.spec
        self.optimizer = Adam(
            self.model.params, spec.lr, (spec.adam_beta1, spec.adam_beta2), spec.adam_epsilon
        )

    def predict(self, X):
        return self.model.forward(check_features(X, self.spec)).copy()

    def train_step(self, X, y):
        return self._step(*check_features_labels(X, y, self.spec))

    def run_epoch(self, X, y):
        total = 0.0
        for batch in batch_slices(len(X), self.spec.batch_size):
            total += self._step(X[batch], y[batch]) * (batch.stop - batch.start)
        return total / len(X)

    def settings(self):
        return {
            **super().settings(),
            "framework_version": f"numpy {np.__version__}",
            "device_name": "cpu",
            "convention": "matched",
            "adam_epsilon_placement": "after bias correction (PyTorch)",
            "adam_epsilon": self.spec.adam_epsilon,
            "loss_clip": PROB_EPSILON,
            "compile": "none",
            "precision": "float32",
        }

    # -- the loop ----------------------------------------------------------------------

    def _step(self, X, y):
        p = self.model.forward(X)
        loss = _bce(p, y)
        self.optimizer.step(self.model.backward(y))
        return loss


def _bce(p, y):
    p = np.clip(p, PROB_EPSILON, 1 - PROB_EPSILON)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
