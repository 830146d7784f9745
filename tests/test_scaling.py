"""Sweeps: the options, the rows' identity, the fit, the crossover and the outputs.

The fits are checked on planted data: every process's µs per step is drawn from a known
overhead + cost per unit × size with independent noise (a seeded generator), so the test
knows the answer without asking reports/ for it.
"""

import copy
import math

import numpy as np
import pandas as pd
import pytest

from benchmarks import options as opts
from benchmarks.options import OptionError
from benchmarks.plan import Row
from reports import scaling, scaling_plots, scaling_section
from reports.build import build_report
from reports.compare import compare_runs
from results import numbers
from results.load import UnreadableResult, load_results
from results.schema import SWEEP_AXES
from tests import format2, format3
from tests.report_cases import as_run
from tests.test_bench_e2e import run_pytest

N_TRAIN = 16_384
# (overhead µs, µs per sample at width 16, µs per parameter at batch 256) of each variant.
PLANTED = {"torch-loop": (400.0, 0.10, 0.004), "keras-jax-fit": (2500.0, 0.11, 0.0045),
           "numpy-loop": (300.0, 0.40, 0.02)}
BATCHES = (32, 256, 2048, 16_384)
WIDTHS = (16, 256, 1024, 4096)


def parameters(width: int) -> int:
    return 12 * width + 1  # SimpleNet: 10 inputs, one output


