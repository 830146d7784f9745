"""What `pytest --benchmark` runs unless told otherwise (the presets), and the user's options
parsed into a Plan (benchmarks/plan.py), each wrong value refused in one sentence.

Pure Python with no framework imports, so that the coordinating pytest process stays
light and these rules are tested on any machine.
"""

from __future__ import annotations

import math
import os

from benchmarks.plan import (
    DEVICES,
    DISTRIBUTED_VARIANTS,
    SINGLE_TWINS,
    TAGS,
    VARIANTS,
    Plan,
    known_refusal,
)
from frameworks import IMPLEMENTATIONS
from frameworks.spec import SEED_MAX, SimpleNetSpec
from frameworks.variants import VARIANTS as REGISTRY
from results.epochs import epochs_for
from results.schema import SWEEP_AXES

# The default preset's variants: every course row and each framework's fastest gear.
DEFAULT_VARIANTS = tuple(name for name, v in REGISTRY.items() if v.default)


# Threads per framework unless --threads says otherwise: one. SimpleNet's matrices are too
# small for a second thread to help, and a second thread makes every row hostage to the
# rest of the machine: with the cores' default, a default run measured torch-loop b1024
# at 43,139 µs/step while another process ran (a few hundred when quiet; OpenMP's
# threads wait for each other), and torch-loop b32 over 6 processes had a CV of 13.6% with 2
# threads, 1.6% with 1 pinned. --threads N (and --affinity none) is what users run.
DEFAULT_THREADS = 1

PRESETS = {
    # A smoke run: every CPU variant in one process, small data (under a minute here). The
    # time limit is for a worker that hangs: on a machine at load 8, torch.compile's first
    # epoch alone took 168 to over 180 s, and a limit of 180 s failed a quick run there.
    "quick": dict(devices=("cpu",), batch_sizes=(1024,), epochs=2, seeds=(0,), rounds=5,
                  n_train=2_000, n_test=1_000, worker_timeout_s=600.0, processes=1),
    # The course's rows and each framework's fastest gear (DEFAULT_VARIANTS), on every
    # device the machine has, three processes per row (the fewest that give a spread), one
    # seed each. A worker's start (imports, the first epoch's compile) costs more than its
    # epochs: all 16 variants x 2 batch sizes x 3 processes took 21 minutes or more here
    # (the ETA of a default run), and torch-compile-step and
    # keras-tensorflow-loop-xla alone cost over 30 s a process (a cold compile each), so
    # the other gears run with --impl or in the full preset.
    # rounds: one-epoch samples per process, interleaved over the block's rows (below).
    # epochs and min_steps: each row trains until it can reach the target accuracy (12 epochs
    # at batch 32, 120 at batch 1024; results/epochs.py says why).
    "default": dict(devices=DEVICES, batch_sizes=(32, 1024), epochs=12, min_steps=1200,
                    seeds=(0, 1, 2),
                    rounds=15, n_train=10_000, n_test=2_000, worker_timeout_s=600.0,
                    processes=3, variants=DEFAULT_VARIANTS),
    # The GPU rows alone, sized to finish in under 5 minutes (benchmarks/gpu_check.sh).
    "gpu": dict(devices=("cuda",), batch_sizes=(32, 1024), epochs=12, min_steps=1200,
                seeds=(0,), rounds=15,
                n_train=10_000, n_test=2_000, worker_timeout_s=240.0, processes=2),
    # Numbers worth publishing: ten processes per row (intervals of a few percent).
    "full": dict(devices=DEVICES, batch_sizes=(32, 1024), epochs=30, min_steps=1200,
                 seeds=(0, 1, 2, 3, 4),
                 rounds=40, n_train=10_000, n_test=2_000, worker_timeout_s=1800.0,
                 processes=10),

    # Where the difference vanishes: a batch sweep and a width sweep of the course
    # rows and each framework's fastest gear (DEFAULT_VARIANTS), two processes per point (the
    # fewest that give an interval), one seed, one epoch plus two timed ones; SWEEP_POINTS
    # says why these sizes.
    "sweep": dict(devices=DEVICES, batch_sizes=(1024,), epochs=1, seeds=(0,), rounds=8,
                  n_train=16_384, n_test=1_000, worker_timeout_s=300.0, processes=2,
                  variants=DEFAULT_VARIANTS,
                  sweeps=(("batch", (64, 1024, 16_384)), ("hidden", (16, 256, 4096)))),
    # The data-parallel rows beside their single-process twins, so that each speedup is taken
    # against a twin measured in the same run; sized as default.
    "distributed": dict(devices=DEVICES, batch_sizes=(32, 1024), epochs=3, seeds=(0, 1, 2),
                        rounds=3, n_train=10_000, n_test=2_000, worker_timeout_s=600.0,
                        processes=3, variants=DISTRIBUTED_VARIANTS),
}
# Why 15 rounds in the default preset: the headline is the p10 of the processes' samples,
# and 3 x 15 one-epoch samples put about 4 below it; a round at batch 32 costs the 8 rows'
# epochs, about 1.3 s here, so the rounds of 3 process sets add about a minute.
# The sweep preset's sizes: its time is its number of points, since a worker's start costs
# seconds. A 6-point version (batch 32, 256, 2048, 16384; width 256, 4096) took 12.5 min on
# the 2-core machine with other work on it, 599 of its 721 worker-seconds starts. So 5
# points: batch 64, 1024, 16384 (width 16) and width 256, 4096 (at batch 1024), about 10
# minutes there. The largest are compute-bound: torch-loop's fit put its overhead at 954 µs
# a step against 187 ns a sample (3.1 ms at batch 16384), 128 ns a parameter (6.3 ms at 4096).


