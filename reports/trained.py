"""What a run trained, in words: the epochs per batch size and the seeds, for the report's
footnote (``epochs_text``), the plots' subtitles (``trained_text``) and the Accuracy caption
(``epochs_sentence``). The counts come from results.epochs (the plan's ``epochs``, more where
``min_steps`` asks for them), the words from results.epochs.describe and results.numbers.
"""

from __future__ import annotations

import pandas as pd

from reports.cells import MEASURED_STATUSES
from results import epochs, numbers
from results.epochs import epochs_for


def epoch_counts(plan: dict, frame: pd.DataFrame) -> dict[tuple[int, int], int]:
    """(batch size, training samples) -> the epochs its rows trained (results.epochs:
    the plan's ``epochs``, more where ``min_steps`` asks for them), for the measured rows of
    ``frame`` (the run's tidy table), else for the plan's batch sizes."""
    epochs, min_steps = int(plan["epochs"]), int(plan.get("min_steps") or 0)
    measured = frame[frame["status"].isin(MEASURED_STATUSES)]
    if len(measured):
        sizes = measured["n_train"] if "n_train" in measured.columns else [None] * len(measured)
        pairs = sorted({(int(b), int(plan["n_train"] if numbers.is_missing(n) else n))
                        for b, n in zip(measured["batch_size"], sizes)})
    else:
        pairs = sorted((int(b), int(plan["n_train"])) for b in plan.get("batch_sizes") or ())
    return {pair: epochs_for(epochs, min_steps, *pair) for pair in pairs}


def epochs_text(plan: dict, frame: pd.DataFrame) -> str:
    """The epochs each row trained, in the one number style: "3" for one count for all,
    "12 at batch size 32, 120 at batch size 1 024 (at least 12 epochs and 1 200 steps)"
    where the plan's ``min_steps`` gives batch sizes counts of their own. ``frame``: the
    run's tidy table; "" where the plan records no epochs."""
    if plan.get("epochs") is None:
        return ""
    return epochs.describe(int(plan["epochs"]), int(plan.get("min_steps") or 0),
                           epoch_counts(plan, frame))


def trained_text(plan: dict, frame: pd.DataFrame) -> str:
    """What each seed trained and how many seeds, for a plot's subtitle: "2 epochs, 1 seed",
    "12 to 120 epochs by batch size, 3 seeds" (``epoch_counts``; the plan's ``seeds``);
    "" where the plan records neither."""
    parts = []
    if plan.get("epochs") is not None:
        counts = sorted(set(epoch_counts(plan, frame).values())) or [int(plan["epochs"])]
        parts.append(numbers.counted(counts[0], "epoch") if len(counts) == 1 else
                     f"{numbers.grouped(counts[0], 0)} to {numbers.grouped(counts[-1], 0)} "
                     "epochs by batch size")
    if plan.get("seeds") is not None:
        parts.append(numbers.counted(len(plan["seeds"]), "seed"))
    return ", ".join(parts)


def epochs_sentence(plan: dict, frame: pd.DataFrame) -> str:
    """" Epochs trained: ..." for the Accuracy caption, with why a large batch trains more
    epochs where it does; "" where the plan records no epochs."""
    if plan.get("epochs") is None:
        return ""
    counts = epoch_counts(plan, frame)
    if len(set(counts.values())) <= 1:
        return f" Epochs trained: {epochs_text(plan, frame)}."
    return (f" Epochs trained: {epochs.each(counts)}. Every row trains at least "
            f"{numbers.grouped(plan['epochs'], 0)} epochs and "
            f"{numbers.grouped(plan['min_steps'], 0)} Adam steps; a larger batch takes fewer "
            "steps an epoch, so it trains more epochs to reach the target.")
