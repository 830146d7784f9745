"""The one small interface that every SimpleNet implementation satisfies."""

from __future__ import annotations

import abc

import numpy as np

from frameworks.spec import SimpleNetSpec

# Under the matched convention every twin clips probabilities to
# [PROB_EPSILON, 1 - PROB_EPSILON] before the log of the binary cross-entropy: Keras's
# backend epsilon, which its jax and torch backends apply. PyTorch's BCELoss only
# clamps the log at -100 and Keras on TensorFlow computes the loss from the logits,
# so those two twins clip explicitly (the course convention keeps their defaults).
PROB_EPSILON = 1e-7


def binary_cross_entropy(p: np.ndarray, y: np.ndarray) -> float:
    """Mean BCE of probabilities ``p`` against labels ``y``, clipped as above, in float64."""
    p = np.clip(p.astype(np.float64), PROB_EPSILON, 1.0 - PROB_EPSILON)
    y = y.astype(np.float64)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


class Twin(abc.ABC):
    """SimpleNet in one framework: the same methods, in the same order, in every module.

    Weights cross the interface as float32 numpy arrays in the Keras layout:
    ``[W1 (in, hidden), b1 (hidden,), W2 (hidden, 1), b2 (1,)]``.
    """

    #: the implementation's name in ``frameworks.IMPLEMENTATIONS``, which lists its
    #: modes (the ways it can train) and devices
    name: str = ""

    def __init__(self, spec: SimpleNetSpec, device: str = "cpu", mode: str | None = None):
        from frameworks import IMPLEMENTATIONS  # the registry (it imports this module)

        self.spec = spec
        self.device = device
        self.mode = IMPLEMENTATIONS[self.name].resolve(mode, device)

    @abc.abstractmethod
    def get_weights(self) -> list[np.ndarray]:
        """``[W1, b1, W2, b2]`` as float32 numpy arrays in the Keras layout."""

    @abc.abstractmethod
    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Load weights in the Keras layout and reset the optimiser's state."""

    @abc.abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probabilities of class 1, shape ``(n, 1)``, float32 numpy."""

    @abc.abstractmethod
    def train_step(self, X: np.ndarray, y: np.ndarray) -> float:
        """One Adam update on one batch; the batch's loss from this step's forward pass."""

    @abc.abstractmethod
    def train_epoch(self, X: np.ndarray, y: np.ndarray) -> float:
        """Batches of ``spec.batch_size`` in the given order; the mean loss per sample."""

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """``(loss, accuracy)`` on ``X, y``, computed the same way for every twin."""
        p = self.predict(X)
        accuracy = float(np.mean((p > 0.5) == (y > 0.5)))
        return binary_cross_entropy(p, y), accuracy

    def synchronize(self) -> None:  # noqa: B027 (a no-op where nothing is queued: CPU)
        """Wait until queued device work is done; a clock may be read only after this."""

    def settings(self) -> dict:
        """The settings this twin actually uses, recorded with every result."""
        return {"implementation": self.name, "mode": self.mode, "device": self.device}


def batch_slices(n: int, batch_size: int):
    """The ``slice`` of every batch of an epoch over ``n`` rows: full batches, then the rest."""
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
