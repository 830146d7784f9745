"""report.tex builds with pdflatex as it is, nothing is wider than the text block, and every
user-visible string survives LaTeX (CI installs TeX; without it the compiling tests skip)."""

import re
import shutil
import subprocess

import pytest

from reports import caveats, latex, main_tables, tables
from reports.plots import PLOTS
from tests.report_cases import as_run, old_run, with_format2_summary

PDFLATEX = shutil.which("pdflatex")
needs_pdflatex = pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed "
                                    "(Debian: apt-get install texlive-latex-base "
                                    "texlive-latex-recommended)")


@pytest.fixture(scope="module")
def report(report_copy):
    return report_copy("hostile")  # report_cases.build_hostile_report's (tests/conftest.py)


def pdflatex(folder, name="report.tex") -> str:
    """Compile ``name`` in ``folder``; return the log. Fails the test on a LaTeX error."""
    result = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", name],
                            cwd=folder, capture_output=True, timeout=180)
    log = (folder / name).with_suffix(".log").read_text(encoding="latin-1")
    assert result.returncode == 0, log[-3000:]
    return log


@needs_pdflatex
def test_report_tex_builds_as_is_without_overfull_boxes(report):
    log = pdflatex(report)
    assert (report / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)
    assert not re.findall(r"^! ", log, re.MULTILINE)
    # A one-pass build: no "Rerun", no missing reference or character.
    assert not re.findall(r"(?i)warning", log), re.findall(r".*(?i:warning).*", log)


def article_with_tables(report, folder) -> str:
    """pdflatex's log of a plain article (course notes) in ``folder`` that \\inputs the
    report-tables.tex of ``report`` with the packages that fragment names."""
    shutil.copy(report / "report-tables.tex", folder)
    (folder / "notes.tex").write_text("\n".join([
        r"\documentclass{article}", *latex.LATEX_PACKAGES,
        r"\begin{document}", r"Course notes.", r"\input{report-tables.tex}",
        r"\end{document}", ""]))
    return pdflatex(folder, "notes.tex")


@needs_pdflatex
def test_the_tables_fragment_builds_with_the_packages_it_names(report, tmp_path):
    fragment = (report / "report-tables.tex").read_text()
    for package in latex.LATEX_PACKAGES:
        assert f"%   {package}" in fragment
    log = article_with_tables(report, tmp_path)
    assert "Overfull \\hbox" not in log


@needs_pdflatex
def test_format2_tables_with_their_intervals_fit_a_plain_article(tmp_path):
    frame = with_format2_summary(tables.tidy(as_run(old_run())))
    floats = [latex.to_latex(table, name, caveats.not_measured(frame))
              for name, table in main_tables.main_tables(frame).items()]
    (tmp_path / "notes.tex").write_text("\n".join([
        r"\documentclass{article}", *latex.LATEX_PACKAGES,
        r"\begin{document}", *floats, r"\end{document}", ""]))
    log = pdflatex(tmp_path, "notes.tex")
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)


@needs_pdflatex
@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) "
                    "is not installed")
def test_what_the_reader_sees_in_the_pdf(report):
    pdflatex(report)
    text = subprocess.run(["pdftotext", "report.pdf", "-"], cwd=report, capture_output=True,
                          text=True, timeout=60, check=True).stdout
    assert "pytest --benchmark --preset=quick" in text  # two hyphens, not an en dash
    assert "–benchmark" not in text
    assert "1e-08" in text  # unbroken
    assert "my_net $x^2$ 50% & #1" in text
    assert "München" in text and "Intel® Xeon® Gold" in text
    for name in ("Time", "Accuracy", "Memory"):
        assert re.search(rf"Table \d: {name}\.", text), name
    assert text.count("skipped, 8 rows") == 1  # one line among the caveats, not 8 rows
    assert "smoke run" in text


def test_the_document_has_every_table_plot_and_the_footnote(report):
    tex = (report / "report.tex").read_text()
    assert tex.startswith(r"\documentclass")
    # Time, Accuracy and Memory (a format-1 run records no tags: no headline)
    assert tex.count(r"\begin{tabularx}{\linewidth}") == 3
    for name in PLOTS:
        assert f"{{{name}.png}}" in tex and (report / f"{name}.png").exists()
    assert r"\texttt{pytest -{}-{}benchmark -{}-{}preset=\allowbreak{}quick" in tex
    assert r"\mbox{1e-{}08}" in tex
    assert "How to cite" in tex and "commit" in tex


