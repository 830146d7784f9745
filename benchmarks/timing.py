"""The epochs a worker times: the timed region itself (``timed_epoch``), the seeds' training
with an evaluation after each epoch (outside the timed region), the top-up to the steady
epochs a worker sampled alone needs, a resident worker's samples, and the overhead check
against a bare loop.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from typing import TYPE_CHECKING

from benchmarks import memory
from frameworks import Dataset, initial_weights, make_dataset
from frameworks.base import check_features_labels

if TYPE_CHECKING:
    from benchmarks.worker_steps import Built


@dataclasses.dataclass
class Epoch:
    """One timed epoch: wall seconds, the loss, the CPU seconds and the RSS growth inside it."""

    seconds: float
    loss: float
    cpu_s: float
    peak_rss_above_start_bytes: int | None
    rss_start_bytes: int | None


def timed_epoch(twin, X, y, slow: float = 1.0) -> Epoch:
    """One epoch's wall time, device work included: the suite's whole timed region.

    The resident-set peak is reset right before the clock starts and read right after it
    stops, so the memory window is the timed window: the data's copies into the epoch's
    order (made by the caller) and the evaluation lie outside both. ``slow`` > 1 stretches
    the timed region (the ``slow:`` fault) by a busy wait inside it: extra work on the CPU,
    as a slower implementation would do, which a machine's noise slows down too (a sleep
    would not be, and would leave the CPU to the other rows' workers). The twin's input
    checks run before both windows: they are the suite's cost, not the framework's.
    """
    X, y = check_features_labels(X, y, twin.spec)
    memory.reset_peak_rss()
    rss_start = memory.rss_bytes()
    cpu_start = time.process_time()
    twin.synchronize()
    start = time.perf_counter()
    loss = twin.run_epoch(X, y)
    twin.synchronize()
    if slow > 1.0:
        until = time.perf_counter() + (slow - 1.0) * (time.perf_counter() - start)
        while time.perf_counter() < until:
            pass
    seconds = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start
    peak = memory.peak_rss_bytes()
    above = None if peak is None or rss_start is None else max(0, peak - rss_start)
    return Epoch(seconds, loss, cpu_s, above, rss_start)


@dataclasses.dataclass
class Training:
    """What training the seeds gave: the epochs' times, losses and accuracies."""

    data: Dataset  # the last seed's: the top-up and the samples go on with its epoch order
    next_epoch: int  # the index of the next epoch of ``data`` to train
    first_epoch_s: float | None = None
    steady_epoch_s: list[float] = dataclasses.field(default_factory=list)
    curves: list[dict] = dataclasses.field(default_factory=list)
    per_seed: list[dict] = dataclasses.field(default_factory=list)
    timed: list[Epoch] = dataclasses.field(default_factory=list)  # every timed epoch
    first_seed_weights: list | None = None  # kept for a data-parallel row's weight gap


def train_seeds(built: Built, seeds, epochs: int, slow: float, emit,
                keep_first_weights: bool = False) -> Training:
    """Train each seed for ``epochs`` timed epochs, evaluating after each (outside the timed
    window); the first epoch of the first seed is the one that compiles. Emits a
    ``progress`` event before training and after each epoch."""
    twin, spec, data = built.twin, built.spec, built.data
    training = Training(data, epochs)
    emit("progress", stage="first epoch", seed=seeds[0], epoch=0, epochs=epochs)
    for index, seed in enumerate(seeds):
        if index:
            # Matched convention: a new seed is new data, order and initial weights; the
            # built and compiled model is reused, so only the first epoch compiles.
            seed_spec = spec.replace(seed=seed)
            data = training.data = make_dataset(seed_spec)
            twin.set_weights(initial_weights(seed_spec))
        elapsed, reached = 0.0, None
        for epoch in range(epochs):
            X, y = data.epoch_arrays(epoch)  # outside the timed (and memory) window
            result = timed_epoch(twin, X, y, slow)
            training.timed.append(result)
            if training.first_epoch_s is None:
                training.first_epoch_s = result.seconds
            else:
                training.steady_epoch_s.append(result.seconds)
            elapsed += result.seconds
            test_loss, accuracy = twin.evaluate(data.X_test, data.y_test)
            if reached is None and accuracy >= built.target_accuracy:
                reached = elapsed
            training.curves.append({"seed": seed, "epoch": epoch + 1, "train_loss": result.loss,
                                    "test_loss": test_loss, "test_accuracy": accuracy,
                                    "elapsed_s": elapsed})
            emit("progress", stage="epoch", seed=seed, epoch=epoch + 1, epochs=epochs,
                 loss=result.loss, test_accuracy=accuracy, epoch_s=result.seconds)
        training.per_seed.append({"seed": seed, "final_loss": result.loss,
                                  "test_loss": test_loss, "test_accuracy": accuracy,
                                  "time_to_accuracy_s": reached})
        if index == 0 and keep_first_weights:
            training.first_seed_weights = twin.get_weights()
    return training


def top_up(twin, training: Training, rounds: int, slow: float) -> None:
    """Time more epochs of the last seed until training has ``rounds`` steady epochs (a
    worker sampled per process; a resident worker's samples come from the coordinator's
    rounds instead)."""
    while len(training.steady_epoch_s) < rounds:
        X, y = training.data.epoch_arrays(training.next_epoch)
        result = timed_epoch(twin, X, y, slow)
        training.timed.append(result)
        training.steady_epoch_s.append(result.seconds)
        training.next_epoch += 1


def sample_epochs(twin, data, first_epoch: int, slow: float, timed: list, commands,
                  emit) -> tuple[list[float], list[int]]:
    """A resident worker's samples: one timed epoch per ``sample`` command, until ``stop``.

    Each sample trains on the next epoch's batch order (epoch ``first_epoch`` onwards;
    made outside the timed window), so the model keeps training as it would; its Epoch
    joins ``timed`` (the memory and CPU accounting). Returns the epochs' seconds and the
    worker's place in each round, as the coordinator sent it.
    """
    samples, positions = [], []
    emit("ready")
    for line in commands:
        command = json.loads(line) if line.strip() else {}
        if command.get("command") != "sample":
            break
        X, y = data.epoch_arrays(first_epoch + len(samples))
        result = timed_epoch(twin, X, y, slow)
        timed.append(result)
        samples.append(result.seconds)
        positions.append(int(command.get("position", 0)))
        emit("sample", epoch_s=result.seconds)
    return samples, positions


def overhead_check(twin, data, epochs: int = 3, blocks: int = 7) -> dict:
    """The suite's per-epoch timing against a bare loop timed once around several epochs.

    Short blocks alternate, suite then bare, and each block pair gives one ratio of
    means; the median over the pairs is the harness's overhead with the machine's drift
    (which moves both halves of a pair alike) cancelled. ``ratio_median_to_bare`` also
    compares what the suite reports, its median, with the bare mean.
    """
    X, y = check_features_labels(*data.epoch_arrays(0), twin.spec)
    suite, pair_ratios, bare_total = [], [], 0.0
    for _ in range(blocks):
        block = [timed_epoch(twin, X, y).seconds for _ in range(epochs)]
        twin.synchronize()
        start = time.perf_counter()
        for _ in range(epochs):
            twin.run_epoch(X, y)
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