class OptionError(ValueError):
    """A user's option is wrong: the message is one sentence naming it and what is allowed."""


def _names(option: str, text: str, valid, expand=None) -> tuple[str, ...]:
    chosen = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        expanded = expand(name) if expand else ([name] if name in valid else [])
        if not expanded:
            raise OptionError(f"{option}: unknown name {name!r}; choose from: {', '.join(valid)}")
        chosen += [n for n in expanded if n not in chosen]
    if not chosen:
        raise OptionError(f"{option}: give at least one of: {', '.join(valid)}")
    return tuple(chosen)


# What a run measures (--metric): time always; "instructions" adds callgrind's count.
METRICS = ("time", "instructions")


def _metric(text: str) -> str:
    if text.strip() not in METRICS:
        raise OptionError(f"--metric: expected one of {', '.join(METRICS)}, got {text!r}")
    return text.strip()


def _expand_impl(name: str) -> list[str]:
    """An implementation's name picks all its modes but the data-parallel ones; a variant's
    name picks one (a data-parallel variant with its single-process twin)."""
    if name in VARIANTS:
        return [name, SINGLE_TWINS[name]] if name in SINGLE_TWINS else [name]
    return [v for v, (impl, _) in VARIANTS.items() if impl == name and TAGS[v] != "distributed"]


# The largest seed every twin takes: one limit, the spec's (frameworks/spec.py says why).
MAX_SEED = SEED_MAX


