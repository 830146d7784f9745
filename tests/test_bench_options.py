"""Choosing what `pytest --benchmark` runs: presets, overrides and usage errors."""

import pytest

from benchmarks.options import (
    DEFAULT_VARIANTS,
    MAX_PROCESSES,
    MAX_WORKER_TIMEOUT_S,
    PRESETS,
    OptionError,
    make_plan,
    max_threads,
)
from benchmarks.plan import TAGS, VARIANTS, Row, known_refusal
from frameworks.variants import VARIANTS as VARIANTS_REGISTRY


def test_default_plan_has_the_course_rows_and_each_frameworks_fastest_gear():
    plan = make_plan()
    rows = plan.rows()
    ids = [r.id for r in rows]
    assert plan.variants == DEFAULT_VARIANTS
    # every course row is in it, and per framework its tuned gear
    assert {v for v, tag in TAGS.items() if tag == "course"} <= set(plan.variants)
    frameworks = {VARIANTS[v][0] for v in VARIANTS}
    assert frameworks == {VARIANTS[v][0] for v in plan.variants}
    assert "keras-jax-fit-cpu-b32" in ids and "jax-scan-cuda-b1024" in ids
    # numpy has no GPU: no numpy CUDA row is made, so none is silently dropped either
    assert not [r for r in rows if r.implementation == "numpy" and r.device == "cuda"]
    assert len([r for r in rows if r.device == "cpu"]) == len(DEFAULT_VARIANTS) * 2
    assert len(ids) == len(set(ids))


def test_full_plan_has_every_variant_on_both_devices_at_two_batch_sizes():
    rows = make_plan("full").rows()
    # every variant but the data-parallel ones (their own preset, or --impl) and those the
    # installed Keras is known to refuse (keras-torch-fit-spe up to Keras 3.15.1)
    single_process = [v for v in VARIANTS if TAGS[v] != "distributed" and not known_refusal(v)]
    # CUDA graphs run on CUDA only: no CPU row is made for them
    assert len([r for r in rows if r.device == "cpu"]) == (len(single_process) - 1) * 2
    assert not [r for r in rows if r.mode == "compile-step-cudagraphs" and r.device == "cpu"]
    assert not [r for r in rows if r.implementation == "numpy" and r.device == "cuda"]
    assert len([r for r in rows if r.device == "cuda"]) == (len(single_process) - 1) * 2
    # --impl picks any variant whatever the preset's list
    assert make_plan(impl="keras-tensorflow-fit-xla").variants == ("keras-tensorflow-fit-xla",)


def test_row_ids_read_as_variant_device_batch():
    assert Row("keras-tensorflow", "fit-xla", "cpu", 32).id == "keras-tensorflow-fit-xla-cpu-b32"


def test_quick_preset_is_small():
    plan = make_plan("quick")
    assert plan.devices == ("cpu",) and plan.seeds == (0,) and plan.n_train <= 2_000


def test_an_implementation_name_selects_all_its_modes_in_table_order():
    plan = make_plan(impl="numpy,keras-tensorflow")
    assert plan.variants == ("keras-tensorflow-fit", "keras-tensorflow-fit-xla",
                             "keras-tensorflow-fit-spe", "keras-tensorflow-loop",
                             "keras-tensorflow-loop-xla", "numpy-loop")


