"""PyTorch's plumbing (see frameworks/backends/__init__.py for the interface)."""

from __future__ import annotations

from frameworks.backends import DeviceUnavailable

GPU_PEAK_METHOD = "torch.cuda.max_memory_allocated"


def apply_threads(threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)
    return {"intra_op_threads": torch.get_num_threads(),
            "inter_op_threads": torch.get_num_interop_threads()}


def check_device(device: str) -> None:
    if device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        raise DeviceUnavailable("torch sees no CUDA device (a CPU-only build, or no GPU)")


def device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name() if device == "cuda" else "cpu"


def synchronize(device: str, arrays=()) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def disable_tf32() -> None:
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def gpu_peak_reset() -> int:
    import torch

    torch.cuda.reset_peak_memory_stats()
    return 0  # the peak itself restarts: nothing to subtract


def gpu_peak_bytes(baseline: int) -> int | None:
    import torch

    return int(torch.cuda.max_memory_allocated()) - baseline


def settings() -> dict:
    import torch

    return {
        "backend_version": f"torch {torch.__version__}",
        "intra_op_threads": torch.get_num_threads(),
        "inter_op_threads": torch.get_num_interop_threads(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
    }


def prepare_replicas(replicas: int, device: str) -> None:
    """Nothing: torch's replicas are processes, which its launcher (torchrun) starts."""
