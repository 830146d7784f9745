"""SimpleNet in Keras 3: the course's Sequential model, on the tensorflow, jax or torch backend."""

from __future__ import annotations

import contextlib
import math
import os
import sys

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


class BackendMismatchError(RuntimeError):
    """Keras was already imported in this process with another backend."""


def import_keras(backend: str, device: str = "cpu"):
    """Import Keras with ``backend``; Keras fixes its backend at import, so say so if it can't."""
    # Keras on torch picks its device at import too: building a model under
    # keras.device() on that backend leaves its weights without gradients (seen with
    # Keras 3.15), so the device is chosen here instead.
    torch_device = "cuda" if device == "cuda" else "cpu"
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != backend:
            raise BackendMismatchError(
                f"Keras is already imported with the {current} backend in this process, so "
                f"keras-{backend} cannot load here (Keras fixes its backend at import): "
                f"run keras-{backend} in a process of its own."
            )
        if backend == "torch":
            from keras.src.backend.torch.core import get_device

            if get_device().split(":")[0] != torch_device:
                raise BackendMismatchError(
                    f"Keras on torch was imported for {get_device()} in this process, so it "
                    f"cannot run on {torch_device} here: run it in a process of its own."
                )
        return keras
    os.environ["KERAS_BACKEND"] = backend
    if backend == "torch":
        os.environ["KERAS_TORCH_DEVICE"] = torch_device
    import keras

    return keras


def build_model(keras, input_size=10, hidden_size=16):
    """The course's model."""
    from keras import layers

    return keras.Sequential([
        keras.Input((input_size,)),
        layers.Dense(hidden_size, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])


def matched_adam_class(keras):
    """Keras's Adam with PyTorch's epsilon placement and PyTorch's accuracy.

    Two changes to ``Adam.update_step``, marked below:
    1. Keras adds epsilon to sqrt(v) before bias correction (Kingma and Ba's "epsilon
       hat"); PyTorch adds it to sqrt(v_hat) after. The two agree when Keras's epsilon
       is eps * sqrt(1 - beta2^t).
    Measured by ``python -m frameworks.conventions``: after one epoch from the same
    start, Keras's stock Adam is 9.7e-6 (epsilon 1e-8) or 9.6e-5 (its default 1e-7)
    away from PyTorch's weights; this class is 1.5e-7 away.
    2. Keras computes 1 - beta^t in float32, where the subtraction cancels: at t = 1,
       1 - 0.999 comes out 1.3e-5 off. PyTorch computes it in float64. Here it is
       -expm1(t * log(beta)), accurate to float32's last bits.
    """
    from keras import ops

    class MatchedAdam(keras.optimizers.Adam):
        def update_step(self, gradient, variable, learning_rate):
            lr = ops.cast(learning_rate, variable.dtype)
            gradient = ops.cast(gradient, variable.dtype)
            local_step = ops.cast(self.iterations + 1, variable.dtype)
            # change 2: 1 - beta^t without cancellation
            correction_1 = _one_minus_power(ops, self.beta_1, local_step)
            correction_2 = _one_minus_power(ops, self.beta_2, local_step)
            m = self._momentums[self._get_variable_index(variable)]
            v = self._velocities[self._get_variable_index(variable)]
            alpha = lr * ops.sqrt(correction_2) / correction_1
            epsilon_hat = self.epsilon * ops.sqrt(correction_2)  # change 1
            self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
            self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
            self.assign_sub(
                variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), epsilon_hat))
            )

    return MatchedAdam


def _one_minus_power(ops, beta, step):
    """1 - beta**step for a Python float ``beta`` in [0, 1) and a float32 ``step`` >= 1.

    -expm1(step * log(beta)) has no cancellation; beta = 0 (no momentum, a common
    setting) has no logarithm, and 1 - 0**step is exactly 1.
    """
    if beta == 0:
        return ops.ones_like(step)
    return -ops.expm1(step * math.log(beta))


