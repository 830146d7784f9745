"""The one description of a SimpleNet experiment that every implementation reads."""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

# The two fairness conventions (see README, "Fairness").
#   matched: every implementation starts from the same weights and follows the same
#            Adam epsilon placement and loss clipping, so the twins compute one function.
#   course:  each framework keeps its own defaults, exactly as the lesson's code does.
CONVENTIONS = ("matched", "course")
DTYPES = ("float32",)

# The limits below are what every twin can take; the spec refuses anything outside
# them, so that no value is accepted here and then fails inside one framework.
#
# Seeds: keras.utils.set_random_seed passes the seed to np.random.seed, which takes
# 0 <= seed < 2**32, and jax.random.key(2**32) silently wraps to the key of seed 0
# (without jax_enable_x64); numpy's default_rng and torch.manual_seed take more.
SEED_MAX = 2**32 - 1
# Sizes: every array the twins make (a data split, its hidden activations, W1) has
# fewer than 2**31 elements: TensorFlow's GPU kernels index with int32 where they can,
# and some of them fail beyond it (tensorflow/tensorflow#124949, #60330).
MAX_ELEMENTS = 2**31 - 1
# Learning rate: the twins compute in float32, so lr must be a normal float32 number
# (Keras keeps it in a float32 variable; torch and numpy multiply float32 tensors by it).
_FLOAT32 = np.finfo(np.float32)
LR_MIN, LR_MAX = float(_FLOAT32.smallest_normal), float(_FLOAT32.max)
# Betas: torch and numpy multiply the float32 moments by beta, so a beta that rounds
# to 1 in float32 (above 1 - 2**-24, the largest float32 below 1) would stop the
# moving average decaying in those twins but not in Keras's.
BETA_MAX = 1 - 2**-24
# Epsilon: Keras's matched Adam adds epsilon * sqrt(1 - beta2**t) >= epsilon * 2**-12
# (beta2 <= BETA_MAX); 1e-30 keeps that a normal float32 number (>= 1.2e-38), so no
# device flushes it to zero and turns 0 / (0 + eps) into NaN for a dead unit.
EPSILON_MIN = 1e-30


@dataclasses.dataclass(frozen=True)
class SimpleNetSpec:
    """Sizes, optimiser settings and data sizes of one SimpleNet experiment.

    ``adam_epsilon`` is PyTorch's epsilon (added after bias correction). Under the
    ``course`` convention each framework uses its own default epsilon instead.

    Every field is checked here, once, against what every twin can take (the limits
    above): sizes are integers >= 1 with arrays under 2**31 elements, ``seed`` is in
    [0, 2**32 - 1], ``lr`` in float32's normal range, the betas in [0, 1 - 2**-24] and
    ``adam_epsilon`` in [1e-30, 1). Raises ``ValueError`` naming the field and its range.
    """

    input_size: int = 10
    hidden_size: int = 16
    lr: float = 0.001
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    batch_size: int = 32
    epochs: int = 5
    seed: int = 0
    n_train: int = 10_000
    n_test: int = 2_000
    dtype: str = "float32"
    convention: str = "matched"

    def __post_init__(self):
        # numpy scalars (np.int64(32), np.float32(0.01)) become Python numbers, so that a
        # spec's values compare, hash and serialise like the ones typed by hand.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.generic) and not isinstance(value, np.bool_):
                object.__setattr__(self, field.name, value.item())
        for name in ("input_size", "hidden_size", "batch_size", "epochs", "n_train", "n_test"):
            _check_int(name, getattr(self, name), low=1, high=MAX_ELEMENTS)
        _check_int("seed", self.seed, low=0, high=SEED_MAX)
        width = max(self.input_size, self.hidden_size)  # of X, and of the activations
        for name, rows, columns, what in (
            ("hidden_size", self.hidden_size, self.input_size, "input_size (W1)"),
            ("n_train", self.n_train, width, "max(input_size, hidden_size)"),
            ("n_test", self.n_test, width, "max(input_size, hidden_size)"),
        ):
            if rows * columns > MAX_ELEMENTS:
                raise ValueError(f"{name} * {what} must be at most 2**31 - 1 elements "
                                 f"(an int32 index), got {rows} * {columns}")
        if not _is_real(self.lr) or not LR_MIN <= self.lr <= LR_MAX:
            raise ValueError(f"lr must be a number > 0 in float32's normal range "
                             f"[{LR_MIN:.3g}, {LR_MAX:.3g}], got {self.lr!r}")
        for name in ("adam_beta1", "adam_beta2"):
            value = getattr(self, name)
            if not _is_real(value) or not 0 <= value <= BETA_MAX:
                raise ValueError(f"{name} must be a number in [0, 1), at most 1 - 2**-24 "
                                 f"(the largest float32 below 1), got {value!r}")
        if not _is_real(self.adam_epsilon) or not EPSILON_MIN <= self.adam_epsilon < 1:
            raise ValueError(f"adam_epsilon must be a number in (0, 1), at least "
                             f"{EPSILON_MIN:g}, got {self.adam_epsilon!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.convention not in CONVENTIONS:
            raise ValueError(
                f"convention must be one of {', '.join(CONVENTIONS)}, got {self.convention!r}"
            )

    @property
    def n_parameters(self) -> int:
        """Trainable parameters: two weight matrices and two bias vectors."""
        return self.input_size * self.hidden_size + self.hidden_size + self.hidden_size + 1

    def replace(self, **changes) -> SimpleNetSpec:
        """A copy with some fields changed (validated like a new spec)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _is_real(value) -> bool:
    # numbers.Real takes numpy's scalars too (np.float32(0.01) is a fine learning rate)
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check_int(name: str, value, low: int, high: int) -> None:
    if (not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_))
            or not low <= value <= high):
        raise ValueError(f"{name} must be an integer >= {low} and <= {high}, got {value!r}")
