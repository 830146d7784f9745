"""One plan split over machines (`pytest --benchmark --shard I/N`) and merged back
(`sidebyside-reports merge`): disjoint parts that make up the plan, compared rows kept
together, and a merge that gives the unsplit run's rows or says in one sentence why not."""

import copy
import json

import pytest

from benchmarks import options as opts
from benchmarks import shard as shards
from benchmarks.plan import SINGLE_TWINS, TAGS, Plan, Row
from reports.cli import main as reports_main
from reports.merge import merge
from results.load import load_results
from tests import format2
from tests.test_bench_e2e import run_pytest

PRESETS = ("default", "full", "sweep", "distributed")


def _block(row: Row) -> tuple:
    return row.device, row.batch_size, row.hidden_size, row.n_train


@pytest.mark.parametrize("preset", PRESETS)
def test_every_split_is_disjoint_makes_up_the_plan_and_keeps_compared_rows_together(preset):
    plan = opts.make_plan(preset=preset)
    rows = plan.rows()
    for count in range(1, len(shards.blocks(plan)) + 1):
        parts = shards.parts(plan, count)
        assert len(parts) == count and all(parts), (count, [len(p) for p in parts])
        joined = [row for part in parts for row in part]
        assert sorted(r.id for r in joined) == sorted(r.id for r in rows)  # disjoint, whole
        for part in parts:
            assert part == [r for r in rows if r in part]  # plan order kept
        owner = {row: i for i, part in enumerate(parts) for row in part}
        references = {_block(r): owner[r] for r in rows if r.variant == "torch-loop"}
        for row in rows:
            if _block(row) in references:  # its "x torch loop" reference: the same part
                assert owner[row] == references[_block(row)], (count, row.id)
            twin = SINGLE_TWINS.get(row.variant)
            if twin:  # a data-parallel row and its single-process twin: the same part
                (single,) = [r for r in rows if r.variant == twin and _block(r) == _block(row)]
                assert owner[row] == owner[single]
        # each machine computes the same split: it depends on the plan alone
        assert shards.parts(opts.make_plan(preset=preset), count) == parts


def test_without_torch_loop_a_block_is_a_row_or_a_data_parallel_pair():
    plan = opts.make_plan(impl="numpy,jax-scan", device="cpu")
    assert [[r.id for r in b] for b in shards.blocks(plan)] == [[r.id] for r in plan.rows()]
    plan = opts.make_plan(preset="distributed")
    units = shards.blocks(plan)
    assert len(units) == len(plan.rows()) // 2 == 12
    for unit in units:
        assert [r.variant for r in unit] in ([v, SINGLE_TWINS[v]]
                                             for v in SINGLE_TWINS)
        assert len({_block(r) for r in unit}) == 1


def test_the_default_plan_splits_into_parts_of_least_longest_work():
    """The longest part is as short as any assignment of the plan's blocks to the parts
    can make it (found by trying them all: the default plan has only a few blocks)."""
    import itertools

    plan = opts.make_plan()
    block_work = [shards.work_s(block, plan) for block in shards.blocks(plan)]
    for count in (2, 3):
        work = [shards.work_s(part, plan) for part in shards.parts(plan, count)]
        best = min(max(sum(w for w, part in zip(block_work, assignment) if part == k)
                       for k in range(count))
                   for assignment in itertools.product(range(count), repeat=len(block_work)))
        assert max(work) == pytest.approx(best), (work, block_work)


