"""The pieces staged training and its sweep trials share: a stage's data, a model at a constant
learning rate (optionally from saved weights) and the train-and-validate segment loop with
loss-weighted sampling."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import jax
import numpy as np

from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.errors import DataError
from sensorimotor.core.rng import np_rng
from sensorimotor.train.canvas.config import canvas_model_config
from sensorimotor.train.canvas.staged_config import StagedConfig


@dataclass
class StageData:
    """A stage's training and validation canvases and the original session's (hybrid loss)."""

    train_frames: list[Any]
    val_frames: list[Any]
    train: Any  # CanvasDataset
    val: Any
    original: np.ndarray  # (M, H, W, 3) canvases of the original session, evenly spaced
    space: Any
    image_size: tuple[int, int]


def load_stage_data(
    config: StagedConfig, train: str | Path, val: str | Path, original: list[str | Path]
) -> StageData:
    """Read the sessions (views included) and build every canvas once."""
    from sensorimotor.train.canvas.batch import session_data
    from sensorimotor.worldmodels.canvas import CanvasLayout, action_palette
    from sensorimotor.worldmodels.sessions import CanvasDataset, check_same_space

    mc = canvas_model_config(config.model)
    size = tuple(mc.frame_size) if mc.frame_size else None
    root = config.sessions_root
    tr, space = session_data([str(train)], root, size, progress=False)
    va, vspace = session_data([str(val)], root, size or tr[0].frames.shape[1:3], progress=False)
    og, ospace = session_data([str(p) for p in original], root, tr[0].frames.shape[1:3], False)
    check_same_space([space, vspace, ospace], [tr[0].path, va[0].path, og[0].path])
    h, w = tr[0].frames.shape[1:3]
    layout = CanvasLayout(h, w, mc.slots, mc.separator_width, mc.patch_size)
    palette = (
        np.asarray(mc.palette[: len(space)], np.uint8) if mc.palette else action_palette(len(space))
    )
    original_set = CanvasDataset(og, layout, palette).canvases
    if len(original_set) > config.max_hybrid_canvases:
        pick = np.linspace(0, len(original_set) - 1, config.max_hybrid_canvases).round()
        original_set = original_set[pick.astype(int)]
    return StageData(
        tr,
        va,
        CanvasDataset(tr, layout, palette),
        CanvasDataset(va, layout, palette),
        original_set,
        space,
        tr[0].image_size,
    )


class ConstantLRModel:
    """Builds canvas world models whose learning rate and augmentation seed are *inputs* of the
    jitted train step (not constants traced into it), and keeps one per model shape, so every
    learning rate and seed of a sweep and every stage reuse one compiled step instead of compiling
    their own (with the shift augmentations on, a seed per stage and per phase-B trial used to
    cost one XLA compile each)."""

    _cache: ClassVar[dict[str, Any]] = {}

    @classmethod
    def get(cls, config: StagedConfig, data: StageData, seed: int) -> Any:
        from sensorimotor.core.config import config_to_dict
        from sensorimotor.robots.interface import jsonable

        trainer = dataclasses.replace(config.trainer, lr=1.0, min_lr=1.0, warmup_steps=0)
        key = json.dumps(
            [
                config_to_dict(config.model),
                config_to_dict(trainer),
                jsonable(data.space),
                data.image_size,
            ],
            sort_keys=True,
        )
        if key not in cls._cache:
            cls._cache[key] = _model_class()(
                canvas_model_config(config.model), trainer, data.space, data.image_size, seed=0
            )
        model = cls._cache[key]
        model.augment_seed = seed
        return model


def _model_class() -> type:
    from sensorimotor.core.numerics import check_finite
    from sensorimotor.core.rng import derive_seed
    from sensorimotor.worldmodels.model import CanvasWorldModel

    class _Model(CanvasWorldModel):
        lr = 1.0
        augment_seed = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.schedule = lambda lr: lr  # the "schedule step" argument carries the lr

        def train_batch(
            self, canvases: Any, schedule_step: int | None = None, batch_info: str = ""
        ) -> tuple[dict[str, float], np.ndarray]:
            """One AdamW step at ``self.lr`` (see :meth:`CanvasWorldModel.train_batch`)."""
            # The step argument only keys the augmentation (fold_in of a fixed key); mixing the
            # seed into it gives each seed its own rolls without a compile per seed.
            aug_step = derive_seed(self.augment_seed, "staged-augment", self.train_steps) % 2**31
            state, metrics, pred0 = self._train_step(
                self.state,
                canvases,
                np.int32(aug_step),
                np.float32(self.lr),
                self._require_normalizer(),
            )
            self.state = state
            metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
            where = f"staged train step (loss/gradients{'; ' + batch_info if batch_info else ''})"
            check_finite(metrics, step=self.train_steps, context=where)
            self.train_steps += 1
            return metrics, np.asarray(pred0)

    return _Model


def fresh_weights(config: StagedConfig, data: StageData, seed: int) -> dict[str, Any]:
    """Newly initialised weights (seeded) with the input z-score fitted on the training frames."""
    from sensorimotor.worldmodels.model import CanvasWorldModel

    model = CanvasWorldModel(
        canvas_model_config(config.model), config.trainer, data.space, data.image_size, seed=seed
    )
    model.fit_normalizer(data.train.frames())
    return host_state(model)


def build_model(config: StagedConfig, data: StageData, lr: float, seed: int, weights: Any) -> Any:
    """The (shared) model of this shape loaded with ``weights`` (a state dict; ``None`` = fresh
    seeded weights), training at the constant learning rate ``lr``."""
    model = ConstantLRModel.get(config, data, seed)
    if weights is None:
        weights = fresh_weights(config, data, seed)
    # The replay history is the online loop's; a checkpoint from another trainer may hold a
    # different number of frames, and batch training never reads it.
    model.load_state_dict({**weights, "history": model.history.state_dict()})
    model.lr = float(lr)
    model.seen_pairs = set(data.train.pairs)
    return model


def host_state(model: Any) -> dict[str, Any]:
    """The model's state dict copied to host memory (a snapshot that later steps do not change)."""
    return jax.tree.map(np.array, jax.device_get(model.state_dict()))


