"""compare's first note: two runs that measured other versions say so before anything else."""

import copy

from reports.compare import compare_runs
from reports.run_versions import version_note
from tests.report_cases import as_run, run_without_gpu


def test_a_version_difference_is_the_first_note():
    old = run_without_gpu()
    old["environment"]["versions"] = {"torch": "2.13.0", "numpy": "2.4.6"}
    new = copy.deepcopy(old)
    new["environment"]["versions"]["torch"] = "2.15.0"
    new["environment"]["python"] = "3.13.0"
    new["environment"]["busy_before"], new["environment"]["busy_reason"] = True, "a test"
    notes = compare_runs(as_run(old), as_run(new)).notes
    python = old["environment"]["python"]
    assert notes[0] == (f"the two runs measured other versions (python {python} → 3.13.0, "
                        f"torch 2.13.0 → 2.15.0): a difference between them may be the "
                        "versions', not the code's")
    # the run's own notes (a format-1 file, a busy machine) come after it
    assert any(n.startswith("the machine was busy when the new run began") for n in notes[1:])


def test_same_versions_or_none_recorded_give_no_note():
    old = run_without_gpu()
    old["environment"]["versions"] = {"torch": "2.13.0"}
    assert version_note(as_run(old), as_run(copy.deepcopy(old))) is None
    bare = copy.deepcopy(old)
    del bare["environment"]["versions"], bare["environment"]["python"]
    assert version_note(as_run(old), as_run(bare)) is None


def test_a_package_in_one_run_only_counts():
    old = run_without_gpu()
    old["environment"]["versions"] = {"torch": "2.13.0"}
    new = copy.deepcopy(old)
    new["environment"]["versions"]["optax"] = "0.2.8"
    assert "optax absent → 0.2.8" in version_note(as_run(old), as_run(new))
