"""The one optimiser builder reproduces each former optimiser bit for bit (same chain, same
state structure), so ports of policies, the canvas world model and the sequence trainer keep
their numerics and their checkpoints."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sensorimotor.learners.optim import make_optimizer, warmup_cosine_schedule


def _run(tx, steps=5):
    params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.ones(3)}
    state = tx.init(params)
    key = jax.random.PRNGKey(0)
    for _ in range(steps):
        key, k = jax.random.split(key)
        grads = jax.tree.map(lambda p, k=k: jax.random.normal(k, p.shape) * 3.0, params)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


def _same(a, b):
    (pa, sa), (pb, sb) = _run(a), _run(b)
    assert jax.tree.structure(sa) == jax.tree.structure(sb)
    for x, y in zip(jax.tree.leaves((pa, sa)), jax.tree.leaves((pb, sb)), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("clip", [None, 0.5])
@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_matches_the_former_policy_optimizer(clip, wd):
    old = optax.adamw(1e-3, eps=1e-8, weight_decay=wd) if wd else optax.adam(1e-3, eps=1e-8)
    old = optax.chain(optax.clip_by_global_norm(clip), old) if clip else old
    _same(make_optimizer(1e-3, grad_clip=clip, weight_decay=wd or None), old)


@pytest.mark.parametrize("clip", [None, 1.0])
def test_matches_the_former_canvas_optimizer_and_schedule(clip):
    parts = [optax.clip_by_global_norm(clip)] if clip else []
    old = optax.chain(*parts, optax.scale_by_adam(b1=0.9, b2=0.95), optax.add_decayed_weights(0.05))
    _same(make_optimizer(None, b1=0.9, b2=0.95, weight_decay=0.05, grad_clip=clip), old)
    for warmup, decay in [(10, 100), (0, 50), (200, 100), (5, None)]:
        new = warmup_cosine_schedule(1e-3, warmup_steps=warmup, decay_steps=decay, end_value=1e-5)
        if decay:
            old_s = optax.warmup_cosine_decay_schedule(
                0.0, 1e-3, min(warmup, max(decay - 1, 0)), max(decay, warmup + 1), 1e-5
            )
        else:
            old_s = optax.join_schedules(
                [optax.linear_schedule(0.0, 1e-3, max(warmup, 1)), optax.constant_schedule(1e-3)],
                [max(warmup, 1)],
            )
        steps = jnp.arange(0, 260, 7)
        np.testing.assert_array_equal(jax.vmap(new)(steps), jax.vmap(old_s)(steps))


def test_matches_the_former_sequence_optimizer():
    lr, warmup, steps, wd = 3e-3, 20, 500, 1e-4
    old_s = optax.warmup_cosine_decay_schedule(0.0, lr, warmup, steps, end_value=lr * 0.05)
    old = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(old_s, weight_decay=wd))
    new_s = warmup_cosine_schedule(lr, warmup_steps=warmup, decay_steps=steps, end_value=lr * 0.05)
    _same(make_optimizer(new_s, weight_decay=wd, grad_clip=1.0), old)


def test_no_learning_rate_leaves_the_direction_unscaled():
    tx = make_optimizer(None)
    params = {"w": jnp.zeros(3)}
    updates, _ = tx.update({"w": jnp.asarray([1.0, -2.0, 0.0])}, tx.init(params), params)
    # Adam's first step is sign(g) (up to eps): no learning rate, no minus sign.
    np.testing.assert_allclose(updates["w"], [1.0, -1.0, 0.0], atol=1e-5)
