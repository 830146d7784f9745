"""A report's figures as the files it holds: each matplotlib Figure (reports.plots and the
sections' own) as PNG, which slides and report.html show, and SVG, which prints sharp; the
same results give the same bytes.
"""

from __future__ import annotations

import io

import matplotlib
from matplotlib.figure import Figure

from reports.plots import STYLE

# SVG output without a creation date, so the same results give the same bytes.
SVG_METADATA = {"Date": None}
# The SVG's element ids hash their content with this salt; matplotlib's default (None) salts
# each with a new uuid4, so that every render of one figure had other ids.
SVG_HASH_SALT = "sidebyside"


def render(fig: Figure) -> tuple[bytes, bytes]:
    """(PNG bytes at 100 dpi, SVG bytes) of ``fig``, drawn in the report's ``STYLE``."""
    png, svg = io.BytesIO(), io.BytesIO()
    engine = fig.get_layout_engine()
    with matplotlib.rc_context(STYLE | {"svg.hashsalt": SVG_HASH_SALT}):
        fig.savefig(png, format="png", dpi=100)
        # The panels stay where the PNG's layout put them (sizes are in inches, so the SVG's
        # 72 dpi does not move them): the constrained layout, a third of a figure's drawing
        # time, runs once for both files.
        fig.set_layout_engine("none")
        try:
            fig.savefig(svg, format="svg", metadata=SVG_METADATA)
        finally:
            fig.set_layout_engine(engine)
    return png.getvalue(), svg.getvalue()
