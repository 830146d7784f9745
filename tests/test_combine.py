"""`sidebyside-reports combine`: runs side by side with compare's verdicts, a class's folder of
result files grouped by machine, and every bad input named in one sentence."""

import copy
import json
import random
import re
import shutil
import statistics
import time

import pandas as pd
import pytest

from reports import combine as combine_module
from reports import numbers
from reports.cli import main as reports_main
from reports.compare import compare_runs
from reports.markdown import parse_markdown_table
from results.format import RESULTS_FORMAT_VERSION
from results.load import load_results, load_run
from tests import format2
from tests.test_report_html import Page, needs_chromium
from tests.test_report_latex import needs_pdflatex, pdflatex

INTEL = format2.FIXTURES / "run2_new.json"  # a real run: Intel Xeon, 2 cores, format 2
AMD = format2.FIXTURES / "run_new.json"  # a real run: AMD EPYC, format 1
FUTURE_VERSION = RESULTS_FORMAT_VERSION + 1  # a format no reader of this version knows
FORMATS = ("report.md", "report.tex", "report.html", "combined.csv", "combined.png",
           "combined.svg")


def perturbed(source, rng: random.Random, run_id: str, cpu_model: str | None = None) -> dict:
    """The loaded real run ``source`` with every measured row's numbers scaled by a factor
    drawn per row (each process its own noise), its ratios to torch-loop recomputed, and a
    run id of its own: another student's run on the same kind of machine."""
    data = copy.deepcopy(load_results(source))
    data.pop("_path")
    data.pop("converted_from_format_version", None)
    data["run_id"] = run_id
    if cpu_model:
        data["environment"]["cpu_model"] = cpu_model
    base = {}
    for row in data["rows"]:
        summary = row.get("summary")
        if not summary:
            continue
        factor = rng.lognormvariate(0, 0.2)
        samples = [v * factor * rng.lognormvariate(0, 0.03)
                   for v in summary["process_us_per_step"]]
        summary["process_us_per_step"] = samples
        summary["us_per_step"] = statistics.median(samples)
        for key in ("us_per_step_ci_low", "us_per_step_ci_high"):
            if summary.get(key) is not None:
                summary[key] = summary[key] * factor
        summary["ratio_ci_low"] = summary["ratio_ci_high"] = None
        if row["variant"] == "torch-loop":
            base[(row["device"], row["batch_size"])] = summary["us_per_step"]
    for row in data["rows"]:
        key = (row["device"], row["batch_size"])
        if row.get("summary") and key in base:
            row["summary"]["ratio_to_torch_loop"] = row["summary"]["us_per_step"] / base[key]
    return data