@pytest.mark.parametrize(("text", "message"), [
    ("0/3", "I from 1 to N"), ("4/3", "I from 1 to N"), ("1/0", "N at least 1"),
    ("a/b", "expected I/N, two integers"), ("3", "expected I/N"), ("", "expected I/N"),
    ("1/2/3", "expected I/N"),
])
def test_a_bad_shard_is_one_sentence(text, message):
    with pytest.raises(opts.OptionError, match="^--shard: ") as err:
        shards.parse(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_more_parts_than_groups_of_compared_rows_is_refused():
    plan = opts.make_plan(device="cpu")  # two groups: batch 32 and batch 1024
    with pytest.raises(opts.OptionError, match="at most 2 parts; give N from 1 to 2"):
        shards.parts(plan, 3)


def test_pytest_refuses_a_bad_shard_with_exit_4(tmp_path):
    for args, message in ((["--shard", "3/2"], "--shard: expected I/N with N at least 1 and "
                                                "I from 1 to N, got '3/2'"),
                          (["--shard", "1/3"], "--shard: the plan has 1 group of rows")):
        result = run_pytest(["--benchmark", "--preset", "quick", f"--report-dir={tmp_path}",
                             *args], tmp_path)
        assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
        assert message in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*/results.json"))


# -- merging ---------------------------------------------------------------------------------

def plan_run(plan: Plan, cpu_model: str = "Intel Xeon") -> dict:
    """A run of every row of ``plan`` without workers: CPU rows measured (planted numbers),
    CUDA rows skipped, as on a machine without a GPU."""
    rows = []
    for k, row in enumerate(plan.rows()):
        if row.device == "cuda":
            record = format2.skipped_row(row.variant, row.batch_size, "cuda")
        else:
            record = format2.row(row.variant, [100.0 + k, 110.0 + k, 105.0 + k],
                                 batch_size=row.batch_size)
        record.update(id=row.id, implementation=row.implementation, mode=row.mode,
                      tag=TAGS[row.variant])
        rows.append(record)
    run = format2.run(rows)
    run["plan"] = json.loads(json.dumps(plan.to_dict()))
    run["environment"]["cpu_model"] = cpu_model
    return run


def write_parts(tmp_path, plan: Plan, count: int, whole: dict | None = None,
                edit=None) -> list:
    """The ``count`` parts of ``whole`` (a run of ``plan``) as result files, each as the
    plugin writes it; ``edit(index, part)`` may change a part before it is written."""
    whole = whole or plan_run(plan)
    by_id = {r["id"]: r for r in whole["rows"]}
    paths = []
    for index, rows in enumerate(shards.parts(plan, count), 1):
        part = copy.deepcopy(whole)
        part["rows"] = [copy.deepcopy(by_id[r.id]) for r in rows]
        part["shard"] = shards.Shard(index, count).to_dict(plan)
        part["run_id"] = f"part-{index}"
        part["environment"]["command"] = f"pytest --benchmark --shard {index}/{count}"
        if edit:
            edit(index, part)
        folder = tmp_path / f"part{index}"
        folder.mkdir()
        paths.append(format2.write(folder / "results.json", part))
    return paths


@pytest.mark.parametrize("count", [2, 3])
def test_the_default_plan_split_and_merged_gives_the_unsplit_rows(tmp_path, count):
    plan = opts.make_plan()
    whole = plan_run(plan)
    unsplit = load_results(format2.write(tmp_path / "whole.json", whole))
    paths = write_parts(tmp_path, plan, count, whole)
    folder = merge([str(p) for p in reversed(paths)], tmp_path / "merged")
    merged = load_results(folder)
    assert [r["id"] for r in merged["rows"]] == [r.id for r in plan.rows()]
    for got, want in zip(merged["rows"], unsplit["rows"]):
        assert got.pop("machine")["cpu_model"] == "Intel Xeon"
        assert got == want
    assert merged["plan"] == unsplit["plan"] and "shard" not in merged
    assert merged["environment"]["command"] == "pytest --benchmark"
    assert [p["index"] for p in merged["merged_from"]] == list(range(1, count + 1))
    assert not any("different machines" in f for f in merged["flags"])
    for name in ("report.md", "report.html", "report.tex", "results.csv"):
        assert (folder / name).is_file()


def test_parts_run_on_different_machines_record_the_machine_per_row(tmp_path):
    plan = opts.make_plan()

    def other_machine(index, part):
        if index == 2:
            part["environment"]["cpu_model"] = "AMD EPYC 7B13"

    paths = write_parts(tmp_path, plan, 2, edit=other_machine)
    folder = merge([str(p) for p in paths], tmp_path / "merged")
    merged = load_results(folder)
    second = {r.id for r in shards.parts(plan, 2)[1]}
    for row in merged["rows"]:
        want = "AMD EPYC 7B13" if row["id"] in second else "Intel Xeon"
        assert row["machine"]["cpu_model"] == want
    (flag,) = [f for f in merged["flags"] if "different machines" in f]
    assert "AMD EPYC 7B13" in flag and "Intel Xeon" in flag
    assert "rows ran on different machines" in (folder / "report.md").read_text()
    assert "AMD EPYC 7B13" in (folder / "report.html").read_text()


def test_a_part_unpinned_on_a_busy_machine_still_merges_and_says_so(tmp_path):
    def busy(index, part):  # the plugin turns --affinity auto into none on a busy machine
        if index == 2:
            part["plan"]["affinity"] = "none"
            part["environment"].update(busy_before=True, busy_reason="its CPUs were 90% busy")

    paths = write_parts(tmp_path, opts.make_plan(), 2, edit=busy)
    merged = load_results(merge([str(p) for p in paths], tmp_path / "merged"))
    assert merged["plan"]["affinity"] == "auto, none"
    assert merged["environment"]["busy_reason"] == "part 2: its CPUs were 90% busy"


def _refusal(tmp_path, capsys, paths) -> str:
    status = reports_main(["merge", *map(str, paths), "--out", str(tmp_path / "merged")])
    err = capsys.readouterr().err
    assert status == 2 and not (tmp_path / "merged").exists()
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize(("edit", "message"), [
    (lambda i, p: p["plan"].update(epochs=30) if i == 2 else None, "plan (epochs: "),
    (lambda i, p: p["environment"]["commit"].update(id="b" * 40) if i == 1 else None,
     "commit (commit: "),
    (lambda i, p: p["environment"]["versions"].update(torch="2.12.0") if i == 2 else None,
     "versions (torch: "),
])
def test_merge_refuses_parts_of_different_plans_commits_or_versions(tmp_path, capsys, edit,
                                                                     message):
    paths = write_parts(tmp_path, opts.make_plan(), 2, edit=edit)
    err = _refusal(tmp_path, capsys, paths)
    assert "the parts are not of one plan run at one commit with the same versions: they " \
           "differ in " + message in err
    assert str(paths[0]) in err and str(paths[1]) in err


def test_merge_refuses_parts_of_two_different_plans(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_parts(tmp_path / "a", opts.make_plan(), 2)
    second = write_parts(tmp_path / "b", opts.make_plan(preset="distributed"), 2)
    err = _refusal(tmp_path, capsys, [first[0], second[1]])
    # The first differing fields in name order (epochs, min_steps, preset, ...) with each
    # part's value; long lists are cut short, so the sentence stays readable.
    assert "they differ in plan (" in err and "epochs: " in err and "preset: " in err
    assert "and 2 more)" in err


def test_merge_refuses_a_missing_a_repeated_or_an_unsplit_part(tmp_path, capsys):
    plan = opts.make_plan()
    paths = write_parts(tmp_path, plan, 3)
    assert "part 2 of 3 is missing (given: 1, 3); merge needs every part" in _refusal(
        tmp_path, capsys, [paths[0], paths[2]])
    copy_of_first = format2.write(tmp_path / "copy.json", json.loads(paths[0].read_text()))
    assert "are both part 1 of 3; give each part once" in _refusal(
        tmp_path, capsys, [*paths, copy_of_first])
    whole = format2.write(tmp_path / "whole.json", plan_run(plan))
    assert "not a part of a split run" in _refusal(tmp_path, capsys, [whole])


def test_merge_never_writes_over_a_part(tmp_path, capsys):
    paths = write_parts(tmp_path, opts.make_plan(), 2)
    before = paths[0].read_bytes()
    status = reports_main(["merge", *map(str, paths), "--out", str(paths[0].parent)])
    assert status == 2 and "a part being merged" in capsys.readouterr().err
    assert paths[0].read_bytes() == before


def test_a_small_real_split_run_merges_into_the_plan(tmp_path):
    """Two parts of a tiny plan run by the plugin, then merged: the plan's rows, measured."""
    args = ["--benchmark", "--preset", "quick", "--impl", "numpy,torch-loop", "--device",
            "cpu", "--batch-size", "32,64", "--n-train", "256", "--epochs", "2"]
    plan = opts.make_plan(preset="quick", impl="numpy,torch-loop", device="cpu",
                          batch_size="32,64", n_train="256", epochs="2")
    paths = []
    for index in (1, 2):
        runs = tmp_path / f"runs{index}"
        result = run_pytest([*args, "--shard", f"{index}/2", f"--report-dir={runs}"], tmp_path)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert f"sidebyside: 2 rows (part {index} of 2), 1 process each" in result.stdout
        (path,) = runs.glob("*/results.json")
        part = load_results(path)
        assert part["shard"]["index"] == index and len(part["rows"]) == 2
        paths.append(path)
    merged = load_results(merge([str(p) for p in paths], tmp_path / "merged"))
    assert [r["id"] for r in merged["rows"]] == [r.id for r in plan.rows()]
    assert all(r["status"] == "ok" and r["summary"]["ratio_to_torch_loop"] for r in
               merged["rows"])
