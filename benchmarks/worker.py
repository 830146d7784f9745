"""Measure one row in a process of its own: ``python -m benchmarks.worker < job.json``.

Why a process per row: one Keras backend per process (Keras fixes it at import), no
framework's thread pool competing with another's, and memory that belongs to one
framework. The coordinator (benchmarks/runner.py) sends the job as JSON on stdin and
reads JSON lines back: ``progress`` events while it trains, then one ``result`` or
``skip``. Anything the frameworks print goes to stderr, never into that stream.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import sys
import time

from benchmarks import memory
from frameworks import (
    IMPLEMENTATIONS,
    FrameworkNotInstalled,
    ModeUnsupported,
    SimpleNetSpec,
    initial_weights,
    load,
    make_dataset,
)
from frameworks.backends import DeviceUnavailable, backend

FAULT_ENV = "SIDEBYSIDE_INJECT_FAULT"  # "crash:ROW_ID" or "hang:ROW_ID", for the suite's tests


class Skip(Exception):
    """This row cannot run here; the message says why."""


def timed_epoch(twin, X, y) -> tuple[float, float]:
    """One epoch's wall time, device work included: the suite's whole timed region."""
    twin.synchronize()
    start = time.perf_counter()
    loss = twin.train_epoch(X, y)
    twin.synchronize()
    return time.perf_counter() - start, loss


def import_framework(impl, device: str) -> None:
    """Import the framework itself (the twins import theirs lazily), to time and weigh it."""
    if impl.keras_backend:
        from frameworks.keras_twin import import_keras

        import_keras(impl.keras_backend, device)
    else:
        importlib.import_module(impl.framework)


def apply_threads(framework: str, threads: int) -> dict:
    """Give the framework ``threads`` intra-op and inter-op threads; return what it reports."""
    return backend(framework).apply_threads(threads)


def check_device(framework: str, device: str) -> None:
    """Skip the row when the framework cannot run on ``device`` here."""
    try:
        backend(framework).check_device(device)
    except DeviceUnavailable as err:
        raise Skip(str(err)) from None


def inject_fault(row_id: str) -> None:
    kind, _, target = os.environ.get(FAULT_ENV, "").partition(":")
    if target == row_id:
        if kind == "crash":
            raise RuntimeError(f"injected crash in {row_id} ({FAULT_ENV})")
        if kind == "hang":
            time.sleep(10**6)


def measure(job: dict, emit) -> dict:
    row, plan = job["row"], job["plan"]
    name, mode, device = row["implementation"], row["mode"], row["device"]
    impl = IMPLEMENTATIONS[name]
    framework = impl.framework
    row_id = f"{name}-{mode}-{device}-b{row['batch_size']}"

    try:
        impl.require()
    except FrameworkNotInstalled as err:
        raise Skip(str(err)) from None
    start = time.perf_counter()
    import_framework(impl, device)
    import_s = time.perf_counter() - start
    rss_after_import = memory.rss_bytes()
    threads = apply_threads(framework, plan["threads"])
    check_device(framework, device)
    inject_fault(row_id)

    seeds, epochs = plan["seeds"], plan["epochs"]
    spec = SimpleNetSpec(batch_size=row["batch_size"], epochs=epochs, seed=seeds[0],
                         n_train=plan["n_train"], n_test=plan["n_test"])
    data = make_dataset(spec)
    target = plan["target_accuracy"]
    if target is None:
        target = round(data.bayes_accuracy - plan["target_gap"], 6)

    start = time.perf_counter()
    twin = load(name, spec, device=device, mode=mode)
    build_s = time.perf_counter() - start

    gpu = memory.GpuPeak(framework) if device == "cuda" else None
    rss_baseline = memory.rss_bytes()
    peak_is_per_phase = memory.reset_peak_rss()
    if gpu:
        gpu.reset()

    first_epoch_s, steady, curves, per_seed = None, [], [], []
    for index, seed in enumerate(seeds):
        if index:
            # Matched convention: a new seed is new data, order and initial weights; the
            # built and compiled model is reused, so only the first epoch compiles.
            seed_spec = spec.replace(seed=seed)
            data = make_dataset(seed_spec)
            twin.set_weights(initial_weights(seed_spec))
        elapsed, reached, loss = 0.0, None, float("nan")
        for epoch in range(epochs):
            X, y = data.epoch_arrays(epoch)
            seconds, loss = timed_epoch(twin, X, y)
            if first_epoch_s is None:
                first_epoch_s = seconds
            else:
                steady.append(seconds)
            elapsed += seconds
            test_loss, accuracy = twin.evaluate(data.X_test, data.y_test)
            if reached is None and accuracy >= target:
                reached = elapsed
            curves.append({"seed": seed, "epoch": epoch + 1, "train_loss": loss,
                           "test_loss": test_loss, "test_accuracy": accuracy,
                           "elapsed_s": elapsed})
            emit("progress", seed=seed, epoch=epoch + 1, epochs=epochs, loss=loss,
                 test_accuracy=accuracy, epoch_s=seconds)
        per_seed.append({"seed": seed, "final_loss": loss, "test_loss": test_loss,
                         "test_accuracy": accuracy, "time_to_accuracy_s": reached})

    # Top up the steady-state rounds when training alone gave fewer than asked for.
    extra = 0
    while len(steady) < plan["rounds"]:
        X, y = data.epoch_arrays(epochs + extra)
        steady.append(timed_epoch(twin, X, y)[0])
        extra += 1

    peak = memory.peak_rss_bytes()
    result = {
        "row": row_id,
        "first_epoch_s": first_epoch_s,
        "steady_epoch_s": steady,
        "steps_per_epoch": -(-spec.n_train // spec.batch_size),
        "n_train": spec.n_train,
        "n_test": spec.n_test,
        "seeds": per_seed,
        "curves": curves,
        "bayes_accuracy": data.bayes_accuracy,
        "target_accuracy": target,
        "import_s": import_s,
        "build_s": build_s,
        "memory": {
            "rss_after_import_bytes": rss_after_import,
            "rss_baseline_bytes": rss_baseline,
            "peak_rss_above_baseline_bytes": None if peak is None or rss_baseline is None
            else peak - rss_baseline,
            "peak_rss_scope": "training" if peak_is_per_phase else "whole process",
            "gpu_peak_bytes": gpu.peak_bytes() if gpu else None,
            "gpu_peak_method": gpu.method if gpu else None,
        },
        "settings": {**twin.settings(), **threads, "threads_requested": plan["threads"],
                     "data": data.describe() | {"seed": seeds[0]}},
    }
    if plan.get("overhead_check"):
        result["overhead"] = overhead_check(twin, data)
    return result


def overhead_check(twin, data, epochs: int = 3, blocks: int = 7) -> dict:
    """The suite's per-epoch timing against a bare loop timed once around several epochs.

    Short blocks alternate, suite then bare, and each block pair gives one ratio of
    means; the median over the pairs is the harness's overhead with the machine's drift
    (which moves both halves of a pair alike) cancelled. ``ratio_median_to_bare`` also
    compares what the suite reports, its median, with the bare mean.
    """
    X, y = data.epoch_arrays(0)
    suite, pair_ratios, bare_total = [], [], 0.0
    for _ in range(blocks):
        block = [timed_epoch(twin, X, y)[0] for _ in range(epochs)]
        twin.synchronize()
        start = time.perf_counter()
        for _ in range(epochs):
            twin.train_epoch(X, y)
        twin.synchronize()
        bare = (time.perf_counter() - start) / epochs
        suite += block
        bare_total += bare * epochs
        pair_ratios.append(statistics.fmean(block) / bare)
    bare_mean = bare_total / (blocks * epochs)
    return {"ratio": statistics.median(pair_ratios), "pair_ratios": pair_ratios,
            "suite_epoch_s_mean": statistics.fmean(suite),
            "suite_epoch_s_median": statistics.median(suite),
            "bare_loop_epoch_s_mean": bare_mean,
            "ratio_median_to_bare": statistics.median(suite) / bare_mean,
            "epochs_per_block": epochs, "blocks": blocks}


def _protocol_stream():
    """Keep the real stdout for the protocol; send fd 1 (C libraries too) to stderr."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol


def main() -> int:
    job = json.load(sys.stdin)
    protocol = _protocol_stream()

    def emit(event, **fields):
        protocol.write(json.dumps({"event": event, **fields}) + "\n")

    try:
        emit("result", **measure(job, emit))
    except (Skip, ModeUnsupported) as skip:  # ModeUnsupported: the framework's own refusal
        emit("skip", reason=str(skip))
    return 0


if __name__ == "__main__":
    sys.exit(main())