def sweep_row(variant, batch, width, samples, peak_bytes):
    """A format-2 row at (batch, width) whose processes have the planted ``samples``."""
    row = format2.row(variant, samples)
    steps = -(-N_TRAIN // batch)
    median = float(np.median(samples))
    row["id"] = Row(*variant.rsplit("-", 1), "cpu", batch, width).id
    row |= {"batch_size": batch, "hidden_size": width, "n_train": N_TRAIN}
    for process, sample in zip(row["processes"], samples):
        process |= {"batch_size": batch, "steps_per_epoch": steps, "n_train": N_TRAIN,
                    "hidden_size": width, "n_parameters": parameters(width),
                    "steady_epoch_s": [sample * steps / 1e6] * 3}
        process["memory"]["peak_rss_above_baseline_bytes"] = peak_bytes
    row["summary"] |= {"steady_epoch_s_median": median * steps / 1e6,
                       "samples_per_s": N_TRAIN / (median * steps / 1e6),
                       "peak_rss_above_baseline_bytes": peak_bytes}
    return row


def sweep_run(planted=PLANTED, noise=0.02, processes=3, seed=1):
    """A run with a batch sweep (width 16) and a width sweep (batch 256) of ``planted``."""
    rng = np.random.default_rng(seed)
    rows = []
    for batch, width in dict.fromkeys([(b, 16) for b in BATCHES] + [(256, w) for w in WIDTHS]):
        for variant, (overhead, per_sample, per_parameter) in planted.items():
            true = overhead + (per_sample * batch if width == 16 else
                               per_parameter * parameters(width))
            if width != 16:
                true += per_sample * 256 - per_parameter * parameters(16)
            samples = list(true * (1 + noise * rng.standard_normal(processes)))
            rows.append(sweep_row(variant, batch, width, samples, peak_bytes=batch * width * 64))
    run = format2.run(rows)
    run["plan"] |= {"preset": "sweep", "batch_sizes": [256], "n_train": N_TRAIN,
                    "sweeps": {"batch": list(BATCHES), "hidden": list(WIDTHS)}}
    return run


@pytest.fixture(scope="module")
def sweep_report(report_copy):
    """``sweep_run()``'s folder: results.json and its report (built once per session,
    tests/conftest.py)."""
    return report_copy("sweep")


# -- options and rows -----------------------------------------------------------------------


def test_a_sweep_measures_each_point_as_a_row_with_its_size_in_the_id():
    plan = opts.make_plan("quick", impl="numpy", sweep="hidden=16,256,4096")
    assert [r.id for r in plan.rows()] == ["numpy-loop-cpu-b1024", "numpy-loop-cpu-b1024-h256",
                                           "numpy-loop-cpu-b1024-h4096"]
    assert plan.to_dict()["sweeps"] == {"hidden": [16, 256, 4096]}
    batch = opts.make_plan("quick", impl="numpy", sweep="batch=64,8,512")
    assert [r.id for r in batch.rows()] == [f"numpy-loop-cpu-b{b}" for b in (8, 64, 512)]
    data = opts.make_plan("quick", impl="numpy", sweep="n_train=2000,4000", )
    assert [r.id for r in data.rows()] == ["numpy-loop-cpu-b1024", "numpy-loop-cpu-b1024-n4000"]


def test_runs_without_a_sweep_keep_their_ids():
    plan = opts.make_plan("default")
    assert plan.sweeps == () and plan.to_dict()["sweeps"] == {}
    assert {r.id.rsplit("-", 1)[-1] for r in plan.rows()} == {"b32", "b1024"}


def test_the_sweep_preset_measures_a_shared_point_once():
    plan = opts.make_plan("sweep")
    cpu = [r for r in plan.rows() if r.device == "cpu"]
    assert len(cpu) == len(set(cpu)) == len(opts.DEFAULT_VARIANTS) * 5
    assert dict(plan.sweeps) == {"batch": (64, 1024, 16_384), "hidden": (16, 256, 4096)}


def test_a_batch_sweep_below_the_presets_batch_size_fits_a_small_training_set():
    # the batch sweep replaces the quick preset's batch size (1024), which no row trains
    plan = opts.make_plan("quick", impl="numpy-loop", sweep="batch=16,64", n_train="100")
    assert [r.batch_size for r in plan.rows()] == [16, 64]
    with pytest.raises(opts.OptionError, match="1024 .the quick preset's. is larger than"):
        opts.make_plan("quick", impl="numpy-loop", sweep="hidden=16,64", n_train="100")


@pytest.mark.parametrize(("sweep", "extra", "message"), [
    ("depth=1,2", {}, "--sweep: unknown axis 'depth'; choose from: batch, hidden, n_train"),
    ("batch=8,x", {}, "--sweep batch: expected comma-separated integers, got '8,x'"),
    ("batch=8,1.5", {}, "--sweep batch: expected comma-separated integers, got '8,1.5'"),
    ("hidden=-4,16", {}, "--sweep hidden: expected integers >= 1, got '-4,16'"),
    ("batch=0,16", {}, "--sweep batch: expected integers >= 1, got '0,16'"),
    (["batch=8,16", "hidden=16,32"], {}, "--sweep: one axis at a time"),
    ("batch=8,16,hidden=32", {}, "--sweep: one axis at a time"),
    ("batch", {}, "--sweep: one axis at a time, as AXIS=v1,v2,..."),
    ("batch=8", {}, "--sweep batch: expected at least two different values"),
    ("batch=16,16", {}, "--sweep batch: expected at least two different values"),
    ("batch=8,16", {"batch_size": "8"}, "--sweep batch=... and --batch-size both set"),
    ("batch=8,5000", {}, "--sweep batch=...: 5000 is larger than the 2000 training samples"),
    ("hidden=16,300000000", {}, "--sweep hidden=...: width 300000000 is too large"),
])
def test_a_bad_sweep_is_one_sentence(sweep, extra, message):
    with pytest.raises(opts.OptionError) as err:
        opts.make_plan("quick", sweep=sweep, **extra)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("args", "message"), [
    (["--sweep", "depth=1,2"], "--sweep: unknown axis 'depth'"),
    (["--sweep", "batch=4,-8"], "--sweep batch: expected integers >= 1"),
    (["--sweep", "batch=4,8", "--sweep", "hidden=16,32"], "--sweep: one axis at a time"),
])
def test_a_bad_sweep_on_the_command_line_exits_4_without_a_traceback(tmp_path, args, message):
    result = run_pytest(["--benchmark", "--preset", "quick", "--impl", "numpy",
                         f"--report-dir={tmp_path}", *args], tmp_path)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not list(tmp_path.glob("*/results.json"))


def test_a_row_is_paired_with_torch_loop_of_its_own_width():
    rows = [sweep_row("torch-loop", 256, 16, [400.0, 410.0], 1),
            sweep_row("torch-loop", 256, 1024, [4000.0, 4100.0], 1),
            sweep_row("numpy-loop", 256, 1024, [8000.0, 8200.0], 1)]
    for row in rows:
        for process in row["processes"]:
            process |= {"target_accuracy": 0.85, "bayes_accuracy": 0.9}
    format3.summarize_all(rows)
    assert rows[2]["summary"]["ratio_to_torch_loop"] == pytest.approx(2.0)


