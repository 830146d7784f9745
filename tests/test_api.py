"""The public API that course notebooks import: names, errors, lazy imports."""

import importlib.util
import json
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
    with pytest.raises(FrameworkNotInstalled, match="keras-jax needs jax.*pip install jax"):
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


def test_course_convention_keeps_keras_own_defaults():
    code = textwrap.dedent("""
        import json
        from frameworks import load, SimpleNetSpec
        net = load("keras-jax", SimpleNetSpec(convention="course"))
        s = net.settings()
        print(json.dumps([s["adam_epsilon"], s["adam_epsilon_placement"],
                          float(abs(net.get_weights()[1]).max())]))
    """)
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    epsilon, placement, max_bias = json.loads(result.stdout.strip().splitlines()[-1])
    assert epsilon == pytest.approx(1e-7)
    assert placement == "before bias correction (Keras)"
    assert max_bias == 0.0


def test_public_names():
    assert set(frameworks.__all__) >= {"SimpleNetSpec", "make_dataset", "IMPLEMENTATIONS", "load"}