@pytest.mark.parametrize(("text", "source"), [
    ("a_b", r"a\_b"), ("50%", r"50\%"), ("R&D", r"R\&D"), ("#1", r"\#1"),
    ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}"), ("\\", r"\textbackslash{}"),
    ("{x}", r"\{x\}"), ("$x$", r"\$x\$"), ("--benchmark", "-{}-{}benchmark"),
    ("eps 1e-08", r"eps \mbox{1e-{}08}"), ("µs × 2", r"\textmu{}s \texttimes{} 2"),
    ("line\nbreak", "line break"), ("é", "é"), ("東", "[U+6771]"), ("Ǆ", "DZ"),
])
def test_latex_escape(text, source):
    assert latex.latex_escape(text) == source


@needs_pdflatex
def test_a_sweeps_report_tex_fits_the_page(report_copy):
    folder = report_copy("sweep")  # test_scaling.sweep_run()'s report (tests/conftest.py)
    log = pdflatex(folder)
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)
    assert "too wide" not in log and "too narrow" not in log, \
        re.findall(r".*too (?:wide|narrow).*", log)
    # One table per sweep, named in its caption, instead of a Sweep column in every line.
    tex = (folder / "report.tex").read_text()
    assert "& Sweep &" not in tex
    assert tex.count(r"\caption{Scaling, ") == 4  # two sweeps: the fit, the growth


@pytest.fixture(scope="module")
def control_report(tmp_path_factory):
    import json

    from reports.build import build_report
    from tests.report_cases import control_character_run

    folder = tmp_path_factory.mktemp("control")
    (folder / "results.json").write_text(json.dumps(control_character_run()))
    return build_report(folder / "results.json")


def test_control_characters_never_reach_the_latex_source(control_report):
    for name in ("report.tex", "report-tables.tex"):
        source = (control_report / name).read_text(encoding="utf-8")
        assert not re.findall(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", source), name
        assert "boom" in source and "[31m" not in source  # the colour codes are gone
    assert r"{[}U+0000{]}nul" in (control_report / "report.tex").read_text()


@needs_pdflatex
def test_report_tex_with_control_characters_in_every_string_builds(control_report, tmp_path):
    pdflatex(control_report)
    assert (control_report / "report.pdf").read_bytes()[:5] == b"%PDF-"
    shutil.copy(control_report / "report-tables.tex", tmp_path)
    (tmp_path / "notes.tex").write_text("\n".join([
        r"\documentclass{article}", *latex.LATEX_PACKAGES,
        r"\begin{document}", r"\input{report-tables.tex}", r"\end{document}", ""]))
    pdflatex(tmp_path, "notes.tex")


# Overfull boxes up to this wide are invisible on paper (a hair into the margin).
OVERFULL_SLACK_PT = 5.0


def overfull_over_slack(log: str) -> list[float]:
    """The widths (pt) of the overfull boxes in a LaTeX ``log`` wider than the slack."""
    return [float(w) for w in re.findall(r"Overfull \\[hv]box \(([0-9.]+)pt too", log)
            if float(w) > OVERFULL_SLACK_PT]


@pytest.fixture(scope="module")
def realistic_report(report_copy):
    return report_copy("realistic")  # report_cases.realistic_run's (tests/conftest.py)


@needs_pdflatex
def test_a_realistic_runs_report_tex_fits_its_pages(realistic_report):
    log = pdflatex(realistic_report)
    assert overfull_over_slack(log) == [], re.findall(r"Overfull \\hbox.*", log)
    assert "Float too large" not in log, re.findall(r".*Float too large.*", log)


def test_the_tables_fragment_says_how_to_cite_them_as_report_tex_does(realistic_report):
    fragment = (realistic_report / "report-tables.tex").read_text()
    report = (realistic_report / "report.tex").read_text()
    cite = report[report.index(r"\section*{How to cite"):report.index(r"\end{document}")]
    block = cite[cite.index("Measured with sidebyside."):]
    assert r"\item[commit] aaaaaaaaaaaa" in block and r"\item[caveats] 5 rows unstable" in block
    # the same lines, after the last table, under a heading an article can hold
    assert fragment.endswith(block)
    assert fragment.index(r"\paragraph{How to cite these numbers}") > fragment.rindex(r"\caption")


@needs_pdflatex
def test_a_plain_article_inputs_a_realistic_runs_tables(realistic_report, tmp_path):
    log = article_with_tables(realistic_report, tmp_path)
    assert overfull_over_slack(log) == [], re.findall(r"Overfull \\hbox.*", log)
    assert "Float too large" not in log, re.findall(r".*Float too large.*", log)
    if shutil.which("pdffonts"):
        # Type 3: bitmap fonts, which print blurred and copy out garbled ("keras-tensorow")
        fonts = subprocess.run(["pdffonts", "notes.pdf"], cwd=tmp_path, capture_output=True,
                               text=True, timeout=60, check=True).stdout
        assert len(fonts.splitlines()) > 2 and "Type 3" not in fonts, fonts


def test_the_tables_fragment_has_the_headline_sentence_that_report_tex_has(realistic_report):
    fragment = (realistic_report / "report-tables.tex").read_text()
    report = (realistic_report / "report.tex").read_text()
    sentence = next(line for line in report.splitlines() if "a step of Keras fit takes" in line)
    assert sentence in fragment
    assert fragment.index(sentence) < fragment.index(r"\caption")


def test_the_tables_fragment_says_which_file_has_the_appendix_its_caveats_point_to():
    from reports.caveats import DIAGNOSTICS_POINTER
    from reports.document import Document, Section

    item = f"1 row is unstable ({DIAGNOSTICS_POINTER} has each process's values)."
    doc = Document(title="t", footnote={"date": "today"},
                   sections=[Section(key="caveats", title="Caveats", items=[item])])
    fragment = latex.tables_fragment(doc)
    assert "Diagnostics appendix of report.tex and report.html has" in fragment
    assert "the Diagnostics appendix has" in latex.report(doc)  # report.tex has it


def test_notes_are_set_inside_the_float_or_the_longtables_last_foot(realistic_report):
    tex = (realistic_report / "report.tex").read_text()
    floats = re.findall(r"\\begin\{table\}.*?\\end\{table\}", tex, re.DOTALL)
    assert floats and any(r"\textbullet" in f for f in floats)
    for float_text in floats:  # inside the float, after the table
        if r"\textbullet" in float_text:
            assert float_text.index(r"\textbullet") > float_text.index(r"\bottomrule")
    assert not re.search(r"\\end\{table\}\n\\begin\{itemize\}", tex)
    longtables = re.findall(r"\\begin\{longtable\}.*?\\end\{longtable\}", tex, re.DOTALL)
    for table in longtables:
        if r"\textbullet" in table:  # one row after the last, held to it
            end = table[table.rindex("\\\\*"):]
            assert table.count(r"\textbullet") == end.count(r"\textbullet")
    # the appendix's 47 process lines break across pages
    assert re.search(r"\\begin\{longtable\}.*\n\\caption\{Appendix: diagnostics", tex)


needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                     reason="pdftotext (poppler-utils) is not installed")


