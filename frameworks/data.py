"""The shared, seeded binary-classification task (numpy only).

Every implementation trains on the arrays made here, in the batch order decided here,
so that a difference between two rows is a difference between frameworks, never
between data.

The task: x ~ N(0, I) in ``input_size`` dimensions, a fixed nonlinear rule
``f(x) = [x.w + x0*x1 > 0]`` (w = (1, -1, 1, ...)/sqrt(d); the product term is what the
hidden layer is for), and every label flipped with probability ``LABEL_NOISE``.
Because the flips are independent of x, the Bayes-optimal classifier is f itself and
its accuracy is exactly ``1 - LABEL_NOISE``: the ceiling printed beside every
accuracy number.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from frameworks.spec import SimpleNetSpec

LABEL_NOISE = 0.1
DATA_FORMAT_VERSION = 1  # bump when the same seed would give other bytes

# Rows are generated in fixed-size chunks so that 10^7 samples need no temporary
# larger than one chunk. The chunk size is part of the byte stream: never change it
# without bumping DATA_FORMAT_VERSION.
_CHUNK_ROWS = 1 << 18

# Independent streams of one seed (numpy SeedSequence spawn keys).
_STREAM_TRAIN, _STREAM_TEST, _STREAM_ORDER, _STREAM_INIT = 0, 1, 2, 3


def rule_direction(input_size: int) -> np.ndarray:
    """The fixed direction w of the labelling rule: alternating signs, unit length."""
    signs = np.where(np.arange(input_size) % 2 == 0, 1.0, -1.0)
    return (signs / np.sqrt(input_size)).astype(np.float32)


def bayes_rule(X: np.ndarray) -> np.ndarray:
    """The Bayes-optimal prediction f(x) in {0, 1}, shape (n, 1), float32."""
    score = X @ rule_direction(X.shape[1])
    if X.shape[1] >= 2:
        score += X[:, 0] * X[:, 1]
    return (score > 0).astype(np.float32)[:, None]


def _sample(seed: int, stream: int, n: int, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))
    X = np.empty((n, input_size), dtype=np.float32)
    y = np.empty((n, 1), dtype=np.float32)
    for start in range(0, n, _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, n)
        rng.standard_normal(out=X[start:stop], dtype=np.float32)
        flip = rng.random(stop - start, dtype=np.float32) < LABEL_NOISE
        clean = bayes_rule(X[start:stop])[:, 0]
        y[start:stop, 0] = np.where(flip, 1.0 - clean, clean)
    return X, y


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Train and test arrays (float32, ``y`` of shape (n, 1)) and the per-epoch batch order."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    seed: int
    bayes_accuracy: float = 1.0 - LABEL_NOISE
    label_noise: float = LABEL_NOISE
    format_version: int = DATA_FORMAT_VERSION

    def batch_order(self, epoch: int) -> np.ndarray:
        """The permutation of training rows for ``epoch`` (0-based): the same in every process."""
        seq = np.random.SeedSequence(self.seed, spawn_key=(_STREAM_ORDER, epoch))
        return np.random.default_rng(seq).permutation(len(self.X_train))

    def epoch_arrays(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of the training split in ``epoch``'s order, ready for ``train_epoch``."""
        order = self.batch_order(epoch)
        return self.X_train[order], self.y_train[order]

    def describe(self) -> dict:
        return {
            "n_train": len(self.X_train),
            "n_test": len(self.X_test),
            "input_size": self.X_train.shape[1],
            "seed": self.seed,
            "label_noise": self.label_noise,
            "bayes_accuracy": self.bayes_accuracy,
            "data_format_version": self.format_version,
        }


def make_dataset(spec: SimpleNetSpec) -> Dataset:
    """The task of ``spec`` (sizes and seed): byte-identical for the same spec in any process."""
    X_train, y_train = _sample(spec.seed, _STREAM_TRAIN, spec.n_train, spec.input_size)
    X_test, y_test = _sample(spec.seed, _STREAM_TEST, spec.n_test, spec.input_size)
    return Dataset(X_train, y_train, X_test, y_test, seed=spec.seed)


def initial_weights(spec: SimpleNetSpec) -> list[np.ndarray]:
    """The matched convention's starting point, ``[W1, b1, W2, b2]`` in the Keras layout.

    Glorot-uniform kernels and zero biases (Keras's defaults, from Glorot and Bengio
    2010), drawn by numpy so that every framework starts from the same bytes.
    """
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(_STREAM_INIT,)))

    def glorot(fan_in: int, fan_out: int) -> np.ndarray:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)

    W1 = glorot(spec.input_size, spec.hidden_size)
    W2 = glorot(spec.hidden_size, 1)
    return [W1, np.zeros(spec.hidden_size, np.float32), W2, np.zeros(1, np.float32)]
