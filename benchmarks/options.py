"""What `pytest --benchmark` runs: rows, presets and the parsing of the options that pick them.

Pure Python with no framework imports, so that the coordinating pytest process stays
light and these rules are tested on any machine.
"""

from __future__ import annotations

import dataclasses
import os

from frameworks import IMPLEMENTATIONS

DEVICES = ("cpu", "cuda")


@dataclasses.dataclass(frozen=True)
class Row:
    """One measured row: an implementation in one training mode, on one device, one batch size."""

    implementation: str
    mode: str
    device: str
    batch_size: int

    @property
    def variant(self) -> str:
        return f"{self.implementation}-{self.mode}"

    @property
    def id(self) -> str:
        """The pytest id, e.g. ``keras-jax-fit-cpu-b32``."""
        return f"{self.variant}-{self.device}-b{self.batch_size}"


# Every implementation in every mode the suite times, in the order tables show them:
# the course's two cars first, then the other ways to drive each framework (its
# tuned gears last), then pure JAX and the numpy floor.
VARIANTS = {
    f"{impl}-{mode}": (impl, mode)
    for impl, mode in [
        ("torch", "loop"),
        ("keras-tensorflow", "fit"),
        ("torch", "compile"),
        ("torch", "compile-step"),
        ("torch", "compile-step-cudagraphs"),
        ("keras-tensorflow", "fit-xla"),
        ("keras-tensorflow", "fit-spe"),
        ("keras-tensorflow", "loop"),
        ("keras-tensorflow", "loop-xla"),
        ("keras-jax", "fit"),
        ("keras-jax", "fit-spe"),
        ("keras-torch", "fit"),
        ("keras-torch", "fit-spe"),
        ("jax", "loop"),
        ("jax", "scan"),
        ("numpy", "loop"),
    ]
}

# What kind of driving each variant is (issue 10):
#   course:    the lesson's code as written (Keras rows: the same code on another backend);
#   idiomatic: what the framework's own guides show by default where the course has no lesson;
#   tuned:     a documented speed setting; TUNED_NOTES says what it changes in the user's code.
TAGS = {
    "torch-loop": "course",
    "keras-tensorflow-fit": "course",
    "torch-compile": "tuned",
    "torch-compile-step": "tuned",
    "torch-compile-step-cudagraphs": "tuned",
    "keras-tensorflow-fit-xla": "tuned",
    "keras-tensorflow-fit-spe": "tuned",
    "keras-tensorflow-loop": "idiomatic",
    "keras-tensorflow-loop-xla": "tuned",
    "keras-jax-fit": "course",
    "keras-jax-fit-spe": "tuned",
    "keras-torch-fit": "course",
    "keras-torch-fit-spe": "tuned",
    "jax-loop": "idiomatic",
    "jax-scan": "tuned",
    "numpy-loop": "idiomatic",
}
TAG_NAMES = ("course", "idiomatic", "tuned")

_SPE_NOTE = ("model.compile(..., steps_per_execution=steps per epoch): one compiled call "
             "per epoch; callbacks see one batch per epoch")
TUNED_NOTES = {
    "torch-compile": "model = torch.compile(model)",
    "torch-compile-step": "torch.compile around the whole step (forward, loss, backward, "
                          "optimizer.step()); Adam(foreach=True)",
    "torch-compile-step-cudagraphs": "as compile-step with mode='reduce-overhead' (CUDA "
                                     "graphs), Adam(capturable=True) and "
                                     "torch.compiler.cudagraph_mark_step_begin() per step",
    "keras-tensorflow-fit-xla": "model.compile(..., jit_compile=True)",
    "keras-tensorflow-fit-spe": _SPE_NOTE,
    "keras-tensorflow-loop-xla": "the GradientTape step under tf.function(jit_compile=True)",
    "keras-jax-fit-spe": _SPE_NOTE,
    "keras-torch-fit-spe": _SPE_NOTE + " (Keras refuses it on torch: the row is skipped)",
    "jax-scan": "the epoch's full batches stacked to (steps, batch, features) and run as one "
                "jax.lax.scan of the jitted step",
}


