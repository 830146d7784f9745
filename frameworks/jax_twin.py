"""SimpleNet in pure JAX: a params dict, ``forward``, ``loss`` and a jitted ``train_step``.

The manual car on JAX, as the course's loop is on PyTorch. Two modes:

- ``loop``: the jitted step called once per batch from Python;
- ``scan``: the epoch's full batches as one ``jax.lax.scan`` of that step and the
  partial last batch as one more step, both in one compiled call, so the updates are
  exactly those of the other twins (full batches first, then the rest, as
  ``batch_slices`` gives them).

Adam is written out, as in the numpy twin, rather than taken from optax: optax's
``scale_by_adam`` does put epsilon after bias correction as PyTorch does
(``m_hat / (sqrt(v_hat + eps_root) + eps)``), but it computes ``1 - beta**t`` in
float32, where the subtraction cancels (at t = 1, 1 - 0.999 is 1.3e-5 off in relative
terms); PyTorch computes it in float64. Here it is ``-expm1(t * log(beta))``, accurate
to float32's last bits, as in the Keras twin's matched Adam.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from frameworks import backends
from frameworks.base import (
    PROB_EPSILON,
    Twin,
    batch_slices,
    check_features,
    check_features_labels,
    check_weights,
)
from frameworks.data import initial_weights

PARAM_NAMES = ("W1", "b1", "W2", "b2")


def forward(params, X):
    """Probabilities of class 1, shape ``(n, 1)``: Linear -> ReLU -> Linear -> sigmoid."""
    h = jax.nn.relu(X @ params["W1"] + params["b1"])
    return jax.nn.sigmoid(h @ params["W2"] + params["b2"])


def loss(params, X, y):
    """Mean binary cross-entropy of the probabilities clipped to [1e-7, 1 - 1e-7]."""
    p = clip_probabilities(forward(params, X))
    return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))


def clip_probabilities(p):
    """``p`` clipped to [1e-7, 1 - 1e-7], its gradient passed whole on the bounds.

    ``jnp.clip`` halves the gradient where ``p`` equals a bound (a tie in its min and
    max); torch's clamp and the numpy twin pass it whole, and with a large learning
    rate that one sample's half gradient moved the weights by 1 within seven steps.
    """
    return jnp.where(p < PROB_EPSILON, PROB_EPSILON, jnp.where(p > 1 - PROB_EPSILON,
                                                               1 - PROB_EPSILON, p))


def adam_init(params):
    """Adam's state: the step count ``t`` and the first and second moments, all zero."""
    zeros = {k: jnp.zeros_like(v) for k, v in params.items()}
    return {"t": jnp.zeros((), jnp.int32), "m": zeros, "v": dict(zeros)}


def bias_correction(beta, t):
    """``1 - beta**t`` as ``-expm1(t * log(beta))``: no cancellation in float32; 1 if beta is 0."""
    return -jnp.expm1(t * math.log(beta)) if beta > 0 else jnp.float32(1.0)


def adam_update(params, grads, state, lr, beta1, beta2, eps):
    """One Adam update with PyTorch's epsilon placement: eps is added to sqrt(v_hat)."""
    t = state["t"] + 1
    step_size = lr / bias_correction(beta1, t.astype(jnp.float32))
    correction2_sqrt = jnp.sqrt(bias_correction(beta2, t.astype(jnp.float32)))
    m = {k: beta1 * state["m"][k] + (1 - beta1) * grads[k] for k in params}
    v = {k: beta2 * state["v"][k] + (1 - beta2) * grads[k] * grads[k] for k in params}
    new_params = {k: params[k] - step_size * m[k] / (jnp.sqrt(v[k]) / correction2_sqrt + eps)
                  for k in params}
    return new_params, {"t": t, "m": m, "v": v}


@partial(jax.jit, static_argnames=("hyper",))
def train_step(params, state, X, y, hyper):
    """One Adam step on one batch: ``(params, state, loss)``; ``hyper`` is (lr, b1, b2, eps)."""
    batch_loss, grads = jax.value_and_grad(loss)(params, X, y)
    params, state = adam_update(params, grads, state, *hyper)
    return params, state, batch_loss


