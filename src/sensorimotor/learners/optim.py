"""The one optimiser builder: Adam(W) with optional global-norm clipping, and its LR schedule.

Every learner builds its optimiser here so that one chain order serves all:

- policies, critics, agents: ``make_optimizer(lr, grad_clip=..., weight_decay=wd or None)``
  -> ``[clip] -> adam | adamw``;
- the sequence trainer: ``make_optimizer(warmup_cosine_schedule(...), weight_decay=wd,
  grad_clip=...)`` -> ``clip -> adamw(schedule)``;
- the canvas world model: ``make_optimizer(None, b1=, b2=, weight_decay=wd, grad_clip=...)``
  -> ``[clip] -> scale_by_adam -> add_decayed_weights`` with no learning rate: its train step
  scales the update by ``-schedule(step)`` itself (an online run follows its iterations).
"""

from __future__ import annotations

import optax


def make_optimizer(
    learning_rate: float | optax.Schedule | None,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float | None = None,
    grad_clip: float | None = None,
) -> optax.GradientTransformation:
    """Adam, or AdamW when ``weight_decay`` is a number (``None``: no decay term at all).

    ``grad_clip`` (if set and non-zero) clips the global gradient norm first. With
    ``learning_rate=None`` the chain stops before the learning rate (the caller scales the
    update, see the module docstring); otherwise ``learning_rate`` is a constant or a schedule.
    """
    clip = [optax.clip_by_global_norm(grad_clip)] if grad_clip else []
    if learning_rate is None:
        parts = [optax.scale_by_adam(b1=b1, b2=b2, eps=eps)]
        if weight_decay is not None:
            parts.append(optax.add_decayed_weights(weight_decay))
        return optax.chain(*clip, *parts)
    if weight_decay is None:
        opt = optax.adam(learning_rate, b1=b1, b2=b2, eps=eps)
    else:
        opt = optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    return optax.chain(*clip, opt) if clip else opt


def warmup_cosine_schedule(
    peak: float, *, warmup_steps: int, decay_steps: int | None, end_value: float
) -> optax.Schedule:
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then cosine decay to
    ``end_value`` at ``decay_steps``; with ``decay_steps`` unknown (``None``/0) constant at
    ``peak`` after the warm-up. The warm-up is shortened to fit a shorter decay."""
    if not decay_steps:
        return optax.join_schedules(
            [optax.linear_schedule(0.0, peak, max(warmup_steps, 1)), optax.constant_schedule(peak)],
            [max(warmup_steps, 1)],
        )
    return optax.warmup_cosine_decay_schedule(
        0.0,
        peak,
        min(warmup_steps, max(decay_steps - 1, 0)),
        max(decay_steps, warmup_steps + 1),
        end_value,
    )
