"""TensorFlow's plumbing (see frameworks/backends/__init__.py for the interface)."""

from __future__ import annotations

import os

from frameworks.backends import DeviceUnavailable

GPU_PEAK_METHOD = "tf.config.experimental.get_memory_info peak"


def apply_threads(threads: int) -> dict:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    return {"intra_op_threads": threads, "inter_op_threads": threads}


def check_device(device: str) -> None:
    if device != "cuda":
        return
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        raise DeviceUnavailable("TensorFlow sees no GPU (tensorflow-cpu, or no CUDA build)")


def device_name(device: str) -> str:
    if device != "cuda":
        return "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
    return details.get("device_name", "gpu")


def synchronize(device: str, arrays=()) -> None:
    if device == "cuda":
        import tensorflow as tf

        tf.test.experimental.sync_devices()


def disable_tf32() -> None:
    import tensorflow as tf

    tf.config.experimental.enable_tensor_float_32_execution(False)


def gpu_peak_reset() -> int:
    import tensorflow as tf

    tf.config.experimental.reset_memory_stats("GPU:0")
    return 0


def gpu_peak_bytes(baseline: int) -> int | None:
    import tensorflow as tf

    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"]) - baseline


def settings() -> dict:
    import tensorflow as tf

    return {
        "backend_version": f"tensorflow {tf.__version__}",
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "tf32": tf.config.experimental.tensor_float_32_execution_enabled()
        if tf.config.list_physical_devices("GPU") else False,
        "tf_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
    }


def prepare_replicas(replicas: int, device: str) -> None:
    if device != "cpu" or "TF_CONFIG" in os.environ:
        # MirroredStrategy's replicas are the GPUs present; MultiWorkerMirroredStrategy's
        # (TF_CONFIG) each worker's own device
        return
    import tensorflow as tf

    # Logical devices can only be made before TensorFlow's runtime starts (its first op);
    # importing Keras does not start it.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)])
