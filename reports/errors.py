"""The reports' one-sentence errors: a user's input that cannot be used.

A result file that cannot be read raises results.load.UnreadableResult, the reader's own
error (the reader lives in results/, which the benchmark suite uses too); ``USER_ERRORS``
is both, what the command line turns into one sentence and exit status 2.
"""

from __future__ import annotations

from results.load import UnreadableResult


class ReportError(Exception):
    """A user's input cannot be used; the message is one sentence for them."""


USER_ERRORS = (ReportError, UnreadableResult)
