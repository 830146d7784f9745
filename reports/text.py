"""Recorded strings as plain text that every output format can show (``plain_text``): where
each format's escaping (reports.markdown, reports.latex, reports.html) and the plots' labels
start, so that a recorded string shows the same in all of them."""

from __future__ import annotations

import re

# Terminal escape sequences (ECMA-48: CSI such as the colours of "\x1b[31mboom\x1b[0m", OSC
# such as a hyperlink, and the two-character ones): what a terminal consumes, not text.
_ANSI_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
                            r"|\x1b[@-Z\\-_]")
# Control characters but tab and the line breaks that every output format handles itself:
# C0, DEL and C1 (Unicode category Cc), and lone surrogates, which no encoding can write.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def plain_text(text) -> str:
    """``text`` (any value, as ``str``) with nothing that an output format cannot show:
    terminal escape sequences removed, every other control character (C0 but tab and line
    breaks, DEL, C1) and lone surrogate written as its code point, ``[U+001B]``. Every
    format's escaping (``markdown_escape``, ``latex_escape``, ``html_escape``, the plots'
    labels) starts here, so that a recorded string shows the same in all of them."""
    text = _ANSI_SEQUENCE.sub("", str(text))
    return _UNPRINTABLE.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)

