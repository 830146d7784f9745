"""The report as one document (reports.report.run_document) rendered to Markdown, LaTeX,
HTML and the terminal: one number style in all four, the headline first, the diagnostics
last, and every caveat said once, in plain words, with what to do about it."""

import html as html_module
import re

import pytest

from benchmarks.table import side_by_side
from reports import cells, html, latex, main_tables, markdown, trained
from reports.cells import UNSTABLE_MARK, UNSTABLE_NOTE, UNSTABLE_RATIO_NOTE
from reports.report import run_document
from results import numbers
from tests.report_cases import BUSY_WARNING, EPOCHS_TEXT, PARTIAL_ROW, as_run, realistic_run

# A number as the one style writes it: digits in groups (U+202F between them), a point.
NUMBER = re.compile(r"\d+(?:\u202f\d{3})*(?:\.\d+)?")


@pytest.fixture(scope="module")
def run():
    return as_run(realistic_run())


@pytest.fixture(scope="module")
def doc(run):
    return run_document(run)


@pytest.fixture(scope="module")
def rendered(doc):
    """The document in each format, with every digit-group separator as U+202F (LaTeX's
    thin space and HTML's character reference read back)."""
    images = {name: b"" for name in doc.figures} | {
        name: b"" for section in doc.sections for name in section.figures}
    return {"markdown": markdown.report(doc),
            "latex": latex.report(doc).replace(numbers.THOUSANDS_LATEX, numbers.THOUSANDS),
            "html": html_module.unescape(html.report(doc, images))}


def shown_numbers(text: str) -> set[str]:
    """Every number in ``text`` as its digits (results.numbers.digits)."""
    return {numbers.digits(match) for match in NUMBER.findall(text)}


def _table_numbers(tables) -> list[tuple[str, str]]:
    return [(cell, number) for table in tables
            for cell in table.astype(str).to_numpy().ravel() for number in NUMBER.findall(cell)]


def test_every_number_of_every_table_has_the_same_digits_in_each_format(doc, rendered):
    found = {name: shown_numbers(text) for name, text in rendered.items()}
    checked = 0
    for section in doc.sections:
        if section.table is None:
            continue
        screen = _table_numbers([section.table])
        # A printed page may show fewer columns (section.latex), never other digits.
        printed = _table_numbers([t.table for t in section.latex]) if section.latex \
            else screen
        for name, shown in (("markdown", screen), ("html", screen), ("latex", printed)):
            for cell, number in shown:
                assert numbers.digits(number) in found[name], (section.key, cell, name)
                checked += 1
        screen_digits = {numbers.digits(n) for _, n in screen}
        for cell, number in printed:
            assert numbers.digits(number) in screen_digits, (section.key, cell)
    assert checked > 900  # the headline, best, Time, Accuracy, Memory, diagnostics


def test_the_latex_source_groups_digits_with_thin_spaces_never_a_plain_space(doc):
    source = latex.report(doc)
    assert "\u202f" not in source and r"1\,024" in source
    # "1 024" with a breakable space would read as two numbers
    assert not re.search(r"\b1 024\b", source)


def test_the_terminal_table_shows_the_same_digits_as_the_report(run, doc):
    lines = side_by_side(run)
    time = next(s for s in doc.sections if s.key == "time").table
    variants = {r.id: r.variant for r in run.rows}
    for _, row in time.iterrows():
        name = row["Row"].replace(UNSTABLE_MARK, "").strip()
        # under its block's heading ("cpu, batch 32:"), named by its variant
        heading = lines.index(f"cpu, batch {name.rsplit('-b', 1)[1]}:".replace(
            "1024", "1\u202f024"))
        line = next(line for line in lines[heading:] if line.startswith(variants[name] + " "))
        terminal = shown_numbers(line)
        for column in ("µs/step (p10)", "95% CI µs/step", "× torch loop"):
            for number in NUMBER.findall(row[column]):
                assert numbers.digits(number) in terminal, (name, column, line)


@pytest.mark.parametrize("name", ["markdown", "latex", "html", "terminal"])
def test_micro_and_times_signs_everywhere_and_one_missing_symbol(name, run, rendered):
    text = "\n".join(side_by_side(run)) if name == "terminal" else rendered[name]
    if name == "latex":
        text = text.replace(r"\textmu{}", "µ").replace(r"\texttimes{}", "×")
    assert not re.search(r"\bus/|\bus per\b", text)
    assert not re.search(r"\d\s?x\s|\bx torch", text)
    assert "n/a" not in text and "–" not in text  # no en dash as a missing value or range
    assert "µs/step" in text and "× torch loop" in text


