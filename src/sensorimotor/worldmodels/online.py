"""The online loop of the canvas world model: observe a frame, score the pending prediction, train
on the newest canvas (plus replayed ones), act and predict the next frame.

:class:`OnlineLoop` is the part of :class:`~sensorimotor.worldmodels.model.CanvasWorldModel` that
talks to a robot; the model itself (network, optimiser, train and predict steps, state) is in
:mod:`sensorimotor.worldmodels.model`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sensorimotor.core.errors import DataError
from sensorimotor.core.rng import np_rng
from sensorimotor.nn.vit import unpatchify
from sensorimotor.robots.interface import Action, Observation, Robot, action_index
from sensorimotor.worldmodels.canvas import prepare_frame
from sensorimotor.worldmodels.replay import history_windows, pair_key, replay_ends

if TYPE_CHECKING:
    from sensorimotor.worldmodels.model import CanvasWorldModel


@dataclass
class CanvasVisualState:
    """What a UI shows: the newest training canvas, its mask overlay, the model's inpainting of it,
    the composite (visible canvas + inpainted target) and the predicted next frame."""

    canvas: np.ndarray | None = None  # (H, W, 3) uint8
    mask_overlay: np.ndarray | None = None  # (H, W, 3) uint8
    inpainted: np.ndarray | None = None  # (H, W, 3) uint8, every patch as the decoder predicts it
    composite: np.ndarray | None = None  # (H, W, 3) uint8
    predicted_frame: np.ndarray | None = None  # (h, w, 3) uint8, the prediction for the next frame
    actual_frame: np.ndarray | None = None  # (h, w, 3) uint8, the newest observed frame


@dataclass
class StepInfo:
    """One online iteration, as passed to the callback."""

    iteration: int
    pred_error: float | None  # MSE of the previous prediction against the new frame (None: none)
    loss: float | None  # train loss on the newest batch (None: skipped or no canvas yet)
    trained: bool
    action: Action | None
    action_index: int | None
    seconds: float
    extra: dict[str, float] = field(default_factory=dict)
    train_seconds: float = 0.0  # of ``seconds``, spent in the train step (0 when skipped)


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1] as uint8 (rounded)."""
    return (np.clip(frame, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


class OnlineLoop:
    """The robot-facing half of the canvas world model (mixed into ``CanvasWorldModel``; it uses
    the model's layout, history, normaliser, counters and its train/predict steps)."""

    track_visuals: bool
    last_train_seconds: float  # wall time of the newest train step (dispatch to metrics on host)
    newest_frame: np.ndarray | None  # the newest observed model frame (h, w, 3) uint8
    _visual: CanvasVisualState
    # The newest train step's batch, step index and decoded first canvas: turned into the
    # visual state only when someone looks (:attr:`visual`), not on every step's path.
    _visual_pending: tuple[np.ndarray, int, Any] | None
    _last_metrics: dict[str, Any]

    @property
    def visual(self) -> CanvasVisualState:
        """What a UI shows (see :class:`CanvasVisualState`), brought up to date on access."""
        pending, self._visual_pending = self._visual_pending, None
        if pending is not None:
            batch, step, pred0 = pending
            if self.trainer.augment:
                # Show the canvas the model was trained on (rolled), not the raw one, so the
                # decoder's output lines up with it.
                shown = np.asarray(self._augmented(batch, np.int32(step))[0])
            else:
                shown = batch[0]
            self._update_visuals(shown, np.asarray(pred0))
        return self._visual

    def prepare(self, observation: Observation) -> np.ndarray:
        """The observation's primary image as a model frame ``(h, w, 3)`` uint8."""
        if "image" not in observation:
            raise DataError(
                f"the canvas world model needs observation['image']; the robot gives {sorted(observation)}"
            )
        try:
            return prepare_frame(observation["image"], self.frame_shape[:2])
        except ValueError as e:
            raise DataError(f"observation['image']: {e}") from None

    def observe(self, observation: Observation) -> tuple[float | None, float | None, bool]:
        """Steps 1-2 of an iteration: add the frame, score the pending prediction, maybe train.

        Returns ``(pred_error, loss, trained)``.
        """
        frame = self.prepare(observation)
        t = self.history.append(frame)
        pred_error = None
        if self.prediction is not None:
            pred_error = float(np.mean((self.prediction - frame.astype(np.float32) / 255.0) ** 2))
        self.prediction = None
        loss, trained = None, False
        k = self.layout.slots
        if self.normalizer is None and len(self.history) >= self.trainer.normalizer_frames:
            self.fit_normalizer(self.history.frames[: len(self.history)])
        if self.history.window_ok(t, k):
            frames, acts = self.history.window(t, k)
            self.seen_pairs.add(pair_key(frames[-2], int(acts[-2])))
        if self.normalizer is not None and self.history.window_ok(t, k):
            if pred_error is None or pred_error >= self.trainer.skip_threshold:
                batch, ends = self._replay_batch(t)
                step = self.train_steps
                started = time.perf_counter()
                metrics, pred0 = self.train_batch(
                    batch,
                    self.iteration,
                    f"iteration {self.iteration}, canvases ending at frames {ends}",
                )
                self.last_train_seconds = time.perf_counter() - started
                loss, trained = metrics["loss"], True
                self._last_metrics = metrics
                if self.track_visuals:
                    self._visual_pending = (batch, step, pred0)
            else:
                self.skipped += 1
        self.newest_frame = frame
        if self.track_visuals:
            self._visual.actual_frame = frame
        return pred_error, loss, trained

    def act(self, action: Action) -> np.ndarray | None:
        """Step 3 of an iteration: record the action taken after the newest frame and predict the
        next frame under it (None while the history is too short)."""
        index = action_index(self.actions, action)
        self.history.set_action(index)
        self.action_log.append(index)
        t = self.history.count - 1
        k = self.layout.slots
        if self.normalizer is None or not self.history.window_ok(t, k - 1, last_action=True):
            return None
        frames, acts = self.history.window(t, k - 1)
        canvas = self.build_canvases(frames, acts, blank_target=True)
        predicted, _ = self.predict_canvases(canvas[None], batch_size=1)
        self.prediction = predicted[0]
        if self.track_visuals:
            self._visual.predicted_frame = to_uint8(self.prediction)
        return self.prediction

    def step(
        self,
        robot: Robot,
        selector: Callable[[Observation], Action],
    ) -> StepInfo:
        """One full iteration: observe → score → train → select → predict → execute."""
        start = time.perf_counter()
        observation = robot.get_observation()
        pred_error, loss, trained = self.observe(observation)
        action = selector(observation)
        self.act(action)
        robot.execute_action(action)
        self.iteration += 1
        extra = {}
        if trained:
            extra = {k: v for k, v in self._last_metrics.items() if k != "loss"}
        return StepInfo(
            self.iteration,
            pred_error,
            loss,
            trained,
            action,
            self.action_log[-1],
            time.perf_counter() - start,
            extra,
            self.last_train_seconds if trained else 0.0,
        )

    def run(
        self,
        robot: Robot,
        selector: Callable[[Observation], Action],
        steps: int | None = None,
        callback: Callable[[StepInfo, CanvasWorldModel], bool | None] | None = None,
    ) -> int:
        """The main loop: :meth:`step` until ``steps`` iterations (None: forever), the robot or
        selector is exhausted, or ``callback(info, model)`` returns True (a UI's stop button).
        Returns the number of iterations run. ``sensorimotor run`` wraps this with logging,
        checkpoints and the report (:mod:`sensorimotor.train.canvas`)."""
        from sensorimotor.robots.interface import Exhausted

        done = 0
        try:
            while steps is None or done < steps:
                info = self.step(robot, selector)
                done += 1
                if callback is not None and callback(info, self):
                    break
        except Exhausted:
            pass
        return done

    def _update_visuals(self, canvas: np.ndarray, pred_patches: np.ndarray) -> None:
        layout = self.layout
        image = unpatchify(  # NumPy in, NumPy out: no device round trip
            np.asarray(pred_patches)[None],
            layout.patch_size,
            layout.canvas_height,
            layout.canvas_width,
        )
        inpainted = to_uint8(image[0])
        visual = self._visual
        visual.canvas = canvas
        visual.mask_overlay = layout.mask_overlay(canvas)
        visual.inpainted = inpainted
        visual.composite = layout.with_target(canvas, layout.target(inpainted))

    def _replay_batch(self, newest: int) -> tuple[np.ndarray, list[int]]:
        """The newest canvas plus ``batch_size - 1`` canvases drawn from the history (seeded by the
        train step, so a resumed run draws the same ones); see :func:`replay_ends`."""
        rng = np_rng(self.seed, "replay", self.train_steps)
        ends = replay_ends(
            self.history,
            newest,
            self.layout.slots,
            self.trainer.batch_size,
            self.trainer.switch_fraction,
            rng,
        )
        frames, acts = history_windows(self.history, ends, self.layout.slots, self.frame_shape)
        return self.build_canvases(frames, acts[:, :-1]), ends