def test_overrides_replace_the_preset():
    plan = make_plan("full", impl="torch-compile", device="cpu", batch_size="64,8",
                     epochs="3", seeds="4,5", rounds="7", n_train="500", threads="1",
                     worker_timeout="12.5", target_accuracy="0.8")
    assert plan.variants == ("torch-compile",)
    assert plan.devices == ("cpu",) and plan.batch_sizes == (64, 8)
    assert (plan.epochs, plan.seeds, plan.rounds, plan.n_train, plan.threads) == \
        (3, (4, 5), 7, 500, 1)
    assert plan.worker_timeout_s == 12.5 and plan.target_accuracy == 0.8
    assert PRESETS["full"]["epochs"] != 3  # the preset itself is untouched


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "fast"},
         "--preset: unknown name 'fast'; choose from: quick, default, gpu, full"),
        ({"impl": "torch,keras-mxnet"}, "--impl: unknown name 'keras-mxnet'; choose from: "),
        ({"impl": ","}, "--impl: give at least one of"),
        ({"device": "tpu"}, "--device: unknown name 'tpu'; choose from: cpu, cuda"),
        ({"batch_size": "32,big"}, "--batch-size: expected comma-separated integers"),
        ({"batch_size": "0"}, "--batch-size: expected integers >= 1"),
        ({"epochs": "0"}, "--epochs: expected one integer >= 1"),
        ({"epochs": "2,3"}, "--epochs: expected one integer"),
        ({"seeds": "-1"}, "--seeds: expected integers >= 0"),
        ({"worker_timeout": "soon"}, "--worker-timeout: expected seconds > 0"),
        ({"target_accuracy": "1.5"}, "--target-accuracy: expected a fraction in (0, 1]"),
        # empty values are refused like `--impl ,`, never read as "everything"
        ({"impl": ""}, "--impl: give at least one of"),
        ({"device": ""}, "--device: give at least one of"),
        ({"batch_size": ""}, "--batch-size: expected integers >= 1"),
        ({"seeds": ""}, "--seeds: expected integers >= 0"),
        ({"seeds": "0,4294967296"}, "--seeds: expected integers from 0 to 4294967295"),
        ({"processes": ""}, "--processes: expected one integer >= 1"),
        ({"processes": "0"}, "--processes: expected one integer >= 1"),
        ({"replicas": "x"}, "--replicas: expected one integer >= 1, got 'x'"),
        ({"replicas": "0"}, "--replicas: expected one integer >= 1, got '0'"),
        ({"seeds": "1,,2"}, "--seeds: expected comma-separated integers with none empty, "
                            "got '1,,2'"),
        ({"batch_size": "32,"}, "--batch-size: expected comma-separated integers with none "
                                "empty, got '32,'"),
        ({"affinity": ""}, "--affinity: expected auto, none or CPUs from"),
        ({"affinity": "9999"}, "--affinity: expected auto, none or CPUs from"),
        ({"n_train": "500", "batch_size": "100000"},
         "--batch-size: 100000 is larger than the 500 training samples (--n-train)"),
        ({"preset": "quick", "n_train": "500"},
         "--batch-size: 1024 (the quick preset's) is larger than the 500 training samples"),
    ],
)
def test_bad_options_are_one_clear_sentence(kwargs, message):
    with pytest.raises(OptionError) as err:
        make_plan(**kwargs)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # a time limit must be a finite number of seconds, at most a week (JSON has no inf)
        *[({"worker_timeout": text}, "--worker-timeout: expected seconds > 0 and at most "
           f"{MAX_WORKER_TIMEOUT_S:g}") for text in ("inf", "-inf", "nan", "-1", "0", "1e400",
                                                     str(MAX_WORKER_TIMEOUT_S * 2), "", " ")],
        # how much runs at once: bounded before the run-time estimate or any worker
        ({"processes": "100000000"}, f"--processes: expected one integer from 1 to "
                                     f"{MAX_PROCESSES}"),
        ({"processes": str(MAX_PROCESSES + 1)}, "--processes: expected one integer from 1"),
        ({"processes": "-1"}, "--processes: expected one integer >= 1"),
        ({"processes": "1.5"}, "--processes: expected one integer >= 1"),
        ({"threads": "100000"}, f"--threads: expected one integer from 1 to {max_threads()} "
                                "(4 × the"),
        ({"threads": str(max_threads() + 1)}, "--threads: expected one integer from 1 to"),
        ({"threads": "0"}, "--threads: expected one integer >= 1"),
        ({"threads": "1e3"}, "--threads: expected one integer >= 1"),
        ({"threads": ""}, "--threads: expected one integer >= 1"),
        ({"replicas": "100000"}, f"--replicas: expected one integer from 1 to {max_threads()}"),
        # sizes beyond the spec's limits fail every worker alike: refused before any starts
        ({"epochs": "3000000000"}, "--epochs: too large for the twins (epochs must be"),
        ({"n_train": "1000000000"}, "--n-train: too large for the twins (n_train * "),
        ({"preset": "quick", "sweep": "n_train=2000,1000000000"},
         "--sweep n_train=...: too large for the twins (n_train * "),
    ],
)
def test_out_of_bounds_options_are_one_clear_sentence(kwargs, message):
    with pytest.raises(OptionError) as err:
        make_plan(**kwargs)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_the_bounds_themselves_are_accepted():
    plan = make_plan(processes=str(MAX_PROCESSES), threads=str(max_threads()),
                     replicas=str(max_threads()), worker_timeout=str(MAX_WORKER_TIMEOUT_S))
    assert (plan.processes, plan.threads, plan.replicas, plan.worker_timeout_s) == (
        MAX_PROCESSES, max_threads(), max_threads(), MAX_WORKER_TIMEOUT_S)
    assert make_plan(worker_timeout=" 5 ").worker_timeout_s == 5.0


