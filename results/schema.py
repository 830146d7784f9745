"""The result file's documented contract (docs/result_format.md), as data, and one walk that
checks a file against it.

Every field that the reports read has its type here: a file that breaks the contract is
refused once, on loading, with one sentence naming the field by its JSON path
(``rows[3].summary.us_per_step``), instead of a traceback somewhere in the rendering. Fields
that are not listed are not read, and are accepted as they are. A field marked optional may
be absent (files written before it existed); ``null`` is accepted only where the format says
``| null``.
"""

from __future__ import annotations

import dataclasses
import math

# No epoch of SimpleNet lasts a day: a larger timing is a damaged file (and would overflow
# the plots' axes).
MAX_TIMING_S = 86_400.0
DAY_US = MAX_TIMING_S * 1e6

ROW_STATUSES = ("ok", "partial", "skipped", "failed", "timeout", "not run")
PROCESS_STATUSES = ("ok", "failed", "timeout", "skipped")
# What a sweep can vary (plan.sweeps; `--sweep AXIS=...`), one axis at a time: the axis's
# name and the row field it sets. The planner, the loader's check and the Scaling section
# all read this one table.
SWEEP_AXES = {"batch": "batch_size", "hidden": "hidden_size", "n_train": "n_train"}


def is_sweep(plan) -> bool:
    """Whether a run's ``plan`` (a mapping) swept an axis (``plan.sweeps``; absent in files
    before sweeps)."""
    return bool(plan.get("sweeps"))


class Damaged(Exception):
    """A field of the file is missing or has the wrong type; the message names it."""


@dataclasses.dataclass(frozen=True)
class Field:
    """One JSON value's contract.

    kind: "string", "integer", "number", "boolean", "scalar" (string, number or boolean),
    "list" (of ``item``), "object" (with ``fields``; other keys accepted), "map" (any keys,
    every value an ``item``) or "any". ``optional``: may be absent; ``null``: may be null;
    ``low``/``high``: a closed interval for a number; ``positive``: a number > 0 (a timing);
    ``choices``: the allowed strings; ``non_empty``: a list with at least one item.
    """
    kind: str
    item: Field | None = None
    fields: dict | None = None
    optional: bool = False
    null: bool = False
    low: float | None = None
    high: float | None = None
    positive: bool = False
    choices: tuple = ()
    non_empty: bool = False


def _f(kind, **kw):
    return Field(kind, **kw)


def opt(field: Field, null: bool = True) -> Field:
    """``field``, optional (and nullable unless ``null`` is False)."""
    return dataclasses.replace(field, optional=True, null=null or field.null)


STRING, INTEGER, NUMBER, BOOLEAN = (_f("string"), _f("integer"), _f("number"),
                                    _f("boolean"))
COUNT = _f("integer", low=0)
POSITIVE_INT = _f("integer", low=1)
BYTES = _f("integer", low=0)
SECONDS = _f("number", low=0)  # a duration that may be 0 (import, build, elapsed)
TIMING = _f("number", positive=True, high=MAX_TIMING_S)  # a measured epoch: > 0
US_TIMING = _f("number", positive=True, high=DAY_US)
RATIO = _f("number", positive=True)
FRACTION = _f("number", low=0, high=1)
NON_NEGATIVE = _f("number", low=0)


def list_of(item: Field, **kw) -> Field:
    return Field("list", item=item, **kw)


def obj(**fields) -> Field:
    return Field("object", fields=fields)


def map_of(item: Field) -> Field:
    return Field("map", item=item)


ANY = _f("any")

PLAN = obj(
    seeds=list_of(INTEGER, non_empty=True), epochs=POSITIVE_INT, n_train=POSITIVE_INT,
    n_test=POSITIVE_INT, threads=POSITIVE_INT,
    variants=opt(list_of(STRING), null=False), devices=opt(list_of(STRING), null=False),
    batch_sizes=opt(list_of(POSITIVE_INT), null=False), rounds=opt(POSITIVE_INT),
    worker_timeout_s=opt(NON_NEGATIVE), target_accuracy=opt(FRACTION),
    overhead_check=opt(BOOLEAN), preset=opt(STRING), processes=opt(POSITIVE_INT),
    affinity=opt(STRING), replicas=opt(POSITIVE_INT),
    # at least this many optimizer steps per row (results/epochs.py); absent: 0
    min_steps=opt(_f("integer", low=0), null=False),
    metric=opt(Field("string", choices=("time", "instructions")), null=False),
    # checked apart (keys are axes): see _check_sweeps
    sweeps=opt(map_of(list_of(POSITIVE_INT, non_empty=True)), null=False))

