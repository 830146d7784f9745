"""Memory readings for one worker process: resident set (Linux /proc) and GPU allocator peaks."""

from __future__ import annotations

from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int | None:
    """Current resident set size (VmRSS)."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_rss_bytes() -> int | None:
    """Peak resident set size since start or since the last ``reset_peak_rss`` (VmHWM)."""
    kib = _status_kib("VmHWM")
    return None if kib is None else kib * 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS, so that a peak can be taken per phase.

    Writing "5" to /proc/self/clear_refs does this on Linux 4.0 and newer; False where
    it cannot (then the peak covers the whole process and is reported as such).
    """
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class GpuPeak:
    """The framework allocator's own peak (never nvidia-smi, which sees pools, not use)."""

    def __init__(self, framework: str):
        self.framework = framework
        self.method = None
        self._baseline = 0

    def reset(self) -> None:
        if self.framework == "torch":
            import torch

            torch.cuda.reset_peak_memory_stats()
            self.method = "torch.cuda.max_memory_allocated"
        elif self.framework == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.reset_memory_stats("GPU:0")
            self.method = "tf.config.experimental.get_memory_info peak"
        elif self.framework == "jax":
            import jax

            # jax cannot reset its peak: the build's bytes in use are subtracted instead.
            stats = jax.devices("gpu")[0].memory_stats() or {}
            self._baseline = stats.get("bytes_in_use", 0)
            self.method = "jax memory_stats peak_bytes_in_use - bytes in use after build"

    def peak_bytes(self) -> int | None:
        if self.framework == "torch":
            import torch

            return int(torch.cuda.max_memory_allocated())
        if self.framework == "tensorflow":
            import tensorflow as tf

            return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
        if self.framework == "jax":
            import jax

            stats = jax.devices("gpu")[0].memory_stats() or {}
            return int(stats.get("peak_bytes_in_use", 0)) - self._baseline
        return None
