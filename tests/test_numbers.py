"""The one number style (reports/numbers.py): values worked out by hand from its rules."""

import math

import pytest

from reports import numbers as n

NS = "\u202f"


@pytest.mark.parametrize("value, figures, expected", [
    (6.9234, 3, 2), (416.2, 3, 0), (5250.9, 3, 0), (0.5551, 3, 3), (0.0123, 3, 4),
    (9.996, 3, 1),  # rounds to 10.0: one decimal, not two
    (0.0, 3, 0), (12.0, 2, 0), (1.5, 1, 0),
    (0.000612, 3, 6),  # a setup time in seconds keeps its three figures
    (0.000012, 3, 6),  # at most six decimals
])
def test_decimals_give_the_significant_figures(value, figures, expected):
    assert n.decimals(value, figures) == expected


def test_decimals_refuse_zero_figures():
    with pytest.raises(ValueError, match="at least 1"):
        n.decimals(1.0, 0)


@pytest.mark.parametrize("value, expected", [
    (6.9234, "6.92"), (416.2, "416"), (5250.9, f"5{NS}251"), (14766.7, f"14{NS}767"),
    (1234567.0, f"1{NS}234{NS}567"), (-2.5e-8, "0.000000"),  # rounds to zero: no sign
    (0.00061234, "0.000612"), (0.0006, "0.000600"),  # three figures, not "0.0006"
    (-1234.4, f"-1{NS}234"), (-0.0, "0"), (9.996, "10.0"),
])
def test_number(value, expected):
    assert n.number(value) == expected


@pytest.mark.parametrize("value", [None, math.nan, float("nan"), "n/a"])
def test_missing_values_are_one_symbol(value):
    assert n.number(value) == n.MISSING == "—"
    assert n.ratio(value) == n.MISSING
    assert n.with_interval(value, 1, 2) == n.MISSING


def test_interval_uses_the_headline_decimals_and_never_a_comma_inside_a_number():
    text = n.with_interval(14766.7, 13944.1, 15589.4)
    assert text == f"14{NS}767 [13{NS}944, 15{NS}589]"
    # Exactly one comma: the one between the interval's ends.
    assert text.count(",") == 1
    assert n.with_interval(6.9234, 6.81, 7.449) == "6.92 [6.81, 7.45]"
    assert n.with_interval(6.9234, None, 7.4) == "6.92"
    assert n.interval(1.0, None, 2) == n.MISSING


def test_ratio_carries_the_multiplication_sign():
    assert n.ratio(2.2222) == "2.22×"
    assert n.ratio(0.01654) == "0.0165×"
    assert n.ratio(12.04) == "12.0×"


def test_fixed_decimals_for_accuracies():
    assert n.fixed(0.85549, n.ACCURACY_DECIMALS) == "0.855"
    assert n.fixed(None, 3) == n.MISSING


def test_latex_and_digits_agree_with_the_plain_form():
    text = n.with_interval(14766.7, 13944.1, 15589.4)
    latex = n.to_latex(text)
    assert latex == r"14\,767 [13\,944, 15\,589]"
    html = text.replace(NS, "&#8239;")
    assert n.digits(text) == n.digits(latex) == n.digits(html) == "1476713944" + "15589"


def test_infinity_and_nan_digits():
    assert n.number(math.inf) == "∞"
    with pytest.raises(ValueError, match="MISSING"):
        n.grouped(math.nan, 2)
