"""Is a twin still the numpy twin's function at the versions installed here?

A framework release can change what a twin computes without an error: a gradient at a
clip's bound, what ``train_on_batch`` returns, a default. The parity tests catch that at the
versions they run with; this check catches it at the user's, before a row is timed. It
trains the twin and the numpy twin (the reference: its float64-free float32 formulas are
the suite's definition of the function) from the same weights on the same batches for a
few steps, in two regimes:

- ``as timed``: the row's own spec (batch size, width, optimiser settings) and inputs;
- ``saturated``: the same with the inputs scaled by 40, so that most outputs saturate and
  the 1e-7 probability clip and its gradient convention decide the update (the parity
  tests' saturated regime).

and compares every step's loss and the weights after the last step. Rounding alone
keeps the twins within about 1e-5 of the distance the weights moved (the parity tests'
derived bounds, tests/tolerances.py, are of that size for these few steps); a changed
function moves them apart by 1e-2 or more (torch 2.15's clamp gradient: 0.0087 in the
saturated regime, 0.1 of the distance moved; a running mean of the loss: whole percents
of the loss). ``ALLOWED_GAP`` sits between the two, a hundred times above rounding.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from frameworks.base import batch_slices
from frameworks.data import initial_weights, make_dataset
from frameworks.spec import SimpleNetSpec

#: Steps trained in each regime, at least: more where batches are small, so that every
#: check sees at least ``MIN_SAMPLES`` samples (a saturated output that lands exactly on a
#: clip bound, where torch 2.15's clamp differs, is rare: none in 128 samples here, several
#: in 4096).
STEPS = 4
MIN_SAMPLES = 2048
#: Inputs' scale in the saturated regime: most outputs of the shared start then lie
#: beyond the clip's bounds (tests/test_parity_edges.py's saturated regime).
SATURATED_SCALE = 40.0
#: The largest gap allowed, relative: weights, to the largest distance a weight of the
#: reference moved; losses, to the reference's loss at that step.
ALLOWED_GAP = 1e-3

NOT_EQUIVALENT = "not equivalent at these versions"


@dataclasses.dataclass(frozen=True)
class Gap:
    """One regime's gaps between the twin and the numpy twin after ``steps`` steps.

    ``weight_gap``: max |w - w_numpy| over every weight, as a fraction of the largest
    |w_numpy - w_start|; ``weight_gap_abs`` the same max undivided; ``loss_gap``: max over
    the steps of |loss - loss_numpy| / |loss_numpy|.
    """

    regime: str
    steps: int
    weight_gap: float
    weight_gap_abs: float
    loss_gap: float

    @property
    def equivalent(self) -> bool:
        return self.weight_gap <= ALLOWED_GAP and self.loss_gap <= ALLOWED_GAP


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Every regime's ``Gap``, and what they say together."""

    implementation: str
    mode: str
    versions: str
    gaps: tuple[Gap, ...]

    @property
    def equivalent(self) -> bool:
        return all(g.equivalent for g in self.gaps)

    def sentence(self) -> str:
        """One line: ``not equivalent at these versions`` and the gaps, or the gaps alone."""
        worst = max(self.gaps, key=lambda g: max(g.weight_gap, g.loss_gap))
        gaps = "; ".join(
            f"{g.regime}: weights {g.weight_gap:.2g} of their movement ({g.weight_gap_abs:.2g} "
            f"absolute), losses {g.loss_gap:.2g} relative" for g in self.gaps)
        if self.equivalent:
            return (f"equivalent to the numpy twin at {self.versions} (after {worst.steps} "
                    f"steps, {gaps}; allowed {ALLOWED_GAP:g})")
        return (f"{NOT_EQUIVALENT} ({self.versions}): {self.implementation} {self.mode} "
                f"left the numpy twin in the {worst.regime} regime after {worst.steps} steps "
                f"({gaps}; allowed {ALLOWED_GAP:g}), so it was not timed")

    def to_dict(self) -> dict:
        return {"equivalent": self.equivalent, "versions": self.versions,
                "allowed_gap": ALLOWED_GAP,
                "regimes": [dataclasses.asdict(g) for g in self.gaps]}