def test_seeds_are_spread_over_the_processes_each_getting_at_least_one():
    plan = make_plan(seeds="0,1,2,3,4", processes="3")
    assert [plan.seeds_for(i) for i in range(3)] == [(0, 3), (1, 4), (2,)]
    plan = make_plan(seeds="7", processes="2")
    assert [plan.seeds_for(i) for i in range(2)] == [(7,), (7,)]


def test_presets_sample_several_processes_except_the_smoke_run():
    assert make_plan("quick").processes == 1
    assert make_plan("default").processes >= 3
    assert make_plan("full").processes > make_plan("default").processes


def test_affinity_auto_pins_as_many_cpus_as_threads_and_none_pins_nothing():
    import os

    allowed = sorted(os.sched_getaffinity(0))
    assert make_plan(threads="1").cpus_for_worker() == allowed[-1:]
    assert make_plan(threads="1", affinity="none").cpus_for_worker() is None
    assert make_plan(affinity=str(allowed[0])).cpus_for_worker() == [allowed[0]]
    assert make_plan(threads=str(max_threads())).cpus_for_worker() == allowed


def test_unknown_impl_lists_every_valid_name():
    with pytest.raises(OptionError) as err:
        make_plan(impl="kears")
    for name in [*VARIANTS, "keras-jax", "numpy"]:
        assert name in str(err.value)


def test_variants_are_exactly_the_registrys_modes():
    from benchmarks.plan import SINGLE_TWINS
    from frameworks import IMPLEMENTATIONS

    registry = {(name, mode) for name, impl in IMPLEMENTATIONS.items() for mode in impl.modes}
    # a data-parallel row's single-process twin is a row, not a mode: its twin trains in
    # the course's mode (benchmarks.plan.SINGLE_MODES)
    assert {VARIANTS[v] for v in VARIANTS if v not in SINGLE_TWINS.values()} == registry


def test_a_presets_batch_size_above_n_train_names_the_preset():
    with pytest.raises(OptionError, match=r"--batch-size: 1024 \(the default preset's\) is "
                                          r"larger than the 500 training samples"):
        make_plan(n_train="500")


def test_the_default_plan_trains_each_batch_size_long_enough_and_epochs_overrides_it():
    plan = make_plan("default")
    by_batch = {row.batch_size: plan.epochs_for(row) for row in plan.rows()}
    assert by_batch == {32: 12, 1024: 120}  # 12 epochs, and 1200 steps of 10 a epoch
    assert plan.epochs_text() == ("12 at batch size 32, 120 at batch size 1\u202f024 "
                                  "(at least 12 epochs and 1\u202f200 steps)")
    fixed = make_plan("default", epochs="5")
    assert {fixed.epochs_for(row) for row in fixed.rows()} == {5} and fixed.epochs_text() == "5"
    assert make_plan("quick").min_steps == 0  # the smoke run stays small


