"""The variant registry (frameworks/variants.py): every variant says everything, and the tables
that benchmarks/options.py derives from it equal the ones it held before."""

import dataclasses
import json
from pathlib import Path

import pytest

from benchmarks.plan import Row, launcher
from frameworks import IMPLEMENTATIONS
from frameworks.variants import LAUNCHERS, TAG_NAMES, VARIANTS, Variant, data_parallel_of, variant
from tests.fixtures.make_variant_tables import dump

FIXTURE = Path(__file__).parent / "fixtures" / "variant_tables.json"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_has_every_field(name):
    v = VARIANTS[name]
    assert v.name == name
    assert {f.name for f in dataclasses.fields(Variant)} == set(vars(v))
    impl = IMPLEMENTATIONS[v.implementation]
    # a single-process twin's own mode is the suite's name for it; the twin trains in train_mode
    assert v.train_mode in impl.modes
    assert v.tag in TAG_NAMES
    assert v.launcher in LAUNCHERS
    # tuned and distributed rows say what they are, in one line; course and idiomatic need not
    assert bool(v.note.strip()) == (v.tag in ("tuned", "distributed"))
    assert "\n" not in v.note
    if v.data_parallel:
        twin = VARIANTS[v.single_twin]
        assert v.distributed and twin.distributed and not twin.data_parallel
        assert twin.implementation == v.implementation
        assert twin.train_mode != twin.mode and twin.threads_of_all_replicas
        assert data_parallel_of(twin.name) == name
    if not v.distributed:
        assert v.train_mode == v.mode and v.launcher == "worker"
        assert not (v.threads_of_all_replicas or v.uneven_batches or v.single_twin)
    else:
        assert not v.default  # more threads than the other rows: never in the default preset


def test_a_mode_with_a_variant_and_a_variant_with_a_mode():
    registered = {(name, mode) for name, impl in IMPLEMENTATIONS.items() for mode in impl.modes}
    own_modes = {(v.implementation, v.mode) for v in VARIANTS.values()
                 if data_parallel_of(v.name) is None}
    assert own_modes == registered


def test_the_default_preset_has_every_course_row_and_a_row_of_every_implementation():
    default = [v for v in VARIANTS.values() if v.default]
    assert {v.name for v in VARIANTS.values() if v.tag == "course"} <= {v.name for v in default}
    assert {v.implementation for v in default} == set(IMPLEMENTATIONS)


def test_only_torch_ddp_has_a_launcher_of_its_own():
    assert {v.name for v in VARIANTS.values() if v.launcher != "worker"} == {"torch-ddp"}
    assert VARIANTS["torch-ddp"].process_per_replica
    ddp = Row("torch", "ddp", "cpu", 32)
    assert launcher(ddp) == "torchrun"
    assert launcher(Row("torch", "ddp-single", "cpu", 32)) == "worker"
    assert launcher(Row("torch", "not-a-mode", "cpu", 32)) == "worker"


def test_an_unknown_variant_names_the_choices():
    assert variant("jax-scan") is VARIANTS["jax-scan"]
    with pytest.raises(KeyError, match="unknown variant 'jax-fast'; choose from: torch-loop"):
        variant("jax-fast")
    assert data_parallel_of("torch-loop") is None


def test_options_tables_and_rules_are_the_ones_options_held_before_the_registry():
    """Every table, every per-variant rule (threads, replica skips, the twin's mode) on a grid
    of plans, --impl's expansion and each preset's variants, against the fixture made from
    options.py when it held the tables itself."""
    before = json.loads(FIXTURE.read_text())
    now = dump()
    # One intended change since: a preset leaves out a variant that the installed framework
    # is known to refuse (plan.known_refusal); --impl still plans it.
    from benchmarks.plan import known_refusal

    refused = {name for name in before["VARIANTS"] if known_refusal(name)}
    for preset, names in before["presets"].items():
        before["presets"][preset] = [name for name in names if name not in refused]
    assert now.keys() == before.keys()
    for key in before:
        assert now[key] == before[key], key
    # The tables' order too (dict equality ignores it), where code iterates over them;
    # DISTRIBUTED_NOTES is only looked up.
    for key in ("VARIANTS", "TAGS", "TUNED_NOTES", "SINGLE_TWINS", "expand", "presets"):
        assert list(now[key]) == list(before[key]), key
    # The fixture is not vacuous: it pins the order, the notes and a replica skip.
    assert list(before["VARIANTS"])[:2] == ["torch-loop", "keras-tensorflow-fit"]
    assert before["TUNED_NOTES"]["torch-compile"] == "model = torch.compile(model)"
    assert before["rules"]["keras-jax-dp t1 r2 b33 n100"][2].startswith("keras-jax-dp needs")
    assert before["rules"]["torch-ddp t1 r2 b33 n100"][2] is None