def test_the_headline_comes_first_and_the_diagnostics_last(doc, rendered):
    keys = [section.key for section in doc.sections]
    assert keys[0] == "headline" and keys[1] == "caveats" and keys[-1] == "diagnostics"
    assert keys.index("best") < keys.index("time")
    headline = doc.sections[0].table
    # the loop and the three backends' fit at each batch size, with "× torch loop"
    assert len(headline) == 8 and "× torch loop" in headline.columns
    assert {r.split("-cpu-")[0] for r in headline["Row"].str.replace(UNSTABLE_MARK, "")} == {
        "torch-loop", "keras-tensorflow-fit", "keras-jax-fit", "keras-torch-fit"}
    text = rendered["markdown"]
    assert text.index("## PyTorch loop against Keras fit") < text.index("## Time")
    assert text.index("## Appendix: diagnostics") > text.index("## Memory")


def test_a_ratio_below_one_in_the_headline_sentence_also_says_how_many_times_as_fast(
        doc, rendered):
    """"0.452× the loop's time" makes the reader divide: a fit faster than the loop also
    reads as a speed-up, 1 / ratio to three figures, with the same digits in every format."""
    table = doc.sections[0].table
    fits = table[~table["Row"].str.contains("torch-loop")]
    ratios = [float(cell.split("×")[0]) for cell in fits["× torch loop"]]  # "0.452× †" too
    faster = [r for r in ratios if r < 1]
    assert faster and len(faster) < len(ratios)  # the case holds both kinds
    text = " ".join(doc.sections[0].sentences)
    assert text.count("times as fast") == len(faster)
    said = re.findall(r"([\d.]+)× (?:† )?(?:the PyTorch loop's time )?with \w+ \(([\d.]+) "
                      r"times as fast\)", text)
    assert sorted(float(ratio) for ratio, _ in said) == sorted(faster)
    for sentence in doc.sections[0].sentences:
        for ratio, speedup in re.findall(r"([\d.]+)× (?:† )?(?:the PyTorch loop's time )?"
                                         r"with \w+ \(([\d.]+) times as fast\)", sentence):
            # the speed-up from the unrounded ratio rounds to within one last figure of 1/shown
            assert abs(float(speedup) - 1 / float(ratio)) <= 0.01 * float(speedup)
        for name, page in rendered.items():
            for number in NUMBER.findall(sentence):
                assert numbers.digits(number) in shown_numbers(page), (name, number)
    for ratio_text in fits["× torch loop"]:
        if float(ratio_text.split("×")[0]) >= 1:
            assert f"{ratio_text} with" in text or f"{ratio_text} the PyTorch" in text
            assert not re.search(re.escape(ratio_text) + r" with \w+ \(", text)


def _caveats(doc) -> list[str]:
    return next(s for s in doc.sections if s.key == "caveats").items


def test_the_busy_machine_is_said_once_with_what_to_do(doc, rendered):
    busy = [item for item in _caveats(doc) if "busy" in item.lower()]
    assert len(busy) == 1 and "quiet machine" in busy[0]
    # the reason follows its label without saying "busy machine" twice
    assert busy[0].startswith("Busy machine: its 2 CPUs were 100% busy in the second before")
    assert "machine was busy" not in rendered["markdown"]
    assert rendered["markdown"].count("its 2 CPUs were 100% busy") == 1
    assert "machine busy" in doc.footnote["caveats"]


def test_unstable_rows_are_named_once_with_why_and_what_to_do(run, doc, rendered):
    unstable = [r.id for r in run.rows if r.summary and r.summary.unstable]
    assert unstable
    item = next(i for i in _caveats(doc) if "unstable" in i)
    assert all(row_id in item for row_id in unstable)
    for advice in ("--processes", "--rounds", "quieter machine", "--metric instructions"):
        assert advice in item
    text = rendered["markdown"]
    # the suite's long reasons are not repeated under Time, Accuracy and Memory
    for reason in (r.summary.unstable_reasons[0] for r in run.rows if r.summary.unstable):
        assert reason not in text
    assert text.count(item.split(":")[0]) == 1
    assert doc.footnote["caveats"].startswith(f"{len(unstable)} rows unstable")


def test_a_partial_row_says_which_process_was_lost_numbered_from_one(doc):
    item = next(i for i in _caveats(doc) if PARTIAL_ROW in i and "partial" in i)
    assert "process 3 of 3 failed" in item and "injected crash" in item
    assert f"-k {PARTIAL_ROW}" in item
    processes = next(s for s in doc.sections if s.key == "diagnostics").table["Process"]
    assert set(processes) == {"1", "2", "3"}
    assert "1 row partial" in doc.footnote["caveats"]


