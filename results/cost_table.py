"""The cost table of a run made with ``--metric instructions``: one line per row with a cost
record, in the terminal at the end of ``pytest --benchmark`` (benchmarks/table.py) and in the
report (reports/instructions.py, which also writes cost.csv from the same lines).

The numbers come from each row's ``cost`` record (docs/result_format.md, "Cost"):
instructions per training step counted by callgrind, their spread over the cost processes,
the ratio to torch loop's count at the same device and sizes, the row's time per step (from
the timed processes) and where the instructions went, by category of shared object. This
module computes them once; the renderers only lay the cells out. It imports nothing of ours
but results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from results import numbers
from results.model import Cost, Row
from results.summary import REFERENCE_VARIANT

TITLE = "Cost per step (instructions)"
# Where a step's instructions go, by the shared object that executed them, in the order of
# the table's columns and the stacked bars (benchmarks/callgrind.py sorts them).
CATEGORIES = ("interpreter", "framework runtime", "math kernels", "JIT-compiled", "system")
HEADER = ("Row", "Instructions/step", "Spread", "× torch loop", "µs/step",
          *(c[0].upper() + c[1:] for c in CATEGORIES))
COUNTED = ("ok", "partial")  # a cost record's statuses that hold a count


def cost_record(row: Row) -> Cost | None:
    """``row``'s cost record, or None when it has none (a run without the metric)."""
    cost = row.cost
    return cost if isinstance(cost, Cost) and cost.to_dict() else None


def counted(row: Row) -> Cost | None:
    """``row``'s cost record when it holds a count (status ok or partial), else None."""
    cost = cost_record(row)
    if cost and cost.get("status") in COUNTED and cost.get("instructions_per_step"):
        return cost
    return None


def _identity(row: Row) -> tuple:
    """The rows compared with each other: one device and the same sizes."""
    return (row.device, row.batch_size, row.get("hidden_size"), row.get("n_train"))


@dataclasses.dataclass(frozen=True)
class CostLine:
    """One row's line of the cost table; the counts are None (and the categories empty)
    where the row holds no count, whose ``status`` and ``reason`` then say why."""

    row: str  # the row's id
    status: str
    reason: str
    instructions_per_step: float | None
    spread_pct: float | None  # (max - min) / median over the cost processes, percent
    tolerance_pct: float | None  # what `compare` takes as the count's repeatability, percent
    ratio_to_torch_loop: float | None  # instructions, same device and sizes
    us_per_step: float | None  # the row's time, from its timed processes
    by_category_per_step: dict[str, float]  # instructions per step by CATEGORIES entry

    @property
    def is_counted(self) -> bool:
        return self.instructions_per_step is not None

    def share_pct(self, category: str) -> float:
        """The percentage of the step's categorised instructions that ``category`` holds."""
        whole = sum(self.by_category_per_step.values()) or 1.0
        return 100 * self.by_category_per_step.get(category, 0.0) / whole


def cost_lines(rows: Iterable[Row]) -> list[CostLine]:
    """The cost table's lines: one per row of ``rows`` with a cost record, in their order."""
    rows = list(rows)
    baselines = {_identity(r): counted(r).instructions_per_step for r in rows
                 if r.variant == REFERENCE_VARIANT and counted(r)}
    lines = []
    for row in rows:
        cost = cost_record(row)
        if cost is None:
            continue
        count = counted(row)
        per_step = count.instructions_per_step if count else None
        base = baselines.get(_identity(row))
        lines.append(CostLine(
            row=row.id, status=cost.status, reason=cost.get("reason", ""),
            instructions_per_step=per_step, spread_pct=cost.get("spread_pct"),
            tolerance_pct=cost.get("tolerance_pct"),
            ratio_to_torch_loop=per_step / base if per_step and base else None,
            us_per_step=row.summary.get("us_per_step") if row.summary else None,
            by_category_per_step=dict(cost.get("by_category_per_step") or {}) if count else {}))
    return lines


def cells(line: CostLine) -> tuple[str, ...]:
    """``line``'s cells under ``HEADER``, as text; a line without a count says why in its
    second cell."""
    time_cell = numbers.number(line.us_per_step)
    if not line.is_counted:
        reason = line.reason or line.status
        return (line.row, f"{line.status}: {reason}", "", "", time_cell,
                *[""] * len(CATEGORIES))
    percent = numbers.COLUMN_FIGURES["percent"]
    spread = numbers.number(line.spread_pct, percent)
    return (line.row, numbers.grouped(line.instructions_per_step, 0),
            spread if spread == numbers.MISSING else spread + "%",
            numbers.ratio(line.ratio_to_torch_loop), time_cell,
            *(numbers.grouped(line.share_pct(c), 0) + "%" for c in CATEGORIES))
