import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sensorimotor.core.errors import DataError
from sensorimotor.core.normalize import Normalizer

finite = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@settings(max_examples=40, deadline=None)
@given(
    x=arrays(np.float32, st.tuples(st.integers(2, 20), st.integers(1, 4)), elements=finite),
    kind=st.sampled_from(["zscore", "minmax"]),
)
def test_normalize_is_invertible(x, kind):
    norm = Normalizer.fit(x, kind)
    back = norm.denormalize(norm.normalize(x))
    np.testing.assert_allclose(back, x, rtol=1e-4, atol=1e-2)


def test_zscore_and_minmax_statistics():
    x = np.array([[0.0, 10.0], [2.0, 10.0], [4.0, 10.0]])
    z = Normalizer.fit(x, "zscore").normalize(x)
    np.testing.assert_allclose(z[:, 0].mean(), 0, atol=1e-6)
    np.testing.assert_allclose(z[:, 0].std(), 1, atol=1e-6)
    np.testing.assert_allclose(z[:, 1], 0)  # constant column passes through with scale 1
    m = Normalizer.fit(x, "minmax").normalize(x)
    np.testing.assert_allclose(m[:, 0], [-1, 0, 1])


def test_works_inside_jit_and_round_trips_through_dict():
    x = np.random.default_rng(0).normal(3, 2, (100, 3)).astype(np.float32)
    norm = Normalizer.fit(x)
    y = jax.jit(lambda n, v: n.normalize(v))(norm, jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(y), norm.normalize(x), rtol=1e-5, atol=1e-5)
    again = Normalizer.from_dict(norm.to_dict())
    assert again.kind == "zscore"
    np.testing.assert_array_equal(again.shift, norm.shift)


def test_bad_data_is_a_clear_error():
    with pytest.raises(DataError, match="NaN/Inf"):
        Normalizer.fit(np.array([1.0, np.nan]))
    with pytest.raises(DataError, match="missing"):
        Normalizer.from_dict({"shift": [0.0]})
    with pytest.raises(DataError, match="shape"):
        Normalizer.from_dict({"kind": "zscore", "shift": [0.0, 1.0], "scale": [1.0]})