def _ints(option: str, text: str, low: int, high: int | None = None) -> tuple[int, ...]:
    parts = text.split(",")
    if text.strip() and not all(part.strip() for part in parts):
        # "1,,2" or "32,": a value left out by mistake, not a list to be guessed at
        raise OptionError(f"{option}: expected comma-separated integers with none empty, got "
                          f"{text!r}")
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise OptionError(f"{option}: expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < low:
        raise OptionError(f"{option}: expected integers >= {low}, got {text!r}")
    if high is not None and max(values) > high:
        raise OptionError(f"{option}: expected integers from {low} to {high}, got {text!r}")
    return tuple(dict.fromkeys(values))


def _int(option: str, text, low: int, high: int | None = None, why: str = "") -> int:
    """One integer >= ``low`` (an option that takes a single value, such as --replicas), and
    at most ``high`` when given (``why``: the bound's reason, said in the error)."""
    try:
        value = int(str(text).strip())
    except ValueError:
        value = None
    if value is None or value < low:
        raise OptionError(f"{option}: expected one integer >= {low}, got {text!r}")
    if high is not None and value > high:
        raise OptionError(f"{option}: expected one integer from {low} to {high}{why}, "
                          f"got {text!r}")
    return value


# Upper bounds of the options that set how much runs at once or how long; each is far above
# any useful value and below the point where the machine, not the user, gives up.
# Processes per row: the full preset's 10 give intervals of a few percent; 1000 are already
# hours of worker starts, and a count far above it hung the run in its time estimate.
MAX_PROCESSES = 1000
# Threads per framework (and replicas of a data-parallel row): up to 4x the cores leaves room
# to measure oversubscription; far above it each framework's pool asks the kernel for that
# many threads, and at 100,000 the worker died (SIGSEGV) and the machine ran out of threads.
THREADS_PER_CORE_MAX = 4
# A worker's time limit: a week. Beyond it a limit is no limit, and infinity or NaN cannot
# be recorded in results.json (JSON has no such numbers).
MAX_WORKER_TIMEOUT_S = 7 * 24 * 3600.0


def max_threads() -> int:
    """The most threads per framework (and replicas) --threads and --replicas take here."""
    return THREADS_PER_CORE_MAX * (os.cpu_count() or 1)


def _seconds(option: str, text, high: float) -> float:
    """A finite number of seconds in (0, ``high``]; OptionError (one sentence) otherwise."""
    try:
        value = float(str(text).strip())
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= high):
        raise OptionError(f"{option}: expected seconds > 0 and at most {high:g} (a week), "
                          f"got {text!r}")
    return value


def _affinity(text: str) -> str:
    text = text.strip()
    if text in ("auto", "none"):
        return text
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    try:
        cpus = [int(part) for part in text.split(",")]
    except ValueError:
        cpus = []
    if not cpus or any(cpu not in allowed for cpu in cpus):
        raise OptionError(f"--affinity: expected auto, none or CPUs from "
                          f"{','.join(map(str, allowed))} (comma-separated), got {text!r}")
    return ",".join(map(str, dict.fromkeys(cpus)))


def _sweep(text, batch_size, n_train) -> tuple[str, tuple[int, ...]]:
    """``AXIS=v1,v2,...`` as (axis, ascending values); OptionError (one sentence) otherwise."""
    texts = [text] if isinstance(text, str) else list(text)
    axes = ", ".join(SWEEP_AXES)
    if len(texts) != 1 or texts[0].count("=") != 1:
        raise OptionError(f"--sweep: one axis at a time, as AXIS=v1,v2,... with AXIS one of "
                          f"{axes}; got {' '.join(repr(t) for t in texts)}")
    axis, _, values = (part.strip() for part in texts[0].partition("="))
    if axis not in SWEEP_AXES:
        raise OptionError(f"--sweep: unknown axis {axis!r}; choose from: {axes}")
    given = {"batch": ("--batch-size", batch_size), "n_train": ("--n-train", n_train)}
    option, value = given.get(axis, (None, None))
    if value is not None:
        raise OptionError(f"--sweep {axis}=... and {option} both set the {axis.replace('_', ' ')}"
                          f"; give the values in --sweep {axis}=... alone")
    values = _ints(f"--sweep {axis}", values, 1)
    if len(values) < 2:
        raise OptionError(f"--sweep {axis}: expected at least two different values to sweep, got "
                          f"{texts[0]!r}")
    return axis, tuple(sorted(values))


def _cores() -> str:
    """The reason for --threads' and --replicas' bound, as their errors say it."""
    return f" ({THREADS_PER_CORE_MAX} × the {os.cpu_count() or 1} cores here)"


