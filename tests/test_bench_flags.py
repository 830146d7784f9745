"""Two rows that differ in a setting that should be equal are flagged."""

from results.summary import flag_differences

BASE = {"device": "cpu", "convention": "matched", "adam_epsilon": 1e-8,
        "adam_epsilon_placement": "after bias correction (PyTorch)", "loss_clip": 1e-7,
        "precision": "float32", "intra_op_threads": 2, "compile": "eager"}


def test_equal_settings_raise_no_flag():
    rows = {"torch-loop-cpu-b32": BASE, "keras-jax-fit-cpu-b32": BASE | {"compile": "xla"}}
    assert flag_differences(rows) == []


def test_a_fairness_setting_that_differs_is_flagged_with_both_rows():
    rows = {"torch-loop-cpu-b32": BASE,
            "keras-tensorflow-fit-cpu-b32": BASE | {"adam_epsilon": 1e-7},
            "numpy-loop-cpu-b32": BASE}
    flags = flag_differences(rows)
    assert len(flags) == 1
    assert "adam_epsilon" in flags[0]
    assert "1e-07 in keras-tensorflow-fit-cpu-b32" in flags[0]
    assert "torch-loop-cpu-b32" in flags[0] and "numpy-loop-cpu-b32" in flags[0]


def test_threads_that_differ_are_flagged():
    rows = {"a": BASE, "b": BASE | {"intra_op_threads": 1}}
    assert [f for f in flag_differences(rows) if "intra_op_threads" in f]


def test_rows_on_different_devices_are_not_compared():
    rows = {"a": BASE, "b": BASE | {"device": "cuda", "precision": "tf32"}}
    assert flag_differences(rows) == []


def test_a_setting_a_row_does_not_report_is_not_a_difference():
    rows = {"a": BASE, "b": {k: v for k, v in BASE.items() if k != "intra_op_threads"}}
    assert flag_differences(rows) == []