LOAD = opt(map_of(Field("number", null=True)))
ENVIRONMENT = obj(
    command=opt(STRING), python=opt(STRING), os=opt(STRING), machine=opt(STRING),
    cpu_model=opt(STRING), cpu_cores=opt(POSITIVE_INT),
    commit=opt(obj(id=opt(STRING), dirty=opt(BOOLEAN))),
    versions=opt(map_of(Field("string", null=True))),
    load_before=LOAD, load_after=LOAD, busy_before=opt(BOOLEAN), busy_reason=opt(STRING))

# What the tables read from a process's settings (reports.tables.SETTING_COLUMNS): shown
# as text, so any scalar.
SETTINGS = opt(map_of(Field("any")))
SCALAR_OR_NULL = Field("scalar", optional=True, null=True)
SETTING_FIELDS = ("framework_version", "keras_backend", "backend_version", "compile",
                  "convention", "initial_weights", "adam_epsilon", "adam_epsilon_placement",
                  "loss_clip", "precision", "intra_op_threads", "inter_op_threads",
                  "device_name")

PER_SEED = obj(seed=INTEGER, final_loss=opt(NON_NEGATIVE), test_loss=opt(NON_NEGATIVE),
               test_accuracy=opt(FRACTION), time_to_accuracy_s=opt(SECONDS))
CURVE_POINT = obj(seed=INTEGER, epoch=POSITIVE_INT,
                  train_loss=dataclasses.replace(NON_NEGATIVE, null=True),
                  test_loss=dataclasses.replace(NON_NEGATIVE, null=True),
                  test_accuracy=dataclasses.replace(FRACTION, null=True), elapsed_s=SECONDS)
MEMORY = obj(rss_after_import_bytes=opt(BYTES), rss_baseline_bytes=opt(BYTES),
             peak_rss_above_baseline_bytes=opt(BYTES), peak_rss_scope=opt(STRING),
             gpu_peak_bytes=opt(BYTES), gpu_peak_method=opt(STRING))
CPU = obj(train_cpu_s=opt(SECONDS), train_wall_s=opt(SECONDS), cores_used=opt(NON_NEGATIVE),
          runqueue_wait_s=opt(SECONDS), others_cores=opt(NUMBER),
          sibling_replicas_cpu_s=opt(SECONDS), starved=opt(BOOLEAN),
          starved_reason=opt(STRING))
DISTRIBUTED_PROCESS = obj(replicas=opt(POSITIVE_INT, null=False),
                          threads_per_process=opt(POSITIVE_INT, null=False),
                          total_threads=opt(POSITIVE_INT, null=False),
                          memory_processes=opt(POSITIVE_INT, null=False),
                          max_weight_gap_vs_single=opt(NON_NEGATIVE))

PROCESS = obj(
    index=COUNT, status=Field("string", choices=PROCESS_STATUSES), reason=opt(STRING),
    wall_s=opt(SECONDS), seeds=opt(list_of(INTEGER)), cold_cache=opt(BOOLEAN),
    # an ok process: checked further in _check_ok_process
    first_epoch_s=opt(TIMING), steady_epoch_s=opt(list_of(TIMING)),
    steps_per_epoch=opt(POSITIVE_INT), batch_size=opt(POSITIVE_INT),
    effective_batch_size=opt(POSITIVE_INT), n_train=opt(POSITIVE_INT),
    n_test=opt(POSITIVE_INT), hidden_size=opt(POSITIVE_INT), n_parameters=opt(POSITIVE_INT),
    import_s=opt(SECONDS), build_s=opt(SECONDS),
    per_seed=opt(list_of(PER_SEED), null=False), curves=opt(list_of(CURVE_POINT), null=False),
    memory=opt(MEMORY), load=opt(obj()), cpu=opt(CPU), threads=opt(obj()),
    affinity=opt(list_of(COUNT)),
    settings=opt(Field("object", fields={k: SCALAR_OR_NULL for k in SETTING_FIELDS})),
    overhead=opt(ANY), distributed=opt(DISTRIBUTED_PROCESS, null=False),
    # since format 3: a resident worker's interleaved samples, its place in each round, and
    # the rows sampled in the same rounds
    samples_epoch_s=opt(list_of(TIMING), null=False),
    sample_round_position=opt(list_of(COUNT), null=False),
    sampled_with=opt(list_of(STRING), null=False),
    # the check against the numpy twin before timing (frameworks/equivalence.py)
    equivalence=opt(ANY))

