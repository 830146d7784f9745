"""SimpleNet in PyTorch: the course's nn.Module and its hand-written training loop."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from frameworks.base import (
    PROB_EPSILON,
    Twin,
    batch_slices,
    check_features,
    check_features_labels,
    check_weights,
)
from frameworks.data import initial_weights


class SimpleNet(nn.Module):
    def __init__(self, input_size=10, hidden_size=16):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, 1)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        return torch.sigmoid(self.fc2(x))


class TorchTwin(Twin):
    name = "torch"

    def __init__(self, spec, device="cpu", mode=None):
        super().__init__(spec, device, mode)
        self.torch_device = torch.device(device)
        # Full float32 everywhere: TF32 would make GPU rows compute another function.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.manual_seed(spec.seed)  # the course convention's initial weights come from here
        self.model = SimpleNet(spec.input_size, spec.hidden_size).to(self.torch_device)
        self.criterion = nn.BCELoss()
        # torch.compile wraps the module; the parameters, and so the optimiser, are shared.
        self.forward = torch.compile(self.model) if self.mode == "compile" else self.model
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
        self.optimizer = self._new_optimizer()

    def predict(self, X):
        with torch.no_grad():
            return self.model(self._tensor(check_features(X, self.spec))).cpu().numpy()

    def train_step(self, X, y):
        X, y = check_features_labels(X, y, self.spec)
        return self._step(self._tensor(X), self._tensor(y)).item()

    def train_epoch(self, X, y):
        X, y = check_features_labels(X, y, self.spec)
        X, y = self._tensor(X), self._tensor(y)
        # The running loss stays on the device: a .item() per step would force a
        # host-device sync every step, which the course's loop does not need.
        total = torch.zeros((), device=self.torch_device)
        for batch in batch_slices(len(X), self.spec.batch_size):
            total += self._step(X[batch], y[batch]) * (batch.stop - batch.start)
        return total.item() / len(X)

    def synchronize(self):
        if self.torch_device.type == "cuda":
            torch.cuda.synchronize(self.torch_device)

    def settings(self):
        spec = self.spec
        defaults = self.optimizer.defaults
        return {
            **super().settings(),
            "framework_version": f"torch {torch.__version__}",
            "device_name": (
                torch.cuda.get_device_name(self.torch_device)
                if self.torch_device.type == "cuda"
                else "cpu"
            ),
            "convention": spec.convention,
            "initial_weights": "shared glorot-uniform" if spec.convention == "matched" else
            "torch default (kaiming-uniform a=sqrt(5))",
            "adam_epsilon_placement": "after bias correction (PyTorch)",
            "adam_epsilon": defaults["eps"],
            "adam_implementation": "foreach" if defaults.get("foreach") else "default",
            "loss_clip": PROB_EPSILON if spec.convention == "matched" else "log clamped at -100",
            "compile": "torch.compile(model), inductor, default mode"
            if self.mode == "compile" else "eager",
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

    def _clip(self, output):
        if self.spec.convention == "matched":
            return output.clamp(PROB_EPSILON, 1 - PROB_EPSILON)
        return output

    def _new_optimizer(self):
        spec = self.spec
        if spec.convention == "course":
            return torch.optim.Adam(self.model.parameters(), lr=spec.lr)
        return torch.optim.Adam(
            self.model.parameters(),
            lr=spec.lr,
            betas=(spec.adam_beta1, spec.adam_beta2),
            eps=spec.adam_epsilon,
        )

    def _tensor(self, a):
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.torch_device)
