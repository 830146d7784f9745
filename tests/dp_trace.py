"""One epoch of a data-parallel twin and of its single-process twin, from the same start.

    python tests/dp_trace.py VARIANT REPLICAS OUT.npz N_TRAIN:BATCH [N_TRAIN:BATCH ...]
    python -m torch.distributed.run --standalone --nproc-per-node 2 \\
        tests/dp_trace.py torch-ddp 2 OUT.npz 1000:100

VARIANT is torch-ddp, keras-jax-dp or keras-tensorflow-mirrored. For every N_TRAIN:BATCH
case it saves ``{case}/dp`` and ``{case}/single`` (the weights, flattened), ``{case}/start``
and the two epochs' mean losses. The replicas are made here, before the framework starts
(jax reads XLA_FLAGS once, TensorFlow's logical devices must precede its runtime), which is
why the parity tests run this in a process of its own. torch-ddp's processes all train;
rank 0 also trains the single-process twin and writes the file.
"""

import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from benchmarks.plan import VARIANTS, single_mode  # noqa: E402
from frameworks import IMPLEMENTATIONS, SimpleNetSpec, initial_weights, load, make_dataset  # noqa: E402
from frameworks.backends import backend  # noqa: E402


def flat(weights):
    return np.concatenate([w.ravel() for w in weights])


def main(argv):
    variant, replicas, path, *cases = argv
    name, mode = VARIANTS[variant]
    backend(IMPLEMENTATIONS[name].framework).prepare_replicas(int(replicas), "cpu")
    rank = int(os.environ.get("RANK", "0"))
    out = {}
    for case in cases:
        n_train, batch_size = (int(part) for part in case.split(":"))
        spec = SimpleNetSpec(n_train=n_train, batch_size=batch_size, seed=5)
        X, y = make_dataset(spec).epoch_arrays(0)
        dp = load(name, spec, mode=mode)
        out[f"{case}/replicas"] = dp.settings()["replicas"]
        out[f"{case}/dp_loss"] = dp.train_epoch(X, y)
        out[f"{case}/dp"] = flat(dp.get_weights())
        if rank == 0:
            single = load(name, spec, mode=single_mode(variant))
            out[f"{case}/single_loss"] = single.train_epoch(X, y)
            out[f"{case}/single"] = flat(single.get_weights())
            out[f"{case}/start"] = flat(initial_weights(spec))
    if rank == 0:
        np.savez(path, **out)


if __name__ == "__main__":
    main(sys.argv[1:])
    if "LOCAL_RANK" in os.environ:  # a torchrun rank: as the benchmark's worker ends one
        from frameworks.torch_ddp_twin import exit_rank

        exit_rank(0)
