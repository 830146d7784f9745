"""callgrind's output read: the instructions of one counted window (a dump), by shared object
and function, then by category (interpreter, framework runtime, math kernels, JIT-compiled
code, system libraries), less the thread pools' search for work, which follows timing.

benchmarks/cost.py runs the cost processes under valgrind and records, per row, what
``count_fields`` makes of its dump.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from results.cost_table import CATEGORIES

# Where an instruction was executed, by shared object (CATEGORIES, results.cost_table: the
# order of the table's columns and of the stacked bar). callgrind names JIT-compiled code
# (XLA's, oneDNN's kernels) "???": no file holds it.
_KERNEL_OBJECT = re.compile(r"openblas|libmkl|libdnnl|onednn|libblas|liblapack|libgfortran",
                            re.IGNORECASE)
# Kernels linked into a framework's own library (libtorch_cpu holds MKL and oneDNN, the
# TensorFlow and XLA libraries hold Eigen): known by their function names.
_KERNEL_FUNCTION = re.compile(r"^(mkl_|dnnl|zendnn|sgemm|dgemm|gemm|cblas_|openblas|"
                              r".*Eigen::internal::(gebp|gemm|general_matrix|TensorContraction)|"
                              r".*xnnpack|xnn_|.*dnnl::|.*at::native::cpublas)")
_INTERPRETER_OBJECT = re.compile(r"(^|/)(lib)?python3[\d.]*(\.so|d?m?$|$)|/lib-dynload/|"
                                 r"(^|/)python3?[\d.]*$")
_SYSTEM_OBJECT = re.compile(r"(^|/)(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s|"
                            r"ld-linux|libgomp|libiomp|libz|libffi|libutil)[-.\w]*\.so|"
                            r"vgpreload|/valgrind/")


def category(obj: str, fn: str = "") -> str:
    """The CATEGORIES entry of code in shared object ``obj`` (callgrind's ``ob=``), function
    ``fn``: "???" is JIT-compiled code; kernels are known by their library or their name."""
    if obj in ("???", ""):
        return "JIT-compiled"
    if _KERNEL_OBJECT.search(obj) or _KERNEL_FUNCTION.match(fn):
        return "math kernels"
    if _INTERPRETER_OBJECT.search(obj):
        return "interpreter"
    if _SYSTEM_OBJECT.search(obj):
        return "system"
    return "framework runtime"


class CallgrindFormatError(ValueError):
    """A callgrind output file that this parser cannot read; the message says where."""


_POSITION = re.compile(r"^([+-]\d+|\*|0x[0-9a-fA-F]+|\d+)$")
_COMPRESSED = re.compile(r"^\((\d+)\)(?: (.*))?$")


def parse_callgrind(path) -> dict:
    """Self cost per (shared object, function) of one callgrind output file.

    Returns ``{"events": [str, ...], "totals": [int, ...], "by_function": {(ob, fn):
    [int, ...]}, "calls": {((ob, fn), (callee ob, callee fn)): [int, ...]}, "trigger": str |
    None}``, one value per event (``Ir``: instructions executed); ``calls`` holds each call
    arc's inclusive cost; ``trigger`` is what made the dump ("Client Request: NAME"). Follows
    valgrind's "Callgrind Format Specification" (valgrind's docs/cl-format.xml): name
    compression ``(id) name`` / ``(id)``, relative positions ``+n``/``-n``/``*``, and the
    cost line after a ``calls=`` line, which is the call's inclusive cost and therefore
    not the caller's self cost. The totals are the file's ``totals:`` (or ``summary:``)
    line when it has one, else the sum of the self costs. Raises CallgrindFormatError.
    """
    reader = _Reader(path)
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, raw in enumerate(fh, 1):
            reader.read(raw.rstrip("\n"), number)
    return reader.result()


# callgrind's name lines: the kind of name each sets (its compression table), ob, fl or fn.
_NAME_KINDS = {"ob": "ob", "fl": "fl", "fi": "fl", "fe": "fl", "fn": "fn", "cob": "ob",
               "cfi": "fl", "cfl": "fl", "cfn": "fn"}


class _Reader:
    """The state of ``parse_callgrind`` as it reads one line after another: the current
    object and function, the callee of a ``calls=`` line, and the costs so far."""

    def __init__(self, path):
        self.path = path
        self.events, self.positions, self.totals, self.trigger = None, 1, None, None
        self.names: dict[str, dict[str, str]] = {"ob": {}, "fl": {}, "fn": {}}
        self.ob = self.fn = self.cob = self.cfn = ""
        self.after_calls = False  # the next cost line is a call's inclusive cost
        self.by_function: dict[tuple[str, str], list[int]] = {}
        self.calls: dict[tuple[tuple[str, str], tuple[str, str]], list[int]] = {}

    def read(self, line: str, number: int) -> None:
        if not line or line.startswith("#"):
            return
        if line[0].isdigit() or line[0] in "+-*" or line.startswith("0x"):
            self._cost(line, number)
            return
        key, sep, value = line.partition("=")
        if sep and key in _NAME_KINDS:
            self._name(key, value)
        elif sep and key == "calls":
            self.after_calls = True
        elif not (sep and key in ("jump", "jcnd")):
            self._header(line)

    def _cost(self, line: str, number: int) -> None:
        fields = line.split()
        values = fields[self.positions:]
        if not all(_POSITION.match(p) for p in fields[:self.positions]):
            raise CallgrindFormatError(f"{self.path}:{number}: not a cost line: {line!r}")
        if self.after_calls:  # the call's inclusive cost, not self cost
            self.after_calls = False
            target = self.calls.setdefault(((self.ob, self.fn), (self.cob or self.ob, self.cfn)),
                                           [0] * len(self.events))
        elif self.events is None:
            raise CallgrindFormatError(f"{self.path}:{number}: a cost line before events:")
        else:
            target = self.by_function.setdefault((self.ob, self.fn), [0] * len(self.events))
        for i, value in enumerate(values[:len(self.events)]):
            target[i] += int(value)

    def _name(self, key: str, value: str) -> None:
        name = _name(self.names[_NAME_KINDS[key]], value)
        if key == "ob":
            self.ob = name
        elif key == "fn":
            self.fn, self.cob = name, ""
        elif key == "cob":
            self.cob = name
        elif key == "cfn":
            self.cfn = name

    def _header(self, line: str) -> None:
        key, _, value = line.partition(":")
        if key == "desc" and value.strip().startswith("Trigger:"):
            self.trigger = value.strip()[len("Trigger:"):].strip()
        elif key == "events":
            self.events = value.split()
        elif key == "positions":
            self.positions = len(value.split())
        elif key in ("totals", "summary"):
            self.totals = [int(v) for v in value.split()]

    def result(self) -> dict:
        if self.events is None:
            raise CallgrindFormatError(f"{self.path}: no 'events:' line, so not a callgrind "
                                       "output file")
        n = len(self.events)
        summed = [sum(c[i] for c in self.by_function.values()) for i in range(n)]
        totals = (self.totals + [0] * n)[:n] if self.totals else summed
        return {"events": self.events, "totals": totals, "by_function": self.by_function,
                "calls": self.calls, "trigger": self.trigger}


def _name(table: dict[str, str], value: str) -> str:
    match = _COMPRESSED.match(value)
    if not match:
        return value
    ident, name = match.groups()
    if name is not None:
        table[ident] = name
    return table.get(ident, f"({ident})")


# A thread pool's idle workers looking for work: Eigen's ThreadPoolTempl (TensorFlow's and
# XLA's pools, through tsl) spins in WorkerLoop, Steal and WaitForWork before it sleeps, for
# as long as the scheduler lets it. That count follows timing, not work: two processes of
# jax-scan at batch 1024 differed by 472 k instructions, all of it in these functions (and
# the calls they make), which is why they are taken out of the count and recorded apart.
_POOL_SPIN = re.compile(r"Eigen::ThreadPoolTempl<.*>::(WorkerLoop|WaitForWork|Steal|"
                        r"LocalSteal|GlobalSteal|MaybeGetTask|NonEmptyQueueIndex|Spin)\b|"
                        r"Eigen::RunQueue<|EigenEnvironment::Task::operator=|"
                        r"Eigen::EventCount::")
# WorkerLoop also calls the tasks themselves: its calls stay counted.
_RUNS_TASKS = re.compile(r"::WorkerLoop\b")


def is_pool_spin(fn: str) -> bool:
    """Whether function ``fn`` is a thread pool's search for work (``_POOL_SPIN``)."""
    return bool(_POOL_SPIN.search(fn))


