"""SimpleNet in Keras on several replicas: the course's Sequential and ``fit``, built and
trained under each backend's own data-parallel engine.

- ``keras-jax`` ``dp``: ``keras.distribution.DataParallel`` over jax's devices (on the
  CPU, the host devices that ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` makes
  before jax is imported: ``frameworks.backends.jax.prepare_replicas``; on CUDA, the GPUs
  present). The weights are replicated and every global batch is sharded over the
  devices; the loss is the global batch's mean, computed on the sharded batch.
- ``keras-tensorflow`` ``mirrored``: ``tf.distribute.MirroredStrategy`` over TensorFlow's
  logical CPU devices (``frameworks.backends.tensorflow.prepare_replicas``) or its GPUs.
  Each replica takes its slice of the global batch; Keras divides each replica's mean loss
  by the number of replicas (``tf.nn.compute_average_loss``'s convention) and the
  gradients are summed over replicas: the global mean when the slices are equal.

Both need every global batch, the last one included, to divide by the number of replicas:
jax refuses a batch it cannot shard evenly, and MirroredStrategy would average unequal
slices' means (not the global mean; tests/test_distributed.py measures the difference). The
benchmark skips such rows with that reason (``benchmarks.plan.replica_skip_reason``).

Beyond one machine: with ``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID`` set,
``keras.distribution.initialize()`` calls ``jax.distributed.initialize`` and jax's devices
are every process's (README, "Data parallel"). TensorFlow over several machines is refused:
Keras 3's ``fit`` fails under ``MultiWorkerMirroredStrategy`` ("Attempt to convert a value
(PerReplica...) to a Tensor"; keras-team/keras#20585, tensorflow/tensorflow#72388), so a
``TF_CONFIG`` naming more than one worker raises ``ModeUnsupported`` (``multi_worker_refusal``).
"""

from __future__ import annotations

import json
import os

import numpy as np

from frameworks import ModeUnsupported
from frameworks.base import batch_slices
from frameworks.keras_twin import KerasJaxTwin, KerasTensorflowTwin, import_keras

# Keras's own variables for jax.distributed.initialize (keras.distribution.initialize)
KERAS_MULTI_PROCESS_VARIABLE = "KERAS_DISTRIBUTION_NUM_PROCESSES"


def process_rows(n: int, batch_size: int, processes: int, index: int) -> np.ndarray:
    """The rows of an ``n``-row epoch that process ``index`` of ``processes`` feeds: its
    contiguous share of every global batch (jax builds each global batch from the
    processes' local parts, in process order)."""
    rows = []
    for batch in batch_slices(n, batch_size):
        size = batch.stop - batch.start
        rows.append(np.arange(batch.start + size * index // processes,
                              batch.start + size * (index + 1) // processes))
    return np.concatenate(rows)


class KerasJaxDPTwin(KerasJaxTwin):
    """``mode`` ``dp``: the course's model and ``fit`` under ``keras.distribution.DataParallel``."""

    def __init__(self, spec, device="cpu", mode="dp"):
        keras = import_keras("jax", device)
        import jax

        if KERAS_MULTI_PROCESS_VARIABLE in os.environ and not jax.distributed.is_initialized():
            keras.distribution.initialize()  # jax.distributed.initialize from Keras's variables
        self.devices = jax.devices("gpu" if device == "cuda" else "cpu")
        # Keras's auto-sharding only shards a tf.data.Dataset and refuses numpy arrays in a
        # multi-process job; each process here feeds its own share already (process_rows).
        self.distribution = keras.distribution.DataParallel(
            devices=self.devices, auto_shard_dataset=jax.process_count() == 1)
        super().__init__(spec, device, mode)

    def run_epoch(self, X, y):
        import jax

        if jax.process_count() > 1:  # each process feeds its share of every global batch
            rows = process_rows(len(X), self.spec.batch_size, jax.process_count(),
                                jax.process_index())
            with self._scope():
                history = self.model.fit(
                    X[rows], y[rows], batch_size=self.spec.batch_size // jax.process_count(),
                    epochs=1, shuffle=False, verbose=0)
            return float(history.history["loss"][0])
        return super().run_epoch(X, y)

    def settings(self):
        return {**super().settings(), "replicas": len(self.devices),
                "distribution": "keras.distribution.DataParallel",
                "replica_devices": [str(d) for d in self.devices]}

    def _scope(self):
        # Building, compiling, fitting and predicting all under the distribution: weights
        # replicated on every device, each global batch sharded over them.
        return self.distribution.scope()


def multi_worker_refusal(tf_config: str | None) -> str | None:
    """Why the ``mirrored`` twin cannot run under ``TF_CONFIG`` (its JSON text, or None when
    unset), in one sentence; None when it names at most one worker (chief included)."""
    if not tf_config:
        return None
    try:
        cluster = json.loads(tf_config).get("cluster", {})
        workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    except (ValueError, AttributeError, TypeError):
        return f"TF_CONFIG is not TensorFlow's cluster JSON: {tf_config!r}"
    if workers <= 1:
        return None
    return (f"keras-tensorflow-mirrored cannot run over the {workers} workers TF_CONFIG names, "
            "because Keras 3's fit fails under MultiWorkerMirroredStrategy "
            "(keras-team/keras#20585, tensorflow/tensorflow#72388); use torch-ddp or "
            "keras-jax-dp over several machines")


class KerasTensorflowMirroredTwin(KerasTensorflowTwin):
    """``mode`` ``mirrored``: the course's model and ``fit`` under
    ``tf.distribute.MirroredStrategy`` (``MultiWorkerMirroredStrategy`` when ``TF_CONFIG``
    names a cluster of one worker). Raises ``ModeUnsupported`` when ``TF_CONFIG`` names
    several workers (``multi_worker_refusal``), before TensorFlow is imported."""

    def __init__(self, spec, device="cpu", mode="mirrored"):
        refusal = multi_worker_refusal(os.environ.get("TF_CONFIG"))
        if refusal:
            raise ModeUnsupported(refusal)
        import_keras("tensorflow", device)
        import tensorflow as tf

        if "TF_CONFIG" in os.environ:
            # The cluster (workers, this task's index) from TF's TFConfigClusterResolver.
            self.strategy = tf.distribute.MultiWorkerMirroredStrategy()
        else:
            kind = "GPU" if device == "cuda" else "CPU"
            self.strategy = tf.distribute.MirroredStrategy(
                [d.name for d in tf.config.list_logical_devices(kind)])
        super().__init__(spec, device, mode)

    def settings(self):
        return {**super().settings(), "replicas": self.strategy.num_replicas_in_sync,
                "distribution": type(self.strategy).__name__,
                "replica_devices": list(self.strategy.extended.worker_devices)}

    def _scope(self):
        # The model's variables are made mirrored here, and fit distributes every batch.
        return self.strategy.scope()
