"""Attention selection, aggregation, quantile filter and stats on hand-made tensors."""

from __future__ import annotations

import numpy as np
import pytest

from sensorimotor.core.errors import UserError
from sensorimotor.explorer.attention import (
    aggregate,
    attention_stats,
    bright_patches,
    head_matrix,
    parse_patch_ranges,
    patch_centre,
    quantile_filter,
)


def test_patch_ranges() -> None:
    assert parse_patch_ranges("0,5,10-15", 20) == [0, 5, 10, 11, 12, 13, 14, 15]
    assert parse_patch_ranges(" 3 , 3, 1-2 ", 4) == [1, 2, 3]
    for bad in ("a", "5-3", "20", "", "1-x"):
        with pytest.raises(UserError):
            parse_patch_ranges(bad, 20)


def _tensor() -> np.ndarray:
    """2 layers x 2 heads x 3 patches; every row sums to 1."""
    a = np.zeros((2, 2, 3, 3))
    a[0, 0] = [[0.5, 0.25, 0.25], [0.0, 1.0, 0.0], [0.2, 0.2, 0.6]]
    a[0, 1] = [[0.1, 0.8, 0.1], [0.4, 0.4, 0.2], [1.0, 0.0, 0.0]]
    a[1, 0] = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.3, 0.3, 0.4]]
    a[1, 1] = [[0.0, 0.0, 1.0], [0.5, 0.5, 0.0], [0.0, 1.0, 0.0]]
    return a


def test_aggregate_known_answers() -> None:
    a = _tensor()
    mean = aggregate(a, [0])  # mean over heads, one patch
    np.testing.assert_allclose(mean, [[0.3, 0.525, 0.175], [0.5, 0.0, 0.5]])
    mx = aggregate(a, [0, 1], over_heads="max", over_patches="max")
    np.testing.assert_allclose(mx[0], [0.5, 1.0, 0.25])
    mixed = aggregate(a, [0, 1], layers=[0], over_heads="mean", over_patches="max")
    np.testing.assert_allclose(mixed, [[0.3, 0.7, 0.175]])  # heads first, then patches
    total = aggregate(a, [0, 1], layers=[1], heads=[0], over_patches="sum")
    np.testing.assert_allclose(total, [[1.0, 0.0, 1.0]])
    np.testing.assert_allclose(head_matrix(a, layers=[0], heads=[1]), a[0, 1])
    with pytest.raises(UserError):
        aggregate(a, [])


def test_quantile_filter_keeps_the_strongest() -> None:
    w = np.array([0.1, 0.4, 0.2, 0.3])
    np.testing.assert_allclose(quantile_filter(w, 50), [0.0, 0.4, 0.0, 0.3])
    np.testing.assert_allclose(quantile_filter(w, 100), w)
    many = np.arange(20, dtype=float)
    kept = quantile_filter(many, 10)
    assert np.count_nonzero(kept) == 2 and set(kept[kept > 0]) == {18.0, 19.0}
    with pytest.raises(UserError):
        quantile_filter(w, 0)


def test_stats_and_geometry() -> None:
    a = _tensor()
    kept = quantile_filter(aggregate(a, [0]), 50)  # 6 weights -> 3 kept
    s = attention_stats(kept, a, [0], [0, 1])
    assert s.connections == 3 and s.connections_per_layer == [1, 2]
    assert s.max_weight == pytest.approx(0.525)
    assert s.total_weight == pytest.approx(1.525)
    assert s.entropy_per_head[1][0] == pytest.approx(0.0)  # layer 1, head 0: one-hot row
    assert patch_centre(5, 4, 8) == (12.0, 12.0)


def test_bright_patches() -> None:
    canvas = np.zeros((8, 16, 3), np.uint8)
    canvas[1, 9] = 255  # patch (0, 2) of a 4-pixel grid 2 x 4
    canvas[6, 1] = 100  # dim: below 0.5
    assert bright_patches(canvas, 4, 0.5) == [2]
    assert bright_patches(canvas, 4, 0.3) == [2, 4]
