"""The report's headline: the course's comparison, the PyTorch loop against Keras ``fit`` on
each backend, per device and batch size, with each row's time as a multiple of the loop's
("× torch loop"). It opens every format of the report; the detail tables follow.
"""

from __future__ import annotations

import pandas as pd

from reports.cells import (
    MEASURED_STATUSES,
    RATIO,
    UNSTABLE_NOTE,
    UNSTABLE_RATIO_NOTE,
    interval_reason,
    is_unstable,
    marked,
    ratio_cells,
    ratio_unstable,
    shows_unstable_mark,
    time_cells,
)
from reports.document import Section
from results import numbers
from results.summary import REFERENCE_VARIANT

TITLE = "PyTorch loop against Keras fit"
CAPTION = ("The course's two ways of training the same network: the PyTorch loop and Keras "
           "model.fit on each backend, at each batch size. µs/step: the time of one "
           "training step (p10 of interleaved one-epoch samples, with its 95% interval); "
           "× torch loop: the row's time over the loop's at the same device and batch size "
           "(2× is twice as slow, 0.5× twice as fast).")


MISSING_NOTE = (f"{numbers.MISSING}: no value. The torch loop's ratio to itself has no "
                "interval.")

def _course_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The measured rows tagged course (the loop and each backend's fit), the loop first in
    each device and batch size."""
    if "tag" not in frame.columns:
        return frame.iloc[0:0]
    rows = frame[(frame["tag"] == "course") & frame["status"].isin(MEASURED_STATUSES)]
    rows = rows.assign(_loop=rows["variant"] != REFERENCE_VARIANT)
    return rows.sort_values(["device", "batch_size", "_loop"], kind="stable")


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """The headline table as display strings: Batch, Row, µs/step and its interval, ×
    torch loop and its interval."""
    records = []
    rows = _course_rows(frame)
    shaky = ratio_unstable(rows)
    for index, r in rows.iterrows():
        us, us_ci = time_cells(r["us_per_step"], r.get("us_per_step_ci_low"),
                               r.get("us_per_step_ci_high"))
        ratio, ratio_ci = ratio_cells(r.get("ratio_to_torch_loop"), r.get("ratio_ci_low"),
                                      r.get("ratio_ci_high"))
        records.append({"Row": str(r["row"]),
                        "Batch": f"{numbers.grouped(r['batch_size'], 0)} ({r['device']})",
                        f"µs/step ({r.get('estimator')})": marked(us, is_unstable(r)),
                        "95% CI µs/step": us_ci,
                        RATIO: marked(ratio, shaky[index]), "95% CI ×": ratio_ci})
    return pd.DataFrame.from_records(records)


def _as_fast(ratio: float) -> str:
    """" (2.52 times as fast)" after a ratio that reads below 1.00×: "0.397× the loop's
    time" alone makes the reader divide; the speed-up is 1 / ``ratio`` (unitless), to the
    ratio's figures. Empty for a ratio that reads 1.00× or more."""
    figures = numbers.COLUMN_FIGURES["ratio"]
    if not 0 < round(ratio, numbers.decimals(ratio, figures)) < 1:
        return ""
    return f" ({numbers.number(1 / ratio, figures)} times as fast)"


def sentences(frame: pd.DataFrame) -> list[str]:
    """One sentence per device and batch size: each Keras backend's fit as a multiple of
    the loop's time, e.g. "At batch size 32 on cpu, a step of Keras fit takes 2.45× the
    PyTorch loop's time with TensorFlow, 0.477× with JAX (2.10 times as fast) and 5.49×
    with torch."; a ratio below 1.00× is also said as a speed-up (``_as_fast``)."""
    out = []
    rows = _course_rows(frame)
    shaky = ratio_unstable(rows)
    for (device, batch), block in rows.groupby(["device", "batch_size"], sort=False):
        fits = block[(block["variant"] != REFERENCE_VARIANT)
                     & block["ratio_to_torch_loop"].map(lambda v: not numbers.is_missing(v))]
        parts = [(marked(numbers.ratio(r["ratio_to_torch_loop"]), shaky[index]),
                  str(r["implementation"]).removeprefix("keras-")
                  + _as_fast(float(r["ratio_to_torch_loop"])))
                 for index, r in fits.iterrows()]
        if not parts:
            continue
        first = f"{parts[0][0]} the PyTorch loop's time with {parts[0][1]}"
        rest = [f"{ratio} with {backend}" for ratio, backend in parts[1:]]
        listed = ", ".join([first, *rest[:-1]]) + (f" and {rest[-1]}" if rest else "")
        out.append(f"At batch size {numbers.grouped(batch, 0)} on {device}, a step of Keras "
                   f"fit takes {listed}.")
    return out


def section(frame: pd.DataFrame) -> Section | None:
    """The headline section, or None when the run has no course row with a ratio."""
    if "ratio_to_torch_loop" not in frame.columns:
        return None
    shown = table(frame)
    if not len(shown):
        return None
    notes = [f"{MISSING_NOTE} {interval_reason(frame)}"] \
        if (shown.astype(str) == numbers.MISSING).to_numpy().any() else []
    if shows_unstable_mark(shown.drop(columns=[RATIO])):
        notes.append(UNSTABLE_NOTE)
    if shows_unstable_mark(shown[[RATIO]]):
        notes.append(UNSTABLE_RATIO_NOTE)
    return Section(key="headline", title=TITLE, caption=CAPTION, table=shown,
                   sentences=sentences(frame), notes=notes)