ESTIMATORS = ("p10",)  # Summary.estimator since format 3 (results.estimate.ESTIMATOR)
SUMMARY = obj(
    processes_ok=POSITIVE_INT, us_per_step=US_TIMING,
    # since format 3 (absent in format 2, whose us_per_step is a median over processes)
    estimator=opt(Field("string", choices=ESTIMATORS), null=False),
    us_per_step_median=opt(US_TIMING), samples=opt(POSITIVE_INT, null=False),
    sample_spread_iqr_pct=opt(NON_NEGATIVE),
    ratio_method=opt(Field("string", choices=("p10-rounds", "p10-processes", "rounds",
                                              "processes"))),
    us_per_step_ci_low=opt(US_TIMING), us_per_step_ci_high=opt(US_TIMING),
    process_us_per_step=list_of(US_TIMING, non_empty=True),
    spread_iqr_pct=opt(NON_NEGATIVE), unstable=opt(BOOLEAN, null=False),
    unstable_reasons=opt(list_of(STRING), null=False),
    samples_per_s=RATIO, steady_epoch_s_median=TIMING, first_epoch_s=TIMING,
    first_epoch_cold=opt(BOOLEAN),
    test_accuracy_mean=opt(FRACTION), test_accuracy_sd=opt(NON_NEGATIVE), n_seeds=COUNT,
    time_to_accuracy_s_median=opt(TIMING), time_to_accuracy_reached_seeds=COUNT,
    target_accuracy=opt(FRACTION), bayes_accuracy=opt(FRACTION),
    final_loss_mean=opt(NON_NEGATIVE),
    peak_rss_above_baseline_bytes=opt(BYTES), rss_after_import_bytes=opt(BYTES),
    gpu_peak_bytes=opt(BYTES), import_s=opt(SECONDS), build_s=opt(SECONDS),
    cores_used=opt(NON_NEGATIVE), ratio_to_torch_loop=opt(RATIO), ratio_ci_low=opt(RATIO),
    ratio_ci_high=opt(RATIO),
    # a converted format-1 file's rounds
    steady_epoch_s_q1=opt(TIMING), steady_epoch_s_q3=opt(TIMING),
    # a distributed row's (docs/result_format.md, "A distributed row's Summary")
    replicas=opt(POSITIVE_INT, null=False), threads_per_process=opt(POSITIVE_INT, null=False),
    total_threads=opt(POSITIVE_INT, null=False), samples_per_s_ci_low=opt(RATIO),
    samples_per_s_ci_high=opt(RATIO), max_weight_gap_vs_single=opt(NON_NEGATIVE),
    single_row=opt(STRING, null=False), single_us_per_step=opt(US_TIMING),
    speedup_vs_single=opt(RATIO), speedup_ci_low=opt(RATIO), speedup_ci_high=opt(RATIO),
    scaling_efficiency=opt(RATIO), efficiency_ci_low=opt(RATIO),
    efficiency_ci_high=opt(RATIO))

# The machine that ran a row, in a run merged from parts (reports.merge): its part's
# environment.
MACHINE = obj(part=POSITIVE_INT, cpu_model=opt(STRING), cpu_cores=opt(POSITIVE_INT),
              machine=opt(STRING), os=opt(STRING), python=opt(STRING))