def test_compare_never_pairs_rows_of_other_sizes():
    old = sweep_run(processes=3, seed=1)
    new = copy.deepcopy(old)
    changed = next(r for r in new["rows"] if r["id"] == "numpy-loop-cpu-b32")
    changed["n_train"] = 4096  # the same id at another training-set size
    comparison = compare_runs(as_run(old), as_run(new), n_resamples=200)
    assert "numpy-loop-cpu-b32" not in set(comparison.rows["row"])
    assert any(r.startswith("numpy-loop-cpu-b32 (sizes differ: n_train 16384 → 4096")
               for r in comparison.resized)
    assert not any(r.startswith("numpy-loop-cpu-b32") for r in comparison.not_compared)
    from reports.compare_markdown import to_markdown

    assert "## In both runs but at other sizes, so not compared" in to_markdown(
        comparison, "a", "b")
    assert "numpy-loop-cpu-b256-h4096" in set(comparison.rows["row"])


# -- the fit ---------------------------------------------------------------------------------


def test_the_robust_fit_recovers_a_planted_overhead_and_cost():
    rng = np.random.default_rng(7)
    sizes = [1, 16, 256, 4096]
    samples = [list((400 + 0.25 * s) * (1 + 0.02 * rng.standard_normal(4))) for s in sizes]
    samples[1][0] *= 10  # one process on a busy core: a robust fit shrugs it off
    fit = scaling.robust_fit(sizes, samples)
    assert fit["overhead_us"] == pytest.approx(400, rel=0.05)
    assert fit["per_unit_us"] == pytest.approx(0.25, rel=0.05)
    assert fit["overhead_ci_low_us"] <= 400 <= fit["overhead_ci_high_us"]
    assert fit["per_unit_ci_low_us"] <= 0.25 <= fit["per_unit_ci_high_us"]
    assert fit["overhead_ci_high_us"] - fit["overhead_ci_low_us"] < 100


def test_one_process_per_size_gives_a_fit_without_an_interval():
    fit = scaling.robust_fit([1, 10, 100], [[101.0], [110.0], [200.0]])
    assert fit["overhead_us"] == pytest.approx(100.0) and fit["per_unit_us"] == pytest.approx(1.0)
    assert fit["overhead_ci_low_us"] is None
    with pytest.raises(ValueError):
        scaling.robust_fit([8, 8], [[1.0], [2.0]])


def test_the_regime_and_the_log_log_slope():
    assert scaling.regime(400.0, 0.1, 1024) == "overhead-bound"
    assert scaling.regime(400.0, 0.1, 16_384) == "compute-bound"
    assert scaling.regime(400.0, -0.1, 16_384) == "overhead-bound"
    assert scaling.loglog_slope([1, 10, 100], [3.0, 30.0, 300.0]) == pytest.approx(1.0)
    assert scaling.loglog_slope([1, 10], [3.0, None]) is None


def test_the_fit_table_finds_each_planted_variant():
    fits = scaling.fit_table(scaling.sweep_points(as_run(sweep_run())))
    for variant, (overhead, per_sample, per_parameter) in PLANTED.items():
        batch = fits[(fits["variant"] == variant) & (fits["axis"] == "batch")].iloc[0]
        assert batch["overhead_us"] == pytest.approx(overhead, rel=0.1)
        assert batch["per_unit_ns"] == pytest.approx(per_sample * 1e3, rel=0.1)
        assert batch["unit"] == "sample" and batch["points"] == 4 and batch["samples"] == 12
        assert batch["throughput_at_scale_per_s"] == pytest.approx(1e6 / per_sample, rel=0.1)
        assert batch["overhead_bound_below"] == pytest.approx(overhead / per_sample, rel=0.2)
        width = fits[(fits["variant"] == variant) & (fits["axis"] == "hidden")].iloc[0]
        assert width["per_unit_ns"] == pytest.approx(per_parameter * 1e3, rel=0.1)
        assert width["batch_size"] == 256 and width["unit"] == "parameter"
    # Time per epoch at width 16: n/b steps of (overhead + c b): toward -1 where the overhead
    # rules, 0 where the cost per sample does; numpy (the largest cost) falls least steeply.
    slopes = fits[fits["axis"] == "batch"].set_index("variant")["epoch_time_loglog_slope"]
    assert -1 < slopes["numpy-loop"] < 0 and slopes["keras-jax-fit"] < slopes["numpy-loop"]
    memory = fits[fits["axis"] == "batch"]["peak_memory_loglog_slope"]
    assert memory.to_numpy() == pytest.approx(1.0)  # planted: peak in proportion to batch


