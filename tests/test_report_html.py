"""report.html as a reader sees it: rendered by headless Chromium (CI installs Debian's
package; without it the browser tests skip), every table and plot present, nothing loaded
from the network, skipped rows collapsed, a smoke run called one."""

import html as html_module
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from reports.html import HTML_CSP
from reports.plots import PLOTS
from tests.report_cases import HOSTILE_NAME, NO_GPU

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                    "(Debian: apt-get install chromium)")


@pytest.fixture(scope="module")
def report(report_copy):
    return report_copy("hostile")  # report_cases.build_hostile_report's (tests/conftest.py)


def chromium(report, tmp_path, *args) -> subprocess.CompletedProcess:
    """Run headless Chromium on report.html, offline and with a throwaway profile."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", *args,
               (report / "report.html").as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


class Page(HTMLParser):
    """What a DOM holds that the tests look at: tables, images, links, meta tags, text."""

    def __init__(self, text: str):
        super().__init__()
        self.tables, self.rows, self.images, self.urls, self.meta, self.text = 0, [], [], [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tables += tag == "table"
        if tag == "tr":
            self.rows.append(attrs.get("class") or "")
        if tag == "img":
            self.images.append(attrs)
        self.urls += [v for k, v in attrs.items() if k in ("src", "href", "srcset", "data",
                                                          "action", "poster") and v]
        if tag == "meta":
            self.meta.append(attrs)

    def handle_data(self, data):
        self.text.append(data)


def check_page(page: Page) -> None:
    assert page.tables == 3  # Time, Accuracy, Memory (a format-1 run has no tags: no headline)
    assert len(page.images) == len(PLOTS)
    for image in page.images:
        assert image["src"].startswith("data:image/png;base64,") and image.get("alt")
    assert all(url.startswith("data:") for url in page.urls), page.urls  # nothing fetched
    assert {"http-equiv": "Content-Security-Policy", "content": HTML_CSP} in page.meta
    text = " ".join(page.text)
    assert "smoke run" in text.lower()
    # said once, among the caveats, not under each table
    assert text.count("skipped, 8 rows") == 1 and text.count(NO_GPU) == 1
    assert len(page.rows) == 3 * (1 + 7)  # a header and the 7 measured rows; no CUDA row
    assert "torch-loop-cuda-b32" in text  # named once, in the note
    assert HOSTILE_NAME.split("\n")[0] in text  # escaped, shown as text
    for caption in ("× torch loop: the ratio", "mean and SD over the seeds", "after import"):
        assert caption in text


def test_the_page_holds_every_table_and_plot_and_loads_nothing(report):
    check_page(Page((report / "report.html").read_text()))


def test_the_page_carries_no_script_and_no_markup_from_the_result_file(report):
    page = (report / "report.html").read_text()
    assert "<script" not in page.lower()
    assert "<d>" not in page and "&lt;d&gt;" in page


@needs_chromium
def test_chromium_renders_every_table_and_plot(report, tmp_path):
    dom = chromium(report, tmp_path, "--dump-dom").stdout
    check_page(Page(dom))


@needs_chromium
def test_chromium_takes_a_screenshot_of_the_page(report, tmp_path):
    shot = tmp_path / "page.png"
    chromium(report, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


# The page as a projector or a laptop shows it: 1280 px wide, the first 900 px visible.
VIEWPORT_WIDTH_PX, FOLD_PX = 1280, 900
# Appended to a copy of the page (without its policy, which forbids scripts): once laid out,
# the page writes what the test reads into itself, for --dump-dom to print.
_PROBE = ('<script>window.addEventListener("load",function(){'
          'var e=document.scrollingElement,t=document.querySelector("table.results"),'
          'o=document.createElement("pre");o.id="probe";o.textContent=JSON.stringify('
          '{scrollWidth:e.scrollWidth,clientWidth:e.clientWidth,'
          'firstTableTop:t?t.getBoundingClientRect().top:null,'
          'firstHeading:document.querySelector("h2").textContent,'
          # every interval, and how many lines each takes (an inline box that wraps has a
          # rectangle per line)
          'intervalLines:[].map.call(document.querySelectorAll("table.results .ci"),'
          'function(s){return s.getClientRects().length}),'
          # each table's first body line: every cell's text and its computed alignment
          'firstLines:[].map.call(document.querySelectorAll("table.results"),function(t){'
          'return [].map.call(t.querySelectorAll("tbody tr:first-child td"),function(c){'
          'return [c.textContent,getComputedStyle(c).textAlign]})})});'
          'document.body.appendChild(o);});</script>')


def layout(report, tmp_path) -> dict:
    """What Chromium lays out for report.html at ``VIEWPORT_WIDTH_PX``: the page's scroll
    and client widths, the first table's top (px), the first section's heading, the lines
    each interval takes and each table's first line as [text, text-align] per cell."""
    import json
    import re

    page = (report / "report.html").read_text()
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "report.html").write_text(page.replace("</body>", _PROBE + "</body>"))
    dom = chromium(probe, tmp_path, f"--window-size={VIEWPORT_WIDTH_PX},{FOLD_PX}",
                   "--virtual-time-budget=5000", "--dump-dom").stdout
    found = re.search(r'<pre id="probe">([^<]*)</pre>', dom)
    assert found, dom[-2000:]
    return json.loads(html_module.unescape(found.group(1)))


@pytest.fixture(scope="module")
def realistic_report(report_copy):
    return report_copy("realistic")  # report_cases.realistic_run's (tests/conftest.py)


@needs_chromium
def test_a_realistic_page_has_no_horizontal_scrollbar_at_1280_px(realistic_report, tmp_path):
    measured = layout(realistic_report, tmp_path)
    assert measured["scrollWidth"] <= measured["clientWidth"], measured


@needs_chromium
def test_the_headline_table_is_above_the_fold(realistic_report, tmp_path):
    measured = layout(realistic_report, tmp_path)
    assert measured["firstHeading"] == "PyTorch loop against Keras fit"
    assert 0 < measured["firstTableTop"] < FOLD_PX, measured


@needs_chromium
def test_the_probe_sees_a_page_wider_than_the_window(tmp_path):
    wide = tmp_path / "wide"
    wide.mkdir()
    (wide / "report.html").write_text(
        '<!DOCTYPE html><html><body><h2>x</h2><table class="results"><tr><td>'
        '<div style="width:2000px">wide</div></td></tr></table></body></html>')
    measured = layout(wide, tmp_path)
    assert measured["scrollWidth"] > measured["clientWidth"], measured


@needs_chromium
def test_text_reads_left_numbers_line_up_right_and_no_interval_breaks(realistic_report,
                                                                       tmp_path):
    measured = layout(realistic_report, tmp_path)
    lines = measured["intervalLines"]
    assert len(lines) > 50 and set(lines) == {1}, lines  # each interval on one line
    best = measured["firstLines"][1]  # each framework at its best, after the headline
    assert [text for text, _ in best][:4] == ["torch", "cpu", "32", "torch-loop (course)"]
    for text, align in best:
        number = text[0].isdigit() or text == "—"
        assert align == ("right" if number else "left"), (text, align)
    assert measured["scrollWidth"] <= measured["clientWidth"], measured