def check_steps(batch_size: int) -> int:
    """Steps per regime: ``STEPS``, or enough for ``MIN_SAMPLES`` samples."""
    return max(STEPS, -(-MIN_SAMPLES // batch_size))


def check_spec(spec: SimpleNetSpec) -> SimpleNetSpec:
    """``spec`` with exactly ``check_steps`` full batches of training data (and a token test
    set)."""
    return spec.replace(n_train=check_steps(spec.batch_size) * spec.batch_size, n_test=1,
                        epochs=1)


def compare(twin, reference, spec: SimpleNetSpec, regime: str, scale: float) -> Gap:
    """Train ``twin`` and ``reference`` from ``initial_weights(spec)`` on epoch 0's batches of
    ``make_dataset(spec)`` scaled by ``scale``, one ``train_step`` each per batch; their gaps.

    Leaves both twins' weights where the steps took them.
    """
    data = make_dataset(spec)
    X, y = data.epoch_arrays(0)
    X = X * np.float32(scale)
    start = initial_weights(spec)
    twin.set_weights(start)
    reference.set_weights(start)
    loss_gap, steps = 0.0, 0
    for batch in batch_slices(len(X), spec.batch_size):
        loss = float(twin.train_step(X[batch], y[batch]))
        expected = float(reference.train_step(X[batch], y[batch]))
        loss_gap = max(loss_gap, abs(loss - expected) / max(abs(expected), 1e-12))
        steps += 1
    got, want = twin.get_weights(), reference.get_weights()
    gap = max(float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(got, want))
    moved = max(float(np.max(np.abs(b.astype(np.float64) - s))) for b, s in zip(want, start))
    if not np.isfinite(loss_gap) or not np.isfinite(gap):
        loss_gap = gap = float("inf")
    return Gap(regime, steps, gap / max(moved, 1e-30), gap, loss_gap)


def check(name: str, spec: SimpleNetSpec, *, device: str = "cpu", mode: str | None = None,
          twin_spec: SimpleNetSpec | None = None, versions: str = "") -> Verdict:
    """Build ``name`` (in ``mode`` on ``device``) and the numpy twin for ``spec`` and compare
    them for ``check_steps`` steps in each regime (the module's docstring).

    ``twin_spec`` builds the twin from other settings than the reference (a planted
    difference, for the suite's tests); by default ``spec``. ``versions`` names the
    framework versions for the sentence. The twin built here is dropped afterwards: the
    timed twin starts fresh, so its first epoch still includes its compile. Raises what
    ``frameworks.load`` raises.
    """
    from frameworks import load

    spec = check_spec(spec)
    twin_spec = check_spec(twin_spec) if twin_spec is not None else spec
    twin = load(name, twin_spec, device=device, mode=mode)
    reference = load("numpy", spec)
    gaps = (compare(twin, reference, spec, "as timed", 1.0),
            compare(twin, reference, spec, "saturated", SATURATED_SCALE))
    return Verdict(name, twin.mode, versions, gaps)


def main(argv=None) -> int:
    """``python -m frameworks.equivalence JOB.json OUT.json``: ``check`` with the job's
    ``name``, ``mode``, ``device``, ``spec`` and ``twin_spec`` (SimpleNetSpec fields) and
    ``versions``; the verdict's ``to_dict()`` plus its ``sentence`` written to OUT.json, or
    ``{"cannot_run": reason}`` when the framework refuses the row (its mode, its device).

    The benchmark's worker runs the check in this process of its own, so that the twin it
    then times starts as cold as without the check: a compile in the same process would
    leave its kernels in memory (torch's inductor, XLA) for the timed twin's first epoch.
    """
    import json
    import sys

    job_path, out_path = (argv if argv is not None else sys.argv[1:])[:2]
    with open(job_path) as fh:
        job = json.load(fh)
    from frameworks import DeviceUnavailable, FrameworkNotInstalled, ModeUnsupported

    try:
        verdict = check(job["name"], SimpleNetSpec(**job["spec"]), device=job["device"],
                        mode=job["mode"], twin_spec=SimpleNetSpec(**job["twin_spec"]),
                        versions=job["versions"])
    except (DeviceUnavailable, FrameworkNotInstalled, ModeUnsupported) as err:
        # the row's own reason to be skipped, which the worker gives as it would without
        # the check
        result = {"cannot_run": str(err)}
    else:
        result = verdict.to_dict() | {"sentence": verdict.sentence()}
    with open(out_path, "w") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
