"""The progress lines of `pytest --benchmark`, as plain sentences in the reports' number style
(results.numbers): a count agrees with its noun ("1 row", "2 rows"), a time per step has
three significant figures and its interval is "[a, b]", an accuracy has the reports'
decimals. Pure functions of what the coordinator knows, so that each line can be tested
alone.
"""

from __future__ import annotations

from results import numbers
from results.estimate import ESTIMATOR, UNSTABLE_HALF_WIDTH_PCT
from results.model import Summary
from results.numbers import counted

SECONDS_FIGURES = numbers.COLUMN_FIGURES["seconds"]


def listed(items: list[str]) -> str:
    """"0", "0 and 1", "0, 1 and 2"."""
    items = [str(item) for item in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def duration(seconds: float) -> str:
    """A wall time as the progress lines say it: whole seconds below 90, else minutes to two
    figures ("7 s", "2.5 min", "12 min")."""
    if seconds < 90:
        return f"{numbers.grouped(seconds, 0)} s"
    return f"{numbers.number(seconds / 60, 2)} min"


# Below this many seconds left, "about 0 s left" (or "about 2 s") says less than "almost
# done": the estimate is not that precise.
ALMOST_DONE_S = 5.0


def left(eta_s: float) -> str:
    """The time left as the progress lines say it: "about 7 s left", "about 2.5 min left",
    or "almost done" under ``ALMOST_DONE_S`` seconds."""
    if eta_s < ALMOST_DONE_S:
        return "almost done"
    return f"about {duration(eta_s)} left"


def seconds(value: float) -> str:
    """A measured time in seconds to the reports' figures ("6.20 s", "0.0126 s")."""
    return f"{numbers.number(value, SECONDS_FIGURES)} s"


def accuracy(value: float | None) -> str:
    return numbers.fixed(value, numbers.ACCURACY_DECIMALS)


def header(rows: int, processes: int, preset: str, epochs_text: str, seeds, threads: int,
           affinity: str, results_path: str, part: str = "") -> str:
    """The first line: what the run will do and where its results go. ``epochs_text``:
    Plan.epochs_text ("2", or the counts per batch size); ``part``: " (part 1 of 2)" for a
    shard."""
    epochs = (f"{counted(int(epochs_text), 'epoch')} per seed" if epochs_text.isdigit()
              else f"epochs per seed: {epochs_text}")
    seed_words = ("seed " if len(seeds) == 1 else "seeds ") + listed(list(seeds))
    return (f"sidebyside: {counted(rows, 'row')}{part}, {counted(processes, 'process')} each "
            f"(preset {preset}); {epochs}, {seed_words}; {counted(threads, 'thread')} per "
            f"worker, affinity {affinity}; results in {results_path}")


def groups(parts: list[list], budget_gib: float) -> str:
    """Which rows are sampled together: one phrase per group of rows, naming a width or a
    training size only where the groups differ in it, and saying so where one comparison
    had to be split to fit the memory budget."""
    def key(row):
        return (row.device, row.batch_size, row.hidden_size, row.n_train)

    keys = [key(part[0]) for part in parts]
    widths = len({k[2] for k in keys}) > 1
    sizes = len({k[3] for k in keys}) > 1
    phrases = []
    for part, (device, batch, width, n_train) in zip(parts, keys):
        text = f"{counted(len(part), 'row')} on {device} at batch {numbers.grouped(batch, 0)}"
        if widths:
            text += f", width {numbers.grouped(width, 0)}"
        if sizes and n_train:
            text += f", {numbers.grouped(n_train, 0)} samples"
        phrases.append(text)
    line = "; ".join(phrases)
    split = len(keys) - len(set(keys))
    if split:
        line += (f" (the rows of one comparison split into groups that fit the memory "
                 f"budget of {numbers.number(budget_gib)} GiB)")
    return line


def estimate(quiet_s: float, factor: float) -> str:
    """The run's expected length: the quiet machine's estimate and, where the machine was
    busy at the start (``factor``: coordinator.busy_factor, above 1.1), that estimate times
    the factor, with the arithmetic."""
    if factor <= 1.1:
        return f"about {duration(quiet_s)} (estimate)"
    waited = numbers.number(100 * (factor - 1), 2)
    return (f"about {duration(quiet_s * factor)} at this load (estimate: "
            f"{duration(quiet_s)} on a quiet machine × {numbers.number(factor, 2)}, as tasks "
            f"waited for a CPU {waited}% of the 10 s before the run)")


def start(processes: int, estimate: str, groups_text: str) -> str:
    """The line before the first worker starts: how many processes, how long, which rows
    are sampled together (``groups``; empty where every row runs its processes alone, as
    data-parallel rows do)."""
    together = f"; rows sampled together, in interleaved rounds: {groups_text}"
    return (f"sidebyside: {counted(processes, 'worker process', 'worker processes')}, "
            f"{estimate}{together if groups_text else ''}")


def starting(number: int, total: int, row_id: str, index: int, processes: int) -> str:
    """"[3/15] numpy-loop-cpu-b1024 process 1 of 1 starting ...": ``index`` from 0."""
    return f"[{number}/{total}] {row_id} process {index + 1} of {processes} starting ..."


def ready(row_id: str, elapsed_s: float) -> str:
    return f"    {row_id} ready after {seconds(elapsed_s)} (imported, built, trained its seeds)"


def sampling(rows: int, rounds: int) -> str:
    return f"    sampling {counted(rows, 'row')} in {counted(rounds, 'interleaved round')} ..."


def quiet(elapsed_s: float) -> str:
    return (f"    ... still working after {duration(elapsed_s)} (a first epoch that compiles "
            "takes a while)")


def seed_trained(seed: int, epochs: int, last_epoch_s: float, test_accuracy: float) -> str:
    return (f"    seed {seed} trained {counted(epochs, 'epoch')}, the last in "
            f"{seconds(last_epoch_s)}; test accuracy {accuracy(test_accuracy)}")


def process_done(row_id: str, index: int, processes: int, status: str, wall_s: float,
                 eta_s: float, us_per_step: float | None = None,
                 starved_reason: str | None = None, reason: str = "") -> str:
    """One finished process: its status and wall time, its own p10 per step (ok) or the
    first line of its reason (otherwise), whether the machine starved it, and the time
    left."""
    line = f"    {row_id} process {index + 1} of {processes}: {status} in {seconds(wall_s)}"
    if us_per_step is not None:
        line += f", {ESTIMATOR} {numbers.number(us_per_step)} µs/step"
    elif reason:
        line += f": {reason.splitlines()[0]}"
    if starved_reason:
        line += f"; starved of CPU: {starved_reason}"
    return f"{line}; {left(eta_s)}"


def row_done(row_id: str, s: Summary) -> str:
    """A row whose last process has finished: its headline with the 95% interval, the
    median, the processes, the first epoch and the test accuracy (mean over seeds)."""
    time = numbers.with_interval(s.us_per_step, s.us_per_step_ci_low, s.us_per_step_ci_high)
    seeds = s.get("n_seeds") or 1
    mean = f" (mean of {counted(seeds, 'seed')})" if seeds > 1 else ""
    return (f"    {row_id} done: {ESTIMATOR} {time} µs/step over "
            f"{counted(s.processes_ok, 'process')} (median "
            f"{numbers.number(s.us_per_step_median)}), first epoch "
            f"{seconds(s.first_epoch_s)}, test accuracy {accuracy(s.test_accuracy_mean)}{mean}")


def unstable(row_id: str, reasons: list[str]) -> str:
    """The row's instability in one line, with what would pin its time down."""
    return (f"    UNSTABLE {row_id}: {'; '.join(reasons)}; to pin it down to "
            f"±{UNSTABLE_HALF_WIDTH_PCT:g}%: more --rounds or --processes, or a quieter machine")
