"""The one description of a SimpleNet experiment that every implementation reads."""

from __future__ import annotations

import dataclasses
import math

# The two fairness conventions (see README, "Fairness").
#   matched: every implementation starts from the same weights and follows the same
#            Adam epsilon placement and loss clipping, so the twins compute one function.
#   course:  each framework keeps its own defaults, exactly as the lesson's code does.
CONVENTIONS = ("matched", "course")
DTYPES = ("float32",)


@dataclasses.dataclass(frozen=True)
class SimpleNetSpec:
    """Sizes, optimiser settings and data sizes of one SimpleNet experiment.

    ``adam_epsilon`` is PyTorch's epsilon (added after bias correction). Under the
    ``course`` convention each framework uses its own default epsilon instead.
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
        for name in ("input_size", "hidden_size", "batch_size", "epochs", "n_train", "n_test"):
            _check_int(name, getattr(self, name), low=1)
        _check_int("seed", self.seed, low=0)
        if not _is_real(self.lr) or not self.lr > 0 or not math.isfinite(self.lr):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        for name in ("adam_beta1", "adam_beta2"):
            value = getattr(self, name)
            if not _is_real(value) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        if not _is_real(self.adam_epsilon) or not 0 < self.adam_epsilon < 1:
            raise ValueError(f"adam_epsilon must be a number in (0, 1), got {self.adam_epsilon!r}")
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
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(name: str, value, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