def test_the_crossover_is_the_smallest_size_within_ten_percent():
    planted = {"torch-loop": (400.0, 0.10, 0.004),      # the fastest everywhere
               "keras-jax-fit": (2500.0, 0.10, 0.004),  # 2.1 ms behind: within 10% at 16384
               "numpy-loop": (600.0, 0.40, 0.02)}       # 4 times the arithmetic: never
    cross = scaling.crossovers(scaling.sweep_points(as_run(sweep_run(planted, noise=0.0))))
    batch = cross[cross["axis"] == "batch"].set_index("implementation")["crossover"]
    # keras-jax at 2048: 2705 against 605 (4.5x); at 16384: 4138 against 2038 (2.0x)
    assert batch["torch"] == 32
    assert batch["numpy"] == scaling.NOT_WITHIN
    assert batch["keras-jax"] == scaling.NOT_WITHIN
    near = {**planted, "keras-jax-fit": (460.0, 0.10, 0.004)}  # 60 µs behind
    cross = scaling.crossovers(scaling.sweep_points(as_run(sweep_run(near, noise=0.0))))
    batch = cross[cross["axis"] == "batch"].set_index("implementation")
    # 463.2 / 403.2 = 1.149 at 32, 1.141 at 256, 664.8 / 604.8 = 1.099 at 2048
    assert batch.loc["keras-jax", "crossover"] == 2048
    assert batch.loc["keras-jax", "ratio_at_smallest"] == pytest.approx(463.2 / 403.2)


def test_a_framework_that_falls_behind_has_a_crossover_but_does_not_stay_within():
    planted = {"torch-loop": (400.0, 0.10, 0.004),
               "numpy-loop": (300.0, 0.40, 0.02)}  # fastest at batch 32, 3.3x at 16384
    cross = scaling.crossovers(scaling.sweep_points(as_run(sweep_run(planted, noise=0.0))))
    batch = cross[cross["axis"] == "batch"].set_index("implementation")
    assert batch.loc["numpy", "crossover"] == 32
    assert batch.loc["numpy", "within_from"] == scaling.NOT_WITHIN
    # torch: 403.2 / 312.8 = 1.29 at 32, then 425.6 / 402.4 = 1.058 at 256 and fastest on
    assert batch.loc["torch", "crossover"] == batch.loc["torch", "within_from"] == 256


# -- the outputs -----------------------------------------------------------------------------


def test_sweep_csv_and_sweep_fit_csv_have_the_issues_columns(sweep_report):
    points = pd.read_csv(sweep_report / "sweep.csv")
    assert {"variant", "device", "batch_size", "hidden_size", "n_train", "us_per_step",
            "ci_low_us", "ci_high_us", "samples_per_s", "peak_rss_bytes"} <= set(points.columns)
    assert len(points) == len(PLANTED) * (len(BATCHES) + len(WIDTHS))
    assert set(points["regime"]) == {"overhead-bound", "compute-bound"}
    torch_small = points[(points["variant"] == "torch-loop") & (points["batch_size"] == 32)]
    assert set(torch_small["regime"]) == {"overhead-bound"}
    fits = pd.read_csv(sweep_report / "sweep_fit.csv")
    assert {"variant", "axis", "overhead_us", "per_unit_ns", "crossover",
            "within_from"} <= set(fits.columns)
    assert len(fits) == len(PLANTED) * 2


