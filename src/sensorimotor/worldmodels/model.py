"""The canvas world model: an MAE ViT that inpaints the next frame on a canvas, trained online.

:class:`CanvasWorldModel` owns the network parameters, the AdamW state and the recent history; its
online loop (:mod:`sensorimotor.worldmodels.online`) and the replay sampling
(:mod:`sensorimotor.worldmodels.replay`) live beside it. One iteration of
:meth:`CanvasWorldModel.step`:

1. observe the robot's frame and score the previous prediction against it;
2. train one step on the newest canvas (plus replayed canvases from the history), unless the
   prediction error is below ``trainer.skip_threshold``;
3. ask the selector for an action, predict the next frame under it, execute the action.

The same jitted train step serves batch training on recorded sessions
(:mod:`sensorimotor.worldmodels.sessions`). Everything needed to continue exactly where a run
stopped is in :meth:`state_dict` (parameters, optimiser and schedule step, history, pending
prediction, counters, the actions taken).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from sensorimotor.core.checkpoint import nested_to_tree, tree_to_nested
from sensorimotor.core.errors import ConfigError
from sensorimotor.core.normalize import Normalizer
from sensorimotor.core.numerics import check_finite
from sensorimotor.core.rng import derive_seed
from sensorimotor.learners.optim import make_optimizer, warmup_cosine_schedule
from sensorimotor.learners.state import TrainState
from sensorimotor.nn.vit import MAEConfig, MaskedAutoencoderViT, per_patch_mse, unpatchify
from sensorimotor.robots.interface import Action, ActionSpace, Box
from sensorimotor.worldmodels.canvas import CanvasLayout, action_palette, fit_frame_zscore
from sensorimotor.worldmodels.config import CanvasModelConfig, CanvasTrainerConfig
from sensorimotor.worldmodels.history import FrameHistory
from sensorimotor.worldmodels.online import CanvasVisualState, OnlineLoop, StepInfo
from sensorimotor.worldmodels.replay import pair_key, sample_balanced

__all__ = [
    "CanvasWorldModel",
    "CanvasVisualState",
    "StepInfo",
    "discrete_actions",
    "canvas_optimizer",
    "lr_schedule",
    "pair_key",
    "sample_balanced",
]


def discrete_actions(space: ActionSpace, who: str = "the canvas world model") -> list[Action]:
    """The action list of a discrete space; a clear error for a continuous one."""
    if isinstance(space, Box):
        raise ConfigError(
            f"{who} encodes actions as separator colours and needs a discrete action space, "
            f"but the robot's is continuous ({space}); use a robot with a list of actions"
        )
    if not space:
        raise ConfigError(f"{who} needs at least one action; the robot's action space is empty")
    return list(space)


def lr_schedule(trainer: CanvasTrainerConfig, total_steps: int | None) -> optax.Schedule:
    """Linear warm-up to ``trainer.lr``, then cosine decay to ``trainer.min_lr`` (constant when the
    length is unknown)."""
    return warmup_cosine_schedule(
        trainer.lr,
        warmup_steps=trainer.warmup_steps,
        decay_steps=trainer.decay_steps or total_steps,
        end_value=trainer.min_lr,
    )


def canvas_optimizer(
    trainer: CanvasTrainerConfig, total_steps: int | None
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """AdamW without its learning rate (global-norm clipping first when configured) and the
    warm-up + cosine schedule. The train step scales the update by ``-schedule(step)`` itself, so
    an online run can follow its iterations (train steps skipped below the threshold still advance
    the schedule) and a batch run its train steps."""
    tx = make_optimizer(
        None,
        b1=trainer.b1,
        b2=trainer.b2,
        weight_decay=trainer.weight_decay,
        grad_clip=trainer.grad_clip,
    )
    return tx, lr_schedule(trainer, total_steps)


class CanvasWorldModel(OnlineLoop):
    """MAE canvas world model + AdamW + recent history; the online loop comes from
    :class:`~sensorimotor.worldmodels.online.OnlineLoop` (see the module doc)."""

    def __init__(
        self,
        config: CanvasModelConfig,
        trainer: CanvasTrainerConfig,
        action_space: ActionSpace,
        image_size: tuple[int, int],
        *,
        seed: int = 0,
        total_steps: int | None = None,
    ) -> None:
        self.config = config
        self.trainer = trainer
        self.seed = seed
        self.actions = discrete_actions(action_space)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        frame_size = tuple(config.frame_size) if config.frame_size else self.image_size
        try:
            self.layout = CanvasLayout(
                frame_size[0],
                frame_size[1],
                config.slots,
                config.separator_width,
                config.patch_size,
            )
            mae = MAEConfig(
                patch_size=config.patch_size,
                channels=3,
                width=config.width,
                depth=config.depth,
                heads=config.heads,
                mlp_ratio=config.mlp_ratio,
                decoder_width=config.decoder_width,
                decoder_depth=config.decoder_depth,
                decoder_heads=config.decoder_heads,
                norm_pix_loss=config.norm_pix_loss,
                dtype=config.dtype,
            )
        except ValueError as e:
            raise ConfigError(f"model: {e}") from None
        if config.norm_pix_loss:
            # Targets normalised per patch cannot be turned back into pixels without the (unknown)
            # target statistics, so predictions would be meaningless.
            raise ConfigError(
                "model.norm_pix_loss=true trains on per-patch normalised targets, which cannot be turned "
                "back into a predicted frame; the canvas world model needs pixel targets"
            )
        if config.palette is not None:
            if len(config.palette) < len(self.actions):
                raise ConfigError(
                    f"model.palette has {len(config.palette)} colours but the robot has {len(self.actions)} actions"
                )
            self.palette = np.asarray(config.palette[: len(self.actions)], np.uint8)
        else:
            self.palette = action_palette(len(self.actions))
        self.mae_config = mae
        self.frame_shape = (self.layout.frame_height, self.layout.frame_width, 3)
        net = MaskedAutoencoderViT(mae, rngs=nnx.Rngs(derive_seed(seed, "canvas", "init")))
        graphdef, self._state_template = nnx.split(net)
        self.total_steps = total_steps
        tx, self.schedule = canvas_optimizer(trainer, total_steps)
        # Parameters as a plain dict of arrays: cheaper to pass into jitted functions than NNX state.
        params = nnx.to_pure_dict(self._state_template)
        self.state = TrainState(
            graphdef=graphdef, params=params, rest=nnx.State({}), opt_state=tx.init(params), tx=tx
        )
        self.history = FrameHistory(trainer.history, self.frame_shape, config.slots)
        self._mask = self.layout.target_mask
        self._keep = self.layout.visible_patches
        self._train_step = jax.jit(self._train_step_fn, donate_argnums=(0,))
        self._augmented = jax.jit(self._augmented_fn)
        self._predict = jax.jit(self._predict_fn)
        self.normalizer: Normalizer | None = None
        # Online state.
        self.iteration = 0
        self.train_steps = 0
        self.skipped = 0
        self.prediction: np.ndarray | None = None  # (h, w, 3) float in [0, 1]
        self.action_log: list[int] = []
        self.seen_pairs: set[int] = set()
        self._visual = CanvasVisualState()
        self._visual_pending = None
        self.newest_frame = None
        self.last_train_seconds = 0.0
        self.track_visuals = True

    # ------------------------------------------------------------------ pure pieces

    @property
    def num_actions(self) -> int:
        return len(self.actions)

    @property
    def params(self) -> Any:
        """The network parameters (a plain dict of arrays, as in the train state)."""
        return self.state.params

    @property
    def opt_state(self) -> Any:
        """The optimiser state of the train state."""
        return self.state.opt_state

    @property
    def graphdef(self) -> nnx.GraphDef:
        return self.state.graphdef

    @property
    def num_params(self) -> int:
        return int(sum(x.size for x in jax.tree.leaves(self.params)))

    def network(self, params: Any = None) -> MaskedAutoencoderViT:
        """The network with ``params`` (default: the current ones), e.g. to look at attention maps."""
        state = jax.tree.map(lambda x: x, self._state_template)
        nnx.replace_by_pure_dict(state, self.params if params is None else params)
        return nnx.merge(self.graphdef, state)

    @staticmethod
    def _inputs(canvases: jax.Array, normalizer: Normalizer) -> tuple[jax.Array, jax.Array]:
        """Pixels in [0, 1] (the regression targets) and the z-scored network inputs."""
        pixels = canvases.astype(jnp.float32) / 255.0
        return pixels, normalizer.normalize(pixels)

    def fit_normalizer(self, frames: np.ndarray) -> Normalizer:
        """Fit the per-channel z-score of the network inputs on frames ``(T, h, w, 3)`` uint8."""
        self.normalizer = fit_frame_zscore(frames)
        return self.normalizer

    def _require_normalizer(self) -> Normalizer:
        if self.normalizer is None:
            raise RuntimeError(
                "the input normaliser is not fitted yet: call fit_normalizer(frames) first"
            )
        return self.normalizer

    def _augment(self, canvases: jax.Array, key: jax.Array) -> jax.Array:
        """Roll every slot of each canvas by the same random amount (x) / the whole canvas (y)."""
        b, h, w, _ = canvases.shape
        kx, ky = jax.random.split(key)
        if "roll_x" in self.trainer.augment:
            fw = self.layout.frame_width
            shift = self._roll_x_shifts(canvases, kx)[:, None]
            cols = np.arange(w)
            starts = np.full(w, -1)
            for s in range(self.layout.slots):
                x0 = self.layout.slot_start(s)
                starts[x0 : x0 + fw] = x0
            inside = jnp.asarray(starts >= 0)
            src = jnp.where(
                inside, starts + (cols - starts - shift) % fw, jnp.broadcast_to(cols, (b, w))
            )
            canvases = jnp.take_along_axis(canvases, src[:, None, :, None], axis=2)
        if "roll_y" in self.trainer.augment:
            shift = jax.random.randint(ky, (b, 1), 0, h)
            rows = (jnp.arange(h)[None, :] - shift) % h
            canvases = jnp.take_along_axis(canvases, rows[:, :, None, None], axis=1)
        return canvases

    def _roll_x_shifts(self, canvases: jax.Array, key: jax.Array) -> jax.Array:
        """``(B,)`` x rolls: uniform in ``[0, frame_width)``, except for a ``trainer.seam_fraction``
        of the canvases whose target differs from the last context frame: their roll puts the
        centre of the change (circular mean of the changed columns) within a quarter patch of a
        patch-column edge: the frame edge for a ``trainer.seam_frame_share`` of them, else one of
        the frame's inner patch-column edges, drawn uniformly.

        Why: every roll is an equally valid world, but the patch grid breaks it into columns, so
        content that crosses from one patch column to the next (and, across the frame edge, from
        the last to the first: the move that wraps around) is a relation the model learns per
        edge. Uniform rolls give each edge of the toroidal dot's 4-column frame ~1 move in 8;
        aiming at the frame edge alone made the wrap common but halved the inner edges, which some
        seeds then had not learned after 3000 iterations. The wrap keeps the larger share: it
        links the last patch column to the first, whose position embeddings have nothing in
        common, while an inner edge links neighbours (uniform rolls learned those, not the wrap).
        """
        b = canvases.shape[0]
        fw = self.layout.frame_width
        fraction = self.trainer.seam_fraction
        if not fraction:
            return jax.random.randint(key, (b, 1), 0, fw)[:, 0]
        k_uniform, k_edge, k_frame, k_at, k_use = jax.random.split(key, 5)
        uniform = jax.random.randint(k_uniform, (b,), 0, fw)
        last = self.layout.slot_start(self.layout.slots - 2)
        target = self.layout.target_start
        change = jnp.abs(
            canvases[:, :, target : target + fw].astype(jnp.float32)
            - canvases[:, :, last : last + fw].astype(jnp.float32)
        ).sum(axis=(1, 3))  # (B, fw)
        angle = 2 * jnp.pi * (jnp.arange(fw) + 0.5) / fw
        centre = jnp.arctan2(change @ jnp.sin(angle), change @ jnp.cos(angle)) * fw / (2 * jnp.pi)
        patch = min(self.layout.patch_size, fw)
        inner = jax.random.randint(k_edge, (b,), 1, max(2, fw // patch)) * patch
        frame = jax.random.uniform(k_frame, (b,)) < self.trainer.seam_frame_share
        edge = jnp.where(frame | (fw // patch < 2), 0, inner)
        band = max(1, patch // 4)
        at = edge + jax.random.randint(k_at, (b,), -band, band + 1)  # where the centre lands
        seam = jnp.round(at - centre).astype(jnp.int32) % fw
        use = (jax.random.uniform(k_use, (b,)) < fraction) & (change.sum(axis=1) > 0)
        return jnp.where(use, seam, uniform)

    def _augmented_fn(self, canvases: jax.Array, step: jax.Array) -> jax.Array:
        """The canvases as train step ``step`` sees them (same key, same rolls)."""
        key = jax.random.fold_in(jax.random.key(derive_seed(self.seed, "augment")), step)
        return self._augment(canvases, key)

    def _train_step_fn(
        self,
        state: TrainState,
        canvases: jax.Array,
        step: jax.Array,
        schedule_step: jax.Array,
        normalizer: Normalizer,
    ) -> tuple[TrainState, dict[str, jax.Array], jax.Array]:
        """The pure train step: ``(train state, canvases, ...) -> (new state, metrics, the first
        canvas's decoded patches)``."""
        if self.trainer.augment:
            key = jax.random.fold_in(jax.random.key(derive_seed(self.seed, "augment")), step)
            canvases = self._augment(canvases, key)
        pixels, inputs = self._inputs(canvases, normalizer)
        params, opt_state = state.params, state.opt_state

        def loss_fn(p: Any) -> tuple[jax.Array, jax.Array]:
            net = self.network(p)
            out = net(inputs, self._mask, keep=self._keep)
            return net.loss(pixels, out.pred, out.mask), out.pred

        (loss, pred), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, new_opt_state = state.tx.update(grads, opt_state, params)
        lr = self.schedule(schedule_step)
        new_params = jax.tree.map(lambda p, u: p - lr * u, params, updates)
        grad_norm = optax.tree.norm(grads)
        # A non-finite step leaves parameters and optimiser state as they were (the inputs are
        # donated, so the old values would otherwise be gone); the host then raises.
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        keep = lambda new, old: jnp.where(finite, new, old)  # noqa: E731
        state = state.replace(
            params=jax.tree.map(keep, new_params, params),
            opt_state=jax.tree.map(keep, new_opt_state, opt_state),
        )
        metrics = {"loss": loss, "grad_norm": grad_norm, "lr": lr}
        return state, metrics, pred[0]

    def _predict_fn(
        self, params: Any, canvases: jax.Array, normalizer: Normalizer
    ) -> tuple[jax.Array, jax.Array]:
        pixels, inputs = self._inputs(canvases, normalizer)
        net = self.network(params)
        out = net(inputs, self._mask, keep=self._keep)
        h, w = self.layout.canvas_height, self.layout.canvas_width
        image = unpatchify(out.pred, self.layout.patch_size, h, w)
        x = self.layout.target_start
        frames = jnp.clip(image[:, :, x : x + self.layout.frame_width, :], 0.0, 1.0)
        errors = per_patch_mse(pixels, out.pred, self.layout.patch_size)
        masked = jnp.asarray(self._mask, jnp.float32)
        return frames, (errors * masked).sum(axis=1) / masked.sum()

    def train_batch(
        self,
        canvases: np.ndarray | jax.Array,
        schedule_step: int | None = None,
        batch_info: str = "",
    ) -> tuple[dict[str, float], np.ndarray]:
        """One AdamW step on canvases ``(B, H, W, 3)`` uint8 (target slot filled), with the learning
        rate of ``schedule_step`` (default: the number of train steps so far).

        Returns the metrics (loss, grad_norm, lr) and the decoder's patches for the first canvas
        ``(N, p*p*3)`` (a device array: ``np.asarray`` it when needed). Raises :class:`~sensorimotor.core.numerics.NonFiniteError` on NaN/Inf.
        """
        state, metrics, pred0 = self._train_step(
            self.state,
            canvases,
            np.int32(self.train_steps),
            np.int32(self.train_steps if schedule_step is None else schedule_step),
            self._require_normalizer(),
        )
        self.state = state  # unchanged when the step was not finite
        metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        where = f"canvas train step (loss/gradients{'; ' + batch_info if batch_info else ''})"
        check_finite(metrics, step=self.train_steps, context=where)
        self.train_steps += 1
        return metrics, pred0

    def predict_canvases(
        self, canvases: np.ndarray, batch_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Inpaint the target slot of canvases ``(M, H, W, 3)`` uint8.

        Returns predicted frames ``(M, h, w, 3)`` float in [0, 1] and each canvas's masked-slot MSE
        against whatever its target slot holds (meaningful when it holds the true frame). Runs in
        fixed-size batches (the last one padded) so one compilation serves every call.
        """
        canvases = np.asarray(canvases)
        m = len(canvases)
        size = batch_size or (m if m <= 1 else self.trainer.eval_batch_size)
        frames, errors = [], []
        for start in range(0, m, size):
            chunk = canvases[start : start + size]
            pad = size - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
            f, e = self._predict(self.params, chunk, self._require_normalizer())
            frames.append(np.asarray(f)[: size - pad])
            errors.append(np.asarray(e)[: size - pad])
        if not frames:
            return np.zeros((0, *self.frame_shape), np.float32), np.zeros(0, np.float32)
        return np.concatenate(frames), np.concatenate(errors)

    def build_canvases(
        self, frames: np.ndarray, actions: np.ndarray, blank_target: bool = False
    ) -> np.ndarray:
        """Canvases from frames ``(..., K, h, w, 3)`` (or ``K-1`` with ``blank_target``) and actions."""
        return self.layout.build(frames, actions, self.palette, blank_target)

    def counterfactual(self, context: np.ndarray, previous_actions: np.ndarray) -> np.ndarray:
        """The next frame under every action: context frames ``(M, K-1, h, w, 3)`` and the actions
        between them ``(M, K-2)`` → predictions ``(M, A, h, w, 3)`` float in [0, 1]."""
        m, a = len(context), self.num_actions
        ctx = np.repeat(context[:, None], a, axis=1)
        acts = np.concatenate(
            [
                np.repeat(np.asarray(previous_actions)[:, None, :], a, axis=1),
                np.broadcast_to(np.arange(a)[None, :, None], (m, a, 1)),
            ],
            axis=2,
        )
        canvases = self.build_canvases(ctx, acts, blank_target=True).reshape(
            m * a, *self.layout.shape
        )
        frames, _ = self.predict_canvases(canvases)
        return frames.reshape(m, a, *self.frame_shape)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: params, optimiser state, history, pending prediction,
        counters, actions taken and the (frame, action) pairs seen (as a pytree of arrays)."""
        pairs = np.fromiter(sorted(self.seen_pairs), np.uint64, len(self.seen_pairs))
        norm = self.normalizer
        return {
            "normalizer": {
                "fitted": np.asarray(norm is not None, np.int8),
                "shift": np.zeros(3, np.float32) if norm is None else np.asarray(norm.shift),
                "scale": np.ones(3, np.float32) if norm is None else np.asarray(norm.scale),
            },
            "params": tree_to_nested(self.params, sep=".", strip_value=True),
            "opt_state": tree_to_nested(self.opt_state, sep=".", strip_value=True),
            "history": self.history.state_dict(),
            "online": {
                "iteration": np.asarray(self.iteration, np.int64),
                "train_steps": np.asarray(self.train_steps, np.int64),
                "skipped": np.asarray(self.skipped, np.int64),
                "has_prediction": np.asarray(self.prediction is not None, np.int8),
                "prediction": np.zeros(self.frame_shape, np.float32)
                if self.prediction is None
                else self.prediction,
                # orbax cannot store empty arrays: keep a leading sentinel.
                "actions": np.asarray([-1, *self.action_log], np.int32),
                "pairs": np.concatenate([np.zeros(1, np.uint64), pairs]),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` output (as read back from a checkpoint)."""
        self.state = self.state.replace(
            params=nested_to_tree(
                self.params, state["params"], where="checkpoint params", sep=".", strip_value=True
            ),
            opt_state=nested_to_tree(
                self.opt_state,
                state["opt_state"],
                where="checkpoint optimiser state",
                sep=".",
                strip_value=True,
            ),
        )
        self.history.load_state_dict(state["history"])
        norm = state["normalizer"]
        self.normalizer = (
            Normalizer.from_dict({"kind": "zscore", "shift": norm["shift"], "scale": norm["scale"]})
            if bool(norm["fitted"])
            else None
        )
        online = state["online"]
        self.iteration = int(online["iteration"])
        self.train_steps = int(online["train_steps"])
        self.skipped = int(online["skipped"])
        self.prediction = (
            np.asarray(online["prediction"], np.float32) if bool(online["has_prediction"]) else None
        )
        self.action_log = [int(a) for a in np.asarray(online["actions"])[1:]]
        self.seen_pairs = {int(p) for p in np.asarray(online["pairs"])[1:]}
