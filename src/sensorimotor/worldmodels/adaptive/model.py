"""The adaptive world model: an MAE that learns to see and, per hierarchy level, a predictor of the
next latent from recent frames and actions; it acts once it sees well and explores by uncertainty.

One online iteration (:meth:`AdaptiveWorldModel.step`):

1. observe; score the pending level-1 prediction; until ``trainer.normalizer_frames`` frames
   have been seen the robot acts at random and nothing trains (the input z-score is fitted on
   those frames, as the canvas model does);
2. gate: while the frame's reconstruction error relative to the frame's own variance is above
   ``reconstruction_threshold`` the autoencoder trains and the robot waits (the frame replaces the
   newest one in the history);
3. otherwise every level scores its fresh sample and trains when the error is above
   ``prediction_threshold`` (level 1 trains the encoder jointly); a settled top level spawns the
   next (:mod:`.levels`);
4. the next action is the one whose predicted outcome the ensemble heads disagree on most
   (``selector=uncertainty``) or the run's selector's (``external``); the robot executes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
from flax import nnx

from sensorimotor.core.checkpoint import nested_to_tree, tree_to_nested
from sensorimotor.core.errors import ConfigError, DataError
from sensorimotor.core.normalize import Normalizer
from sensorimotor.core.rng import derive_seed, np_rng
from sensorimotor.learners.optim import make_optimizer, warmup_cosine_schedule
from sensorimotor.learners.state import TrainState
from sensorimotor.nn.vit import MAEConfig, MaskedAutoencoderViT, grid_shape
from sensorimotor.robots.interface import Action, ActionSpace, Box, Observation, Robot, action_index
from sensorimotor.worldmodels.adaptive.actions import ActionNormalizer
from sensorimotor.worldmodels.adaptive.config import AdaptiveModelConfig
from sensorimotor.worldmodels.adaptive.history import AdaptiveHistory
from sensorimotor.worldmodels.adaptive.levels import LevelTracker, should_add_level
from sensorimotor.worldmodels.adaptive.networks import ActionClassifier, ActionPredictor, LevelNets
from sensorimotor.worldmodels.adaptive.steps import AdaptiveSteps
from sensorimotor.worldmodels.canvas import fit_frame_zscore, prepare_frame
from sensorimotor.worldmodels.config import CanvasTrainerConfig
from sensorimotor.worldmodels.replay import pair_key


@dataclass
class Level:
    """One hierarchy level: ``k``-step chunks, its nets + optimiser, counters and last metrics."""

    k: int
    state: TrainState
    tracker: LevelTracker
    classes: int  # action classes of a chunk (0: a Box robot, the action is regressed)
    train_steps: int = 0
    skipped: int = 0
    last_error: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class AdaptiveStepInfo:
    """One online iteration, as passed to callbacks."""

    iteration: int
    gated: bool
    pred_error: float | None
    recon_error: float | None  # None until the input normaliser is fitted
    action: Action | None
    action_index: int | None
    seconds: float
    extra: dict[str, float] = field(default_factory=dict)


class AdaptiveWorldModel:
    """MAE + per-level action-conditioned predictors, trained online on a robot."""

    def __init__(
        self,
        config: AdaptiveModelConfig,
        trainer: CanvasTrainerConfig,
        action_space: ActionSpace,
        image_size: tuple[int, int],
        *,
        seed: int = 0,
    ) -> None:
        self.config, self.trainer, self.seed = config, trainer, seed
        self.action_space = action_space
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.normalizer = ActionNormalizer.from_space(
            action_space, config.action_channels, config.action_ranges
        )
        self.actions: list[Action] | None = (
            None if isinstance(action_space, Box) else list(action_space)
        )
        frame_hw = tuple(config.frame_size) if config.frame_size else self.image_size
        try:
            self.grid = grid_shape(frame_hw[0], frame_hw[1], config.patch_size)
            self.mae_config = MAEConfig(
                patch_size=config.patch_size,
                width=config.width,
                depth=config.depth,
                heads=config.heads,
                mlp_ratio=config.mlp_ratio,
                decoder_width=config.decoder_width,
                decoder_depth=config.decoder_depth,
            )
        except ValueError as e:
            raise ConfigError(f"model: {e}") from None
        self.frame_shape = (int(frame_hw[0]), int(frame_hw[1]), 3)
        mae = MaskedAutoencoderViT(
            self.mae_config, rngs=nnx.Rngs(derive_seed(seed, "adaptive", "mae"))
        )
        self.mae = TrainState.create(mae, self._optimizer())
        self.steps = AdaptiveSteps(config, self.frame_shape[:2], self.grid, tuple(trainer.augment))
        self.history = AdaptiveHistory(trainer.history, self.frame_shape, self.normalizer.dim)
        self.levels: list[Level] = []
        self.add_level()
        # Online state.
        self.iteration = self.robot_steps = self.gated_steps = self.mae_steps = 0
        self.prediction: np.ndarray | None = None  # (h, w, 3) in [0, 1]: level 1, chosen action
        self.candidates: dict[str, np.ndarray] | None = None  # predictions under every candidate
        self.action_log: list[np.ndarray] = []  # raw action values taken, in order
        self.seen_pairs: set[int] = set()
        self.last_recon = self.last_recon_relative = float("inf")  # the gate's numbers
        self.input_norm: Normalizer | None = None  # z-score of the network inputs
        self.last_mae_metrics: dict[str, float] = {}

    # --- construction ------------------------------------------------------------------------
    def _optimizer(self) -> Any:
        t = self.trainer
        schedule = warmup_cosine_schedule(
            t.lr, warmup_steps=t.warmup_steps, decay_steps=t.decay_steps, end_value=t.min_lr
        )
        return make_optimizer(
            schedule, b1=t.b1, b2=t.b2, weight_decay=t.weight_decay, grad_clip=t.grad_clip
        )

    @property
    def num_actions(self) -> int:
        return len(self.actions) if self.actions is not None else 0

    def add_level(self) -> Level:
        """Create level ``len(levels) + 1`` (its own predictor, classifier and optimiser)."""
        cfg, k = self.config, len(self.levels) + 1
        rngs = nnx.Rngs(derive_seed(self.seed, "adaptive", "level", k))
        classes = self.num_actions**k if self.actions is not None else 0
        predictor = ActionPredictor(
            latent_dim=cfg.width,
            grid=self.grid,
            action_dim=k * self.normalizer.dim,
            history=cfg.history,
            width=cfg.predictor_width,
            depth=cfg.predictor_depth,
            heads=cfg.predictor_heads,
            action_embed_dim=cfg.action_embed_dim,
            film_hidden=cfg.film_hidden,
            film_block_ids=tuple(cfg.film_block_ids),
            ensemble_heads=cfg.ensemble_heads,
            delta=cfg.delta,
            max_tokens=cfg.max_tokens,
            rngs=rngs,
        )
        classifier = ActionClassifier(classes or k * self.normalizer.dim, rngs=rngs)
        state = TrainState.create(LevelNets(predictor, classifier), self._optimizer())
        tracker = LevelTracker(cfg.prediction_threshold, cfg.level_patience)
        level = Level(k, state, tracker, classes)
        self.levels.append(level)
        return level

    # --- frames and predictions ----------------------------------------------------------------
    def prepare(self, observation: Observation) -> np.ndarray:
        """The observation's image as a model frame ``(h, w, 3)`` uint8."""
        if "image" not in observation:
            raise DataError(
                f"the adaptive world model needs observation['image']; the robot gives {sorted(observation)}"
            )
        try:
            return prepare_frame(observation["image"], self.frame_shape[:2])
        except ValueError as e:
            raise DataError(f"observation['image']: {e}") from None

    def fit_input_norm(self, frames: np.ndarray) -> Normalizer:
        """Fit the per-channel z-score of the network inputs on uint8 ``frames (T, h, w, 3)``."""
        self.input_norm = fit_frame_zscore(frames)
        return self.input_norm

    def _input_norm(self) -> Normalizer:
        if self.input_norm is None:
            raise RuntimeError(
                "the input normaliser is not fitted yet: step the model "
                f"{self.trainer.normalizer_frames} times or call fit_input_norm(frames)"
            )
        return self.input_norm

    def reconstruction_error(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame MSE of the autoencoder's reconstruction of uint8 ``frames (B, h, w, 3)`` and
        that MSE over the frame's variance (what the gate compares with its threshold)."""
        mse, rel = self.steps.reconstruction_error(self.mae, self._input_norm(), np.asarray(frames))
        return np.asarray(mse), np.asarray(rel)

    def predict(
        self,
        context: np.ndarray,
        actions: np.ndarray,
        level: int = 1,
        *,
        return_attention: bool = False,
        batch_size: int = 64,
    ) -> dict[str, Any]:
        """Predictions of ``level`` for uint8 ``context (B, H, h, w, 3)`` and normalised action
        chunks ``(B, H, k*C)``: ``frames`` ``(B, h, w, 3)`` in [0, 1], ensemble ``variance`` ``(B,)``
        (and ``attention`` per layer, for one batch)."""
        state = self.levels[level - 1].state
        parts: dict[str, list] = {}
        for i in range(0, len(context), batch_size):
            out = self.steps.predict(
                self.mae,
                self._input_norm(),
                state,
                np.asarray(context[i : i + batch_size]),
                np.asarray(actions[i : i + batch_size], np.float32),
                return_attention=return_attention,
            )
            for key, value in out.items():
                parts.setdefault(key, []).append(value)
        result: dict[str, Any] = {
            key: np.concatenate([np.asarray(v) for v in values])
            for key, values in parts.items()
            if key != "attention"
        }
        if return_attention:
            result["attention"] = [np.asarray(w) for w in parts["attention"][0]]
        return result

    def action_vectors(self, indices: np.ndarray) -> np.ndarray:
        """Discrete action indices ``(...)`` → normalised vectors ``(..., C)``."""
        table = np.stack([self.normalizer.normalize(a) for a in self.actions or []])
        return table[np.asarray(indices)]

    def counterfactual(self, context: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """Level-1 next frames under every discrete action: uint8 ``context (M, H, h, w, 3)``,
        ``previous (M, H-1)`` indices → ``(M, A, h, w, 3)`` in [0, 1]."""
        m, a = len(context), self.num_actions
        ctx = np.repeat(context, a, axis=0)
        idx = np.concatenate(
            [np.repeat(previous, a, axis=0), np.tile(np.arange(a), m)[:, None]], axis=1
        )
        frames = self.predict(ctx, self.action_vectors(idx))["frames"]
        return frames.reshape(m, a, *frames.shape[1:])

    # --- the online loop ------------------------------------------------------------------------
    def _rng(self, *names: str) -> np.random.Generator:
        # Stateless per iteration, so a resumed run draws exactly what the uninterrupted one would.
        return np_rng(self.seed, "adaptive", self.iteration, *names)

    def _key(self, *names: str | int) -> jax.Array:
        return jax.random.key(derive_seed(self.seed, "adaptive", self.iteration, *names))

    def _train_mae(self) -> dict[str, float]:
        rng = self._rng("mae")
        held = np.arange(self.history.oldest, self.history.count)
        picks = rng.choice(held, self.trainer.batch_size - 1) if len(held) > 1 else held[:0]
        ts = np.concatenate([[self.history.count - 1], picks])
        frames = self.history.frames[ts % self.history.capacity]
        self.mae, metrics = self.steps.mae_step(
            self.mae, self._input_norm(), frames, self._key("mae")
        )
        self.mae_steps += 1
        return {k: float(v) for k, v in jax.device_get(metrics).items()}

    def _fresh_error(self, level: Level, end: int) -> float:
        """The level's prediction error (pixel MSE) on the sample ending at the newest frame."""
        if level.k == 1 and self.prediction is not None:
            target = self.history.frame(end).astype(np.float32) / 255.0
            return float(np.mean((self.prediction - target) ** 2))
        batch = self.history.sample(
            np.asarray([end]), level.k, self.config.history, self.num_actions
        )
        out = self.predict(batch["context"], batch["actions"], level.k)
        return float(np.mean((out["frames"][0] - batch["target"][0] / 255.0) ** 2))

    def _train_level(self, level: Level) -> None:
        """Score the level's fresh sample; train on it (+ replay) when above the threshold."""
        h = self.config.history
        ends = self.history.valid_ends(level.k, h)
        newest = self.history.count - 1
        if len(ends) == 0 or ends[-1] != newest:
            return
        error = self._fresh_error(level, newest)
        level.last_error = error
        level.tracker.update(error)
        if error <= self.config.prediction_threshold:
            level.skipped += 1
            return
        rng = self._rng("replay", str(level.k))
        picks = rng.choice(ends, self.trainer.batch_size - 1) if len(ends) > 1 else ends[:0]
        batch = self.history.sample(np.concatenate([[newest], picks]), level.k, h, self.num_actions)
        self.mae, level.state, metrics = self.steps.predictor_step(
            self.mae,
            self._input_norm(),
            level.state,
            batch,
            self._key("level", level.k),
            classes=level.classes,
            train_mae=level.k == 1,
        )
        level.metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        level.train_steps += 1

    def candidate_actions(self) -> list[Action]:
        """The actions scored each step: every discrete action, or ``box_candidates`` draws."""
        if self.actions is not None:
            return list(self.actions)
        rng = self._rng("candidates")
        return [self.action_space.sample(rng) for _ in range(self.config.box_candidates)]

    def score_candidates(self, candidates: list[Action]) -> dict[str, np.ndarray] | None:
        """Level-1 predictions under each candidate action (``frames``, ensemble ``variance``);
        None while the history is too short."""
        ctx = self.history.context_for_next(1, self.config.history)
        if ctx is None or self.input_norm is None:
            return None
        frames, previous = ctx
        vectors = np.stack([self.normalizer.normalize(a) for a in candidates])
        n = len(candidates)
        actions = np.concatenate([np.repeat(previous[None], n, axis=0), vectors[:, None]], axis=1)
        return self.predict(np.repeat(frames[None], n, axis=0), actions)

    def choose(self, candidates: list[Action], scores: dict[str, np.ndarray] | None) -> int:
        """The most uncertain candidate (ties broken at random); random without scores."""
        rng = self._rng("choose")
        if scores is None:
            return int(rng.integers(len(candidates)))
        variance = scores["variance"]
        best = np.flatnonzero(variance >= variance.max() * (1 - 1e-6))
        return int(rng.choice(best))

    def observe(self, frame: np.ndarray) -> tuple[bool, float | None, float | None]:
        """Steps 1-3 (see the module doc) for a prepared frame: ``(gated, pred_error, recon)``
        (``recon``: the frame's reconstruction MSE; None while the normaliser is not fitted)."""
        pred_error = None
        if self.history.count and not self.history.newest_acted():
            t = self.history.replace_newest(frame)  # the robot waited: same moment, newer look
        else:
            t = self.history.append(frame)
            if self.prediction is not None:
                pred_error = float(np.mean((self.prediction - frame / np.float32(255.0)) ** 2))
        if t >= 1 and self.history.acted[(t - 1) % self.history.capacity]:
            index = int(self.history.indices[(t - 1) % self.history.capacity])
            if index >= 0:
                self.seen_pairs.add(pair_key(self.history.frame(t - 1), index))
        if self.input_norm is None:
            if len(self.history) < self.trainer.normalizer_frames:
                return False, pred_error, None  # warm-up: act, train nothing
            self.fit_input_norm(self.history.frames[: len(self.history)])
        mse, relative = (float(x[0]) for x in self.reconstruction_error(frame[None]))
        self.last_recon, self.last_recon_relative = mse, relative
        if relative > self.config.reconstruction_threshold:
            self.last_mae_metrics = self._train_mae()
            self.prediction = None
            return True, pred_error, mse
        for level in list(self.levels):
            self._train_level(level)
        if should_add_level([lv.tracker for lv in self.levels], self.config.max_levels):
            self.add_level()
        self.prediction = None
        return False, pred_error, mse

    def act(self, action: Action, scores: dict[str, np.ndarray] | None, chosen: int | None) -> None:
        """Record the action taken after the newest frame and keep the prediction under it."""
        index = action_index(self.actions, action) if self.actions is not None else -1
        self.history.set_action(self.normalizer.normalize(action), index)
        self.action_log.append(self.normalizer.raw(action))
        self.candidates = scores
        if scores is not None and chosen is not None:
            self.prediction = scores["frames"][chosen]

    def step(
        self, robot: Robot, selector: Callable[[Observation], Action] | None = None
    ) -> AdaptiveStepInfo:
        """One iteration: observe → gate/train → choose → execute (see the module doc)."""
        start = time.perf_counter()
        observation = robot.get_observation()
        frame = self.prepare(observation)
        gated, pred_error, recon = self.observe(frame)
        action, index, extra = None, None, {}
        if recon is not None:
            extra["recon_relative"] = self.last_recon_relative
        if not gated:
            candidates = self.candidate_actions()
            scores = self.score_candidates(candidates)
            if self.config.selector == "external" and selector is not None:
                action = selector(observation)
                if self.actions is not None:
                    chosen = action_index(self.actions, action)
                else:  # score the external choice in place of the first candidate
                    candidates[0] = action
                    scores = self.score_candidates(candidates)
                    chosen = 0
            else:
                chosen = self.choose(candidates, scores)
                action = candidates[chosen]
            self.act(action, scores, chosen)
            robot.execute_action(action)
            self.robot_steps += 1
            index = self.history.indices[(self.history.count - 1) % self.history.capacity]
            if scores is not None:
                extra["uncertainty"] = float(scores["variance"][chosen])
                extra["action_sensitivity"] = float(scores["frames"].var(axis=0).mean())
        self.iteration += 1
        if gated:
            self.gated_steps += 1
        return AdaptiveStepInfo(
            self.iteration,
            gated,
            pred_error,
            recon,
            action,
            None if index is None or index < 0 else int(index),
            time.perf_counter() - start,
            extra,
        )

    def replay_action(self, raw: np.ndarray) -> Action:
        """The action dict of a logged raw action (for replaying a run on resume)."""
        if self.actions is not None:
            for a in self.actions:
                if np.allclose(self.normalizer.raw(a), raw):
                    return dict(a)
            raise DataError(f"logged action {raw.tolist()} is not in the action space")
        return {self.normalizer.box_key: np.asarray(raw, np.float32)}

    # --- persistence --------------------------------------------------------------------------------
    @property
    def num_params(self) -> int:
        trees = [self.mae.params] + [lv.state.params for lv in self.levels]
        return int(sum(x.size for t in trees for x in jax.tree.leaves(t)))

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: every level's nets, optimisers and counters, the MAE and
        its input z-score, the history, the pending prediction, the actions taken and the pairs seen."""
        nest = lambda tree: tree_to_nested(tree, sep=".", strip_value=True)  # noqa: E731
        pairs = np.fromiter(sorted(self.seen_pairs), np.uint64, len(self.seen_pairs))
        norm = self.input_norm
        log = np.asarray(self.action_log, np.float32).reshape(-1, self.normalizer.dim)
        levels = {
            str(lv.k): {
                "params": nest(lv.state.params),
                "opt_state": nest(lv.state.opt_state),
                "counters": np.asarray([lv.train_steps, lv.skipped, lv.tracker.under], np.int64),
                "last_error": np.asarray(-1.0 if lv.last_error is None else lv.last_error),
            }
            for lv in self.levels
        }
        return {
            "mae": {"params": nest(self.mae.params), "opt_state": nest(self.mae.opt_state)},
            "input_norm": {
                "fitted": np.asarray(self.input_norm is not None, np.int8),
                "shift": np.zeros(3, np.float32) if norm is None else np.asarray(norm.shift),
                "scale": np.ones(3, np.float32) if norm is None else np.asarray(norm.scale),
            },
            "levels": levels,
            "history": self.history.state_dict(),
            "online": {
                "counters": np.asarray(
                    [self.iteration, self.robot_steps, self.gated_steps, self.mae_steps], np.int64
                ),
                "has_prediction": np.asarray(self.prediction is not None, np.int8),
                "prediction": np.zeros(self.frame_shape, np.float32)
                if self.prediction is None
                else self.prediction,
                # orbax cannot store empty arrays: keep a leading sentinel row / value.
                "actions": np.concatenate([np.zeros((1, self.normalizer.dim), np.float32), log]),
                "pairs": np.concatenate([np.zeros(1, np.uint64), pairs]),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` output (as read back from a checkpoint)."""

        def load(ts: TrainState, saved: dict[str, Any], where: str) -> TrainState:
            return ts.replace(
                params=nested_to_tree(
                    ts.params, saved["params"], where=f"{where} params", sep=".", strip_value=True
                ),
                opt_state=nested_to_tree(
                    ts.opt_state,
                    saved["opt_state"],
                    where=f"{where} optimiser state",
                    sep=".",
                    strip_value=True,
                ),
            )

        self.mae = load(self.mae, state["mae"], "checkpoint mae")
        self.input_norm = _load_input_norm(state)
        saved_levels = state["levels"]
        while len(self.levels) < len(saved_levels):
            self.add_level()
        for lv in self.levels:
            saved = saved_levels[str(lv.k)]
            lv.state = load(lv.state, saved, f"checkpoint level {lv.k}")
            lv.train_steps, lv.skipped, lv.tracker.under = (
                int(x) for x in np.asarray(saved["counters"])
            )
            err = float(saved["last_error"])
            lv.last_error = None if err < 0 else err
        self.history.load_state_dict(state["history"])
        online = state["online"]
        counters = [int(x) for x in np.asarray(online["counters"])]
        self.iteration, self.robot_steps, self.gated_steps, self.mae_steps = counters
        self.prediction = (
            np.asarray(online["prediction"], np.float32) if bool(online["has_prediction"]) else None
        )
        self.action_log = list(np.asarray(online["actions"], np.float32)[1:])
        self.seen_pairs = {int(p) for p in np.asarray(online["pairs"])[1:]}


def _load_input_norm(state: dict[str, Any]) -> Normalizer | None:
    """The input z-score of a checkpoint; checkpoints from before it existed fed the MAE pixels
    mapped to [-1, 1], which is the z-score with shift 0.5 and scale 0.5."""
    saved = state.get("input_norm")
    if saved is None:
        return Normalizer(np.full(3, 0.5, np.float32), np.full(3, 0.5, np.float32))
    if not bool(np.asarray(saved["fitted"])):
        return None
    try:
        return Normalizer.from_dict({"kind": "zscore", **saved})
    except DataError as e:
        raise DataError(f"checkpoint input_norm: {e}") from None
