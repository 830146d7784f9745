import numpy as np
import pytest

from frameworks import SimpleNetSpec


def test_defaults_are_the_course():
    spec = SimpleNetSpec()
    assert (spec.input_size, spec.hidden_size, spec.lr, spec.batch_size) == (10, 16, 0.001, 32)
    assert (spec.adam_beta1, spec.adam_beta2) == (0.9, 0.999)
    assert spec.n_parameters == 193


def test_spec_is_frozen():
    with pytest.raises(AttributeError):
        SimpleNetSpec().lr = 0.1


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("input_size", 0, ">= 1"),
        ("hidden_size", -3, ">= 1"),
        ("hidden_size", 2.5, ">= 1"),
        ("batch_size", 0, ">= 1"),
        ("epochs", 0, ">= 1"),
        ("n_train", 0, ">= 1"),
        ("n_test", 0, ">= 1"),
        ("seed", -1, ">= 0"),
        ("lr", 0, "> 0"),
        ("lr", -0.001, "> 0"),
        ("lr", float("inf"), "> 0"),
        ("lr", "0.001", "> 0"),
        ("adam_beta1", 1.0, "[0, 1)"),
        ("adam_beta2", -0.1, "[0, 1)"),
        ("adam_epsilon", 0.0, "(0, 1)"),
        ("dtype", "float16", "float32"),
        ("convention", "keras", "matched, course"),
        ("batch_size", True, ">= 1"),
    ],
)
def test_nonsense_values_name_the_field_and_the_allowed_range(field, value, allowed):
    with pytest.raises(ValueError) as err:
        SimpleNetSpec(**{field: value})
    message = str(err.value)
    assert message.startswith(field)
    assert allowed in message


def test_replace_validates_too():
    assert SimpleNetSpec().replace(batch_size=1024).batch_size == 1024
    with pytest.raises(ValueError, match="batch_size"):
        SimpleNetSpec().replace(batch_size=0)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        # keras.utils.set_random_seed calls np.random.seed (< 2**32); jax.random.key
        # wraps 2**32 to the key of seed 0
        ("seed", 2**32, "<= 4294967295"),
        ("lr", 1e-39, "float32's normal range"),
        ("lr", 1e39, "float32's normal range"),
        ("lr", float("nan"), "float32's normal range"),
        ("adam_beta1", 1 - 2**-25, "1 - 2**-24"),
        ("adam_beta2", 0.999999999, "1 - 2**-24"),
        ("adam_beta2", float("nan"), "[0, 1)"),
        ("adam_epsilon", 1e-31, "at least 1e-30"),
        ("adam_epsilon", 1.0, "(0, 1)"),
        ("hidden_size", 2**31, "<= 2147483647"),
        # the widest array of a split is its (n, 16) hidden activations
        ("n_train", 2**31 // 16, "2**31 - 1 elements"),
        ("n_test", 2**31 // 16, "2**31 - 1 elements"),
        ("hidden_size", 2**31 // 10 + 1, "2**31 - 1 elements"),
        ("n_train", 2**31 // 1000 + 1, "max(input_size, hidden_size)"),
    ],
)
def test_values_some_twin_cannot_take_are_refused_here(field, value, allowed):
    changes = {field: value, "hidden_size": 1000} if allowed.startswith("max(") else {field: value}
    with pytest.raises(ValueError) as err:
        SimpleNetSpec(**changes)
    assert str(err.value).startswith(field)
    assert allowed in str(err.value)


def test_the_limits_themselves_are_accepted():
    spec = SimpleNetSpec(seed=2**32 - 1, adam_beta1=0.0, adam_beta2=1 - 2**-24,
                         adam_epsilon=1e-30, lr=float(np.finfo(np.float32).max))
    assert spec.seed == 2**32 - 1
    assert SimpleNetSpec(lr=float(np.finfo(np.float32).smallest_normal)).lr > 0
    assert SimpleNetSpec(n_train=(2**31 - 1) // 16).n_train == 134_217_727


def test_numpy_scalars_are_numbers_like_any_other():
    import numpy as np

    spec = SimpleNetSpec(lr=np.float32(0.01), batch_size=np.int64(32), seed=np.uint32(7))
    assert (type(spec.batch_size), type(spec.lr), type(spec.seed)) == (int, float, int)
    assert spec.batch_size == 32 and spec.seed == 7 and abs(spec.lr - 0.01) < 1e-9
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        SimpleNetSpec(batch_size=np.bool_(True))
