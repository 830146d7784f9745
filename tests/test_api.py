"""The public API that course notebooks import: names, errors, lazy imports."""

import importlib.util
import textwrap

import numpy as np
import pytest

import frameworks
from frameworks import (
    IMPLEMENTATIONS,
    FrameworkNotInstalled,
    SimpleNetSpec,
    initial_weights,
    load,
    make_dataset,
)
from frameworks.spec import BETA_MAX, EPSILON_MIN, LR_MIN, SEED_MAX
from tests.helpers import run_python

SPEC = SimpleNetSpec(n_train=256, n_test=128, seed=1)


def test_every_required_implementation_is_named():
    assert {"torch", "keras-tensorflow", "keras-jax", "keras-torch", "numpy"} <= set(
        IMPLEMENTATIONS)


def test_unknown_implementation_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown implementation 'keras-mxnet'.*keras-jax"):
        load("keras-mxnet", SPEC)


def test_unknown_mode_lists_the_valid_ones():
    with pytest.raises(ValueError, match="torch has no mode 'fit'.*loop, compile"):
        load("torch", SPEC, mode="fit")


def test_numpy_refuses_cuda():
    with pytest.raises(ValueError, match="numpy cannot run on 'cuda'"):
        load("numpy", SPEC, device="cuda")


def test_missing_framework_names_the_package(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jax" else real(name, *a))
    with pytest.raises(FrameworkNotInstalled, match=r"keras-jax needs jax, which is not "
                                                    r"installed: pip install -e '\.\[jax\]'"):
        load("keras-jax", SPEC)


def test_frameworks_are_imported_lazily():
    code = textwrap.dedent("""
        import sys
        import frameworks
        frameworks.make_dataset(frameworks.SimpleNetSpec(n_train=10, n_test=10))
        frameworks.load("numpy", frameworks.SimpleNetSpec(n_train=10, n_test=10))
        print(sorted(m for m in ("torch", "keras", "tensorflow", "jax") if m in sys.modules))
    """)
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_keras_with_another_backend_already_imported_is_a_clear_error():
    code = textwrap.dedent("""
        import os
        os.environ["KERAS_BACKEND"] = "jax"
        import keras
        from frameworks import load, SimpleNetSpec
        try:
            load("keras-tensorflow", SimpleNetSpec())
        except Exception as err:
            print(type(err).__name__, err)
    """)
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("BackendMismatchError")
    assert "jax backend" in out and "keras-tensorflow" in out


@pytest.mark.parametrize("name", ["numpy", "torch"])
def test_interface_shapes_and_optimizer_reset(name):
    data = make_dataset(SPEC)
    net = load(name, SPEC)
    weights = net.get_weights()
    assert [w.shape for w in weights] == [(10, 16), (16,), (16, 1), (1,)]
    assert all(w.dtype == np.float32 for w in weights)
    for got, want in zip(weights, initial_weights(SPEC)):
        np.testing.assert_array_equal(got, want)

    p = net.predict(data.X_test)
    assert p.shape == (128, 1) and p.dtype == np.float32 and np.all((p > 0) & (p < 1))

    X, y = data.X_train[:32], data.y_train[:32]
    first_loss = net.train_step(X, y)
    first_weights = net.get_weights()
    net.train_step(X, y)
    net.set_weights(weights)  # must also reset Adam's moments and step count
    assert net.train_step(X, y) == pytest.approx(first_loss, abs=0)
    for got, want in zip(net.get_weights(), first_weights):
        np.testing.assert_array_equal(got, want)

    loss, accuracy = net.evaluate(data.X_test, data.y_test)
    assert 0 < loss < 5 and 0 <= accuracy <= 1
    assert isinstance(net.train_epoch(*data.epoch_arrays(0)), float)


def test_course_convention_keeps_torchs_own_defaults():
    net = load("torch", SPEC.replace(convention="course"))
    assert not np.array_equal(net.get_weights()[0], initial_weights(SPEC)[0])
    assert net.get_weights()[1].any()  # torch's default init draws biases too
    settings = net.settings()
    assert settings["convention"] == "course"
    assert settings["adam_epsilon"] == 1e-8
    assert settings["loss_clip"] == "log clamped at -100"


def course_settings(name):
    """A twin built at the course convention: its Adam epsilon, where the epsilon goes,
    and its largest |bias| (JSON-able)."""
    net = load(name, SimpleNetSpec(convention="course"))
    s = net.settings()
    return [s["adam_epsilon"], s["adam_epsilon_placement"],
            float(abs(net.get_weights()[1]).max())]


def test_course_convention_keeps_keras_own_defaults(outcomes):
    # Asked in keras-jax's process of the bad-input tests below (Keras fixes its backend).
    epsilon, placement, max_bias = outcomes("keras-jax")["course_settings"]
    assert epsilon == pytest.approx(1e-7)
    assert placement == "before bias correction (Keras)"
    assert max_bias == 0.0


def test_public_names():
    assert set(frameworks.__all__) >= {"SimpleNetSpec", "make_dataset", "IMPLEMENTATIONS", "load"}


# -- bad inputs: one ValueError naming the argument and the expected shape, in every twin --

def _bad_calls(spec):
    """``{case: (method, args, words the message must contain)}`` for every twin."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, spec.input_size)).astype(np.float32)
    y = (rng.random((32, 1)) < 0.5).astype(np.float32)
    nan_X = X.copy()
    nan_X[3, 2] = np.nan
    inf_y = y.copy()
    inf_y[0, 0] = np.inf
    weights = initial_weights(spec)
    W1, b1, W2, b2 = weights
    shape = f"(n, {spec.input_size})"
    cases = {}
    for method in ("train_step", "train_epoch", "evaluate"):
        cases.update({
            f"{method}-empty": (method, (X[:0], y[:0]), ["X", shape]),
            f"{method}-nan-in-X": (method, (nan_X, y), ["X", "finite"]),
            f"{method}-wrong-feature-count": (method, (X[:, :3], y), ["X", shape]),
            f"{method}-X-1d": (method, (X[0], y[:1]), ["X", shape]),
            f"{method}-label-2": (method, (X, y * 2), ["y", "0 or 1", "(32,) or (32, 1)"]),
            f"{method}-label-0.5": (method, (X, np.full_like(y, 0.5)), ["y", "0 or 1"]),
            f"{method}-inf-label": (method, (X, inf_y), ["y", "finite"]),
            f"{method}-mismatched-n": (method, (X, y[:31]), ["y", "(32,) or (32, 1)"]),
            f"{method}-y-two-columns": (method, (X, np.hstack([y, y])), ["y", "(32, 1)"]),
            f"{method}-strings": (method, (X.astype(str), y), ["X", "real numbers"]),
        })
    cases.update({
        "predict-empty": ("predict", (X[:0],), ["X", shape]),
        "predict-nan-in-X": ("predict", (nan_X,), ["X", "finite"]),
        "predict-wrong-feature-count": ("predict", (X[:, 1:],), ["X", shape]),
        "set_weights-bias-(1,)": ("set_weights", ([W1, b1[:1], W2, b2],),
                                  ["b1", f"({spec.hidden_size},)"]),
        "set_weights-transposed-W1": ("set_weights", ([W1.T, b1, W2, b2],),
                                      ["W1", f"({spec.input_size}, {spec.hidden_size})"]),
        "set_weights-three-arrays": ("set_weights", (weights[:3],), ["4 arrays", "got 3"]),
        "set_weights-W2-(16,)": ("set_weights", ([W1, b1, W2[:, 0], b2],),
                                 ["W2", f"({spec.hidden_size}, 1)"]),
        "set_weights-nan-in-W2": ("set_weights", ([W1, b1, W2 * np.nan, b2],), ["W2", "finite"]),
    })
    return X, y, cases


def api_outcomes(name):
    """What twin ``name`` does with every bad call, and with (n,) labels; JSON-able.

    Runs here, or in a process of its own for a Keras twin (Keras fixes its backend
    at import).
    """
    net = load(name, SPEC)
    X, y, cases = _bad_calls(SPEC)
    start = net.get_weights()
    outcomes = {}
    for case, (method, args, _) in cases.items():
        try:
            getattr(net, method)(*args)
            outcomes[case] = "no error"
        except Exception as err:  # recorded and asserted on by the tests
            outcomes[case] = f"{type(err).__name__}: {err}"
    unchanged = all(np.array_equal(a, b) for a, b in zip(start, net.get_weights()))
    # (n,) labels must give what (n, 1) labels give, in evaluate and in training.
    evaluate_2d, evaluate_1d = net.evaluate(X, y), net.evaluate(X, y[:, 0])
    step_2d = net.train_step(X, y)
    weights_2d = net.get_weights()
    net.set_weights(start)
    step_1d = net.train_step(X, y[:, 0])
    same_training = all(np.array_equal(a, b) for a, b in zip(weights_2d, net.get_weights()))
    net.set_weights(start)
    epoch_2d = net.train_epoch(X, y)
    weights_2d = net.get_weights()
    net.set_weights(start)
    epoch_1d = net.train_epoch(X, y[:, 0])
    same_training &= all(np.array_equal(a, b) for a, b in zip(weights_2d, net.get_weights()))
    # Labels as a list of ints and X as float64 are array-like enough.
    accuracy_list = net.evaluate(X.astype(np.float64).tolist(), [int(v) for v in y[:, 0]])[1]
    return {"outcomes": outcomes, "weights_unchanged": unchanged,
            "evaluate_2d": list(evaluate_2d), "evaluate_1d": list(evaluate_1d),
            "accuracy_list": accuracy_list,
            "accuracy_by_hand": float(np.mean((net_predict_start(name, start, X) > 0.5) == y)),
            "step_2d": step_2d, "step_1d": step_1d, "epoch_2d": epoch_2d, "epoch_1d": epoch_1d,
            "same_training": same_training,
            "extremes": extreme_spec_losses(name),
            # the Keras twins' own defaults at the course convention (test above)
            "course_settings": (course_settings(name) if IMPLEMENTATIONS[name].keras_backend
                                else None)}


EXTREME_SPECS = {
    "largest seed": {"seed": SEED_MAX},
    "largest seed, course": {"seed": SEED_MAX, "convention": "course"},
    "beta1=0": {"adam_beta1": 0.0},
    "betas=0": {"adam_beta1": 0.0, "adam_beta2": 0.0},
    "largest betas": {"adam_beta1": BETA_MAX, "adam_beta2": BETA_MAX},
    "smallest epsilon": {"adam_epsilon": EPSILON_MIN},
    "smallest lr": {"lr": LR_MIN},
    "one hidden unit, one input": {"hidden_size": 1, "input_size": 1},
}


def extreme_spec_losses(name):
    """The loss of two steps and an epoch for every spec at the edge of the accepted ranges."""
    losses = {}
    for case, changes in EXTREME_SPECS.items():
        spec = SPEC.replace(n_train=64, **changes)
        data = make_dataset(spec)
        net = load(name, spec)
        X, y = data.epoch_arrays(0)
        losses[case] = [net.train_step(X[:32], y[:32]), net.train_step(X[32:], y[32:]),
                        net.train_epoch(X, y), net.evaluate(data.X_test, data.y_test)[0]]
    return losses


def net_predict_start(name, start, X):
    net = load(name, SPEC)
    net.set_weights(start)
    return net.predict(X)


# The Keras twins' outcomes are asked of the session's trace process of their backend
# (tests/conftest.py's parity_traces), where Keras is imported already: a process of its own
# for each would import the framework again (seconds of CPU each).
TRACE_CALLS = [f"{name}>tests.test_api.api_outcomes" for name, impl in IMPLEMENTATIONS.items()
               if impl.keras_backend and not impl.missing()]
@pytest.fixture(scope="module")
def outcomes(parity_traces):
    """``outcomes(name)``: ``api_outcomes(name)``, asked once per module."""
    known = {}

    def outcomes_of(name):
        if IMPLEMENTATIONS[name].missing():
            pytest.skip(f"{name} is not installed")
        if name not in known:
            known[name] = (parity_traces[f"{name}>tests.test_api.api_outcomes"]
                           if IMPLEMENTATIONS[name].keras_backend else api_outcomes(name))
        return known[name]
    return outcomes_of


BAD_CASES = _bad_calls(SPEC)[2]


@pytest.mark.parametrize("case", BAD_CASES)
@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_bad_input_is_one_value_error_naming_it(outcomes, name, case):
    outcome = outcomes(name)["outcomes"][case]
    assert outcome.startswith("ValueError: "), outcome
    message = outcome.removeprefix("ValueError: ")
    for word in BAD_CASES[case][2]:
        assert word in message, (word, message)
    assert "\n" not in message and message.count(". ") == 0  # one sentence


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_refused_calls_leave_the_weights_alone(outcomes, name):
    assert outcomes(name)["weights_unchanged"]


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_labels_of_shape_n_work_as_n_by_1(outcomes, name):
    """evaluate(X, y) with (n,) labels once gave 0.5 (an n x n comparison); training with
    them trained on something else or failed, depending on the twin."""
    result = outcomes(name)
    assert result["evaluate_1d"] == result["evaluate_2d"]
    assert result["evaluate_2d"][1] == pytest.approx(result["accuracy_by_hand"], abs=0)
    assert result["accuracy_list"] == result["evaluate_2d"][1]
    assert result["step_1d"] == result["step_2d"]
    assert result["epoch_1d"] == result["epoch_2d"]
    assert result["same_training"]


@pytest.mark.parametrize("case", EXTREME_SPECS)
@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_every_accepted_extreme_trains_in_every_twin(outcomes, name, case):
    losses = outcomes(name)["extremes"][case]
    assert len(losses) == 4 and all(0 < loss < 20 for loss in losses), losses
