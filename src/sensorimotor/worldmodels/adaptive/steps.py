"""The pure, jitted steps of the adaptive world model on :class:`~sensorimotor.learners.TrainState`\\ s.

- :meth:`AdaptiveSteps.mae_step`: the autoencoder alone (random mask ratio, loss on the masked
  patches, plus the error of autoencoding the whole frame, so the decoder renders whole latents
  such as the predictor's);
- :meth:`AdaptiveSteps.predictor_step`: one level's predictor + classifier, and (level 1) the
  encoder/decoder jointly: reconstruction + ``patch_weight`` x patch loss of the decoded
  prediction + ``latent_weight`` x latent loss (every ensemble head) + ``action_weight`` x action
  classification from (predicted - previous) frame;
- :meth:`AdaptiveSteps.predict`: predicted next frames, ensemble variance and (on request) the
  predictor's attention; :meth:`AdaptiveSteps.reconstruction_error`: the gate's number (MSE and
  MSE relative to the frame's variance).

Every step takes the input :class:`~sensorimotor.core.normalize.Normalizer` (per-channel z-score)
that turns pixels in [0, 1] into network inputs; targets stay pixels in [0, 1].

Metrics include per-component gradient norms (global and median over sublayers), the 95th
percentile update-to-weight ratio, and the share of the gradient that reaches the action pathway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from sensorimotor.core.normalize import Normalizer
from sensorimotor.learners.state import TrainState
from sensorimotor.nn.vit import patchify, per_patch_mse, random_ratio_mask, unpatchify
from sensorimotor.worldmodels.adaptive.config import AdaptiveModelConfig
from sensorimotor.worldmodels.adaptive.networks import decode_latents, encode_frames, to_inputs

_ACTION_PARTS = ("action_mlp1", "action_mlp2", "action_in", "films")


def mae_group(path: tuple) -> str:
    """``encoder`` or ``decoder`` for an MAE parameter path."""
    return "encoder" if str(path[0]) in ("patch_embed", "encoder") else "decoder"


def level_group(path: tuple) -> str:
    """``action`` (embedding, FiLM), ``predictor`` or ``classifier`` for a level parameter path."""
    if str(path[0]) == "classifier":
        return "classifier"
    return "action" if str(path[1]) in _ACTION_PARTS else "predictor"


def group_stats(
    grads: Any, params: Any, new_params: Any, group_of: Callable[[tuple], str]
) -> dict[str, jax.Array]:
    """Per group: global gradient norm, median sublayer (leaf) gradient norm, 95th-percentile
    update-to-weight ratio."""
    g_leaves = jax.tree_util.tree_flatten_with_path(grads)[0]
    p_leaves = jax.tree.leaves(params)
    n_leaves = jax.tree.leaves(new_params)
    by_group: dict[str, list[tuple[jax.Array, jax.Array]]] = {}
    for (path, g), p, n in zip(g_leaves, p_leaves, n_leaves, strict=True):
        keys = tuple(getattr(k, "key", getattr(k, "idx", k)) for k in path)
        ratio = jnp.linalg.norm((n - p).ravel()) / (jnp.linalg.norm(p.ravel()) + 1e-12)
        by_group.setdefault(group_of(keys), []).append((jnp.linalg.norm(g.ravel()), ratio))
    out = {}
    for name, items in by_group.items():
        norms = jnp.stack([a for a, _ in items])
        ratios = jnp.stack([b for _, b in items])
        out[f"grad_norm/{name}"] = jnp.sqrt((norms**2).sum())
        out[f"grad_norm_median/{name}"] = jnp.median(norms)
        out[f"update_ratio_p95/{name}"] = jnp.percentile(ratios, 95)
    return out


def scale_gradient(tree: Any, scale: float) -> Any:
    """``tree`` unchanged in the forward pass; its gradient multiplied by ``scale``.

    The MAE trains jointly on reconstruction and on the predictor's losses. Unscaled, the
    predictor's gradient into the MAE was 5-40x the reconstruction's (action cross-entropy ~0.7 vs
    a reconstruction loss ~0.007) and, through Adam, one predictor step undid the reconstruction:
    the frame's relative error jumped from 0.7 to 3-4 and the gate closed again (22 robot steps
    in 590 iterations)."""
    if scale == 0.0:
        return jax.lax.stop_gradient(tree)
    return jax.tree.map(
        lambda x: jax.lax.stop_gradient(x) + scale * (x - jax.lax.stop_gradient(x)), tree
    )


def _keep_if_finite(finite: jax.Array, new: TrainState, old: TrainState) -> TrainState:
    keep = lambda a, b: jnp.where(finite, a, b)  # noqa: E731
    return new.replace(
        params=jax.tree.map(keep, new.params, old.params),
        opt_state=jax.tree.map(keep, new.opt_state, old.opt_state),
    )


class AdaptiveSteps:
    """The jitted steps for one model geometry (frame size, patch grid, action classes)."""

    def __init__(
        self,
        config: AdaptiveModelConfig,
        frame_hw: tuple[int, int],
        grid: tuple[int, int],
        augment: tuple[str, ...] = (),
    ) -> None:
        self.config, self.frame_hw, self.grid = config, frame_hw, grid
        self.augment = tuple(augment)
        self.patch = config.patch_size
        self.mae_step = jax.jit(self._mae_step)
        self.predictor_step = jax.jit(
            self._predictor_step, static_argnames=("classes", "train_mae")
        )
        self.predict = jax.jit(self._predict, static_argnames=("return_attention",))
        self.reconstruction_error = jax.jit(self._reconstruction_error)

    # --- the autoencoder ---------------------------------------------------------------------
    def _weighted_mse(
        self, frames: jax.Array, pred: jax.Array, weights: jax.Array | None = None
    ) -> jax.Array:
        """Per-patch MSE ``(B, N)`` with each pixel weighted ``1 + bright_weight * brightness``: a
        small bright object (the dot) is most of what there is to see, and plain MSE would let an
        all-dark output win."""
        target = patchify(frames, self.patch)
        w = 1.0 + self.config.bright_weight * target
        per_patch = (w * (pred - target) ** 2).sum(-1) / w.sum(-1)
        return per_patch

    def _recon_loss(
        self, mae: Any, norm: Normalizer, frames: jax.Array, key: jax.Array
    ) -> jax.Array:
        """MAE loss on the masked patches (random ratio) + the error of autoencoding the whole
        frame, which is what the gate measures and what the decoder does with predicted latents."""
        n = self.grid[0] * self.grid[1]
        lo, hi = self.config.mask_ratio
        mask, keep = random_ratio_mask(key, frames.shape[0], n, lo, hi)
        out = mae(to_inputs(frames, norm), mask, keep=keep)
        per_patch = self._weighted_mse(frames, out.pred)
        masked = (per_patch * mask).sum() / jnp.maximum(mask.sum(), 1)
        whole = decode_latents(mae, encode_frames(mae, frames, norm), self.grid)
        return masked + self._weighted_mse(frames, whole).mean()

    def _roll(self, frames: jax.Array, key: jax.Array) -> jax.Array:
        """``trainer.augment``: roll each sample's frames ``(B, ..., h, w, 3)`` by one random
        (x: ``roll_x``, y: ``roll_y``) shift, the same for all its frames. The toroidal dot's
        world is shift-symmetric and one run's dot lives on one row: without the rolls the model
        learns that row only (held-out: 0 % counterfactual accuracy, as the canvas model had)."""
        b, (h, w) = frames.shape[0], frames.shape[-3:-1]
        kx, ky = jax.random.split(jax.random.fold_in(key, 7))
        lead = (b,) + (1,) * (frames.ndim - 1)
        if "roll_x" in self.augment:
            cols = (jnp.arange(w) - jax.random.randint(kx, (b, 1), 0, w)) % w
            frames = jnp.take_along_axis(frames, cols.reshape(*lead[:-2], w, 1), axis=-2)
        if "roll_y" in self.augment:
            rows = (jnp.arange(h) - jax.random.randint(ky, (b, 1), 0, h)) % h
            frames = jnp.take_along_axis(frames, rows.reshape(*lead[:-3], h, 1, 1), axis=-3)
        return frames

    def _mae_step(
        self, state: TrainState, norm: Normalizer, frames: jax.Array, key: jax.Array
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        # Not rolled: the gate asks about what the robot sees now, and the MAE learns that row
        # first (rolled MAE batches: still gated after 400 iterations vs ~270 unrolled); the
        # predictor step's reconstruction term, on rolled targets, generalises it afterwards.
        frames = frames.astype(jnp.float32) / 255.0
        loss, grads = jax.value_and_grad(
            lambda p: self._recon_loss(state.module(p), norm, frames, key)
        )(state.params)
        new = state.apply_gradients(grads)
        norm = optax.tree.norm(grads)
        new = _keep_if_finite(jnp.isfinite(loss) & jnp.isfinite(norm), new, state)
        return new, {"recon_loss": loss, "grad_norm/mae": norm}

    def _reconstruction_error(
        self, mae_state: TrainState, norm: Normalizer, frames: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Per-frame MSE of decode(encode(frame)) for uint8 frames ``(B, h, w, 3)``, and that MSE
        relative to the frame's own variance (the error of predicting its mean colour)."""
        mae = mae_state.module()
        frames = frames.astype(jnp.float32) / 255.0
        patches = decode_latents(mae, encode_frames(mae, frames, norm), self.grid)
        mse = per_patch_mse(frames, patches, self.patch).mean(axis=1)
        variance = ((frames - frames.mean(axis=(1, 2), keepdims=True)) ** 2).mean(axis=(1, 2, 3))
        return mse, mse / jnp.maximum(variance, 1e-8)

    # --- one level's predictor ------------------------------------------------------------------
    def _forward(
        self,
        mae: Any,
        norm: Normalizer,
        nets: Any,
        context: jax.Array,
        actions: jax.Array,
        attention: bool = False,
    ) -> tuple:
        b, h = context.shape[:2]
        # The encoder learns through the newest context frame (the one the delta is added to);
        # the older ones are encoded without gradient, which keeps the step affordable on a CPU.
        older = encode_frames(mae, context[:, :-1].reshape(b * (h - 1), *context.shape[2:]), norm)
        older = jax.lax.stop_gradient(older.reshape(b, h - 1, *older.shape[1:]))
        newest = encode_frames(mae, context[:, -1], norm)
        z = jnp.concatenate([older, newest[:, None]], axis=1)
        out = nets.predictor(z, actions, return_attention=attention)
        patches = decode_latents(mae, out.mean, self.grid)
        frames = unpatchify(patches, self.patch, *self.frame_hw)
        return out, patches, frames

    def _predictor_step(
        self,
        mae_state: TrainState,
        norm: Normalizer,
        level_state: TrainState,
        batch: dict[str, jax.Array],
        key: jax.Array,
        *,
        classes: int,
        train_mae: bool,
    ) -> tuple[TrainState, TrainState, dict[str, jax.Array]]:
        cfg = self.config
        # Context and target rolled together: (B, H + 1, h, w, 3).
        both = jnp.concatenate([batch["context"], batch["target"][:, None]], axis=1)
        both = self._roll(both.astype(jnp.float32) / 255.0, key)
        context, target = both[:, :-1], both[:, -1]  # (B, H, h, w, 3), (B, h, w, 3)
        actions = batch["actions"]  # (B, H, A)

        def loss_fn(mae_p: Any, level_p: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
            mae = mae_state.module(mae_p if train_mae else jax.lax.stop_gradient(mae_p))
            # The predictor's losses reach the MAE scaled down (see scale_gradient).
            pred_p = scale_gradient(mae_p, cfg.encoder_grad_scale if train_mae else 0.0)
            mae_pred = mae_state.module(pred_p)
            nets = level_state.module(level_p)
            recon = self._recon_loss(mae, norm, target, key) if train_mae else jnp.zeros(())
            z_target = jax.lax.stop_gradient(encode_frames(mae, target, norm))
            out, patches, frames = self._forward(mae_pred, norm, nets, context, actions)
            latent = ((out.heads - z_target[:, None]) ** 2).mean()
            target_patches = patchify(target, self.patch)
            patch = self._weighted_mse(target, patches).mean()
            logits = nets.classifier(frames - context[:, -1])
            if classes > 0:
                labels = batch["classes"]
                action = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
                accuracy = (logits.argmax(-1) == labels).mean()
            else:  # a Box robot: regress the (normalised) action instead of classifying it
                action = ((logits - actions[:, -1]) ** 2).mean()
                accuracy = jnp.zeros(())
            total = (
                recon
                + cfg.patch_weight * patch
                + cfg.latent_weight * latent
                + cfg.action_weight * action
            )
            sse = ((patches - target_patches) ** 2).sum(axis=(1, 2))
            copy_sse = ((patchify(context[:, -1], self.patch) - target_patches) ** 2).sum(
                axis=(1, 2)
            )
            aux = {
                "recon_loss": recon,
                "patch_loss": patch,
                "latent_loss": latent,
                "action_loss": action,
                "action_accuracy": accuracy,
                "loss": total,
                "r2_vs_copy": 1.0
                - sse.sum() / jnp.maximum(copy_sse.sum(), 1e-6 * target_patches.size),
                "pred_error_first": sse[0] / target_patches[0].size,
            }
            return total, aux

        (loss, metrics), (g_mae, g_level) = jax.value_and_grad(
            loss_fn, argnums=(0, 1), has_aux=True
        )(mae_state.params, level_state.params)
        new_level = level_state.apply_gradients(g_level)
        stats = group_stats(g_level, level_state.params, new_level.params, level_group)
        total_sq = optax.tree.norm(g_level) ** 2
        if train_mae:
            new_mae = mae_state.apply_gradients(g_mae)
            stats.update(group_stats(g_mae, mae_state.params, new_mae.params, mae_group))
            total_sq = total_sq + optax.tree.norm(g_mae) ** 2
        else:
            new_mae = mae_state
        norm = jnp.sqrt(total_sq)
        finite = jnp.isfinite(loss) & jnp.isfinite(norm)
        metrics.update(stats)
        metrics["grad_norm"] = norm
        metrics["action_grad_fraction"] = stats["grad_norm/action"] / jnp.maximum(norm, 1e-12)
        return (
            _keep_if_finite(finite, new_mae, mae_state),
            _keep_if_finite(finite, new_level, level_state),
            metrics,
        )

    def _predict(
        self,
        mae_state: TrainState,
        norm: Normalizer,
        level_state: TrainState,
        context: jax.Array,
        actions: jax.Array,
        return_attention: bool = False,
    ) -> dict[str, Any]:
        """Next frames ``(B, h, w, 3)`` in [0, 1], ensemble variance ``(B,)``, predicted latents and
        (on request) the per-layer attention, from uint8 ``context (B, H, h, w, 3)``."""
        mae, nets = mae_state.module(), level_state.module()
        out, _, frames = self._forward(
            mae, norm, nets, context.astype(jnp.float32) / 255.0, actions, return_attention
        )
        result = {
            "frames": jnp.clip(frames, 0.0, 1.0),
            "variance": out.heads.var(axis=1).mean(axis=(1, 2)),
            "latent": out.mean,
        }
        if return_attention:
            result["attention"] = out.attention
        return result
