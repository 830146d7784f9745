"""How many epochs a row trains (results/epochs.py): counts worked out by hand."""

import pytest

from results.epochs import describe, epochs_for, steps_per_epoch


def test_steps_per_epoch_counts_the_short_last_batch():
    assert steps_per_epoch(32, 10_000) == 313  # 312 full batches and one of 16
    assert steps_per_epoch(1024, 10_000) == 10
    assert steps_per_epoch(1024, 1024) == 1


@pytest.mark.parametrize("epochs, min_steps, batch, n_train, expected", [
    (12, 1200, 32, 10_000, 12),     # 12 epochs are 3756 steps: the epochs decide
    (12, 1200, 1024, 10_000, 120),  # 10 steps an epoch: 120 epochs for 1200 steps
    (12, 1200, 256, 10_000, 30),    # 40 steps an epoch
    (12, 1200, 4096, 10_000, 400),  # 3 steps an epoch: 1200 / 3
    (12, 1201, 1024, 10_000, 121),  # a step short of 121 epochs' worth rounds up
    (3, 0, 1024, 10_000, 3),        # no step minimum (older files, --epochs): the epochs
])
def test_epochs_for(epochs, min_steps, batch, n_train, expected):
    assert epochs_for(epochs, min_steps, batch, n_train) == expected


def test_a_batch_or_data_set_under_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        epochs_for(3, 0, 0, 10)


def test_describe_says_each_batch_sizes_count_only_where_they_differ():
    def counts(epochs, min_steps, batches, n_train=10_000):
        return {(b, n_train): epochs_for(epochs, min_steps, b, n_train) for b in batches}

    assert describe(3, 0, counts(3, 0, (32, 1024))) == "3"
    assert describe(12, 1200, counts(12, 1200, (32, 1024))) == (
        "12 at batch size 32, 120 at batch size 1\u202f024 "
        "(at least 12 epochs and 1\u202f200 steps)")
    assert describe(12, 1200, counts(12, 1200, (32,))) == "12"
    # a sweep over training-set sizes names each size
    assert describe(12, 1200, {(32, 1000): 38, (32, 10_000): 12}) == (
        "38 at batch size 32 on 1\u202f000 samples, 12 at batch size 32 on 10\u202f000 samples "
        "(at least 12 epochs and 1\u202f200 steps)")
