"""SimpleNet on several PyTorch processes: the course's loop, its model wrapped in
``DistributedDataParallel``.

Started by PyTorch's own launcher (``torchrun``, i.e. ``python -m torch.distributed.run``),
which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in
every process it starts, on one machine or on several (``--nnodes``); the process group is
initialised from them (``env://``), so nothing here assumes one machine. Every process is
given the same global arrays in the shared order and trains on its slice of each global
batch; DDP all-reduces (averages) the gradients during ``backward()``: gloo on the CPU,
nccl on CUDA.
"""

from __future__ import annotations

import atexit
import os
from typing import NoReturn

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from frameworks.base import batch_slices, check_features_labels
from frameworks.torch_twin import TorchTwin

# What torchrun sets in every process; without them there is no process group to join.
LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def init_process_group(device: str) -> None:
    """Join the launcher's process group (once per process): gloo on the CPU, nccl on CUDA.

    Raises ``ModeUnsupported`` (one sentence) in a process that no launcher started, and
    ``DeviceUnavailable`` when this process's ``LOCAL_RANK`` has no GPU of its own.
    """
    from frameworks import ModeUnsupported
    from frameworks.backends import DeviceUnavailable

    if dist.is_initialized():
        return
    missing = [name for name in LAUNCHER_VARIABLES if name not in os.environ]
    if missing:
        raise ModeUnsupported(f"torch ddp runs in processes started by PyTorch's launcher, "
                              f"which sets {', '.join(missing)}: run it under torchrun "
                              f"--nproc-per-node N (README, 'Data parallel')")
    if device == "cuda":
        # Decided alike in every process of this machine (before any waits for another),
        # so that all of them stop, not just the ones without a GPU.
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
        if local_world > torch.cuda.device_count():
            raise DeviceUnavailable(f"torch ddp needs a GPU for each of its {local_world} "
                                    f"processes on this machine, which has "
                                    f"{torch.cuda.device_count()}")
        # "cuda" is then this process's own GPU
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if device == "cuda" else "gloo")
    atexit.register(_destroy_process_group)


def _destroy_process_group() -> None:
    """Leave the process group while the interpreter is still whole (PyTorch's
    documentation, "Shutdown": call destroy_process_group once per process at the end).
    Local to this process: every collective of this rank has completed by then. Not enough
    on its own for a clean exit: see ``exit_rank``."""
    if dist.is_initialized():
        dist.destroy_process_group()


def exit_rank(status: int) -> NoReturn:
    """End this rank's process with ``status`` (0 for success) without the interpreter's
    finalisation: leave the process group, flush the standard streams and logging, then
    ``os._exit``.

    Why not a plain ``sys.exit``: gloo's worker thread releases each finished all-reduce
    (``ProcessGroupGloo::runLoop`` destroying an ``AsyncAllreduceWork``) a moment after the
    rank has waited for it, and the release drops Python references, which takes the GIL.
    When that moment falls inside ``Py_FinalizeEx`` (a loaded machine delays the thread),
    CPython ends the thread with ``pthread_exit`` inside a destructor that may not throw,
    and the process dies of SIGABRT ("terminate called without an active exception"; seen
    in 2 of 8 parity traces run beside another trace on 2 cores, native stack read from
    the core dump). ``destroy_process_group`` does not stop those threads while DDP's
    reducer still holds the group, so the finalisation is skipped instead. Only for a
    rank whose work is done: nothing after this call runs, atexit handlers included."""
    import logging
    import sys

    _destroy_process_group()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or gone: nothing left to say on it
            pass
    os._exit(status)


def shard(n: int, rank: int, world_size: int) -> slice:
    """This rank's rows of a global batch of ``n``: contiguous, sizes differing by at most one."""
    return slice(n * rank // world_size, n * (rank + 1) // world_size)


class TorchDDPTwin(TorchTwin):
    """``mode`` ``ddp``: the course's eager loop on ``WORLD_SIZE`` processes, the model in
    ``DistributedDataParallel``. ``train_step`` and ``train_epoch`` take the *global* batch
    (every rank the same arrays) and return the global mean loss."""

    name = "torch"

    def __init__(self, spec, device="cpu", mode="ddp"):
        init_process_group(device)
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        super().__init__(spec, device, mode)
        # The course's model, wrapped: its forward pass is DDP's, whose backward hooks
        # all-reduce the gradients. DDP also broadcasts rank 0's weights at the start.
        self.forward = DistributedDataParallel(
            self.model, device_ids=[torch.cuda.current_device()] if device == "cuda" else None)

    def train_step(self, X, y):
        X, y = check_features_labels(X, y, self.spec)
        loss = self._run_step(self._tensor(X), self._tensor(y))
        dist.all_reduce(loss)  # the ranks' weighted means add up to the global batch's mean
        return loss.item() / self.world_size

    def run_epoch(self, X, y):
        X, y = self._tensor(X), self._tensor(y)
        total = torch.zeros((), device=self.torch_device)
        for batch in batch_slices(len(X), self.spec.batch_size):
            # weighted mean x n / N = this rank's sum of per-sample losses
            total += self._run_step(X[batch], y[batch]) * ((batch.stop - batch.start)
                                                           / self.world_size)
        dist.all_reduce(total)  # once per epoch: the whole epoch's sum of losses
        return total.item() / len(X)

    def synchronize(self):
        # Every rank's clock is read after the same barrier: the timed window is the
        # slowest replica's.
        super().synchronize()
        dist.barrier()

    def settings(self):
        return {**super().settings(),
                "replicas": self.world_size,
                "process_group_backend": dist.get_backend(),
                "launcher": "torchrun (torch.distributed.run)"}

    # -- the course's step on this rank's slice of the global batch --------------------

    def _run_step(self, X, y):
        rows = shard(len(X), self.rank, self.world_size)
        x, target = X[rows], y[rows]
        self.optimizer.zero_grad()
        output = self.forward(x)
        if len(x):
            # DDP averages the ranks' gradients. Weighting each rank's mean loss by its
            # share of the batch (n_rank x N / n, which is 1 when n divides by N) makes
            # that average the gradient of the global batch's mean loss, also for a last
            # batch that does not divide by N.
            loss = self.criterion(self._clip(output), target) * (len(x) * self.world_size
                                                                 / len(X))
        else:
            # No rows here (a last batch smaller than N): a zero gradient, and the rank
            # still joins the all-reduce that the others are waiting in.
            loss = output.sum() * 0.0
        loss.backward()
        self.optimizer.step()
        return loss.detach()