def test_no_nested_brackets_in_any_note_or_caveat(doc):
    lines = [*_caveats(doc), *(n for s in doc.sections for n in s.notes)]
    for line in lines:
        assert not re.search(r"\([^()]*\(", line), line


def _marked_cells(table) -> set[tuple[int, int]]:
    """(line, column position) of every cell of ``table`` that carries the unstable mark."""
    shown = table.astype(str).to_numpy()
    return {(i, j) for i in range(shown.shape[0]) for j in range(shown.shape[1])
            if UNSTABLE_MARK in shown[i, j]}


def _time_column(table) -> int:
    return next(j for j, c in enumerate(table.columns) if c.startswith("µs/step"))


def test_the_unstable_mark_sits_on_exactly_the_unstable_times(run, doc, rendered):
    unstable = {r.id for r in run.rows if r.summary and r.summary.unstable}
    sections = {s.key: s for s in doc.sections}
    for key in ("headline", "time"):
        table = sections[key].table
        expected = {(i, _time_column(table)) for i, row in enumerate(table["Row"])
                    if row in unstable}
        # and a ratio where its row's time or its block's torch loop's is unstable
        variant = {r.id: r.variant for r in run.rows}
        loop_of = {r.id: "torch-loop" + r.id[len(r.variant):] for r in run.rows}
        ratio = list(table.columns).index("× torch loop")
        expected |= {(i, ratio) for i, row in enumerate(table["Row"])
                     if variant[row] != "torch-loop"
                     and (row in unstable or loop_of[row] in unstable)}
        assert any(j == ratio for _, j in expected), key
        assert sections[key].notes.count(UNSTABLE_RATIO_NOTE) == 1, key
        if key == "headline":
            sentence = " ".join(sections[key].sentences)
            assert sentence.count(UNSTABLE_MARK) == sum(j == ratio for _, j in expected)
        assert expected and _marked_cells(table) == expected, key
    # each framework at its best: the course row's time and the fastest row's, each where
    # that row is unstable
    best = sections["best"].table
    expected = set()
    for i, line in enumerate(best.astype(str).to_numpy()):
        framework, device, batch, course, _, _, fastest = line[:7]
        marks = {j: f"{name.split(' (')[0]}-{device}-b{numbers.digits(batch)}" in unstable
                 for j, name in ((4, course), (7, fastest))}
        expected |= {(i, j) for j, mark in marks.items() if mark}
        # the speedup, where it divides two rows' times and one of them is unstable
        if course != fastest and any(marks.values()):
            expected.add((i, 9))
    assert expected and _marked_cells(best) == expected
    assert list(best.columns[[4, 7]]) == ["µs/step", "µs/step"]
    for key in ("headline", "best", "time"):
        assert sections[key].notes.count(UNSTABLE_NOTE) == 1, key
        for printed in sections[key].latex or []:
            assert _marked_cells(printed.table) and printed.notes.count(UNSTABLE_NOTE) == 1
    for key in ("accuracy", "memory", "diagnostics"):  # no row's headline time there
        assert not _marked_cells(sections[key].table), key
        assert UNSTABLE_NOTE not in sections[key].notes, key
    page = rendered["html"]
    assert '<td class="unstable">' in page and '<tr class="unstable">' not in page
    assert page.count(UNSTABLE_NOTE) == 3  # under the headline, best and Time tables


def test_the_citation_footnote_carries_the_caveats(rendered):
    footer = rendered["markdown"].rsplit("---", 1)[1]
    assert "caveats: 5 rows unstable; 1 row partial; machine busy" in footer or \
        re.search(r"caveats: \d+ rows? unstable; 1 row partial; machine busy", footer)
    assert BUSY_WARNING[:20] not in footer  # the footnote says it in a few words


def test_the_accuracy_table_says_what_its_target_is():
    from reports.main_tables import sections
    from reports.tables import tidy
    from tests.report_cases import as_run, realistic_run

    frame = tidy(as_run(realistic_run()))
    accuracy = next(s for s in sections(frame) if s.key == "accuracy")
    target = frame["target_accuracy"].dropna().iloc[0]
    bayes = frame["bayes_accuracy"].dropna().iloc[0]
    assert f"The target accuracy: {target:.3f} (the Bayes accuracy {bayes:.3f} minus " \
           f"{bayes - target:.3f})." in accuracy.caption