# --metric instructions (benchmarks/cost.py): a row's instruction count under callgrind.
COST_STATUSES = ("ok", "partial", "failed", "skipped", "timeout", "not applicable", "not run")
INSTRUCTIONS = _f("number", positive=True)
COST_PROCESS = obj(
    index=COUNT, status=Field("string", choices=PROCESS_STATUSES), reason=opt(STRING),
    wall_s=opt(SECONDS), steps=opt(POSITIVE_INT), samples=opt(POSITIVE_INT),
    instructions=opt(INSTRUCTIONS), instructions_per_step=opt(INSTRUCTIONS),
    pool_spin_instructions=opt(NON_NEGATIVE),
    by_category=opt(map_of(NON_NEGATIVE)), by_object=opt(map_of(NON_NEGATIVE)))
COST = obj(
    metric=STRING, status=Field("string", choices=COST_STATUSES), reason=opt(STRING),
    counted_steps=opt(POSITIVE_INT), counted_epochs=opt(POSITIVE_INT),
    processes=opt(list_of(COST_PROCESS), null=False),
    instructions_per_step=opt(INSTRUCTIONS),
    process_instructions_per_step=opt(list_of(INSTRUCTIONS), null=False),
    spread_pct=opt(NON_NEGATIVE), tolerance_pct=opt(NON_NEGATIVE), not_repeatable=opt(STRING),
    by_category_per_step=opt(map_of(NON_NEGATIVE)))

ROW = obj(
    machine=opt(MACHINE, null=False),
    id=STRING, variant=STRING, implementation=STRING, mode=STRING, device=STRING,
    batch_size=POSITIVE_INT, hidden_size=opt(POSITIVE_INT, null=False),
    n_train=opt(POSITIVE_INT, null=False), tag=opt(STRING), tuned_note=opt(STRING),
    status=Field("string", choices=ROW_STATUSES), reason=opt(STRING),
    stderr_tail=opt(STRING), processes=list_of(PROCESS),
    summary=Field("object", fields=SUMMARY.fields, null=True, optional=True),
    cost=opt(COST, null=False))

# since format 3: how the resident workers were sampled and the memory they held together
RESOURCES = obj(memory_budget_bytes=opt(BYTES), peak_resident_total_bytes=opt(BYTES),
                memory_method=opt(STRING), interleaving=opt(STRING), startup=opt(STRING),
                sampled_together=opt(list_of(list_of(STRING)), null=False))
RUN = obj(
    resources=opt(RESOURCES, null=False),
    format=STRING, format_version=INTEGER, started=STRING, finished=opt(STRING),
    complete=opt(BOOLEAN), interrupted_by=opt(STRING), plan=PLAN, environment=ENVIRONMENT,
    rows=list_of(ROW), flags=opt(list_of(STRING), null=False),
    warnings=opt(list_of(STRING), null=False),
    converted_from_format_version=opt(INTEGER), pytest_benchmark_version=opt(STRING),
    run_id=opt(STRING, null=False),
    # a part of a split plan (--shard I/N; benchmarks/shard.py)
    shard=opt(obj(index=POSITIVE_INT, count=POSITIVE_INT,
                  plan_rows=list_of(STRING, non_empty=True)), null=False),
    # a run merged from parts (reports.merge): one entry per part
    merged_from=opt(list_of(obj(index=POSITIVE_INT, count=POSITIVE_INT,
                                path=opt(STRING), run_id=opt(STRING))), null=False),
    cost_wall_s=opt(SECONDS, null=False))

# Format 1: the ``sidebyside`` section inside pytest-benchmark's JSON, and the benchmarks'
# ``extra_info`` that the conversion (results.load) reads.
FORMAT_1_EXTRA_INFO = obj(
    row=opt(STRING, null=False), steps_per_epoch=opt(POSITIVE_INT), n_train=opt(POSITIVE_INT),
    seeds=opt(list_of(INTEGER)), first_epoch_s=opt(TIMING), import_s=opt(SECONDS),
    build_s=opt(SECONDS), learning_curves=opt(list_of(CURVE_POINT)),
    test_accuracy_mean=opt(FRACTION), test_accuracy_sd=opt(NON_NEGATIVE),
    test_accuracy_per_seed=opt(list_of(FRACTION)), final_loss_mean=opt(NON_NEGATIVE),
    time_to_accuracy_s_median=opt(TIMING), time_to_accuracy_reached_seeds=opt(COUNT),
    target_accuracy=opt(FRACTION), bayes_accuracy=opt(FRACTION),
    rss_after_import_bytes=opt(BYTES), rss_baseline_bytes=opt(BYTES),
    peak_rss_above_baseline_bytes=opt(BYTES), peak_rss_scope=opt(STRING),
    gpu_peak_bytes=opt(BYTES), gpu_peak_method=opt(STRING),
    settings=PROCESS.fields["settings"], overhead=opt(ANY))
