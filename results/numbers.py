"""One number style for every output, the reports in every format and the terminal table:
digits, groups of three, intervals, missing values.

Every renderer (HTML, Markdown, LaTeX, the terminal) writes a number through this module, so
that one value reads the same everywhere:

- Significant figures, chosen per column (``COLUMN_FIGURES``): a time per step keeps 3
  (its interval is a few percent wide, so a fourth figure would be noise), a ratio 3, an
  accuracy 3 decimals. The decimals follow from the value: 6.92, 416, 5 251, and for
  a small value as many as its figures need, up to six: a setup time of 0.000612 s keeps
  its three figures (at four decimals it would read 0.0006, one figure). Below 0.0001 a
  value keeps fewer figures (0.000012 at six decimals); such a value is below what the
  clocks we read resolve, so its lost figures were noise.
- Groups of three digits are separated by a narrow no-break space, never by a comma or a
  dot: the SI Brochure (BIPM, 9th edition, 2019, section 5.4.4) says so, and a comma would
  collide with the comma that separates an interval's ends. LaTeX gets ``\\,`` (a thin
  space), HTML and Markdown the character U+202F itself.
- An interval is ``[low, high]`` with the decimals of its headline, so "14 767 [13 944,
  15 589]" reads as one number and its 95% interval.
- A ratio and each end of its interval have three significant figures each
  (``ratio_interval``): "6.53× [6.52, 12.3]", "0.827× [0.747, 2.24]". A ratio's interval
  can span a decade, so the headline's decimals would give one end four figures ("12.30")
  and the other three: every ratio, wherever it stands, reads with the same three.
- A rate (samples/s) is rounded to its significant figures, integer digits too
  (``rate``): "995 000", not "994 555", whose last digits are noise.
- A missing value is one symbol, ``MISSING`` (an em dash); its reason goes in a note, not
  in the cell.
- Units and operators: µs (U+00B5) and × (U+00D7), never "us" or "x".

Pure functions of floats, no pandas, so that the terminal table can use them too.
"""

from __future__ import annotations

import math

# What a cell shows when there is no value; the table's notes say why.
MISSING = "—"
# Between groups of three digits (U+202F NARROW NO-BREAK SPACE): it neither breaks a line
# nor reads as a decimal or list separator.
THOUSANDS = "\u202f"
# Its LaTeX form: a thin space, which is what U+202F stands for in typeset text.
THOUSANDS_LATEX = r"\,"
TIMES = "×"
MICRO = "µ"

# Significant figures per kind of column.
COLUMN_FIGURES = {"time": 3, "ratio": 3, "memory": 3, "seconds": 3, "percent": 2,
                  "rate": 3}
# Accuracies are shown to a fixed number of decimals: they lie between 0 and 1 and are
# compared with each other, so equal decimals matter more than figures.
ACCURACY_DECIMALS = 3
# The most decimals any number shows: enough for three significant figures down to 0.0001
# (a tenth of a millisecond in a seconds column), where the clocks' resolution ends.
_MAX_DECIMALS = 6


def is_missing(value) -> bool:
    """True for None, NaN and pandas' NA (anything that is not a finite or infinite float)."""
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def decimals(value: float, figures: int) -> int:
    """Decimals that show ``value`` to ``figures`` significant figures (0 to 6).

    0 for values of ``figures`` digits or more before the point (5 251 at 3 figures, not
    5 250: digits before the point are never rounded away); 0 figures is an error.
    Raises ValueError for ``figures`` < 1.
    """
    if figures < 1:
        raise ValueError(f"figures must be at least 1, got {figures}")
    if value == 0 or not math.isfinite(value):
        return 0
    magnitude = math.floor(math.log10(abs(value)))
    # Rounding can carry into the next power of ten (9.996 at 3 figures is 10.0).
    if round(abs(value), max(0, figures - 1 - magnitude)) >= 10 ** (magnitude + 1):
        magnitude += 1
    return min(_MAX_DECIMALS, max(0, figures - 1 - magnitude))


def grouped(value: float, places: int, separator: str = THOUSANDS) -> str:
    """``value`` rounded to ``places`` decimals, its integer digits in groups of three.

    "-" for a negative value (ASCII, so that it survives every format), "." as the
    decimal mark; groups only left of the point (ISO 80000-1 allows them right of it too,
    but our decimals never run past six). Raises ValueError for NaN.
    """
    if math.isnan(value):
        raise ValueError("a missing value has no digits: use MISSING")
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    text = f"{abs(value):,.{places}f}".replace(",", separator)
    # -0.0 and values that round to zero read as 0, not "-0.000".
    negative = value < 0 and any(ch not in "0.," + separator for ch in text)
    return ("-" if negative else "") + text


