"""The headline estimator (results/estimate.py): a low quantile, its two-level interval, the
ratio of samples paired by round."""

import numpy as np
import pytest

from results import estimate


def additive(rng, base, n, share=0.5, burst=1.0):
    """``n`` samples of a fixed workload of ``base`` on a busy machine: noise only adds."""
    return list(base * (1 + rng.exponential(0.01, n)
                        + (rng.random(n) < share) * rng.uniform(0, burst, n)))


def test_p10_is_numpys_10th_percentile():
    values = [5.0, 1.0, 3.0, 2.0, 4.0, 9.0, 7.0, 6.0, 8.0, 10.0, 11.0]
    assert estimate.p10(values) == pytest.approx(np.quantile(values, 0.1)) == 2.0


def test_the_headline_resists_additive_noise_that_moves_the_median():
    rng = np.random.default_rng(0)
    quiet = [additive(rng, 100, 40, share=0.0) for _ in range(3)]
    busy = [additive(rng, 100, 40, share=0.6, burst=1.0) for _ in range(3)]
    q, b = estimate.headline(quiet), estimate.headline(busy)
    assert b["us_per_step"] / q["us_per_step"] == pytest.approx(1, abs=0.03)
    assert b["us_per_step_median"] / q["us_per_step_median"] > 1.2


def test_the_interval_holds_the_headline_and_is_reproducible():
    rng = np.random.default_rng(1)
    groups = [additive(rng, 100, 20) for _ in range(4)]
    h = estimate.headline(groups)
    assert h["us_per_step_ci_low"] <= h["us_per_step"] <= h["us_per_step_ci_high"]
    assert estimate.headline(groups) == h
    assert h["half_width_pct"] == pytest.approx(100 * max(
        h["us_per_step_ci_high"] / h["us_per_step"] - 1,
        1 - h["us_per_step_ci_low"] / h["us_per_step"]))


def test_the_two_level_interval_keeps_the_spread_between_processes():
    # Processes that disagree (a process-level effect) with steady samples within each: a
    # bootstrap of the pooled samples would call the p10 precise; resampling the processes
    # first does not.
    rng = np.random.default_rng(2)
    groups = [list(base + rng.normal(0, 0.2, 20)) for base in (100, 108, 116, 92)]
    two_level = estimate.two_level_bootstrap(groups)
    one_level = estimate.two_level_bootstrap([estimate.pooled(groups)])
    assert two_level[1] - two_level[0] > 3 * (one_level[1] - one_level[0])


def test_equal_samples_give_a_zero_width_interval_and_one_sample_none():
    assert estimate.two_level_bootstrap([[5.0, 5.0], [5.0]]) == (5.0, 5.0)
    single = estimate.headline([[7.0]])
    assert single["us_per_step"] == 7.0 and single["us_per_step_ci_low"] is None
    with pytest.raises(ValueError, match="at least one sample"):
        estimate.two_level_draws([[], []])


def test_draws_weigh_every_process_alike_whatever_its_length():
    # One process of 2 samples at 10, one of 50 at 20: each resample draws as many samples
    # from each drawn process, so the median of a resample that drew both is 15.
    draws = estimate.two_level_draws([[10.0, 10.0], [20.0] * 50], statistic=np.median,
                                     n_resamples=400)
    assert set(np.round(draws, 6)) <= {10.0, 15.0, 20.0}
    assert 0.3 < np.mean(draws == 15.0) < 0.7


def test_the_ratio_is_the_quotient_of_the_headlines_and_pairs_the_rounds():
    rng = np.random.default_rng(3)
    # The machine's state of each round multiplies both rows alike.
    machine = [list(1 + 2 * rng.random(30)) for _ in range(3)]
    reference = [[100 * m for m in rounds] for rounds in machine]
    row = [[250 * m for m in rounds] for rounds in machine]
    ratio, low, high = estimate.headline_ratio(row, reference, paired_rounds=True)
    assert (ratio, low, high) == pytest.approx((2.5, 2.5, 2.5))
    # The quotient of the two headlines, as a reader dividing the table's columns gets it.
    assert ratio == pytest.approx(estimate.p10(estimate.pooled(row))
                                  / estimate.p10(estimate.pooled(reference)))
    # Unpaired, the same samples say far less: resampled apart, the two p10s come from
    # different rounds, and the ratio's interval is wide.
    ratio, low, high = estimate.headline_ratio(row, reference, paired_rounds=False)
    assert ratio == pytest.approx(2.5) and low <= 2.5 <= high and high - low > 0.1


def test_the_ratio_draws_the_same_processes_of_both_rows():
    # Process 1 of both rows ran in a slow stretch of the run: drawn together, the ratio
    # stays 2 in every resample, though each row's own headline moves by 2x between them.
    reference = [[100.0] * 10, [200.0] * 10, [100.0] * 10]
    row = [[200.0] * 10, [400.0] * 10, [200.0] * 10]
    for paired in (True, False):
        assert estimate.headline_ratio(row, reference, paired_rounds=paired) == \
            pytest.approx((2.0, 2.0, 2.0))


def test_a_worker_that_stopped_early_pairs_only_the_rounds_both_have():
    # Paired by round, only the first two rounds count: 2/1 and 4/2.
    ratio, low, high = estimate.headline_ratio([[2.0, 4.0, 600.0]], [[1.0, 2.0]],
                                               paired_rounds=True)
    assert (ratio, low, high) == pytest.approx((2.0, 2.0, 2.0))
    with pytest.raises(ValueError, match="a process that both rows have"):
        estimate.headline_ratio([[1.0]], [[]], paired_rounds=True)