def clipped_bce_class(keras):
    """Binary cross-entropy of probabilities clipped to [1e-7, 1 - 1e-7], on every backend.

    Written out rather than inherited, for two reasons. Keras on TensorFlow spots the
    sigmoid and computes the loss from the logits instead (float32 rounding then
    differs from the other twins by about 1e-6). And Keras clips with ``ops.clip``,
    whose gradient on jax is 1/2 where a probability equals a bound exactly (jax
    splits the gradient of max/min at ties; Keras's second clip inside its own loss
    makes it 1/4), while torch.clamp, tf.clip_by_value and the numpy twin pass it
    whole inside the closed range and give zero outside. Saturated outputs do land
    on 1 - 1e-7 in float32, so the convention changes training there. The clip below,
    made of ``where``, passes the gradient exactly where the value is kept, on every
    backend; the formula is Keras's own (keras/src/backend/*/nn.py).
    """
    from keras import ops

    class ClippedBinaryCrossentropy(keras.losses.BinaryCrossentropy):
        def call(self, y_true, y_pred):
            p = ops.where(y_pred < PROB_EPSILON, PROB_EPSILON,
                          ops.where(y_pred > 1 - PROB_EPSILON, 1 - PROB_EPSILON, y_pred))
            y = ops.cast(y_true, p.dtype)
            return ops.mean(-(y * ops.log(p) + (1 - y) * ops.log(1 - p)), axis=-1)

    return ClippedBinaryCrossentropy


