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


# Checks run on arrays in blocks of this many rows, so that their temporaries stay
# small: a check must not add memory that grows with the data set to a measured epoch.
_CHECK_ROWS = 1 << 16

WEIGHT_NAMES = ("W1", "b1", "W2", "b2")


def weight_shapes(spec: SimpleNetSpec) -> list[tuple[int, ...]]:
    """The shapes of ``[W1, b1, W2, b2]`` in the Keras layout for ``spec``."""
    return [(spec.input_size, spec.hidden_size), (spec.hidden_size,), (spec.hidden_size, 1), (1,)]


def _float32_array(value, name: str, expected: str) -> np.ndarray:
    """``value`` as a float32 array; ValueError unless it holds real numbers that stay finite."""
    try:
        array = np.asarray(value)
    except Exception as err:  # e.g. a ragged list
        raise ValueError(f"{name} must be an array of numbers of shape {expected}, "
                         f"got {type(value).__name__} ({err})") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be an array of real numbers of shape {expected}, "
                         f"got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    # min and max propagate NaN and need no temporary as large as the array.
    if array.size and not (np.isfinite(array.min()) and np.isfinite(array.max())):
        raise ValueError(f"{name} must have finite values (shape {expected}), "
                         f"got NaN, inf or a value beyond float32's range")
    return array


def check_features(X, spec: SimpleNetSpec) -> np.ndarray:
    """``X`` as a float32 array of shape ``(n, spec.input_size)`` with n >= 1 and finite values.

    Raises ``ValueError`` naming ``X`` and the expected shape. No copy when ``X`` is
    already a float32 numpy array.
    """
    expected = f"(n, {spec.input_size}) with n >= 1"
    X = _float32_array(X, "X", expected)
    if X.ndim != 2 or X.shape[1] != spec.input_size or X.shape[0] < 1:
        raise ValueError(f"X must have shape {expected}, got shape {X.shape}")
    return X


def check_features_labels(X, y, spec: SimpleNetSpec,
                          need_labels: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """``(X, y)`` checked, as float32 arrays, ``y`` reshaped to ``(n, 1)``; the same in every twin.

    ``X``: shape ``(n, spec.input_size)``, n >= 1, finite. ``y``: shape ``(n,)`` or
    ``(n, 1)`` with the same n, labels 0 or 1. With ``need_labels=False`` a ``y`` of
    None is allowed and returned as None. Raises ``ValueError`` naming the argument
    and the expected shape. No copies when both are float32 numpy arrays.
    """
    X = check_features(X, spec)
    if y is None and not need_labels:
        return X, None
    n = X.shape[0]
    expected = f"({n},) or ({n}, 1), as X has {n} rows"
    y = _float32_array(y, "y", expected)
    if y.shape not in ((n,), (n, 1)):
        raise ValueError(f"y must have shape {expected}, got shape {y.shape}")
    y = y.reshape(n, 1)
    for start in range(0, n, _CHECK_ROWS):
        block = y[start:start + _CHECK_ROWS]
        is_label = (block == 0) | (block == 1)
        if not np.all(is_label):
            raise ValueError(f"y must hold labels 0 or 1 in shape {expected}, "
                             f"got {block[~is_label][0]:g}")
    return X, y


def check_weights(weights, spec: SimpleNetSpec) -> list[np.ndarray]:
    """``[W1, b1, W2, b2]`` checked against ``spec``, as float32 arrays (no copy where possible).

    Shapes (Keras layout): W1 ``(input_size, hidden_size)``, b1 ``(hidden_size,)``,
    W2 ``(hidden_size, 1)``, b2 ``(1,)``; values finite. Raises ``ValueError`` naming
    the weight and its expected shape, or the count for a list that is not of four.
    """
    shapes = weight_shapes(spec)
    try:
        count = len(weights)
    except TypeError:
        count = None
    if count != len(shapes):
        raise ValueError(f"weights must be a list of 4 arrays [W1, b1, W2, b2] of shapes "
                         f"{', '.join(map(str, shapes))}, got "
                         f"{count if count is not None else type(weights).__name__}"
                         f"{' arrays' if count is not None else ''}")
    checked = []
    for name, shape, value in zip(WEIGHT_NAMES, shapes, weights):
        array = _float32_array(value, name, str(shape))
        if array.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got shape {array.shape}")
        checked.append(array)
    return checked


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
        """Load weights in the Keras layout and reset the optimiser's state.

        ValueError (from ``check_weights``) naming a weight of the wrong shape.
        """

    @abc.abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probabilities of class 1, shape ``(n, 1)``, float32 numpy, for ``X`` of shape
        ``(n, input_size)``; ValueError (from ``check_features``) for a bad ``X``."""

    @abc.abstractmethod
    def train_step(self, X: np.ndarray, y: np.ndarray) -> float:
        """One Adam update on one batch; the batch's loss from this step's forward pass.

        ``X`` ``(n, input_size)``, ``y`` ``(n,)`` or ``(n, 1)``; ValueError (from
        ``check_features_labels``) for bad inputs.
        """

    def train_epoch(self, X: np.ndarray, y: np.ndarray) -> float:
        """Batches of ``spec.batch_size`` in the given order; the mean loss per sample.

        Inputs and errors as ``train_step``.
        """
        X, y = check_features_labels(X, y, self.spec)
        return self.run_epoch(X, y)

    @abc.abstractmethod
    def run_epoch(self, X: np.ndarray, y: np.ndarray) -> float:
        """``train_epoch`` on inputs that ``check_features_labels`` returned: float32 ``X``
        ``(n, input_size)`` and ``y`` ``(n, 1)``.

        The benchmark's timed region calls this, with the checks made before its clock
        starts: the suite's own input checks are not the framework's cost, and on the
        fastest rows they would be a few percent of an epoch.
        """

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """``(loss, accuracy)`` on ``X, y``, computed the same way for every twin.

        ``y`` may have shape ``(n,)`` or ``(n, 1)``; ValueError for bad inputs as in
        ``check_features_labels``.
        """
        X, y = check_features_labels(X, y, self.spec)
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
