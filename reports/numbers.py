"""The one number style (results.numbers), under the name the report modules import: it
lives in results/ so that the terminal table (benchmarks/table.py) uses it without
importing the reports."""

from results.numbers import (  # noqa: F401
    ACCURACY_DECIMALS,
    COLUMN_FIGURES,
    MICRO,
    MISSING,
    THOUSANDS,
    THOUSANDS_LATEX,
    TIMES,
    counted,
    decimals,
    digits,
    fixed,
    grouped,
    interval,
    is_missing,
    number,
    rate,
    ratio,
    ratio_interval,
    ratio_with_interval,
    to_latex,
    with_interval,
)
