"""The twins: SimpleNet in PyTorch, in Keras on every Keras 3 backend, in JAX and in numpy.

    >>> from frameworks import SimpleNetSpec, make_dataset, load
    >>> spec = SimpleNetSpec()
    >>> data = make_dataset(spec)
    >>> net = load("torch", spec)
    >>> net.train_epoch(*data.epoch_arrays(0))

Frameworks are imported lazily, when an implementation is loaded, so everything
else works with none of them installed.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os

# TensorFlow's oneDNN rewrites change float rounding and print notices on import; off
# unless the user says otherwise (the setting is recorded with every result).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from frameworks import backends, versions
from frameworks.backends import DeviceUnavailable
from frameworks.base import Twin
from frameworks.data import Dataset, initial_weights, make_dataset
from frameworks.spec import SimpleNetSpec

__all__ = [
    "IMPLEMENTATIONS",
    "Dataset",
    "DeviceUnavailable",
    "FrameworkNotInstalled",
    "ModeUnsupported",
    "SimpleNetSpec",
    "Twin",
    "initial_weights",
    "load",
    "make_dataset",
]


@dataclasses.dataclass(frozen=True)
class Implementation:
    """Where an implementation lives and what it needs."""

    name: str
    module: str
    cls: str
    modes: tuple[str, ...]
    requires: tuple[str, ...]  # importable modules, each installed by the pip package below
    pip: tuple[str, ...]
    devices: tuple[str, ...] = ("cpu", "cuda")
    keras_backend: str | None = None
    #: modes that run on some devices only, e.g. CUDA graphs: mode -> devices
    mode_devices: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict, hash=False)
    #: modes with a class of their own (the data-parallel twins): mode -> (module, class)
    mode_classes: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict,
                                                                 hash=False)

    @property
    def framework(self) -> str:
        """The library that does the work: its threads and memory are this implementation's."""
        return self.keras_backend or self.requires[0]

    def devices_for(self, mode: str) -> tuple[str, ...]:
        """The devices ``mode`` can run on."""
        return self.mode_devices.get(mode, self.devices)

    def missing(self) -> list[str]:
        """The pip packages to install before this implementation can load."""
        return [pip for mod, pip in zip(self.requires, self.pip)
                if importlib.util.find_spec(mod) is None]

    def require(self) -> None:
        """Raise ``FrameworkNotInstalled`` naming what to install, if anything is missing,
        or the version found and the version needed, if a framework is older than the
        oldest tested (``frameworks.versions``)."""
        missing = self.missing()
        if missing:
            raise FrameworkNotInstalled(
                f"{self.name} needs {' and '.join(missing)}, which "
                f"{'is' if len(missing) == 1 else 'are'} not installed: {self.install_hint()}")
        # Every framework that is too old at once, so that one upgrade is enough.
        old = [sentence for sentence in map(versions.too_old, self.requires) if sentence]
        if old:
            raise FrameworkNotInstalled(f"{self.name} cannot run here: {'; '.join(old)}")

    def install_hint(self) -> str:
        """How to install what this implementation needs: its framework's extra of the
        project (its ranged dependencies beside what is installed), with the README's pinned
        CPU builds named, since a bare ``pip install torch`` on Linux brings a CUDA build of
        several GB."""
        if self.framework not in ("torch", "tensorflow", "jax"):
            return f"pip install {' '.join(self.missing())}"
        return (f"pip install -e '.[{self.framework}]' in the project's folder (add "
                f"-c constraints/cpu.txt for the CPU builds the README measured with)")

    def resolve(self, mode: str | None, device: str) -> str:
        """The mode to use (the first is the default); ValueError for one it lacks."""
        mode = mode or self.modes[0]
        if mode not in self.modes:
            raise ValueError(
                f"{self.name} has no mode {mode!r}; its modes are: {', '.join(self.modes)}")
        devices = self.devices_for(mode)
        if device not in devices:
            what = self.name if devices == self.devices else f"{self.name} {mode}"
            raise ValueError(f"{what} cannot run on {device!r}; its devices are: "
                             f"{', '.join(devices)}")
        return mode


