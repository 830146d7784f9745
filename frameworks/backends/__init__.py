"""Per-framework plumbing: one module per framework, the same functions in each.

Keras keeps one folder per backend with the same module names in each
(``keras/src/backend/{jax,tensorflow,torch}``); here each framework that does the
arithmetic of some implementation has one module with these functions, in this order:

- ``apply_threads(threads) -> dict``: give it ``threads`` intra-op and inter-op threads;
  return what it reports (``intra_op_threads``, ``inter_op_threads``).
- ``check_device(device) -> None``: raise ``DeviceUnavailable`` (one sentence) when it
  cannot run on ``device`` ("cpu" or "cuda") here.
- ``device_name(device) -> str``: the accelerator's name, or "cpu".
- ``synchronize(device, arrays=()) -> None``: wait until queued device work is done
  (``arrays``: the last outputs, which jax needs to wait on).
- ``disable_tf32() -> None``: full float32 matrix products on GPUs that have TF32.
- ``gpu_peak_reset() -> int`` and ``gpu_peak_bytes(baseline) -> int | None``: the
  allocator's own peak in bytes since the reset (``GPU_PEAK_METHOD`` says how).
- ``settings() -> dict``: its version, threads and precision flags, recorded with results.
- ``prepare_replicas(replicas, device) -> None``: before the framework starts, give its
  data-parallel engine ``replicas`` replicas on the CPU (jax: host devices, set before jax
  is imported; TensorFlow: logical CPU devices, set before its runtime starts; torch: the
  launcher starts one process per replica, nothing to do); on "cuda" the GPUs present are
  the replicas. The data-parallel twins then count their replicas themselves
  (``settings()["replicas"]``), after joining their launcher's job.

Adding a framework means adding a module here and a line to ``MODULES``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES = {
    "torch": "frameworks.backends.torch",
    "tensorflow": "frameworks.backends.tensorflow",
    "jax": "frameworks.backends.jax",
    "numpy": "frameworks.backends.numpy",
}

#: the functions and constants every module in ``MODULES`` defines
INTERFACE = ("GPU_PEAK_METHOD", "apply_threads", "check_device", "device_name", "synchronize",
             "disable_tf32", "gpu_peak_reset", "gpu_peak_bytes", "settings", "prepare_replicas")


class DeviceUnavailable(RuntimeError):
    """The framework cannot run on the requested device on this machine."""


def backend(framework: str) -> ModuleType:
    """The plumbing module of ``framework`` (e.g. "torch"); ValueError for an unknown one.

    Importing the module imports nothing else: each function imports its framework.
    """
    if framework not in MODULES:
        raise ValueError(f"no plumbing module for framework {framework!r}; "
                         f"known: {', '.join(MODULES)}")
    return importlib.import_module(MODULES[framework])