# The options that set one Plan field each: (make_plan's keyword, the Plan field, its parser),
# in the order they are checked.
_FIELD_OPTIONS = (
    ("device", "devices", lambda text: _names("--device", text, DEVICES)),
    ("batch_size", "batch_sizes", lambda text: _ints("--batch-size", text, 1)),
    ("epochs", "epochs", lambda text: _int("--epochs", text, 1)),
    ("seeds", "seeds", lambda text: _ints("--seeds", text, 0, MAX_SEED)),
    ("rounds", "rounds", lambda text: _int("--rounds", text, 1)),
    ("n_train", "n_train", lambda text: _int("--n-train", text, 1)),
    ("worker_timeout", "worker_timeout_s",
     lambda text: _seconds("--worker-timeout", text, MAX_WORKER_TIMEOUT_S)),
    ("processes", "processes", lambda text: _int("--processes", text, 1, MAX_PROCESSES)),
    ("affinity", "affinity", _affinity),
    ("replicas", "replicas", lambda text: _int("--replicas", text, 1, max_threads(), _cores())),
)


def _variants(impl: str | None, preset_variants: tuple[str, ...] | None) -> tuple[str, ...]:
    """--impl's variants, or the preset's (every variant but the distributed ones when the
    preset names none), in table order whatever order the user typed. A preset's leave out
    what the installed framework is known to refuse (``known_refusal``); --impl's keep it,
    and its row is skipped with the reason before a worker starts."""
    if impl is not None:
        chosen = _names("--impl", impl, [*IMPLEMENTATIONS, *VARIANTS], _expand_impl)
    elif preset_variants is not None:
        chosen = preset_variants
    else:
        chosen = tuple(v for v in VARIANTS if TAGS[v] != "distributed")
    if impl is None:  # a preset plans nothing the installed framework is known to refuse
        chosen = tuple(v for v in chosen if known_refusal(v) is None)
    return tuple(v for v in VARIANTS if v in chosen)


def _check_batch_sizes(fields: dict, preset: str, batch_size_given: bool) -> None:
    """Every batch size (the plan's and a batch sweep's) within the training samples it trains
    on; OptionError (one sentence) naming the option to change otherwise."""
    sweeps = dict(fields.get("sweeps", ()))
    smallest_n_train = min(sweeps.get("n_train", ()), default=fields["n_train"])
    # A batch sweep alone replaces the plan's batch sizes (points() never reads them), so
    # only the swept values need to fit the training set then.
    uses_batch_sizes = not sweeps or any(axis != "batch" for axis in sweeps)
    too_big = [b for b in fields["batch_sizes"] if b > smallest_n_train and uses_batch_sizes]
    if too_big:
        given = "" if batch_size_given else f" (the {preset} preset's)"
        where = ("--sweep n_train=..." if "n_train" in sweeps and smallest_n_train
                 < fields["n_train"] else "--n-train")
        raise OptionError(f"--batch-size: {too_big[0]}{given} is larger than the "
                          f"{smallest_n_train} training samples ({where}); give "
                          f"--batch-size at most {smallest_n_train}")
    too_big = [b for b in sweeps.get("batch", ()) if b > fields["n_train"]]
    if too_big:
        raise OptionError(f"--sweep batch=...: {too_big[0]} is larger than the "
                          f"{fields['n_train']} training samples (--n-train); sweep batch "
                          f"sizes up to {fields['n_train']} or give a larger --n-train")


def _check_widths(fields: dict) -> None:
    """A width sweep's widths within the spec's own limits (arrays under 2**31 elements),
    before any worker starts; OptionError (one sentence) otherwise."""
    for width in dict(fields.get("sweeps", ())).get("hidden", ()):
        try:
            SimpleNetSpec(hidden_size=width, n_train=fields["n_train"],
                          n_test=fields["n_test"])
        except ValueError as err:
            raise OptionError(f"--sweep hidden=...: width {width} is too large ({err})") \
                from None


def _target_accuracy(text) -> float:
    """--target-accuracy as a fraction in (0, 1]; OptionError (one sentence) otherwise."""
    try:
        target = float(text)
    except ValueError:
        target = -1.0
    if not 0 < target <= 1:
        raise OptionError(f"--target-accuracy: expected a fraction in (0, 1], got {text!r}")
    return target