FORMAT_1 = obj(
    datetime=opt(STRING), version=opt(STRING),
    machine_info=opt(obj(cpu=opt(obj(brand_raw=opt(STRING))))),
    commit_info=opt(obj(id=opt(STRING), dirty=opt(BOOLEAN))),
    benchmarks=list_of(obj(extra_info=FORMAT_1_EXTRA_INFO,
                           stats=opt(obj(data=list_of(TIMING)), null=False))),
    sidebyside=obj(
        format_version=INTEGER, started=opt(STRING), plan=PLAN, environment=ENVIRONMENT,
        rows=list_of(obj(id=STRING, implementation=STRING, mode=STRING, device=STRING,
                         batch_size=POSITIVE_INT, status=Field("string", choices=ROW_STATUSES),
                         reason=opt(STRING), wall_s=opt(SECONDS))),
        flags=opt(list_of(STRING)), warnings=opt(list_of(STRING))))


# -- the walk -------------------------------------------------------------------------------

_KIND_NAMES = {"string": "a string", "integer": "an integer", "number": "a number",
               "boolean": "true or false", "scalar": "a string, number or boolean",
               "list": "a list", "object": "an object", "map": "an object"}


def check(value, field: Field, where: str = "") -> None:
    """Raise Damaged (naming the JSON path) where ``value`` breaks ``field``'s contract."""
    _check(value, field, where)


def _path(where) -> str:
    """The JSON path of ``where``: a path, or (the parent's ``where``, a key or a list
    index). The walk passes the pair and spells the path only for a value it refuses: a
    file's thousands of values would otherwise each format a path that is never shown."""
    if isinstance(where, str):
        return where
    parent, key = where
    parent = _path(parent)
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def _check(value, field: Field, where) -> None:
    if value is None:
        if field.null or field.kind == "any":
            return
        raise Damaged(f"{_path(where) or 'the file'} is null, not {_KIND_NAMES[field.kind]}")
    if not _is_kind(value, field.kind):
        raise Damaged(f"{_path(where) or 'the file'} is {_describe(value)}, not "
                      f"{_KIND_NAMES[field.kind]}")
    if field.kind in ("integer", "number"):
        _check_number(value, field, where)
    elif field.kind == "string" and field.choices and value not in field.choices:
        raise Damaged(f"{_path(where) or 'the file'} is {_short(value)}, not one of "
                      f"{', '.join(field.choices)}")
    elif field.kind == "list":
        if field.non_empty and not value:
            raise Damaged(f"{_path(where) or 'the file'} is empty")
        for i, item in enumerate(value):
            _check(item, field.item, (where, i))
    elif field.kind == "map":
        for key, item in value.items():
            _check(item, field.item, (where, key))
    elif field.kind == "object":
        for key, inner in (field.fields or {}).items():
            if key not in value:
                if inner.optional:
                    continue
                raise Damaged(f"{_path((where, key))} is missing")
            _check(value[key], inner, (where, key))


def _check_number(value, field: Field, where) -> None:
    if field.positive and not value > 0:
        raise Damaged(f"the timing {_path(where) or 'the file'} is {value!r}, but timings must "
                      "be numbers > 0")
    if field.positive and field.high is not None and value > field.high:
        raise Damaged(f"the timing {_path(where) or 'the file'} is {value!r}, longer than a day")
    low, high = field.low, field.high
    if not field.positive and ((low is not None and value < low)
                               or (high is not None and value > high)):
        allowed = (f"at least {low:g}" if high is None else f"between {low:g} and {high:g}")
        raise Damaged(f"{_path(where) or 'the file'} is {value!r}, but it must be {allowed}")


def _is_kind(value, kind: str) -> bool:
    if kind == "any":
        return True
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if kind == "scalar":
        return isinstance(value, (str, int, float)) and not (
            isinstance(value, float) and not math.isfinite(value))
    return isinstance(value, {"string": str, "list": list, "object": dict, "map": dict}[kind])


def _describe(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return _short(value)
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