def _combine(capsys, *args) -> tuple[int, str, str]:
    status = reports_main(["combine", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """Three runs of one plan on three machines; the third lacks a row and one row failed
    everywhere (the real run's injected crash)."""
    folder = tmp_path_factory.mktemp("three")
    rng = random.Random(3)
    paths = []
    for k, model in enumerate(("Intel Xeon laptop", "Intel Xeon server", "Colab CPU")):
        data = perturbed(INTEL, rng, f"run-{k}", model)
        if k == 2:
            data["rows"] = [r for r in data["rows"] if r["id"] != "numpy-loop-cpu-b32"]
        paths.append(format2.write(folder / f"run{k}.json", data))
    return paths


@pytest.fixture(scope="module")
def side_by_side(three_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("side") / "report"
    started = time.perf_counter()
    status = reports_main(["combine", *map(str, three_runs), "--label", "laptop", "--label",
                           "server", "--label", "colab", "--out", str(out)])
    print(f"combine of 3 runs: {time.perf_counter() - started:.2f} s")
    assert status == 0
    return out


def test_three_runs_side_by_side_in_every_format(side_by_side, three_runs):
    for name in FORMATS:
        assert (side_by_side / name).stat().st_size > 0, name
    md = (side_by_side / "report.md").read_text()
    header = md.split("\n\n")[4].splitlines()[0]  # the table's header line
    for label in ("laptop", "server", "colab"):
        assert f"{label}: µs/step" in header and f"{label}: × torch loop" in header
    assert "laptop: ÷ first" not in header and "colab: ÷ first" in header
    # the caption names the estimator that the runs' times are (p10 since format 3, not the
    # median) and says what the unstable mark and the shaded cell mean
    assert "median µs" not in md and "p10 of the steady-state samples" in md
    assert "† after a time, its cell shaded on the web page: the row was unstable" in md
    csv = pd.read_csv(side_by_side / "combined.csv")
    assert list(dict.fromkeys(csv["run"])) == ["laptop", "server", "colab"]
    # every run's own numbers, as it recorded them
    for path, label in zip(three_runs, ("laptop", "server", "colab")):
        data = load_results(path)
        for row in data["rows"]:
            if row.get("summary"):
                line = csv[(csv["run"] == label) & (csv["row"] == row["id"])].iloc[0]
                assert line["us_per_step"] == pytest.approx(row["summary"]["us_per_step"])
                assert line["ratio_to_torch_loop"] == pytest.approx(
                    row["summary"]["ratio_to_torch_loop"])


def test_each_runs_ratio_to_the_first_has_compares_verdict(side_by_side, three_runs):
    csv = pd.read_csv(side_by_side / "combined.csv")
    first = load_run(three_runs[0])
    for path, label in zip(three_runs[1:], ("server", "colab")):
        comparison = compare_runs(first, load_run(path), machine_factor=False)
        for want in comparison.rows.to_dict("records"):
            got = csv[(csv["run"] == label) & (csv["row"] == want["row"])].iloc[0]
            assert got["verdict"] == want["verdict"]
            assert got["ratio_to_first"] == pytest.approx(want["ratio"])
            assert got["ratio_to_first_ci_low"] == pytest.approx(want["ci_low"])
    assert csv[csv["run"] == "laptop"]["verdict"].isna().all()  # the reference itself


def test_a_row_missing_or_failed_in_a_run_has_a_dash_and_a_reason(side_by_side):
    md = (side_by_side / "report.md").read_text()
    (line,) = [t for t in md.splitlines() if t.startswith("| numpy-loop-cpu-b32 |")]
    assert "— not in run" in line and "134" not in line.split("|")[-8]
    assert "- numpy-loop-cpu-b32 in colab: not in this run" in md
    (failed,) = [t for t in md.splitlines() if t.startswith("| keras-torch-fit-cpu-b1024 |")]
    assert failed.count("— failed") == 3


def test_the_side_by_side_table_writes_each_number_in_the_reports_style(side_by_side):
    md = (side_by_side / "report.md").read_text()
    start = md.index("| Row |")
    shown = {line["Row"]: line for line in
             parse_markdown_table(md[start:md.index("\n\n", start)])}
    csv = pd.read_csv(side_by_side / "combined.csv")
    checked = 0
    for record in csv.to_dict("records"):
        if pd.isna(record["us_per_step"]):
            continue
        line, label = shown[record["row"]], record["run"]
        assert line[f"{label}: µs/step"].split(" ")[0] == numbers.number(record["us_per_step"])
        places = numbers.decimals(record["us_per_step"], 3)
        assert line[f"{label}: 95% CI"] == numbers.interval(
            record["us_per_step_ci_low"], record["us_per_step_ci_high"], places)
        assert line[f"{label}: × torch loop"] == numbers.ratio(record["ratio_to_torch_loop"])
        if not pd.isna(record["ratio_to_first"]):
            assert line[f"{label}: ÷ first"] == numbers.ratio(record["ratio_to_first"])
            assert line[f"{label}: ÷ first, 95% CI"].startswith("[")
        checked += 1
    assert checked > 10
    assert "–" not in md  # one missing-value symbol; intervals in brackets
    # one note per row and reason, naming every run it holds for
    assert md.count("keras-torch-fit-cpu-b1024 in laptop, server, colab: failed: worker "
                    "exited with status 1") == 1


def test_runs_of_different_plans_are_combined_on_the_rows_they_share(tmp_path, capsys):
    out = tmp_path / "report"
    status, _, err = _combine(capsys, INTEL, AMD, "--out", out)
    assert status == 0, err
    md = (out / "report.md").read_text()
    (note,) = [t for t in md.splitlines() if t.startswith("- The runs' plans differ in ")]
    assert "n\\_train (2048 in Intel Xeon @ 2.80GHz · cpu; 1000 in AMD EPYC · cpu)" in note
    assert "leaving out keras-jax-fit-spe-cpu-b32" in note
    csv = pd.read_csv(out / "combined.csv")
    shared = set(r["id"] for r in load_results(INTEL)["rows"]) & set(
        r["id"] for r in load_results(AMD)["rows"])
    assert set(csv["row"]) == shared


RUN3 = format2.FIXTURES / "run3.json"  # a real run of resident workers, format 3


def test_a_machine_twice_as_slow_shows_a_ratio_of_two_not_one(tmp_path, capsys):
    """combine sets machines side by side: no machine factor divides their difference out
    (compare's default for two runs of one machine)."""
    data = json.loads(RUN3.read_text())
    slow = copy.deepcopy(data)
    slow["run_id"] = "twice-as-slow"
    for row in slow["rows"]:
        for process in row.get("processes") or []:
            for key in ("samples_epoch_s", "steady_epoch_s"):
                if process.get(key):
                    process[key] = [2 * s for s in process[key]]
        summary = row.get("summary") or {}
        for key in ("us_per_step", "us_per_step_ci_low", "us_per_step_ci_high",
                    "us_per_step_median"):
            if summary.get(key):
                summary[key] *= 2
        if summary.get("process_us_per_step"):
            summary["process_us_per_step"] = [2 * v for v in summary["process_us_per_step"]]
    slow_path = format2.write(tmp_path / "slow.json", slow)
    out = tmp_path / "report"
    status, _, err = _combine(capsys, RUN3, slow_path, "--out", out)
    assert status == 0, err
    csv = pd.read_csv(out / "combined.csv")
    second = csv[csv["run"] == csv["run"].unique()[1]].dropna(subset=["ratio_to_first"])
    assert len(second) >= 4  # enough rows that compare would apply a machine factor
    assert second["ratio_to_first"].to_numpy() == pytest.approx(2.0)
    # the fixture's own spread leaves some intervals wide (inconclusive), never "same"
    assert "slower" in set(second["verdict"]) <= {"slower", "inconclusive"}


def test_runs_that_share_no_row_are_one_sentence(tmp_path, capsys):
    data = json.loads(RUN3.read_text())
    other = copy.deepcopy(data)
    other["run_id"] = "other-batch"
    other["plan"]["batch_sizes"] = [77]
    for row in other["rows"]:
        row["id"] = row["id"].rsplit("-b", 1)[0] + "-b77"
        row["batch_size"] = 77
    other_path = format2.write(tmp_path / "other.json", other)
    status, _, err = _combine(capsys, RUN3, other_path, "--out", tmp_path / "report")
    assert status == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert "the runs share no row (their plans differ in " in line, err
    assert line.endswith("so there is nothing to set side by side")
    assert not (tmp_path / "report").exists()


def test_labels_must_be_one_per_run(tmp_path, capsys, three_runs):
    status, _, err = _combine(capsys, *three_runs, "--label", "a", "--out", tmp_path / "r")
    assert status == 2 and "--label was given 1 time for 3 runs" in err
    status, _, err = _combine(capsys, *three_runs, "--label", "a", "--label", "b", "--label",
                              "a", "--out", tmp_path / "r")
    assert status == 2 and "--label a is given twice" in err
    assert not (tmp_path / "r").exists()


@needs_chromium
def test_chromium_shows_the_side_by_side_page(side_by_side, tmp_path):
    from tests.test_report_html import chromium

    page = Page(chromium(side_by_side, tmp_path, "--dump-dom").stdout)
    check_page(page, tables=1, images=1)
    text = " ".join(page.text)
    assert "laptop" in text and "colab" in text and "not in run" in text


@needs_pdflatex
def test_the_side_by_side_latex_compiles_without_overfull_boxes(side_by_side):
    check_latex(side_by_side)


def check_page(page: Page, tables: int, images: int) -> None:
    from reports.html import HTML_CSP

    assert page.tables == tables and len(page.images) == images
    for image in page.images:
        assert image["src"].startswith("data:image/png;base64,") and image.get("alt")
    assert all(url.startswith("data:") for url in page.urls), page.urls
    assert {"http-equiv": "Content-Security-Policy", "content": HTML_CSP} in page.meta


def check_latex(folder) -> None:
    log = pdflatex(folder)
    assert (folder / "report.pdf").read_bytes()[:5] == b"%PDF-"
    too_wide = [float(pt) for pt in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide", log)]
    assert all(pt <= 5 for pt in too_wide), too_wide
    assert not re.findall(r"^! ", log, re.MULTILINE)


# -- a class's folder -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    """30 students' result files in subfolders: 20 on the Intel machine of the real run, 10
    on the AMD one, each with perturbed numbers and a run id of its own."""
    folder = tmp_path_factory.mktemp("class")
    rng = random.Random(30)
    for k in range(30):
        source = INTEL if k < 20 else AMD
        student = folder / f"group{k % 3}" / f"student{k:02d}"
        student.mkdir(parents=True)
        format2.write(student / "results.json", perturbed(source, rng, f"student-{k}"))
    return folder


@pytest.fixture(scope="module")
def class_report(class_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("class-report") / "report"
    started = time.perf_counter()
    status = reports_main(["combine", str(class_folder), "--out", str(out)])
    print(f"combine of a folder of 30 result files: {time.perf_counter() - started:.2f} s")
    assert status == 0
    return out


def test_a_class_folder_is_grouped_by_machine_and_device(class_report, class_folder):
    for name in FORMATS:
        assert (class_report / name).stat().st_size > 0, name
    csv = pd.read_csv(class_report / "combined.csv")
    groups = csv.groupby(["machine", "device"])["runs_in_group"].first().to_dict()
    assert groups == {("Intel(R) Xeon(R) Processor @ 2.80GHz", "cpu"): 20,
                      ("AMD EPYC", "cpu"): 10}
    # the median and quartiles of each row's x torch loop over the group's runs
    ratios = {}
    for path in sorted(class_folder.rglob("results.json")):
        data = load_results(path)
        for row in data["rows"]:
            if row.get("summary"):
                key = (data["environment"]["cpu_model"], row["id"])
                ratios.setdefault(key, []).append(row["summary"]["ratio_to_torch_loop"])
    for line in csv.to_dict("records"):
        values = ratios[(line["machine"], line["row"])]
        assert line["runs"] == len(values)
        assert line["ratio_median"] == pytest.approx(statistics.median(values))
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        assert (line["ratio_q1"], line["ratio_q3"]) == (pytest.approx(q1), pytest.approx(q3))
        assert line["ratio_min"] == pytest.approx(min(values))
    md = (class_report / "report.md").read_text()
    assert "## Intel(R) Xeon(R) Processor @ 2.80GHz (cpu): 20 runs" in md
    assert "## AMD EPYC (cpu): 10 runs" in md
    assert "On the 20 runs on Intel(R) Xeon(R) Processor @ 2.80GHz (cpu), " in md


@needs_chromium
def test_chromium_shows_the_class_page(class_report, tmp_path):
    from tests.test_report_html import chromium

    page = Page(chromium(class_report, tmp_path, "--dump-dom").stdout)
    check_page(page, tables=2, images=1)
    assert "20 runs" in " ".join(page.text)


@needs_pdflatex
def test_the_class_latex_compiles_without_overfull_boxes(class_report):
    check_latex(class_report)


# -- bad inputs -------------------------------------------------------------------------------

@pytest.fixture
def bad_folder(tmp_path):
    """Two good runs and one of each bad input, in subfolders."""
    folder = tmp_path / "class"
    rng = random.Random(7)
    for name in ("good1", "good2", "copy", "other", "truncated", "future", "failed"):
        (folder / name).mkdir(parents=True)
    good = perturbed(INTEL, rng, "good-1")
    format2.write(folder / "good1" / "results.json", good)
    format2.write(folder / "good2" / "results.json", perturbed(INTEL, rng, "good-2"))
    format2.write(folder / "copy" / "results.json", good)  # the same run twice
    (folder / "other" / "package.json").write_text(json.dumps({"name": "left-pad"}))
    text = json.dumps(perturbed(INTEL, rng, "cut"))
    (folder / "truncated" / "results.json").write_text(text[: len(text) // 2])
    format2.write(folder / "future" / "results.json",
                  dict(perturbed(INTEL, rng, "future"), format_version=FUTURE_VERSION))
    failed = perturbed(INTEL, rng, "failed")
    for row in failed["rows"]:
        row.update(status="failed", reason="worker exited with status 1", summary=None,
                   processes=[])
    format2.write(folder / "failed" / "results.json", failed)
    return folder


BAD = {
    "copy": "the same run as",
    "other/package.json": "not a result file of `pytest --benchmark`",
    "truncated": "not valid JSON",
    "future": f"result format version {FUTURE_VERSION} is not one this version of sidebyside "
              "reads",
    "failed": "no row of this run was measured (its 11 rows are failed)",
}


def test_every_bad_input_is_one_sentence_naming_it_and_the_rest_are_combined(
        bad_folder, tmp_path, capsys):
    status, out, err = _combine(capsys, bad_folder, "--out", tmp_path / "report")
    assert status == 0, err
    lines = err.splitlines()
    assert len(lines) == len(BAD), err
    for where, message in BAD.items():
        path = bad_folder / where
        file = path if path.suffix == ".json" else path / "results.json"
        (line,) = [t for t in lines if str(file) in t]
        assert message in line and line.startswith("python -m reports: skipped: "), line
    assert "Traceback" not in err
    csv = pd.read_csv(tmp_path / "report" / "combined.csv")
    assert set(csv["runs_in_group"]) == {2}  # the two good runs, the copy counted once
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Not combined" in md and md.count("not valid JSON") == 1


@pytest.mark.parametrize("where", list(BAD))
def test_each_bad_input_alone_combines_nothing_and_fails(bad_folder, tmp_path, capsys, where):
    path = bad_folder / where
    file = path if path.suffix == ".json" else path / "results.json"
    args = [file] if where != "copy" else [bad_folder / "good1" / "results.json", file]
    status, _, err = _combine(capsys, *args, "--out", tmp_path / "report")
    if where == "copy":  # the first copy is combined, the second is named
        assert status == 0 and f"{file}: the same run as " in err
        return
    assert status == 2 and BAD[where] in err and str(file) in err
    assert err.splitlines()[-1].startswith("python -m reports: error: no run could be combined")
    assert not (tmp_path / "report").exists()


def test_labels_are_refused_for_a_class_folder(class_folder, tmp_path, capsys):
    status, _, err = _combine(capsys, class_folder, "--label", "x", "--out", tmp_path / "r")
    assert status == 2 and "a folder of result files is grouped by machine" in err


def test_a_folder_holding_no_result_file_is_named(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    status, _, err = _combine(capsys, tmp_path / "empty", "--out", tmp_path / "report")
    assert status == 2 and f"{tmp_path / 'empty'}: a folder without result files" in err


def test_the_parts_of_a_merged_run_beside_it_are_counted_once(tmp_path, capsys):
    from benchmarks import options as opts
    from reports.merge import merge
    from tests.test_shard_merge import write_parts

    folder = tmp_path / "class"
    folder.mkdir()
    parts = write_parts(folder, opts.make_plan(), 2)
    merge([str(p) for p in parts], folder / "merged")
    status, _, err = _combine(capsys, folder, "--out", tmp_path / "report")
    assert status == 0
    for part in parts:
        assert f"{part}: a part of the merged run {folder / 'merged' / 'results.json'}" in err
    csv = pd.read_csv(tmp_path / "report" / "combined.csv")
    assert set(csv["runs_in_group"]) == {1}


def test_a_run_id_is_a_digest_of_the_measurements_in_files_without_one():
    first, second = load_run(INTEL), load_run(format2.FIXTURES / "run2_old.json")
    assert not first.get("run_id")
    assert combine_module.run_id(first) == combine_module.run_id(copy.deepcopy(first))
    assert combine_module.run_id(first) != combine_module.run_id(second)


def test_combine_never_writes_into_a_run_folder(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(INTEL, run / "results.json")
    status, _, err = _combine(capsys, INTEL, AMD, "--out", run)
    assert status == 2 and "is the run folder of" in err
    assert sorted(p.name for p in run.iterdir()) == ["results.json"]
