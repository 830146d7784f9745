"""JAX's plumbing (see frameworks/backends/__init__.py for the interface)."""

from __future__ import annotations

import os

from frameworks.backends import DeviceUnavailable

GPU_PEAK_METHOD = "jax memory_stats peak_bytes_in_use - bytes in use after build"


def apply_threads(threads: int) -> dict:
    # XLA's CPU client takes no thread count; the runner pins it to one thread with
    # XLA_FLAGS when asked for one, and otherwise it uses every core.
    cores = threads if threads == 1 else os.cpu_count()
    return {"intra_op_threads": cores, "inter_op_threads": cores}


def check_device(device: str) -> None:
    if device != "cuda":
        return
    import jax

    try:
        jax.devices("gpu")
    except RuntimeError:
        raise DeviceUnavailable("jax sees no GPU (install jax[cuda12])") from None


def device_name(device: str) -> str:
    import jax

    return jax.devices("gpu")[0].device_kind if device == "cuda" else "cpu"


def synchronize(device: str, arrays=()) -> None:
    import jax

    # jax queues work per array: when the last outputs are ready, so is the step.
    jax.block_until_ready(arrays)


def disable_tf32() -> None:
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")


def gpu_peak_reset() -> int:
    import jax

    # jax cannot reset its peak: the build's bytes in use are subtracted instead.
    stats = jax.devices("gpu")[0].memory_stats() or {}
    return int(stats.get("bytes_in_use", 0))


def gpu_peak_bytes(baseline: int) -> int | None:
    import jax

    stats = jax.devices("gpu")[0].memory_stats() or {}
    return int(stats.get("peak_bytes_in_use", 0)) - baseline


def settings() -> dict:
    import jax

    return {
        "backend_version": f"jax {jax.__version__}",
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "matmul_precision": str(jax.config.jax_default_matmul_precision),
    }


# XLA's flag that splits the host into this many CPU devices (jax's own way to try
# sharding on a CPU); XLA reads its flags once, when jax's CPU backend starts.
_HOST_DEVICES_FLAG = "--xla_force_host_platform_device_count"


def prepare_replicas(replicas: int, device: str) -> None:
    import sys

    if device != "cpu":
        return  # the GPUs present are the replicas
    if "jax" in sys.modules:
        raise RuntimeError(f"{_HOST_DEVICES_FLAG} must be set before jax is imported, and jax "
                           "is imported already: start a fresh process")
    # Under several processes (Keras's variables for jax.distributed.initialize, which
    # keras.distribution.initialize reads) each holds its share of the replicas.
    replicas //= int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1"))
    # First: XLA stops reading at a token that is not a --flag (the runner's thread setting
    # has one), and a flag after it would be ignored (checked with jax 0.10.2).
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{_HOST_DEVICES_FLAG}={replicas} {flags}".strip()