def _marked_document():
    """The realistic run's document with a mark after each printed table's last line
    (``RR<k>RR``) and after its notes (``QQ<k>QQ``), k counting the tables from 1 as LaTeX
    numbers them; marks of letters and digits, which TeX never hyphenates."""
    from reports.report import run_document
    from tests.report_cases import realistic_run

    doc = run_document(as_run(realistic_run()))
    k = 0
    for section in doc.sections:
        if section.table is None and not section.latex:
            continue
        if section.latex is None:  # the screen's table is the printed one: print a copy
            section.latex = [latex.LatexTable(section.table, None, list(section.notes))]
        for table in section.latex:
            k += 1
            table.table = table.table.copy()
            table.table.iloc[-1, 0] = f"{table.table.iloc[-1, 0]} RR{k}RR"
            table.notes = [*table.notes, f"QQ{k}QQ"]
    return doc, k


def _pages_of(pdf) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", pdf.name, "-"], cwd=pdf.parent,
                          capture_output=True, text=True, timeout=60, check=True).stdout
    return text.split("\f")


def _page(pages: list[str], mark: str) -> int:
    found = [i for i, page in enumerate(pages) if mark in page]
    assert len(found) == 1, (mark, found)
    return found[0]


@needs_pdflatex
@needs_pdftotext
@pytest.mark.parametrize("where", ["report.tex", "an article that inputs report-tables.tex"])
def test_every_tables_notes_are_on_the_page_of_the_table(realistic_report, tmp_path, where):
    doc, count = _marked_document()
    if where == "report.tex":
        shutil.copytree(realistic_report, tmp_path, dirs_exist_ok=True)
        (tmp_path / "report.tex").write_text(latex.report(doc))
        log, pdf = pdflatex(tmp_path), tmp_path / "report.pdf"
    else:
        folder = tmp_path / "fragment"
        folder.mkdir()
        (folder / "report-tables.tex").write_text(latex.tables_fragment(doc))
        log, pdf = article_with_tables(folder, tmp_path), tmp_path / "notes.pdf"
        count = sum(len(s.latex) for s in doc.sections if s.key in latex.TABLE_SECTIONS)
    assert "Float too large" not in log and overfull_over_slack(log) == []
    source = pdf.with_suffix(".tex").read_text() + (
        "" if where == "report.tex" else (folder / "report-tables.tex").read_text())
    kinds = re.findall(r"\\begin\{(table|longtable)\}", source)
    assert len(kinds) == count and "table" in kinds and "longtable" in kinds
    pages = _pages_of(pdf)
    for k, kind in enumerate(kinds, start=1):
        caption, last_line = _page(pages, f"Table {k}:"), _page(pages, f"RR{k}RR")
        # A float's caption, table and notes share its page; a longtable may run over
        # pages, and its notes stay with its last line.
        assert _page(pages, f"QQ{k}QQ") == last_line, (k, kind)
        assert caption == last_line if kind == "table" else caption <= last_line, (k, kind)