def pool_spin_instructions(parsed: dict, event: int = 0) -> dict[tuple[str, str], int]:
    """The instructions of thread pools waiting for work, by (object, function) where they
    ran: the self cost of ``_POOL_SPIN`` functions, and the calls those functions make (all
    but WorkerLoop, which runs the tasks) to other functions (``__tls_get_addr``, say)."""
    out: dict[tuple[str, str], int] = {}
    for (obj, fn), cost in parsed["by_function"].items():
        if is_pool_spin(fn):
            out[(obj, fn)] = out.get((obj, fn), 0) + cost[event]
    for ((_, caller), callee), cost in parsed.get("calls", {}).items():
        if is_pool_spin(caller) and not _RUNS_TASKS.search(caller) \
                and not is_pool_spin(callee[1]):
            out[callee] = out.get(callee, 0) + cost[event]
    return out


def instructions_by_category(by_function: dict, event: int = 0,
                             spin: dict | None = None) -> dict[str, int]:
    """Instructions (``by_function``'s ``event``-th value) summed per CATEGORIES entry, less
    ``spin`` (pool_spin_instructions: by object and function) where it ran."""
    out = dict.fromkeys(CATEGORIES, 0)
    for (obj, fn), cost in by_function.items():
        out[category(obj, fn)] += cost[event]
    for (obj, fn), cost in (spin or {}).items():
        name = category(obj, fn)
        out[name] = max(0, out[name] - cost)
    return out