class KerasTwin(Twin):
    """``modes``: ``fit`` (Keras's own loop at the backend's default compilation),
    ``fit-xla`` (``jit_compile=True``), ``fit-spe`` (``fit`` with ``steps_per_execution``
    set to the whole epoch), ``loop`` (a ``tf.GradientTape`` step in a ``tf.function``:
    the Keras user's hand-written loop) and ``loop-xla`` (that step under
    ``tf.function(jit_compile=True)``); ``frameworks.IMPLEMENTATIONS`` lists which backend
    has which.

    ``fit-spe`` uses ``steps_per_execution = steps per epoch`` (``ceil(n_train /
    batch_size)``): Keras then runs the whole epoch from one call of its compiled
    function (a ``tf.while_loop`` on TensorFlow, a Python loop over jitted steps that
    keeps the state on the device on jax), the least Python per step that ``fit``
    allows. The price: callbacks see one batch per epoch. Keras refuses it on the torch
    backend; that mode raises ``ModeUnsupported`` with Keras's own reason."""

    backend = ""

    def __init__(self, spec, device="cpu", mode=None):
        super().__init__(spec, device, mode)
        self.keras = keras = import_keras(self.backend, device)
        self._device_scope = "gpu:0" if device == "cuda" else "cpu:0"
        self.plumbing = backends.backend(self.backend)
        if device == "cuda":
            self.plumbing.disable_tf32()  # TF32 would make GPU rows compute another function
        with self._scope():
            keras.utils.set_random_seed(spec.seed)  # the course convention's initial weights
            self.model = build_model(keras, spec.input_size, spec.hidden_size)
            if spec.convention == "course":
                optimizer = keras.optimizers.Adam(learning_rate=spec.lr)
                loss = keras.losses.BinaryCrossentropy()
            else:
                loss = clipped_bce_class(keras)()
                optimizer = matched_adam_class(keras)(
                    learning_rate=spec.lr,
                    beta_1=spec.adam_beta1,
                    beta_2=spec.adam_beta2,
                    epsilon=spec.adam_epsilon,
                )
            jit_compile = True if self.mode == "fit-xla" else "auto"
            self.model.compile(optimizer=optimizer, loss=loss, jit_compile=jit_compile,
                               steps_per_execution=self.steps_per_execution())
            self.model.optimizer.build(self.model.trainable_variables)
            if self.mode == "fit-spe":
                self._check_steps_per_execution()
            if self.mode.startswith("loop"):
                self._loop_step = _tf_loop_step(self.model, jit_compile=self.mode == "loop-xla")
            if spec.convention == "matched":
                self.set_weights(initial_weights(spec))

    def get_weights(self):
        return [np.asarray(w, dtype=np.float32).copy() for w in self.model.get_weights()]

    def set_weights(self, weights):
        with self._scope():
            self.model.set_weights(check_weights(weights, self.spec))
            optimizer = self.model.optimizer
            optimizer.iterations.assign(0)
            for slot in optimizer._momentums + optimizer._velocities:
                slot.assign(np.zeros(slot.shape, np.float32))

    def predict(self, X):
        X = check_features(X, self.spec)
        with self._scope():
            out = [self.model(X[b], training=False) for b in batch_slices(len(X), 1 << 16)]
            return np.concatenate([self.keras.ops.convert_to_numpy(o) for o in out])

    def train_step(self, X, y):
        X, y = check_features_labels(X, y, self.spec)
        with self._scope():
            if self.mode.startswith("loop"):
                return float(self._loop_step(X, y))
            # train_on_batch returns the loss tracker's result, which before Keras 3.14
            # was the running mean over every call since the last reset
            # (keras-team/keras PR 22617); reset, it is this batch's loss.
            self.model.reset_metrics()
            return float(self.model.train_on_batch(X, y))

    def run_epoch(self, X, y):
        with self._scope():
            if self.mode.startswith("loop"):
                return self._tf_loop_epoch(X, y)
            history = self.model.fit(
                X, y, batch_size=self.spec.batch_size, epochs=1, shuffle=False, verbose=0
            )
            return float(history.history["loss"][0])

    def synchronize(self):
        # fit, train_on_batch and the loop below return host values, which waits for
        # the device already; this is for a caller that times anything else.
        self.plumbing.synchronize(self.device, [v.value for v in self.model.trainable_variables])

    def settings(self):
        spec, optimizer = self.spec, self.model.optimizer
        return {
            **super().settings(),
            "framework_version": f"keras {self.keras.__version__}",
            "keras_backend": self.backend,
            "device_name": self.plumbing.device_name(self.device),
            "convention": spec.convention,
            "initial_weights": "shared glorot-uniform" if spec.convention == "matched"
            else "keras default (glorot-uniform, seeded by keras)",
            "adam_epsilon_placement": "after bias correction (PyTorch)"
            if spec.convention == "matched" else "before bias correction (Keras)",
            "adam_epsilon": float(optimizer.epsilon),
            "loss_clip": "from logits" if self.backend == "tensorflow" and spec.convention ==
            "course" else PROB_EPSILON,
            "compile": self._compile_description(),
            "jit_compile": bool(self.model.jit_compile),
            "steps_per_execution": self.model.steps_per_execution,
            "precision": self.keras.config.floatx(),
            **self.plumbing.settings(),
        }

    # -- plumbing ---------------------------------------------------------------------

    def _scope(self):
        if self.backend == "torch":
            return contextlib.nullcontext()  # the device was chosen at import (see above)
        return self.keras.device(self._device_scope)

    def steps_per_execution(self) -> int:
        """Batches per call of Keras's compiled function: the whole epoch in ``fit-spe``."""
        if self.mode != "fit-spe":
            return 1
        return -(-self.spec.n_train // self.spec.batch_size)

    def _check_steps_per_execution(self):
        # Keras on torch refuses steps_per_execution > 1 when it builds the train
        # function; asking now turns a failure mid-run into a clear skip.
        try:
            self.model.make_train_function()
        except ValueError as err:
            from frameworks import ModeUnsupported

            raise ModeUnsupported(
                f"{self.name} cannot run fit-spe: Keras {self.keras.__version__} says "
                f"{str(err).splitlines()[0]}") from None

    def _compile_description(self):
        if self.mode == "loop":
            return "tf.function (graph, no XLA)"
        if self.mode == "loop-xla":
            return "tf.function(jit_compile=True) (XLA)"
        spe = self.model.steps_per_execution
        return (f"model.fit, jit_compile={bool(self.model.jit_compile)}"
                + (f", steps_per_execution={spe} (the whole epoch)" if spe > 1 else ""))

    def _tf_loop_epoch(self, X, y):
        import tensorflow as tf

        batches = tf.data.Dataset.from_tensor_slices((X, y)).batch(self.spec.batch_size)
        total = tf.constant(0.0)
        for x_batch, y_batch in batches:
            total += self._loop_step(x_batch, y_batch) * tf.cast(tf.shape(x_batch)[0], tf.float32)
        return float(total) / len(X)


def _tf_loop_step(model, jit_compile=False):
    """The Keras user's hand-written training step: GradientTape inside a tf.function
    (compiled by XLA when ``jit_compile``)."""
    import tensorflow as tf

    loss_fn = model.loss
    optimizer = model.optimizer

    @tf.function(jit_compile=jit_compile)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            output = model(x, training=True)
            loss = loss_fn(y, output)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return train_step


class KerasTensorflowTwin(KerasTwin):
    name = "keras-tensorflow"
    backend = "tensorflow"


class KerasJaxTwin(KerasTwin):
    name = "keras-jax"
    backend = "jax"


class KerasTorchTwin(KerasTwin):
    name = "keras-torch"
    backend = "torch"