def test_a_long_table_breaks_across_pages_instead_of_floating():
    import pandas as pd

    table = pd.DataFrame({"Row": [f"row-{i}" for i in range(60)],
                          "µs/step": ["1\u202f024"] * 60})
    source = latex.to_latex(table, "Sixty rows", ["a note"])
    assert r"\begin{longtable}" in source and r"\begin{table}" not in source
    assert r"\endhead" in source  # the header repeats on every page
    # the notes after the last row, held to it and it to the row before: set on their page
    assert source.index(r"\endhead") < source.index(r"row-{}\allowbreak{}58 & 1\,024 \\*") \
        < source.index(r"row-{}\allowbreak{}59 & 1\,024 \\*") < source.index("a note")
    assert r"\endlastfoot" not in source
    short = latex.to_latex(table.head(5), "Five rows")
    assert r"\begin{tabularx}{\linewidth}" in short and "longtable" not in short


@needs_pdflatex
def test_a_table_too_wide_at_the_smallest_size_is_scaled_to_the_line(tmp_path):
    import pandas as pd

    wide = pd.DataFrame({"Row": ["keras-tensorflow-fit-spe-cpu-b1024"]} |
                        {f"Run {i} µs/step": ["12\u202f345 [12\u202f001, 12\u202f999]"]
                         for i in range(12)})
    source = latex.to_latex(wide, "Twelve runs side by side", ["a note"])
    assert r"\resizebox{\linewidth}{!}" in source  # the last resort, and only here
    assert r"\resizebox" not in latex.to_latex(wide.iloc[:, :3], "Two runs")
    (tmp_path / "notes.tex").write_text("\n".join([
        r"\documentclass{article}", *latex.LATEX_PACKAGES, r"\begin{document}", source,
        r"\end{document}", ""]))
    log = pdflatex(tmp_path, "notes.tex")
    assert overfull_over_slack(log) == [], re.findall(r"Overfull \\hbox.*", log)


@needs_pdflatex
def test_a_run_that_measured_nothing_builds_its_one_sentence(tmp_path):
    from reports.build import build_report
    from tests.report_cases import run_without_gpu, write

    data = run_without_gpu()
    data["rows"] = [row for row in data["rows"] if row["device"] == "cuda"]
    folder = build_report(write(data, tmp_path, "results.json"), tmp_path / "report")
    for log in (pdflatex(folder), article_with_tables(folder, tmp_path)):
        assert overfull_over_slack(log) == [], re.findall(r"Overfull \\hbox.*", log)
    assert "Nothing was measured" in (folder / "report-tables.tex").read_text()


@needs_pdflatex
@needs_pdftotext
def test_the_tables_are_set_before_the_sections_after_them_and_before_the_citation(
        realistic_report, tmp_path):
    # Floats drift: without a barrier, Accuracy and Memory were set under the appendix's
    # heading, and an article's tables past the citation that follows them.
    shutil.copytree(realistic_report, tmp_path / "report", dirs_exist_ok=True)
    pdflatex(tmp_path / "report")
    pages = _pages_of(tmp_path / "report" / "report.pdf")
    tex = (tmp_path / "report" / "report.tex").read_text()
    tables = len(re.findall(r"\\caption\{", tex[:tex.index(r"\clearpage")]))
    assert tables >= 5  # the headline, at its best, Time, Accuracy, Memory
    after = re.search(r"\\section\*\{([^}]*)\}", tex[tex.index(r"\clearpage"):]).group(1)
    heading = next(i for i, page in enumerate(pages) if re.search(rf"^\s*{re.escape(after)}",
                                                                 page, re.M))
    for k in range(1, tables + 1):
        assert _page(pages, f"Table {k}:") < heading, (k, after)
    log = article_with_tables(realistic_report, tmp_path)
    assert "Float too large" not in log
    pages = _pages_of(tmp_path / "notes.pdf")
    cite = next(i for i, page in enumerate(pages) if "How to cite these numbers" in page)
    fragment = (realistic_report / "report-tables.tex").read_text()
    for k in range(1, fragment.count(r"\caption{") + 1):
        assert _page(pages, f"Table {k}:") < cite, k