def instructions_by_object(by_function: dict, event: int = 0, top: int = 12) -> dict[str, int]:
    """Instructions per shared object (its file name), the ``top`` largest, the rest summed
    under "other"."""
    per: dict[str, int] = {}
    for (obj, _fn), cost in by_function.items():
        name = os.path.basename(obj) or "???"
        per[name] = per.get(name, 0) + cost[event]
    ranked = sorted(per.items(), key=lambda kv: -kv[1])
    out = dict(ranked[:top])
    rest = sum(v for _, v in ranked[top:])
    if rest:
        out["other"] = rest
    return out


# The start of callgrind's "desc: Trigger:" line of a dump made by a client request, the
# request's text (the row id) after it.
DUMP_TRIGGER = "Client Request: "


def dumps_by_trigger(out_file: str) -> dict[str, dict | str]:
    """callgrind's dumps of one process (``out_file.1``, ``out_file.2``, ...; one per counted
    row, each named by the client request that made it), parsed, by row id; a dump that
    could not be read maps to the sentence saying why."""
    out = {}
    folder, name = os.path.split(out_file)
    for entry in sorted(Path(folder).glob(name + ".*")):
        try:
            parsed = parse_callgrind(entry)
        except (OSError, CallgrindFormatError) as err:
            out[entry.name] = f"callgrind's output could not be read: {err}"
            continue
        trigger = parsed.get("trigger") or ""
        if trigger.startswith(DUMP_TRIGGER):
            out[trigger[len(DUMP_TRIGGER):]] = parsed
    return out


def count_fields(parsed, steps: int) -> dict:
    """A CostProcess's count fields from its row's parsed dump (or why there is none)."""
    if parsed is None:
        return {"reason": "callgrind wrote no count for this row: the worker's client "
                          "requests did not reach valgrind"}
    if isinstance(parsed, str):
        return {"reason": parsed}
    if "Ir" not in parsed["events"]:
        return {"reason": f"callgrind counted {parsed['events']}, not Ir (instructions)"}
    event = parsed["events"].index("Ir")
    spin = pool_spin_instructions(parsed, event)
    spin_total = sum(spin.values())
    instructions = parsed["totals"][event] - spin_total
    if instructions <= 0:
        return {"reason": "callgrind counted no instructions for this row"}
    return {"status": "ok", "instructions": instructions,
            "instructions_per_step": instructions / steps,
            "pool_spin_instructions": spin_total,
            "by_category": instructions_by_category(parsed["by_function"], event, spin),
            "by_object": instructions_by_object(parsed["by_function"], event)}