def test_the_scaling_plots_are_written_as_png_and_svg(sweep_report):
    for name in scaling_plots.PLOTS:
        assert (sweep_report / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (sweep_report / f"{name}.svg").read_bytes()[:2000]


def test_the_report_has_a_scaling_section_with_sentences_from_the_numbers(sweep_report):
    markdown = (sweep_report / "report.md").read_text()
    assert "## Scaling" in markdown and "![Scaling time per step](scaling_time_per_step.png)" \
        in markdown
    fits = pd.read_csv(sweep_report / "sweep_fit.csv")
    batch = fits[fits["axis"] == "batch"].set_index("variant")
    lowest = batch["overhead_us"].idxmin()
    assert f"from {numbers.number(batch['overhead_us'].min())} µs ({lowest})" in markdown
    assert "As the hidden width grows to 4\u202f096, the gap between the slowest and the fastest " \
        "row shrinks from" in markdown
    assert "<h2>Scaling</h2>" in (sweep_report / "report.html").read_text()
    latex = (sweep_report / "report.tex").read_text()
    assert r"\section*{Scaling}" in latex and "scaling_memory.png" in latex


def test_a_run_without_a_sweep_has_no_scaling_section(tmp_path):
    run = format2.run([format2.row("torch-loop", [400.0, 410.0, 420.0]),
                       format2.row("numpy-loop", [300.0, 310.0, 320.0])])
    out = build_report(format2.write(tmp_path / "results.json", run), tmp_path)
    assert "Scaling" not in (out / "report.md").read_text()
    assert "Scaling" not in (out / "report.html").read_text()
    assert not (out / "sweep.csv").exists() and not (out / "scaling_time_per_step.png").exists()


def test_a_sweep_run_file_loads_and_a_damaged_size_is_refused(tmp_path):
    run = sweep_run()
    assert load_results(format2.write(tmp_path / "ok.json", run))["plan"]["sweeps"]
    run["rows"][0]["hidden_size"] = -3
    from results.load import UnreadableResult

    with pytest.raises(UnreadableResult,
                       match=r"rows\[0\].hidden_size is -3, but it must be at least"):
        load_results(format2.write(tmp_path / "bad.json", run))


def test_nothing_measured_still_gives_fits_of_nothing():
    run = sweep_run()
    for row in run["rows"]:
        row.update(status="failed", summary=None)
    points = scaling.sweep_points(as_run(run))
    assert points["us_per_step"].isna().all()
    assert scaling.fit_table(points).empty and scaling_section.teacher_sentences(
        points, scaling.fit_table(points)) == []
    assert not scaling.has_sweep(as_run(run))
    assert math.isnan(points["us_per_step"].iloc[0])


def test_a_notebook_gets_the_scaling_figures_of_a_sweep(sweep_report):
    from matplotlib.figure import Figure

    from reports.build import figures

    found = figures(sweep_report / "results.json")
    assert set(scaling_plots.PLOTS) <= set(found)
    assert all(isinstance(fig, Figure) for fig in found.values())


def test_a_sweeps_table_tells_its_points_apart_and_others_are_unchanged():
    from reports import tables

    frame = tables.tidy(as_run(sweep_run()))
    columns = list(frame.columns)
    assert columns[columns.index("batch_size") + 1:][:2] == ["hidden_size", "n_train"]
    assert str(frame["hidden_size"].dtype) == str(frame["n_train"].dtype) == "Int64"
    plain = tables.tidy(as_run(format2.run([format2.row("torch-loop", [400.0, 410.0])])))
    assert "hidden_size" not in plain.columns and "n_train" not in plain.columns


def test_a_fixed_cost_too_small_to_measure_is_never_overhead_bound_nor_negative_in_words():
    """A planted overhead of 0 lets Theil-Sen land below 0: the table says no size is
    overhead-bound (0, not a negative size) and the sentence says "under 1 µs"."""
    planted = {"torch-loop": (400.0, 0.10, 0.004), "jax-scan": (0.0, 0.02, 0.001)}
    points = scaling.sweep_points(as_run(sweep_run(planted, noise=0.05, seed=3)))
    fits = scaling.fit_table(points)
    floor = fits[(fits["variant"] == "jax-scan")]
    assert (floor["overhead_bound_below"] >= 0).all()
    nudged = fits.copy()
    nudged.loc[nudged["variant"] == "jax-scan", "overhead_us"] = -33.0
    text = " ".join(scaling_section.teacher_sentences(points, nudged))
    assert "from under 1 µs (jax-scan)" in text and "-33" not in text


def test_one_framework_within_ten_percent_is_said_in_the_singular():
    planted = {"torch-loop": (400.0, 0.10, 0.004), "jax-scan": (5.0, 0.02, 0.001)}
    points = scaling.sweep_points(as_run(sweep_run(planted, noise=0.01, seed=4)))
    text = " ".join(scaling_section.teacher_sentences(points, scaling.fit_table(points)))
    # jax is the fastest: it does not "come within 10%" of itself
    assert "jax is the fastest there, and the other does not come within 10% of it" in text
    assert "of 2 frameworks" not in text


def test_one_row_is_not_compared_with_itself():
    points = scaling.sweep_points(as_run(sweep_run({"numpy-loop": (300.0, 0.40, 0.02)}, seed=4)))
    text = " ".join(scaling_section.teacher_sentences(points, scaling.fit_table(points)))
    assert text.startswith("Every training step of numpy-loop pays a fixed cost of ")
    assert "times as long" not in text and "1 of 1" not in text and "to 3" not in text


def n_train_points(planted=PLANTED):
    """sweep_run's batch sweep relabelled as a sweep of the training samples at batch 256."""
    points = scaling.sweep_points(as_run(sweep_run(planted, noise=0.01, seed=4)))
    points = points[points["axis"] == "batch"].copy()
    points["axis"], points["n_train"], points["size"] = "n_train", points["batch_size"], \
        points["batch_size"]
    points["batch_size"] = 256
    return points


def test_the_training_set_grows_in_words_with_thousands_separators():
    points = n_train_points()
    text = " ".join(scaling_section.teacher_sentences(points, scaling.fit_table(points)))
    # groups of three digits by a narrow no-break space, as everywhere (results.numbers)
    assert "As the training set grows from 32 to 16\u202f384 samples" in text
    assert "training samples grows" not in text and "16384" not in text


def test_the_training_set_sweep_measures_the_whole_process_memory():
    run = sweep_run()
    for row in run["rows"]:
        for index, process in enumerate(row["processes"]):
            process["memory"]["rss_baseline_bytes"] = 1000 * row["batch_size"] + index
    points = scaling.sweep_points(as_run(run))
    first = run["rows"][0]
    assert points["process_peak_rss_bytes"].iloc[0] == 1000 * first["batch_size"] + 1 + \
        first["processes"][0]["memory"]["peak_rss_above_baseline_bytes"]
    # data loaded before the epoch: the peak above its start is flat, the process's grows
    points = n_train_points()
    points["peak_rss_bytes"] = 2**20
    points["process_peak_rss_bytes"] = 4000 * points["n_train"]
    fits = scaling.fit_table(points)
    assert fits["peak_memory_loglog_slope"].tolist() == pytest.approx([1.0] * len(fits))
    text = " ".join(scaling_section.teacher_sentences(points, fits))
    assert "the whole process's peak memory, data included, with a log-log slope of" in text
    assert "within 10%" not in text.split("As the training set")[1]
    assert "process_peak_rss_bytes" in scaling_section.CAPTION


def test_a_points_regime_agrees_with_its_fits_overhead_bound_size():
    points, fits = scaling.csv_frames(as_run(sweep_run()))
    checked = 0
    for fit in fits.itertuples():
        mine = points[(points["variant"] == fit.variant) & (points["axis"] == fit.axis)]
        column = scaling.AXES[fit.axis][0]  # overhead_bound_below is in the swept unit
        for point in mine.itertuples():
            below = math.inf if pd.isna(fit.overhead_bound_below) else fit.overhead_bound_below
            expected = "overhead-bound" if getattr(point, column) <= below else "compute-bound"
            assert point.regime == expected, (fit.variant, fit.axis, getattr(point, column))
            checked += 1
    assert checked == len(points)
    # no measurable fixed cost (the fit under 0) is never overhead-bound, whatever the slope
    assert scaling.regime(-5.0, -0.001, 100) == "compute-bound"
    assert scaling.regime(5.0, -0.001, 100) == "overhead-bound"


def test_every_sweep_axis_sets_the_row_field_of_the_one_table_of_axes(tmp_path):
    """results.schema.SWEEP_AXES is the table that --sweep, the loader's check of plan.sweeps
    and the Scaling section all read: each axis varies the row field it names there."""
    for axis, field in SWEEP_AXES.items():
        values = [3000, 4000] if axis == "n_train" else [512, 1024]  # quick: 2000 samples
        plan = opts.make_plan("quick", impl="numpy", sweep=f"{axis}={values[0]},{values[1]}")
        swept = [getattr(row, field) for row in plan.rows()]
        assert swept == values, (axis, swept)
        for other in set(SWEEP_AXES.values()) - {field}:  # the others stay at the plan's
            assert len({getattr(row, other) for row in plan.rows()}) == 1, (axis, other)
        assert scaling.AXES[axis][0] == field
        assert field not in scaling.CONTEXT[axis] and len(scaling.CONTEXT[axis]) == 2
    with pytest.raises(OptionError, match="choose from: batch, hidden, n_train"):
        opts.make_plan("quick", impl="numpy", sweep="depth=2,3")
    run = format2.run([format2.row("numpy-loop", [100.0, 110.0])])
    run["plan"]["sweeps"] = {"depth": [2, 3]}
    with pytest.raises(UnreadableResult, match="not one of batch, hidden, n_train"):
        load_results(format2.write(tmp_path / "results.json", run))
