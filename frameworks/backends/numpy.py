"""numpy's plumbing (see frameworks/backends/__init__.py for the interface): CPU only."""

from __future__ import annotations

import os

from frameworks.backends import DeviceUnavailable

GPU_PEAK_METHOD = None  # no GPU, no allocator peak


def apply_threads(threads: int) -> dict:
    # The BLAS pool is sized by the runner's environment (OPENBLAS_NUM_THREADS and kin)
    # before numpy loads; this reports it.
    return {"intra_op_threads": int(os.environ.get("OPENBLAS_NUM_THREADS", "0")) or None}


def check_device(device: str) -> None:
    if device != "cpu":
        raise DeviceUnavailable(f"numpy runs on the CPU only, not on {device!r}")


def device_name(device: str) -> str:
    return "cpu"


def synchronize(device: str, arrays=()) -> None:
    """numpy returns when the work is done: nothing is queued."""


def disable_tf32() -> None:
    """numpy computes in float32 on the CPU: there is no TF32 to turn off."""


def gpu_peak_reset() -> int:
    return 0


def gpu_peak_bytes(baseline: int) -> int | None:
    return None


def settings() -> dict:
    import numpy as np

    return {"backend_version": f"numpy {np.__version__}"}


def prepare_replicas(replicas: int, device: str) -> None:
    """numpy has no data-parallel engine: nothing to prepare."""
