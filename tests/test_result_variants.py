"""Generated variants of valid result files: every field of a fixture, in turn, deleted or
replaced by a value of every other JSON type. Each variant is refused on loading in one
sentence that names a field, or it loads, and then the whole report and a comparison are
made from it without an error. Never a traceback.

Fields are taken once per place in the file's structure (list positions folded together:
``rows[*].summary.us_per_step``), at their first occurrence.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from reports import compare as compare_module
from reports import compare_markdown, images, scaling
from reports.build import report_files
from results.atomic import write_folder
from results.load import UnreadableResult, checked, load_results
from tests import format2
from tests.report_cases import as_run

FIXTURES = Path(__file__).with_name("fixtures")
# A value of each JSON type, and the values that break the usual number ranges.
MUTATIONS = ("delete", None, "x", ["x"], {"x": 1}, -1, 0, True, 2**40, 0.5)


def _sweep_run() -> dict:
    from tests.test_scaling import sweep_run

    return sweep_run(processes=2)


def _distributed_run() -> dict:
    from tests import format3
    from tests.test_distributed import _dp_process, _record

    dp = _record("torch-ddp", [_dp_process(i, 200, 3e-8) for i in range(2)])
    single = _record("torch-ddp-single", [_dp_process(i, 100, replicas=1) for i in range(2)])
    format3.summarize_all([dp, single])
    run = format2.run([format2.row("torch-loop", [100, 110])])
    run["rows"] += [dp, single]
    return json.loads(json.dumps(run))


FILES = {
    "format 3 (run3.json)": lambda: json.loads((FIXTURES / "run3.json").read_text()),
    "format 2 (run2_new.json)": lambda: json.loads((FIXTURES / "run2_new.json").read_text()),
    "format 1 (run_old.json)": lambda: json.loads((FIXTURES / "run_old.json").read_text()),
    "a sweep": _sweep_run,
    "data parallel": _distributed_run,
}


def _places(obj, prefix=()):
    """Every path in ``obj`` (keys and list positions), once per place in its structure."""
    seen = {}

    def walk(value, path):
        if isinstance(value, dict):
            items = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            return
        for key, inner in items:
            here = path + (key,)
            seen.setdefault(tuple("*" if isinstance(k, int) else k for k in here), here)
            walk(inner, here)

    walk(obj, prefix)
    return list(seen.values())


def _apply(data, path: tuple, mutation):
    """Change ``data`` in place; return a function that undoes the change."""
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    old = parent[key]
    if mutation == "delete":
        parent.pop(key)
        if isinstance(parent, list):
            return lambda: parent.insert(key, old)
    else:
        parent[key] = json.loads(json.dumps(mutation))  # a copy: checks must not share it
    return lambda: parent.__setitem__(key, old)


def _render(data: dict, folder: Path) -> None:
    """Everything ``reports build`` and ``reports compare`` make from a loaded run (plots
    drawn without pixels: the drawing, not the pixels, is what reads the data)."""
    write_folder(folder, report_files(as_run(data)))
    comparison = compare_module.compare_runs(as_run(data), as_run(data), n_resamples=9)
    compare_markdown.to_markdown(comparison, "old", "new")


def _fast_render(fig):
    """Every artist drawn (each converts and transforms its data then) by a renderer that
    paints nothing, and without the constrained layout's passes, which place the panels
    (two thirds of a figure's time)."""
    fig.set_layout_engine("none")
    fig.draw_without_rendering()
    return b"", b""


@pytest.fixture
def quick_plots(monkeypatch):
    monkeypatch.setattr(images, "render", _fast_render)
    # The sample-size search is the slow part of a comparison, and a sweep's bootstrap of
    # its fits that of a report; both read only numbers that loading has checked, whatever
    # the number of resamples.
    monkeypatch.setattr(compare_module, "processes_needed", lambda *args, **kwargs: 3)
    monkeypatch.setattr(scaling, "BOOTSTRAP_RESAMPLES", 9)


@pytest.mark.parametrize("name", list(FILES))
def test_every_field_broken_is_one_sentence_or_a_whole_report(name, tmp_path, quick_plots):
    base = FILES[name]()
    pristine = json.dumps(base)
    accepted: dict = {}
    refused = 0
    for place in _places(base):
        for mutation in MUTATIONS:
            undo = _apply(base, place, mutation)  # checked in place, then undone: fast
            try:
                checked(base, "results.json")
            except UnreadableResult as err:
                message = str(err)
                assert "\n" not in message and any(
                    why in message for why in ("damaged result file", "JSON from",
                                               "result format version")), message
                refused += 1
                continue
            finally:
                undo()
            accepted.setdefault(json.dumps(mutation), []).append(place)
    assert base == json.loads(pristine) and refused > 100  # every change undone
    # What loads must render. Every accepted change of one kind is applied at once (a file
    # damaged in many places), and where that is refused, in halves, down to single ones.
    failures = []
    for mutation, places in accepted.items():
        for group in _loadable_groups(base, places, json.loads(mutation)):
            failures += _render_groups(base, group, json.loads(mutation), tmp_path)
    assert failures == []


def _loadable_groups(base, places, mutation) -> list[list]:
    """``places`` in groups whose changes load together (each rendered once instead of
    halving a refused group down to renders of one change): all of them where they load
    together, else each place in the first group it loads with (a change to a field
    that another change in that group removed: in the next group)."""
    if _loads(_changed(base, places, mutation)):
        return [places]
    groups: list[tuple[dict, list]] = []
    for place in sorted(places, key=len, reverse=True):  # inner fields before outer ones
        for data, members in groups:
            try:
                undo = _apply(data, place, mutation)
            except (KeyError, IndexError, TypeError):  # an outer change removed it
                continue
            if _loads(data):
                members.append(place)
                break
            undo()
        else:
            data = json.loads(json.dumps(base))
            _apply(data, place, mutation)
            groups.append((data, [place]))
    return [members for _, members in groups]


def _changed(base, places, mutation) -> dict:
    """A copy of ``base`` with ``mutation`` applied at every one of ``places``."""
    data = json.loads(json.dumps(base))
    for place in sorted(places, key=len, reverse=True):  # inner fields before outer ones
        try:
            _apply(data, place, mutation)
        except (KeyError, IndexError, TypeError):  # an outer change removed it already
            continue
    return data


def _loads(data) -> bool:
    try:
        checked(data, "results.json")
    except UnreadableResult:
        return False
    return True


def _render_groups(base, places, mutation, tmp_path) -> list:
    path = tmp_path / "group.json"
    path.write_text(json.dumps(_changed(base, places, mutation)))
    try:
        loaded = load_results(path)
    except UnreadableResult:
        if len(places) == 1:
            return []  # refused together with nothing else: also fine
        half = len(places) // 2
        return (_render_groups(base, places[:half], mutation, tmp_path) +
                _render_groups(base, places[half:], mutation, tmp_path))
    out = tmp_path / "report"
    out.mkdir(exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _render(loaded, out)
    except Exception as err:  # the point of the test: nothing escapes
        if len(places) == 1:
            return [(places[0], mutation, repr(err))]
        half = len(places) // 2
        return (_render_groups(base, places[:half], mutation, tmp_path) +
                _render_groups(base, places[half:], mutation, tmp_path))
    return []
