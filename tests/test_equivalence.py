"""The check before timing (frameworks/equivalence.py): equal twins pass, a planted difference
is caught by the check and by the run itself, which never times the row silently."""

import numpy as np
import pytest

from benchmarks.notebook import run
from frameworks import SimpleNetSpec, equivalence
from frameworks.base import PROB_EPSILON
from tests.helpers import QUIET_ENV

SPEC = SimpleNetSpec(batch_size=64, seed=3)


def test_the_numpy_twin_is_equivalent_to_itself():
    verdict = equivalence.check("numpy", SPEC, versions="numpy 2")
    assert verdict.equivalent
    assert [g.regime for g in verdict.gaps] == ["as timed", "saturated"]
    steps = equivalence.check_steps(SPEC.batch_size)
    assert all(g.steps == steps and g.weight_gap == g.loss_gap == 0 for g in verdict.gaps)
    assert verdict.sentence().startswith("equivalent to the numpy twin at numpy 2")


def test_another_epsilon_is_not_equivalent():
    planted = SPEC.replace(adam_epsilon=1e-3)
    verdict = equivalence.check("numpy", SPEC, twin_spec=planted, versions="numpy 2")
    assert not verdict.equivalent
    worst = max(g.weight_gap for g in verdict.gaps)
    assert worst > 10 * equivalence.ALLOWED_GAP
    sentence = verdict.sentence()
    assert sentence.startswith("not equivalent at these versions (numpy 2): numpy loop left")
    assert f"{worst:.2g} of their movement" in sentence and "not timed" in sentence
    assert verdict.to_dict()["equivalent"] is False


def test_the_saturated_regime_has_the_clip_active():
    """Without an active clip the check could not see a changed clip gradient."""
    spec = equivalence.check_spec(SPEC)
    from frameworks import load, make_dataset

    X, _ = make_dataset(spec).epoch_arrays(0)
    twin = load("numpy", spec)
    p = twin.predict(X * np.float32(equivalence.SATURATED_SCALE))
    outside = np.mean((p < PROB_EPSILON) | (p > 1 - PROB_EPSILON))
    assert outside > 0.2


def test_torchs_clip_passes_the_gradient_on_its_bounds_and_none_beyond():
    torch = pytest.importorskip("torch")
    from frameworks.torch_twin import TorchTwin

    twin = TorchTwin(SimpleNetSpec())
    upper, lower = np.float32(1 - PROB_EPSILON), np.float32(PROB_EPSILON)
    p = torch.tensor([lower, 0.5, upper, 1.0, 0.0], requires_grad=True)
    twin._clip(p).sum().backward()
    assert p.grad.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_a_planted_difference_is_flagged_by_the_run_and_not_timed(tmp_path, monkeypatch):
    for name, value in QUIET_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SIDEBYSIDE_INJECT_FAULT", "epsilon:numpy-loop-cpu-b1024:1e-3")
    monkeypatch.chdir(tmp_path)
    result = run("quick", "--impl", "numpy", report_dir=tmp_path / "runs", echo=False)
    [row] = result.results["rows"]
    assert row["status"] == "skipped"
    assert row["reason"].startswith("not equivalent at these versions (numpy ")
    assert "first_epoch_s" not in row["processes"][0]  # never timed
    assert "not equivalent at these versions" in result.output  # the terminal
    # ... and among the run's warnings, at the end of the terminal and in the file.
    warning = ("1 row not timed, not equivalent at these versions (the twin left the numpy "
               "reference; its reason says by how much): numpy-loop-cpu-b1024")
    assert warning in result.results["warnings"]
    assert f"WARNING: {warning}" in result.output
    report = (result.run_dir / "report.md").read_text()
    assert "not equivalent at these versions" in report
    assert "not equivalent at these versions" in result.report_html.read_text()


def test_the_check_process_passes_on_a_rows_own_reason_to_be_skipped(tmp_path, monkeypatch):
    """A framework too old (or a mode it refuses, a device it lacks) is skipped with its own
    reason, as without the check."""
    import dataclasses
    import json

    from frameworks import versions

    monkeypatch.setitem(versions.MINIMUM, "numpy", "99.0")
    spec = dataclasses.asdict(SimpleNetSpec(batch_size=64))
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"name": "numpy", "mode": "loop", "device": "cpu", "spec": spec,
                               "twin_spec": spec, "versions": "numpy 2"}))
    assert equivalence.main([str(job), str(tmp_path / "out.json")]) == 0
    out = json.loads((tmp_path / "out.json").read_text())
    assert list(out) == ["cannot_run"]
    assert out["cannot_run"].startswith("numpy cannot run here: numpy ")
    assert "but 99.0 or newer is needed" in out["cannot_run"]