@partial(jax.jit, static_argnames=("hyper", "batch_size"))
def train_epoch_scan(params, state, X, y, hyper, batch_size):
    """One epoch as one compiled call: ``(params, state, mean loss per sample)``.

    The full batches of ``batch_size`` rows run as one ``jax.lax.scan`` of
    ``train_step``; the partial last batch, if any, as one more step after it, as in
    every twin. The shapes are static, so both are in the same compiled function.
    """
    n = X.shape[0]
    steps = n // batch_size
    full = steps * batch_size

    def body(carry, batch):
        params, state, batch_loss = train_step(*carry, *batch, hyper)
        return (params, state), batch_loss

    batches = (X[:full].reshape(steps, batch_size, X.shape[1]),
               y[:full].reshape(steps, batch_size, y.shape[1]))
    (params, state), losses = jax.lax.scan(body, (params, state), batches)
    total = jnp.sum(losses) * batch_size
    if full < n:
        params, state, last = train_step(params, state, X[full:], y[full:], hyper)
        total += last * (n - full)
    return params, state, total / n


predict_probabilities = jax.jit(forward)


class JaxTwin(Twin):
    name = "jax"

    def __init__(self, spec, device="cpu", mode=None):
        super().__init__(spec, device, mode)
        self.plumbing = backends.backend("jax")
        if device == "cuda":
            self.plumbing.disable_tf32()  # TF32 would make GPU rows compute another function
        self.jax_device = jax.devices("gpu" if device == "cuda" else "cpu")[0]
        self.hyper = (spec.lr, spec.adam_beta1, spec.adam_beta2, spec.adam_epsilon)
        # No defaults of its own (the course has no JAX lesson): always the matched convention.
        self.set_weights(initial_weights(spec))

    def get_weights(self):
        return [np.asarray(self.params[k], dtype=np.float32).copy() for k in PARAM_NAMES]

    def set_weights(self, weights):
        weights = check_weights(weights, self.spec)
        self.params = {k: self._array(w) for k, w in zip(PARAM_NAMES, weights)}
        # All of it committed to the device: an uncommitted step count would make the
        # second call compile the step again (seen with jax_log_compiles).
        self.state = jax.device_put(adam_init(self.params), self.jax_device)

    def predict(self, X):
        X = check_features(X, self.spec)
        return np.asarray(predict_probabilities(self.params, self._array(X)))

    def train_step(self, X, y):
        X, y = check_features_labels(X, y, self.spec)
        self.params, self.state, batch_loss = train_step(
            self.params, self.state, self._array(X), self._array(y), self.hyper)
        return float(batch_loss)

    def run_epoch(self, X, y):
        X, y = self._array(X), self._array(y)
        n, batch_size = len(X), self.spec.batch_size
        if self.mode == "scan":
            self.params, self.state, mean_loss = train_epoch_scan(
                self.params, self.state, X, y, self.hyper, batch_size)
            return float(mean_loss)
        # The running loss stays on the device, as in the torch twin: a float() per step
        # would wait for every step.
        total = jnp.zeros((), jnp.float32)
        for batch in batch_slices(n, batch_size):
            self.params, self.state, batch_loss = train_step(
                self.params, self.state, X[batch], y[batch], self.hyper)
            total += batch_loss * (batch.stop - batch.start)
        return float(total) / n

    def synchronize(self):
        self.plumbing.synchronize(self.device, self.params)

    def settings(self):
        spec = self.spec
        return {
            **super().settings(),
            "framework_version": f"jax {jax.__version__}",
            "device_name": self.plumbing.device_name(self.device),
            "convention": "matched",
            "initial_weights": "shared glorot-uniform",
            "adam_epsilon_placement": "after bias correction (PyTorch)",
            "adam_epsilon": spec.adam_epsilon,
            "adam_implementation": "written out (jax.numpy), 1 - beta^t as -expm1",
            "loss_clip": PROB_EPSILON,
            "compile": "jax.jit step, epoch as jax.lax.scan" if self.mode == "scan"
            else "jax.jit step per batch",
            "precision": "float32",
            **self.plumbing.settings(),
        }

    # -- plumbing ---------------------------------------------------------------------

    def _array(self, a):
        return jax.device_put(np.asarray(a, dtype=np.float32), self.jax_device)