def test_a_smoke_runs_tables_fragment_says_so_first_and_in_its_citation():
    from reports.report import run_document
    from tests.report_cases import realistic_run

    data = realistic_run()
    data["plan"]["preset"] = "quick"
    fragment = latex.tables_fragment(run_document(as_run(data)))
    assert fragment.index(r"\paragraph{Smoke run (quick preset)} Too few steps") \
        < fragment.index(r"\caption")
    assert fragment.lower().count("smoke run") == 2  # its paragraph and its citation, once each
    cite = fragment[fragment.index("How to cite these numbers"):]
    assert "smoke run (quick preset)" in cite
    plain = latex.tables_fragment(run_document(as_run(realistic_run())))
    assert "Smoke run" not in plain and "smoke run" not in plain


@needs_pdflatex
@needs_pdftotext
def test_a_longtables_continued_page_repeats_its_header_and_never_holds_its_last_row_alone(
        tmp_path):
    import pandas as pd

    # The same 40-row table (a page and a bit) below a growing space: its page break falls
    # before every one of its last rows in turn.
    offsets_pt = range(0, 150, 3)
    parts = []
    for k, offset in enumerate(offsets_pt, start=1):
        table = pd.DataFrame({"Row": [f"t{k}r{j}" for j in range(1, 41)],
                              "µs/step": ["1\u202f024"] * 40})
        source = latex.to_latex(table, f"Table of offset {offset}",
                                [f"note{k} " + "words " * 30, "another note " * 10])
        assert r"\begin{longtable}" in source
        parts += [r"\clearpage", rf"\vspace*{{{offset}pt}}", source]
    (tmp_path / "long.tex").write_text("\n".join([
        r"\documentclass{article}", *latex.LATEX_PACKAGES, r"\begin{document}", *parts,
        r"\end{document}", ""]))
    log = pdflatex(tmp_path, "long.tex")
    assert overfull_over_slack(log) == []
    pages = _pages_of(tmp_path / "long.pdf")
    alone = 0
    for k in range(1, len(offsets_pt) + 1):
        row = re.compile(rf"\bt{k}r(\d+)\b")
        held = [(i, [int(j) for j in row.findall(page)]) for i, page in enumerate(pages)
                if row.search(page)]
        assert sorted(j for _, rows in held for j in rows) == list(range(1, 41)), k
        for i, rows in held[1:]:  # a continued page: the header above its first row
            page = pages[i]
            assert "µs/step" in page[:page.index(f"t{k}r{rows[0]}")], (k, i)
        last_page, last_rows = held[-1]
        assert len(last_rows) >= 2, (k, last_rows)
        assert f"note{k}" in pages[last_page], k
        alone += len(held) > 1 and len(held[-1][1]) == 2
    assert alone  # some offset put the break right before the last two rows


@needs_pdflatex
@needs_pdftotext
@pytest.mark.parametrize("smoke", [False, True])
def test_an_article_that_inputs_the_tables_numbers_them_in_page_order(tmp_path, smoke):
    from reports.report import run_document
    from tests.report_cases import realistic_run

    data = realistic_run()
    if smoke:
        data["plan"]["preset"] = "quick"
    fragment = latex.tables_fragment(run_document(as_run(data)))
    (tmp_path / "report-tables.tex").write_text(fragment)
    # Every float before a longtable stays where it stands; a longtable never floats.
    before = fragment[:fragment.rindex(r"\begin{longtable}")]
    assert r"\begin{table}[H]" in before and r"\begin{table}[htbp]" not in before
    # The article's text before the tables takes ever more of its first page.
    for offset_pt in range(0, 500, 50):
        (tmp_path / "notes.tex").write_text("\n".join([
            r"\documentclass{article}", *latex.LATEX_PACKAGES, r"\begin{document}",
            rf"Course notes.\par\vspace*{{{offset_pt}pt}}", r"\input{report-tables.tex}",
            r"\end{document}", ""]))
        log = pdflatex(tmp_path, "notes.tex")
        assert "Float too large" not in log and overfull_over_slack(log) == []
        pages = _pages_of(tmp_path / "notes.pdf")
        captions = [_page(pages, f"Table {k}:")
                    for k in range(1, fragment.count(r"\caption{") + 1)]
        assert captions == sorted(captions), (offset_pt, captions)
