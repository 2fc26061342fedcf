"""The adaptive world model's parts: action normalisation, FiLM, delta mode, the causal mask,
level creation and the attention metrics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sensorimotor.core.errors import ConfigError
from sensorimotor.nn.film import FiLM
from sensorimotor.robots.interface import Box
from sensorimotor.worldmodels.adaptive.actions import ActionNormalizer
from sensorimotor.worldmodels.adaptive.attention import attention_metrics
from sensorimotor.worldmodels.adaptive.levels import LevelTracker, should_add_level
from sensorimotor.worldmodels.adaptive.networks import (
    ACTION,
    FRAME,
    QUERY,
    ActionPredictor,
    TokenLayout,
    token_layout,
)


def predictor(delta=True, film=(0, 1), history=2, max_tokens=4096, seed=0):
    return ActionPredictor(
        latent_dim=8,
        grid=(2, 2),
        action_dim=1,
        history=history,
        width=16,
        depth=2,
        heads=2,
        action_embed_dim=8,
        film_hidden=16,
        film_block_ids=film,
        ensemble_heads=3,
        delta=delta,
        max_tokens=max_tokens,
        rngs=nnx.Rngs(seed),
    )


def randomise_films(p, seed=1):
    """FiLM starts as the identity; give it weights so the action can act through it."""
    key = jax.random.key(seed)
    for film in p.films:
        key, sub = jax.random.split(key)
        film.fc2.kernel[...] = jax.random.normal(sub, film.fc2.kernel.shape) * 0.5


# --- actions ------------------------------------------------------------------------------------


def test_discrete_actions_normalise_per_channel_to_the_unit_interval():
    space = [{"left": 0.0, "right": 2.0}, {"left": 1.0, "right": -2.0}, {"left": 0.5, "right": 0.0}]
    norm = ActionNormalizer.from_space(space)
    assert norm.channels == ("left", "right")
    np.testing.assert_allclose(norm.normalize(space[0]), [-1.0, 1.0])
    np.testing.assert_allclose(norm.normalize(space[1]), [1.0, -1.0])
    np.testing.assert_allclose(norm.normalize(space[2]), [0.0, 0.0])
    np.testing.assert_allclose(norm.denormalize(norm.normalize(space[0])), [0.0, 2.0])


def test_box_actions_use_the_box_range_and_overrides_win():
    box = Box((-2.0, 0.0), (2.0, 10.0))
    norm = ActionNormalizer.from_space(box)
    np.testing.assert_allclose(norm.normalize({"action": [0.0, 10.0]}), [0.0, 1.0])
    np.testing.assert_allclose(norm.normalize({"action": [5.0, -1.0]}), [1.0, -1.0])  # clipped
    wide = ActionNormalizer.from_space(box, ranges=[[-4, 4], [0, 20]])
    np.testing.assert_allclose(wide.normalize({"action": [2.0, 10.0]}), [0.5, 0.0])


def test_a_single_valued_channel_maps_to_zero_and_bad_channels_are_named():
    norm = ActionNormalizer.from_space([{"action": 0, "speed": 1}, {"action": 1, "speed": 1}])
    np.testing.assert_allclose(norm.normalize({"action": 1, "speed": 1}), [1.0, 0.0])
    with pytest.raises(ConfigError, match="action_channels.*'turn'"):
        ActionNormalizer.from_space([{"action": 0}], channels=["turn"])
    with pytest.raises(ConfigError, match="action_ranges has 2 entries"):
        ActionNormalizer.from_space([{"action": 0}, {"action": 1}], ranges=[[0, 1], [0, 1]])


# --- FiLM -----------------------------------------------------------------------------------------


def test_film_is_the_identity_at_init_and_an_affine_map_of_the_condition_after():
    film = FiLM(3, 4, 8, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (2, 5, 4))
    c1, c2 = jnp.ones((2, 3)), -jnp.ones((2, 3))
    np.testing.assert_allclose(film(x, c1), x)
    film.fc2.kernel[...] = jax.random.normal(jax.random.key(1), film.fc2.kernel.shape)
    y1, y2 = film(x, c1), film(x, c2)
    assert not np.allclose(y1, y2)  # the condition changes the output ...
    gamma, beta = film.modulation(c1)  # ... only as a per-channel scale and shift of the tokens
    np.testing.assert_allclose(y1, x * (1 + gamma[:, None]) + beta[:, None], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(film(x, c1), y1)  # same condition, same output


def test_film_changes_the_prediction_only_through_the_action():
    p = predictor(delta=True)
    randomise_films(p)
    latents = jax.random.normal(jax.random.key(2), (1, 2, 4, 8))
    a, b = jnp.full((1, 2, 1), -1.0), jnp.full((1, 2, 1), 1.0)
    assert not np.allclose(p(latents, a).mean, p(latents, b).mean)
    # Cut the action's other routes (its token): what is left of the difference comes via FiLM.
    p.action_in.kernel[...] = jnp.zeros_like(p.action_in.kernel[...])
    p.action_in.bias[...] = jnp.zeros_like(p.action_in.bias[...])
    assert not np.allclose(p(latents, a).mean, p(latents, b).mean)
    for film in p.films:  # and with FiLM back at the identity the action has no way in
        film.fc2.kernel[...] = jnp.zeros_like(film.fc2.kernel[...])
    np.testing.assert_allclose(p(latents, a).mean, p(latents, b).mean, atol=1e-6)


# --- delta mode and the causal mask ----------------------------------------------------------------


@pytest.mark.parametrize("delta", [True, False])
def test_delta_mode_predicts_the_change_of_the_last_latent(delta):
    p = predictor(delta=delta)
    p.out.kernel[...] = jnp.zeros_like(p.out.kernel[...])
    p.out.bias[...] = jnp.full_like(p.out.bias[...], 0.5)
    latents = jax.random.normal(jax.random.key(3), (2, 2, 4, 8))
    out = p(latents, jnp.zeros((2, 2, 1)))
    expected = latents[:, -1] + 0.5 if delta else jnp.full_like(latents[:, -1], 0.5)
    np.testing.assert_allclose(out.mean, expected, rtol=1e-6, atol=1e-6)
    assert out.heads.shape == (2, 3, 4, 8)


def test_a_later_token_changes_no_earlier_output():
    p = predictor()
    randomise_films(p)
    layout = p.layout()
    latents = jax.random.normal(jax.random.key(4), (1, 2, 4, 8))
    actions = jnp.asarray([[[-1.0], [-1.0]]])
    base, _ = p.sequence(latents, actions)
    # Change the newest frame: only its own tokens and later ones may move.
    moved, _ = p.sequence(latents.at[:, 1].add(1.0), actions)
    first = int(np.flatnonzero((layout.types == FRAME) & (layout.slots == 1))[0])
    np.testing.assert_allclose(moved[:, :first], base[:, :first], atol=1e-6)
    assert not np.allclose(moved[:, first:], base[:, first:])
    # Change the newest action (FiLM included): nothing before its token moves.
    moved, _ = p.sequence(latents, actions.at[:, 1].set(1.0))
    at = int(np.flatnonzero((layout.types == ACTION) & (layout.slots == 1))[0])
    np.testing.assert_allclose(moved[:, :at], base[:, :at], atol=1e-6)
    assert not np.allclose(moved[:, at:], base[:, at:])


def test_the_sequence_cap_clips_the_oldest_tokens():
    full = token_layout(3, 4, 4096)
    assert len(full.types) == 3 * 5 + 4 and full.clipped == 0
    capped = token_layout(3, 4, 12)
    assert len(capped.types) == 12 and capped.clipped == 7
    assert (capped.types[-4:] == QUERY).all() and capped.slots[0] == 1
    p = predictor(history=3, max_tokens=12)
    out = p(jnp.zeros((1, 3, 4, 8)), jnp.zeros((1, 3, 1)), return_attention=True)
    assert out.attention[0].shape == (1, 2, 12, 12)


# --- levels --------------------------------------------------------------------------------------


def test_a_level_is_created_after_patience_checks_under_threshold():
    errors = [0.5, 0.2, 0.05, 0.04, 0.2, 0.05, 0.05, 0.05, 0.01, 0.01]
    trackers = [LevelTracker(threshold=0.1, patience=3)]
    created = []
    for i, error in enumerate(errors):
        trackers[-1].update(error)
        if should_add_level(trackers, max_levels=3):
            created.append(i)
            trackers.append(LevelTracker(threshold=0.1, patience=3))
    # Under threshold at 2, 3 (then reset by 0.2 at 4), then 5, 6, 7 → level 2 after the check at
    # 7; level 3's own count starts after that: 8, 9 is only 2 checks.
    assert created == [7]
    trackers[-1].update(0.0)
    assert should_add_level(trackers, max_levels=3)
    assert not should_add_level(trackers, max_levels=2)


# --- attention metrics ------------------------------------------------------------------------------


def test_attention_metrics_on_a_hand_built_map():
    # history 2, 2 patches: F F A | F F A | Q Q  (positions 0..7)
    layout = TokenLayout(
        np.asarray([FRAME, FRAME, ACTION, FRAME, FRAME, ACTION, QUERY, QUERY]),
        np.asarray([0, 0, 0, 1, 1, 1, 2, 2]),
        0,
    )
    w = np.zeros((1, 1, 8, 8))
    w[0, 0, 6] = [0.1, 0.1, 0.0, 0.2, 0.2, 0.4, 0.0, 0.0]  # query 1
    w[0, 0, 7] = [0.0, 0.0, 0.2, 0.1, 0.1, 0.2, 0.2, 0.2]  # query 2
    m = attention_metrics(w, layout, recency=4)
    assert m["apa"] == pytest.approx((0.4 + 0.2) / 2)  # the action token of slot 1
    assert m["alf"] == pytest.approx((0.4 + 0.2) / 2)  # the frame tokens of slot 1
    # per action token / per frame token: q1 (0.4/2)/(0.6/4), q2 (0.4/2)/(0.2/4)
    assert m["ttar"] == pytest.approx(((0.2 / 0.15) + (0.2 / 0.05)) / 2)
    # recency 4: q1 keys 3..6 = 0.8; q2 keys 4..7 = 0.7
    assert m["ri16"] == pytest.approx((0.8 + 0.7) / 2)
    h1 = -(2 * 0.1 * np.log(0.1) + 2 * 0.2 * np.log(0.2) + 0.4 * np.log(0.4))
    h2 = -(4 * 0.2 * np.log(0.2) + 2 * 0.1 * np.log(0.1))
    assert m["entropy"] == pytest.approx((h1 + h2) / 2)
    with pytest.raises(ValueError, match="does not match"):
        attention_metrics(np.zeros((1, 1, 7, 7)), layout)


# --- augmentation and the predictor losses' gradient into the MAE ------------------------------


def test_rolls_shift_a_samples_frames_alike_and_samples_differently():
    from sensorimotor.worldmodels.adaptive.config import AdaptiveModelConfig
    from sensorimotor.worldmodels.adaptive.steps import AdaptiveSteps

    steps = AdaptiveSteps(AdaptiveModelConfig(), (40, 40), (5, 5), ("roll_x", "roll_y"))
    frames = np.zeros((16, 4, 40, 40, 3), np.float32)
    frames[:, :3, 10, 20] = 1.0  # context: the dot at (10, 20)
    frames[:, 3, 10, 25] = 1.0  # target: it moved right by 5
    rolled = np.asarray(steps._roll(jnp.asarray(frames), jax.random.key(0)))
    np.testing.assert_allclose(rolled.sum(axis=(2, 3)), frames.sum(axis=(2, 3)))  # a permutation
    where = [np.argwhere(rolled[b, :, :, :, 0] > 0) for b in range(16)]
    for w in where:
        (_, y0, x0), (_, y1, x1) = w[0], w[-1]
        assert y1 == y0 and (x1 - x0) % 40 == 5  # the move survives the roll
    assert len({w[0][1] for w in where}) > 4 and len({w[0][2] for w in where}) > 4  # rolls vary
    none = AdaptiveSteps(AdaptiveModelConfig(), (40, 40), (5, 5), ())
    np.testing.assert_array_equal(
        np.asarray(none._roll(jnp.asarray(frames), jax.random.key(0))), frames
    )


def test_scale_gradient_keeps_the_value_and_scales_the_gradient():
    from sensorimotor.worldmodels.adaptive.steps import scale_gradient

    x = jnp.asarray([1.0, -2.0, 3.0])
    f = lambda x, s: (scale_gradient({"a": x}, s)["a"] ** 2).sum()  # noqa: E731
    assert float(f(x, 0.01)) == pytest.approx(float((x**2).sum()))
    np.testing.assert_allclose(jax.grad(f)(x, 0.01), 0.01 * 2 * x, rtol=1e-6)
    np.testing.assert_array_equal(jax.grad(f)(x, 0.0), np.zeros(3))