def test_a_machine_without_a_gpu_plans_no_cuda_row_unless_asked():
    here = ("cpu",)
    assert make_plan("default", devices_here=here).devices == ("cpu",)
    assert not [r for r in make_plan("full", devices_here=here).rows() if r.device == "cuda"]
    # Asked for: planned, and then skipped with the reason where the GPU is missing.
    assert make_plan("default", device="cuda", devices_here=here).devices == ("cuda",)
    assert make_plan("gpu", devices_here=here).devices == ("cuda",)
    assert make_plan("default", devices_here=("cpu", "cuda")).devices == ("cpu", "cuda")
    assert make_plan("default").devices == ("cpu", "cuda")  # not told: the preset's


def test_the_plugin_plans_the_devices_the_machine_has_except_for_a_shard(monkeypatch):
    from benchmarks import command_line, runner

    class Config:
        def __init__(self, **given):
            self.given = given

        def getoption(self, name):
            return self.given.get(name, {"preset": "default", "overhead_check": False}.get(name))

    monkeypatch.setattr(runner, "nvidia_gpu_visible", lambda: False)
    plan, _ = command_line.plan_and_shard(Config())
    assert plan.devices == ("cpu",)
    plan, _ = command_line.plan_and_shard(Config(device="cuda"))
    assert plan.devices == ("cuda",)
    # Every machine of a shard array must cut the same plan into the same parts.
    plan, shard = command_line.plan_and_shard(Config(shard="1/2"))
    assert plan.devices == ("cpu", "cuda") and shard.index == 1
    monkeypatch.setattr(runner, "nvidia_gpu_visible", lambda: True)
    assert command_line.plan_and_shard(Config())[0].devices == ("cpu", "cuda")


def test_a_preset_leaves_out_what_the_installed_keras_is_known_to_refuse(monkeypatch):
    from benchmarks import runner
    from frameworks import versions

    refused = "keras-torch-fit-spe"
    newest_refusing = VARIANTS_REGISTRY[refused].refused_through[1]
    monkeypatch.setattr(versions, "installed", lambda module: ("keras", newest_refusing)
                        if module == "keras" else None)
    for preset in ("quick", "full"):
        assert refused not in make_plan(preset).variants, preset
        assert "keras-torch-fit" in make_plan(preset).variants, preset
    # asked for by name it is planned, and skipped with Keras's words before a worker starts
    plan = make_plan("quick", impl="keras-torch")
    assert plan.variants == ("keras-torch-fit", refused)
    row = Row("keras-torch", "fit-spe", "cpu", 1024)
    outcome = runner.run_process(row, plan, command=["false"])  # never started
    assert outcome.status == "skipped" and outcome.wall_s == 0.0
    assert outcome.reason == (f"keras-torch cannot run fit-spe: Keras {newest_refusing} says "
                              "`steps_per_execution` must be 1 with the PyTorch backend "
                              f"(every release up to {newest_refusing} refuses it)")
    assert "\n" not in outcome.reason
    # a newer Keras is tried: the twin's own check says whether it still refuses
    monkeypatch.setattr(versions, "installed", lambda module: ("keras", "99.0.0"))
    assert refused in make_plan("quick").variants
    assert runner.reason_not_to_start(row, plan) is None


def test_the_readmes_option_table_names_every_preset_as_the_error_message_does():
    """The README's `--preset` row lists each preset of benchmarks/options.py, in its order,
    and describes each in its cell; the error for an unknown name lists the same ones."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    (row,) = [line for line in readme.splitlines() if line.startswith("| `--preset ")]
    listed = re.match(r"\| `--preset ([^`]+)`", row).group(1).split("\\|")
    assert listed == list(PRESETS)
    description = row.split(" | ", 1)[1]
    for name in PRESETS:
        assert f"{name}: " in description, name
    with pytest.raises(OptionError) as error:
        make_plan("no-such-preset")
    assert str(error.value).endswith("choose from: " + ", ".join(listed))