def tag(variant: str) -> str:
    """``course``, ``idiomatic`` or ``tuned``; KeyError for a variant not in ``VARIANTS``."""
    return TAGS[variant]


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a run needs to know; recorded with its results."""

    variants: tuple[str, ...]
    devices: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    epochs: int
    seeds: tuple[int, ...]
    rounds: int
    n_train: int
    n_test: int
    threads: int
    worker_timeout_s: float
    target_accuracy: float | None  # None: the data's Bayes accuracy minus TARGET_GAP
    overhead_check: bool = False
    preset: str = "default"

    def rows(self) -> list[Row]:
        rows = []
        for device in self.devices:
            for batch_size in self.batch_sizes:  # one block per comparison: device x batch
                for variant in self.variants:
                    impl, mode = VARIANTS[variant]
                    if device not in IMPLEMENTATIONS[impl].devices_for(mode):
                        continue  # numpy has no GPU, CUDA graphs no CPU: rows that run nowhere
                    rows.append(Row(impl, mode, device, batch_size))
        return rows

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


TARGET_GAP = 0.05  # default time-to-accuracy target: this far below the Bayes accuracy

PRESETS = {
    # A smoke run: every CPU variant once, small data (under a minute here).
    "quick": dict(devices=("cpu",), batch_sizes=(1024,), epochs=2, seeds=(0,), rounds=2,
                  n_train=2_000, n_test=1_000, worker_timeout_s=180.0),
    # Every CPU row and every GPU row the machine has (under 5 minutes here, 2 cores).
    "default": dict(devices=DEVICES, batch_sizes=(32, 1024), epochs=10, seeds=(0, 1, 2),
                    rounds=5, n_train=10_000, n_test=2_000, worker_timeout_s=600.0),
    # The GPU rows alone, sized to finish in under 5 minutes (benchmarks/gpu_check.sh).
    "gpu": dict(devices=("cuda",), batch_sizes=(32, 1024), epochs=3, seeds=(0,), rounds=5,
                n_train=10_000, n_test=2_000, worker_timeout_s=240.0),
    # Numbers worth publishing: more epochs, seeds and rounds.
    "full": dict(devices=DEVICES, batch_sizes=(32, 1024), epochs=30, seeds=(0, 1, 2, 3, 4),
                 rounds=20, n_train=10_000, n_test=2_000, worker_timeout_s=1800.0),
}


class OptionError(ValueError):
    """A user's option is wrong: the message is one sentence naming it and what is allowed."""


def _names(option: str, text: str, valid, expand=None) -> tuple[str, ...]:
    chosen = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        expanded = expand(name) if expand else ([name] if name in valid else [])
        if not expanded:
            raise OptionError(f"{option}: unknown name {name!r}; choose from: {', '.join(valid)}")
        chosen += [n for n in expanded if n not in chosen]
    if not chosen:
        raise OptionError(f"{option}: give at least one of: {', '.join(valid)}")
    return tuple(chosen)


def _expand_impl(name: str) -> list[str]:
    """An implementation's name picks all its modes; a variant's name picks one."""
    if name in VARIANTS:
        return [name]
    return [v for v, (impl, _) in VARIANTS.items() if impl == name]


def _ints(option: str, text: str, low: int) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise OptionError(f"{option}: expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < low:
        raise OptionError(f"{option}: expected integers >= {low}, got {text!r}")
    return tuple(dict.fromkeys(values))


def _int(option: str, text, low: int) -> int:
    values = _ints(option, str(text), low)
    if len(values) != 1:
        raise OptionError(f"{option}: expected one integer >= {low}, got {text!r}")
    return values[0]


def make_plan(preset: str = "default", impl: str | None = None, device: str | None = None,
              batch_size: str | None = None, epochs=None, seeds: str | None = None,
              rounds=None, n_train=None, threads=None, worker_timeout=None,
              target_accuracy=None, overhead_check: bool = False) -> Plan:
    """Build a plan from a preset and the user's overrides (strings as typed, or None)."""
    if preset not in PRESETS:
        raise OptionError(f"--preset: unknown name {preset!r}; choose from: {', '.join(PRESETS)}")
    fields = dict(PRESETS[preset])
    valid_impls = [*IMPLEMENTATIONS, *VARIANTS]
    variants = (_names("--impl", impl, valid_impls, _expand_impl) if impl
                else tuple(VARIANTS))
    # Keep the table order whatever order the user typed.
    variants = tuple(v for v in VARIANTS if v in variants)
    if device:
        fields["devices"] = _names("--device", device, DEVICES)
    if batch_size:
        fields["batch_sizes"] = _ints("--batch-size", batch_size, 1)
    if epochs is not None:
        fields["epochs"] = _int("--epochs", epochs, 1)
    if seeds:
        fields["seeds"] = _ints("--seeds", seeds, 0)
    if rounds is not None:
        fields["rounds"] = _int("--rounds", rounds, 1)
    if n_train is not None:
        fields["n_train"] = _int("--n-train", n_train, 1)
    if worker_timeout is not None:
        try:
            fields["worker_timeout_s"] = float(worker_timeout)
        except ValueError:
            fields["worker_timeout_s"] = -1.0
        if not fields["worker_timeout_s"] > 0:
            raise OptionError(f"--worker-timeout: expected seconds > 0, got {worker_timeout!r}")
    cores = os.cpu_count() or 1
    n_threads = cores if threads is None else _int("--threads", threads, 1)
    target = None
    if target_accuracy is not None:
        try:
            target = float(target_accuracy)
        except ValueError:
            target = -1.0
        if not 0 < target <= 1:
            raise OptionError(
                f"--target-accuracy: expected a fraction in (0, 1], got {target_accuracy!r}")
    return Plan(variants=variants, threads=n_threads, target_accuracy=target,
                overhead_check=overhead_check, preset=preset, **fields)