def number(value, figures: int = 3, separator: str = THOUSANDS) -> str:
    """``value`` to ``figures`` significant figures with grouped digits, or ``MISSING``."""
    if is_missing(value):
        return MISSING
    value = float(value)
    return grouped(value, decimals(value, figures), separator)


def fixed(value, places: int, separator: str = THOUSANDS) -> str:
    """``value`` to ``places`` decimals with grouped digits, or ``MISSING`` (accuracies)."""
    if is_missing(value):
        return MISSING
    return grouped(float(value), places, separator)


def interval(low, high, places: int, separator: str = THOUSANDS) -> str:
    """``[low, high]`` with ``places`` decimals each (those of the headline they bound), or
    ``MISSING`` when either end is missing."""
    if is_missing(low) or is_missing(high):
        return MISSING
    return f"[{grouped(float(low), places, separator)}, {grouped(float(high), places, separator)}]"


def with_interval(value, low, high, figures: int = 3, separator: str = THOUSANDS) -> str:
    """"14 767 [13 944, 15 589]": ``value`` to ``figures`` figures and its interval at the
    same decimals; the value alone when the interval is missing, ``MISSING`` without a value."""
    if is_missing(value):
        return MISSING
    places = decimals(float(value), figures)
    text = grouped(float(value), places, separator)
    if is_missing(low) or is_missing(high):
        return text
    return f"{text} {interval(low, high, places, separator)}"


def ratio(value, figures: int = COLUMN_FIGURES["ratio"], separator: str = THOUSANDS) -> str:
    """"2.22×": a ratio to ``figures`` figures followed by the multiplication sign."""
    text = number(value, figures, separator)
    return text if text == MISSING else text + TIMES


def ratio_interval(low, high, figures: int = COLUMN_FIGURES["ratio"],
                   separator: str = THOUSANDS) -> str:
    """"[0.747, 2.24]": each end of a ratio's interval to ``figures`` significant figures,
    like the ratio itself (module docstring), or ``MISSING`` when either end is missing."""
    if is_missing(low) or is_missing(high):
        return MISSING
    return f"[{number(low, figures, separator)}, {number(high, figures, separator)}]"


def ratio_with_interval(value, low, high, figures: int = COLUMN_FIGURES["ratio"],
                        separator: str = THOUSANDS) -> str:
    """"6.53× [6.52, 12.3]": ``ratio`` and its ``ratio_interval``; the ratio alone when the
    interval is missing, ``MISSING`` without a value."""
    text = ratio(value, figures, separator)
    if text == MISSING or is_missing(low) or is_missing(high):
        return text
    return f"{text} {ratio_interval(low, high, figures, separator)}"


def rate(value, figures: int = COLUMN_FIGURES["rate"], separator: str = THOUSANDS) -> str:
    """A rate such as samples per second rounded to ``figures`` significant figures, its
    integer digits too ("995 000" for 994 555.2; 4.28 for 4.2849), or ``MISSING``.

    Unlike ``number``, which never rounds digits before the point away (a time of 5 251 µs
    is read to the microsecond), a rate's trailing digits are noise: samples/s is
    n / time, no more precise than the time's three figures."""
    if is_missing(value):
        return MISSING
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return number(value, figures, separator)
    magnitude = math.floor(math.log10(abs(value)))
    value = round(value, figures - 1 - magnitude)
    return grouped(value, decimals(value, figures), separator)


def to_latex(text: str) -> str:
    """``text`` from this module with its digit-group separators as LaTeX thin spaces.

    Only the separator is translated: the caller's LaTeX escaping handles everything else
    (it must leave ``\\,`` alone, so translate after escaping).
    """
    return text.replace(THOUSANDS, THOUSANDS_LATEX)


def digits(text: str) -> str:
    """The digits, point and sign of ``text`` with every separator and markup removed:
    what must agree between two renderings of one number (tests compare these)."""
    plain = text.replace(THOUSANDS_LATEX, "").replace(THOUSANDS, "").replace("&#8239;", "")
    return "".join(ch for ch in plain if ch.isdigit() or ch in ".-")


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """"1 row", "2 rows", "1 process", "3 processes": ``count`` with grouped digits and
    ``noun`` in the number that agrees with it (``plural`` where adding "s" or "es" is
    wrong)."""
    if count == 1:
        return f"1 {noun}"
    if plural is None:
        plural = noun + ("es" if noun.endswith(("s", "sh", "x")) else "s")
    return f"{grouped(count, 0)} {plural}"
