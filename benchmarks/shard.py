"""`pytest --benchmark --shard I/N`: the I-th of N disjoint parts of a plan, for running one
plan on several machines (a CI matrix, a Slurm job array) and merging it back with
`sidebyside-reports merge`.

The unit of the split is a block: the rows that share a device, a batch size, a width and a
training-set size (``results.summary.identity_key``). Every comparison the suite makes
inside a run stays within one block: "× torch loop" divides by the torch-loop row of the
same block, and a data-parallel row's speedup by its single-process twin of the same block.
So a part holds whole blocks, and every ratio of the merged run was measured on one machine.
A plan without torch-loop compares nothing but data-parallel rows with their twins, so there
a block is a row, or a data-parallel row with its twin.

The split depends on the plan alone, never on the machine (which devices it has, how fast it
is): every part, wherever it runs, computes the same split, so the parts are disjoint and
their union is the plan. Blocks go to parts by the longest-processing-time rule (largest
block first, to the part with the least work so far; ties to the lower part), with a block's
work estimated from its rows' worker starts and steps, so that the parts take similar time.
"""

from __future__ import annotations

import dataclasses

from benchmarks.options import OptionError
from benchmarks.plan import SINGLE_TWINS, Plan, Row

REFERENCE_VARIANT = "torch-loop"  # every "× torch loop" divides by this row's time

# The estimate of a block's work, in seconds of one worker: a start (imports, building, the
# first epoch) and a step. Only the ratio matters here, so rough numbers do: the plugin's own
# estimate measured 0.5 to 5 s a start and 0.8 to 4 ms a step on the 2-core development
# machine (benchmarks/coordinator.py, START_S and US_PER_STEP).
START_S = 3.0
STEP_S = 0.002


@dataclasses.dataclass(frozen=True)
class Shard:
    """Part ``index`` (1..``count``) of a plan split into ``count`` parts."""

    index: int
    count: int

    def to_dict(self, plan: Plan) -> dict:
        """What results.json records (docs/result_format.md, ``shard``): the part, and the
        ids of every row of the whole plan, so that a merge can check that its parts make
        up the plan."""
        return {"index": self.index, "count": self.count,
                "plan_rows": [row.id for row in plan.rows()]}


def parse(text: str | None) -> Shard | None:
    """``I/N`` as a Shard; None for None. Raises OptionError (one sentence) for anything else:
    not two integers, N < 1, or I outside 1..N."""
    if text is None:
        return None
    index_text, slash, count_text = str(text).strip().partition("/")
    try:
        index, count = int(index_text), int(count_text)
    except ValueError:
        index = count = None
    if not slash or index is None:
        raise OptionError(f"--shard: expected I/N, two integers such as 2/3 (the second of "
                          f"three parts), got {text!r}")
    if count < 1 or not 1 <= index <= count:
        raise OptionError(f"--shard: expected I/N with N at least 1 and I from 1 to N, got "
                          f"{text!r}")
    return Shard(index, count)


def block_key(row: Row) -> tuple:
    """The rows compared with each other share this: device and sizes (``identity_key``)."""
    return row.device, row.batch_size, row.hidden_size, row.n_train


def blocks(plan: Plan) -> list[list[Row]]:
    """The plan's rows in blocks of rows that are compared with each other, in plan order.

    Rows of one device and sizes with a torch-loop row among them are one block (each row's
    "× torch loop" divides by it). Without one nothing divides by anything but a
    data-parallel row by its single-process twin, so each row, or each such pair, is a block
    of its own.
    """
    grouped: dict[tuple, list[Row]] = {}
    for row in plan.rows():
        grouped.setdefault(block_key(row), []).append(row)
    out = []
    for rows in grouped.values():
        if any(row.variant == REFERENCE_VARIANT for row in rows):
            out.append(rows)
            continue
        twins = {row.variant: row for row in rows}
        paired = {SINGLE_TWINS[v] for v in twins if v in SINGLE_TWINS}
        for row in rows:
            if row.variant in paired:
                continue  # goes with its data-parallel row
            single = twins.get(SINGLE_TWINS.get(row.variant, ""))
            out.append([row] + ([single] if single else []))
    order = {row: n for n, row in enumerate(plan.rows())}
    return sorted(out, key=lambda unit: min(order[row] for row in unit))


def work_s(rows: list[Row], plan: Plan) -> float:
    """A block's estimated work: every process's start and steps (seconds, roughly)."""
    total = 0.0
    for row in rows:
        steps = -(-(row.n_train or plan.n_train) // row.batch_size)
        epochs = max(plan.epochs_for(row) * len(plan.seeds_for(0)), plan.rounds + 1)
        total += plan.processes * (START_S + epochs * steps * STEP_S)
    return total


def parts(plan: Plan, count: int) -> list[list[Row]]:
    """The plan's rows split into ``count`` disjoint parts of whole blocks, each part in plan
    order; their union is ``plan.rows()``. Raises OptionError (one sentence) when the plan has
    fewer blocks than ``count``: a part would have no rows."""
    units = blocks(plan)
    if count > len(units):
        raise OptionError(
            f"--shard: the plan has {len(units)} group{'' if len(units) == 1 else 's'} of "
            f"rows that are compared with each other (with torch-loop: one per device and "
            f"batch size{' and swept size' if plan.sweeps else ''}), so it splits into at most "
            f"{len(units)} part{'' if len(units) == 1 else 's'}; give N from 1 to "
            f"{len(units)}")
    load = [0.0] * count
    owner: dict[int, int] = {}
    by_work = sorted(range(len(units)), key=lambda i: (-work_s(units[i], plan), i))
    for i in by_work:
        part = min(range(count), key=lambda p: (load[p], p))
        owner[i] = part
        load[part] += work_s(units[i], plan)
    order = {row: n for n, row in enumerate(plan.rows())}
    return [sorted((row for i, unit in enumerate(units) if owner[i] == part for row in unit),
                   key=order.__getitem__) for part in range(count)]


def rows_of(plan: Plan, shard: Shard | None) -> list[Row]:
    """The rows that the part ``shard`` runs (every row of the plan without one)."""
    if shard is None:
        return plan.rows()
    return parts(plan, shard.count)[shard.index - 1]
