import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sensorimotor.core.numerics import NonFiniteError, check_finite
from sensorimotor.core.rng import derive_seed, np_rng, seed_everything


def test_check_finite_names_step_and_leaves():
    check_finite({"a": jnp.ones(3), "n": 3}, step=1)
    with pytest.raises(
        NonFiniteError, match=r"non-finite values in grads at step 7: \['b'\]\[1\]"
    ) as info:
        check_finite(
            {"a": jnp.ones(2), "b": [jnp.ones(2), jnp.array([1.0, jnp.nan])]},
            step=7,
            context="grads",
        )
    assert info.value.step == 7 and info.value.paths == ["['b'][1]"]


def test_derived_seeds_are_stable_and_distinct():
    assert derive_seed(0, "robot") == derive_seed(0, "robot")
    assert len({derive_seed(0, "robot"), derive_seed(0, "selector"), derive_seed(1, "robot")}) == 3
    assert np_rng(5, "a").integers(1 << 30) == np_rng(5, "a").integers(1 << 30)


def test_seed_everything_returns_a_jax_key():
    key = seed_everything(3)
    assert jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    first = np.random.rand()
    seed_everything(3)
    assert np.random.rand() == first