def _between(text: str, start: str, end: str) -> str:
    """The part of ``text`` from ``start`` to the first ``end`` after it."""
    at = text.index(start)
    return text[at:text.index(end, at)]


def test_the_epochs_of_each_batch_size_are_stated_beside_the_accuracy_table(doc, rendered):
    accuracy = next(s for s in doc.sections if s.key == "accuracy")
    assert f"Epochs trained: {EPOCHS_TEXT}." in accuracy.caption
    beside = {"markdown": _between(rendered["markdown"], "## Accuracy", "| Row"),
              "html": _between(rendered["html"], "<h2>Accuracy</h2>", "<table"),
              "latex": _between(rendered["latex"], r"\caption{Accuracy.", r"\toprule")}
    for name, text in beside.items():
        assert EPOCHS_TEXT in text, name
    # the citation footnote says it with the same digits
    assert doc.footnote["epochs"].startswith(EPOCHS_TEXT)


def quick_run(samples_of_first_row: int = 5) -> dict:
    """A format-3 run as the quick preset makes it: one process a row, 5 samples each (the
    first row ``samples_of_first_row``), the torch loop and two Keras fits at batch 1024."""
    import numpy as np

    from frameworks.variants import VARIANTS
    from tests import format3

    rng = np.random.default_rng(6)
    rows = []
    for i, variant in enumerate(("keras-jax-fit", "torch-loop", "keras-torch-fit")):
        groups = [format3.noisy_samples(rng, 500.0, samples_of_first_row if i == 0 else 5)]
        row = format3.row(variant, groups, batch_size=1024)
        spec = VARIANTS[variant]
        row.update(implementation=spec.implementation, mode=spec.mode, tag=spec.tag)
        rows.append(row)
    data = format3.run(rows)
    data["plan"].update(processes=1, rounds=5, preset="quick")
    return data


def test_one_process_times_have_an_interval_and_the_notes_say_when_one_has_none():
    from results import estimate

    doc = run_document(as_run(quick_run()))
    headline = doc.sections[0]
    assert headline.key == "headline"
    fits = headline.table[headline.table["Row"] != "torch-loop-cpu-b1024"]
    # one process, five samples: the bootstrap resamples its samples (results/estimate.py)
    assert (fits["95% CI µs/step"] != numbers.MISSING).all()
    assert estimate.headline([[500.0, 510.0, 505.0]])["us_per_step_ci_low"] is not None
    notes = {s.key: n for s in doc.sections for n in s.notes if n.startswith(numbers.MISSING)}
    assert set(notes) >= {"headline", "time"}
    for note in notes.values():
        assert "one process" not in note and "2 processes" not in note, note
    for key in ("headline", "time"):  # how the interval is made, as results/estimate.py does
        assert cells.INTERVAL_REASONS["p10"] in notes[key]
    # a row of one sample: the only time without an interval, as the note says
    single = run_document(as_run(quick_run(samples_of_first_row=1)))
    line = single.sections[0].table.set_index("Row").loc["keras-jax-fit-cpu-b1024"]
    assert line["95% CI µs/step"] == numbers.MISSING
    assert "only a time of one sample has none" in " ".join(single.sections[0].notes)


def test_a_run_that_measured_nothing_says_so_and_why_in_one_sentence_without_tables():
    from reports.build import report_files
    from reports.main_tables import nothing_measured
    from reports.tables import tidy
    from tests.report_cases import NO_GPU, run_without_gpu

    data = run_without_gpu()  # as `--device cuda` alone on a machine without a GPU
    data["rows"] = [row for row in data["rows"] if row["device"] == "cuda"]
    run = as_run(data)
    sentence = ("Nothing was measured, so this report has no tables or plots: all 8 rows were "
                f"skipped, for this reason: {NO_GPU}.")
    assert nothing_measured(tidy(run)) == sentence
    files = report_files(run)
    assert not [name for name in files if name.endswith((".png", ".svg"))]
    shown = {"report.md": files["report.md"], "report.html": html_module.unescape(
        files["report.html"]), "report.tex": files["report.tex"],
        "report-tables.tex": files["report-tables.tex"]}
    for name, text in shown.items():
        plain = text.replace("-{}", "-").replace(r"\allowbreak{}", "").replace(r"\_", "_")
        assert plain.count(sentence) == 1, name
        for table in ("| Row", "<table", r"\begin{table", r"\begin{tabular",
                      r"\begin{longtable"):
            assert table not in text, (name, table)
        assert "smoke run" not in text.lower(), name  # nothing ran, not even as a smoke test


