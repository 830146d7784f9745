"""Why a worker failed, in one line: the line of its stderr that says it (its tail is kept
beside it in the result)."""

from __future__ import annotations

import re

# A line of a native stack trace (glog/abseil's "@ 0x7f15f2fa6ce3 cfunction_call", gdb's and
# libunwind's "#3 0x...", a bare address): never the reason, though it may be the last line.
_FRAME_LINE = re.compile(r"^(\*\*\* |PC: )?(@|#\d+)?\s*\[?0x[0-9a-fA-F]+\b")
# A Python exception's own line ("ValueError: ...", "jax.errors.JaxRuntimeError: ..."),
# written unindented at the end of its traceback.
_PYTHON_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Failure)\b")
_NAMES_AN_ERROR = re.compile(r"Error|ERROR|Exception|[Ff]ailed|Fatal|FATAL|Abort|Check failed|"
                             r"Segmentation|Killed|Traceback")
# A line that ended the process: glog/abseil's FATAL ("F1204 10:00:01.123 4242 env.cc:93]"),
# TensorFlow's older "2026-12-04 10:00:00.123456: F ...", a failed C++ CHECK, faulthandler's
# "Fatal Python error: Aborted", libstdc++'s "terminate called ...", the shell's "Killed".
_FATAL_LINE = re.compile(r"^(F\d{4} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d [\d:.]+: F )|Check failed|"
                         r"^Fatal Python error|^terminate called|^Segmentation fault|^Killed\b")
# A log line at error level that need not end anything (TensorFlow logs "failed call to
# cuInit" at E on every machine without a GPU): below a line that is no log at all.
_ERROR_LOG_LINE = re.compile(r"^(E\d{4} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d [\d:.]+: E )")
# Warnings and information that frameworks print while working normally, often with "failed"
# or "error" in them: glog/abseil's I and W lines ("W0000 00:00:1700000000.000 1 x.cc:1]"),
# TensorFlow's older "...: W ...", Python's logging ("WARNING:jax._src.xla_bridge:..."),
# Python's warnings ("/x/torch/nn/modules/transformer.py:20: UserWarning: ..."), and lines
# that open with a warning's category ("Warning: ...", "WARNING: All log messages before
# absl::InitializeLog() is called are written to STDERR").
_PYTHON_WARNING = re.compile(r"^\S+:\d+: [\w.]*Warning: ")
_CHATTER_LINE = re.compile(r"^([IW]\d{4} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d [\d:.]+: [IW] |"
                           r"(WARNING|INFO|DEBUG):|[\w.]*(Warning|WARNING)\b:?)|"
                           + _PYTHON_WARNING.pattern)


def telling_line(stderr_tail: str) -> str:
    """The line of a failed worker's stderr that best says why it failed.

    In this order: a Python exception's line, the last one (the exception that ended the
    worker; what Python prints last in a traceback); else the first line that ended the
    process (``_FATAL_LINE``: a glog FATAL, a failed C++ check, "Fatal Python error: ...");
    else the first line naming an error that is neither a log line nor a warning; else the
    first error-level log line; else the last line that is neither a warning nor an
    information log (``_CHATTER_LINE``). Stack frames are never the reason. Only when
    nothing else is there: the first line naming an error among the warnings, else the last
    line that is not a stack frame, else the last line. Warnings are passed over because
    frameworks print them while working normally, "failed" and "error" in them included
    (TensorFlow's "W0000 ... failed to ...", torch's "UserWarning: Failed to initialize
    NumPy"), often before the line that says what went wrong.
    """
    raw = [line for line in stderr_tail.splitlines() if line.strip()]
    lines = [line.strip() for line in raw]
    unindented = [line.strip() for line in raw if not line[0].isspace()]
    exceptions = [line for line in unindented if _PYTHON_EXCEPTION.match(line)]
    if exceptions:
        return exceptions[-1]
    # A Python warning is followed by its source line, indented: chatter as well.
    chatter = {i for i, line in enumerate(raw) if _CHATTER_LINE.match(line) or (
        i and line[0].isspace() and _PYTHON_WARNING.match(raw[i - 1]))}
    not_frames = [line for line in lines if not _FRAME_LINE.match(line)]
    named = [line for line in not_frames
             if _NAMES_AN_ERROR.search(line) and not line.startswith("Traceback")]
    fatal = [line for line in not_frames if _FATAL_LINE.search(line)]
    quiet = [line for i, line in enumerate(lines)
             if i not in chatter and not _FRAME_LINE.match(line)]
    plain = [line for line in quiet
             if _NAMES_AN_ERROR.search(line) and not line.startswith("Traceback")
             and not _ERROR_LOG_LINE.match(line)]
    error_logs = [line for line in not_frames if _ERROR_LOG_LINE.match(line)]
    for found in (fatal, plain, error_logs):
        if found:
            return found[0]
    if quiet:
        return quiet[-1]
    if named:
        return named[0]
    return (not_frames or lines)[-1]