def save_weights(directory: Path, state: dict[str, Any], metadata: dict[str, Any]) -> str:
    """Save a state dict as the one checkpoint of ``directory``; returns the directory."""
    CheckpointManager(directory, keep=1).save(0, state, metadata)
    return str(directory)


def load_weights(directory: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The state dict and metadata saved by :func:`save_weights` (or any canvas checkpoint)."""
    manager = CheckpointManager(directory)
    if manager.latest() is None:
        raise DataError(f"{directory}: no checkpoint to start from")
    return manager.restore()


def mean_loss(model: Any, canvases: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean masked-slot loss of canvases and the per-canvas losses."""
    if len(canvases) == 0:
        return math.nan, np.zeros(0, np.float32)
    _, losses = model.predict_canvases(canvases)
    return float(np.mean(losses)), losses


def sampling_weights(losses: np.ndarray, temperature: float) -> np.ndarray | None:
    """Loss-weighted sampling probabilities ``p ~ loss^(1/T)`` (``None`` = uniform for ``T = 0``)."""
    if temperature == 0 or len(losses) == 0 or not np.all(np.isfinite(losses)):
        return None
    w = np.power(np.maximum(losses.astype(np.float64), 1e-12), 1.0 / temperature)
    return w / w.sum()


@dataclass
class Check:
    """One validation check of a segment."""

    step: int  # train steps of the segment so far
    train_loss: float
    val_loss: float
    lr: float


@dataclass
class Segment:
    """A run of train steps with a validation check every ``eval_every`` steps; the caller's
    ``on_check`` returns ``"stop"`` to end it early."""

    model: Any
    data: StageData
    seed: int
    eval_every: int
    temperature: float
    max_canvases: int = 0  # canvases scored per check and split (0 = all)
    step: int = 0  # train steps done (continued across resumes)
    checks: list[Check] = field(default_factory=list)
    probs: np.ndarray | None = None
    losses: np.ndarray | None = None  # the latest loss of every training canvas (NaN = not yet)

    def check(self) -> Check:
        """Score the training canvases (a random subset of ``max_canvases`` on large stages; the
        others keep their last loss for the sampling weights) and the validation canvases (evenly
        spaced ``max_canvases``)."""
        train, val, cap = self.data.train.canvases, self.data.val.canvases, self.max_canvases
        if self.losses is None:
            self.losses = np.full(len(train), np.nan, np.float32)
        idx = np.arange(len(train))
        if cap and len(train) > cap:
            idx = np.sort(np_rng(self.seed, "check", self.step).choice(len(train), cap, False))
        train_loss, scored = mean_loss(self.model, train[idx])
        self.losses[idx] = scored
        if cap and len(val) > cap:
            val = val[np.linspace(0, len(val) - 1, cap).round().astype(int)]
        val_loss, _ = mean_loss(self.model, val)
        filled = np.where(np.isnan(self.losses), np.nanmean(self.losses), self.losses)
        self.probs = sampling_weights(filled, self.temperature)
        c = Check(self.step, train_loss, val_loss, float(self.model.lr))
        self.checks.append(c)
        return c

    def run(
        self,
        steps: int,
        on_check: Callable[[Check], str | None],
        deadline: float | None = None,
    ) -> str:
        """Train until ``steps`` (total), ``on_check`` says stop, or ``deadline`` passes;
        returns ``"steps"``, the check's reason, or ``"time"`` (after a check of the last step)."""
        model, data = self.model, self.data
        batch = model.trainer.batch_size
        if self.probs is None and self.temperature:
            self.check()
        while self.step < steps:
            rng = np_rng(self.seed, "staged-batch", self.step)
            idx = rng.choice(len(data.train), size=batch, p=self.probs)
            model.train_batch(data.train.canvases[idx])
            self.step += 1
            if self.step % self.eval_every == 0 or self.step == steps:
                reason = on_check(self.check())
                if reason:
                    return reason
            if deadline is not None and time.monotonic() > deadline:
                # Score the weights the time budget stopped at (a short sweep trial whose first
                # step compiled past its budget would otherwise end with no validation loss).
                unscored = not self.checks or self.checks[-1].step != self.step
                return (unscored and on_check(self.check())) or "time"
        return "steps"