def make_plan(preset: str = "default", impl: str | None = None, device: str | None = None,
              batch_size: str | None = None, epochs=None, seeds: str | None = None,
              rounds=None, n_train=None, threads=None, worker_timeout=None,
              target_accuracy=None, overhead_check: bool = False, processes=None,
              affinity: str | None = None, sweep: str | list[str] | None = None,
              replicas=None, metric: str | None = None,
              devices_here: tuple[str, ...] | None = None) -> Plan:
    """Build a plan from a preset and the user's overrides (strings as typed, or None).

    Raises OptionError (one sentence) for a value that is empty, unknown or out of range,
    and for a batch size above the training set (the row would be labelled with a batch
    size it never trains). ``sweep`` is ``AXIS=v1,v2,...`` (or a list holding one such
    string): it replaces the preset's sweeps, and the option that would set the same axis
    (--batch-size for batch, --n-train for n_train) must not be given beside it.
    ``devices_here``: the devices this machine has (``runner.machine_devices``); without
    --device the preset's devices are cut to those, so that a machine without a GPU plans
    no CUDA row (a preset of missing devices only, such as gpu, keeps them: its rows are
    then skipped with the reason). None: the preset's devices as they are.
    """
    if preset not in PRESETS:
        raise OptionError(f"--preset: unknown name {preset!r}; choose from: {', '.join(PRESETS)}")
    fields = dict(PRESETS[preset])
    if sweep is not None:
        fields["sweeps"] = (_sweep(sweep, batch_size, n_train),)
    variants = _variants(impl, fields.pop("variants", None))
    given = {"device": device, "batch_size": batch_size, "epochs": epochs, "seeds": seeds,
             "rounds": rounds, "n_train": n_train, "worker_timeout": worker_timeout,
             "processes": processes, "affinity": affinity, "replicas": replicas}
    for keyword, field, parse in _FIELD_OPTIONS:
        if given[keyword] is not None:
            fields[field] = parse(given[keyword])
    if epochs is not None:
        fields["min_steps"] = 0  # --epochs N: exactly N epochs at every batch size
    if device is None and devices_here is not None:
        fields["devices"] = (tuple(d for d in fields["devices"] if d in devices_here)
                             or fields["devices"])
    _check_batch_sizes(fields, preset, batch_size_given=batch_size is not None)
    _check_widths(fields)
    n_threads = (DEFAULT_THREADS if threads is None
                 else _int("--threads", threads, 1, max_threads(), _cores()))
    target = None if target_accuracy is None else _target_accuracy(target_accuracy)
    if metric is not None:
        fields["metric"] = _metric(metric)
    plan = Plan(variants=variants, threads=n_threads, target_accuracy=target,
                overhead_check=overhead_check, preset=preset, **fields)
    _check_sizes(plan)
    return plan


# The spec's fields that options set, and the option that sets each.
_SPEC_OPTIONS = {"batch_size": "--batch-size", "epochs": "--epochs", "n_train": "--n-train",
                 "hidden_size": "--sweep hidden=..."}


def _check_sizes(plan: Plan) -> None:
    """Every point's sizes within the spec's own limits (frameworks/spec.py), before any
    worker starts: beyond them each worker would fail the same way, row after row."""
    for batch, hidden, n_train in plan.points():
        try:
            SimpleNetSpec(hidden_size=hidden, batch_size=batch,
                          epochs=epochs_for(plan.epochs, plan.min_steps, batch,
                                            n_train or plan.n_train),
                          n_train=n_train or plan.n_train, n_test=plan.n_test)
        except ValueError as err:
            field = str(err).split()[0]
            option = _SPEC_OPTIONS.get(field, f"the preset's {field}")
            if field == "n_train" and n_train is not None:
                option = "--sweep n_train=..."
            raise OptionError(f"{option}: too large for the twins ({err})") from None
