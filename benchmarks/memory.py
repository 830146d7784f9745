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
    """The framework allocator's own peak (never nvidia-smi, which sees pools, not use).

    Each framework's way of reading it lives in ``frameworks.backends.<framework>``.
    """

    def __init__(self, framework: str):
        from frameworks.backends import backend

        self._backend = backend(framework)
        self.method = None
        self._baseline = 0

    def reset(self) -> None:
        self._baseline = self._backend.gpu_peak_reset()
        self.method = self._backend.GPU_PEAK_METHOD

    def peak_bytes(self) -> int | None:
        return self._backend.gpu_peak_bytes(self._baseline)