def test_the_diagnostics_say_what_starved_means_with_the_thresholds_the_suite_judges_by(doc):
    from benchmarks import accounting
    from results.summary import STARVED_OTHERS_CORES, STARVED_WAIT_PER_S

    caption = next(s for s in doc.sections if s.key == "diagnostics").caption
    assert (f"waited more than {STARVED_WAIT_PER_S:g} s for a CPU per second" in caption
            and f"more than {STARVED_OTHERS_CORES:g} cores busy" in caption)
    # the same numbers as the judgement itself (benchmarks/accounting.py)
    assert accounting.STARVED_WAIT_PER_S == STARVED_WAIT_PER_S
    assert accounting.STARVED_OTHERS_CORES == STARVED_OTHERS_CORES
    assert "against a threshold" not in caption  # the threshold is given, not alluded to


def test_every_plot_subtitle_counts_epochs_and_seeds_from_the_plan(run, doc):
    # the realistic run: 12 epochs at batch 32, 120 at batch 1 024, the plan's seeds
    seeds = len(run.plan["seeds"])
    assert seeds > 1
    expected = f"12 to 120 epochs by batch size, {seeds} seeds"
    assert trained.trained_text(run.plan, tables_frame(run)) == expected
    for name, figure in doc.figures.items():
        subtitle = figure.get_suptitle()
        assert subtitle.endswith(expected) and "× seeds" not in subtitle, (name, subtitle)
    # one epoch count for all, one seed: singular nouns
    data = quick_run()
    data["plan"].update(epochs=2, seeds=[0])  # the quick preset's
    single = run_document(as_run(data))
    for name, figure in single.figures.items():
        assert figure.get_suptitle().endswith("2 epochs, 1 seed"), name


def tables_frame(run):
    from reports.tables import tidy

    return tidy(run)


def test_no_format_shows_a_column_without_a_value_in_any_row():
    # the quick preset's run on a CPU: one process a row (no process IQR), no GPU
    doc = run_document(as_run(quick_run()))
    images = {name: b"" for name in doc.figures}
    shown = {"markdown": markdown.report(doc), "html": html.report(doc, images),
             "latex": latex.report(doc)}
    for section in doc.sections:
        for table in [section.table, *(t.table for t in section.latex or [])]:
            if table is None or not len(table):
                continue
            for i, column in enumerate(table.columns):
                cells = set(table.iloc[:, i].astype(str))
                assert cells - {numbers.MISSING, ""}, (section.key, column)
    for name, text in shown.items():
        for column in ("GPU peak", "Process IQR"):
            assert column not in text, (name, column)
    memory = next(s for s in doc.sections if s.key == "memory")
    assert not memory.notes  # no mark left to explain
    time = next(s for s in doc.sections if s.key == "time")
    assert main_tables.SAMPLE_SPREAD in time.table.columns


def test_the_terminal_table_fits_120_columns_and_its_left_out_numbers_are_in_the_report(
        run, doc, rendered):
    lines = side_by_side(run)
    blocks = len({(r.device, r.batch_size) for r in run.rows})
    table = lines[:2 + blocks + len(run.rows)]
    assert table[-1].split()[0] == run.rows[-1].variant  # the whole table, nothing more
    assert max(len(line) for line in table) <= 120, max(table, key=len)
    # what the terminal leaves out is in every report format
    sections = {s.key: s.table for s in doc.sections}
    for key, column in (("time", "Median µs/step"), ("time", "95% CI ×"),
                        ("accuracy", "To target s"), ("memory", "Peak RSS MiB")):
        for cell in sections[key][column]:
            for number in NUMBER.findall(cell):
                for name in ("markdown", "html"):
                    assert numbers.digits(number) in shown_numbers(rendered[name]), \
                        (key, column, name)
    start = next(i for i, line in enumerate(lines) if line.startswith("(Bayes accuracy"))
    legend = " ".join(lines[start:start + next(i for i, line in enumerate(lines[start:])
                                               if line.endswith(")")) + 1])
    assert "spread %: the sample spread" in legend and "report.md's tables" in legend


def test_the_diagnostics_say_the_busy_share_is_one_seconds_sample_beside_the_load_average():
    from reports import diagnostics

    data = realistic_run()
    data["environment"]["load_before"] = {"load1": 1.3, "load5": 1.0, "load15": 0.8,
                                          "cpu_pressure_some_avg10": 0.0, "cpu_busy_pct": 0.0}
    sentences = diagnostics._load_sentences(as_run(data))
    assert ("The machine's CPUs were 0% busy in the second before the run (load average "
            "1.3 over the minute before it).") in sentences
