"""SimpleNet in PyTorch: the course's nn.Module and its hand-written training loop."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from frameworks import backends
from frameworks.base import (
    PROB_EPSILON,
    Twin,
    batch_slices,
    check_features,
    check_features_labels,
    check_weights,
)
from frameworks.data import initial_weights

COMPILE_DESCRIPTIONS = {
    "loop": "eager",
    "compile": "torch.compile(model), inductor, default mode",
    "compile-step": "torch.compile(whole step incl. optimizer.step()), inductor, default mode",
    "compile-step-cudagraphs": "torch.compile(whole step incl. optimizer.step()), inductor, "
                               "mode='reduce-overhead' (CUDA graphs)",
    "ddp": "eager, DistributedDataParallel (frameworks/torch_ddp_twin.py)",
}


class SimpleNet(nn.Module):
    def __init__(self, input_size=10, hidden_size=16):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, 1)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        return torch.sigmoid(self.fc2(x))


class TorchTwin(Twin):
    """``modes``: ``loop`` (the course's eager loop), ``compile`` (``torch.compile(model)``),
    ``compile-step`` (the whole step: forward, loss, backward and ``optimizer.step()``
    under one ``torch.compile``, with the compiled optimiser) and
    ``compile-step-cudagraphs`` (the same with ``mode="reduce-overhead"``: CUDA graphs,
    CUDA only)."""

    name = "torch"

    def __init__(self, spec, device="cpu", mode=None):
        super().__init__(spec, device, mode)
        self.torch_device = torch.device(device)
        self.plumbing = backends.backend("torch")
        # Full float32 everywhere: TF32 would make GPU rows compute another function.
        self.plumbing.disable_tf32()
        torch.manual_seed(spec.seed)  # the course convention's initial weights come from here
        self.model = SimpleNet(spec.input_size, spec.hidden_size).to(self.torch_device)
        self.criterion = nn.BCELoss()
        # torch.compile wraps the module; the parameters, and so the optimiser, are shared.
        self.forward = torch.compile(self.model) if self.mode == "compile" else self.model
        self.compiles_step = self.mode.startswith("compile-step")
        if self.compiles_step:
            # Not fullgraph, which fails in torch 2.13 (checked): Dynamo skips
            # Optimizer.zero_grad, does not trace loss.backward() (unless a private flag is
            # set), and optimizer.step() graph-breaks on purpose before and after the
            # update (torch/optim/optimizer.py, pytorch/pytorch#104053). So the step is
            # compiled in graphs between those breaks: the forward pass and loss (their
            # backward made by AOTAutograd) and the optimiser's update (inductor fuses its
            # foreach kernels).
            self._compiled_step = torch.compile(
                self._step,
                mode="reduce-overhead" if self.mode == "compile-step-cudagraphs" else "default")
        if spec.convention == "matched":
            self.set_weights(initial_weights(spec))
        else:
            self.optimizer = self._new_optimizer()

    def get_weights(self):
        fc1, fc2 = self.model.fc1, self.model.fc2
        # nn.Linear stores (out, in); the interface uses Keras's (in, out).
        weights = [fc1.weight.T, fc1.bias, fc2.weight.T, fc2.bias]
        return [w.detach().cpu().numpy().astype(np.float32, copy=True) for w in weights]

    def set_weights(self, weights):
        W1, b1, W2, b2 = (torch.as_tensor(w) for w in check_weights(weights, self.spec))
        with torch.no_grad():
            self.model.fc1.weight.copy_(W1.T)
            self.model.fc1.bias.copy_(b1)
            self.model.fc2.weight.copy_(W2.T)
            self.model.fc2.bias.copy_(b2)
        if self.compiles_step and hasattr(self, "optimizer"):
            # The compiled step holds this optimiser (a new one would recompile it):
            # its state is zeroed in place instead, which is what a new one starts from.
            for state in self.optimizer.state.values():
                for value in state.values():
                    value.zero_()
        else:
            self.optimizer = self._new_optimizer()

    def predict(self, X):
        with torch.no_grad():
            return self.model(self._tensor(check_features(X, self.spec))).cpu().numpy()

    def train_step(self, X, y):
        X, y = check_features_labels(X, y, self.spec)
        return self._run_step(self._tensor(X), self._tensor(y)).item()

    def run_epoch(self, X, y):
        X, y = self._tensor(X), self._tensor(y)
        # The running loss stays on the device: a .item() per step would force a
        # host-device sync every step, which the course's loop does not need.
        total = torch.zeros((), device=self.torch_device)
        for batch in batch_slices(len(X), self.spec.batch_size):
            total += self._run_step(X[batch], y[batch]) * (batch.stop - batch.start)
        return total.item() / len(X)

    def synchronize(self):
        self.plumbing.synchronize(self.device)

    def settings(self):
        spec = self.spec
        defaults = self.optimizer.defaults
        return {
            **super().settings(),
            "framework_version": f"torch {torch.__version__}",
            "device_name": self.plumbing.device_name(self.device),
            "convention": spec.convention,
            "initial_weights": "shared glorot-uniform" if spec.convention == "matched" else
            "torch default (kaiming-uniform a=sqrt(5))",
            "adam_epsilon_placement": "after bias correction (PyTorch)",
            "adam_epsilon": defaults["eps"],
            "adam_implementation": _adam_implementation(defaults, self.compiles_step),
            "loss_clip": PROB_EPSILON if spec.convention == "matched" else "log clamped at -100",
            "compile": COMPILE_DESCRIPTIONS[self.mode],
            "fullgraph": False if self.compiles_step else None,
            "precision": "float32",
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
            "intra_op_threads": torch.get_num_threads(),
            "inter_op_threads": torch.get_num_interop_threads(),
        }

    # -- the course's loop, and the plumbing beside it --------------------------------

    def _step(self, X, y):
        self.optimizer.zero_grad()
        output = self.forward(X)
        loss = self.criterion(self._clip(output), y)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def _run_step(self, X, y):
        if not self.compiles_step:
            return self._step(X, y)
        if self.mode == "compile-step-cudagraphs":
            # A new iteration: the graph may now overwrite the last step's outputs (the
            # caller has read them by then).
            torch.compiler.cudagraph_mark_step_begin()
        return self._compiled_step(X, y)

    def _clip(self, output):
        if self.spec.convention == "matched":
            # Made of where, as the Keras twin's clip: the gradient passes exactly where the
            # value is kept, the bounds included. clamp's gradient at a bound changed from 1
            # to 0 in torch 2.15 (pytorch/pytorch PR 191142), and saturated outputs do land
            # on 1 - 1e-7 in float32, so clamp computed another function there.
            return torch.where(output < PROB_EPSILON, PROB_EPSILON,
                               torch.where(output > 1 - PROB_EPSILON, 1 - PROB_EPSILON, output))
        return output

    def _new_optimizer(self):
        spec = self.spec
        tuned = {}
        if self.compiles_step:
            # foreach: what the compiled optimiser fuses into one kernel (PyTorch's
            # "Compiling the optimizer" recipe); fused=True under torch.compile ran far
            # slower than foreach in a quick check here (torch 2.13, CPU). CUDA graphs
            # need the step count on the device: capturable.
            tuned = {"foreach": True,
                     "capturable": self.mode == "compile-step-cudagraphs"}
        if spec.convention == "course":
            optimizer = torch.optim.Adam(self.model.parameters(), lr=spec.lr, **tuned)
        else:
            optimizer = torch.optim.Adam(
                self.model.parameters(),
                lr=spec.lr,
                betas=(spec.adam_beta1, spec.adam_beta2),
                eps=spec.adam_epsilon,
                **tuned,
            )
        if self.compiles_step:
            _float64_step_counts(optimizer)
        return optimizer

    def _tensor(self, a):
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.torch_device)


def _float64_step_counts(optimizer) -> None:
    """Adam's state made up front, with the step count in float64.

    Eager Adam computes the bias corrections 1 - beta^t from the step as a Python
    float (float64); compiled, it computes them from the step tensor, which Adam makes
    float32, where 1 - 0.999 cancels (1.3e-5 off at t = 1). The compiled step then
    drifted 1.0e-6 from the eager one in the per-step loss over one epoch (the parity
    test's tolerance). A float64 step keeps the corrections as eager computes them.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            optimizer.state[p] = {
                # on the parameter's device: compiled, Adam takes its capturable path
                # (torch/optim/optimizer.py, "torch.compile x capturable"), which keeps
                # the step where the parameters are
                "step": torch.zeros((), dtype=torch.float64, device=p.device),
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
            }


def _adam_implementation(defaults, compiled) -> str:
    """Which of PyTorch's Adam kernels runs: fused, foreach or the per-tensor loop."""
    kind = ("fused" if defaults.get("fused") else "foreach" if defaults.get("foreach")
            else "default (foreach on CUDA, per-tensor loop on CPU)")
    return f"{kind}, compiled by inductor" if compiled else kind
