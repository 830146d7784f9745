import hashlib
import tracemalloc

import numpy as np
import pytest

from frameworks import SimpleNetSpec, initial_weights, make_dataset
from frameworks.data import LABEL_NOISE, bayes_rule
from tests.helpers import run_python

SPEC = SimpleNetSpec(n_train=20_000, n_test=5_000, seed=3)


def digest(data) -> str:
    h = hashlib.sha256()
    for a in (data.X_train, data.y_train, data.X_test, data.y_test, data.batch_order(0),
              data.batch_order(4)):
        h.update(a.tobytes())
    return h.hexdigest()


def test_same_seed_gives_identical_bytes_in_another_process():
    here = digest(make_dataset(SPEC))
    code = (
        "from frameworks import SimpleNetSpec, make_dataset\n"
        "from tests.test_data import digest\n"
        "print(digest(make_dataset(SimpleNetSpec(n_train=20_000, n_test=5_000, seed=3))))"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == here


def test_other_seed_gives_other_data():
    assert digest(make_dataset(SPEC)) != digest(make_dataset(SPEC.replace(seed=4)))


def test_shapes_dtypes_and_class_balance():
    data = make_dataset(SPEC)
    assert data.X_train.shape == (20_000, 10) and data.X_test.shape == (5_000, 10)
    assert data.y_train.shape == (20_000, 1) and data.y_test.shape == (5_000, 1)
    for a in (data.X_train, data.y_train, data.X_test, data.y_test):
        assert a.dtype == np.float32
    assert set(np.unique(data.y_train)) == {0.0, 1.0}
    assert abs(data.y_train.mean() - 0.5) < 0.02
    assert abs(data.y_test.mean() - 0.5) < 0.03


def test_test_split_does_not_depend_on_the_train_size():
    a = make_dataset(SPEC)
    b = make_dataset(SPEC.replace(n_train=500))
    assert np.array_equal(a.X_test, b.X_test)


def test_reported_bayes_accuracy_matches_the_bayes_rule_on_a_large_sample():
    data = make_dataset(SimpleNetSpec(n_train=1_000_000, n_test=1, seed=11))
    empirical = float(np.mean(bayes_rule(data.X_train) == data.y_train))
    assert data.bayes_accuracy == pytest.approx(1 - LABEL_NOISE)
    sigma = np.sqrt(LABEL_NOISE * (1 - LABEL_NOISE) / 1_000_000)
    assert abs(empirical - data.bayes_accuracy) < 4 * sigma


def test_batch_order_is_a_permutation_fixed_per_epoch():
    data = make_dataset(SPEC)
    order = data.batch_order(0)
    assert np.array_equal(np.sort(order), np.arange(20_000))
    assert np.array_equal(order, data.batch_order(0))
    assert not np.array_equal(order, data.batch_order(1))
    X, y = data.epoch_arrays(1)
    assert np.array_equal(X, data.X_train[data.batch_order(1)])
    assert np.array_equal(y, data.y_train[data.batch_order(1)])


def test_large_datasets_need_no_more_memory_than_their_arrays():
    spec = SimpleNetSpec(n_train=2_000_000, n_test=1_000)
    tracemalloc.start()
    try:
        data = make_dataset(spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    arrays = sum(a.nbytes for a in (data.X_train, data.y_train, data.X_test, data.y_test))
    # The arrays plus one generation chunk's temporaries (a few MB), not a second copy.
    assert peak < arrays * 1.1


def test_initial_weights_are_glorot_uniform_with_zero_biases():
    W1, b1, W2, b2 = initial_weights(SimpleNetSpec(seed=5))
    assert W1.shape == (10, 16) and W2.shape == (16, 1)
    assert np.all(np.abs(W1) <= np.sqrt(6 / 26)) and np.all(np.abs(W2) <= np.sqrt(6 / 17))
    assert not b1.any() and not b2.any()
    assert np.array_equal(W1, initial_weights(SimpleNetSpec(seed=5))[0])
    assert not np.array_equal(W1, initial_weights(SimpleNetSpec(seed=6))[0])