IMPLEMENTATIONS: dict[str, Implementation] = {
    impl.name: impl
    for impl in [
        Implementation("torch", "frameworks.torch_twin", "TorchTwin",
                       ("loop", "compile", "compile-step", "compile-step-cudagraphs", "ddp"),
                       ("torch",), ("torch",),
                       mode_devices={"compile-step-cudagraphs": ("cuda",)},
                       mode_classes={"ddp": ("frameworks.torch_ddp_twin", "TorchDDPTwin")}),
        Implementation("keras-tensorflow", "frameworks.keras_twin", "KerasTensorflowTwin",
                       ("fit", "fit-xla", "loop", "fit-spe", "loop-xla", "mirrored"),
                       ("keras", "tensorflow"), ("keras", "tensorflow"),
                       keras_backend="tensorflow",
                       mode_classes={"mirrored": ("frameworks.keras_dp_twin",
                                                  "KerasTensorflowMirroredTwin")}),
        Implementation("keras-jax", "frameworks.keras_twin", "KerasJaxTwin",
                       ("fit", "fit-spe", "dp"), ("keras", "jax"), ("keras", "jax"),
                       keras_backend="jax",
                       mode_classes={"dp": ("frameworks.keras_dp_twin", "KerasJaxDPTwin")}),
        Implementation("keras-torch", "frameworks.keras_twin", "KerasTorchTwin",
                       ("fit", "fit-spe"), ("keras", "torch"), ("keras", "torch"),
                       keras_backend="torch"),
        Implementation("jax", "frameworks.jax_twin", "JaxTwin", ("loop", "scan"),
                       ("jax",), ("jax",)),
        Implementation("numpy", "frameworks.numpy_twin", "NumpyTwin", ("loop",),
                       ("numpy",), ("numpy",), devices=("cpu",)),
    ]
}


class FrameworkNotInstalled(ImportError):
    """An implementation's framework is not installed."""


class ModeUnsupported(RuntimeError):
    """The framework refuses this mode (e.g. Keras on torch and ``steps_per_execution``)."""


def load(name: str, spec: SimpleNetSpec | None = None, *, device: str = "cpu",
         mode: str | None = None) -> Twin:
    """Build implementation ``name`` for ``spec`` on ``device`` ("cpu" or "cuda").

    ``mode`` picks how it trains (see ``IMPLEMENTATIONS[name].modes``; the first is the
    default). Raises ``ValueError`` for an unknown name, mode or device, ``TypeError``
    when ``spec`` is not a ``SimpleNetSpec``, ``FrameworkNotInstalled`` naming the
    package to install, ``frameworks.backends.DeviceUnavailable`` when the framework
    sees no such device here (e.g. "cuda" on a machine without one: the same error for
    every framework, the one the benchmark worker turns into a skipped row) and
    ``ModeUnsupported`` when the framework refuses the mode (the reason is Keras's own,
    or a data-parallel mode started without its engine's replicas: see README, "Data
    parallel").
    """
    if name not in IMPLEMENTATIONS:
        raise ValueError(
            f"unknown implementation {name!r}; choose from: {', '.join(IMPLEMENTATIONS)}"
        )
    if spec is not None and not isinstance(spec, SimpleNetSpec):
        raise TypeError(f"spec must be a frameworks.SimpleNetSpec (sizes, optimiser settings "
                        f"and data sizes, e.g. SimpleNetSpec(batch_size=32)) or None for the "
                        f"defaults, got {type(spec).__name__}")
    impl = IMPLEMENTATIONS[name]
    mode = impl.resolve(mode, device)  # before any framework is imported
    impl.require()
    backends.backend(impl.framework).check_device(device)
    module, cls = impl.mode_classes.get(mode, (impl.module, impl.cls))
    cls = getattr(importlib.import_module(module), cls)
    return cls(spec or SimpleNetSpec(), device=device, mode=mode)
