"""Attention metrics of the predictor, derived from the token layout (types and slots per position),
never from hard-coded indices. Each is averaged over the query rows (the tokens that read out the
next latent), heads and batch of one layer's weights ``(B, heads, T, T)``:

- ``apa``: attention to the previous action (the action token of the newest slot);
- ``alf``: attention to the last frame (the frame tokens of the newest slot);
- ``ttar``: token-type attention ratio, attention per action token / attention per frame token;
- ``ri16``: recency index, the share of attention on the 16 positions up to the query itself;
- ``entropy``: the attention distribution's entropy (nats).
"""

from __future__ import annotations

import numpy as np

from sensorimotor.worldmodels.adaptive.networks import ACTION, FRAME, QUERY, TokenLayout


def attention_metrics(
    weights: np.ndarray, layout: TokenLayout, recency: int = 16
) -> dict[str, float]:
    """The metrics above for one layer's ``weights (B, heads, T, T)``."""
    w = np.asarray(weights, np.float64)
    types, slots = np.asarray(layout.types), np.asarray(layout.slots)
    if w.shape[-1] != len(types) or w.shape[-2] != len(types):
        raise ValueError(
            f"attention of shape {w.shape} does not match a layout of {len(types)} tokens"
        )
    queries = np.flatnonzero(types == QUERY)
    rows = w[..., queries, :]  # (B, heads, Q, T)
    last = slots[types != QUERY].max()
    is_action, is_frame = types == ACTION, types == FRAME
    prev_action = is_action & (slots == last)
    last_frame = is_frame & (slots == last)
    mass = lambda keys: rows[..., keys].sum(axis=-1)  # noqa: E731 - (B, heads, Q)
    per_action = mass(is_action) / max(is_action.sum(), 1)
    per_frame = mass(is_frame) / max(is_frame.sum(), 1)
    positions = np.arange(len(types))
    recent = (positions[None, :] <= queries[:, None]) & (
        positions[None, :] > queries[:, None] - recency
    )
    entropy = -(rows * np.log(np.clip(rows, 1e-12, None))).sum(axis=-1)
    return {
        "apa": float(mass(prev_action).mean()),
        "alf": float(mass(last_frame).mean()),
        "ttar": float((per_action / np.maximum(per_frame, 1e-12)).mean()),
        "ri16": float((rows * recent).sum(axis=-1).mean()),
        "entropy": float(entropy.mean()),
    }


def layer_metrics(attention: list[np.ndarray], layout: TokenLayout) -> dict[str, float]:
    """``layer<i>/<metric>`` for every layer."""
    out = {}
    for i, weights in enumerate(attention):
        for name, value in attention_metrics(weights, layout).items():
            out[f"layer{i}/{name}"] = value
    return out
