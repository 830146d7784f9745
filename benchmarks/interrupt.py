"""SIGTERM and SIGHUP handled as Ctrl-C while `pytest --benchmark` runs: the workers are
stopped, what was measured is kept, and the run ends with pytest's status for an
interruption."""

from __future__ import annotations

import signal

# Signals handled as Ctrl-C from configuration to the end of the session.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (the terminal closed), handled as Ctrl-C: workers stopped, results
    saved, a non-zero exit. ``args[0]``: the signal's name."""


def _on_stop_signal(signum, frame):
    raise Terminated(signal.Signals(signum).name)


def install() -> dict:
    """Turn ``STOP_SIGNALS`` into ``Terminated``; return the handlers they had before."""
    return {sig: signal.signal(sig, _on_stop_signal) for sig in STOP_SIGNALS}


def restore(previous: dict | None) -> None:
    """Put back the handlers that ``STOP_SIGNALS`` had before ``install`` (the default
    where none is known)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, (previous or {}).get(sig) or signal.SIG_DFL)


def stop_name(stop: BaseException) -> str:
    """The signal that stopped the run: SIGTERM or SIGHUP (``Terminated``), else Ctrl-C."""
    return stop.args[0] if isinstance(stop, Terminated) and stop.args else "SIGINT"
