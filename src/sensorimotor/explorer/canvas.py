"""The canvas world model in the explorer: one model on one session, run, inferred, swept, inspected.

:class:`CanvasExplorer` holds the state the tabs share (the open session, the model, the replay
robot that feeds the Run tab, the histories the plots draw). It is plain Python: tests drive it
without Gradio. Long work (:meth:`CanvasExplorer.run`, :mod:`sensorimotor.explorer.training`)
runs as generators that yield progress and stop when :meth:`CanvasExplorer.stop` is called.

The Run tab uses exactly ``sensorimotor run``'s iteration: :meth:`CanvasWorldModel.step` on a
:class:`~sensorimotor.robots.session.ReplayRobot` with the session's recorded actions, and the
model is configured from the same ``run`` config (``robot=replay selector=recorded``), so an
explorer checkpoint is a run directory that ``sensorimotor run --resume`` continues.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.errors import DataError, UserError
from sensorimotor.explorer.roots import Roots
from sensorimotor.robots.interface import Exhausted
from sensorimotor.robots.session import ReplayRobot, SessionReader

DEFAULT_MODEL = "canvas_tiny"
DEFAULT_TRAINER = "online"


@dataclass
class RunRecord:
    """Per-iteration history of the Run tab (what the loss and LR plots draw)."""

    iteration: list[int] = field(default_factory=list)
    pred_error: list[float] = field(default_factory=list)  # nan where there was no prediction
    loss: list[float] = field(default_factory=list)  # nan where training was skipped
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class RunProgress:
    """One Run-tab iteration as the page shows it."""

    done: int  # iterations done in this call
    total: int  # iterations asked for
    iteration: int  # the model's iteration counter
    pred_error: float | None
    loss: float | None
    lr: float | None
    seconds: float
    finished: bool
    note: str = ""


class CanvasExplorer:
    """One session + one canvas world model, shared by the tabs (see the module doc)."""

    def __init__(
        self,
        roots: Roots,
        instance: str,
        model_preset: str = DEFAULT_MODEL,
        trainer_preset: str = DEFAULT_TRAINER,
        overrides: list[str] | None = None,
    ) -> None:
        self.roots = roots
        self.instance = instance
        self.model_preset = model_preset
        self.trainer_preset = trainer_preset
        self.overrides = list(overrides or [])
        self.reader: SessionReader | None = None
        self.config: Any = None  # CanvasRunConfig of the current model
        self.model: Any = None  # CanvasWorldModel
        self.robot: ReplayRobot | None = None
        self.selector: Any = None
        self.record = RunRecord()
        self.batch_losses: list[float] = []
        self.weight_history: list[dict[str, float]] = []  # per-component norms over training
        self._frames: Any = None  # SessionFrames at the model's frame size
        self.last_prediction: np.ndarray | None = (
            None  # what the last step's frame was predicted as
        )
        self._stop = threading.Event()
        self._busy = threading.Lock()

    # ------------------------------------------------------------------ session and model

    def open_session(self, path: str | Path) -> SessionReader:
        """Open a session under the sessions root; drops the model if it does not fit it."""
        from sensorimotor.explorer.sessions import open_session

        path = self.roots.check(path, "sessions")
        with self.busy():
            reader = open_session(path)
            self.reader = reader
            self._frames = None
            if self.model is not None:
                self._attach_session()
        return reader

    def configure(self, model_preset: str, trainer_preset: str, overrides: list[str]) -> None:
        """Choose the model/trainer presets and overrides for the next new model."""
        self.model_preset, self.trainer_preset = model_preset, trainer_preset
        self.overrides = list(overrides)

    def run_config(self, reader: SessionReader) -> Any:
        """The ``sensorimotor run`` config of a model on ``reader``'s session (a replayed robot
        following the recorded actions; no validation session, no re-recording)."""
        from sensorimotor.train.canvas.config import load_run_config

        session = str(reader.path.resolve())
        return load_run_config(
            [
                f"model={self.model_preset}",
                f"trainer={self.trainer_preset}",
                "robot=replay",
                f"robot.session={session}",
                "selector=recorded",
                f"selector.session={session}",
                "validation.steps=0",
                "record=false",
                "progress=false",
                f"steps={len(reader)}",
                f"runs_root={self.roots.runs.resolve()}",
                *self.overrides,
            ]
        )

    def new_model(self) -> Any:
        """A fresh model for the open session (the Run tab starts at the session's first frame)."""
        reader = self.require_session()
        with self.busy():
            config = self.run_config(reader)
            self._build(config)
            self._attach_session(position=0)
        return self.model

    def _build(self, config: Any) -> None:
        from sensorimotor.core.jaxcache import enable_compilation_cache
        from sensorimotor.train.canvas.config import canvas_model_config
        from sensorimotor.worldmodels.model import CanvasWorldModel

        enable_compilation_cache()
        reader = self.require_session()
        first = reader.frame(0, "image")
        self.model = CanvasWorldModel(
            canvas_model_config(config.model),
            config.trainer,
            reader.action_space,
            tuple(first.shape[:2]),
            seed=config.seed,
            total_steps=config.steps,
        )
        self.config = config
        self.record = RunRecord()
        self.batch_losses = []
        self.weight_history = []
        self._frames = None

    def _attach_session(self, position: int | None = None) -> None:
        """Point the replay robot and recorded selector at the open session, at ``position``
        (default: where the model's iterations left off on it, else a new episode at 0)."""
        from sensorimotor.robots.selectors import RecordedSelector
        from sensorimotor.worldmodels.model import discrete_actions

        reader = self.require_session()
        if len(discrete_actions(reader.action_space)) != self.model.num_actions:
            raise DataError(
                f"{reader.path}: the session has {len(reader.action_space)} actions, the model "
                f"{self.model.num_actions}; start a new model for this session"
            )
        if position is None:
            position = 0
            if self._model_session() == str(reader.path.resolve()):
                position = min(self.model.iteration, len(reader) - 1)
            else:  # canvases must not span two sessions
                self.model.history.new_episode()
                self.model.prediction = None
        self.robot = ReplayRobot(reader)
        self.robot.position = position
        self.selector = RecordedSelector(reader, start=position)
        self.session_of_model = str(reader.path.resolve())

    def _model_session(self) -> str | None:
        return getattr(self, "session_of_model", None)

    def require_session(self) -> SessionReader:
        if self.reader is None:
            raise UserError("open a session first (Sessions tab)")
        return self.reader

    def require_model(self) -> Any:
        if self.model is None:
            self.new_model()
        return self.model

    def session_frames(self) -> Any:
        """The open session's frames at the model's frame size (read once)."""
        from sensorimotor.worldmodels.sessions import read_session_frames

        model = self.require_model()
        if self._frames is None:
            self._frames, _ = read_session_frames(
                self.require_session().path, model.frame_shape[:2], progress=False
            )
        return self._frames

    def ensure_normalizer(self) -> None:
        """Fit the input normaliser on the session's first frames when the model has none yet
        (what the online loop would do after ``trainer.normalizer_frames`` frames)."""
        model = self.require_model()
        if model.normalizer is None:
            frames = self.session_frames().frames
            model.fit_normalizer(frames[: max(model.trainer.normalizer_frames, 1)])

    # ------------------------------------------------------------------ long work

    def stop(self) -> None:
        """Ask the running job to stop after its current iteration."""
        self._stop.set()

    @contextmanager
    def busy(self) -> Iterator[None]:
        """One job at a time; a second one gets a clear error rather than waiting silently."""
        if not self._busy.acquire(blocking=False):
            raise UserError("the explorer is busy with another job; press Stop or wait for it")
        try:
            yield
        finally:
            self._busy.release()

    def run(self, iterations: int) -> Iterator[RunProgress]:
        """``iterations`` online iterations on the session (the ``sensorimotor run`` step), one
        :class:`RunProgress` per iteration; stops early on :meth:`stop` or at the session's end."""
        if iterations < 1:
            raise UserError(f"iterations must be at least 1, got {iterations}")
        model = self.require_model()
        self._stop.clear()
        with self.busy():
            done, note = 0, ""
            while done < iterations:
                if self._stop.is_set():
                    note = "stopped"
                    break
                pending = model.prediction  # the prediction for the frame this step observes
                try:
                    info = model.step(self.robot, self.selector)
                except Exhausted:
                    note = "the session has ended; start a new model or load a checkpoint"
                    break
                done += 1
                self.last_prediction = pending
                lr = info.extra.get("lr") if info.trained else None
                self._remember(info, lr)
                yield RunProgress(
                    done,
                    iterations,
                    model.iteration,
                    info.pred_error,
                    info.loss,
                    lr,
                    info.seconds,
                    False,
                )
            self.snapshot_weights()
            yield RunProgress(
                done, iterations, model.iteration, None, None, None, 0.0, True, note or "done"
            )

    def _remember(self, info: Any, lr: float | None) -> None:
        nan = float("nan")
        rec = self.record
        rec.iteration.append(info.iteration)
        rec.pred_error.append(nan if info.pred_error is None else info.pred_error)
        rec.loss.append(nan if info.loss is None else info.loss)
        rec.lr.append(nan if lr is None else lr)
        rec.seconds.append(info.seconds)

    def snapshot_weights(self) -> None:
        """Record per-component weight norms (the Weights tab's 'change during training')."""
        from sensorimotor.explorer.weights import component_norms

        if self.model is not None:
            self.weight_history.append(
                {"train_steps": self.model.train_steps, **component_norms(self.model.params)}
            )

    # ------------------------------------------------------------------ one frame

    def canvas_at(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The canvas whose target is frame ``t`` (filled with it), its frames and actions."""
        data = self.session_frames()
        k = self.model.layout.slots
        if not k - 1 <= t < len(data.frames):
            raise UserError(
                f"frame {t}: a canvas needs {k - 1} earlier frames; pick a frame in {k - 1}-{len(data.frames) - 1}"
            )
        actions = data.actions[t - k + 1 : t]
        if (actions < 0).any():
            raise DataError(f"frames {t - k + 1}-{t} contain a step without an action")
        frames = data.frames[t - k + 1 : t + 1]
        return self.model.build_canvases(frames, actions), frames, actions

    def infer(self, t: int) -> dict[str, Any]:
        """Predict frame ``t`` from the frames and actions before it, without training."""
        from sensorimotor.worldmodels.online import to_uint8

        self.ensure_normalizer()
        canvas, frames, _ = self.canvas_at(t)
        predicted, errors = self.model.predict_canvases(canvas[None], batch_size=1)
        layout = self.model.layout
        return {
            "canvas": canvas,
            "mask_overlay": layout.mask_overlay(canvas),
            "composite": layout.with_target(canvas, to_uint8(predicted[0])),
            "predicted": to_uint8(predicted[0]),
            "actual": frames[-1],
            "mse": float(errors[0]),
        }

    def sweep(self, t: int) -> dict[str, Any]:
        """The next frame after frame ``t`` under every action, each with its MSE against the
        recorded next frame; ``recorded`` is the index of the action actually taken."""
        from sensorimotor.explorer.sessions import action_label
        from sensorimotor.worldmodels.online import to_uint8

        self.ensure_normalizer()
        data, k = self.session_frames(), self.model.layout.slots
        if not k - 2 <= t < len(data.frames) - 1:
            raise UserError(
                f"frame {t}: the sweep needs {k - 2} earlier frames and a recorded next frame; "
                f"pick a frame in {k - 2}-{len(data.frames) - 2}"
            )
        context = data.frames[t - k + 2 : t + 1]
        previous = data.actions[t - k + 2 : t]
        predicted = self.model.counterfactual(context[None], previous[None])[0]  # (A, h, w, 3)
        actual = data.frames[t + 1].astype(np.float32) / 255.0
        mse = ((predicted - actual[None]) ** 2).mean(axis=(1, 2, 3))
        return {
            "frames": [to_uint8(p) for p in predicted],
            "labels": [action_label(a) for a in self.model.actions],
            "mse": [float(m) for m in mse],
            "recorded": int(data.actions[t]),
            "actual": data.frames[t + 1],
        }

    def attention_maps(self, t: int) -> dict[str, Any]:
        """Encoder and decoder attention of the canvas ending at frame ``t``, both as
        ``(L, heads, N, N)`` over canvas patches (encoder rows/columns of masked patches are 0)."""
        import jax.numpy as jnp

        self.ensure_normalizer()
        canvas, _, _ = self.canvas_at(t)
        model = self.model
        layout = model.layout
        pixels = jnp.asarray(canvas[None], jnp.float32) / 255.0
        inputs = model.normalizer.normalize(pixels)
        net = model.network()
        out = net(inputs, layout.target_mask, keep=layout.visible_patches, return_attention=True)
        n = layout.num_patches
        decoder = np.stack([np.asarray(a[0]) for a in out.decoder_attention])
        visible = np.flatnonzero(~np.asarray(layout.target_mask))
        encoder = np.zeros((len(out.encoder_attention), decoder.shape[1], n, n), np.float32)
        for i, a in enumerate(out.encoder_attention):
            encoder[i][np.ix_(range(a.shape[1]), visible, visible)] = np.asarray(a[0])
        return {"canvas": canvas, "encoder": encoder, "decoder": decoder, "grid": layout.grid}

    def patch_place(self, index: int) -> str:
        """Where a canvas patch lies: ``slot 2 (x 8-15, y 0-7)`` or ``separator 1`` (canvas-aware
        coordinates for the attention views)."""
        layout = self.model.layout
        p = layout.patch_size
        row, col = divmod(index, layout.grid[1])
        x0, y0 = col * p, row * p
        for s in range(layout.slots):
            start = layout.slot_start(s)
            if start <= x0 < start + layout.frame_width:
                fx = x0 - start
                return f"slot {s} (frame x {fx}-{fx + p - 1}, y {y0}-{y0 + p - 1})"
        return f"separator (canvas x {x0}-{x0 + p - 1})"

    def status(self) -> dict[str, Any]:
        """A one-glance summary of the model."""
        if self.model is None:
            return {"model": None}
        m = self.model
        return {
            "model": self.model_preset,
            "trainer": self.trainer_preset,
            "params": m.num_params,
            "canvas": list(m.layout.shape),
            "iteration": m.iteration,
            "train_steps": m.train_steps,
            "skipped": m.skipped,
            "session": self._model_session(),
            "position": None if self.robot is None else self.robot.position,
        }

    def elapsed_rate(self) -> float:
        """Iterations per second over the recorded history (0 when none)."""
        total = float(np.sum(self.record.seconds)) if self.record.seconds else 0.0
        return len(self.record.seconds) / total if total > 0 else 0.0
