"""How many epochs a row trains: the plan's epochs, or more where its batch size needs more
optimizer steps to learn the task.

Why a rule per batch size: one epoch is ``ceil(n_train / batch_size)`` Adam steps, so a fixed
number of epochs gives a large batch few steps. With the default data (10,000 training
samples) and Adam at lr 0.001, the numpy twin (every twin computes the same function under
the matched convention) first reached the default target accuracy (the Bayes accuracy 0.90
minus 0.05) after 5 to 9 epochs at batch 32 and after 47 to 93 epochs at batch 1024 (seeds
0 to 4): small batches need passes over the data, large batches need steps. So the default
preset asks for at least 12 epochs and at least 1,200 steps, which covers both with a
quarter to spare: 12 epochs at batch 32, 120 at batch 1024.

Result files before ``min_steps`` existed read it as 0: their epochs are ``plan.epochs``.
Pure integer arithmetic and its words, importing nothing of ours but results.numbers: the
planner, the worker and the reports all use it.
"""

from __future__ import annotations

from results import numbers


def steps_per_epoch(batch_size: int, n_train: int) -> int:
    """Adam steps in one epoch: ``ceil(n_train / batch_size)`` (the last batch may be short)."""
    return -(-n_train // batch_size)


def epochs_for(epochs: int, min_steps: int, batch_size: int, n_train: int) -> int:
    """The epochs a row of ``batch_size`` on ``n_train`` samples trains: ``epochs``, or more
    where that many epochs would be under ``min_steps`` steps. Raises ValueError for a batch
    size or training set under 1."""
    if batch_size < 1 or n_train < 1:
        raise ValueError(f"batch size and training samples must be at least 1, got "
                         f"{batch_size} and {n_train}")
    per_epoch = steps_per_epoch(batch_size, n_train)
    return max(epochs, -(-min_steps // per_epoch))


def each(counts: dict[tuple[int, int], int]) -> str:
    """"12 at batch size 32, 120 at batch size 1 024" for ``counts`` ((batch size, training
    samples) -> epochs), each training set's size named where the counts differ in it; the
    numbers in the reports' style (results.numbers)."""
    several_sizes = len({n for _, n in counts}) > 1
    return ", ".join(
        f"{numbers.grouped(count, 0)} at batch size {numbers.grouped(batch, 0)}"
        + (f" on {numbers.grouped(n, 0)} samples" if several_sizes else "")
        for (batch, n), count in counts.items())


def describe(epochs: int, min_steps: int, counts: dict[tuple[int, int], int]) -> str:
    """The epochs in words: "3" where every row trains the same count, else "12 at batch size
    32, 120 at batch size 1 024 (at least 12 epochs and 1 200 steps)". ``counts``:
    (batch size, training samples) -> the epochs its rows train (``epochs_for``)."""
    if len(set(counts.values())) <= 1:
        return numbers.grouped(next(iter(counts.values()), epochs), 0)
    return (f"{each(counts)} (at least {numbers.grouped(epochs, 0)} epochs and "
            f"{numbers.grouped(min_steps, 0)} steps)")
