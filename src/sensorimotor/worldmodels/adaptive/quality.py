"""Quality of the adaptive model on the canvas model's held-out protocol
(:mod:`sensorimotor.worldmodels.quality`), plus the counterfactual action tests and attention.

- the held-out set, MSE, dot position error and counterfactual action accuracy are the canvas
  model's, computed by the same :func:`~sensorimotor.worldmodels.quality.evaluate_quality` through a
  thin view that answers its questions with the adaptive model's level-1 predictor;
- shuffle test: the same predictions with the actions permuted across the held-out samples, and
  zero test: with every action set to 0 (the middle of its range); a model that uses its actions
  gets worse, so ``mse_shuffled / mse`` well above 1 (target ≥ 5);
- attention metrics per layer (:mod:`.attention`) on the first held-out samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sensorimotor.core.rng import np_rng
from sensorimotor.worldmodels.adaptive.attention import layer_metrics
from sensorimotor.worldmodels.quality import HeldOutSet, evaluate_quality


class ProtocolView:
    """What :func:`evaluate_quality` asks of a model, answered by an adaptive model's level 1."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.frame_shape = model.frame_shape
        self.image_size = model.image_size
        self.num_actions = model.num_actions

    def build_canvases(
        self, context: np.ndarray, actions: np.ndarray, blank_target: bool = True
    ) -> tuple:
        return context, actions

    def predict_canvases(self, canvases: tuple, batch_size: int = 64) -> tuple[np.ndarray, None]:
        context, actions = canvases
        return self.model.predict(context, self.model.action_vectors(actions))["frames"], None

    def counterfactual(self, context: np.ndarray, previous: np.ndarray) -> np.ndarray:
        return self.model.counterfactual(context, previous)


def action_tests(model: Any, data: HeldOutSet, seed: int = 0) -> dict[str, float]:
    """MSE with the true, shuffled and zeroed actions, and the ratios to the true-action MSE."""
    actual = data.targets.astype(np.float32) / 255.0
    vectors = model.action_vectors(data.actions)  # (M, H, C)
    perm = np_rng(seed, "shuffle-test").permutation(len(vectors))

    def mse(actions: np.ndarray) -> float:
        predicted = model.predict(data.context, actions)["frames"]
        return float(((predicted - actual) ** 2).mean())

    true, shuffled, zero = mse(vectors), mse(vectors[perm]), mse(np.zeros_like(vectors))
    return {
        "mse_true_actions": true,
        "mse_shuffled_actions": shuffled,
        "mse_zero_actions": zero,
        "shuffle_ratio": shuffled / max(true, 1e-12),
        "zero_ratio": zero / max(true, 1e-12),
    }


def evaluate_adaptive(
    model: Any,
    data: HeldOutSet,
    *,
    position_metrics: bool = True,
    tolerance_px: float = 3.0,
    wrap_x: bool = True,
    attention_samples: int = 8,
) -> dict[str, Any]:
    """Held-out quality (canvas protocol), the action tests and per-layer attention metrics."""
    out = evaluate_quality(
        ProtocolView(model),
        data,
        position_metrics=position_metrics,
        tolerance_px=tolerance_px,
        wrap_x=wrap_x,
    )
    if len(data) == 0:
        return out
    out.update(action_tests(model, data))
    n = min(attention_samples, len(data))
    pred = model.predict(
        data.context[:n], model.action_vectors(data.actions[:n]), return_attention=True
    )
    layout = model.levels[0].state.module().predictor.layout()
    out["attention"] = layer_metrics(pred["attention"], layout)
    return out


def adaptive_targets(metrics: dict[str, Any]) -> dict[str, bool]:
    """The issue's targets for the adaptive model."""
    checks = {}
    if "position_error_px" in metrics:
        checks["counterfactual accuracy >= 95 %"] = metrics["counterfactual_accuracy"] >= 0.95
        checks["position error <= 3 px"] = metrics["position_error_px"] <= 3.0
    if "shuffle_ratio" in metrics:
        checks["shuffled-action error >= 5 x true-action error"] = metrics["shuffle_ratio"] >= 5.0
    return checks
