"""Closed-loop rollouts: a learned state->action model drives the rodent in MuJoCo.

Each rollout starts from a clip's recorded initial state and tracks that clip's reference; at
every control step the observation is built exactly as the generator builds it, the policy
returns the next command and the physics advances. The same harness runs the expert tracker
(noise-free) for the baseline. Failure = the mean joint tracking error exceeds a threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.errors import DataError
from sensorimotor.data.clips.format import Clip, read_clip
from sensorimotor.sim.rodent import RodentSimConfig, RodentTracker

Policy = Callable[[np.ndarray, int], np.ndarray]


@dataclass
class RolloutResult:
    """Per-step joint positions ``qpos (T, nq)``, absolute errors ``error (T, nq)`` against the
    reference, and the step of the first failure (``T`` if none)."""

    clip: str
    qpos: np.ndarray
    error: np.ndarray
    steps_survived: int
    diverged: bool

    @property
    def mean_error(self) -> float:
        """Mean absolute joint error over the whole rollout (rad)."""
        return float(self.error.mean())

    def summary(self) -> dict[str, Any]:
        """Scalars for tables and metrics."""
        return {
            "clip": self.clip,
            "mean_error": self.mean_error,
            "final_error": float(self.error[-10:].mean()),
            "steps_survived": self.steps_survived,
            "steps": int(self.error.shape[0]),
            "diverged": self.diverged,
        }


def tracker_for_clip(clip: Clip) -> RodentTracker:
    """A tracker configured like the generator that made ``clip`` (from its attributes)."""
    raw = clip.attrs.get("sim_config")
    if not isinstance(raw, dict):
        raise DataError(
            f"{clip.path}: attribute 'sim_config' is missing; was it made by clips make?"
        )
    return RodentTracker(RodentSimConfig(**raw))


def load_rollout_clip(path: str | Path) -> Clip:
    """A clip with its reference and initial state (``/reference/qpos``, ``/init``)."""
    clip = read_clip(path, extra=True)
    for key in ("reference", "init"):
        if key not in clip.extra:
            raise DataError(f"{clip.path}: missing group /{key}, needed for closed-loop rollouts")
    return clip


def rollout(
    tracker: RodentTracker,
    clip: Clip,
    policy: Policy,
    *,
    fail_threshold: float = 0.2,
    on_step: Callable[[int], None] | None = None,
) -> RolloutResult:
    """Run ``policy(obs, t) -> ctrl`` in closed loop against ``clip``'s reference."""
    ref = np.asarray(clip.extra["reference"]["qpos"], np.float64)
    init = clip.extra["init"]
    steps = clip.length
    if ref.shape[0] < steps + tracker.cfg.n_ref_frames or ref.shape[1] != tracker.nq:
        raise DataError(
            f"{clip.path}: /reference/qpos has shape {ref.shape}, expected at least "
            f"({steps + tracker.cfg.n_ref_frames}, {tracker.nq})"
        )
    tracker.reset(init["qpos"], init["qvel"], init["act"])
    qpos = np.zeros((steps, tracker.nq))
    qpos[0] = tracker.data.qpos
    failed_at, diverged = steps, False
    for t in range(steps - 1):
        obs = tracker.observe(ref, t)
        ok = tracker.step(policy(obs, t))
        if on_step is not None:
            on_step(t)
        if not ok:
            qpos[t + 1 :] = np.nan
            failed_at, diverged = min(failed_at, t + 1), True
            break
        qpos[t + 1] = tracker.data.qpos
        if failed_at == steps and np.abs(qpos[t + 1] - ref[t + 1]).mean() > fail_threshold:
            failed_at = t + 1
    error = np.abs(qpos - ref[:steps])
    if diverged:
        error = np.where(np.isnan(error), np.pi, error)
    return RolloutResult(str(clip.path.name), qpos, error, failed_at, diverged)


def expert_policy(tracker: RodentTracker) -> Policy:
    """The noise-free expert tracker that made the data."""
    return lambda obs, t: tracker.expert(obs)


def model_policy(predictor: Any, clip: Clip, mode: str, n_syllables: int = 0) -> Policy:
    """The learned model as a policy: builds the mode's input from the observation (and, for
    syllable-conditioned models, the clip's syllable at ``t``) and returns the predicted action."""
    predictor.reset()
    if mode in ("state_action", "state_intention_controller"):
        return lambda obs, t: predictor.predict(obs)["action"]
    if mode == "syllable_state_intention":
        if clip.syllables is None:
            raise DataError(f"{clip.path}: /syllables is missing, needed by a syllable model")
        eye = np.eye(n_syllables, dtype=np.float32)
        return lambda obs, t: predictor.predict(np.concatenate([eye[clip.syllables[t]], obs]))[
            "action"
        ]
    raise DataError(
        f"mode {mode!r} does not predict actions; closed-loop rollouts need one that does"
    )


def render_comparison(
    tracker: RodentTracker,
    clip: Clip,
    result: RolloutResult,
    path: str | Path,
    *,
    width: int = 320,
    height: int = 240,
    fps: int | None = None,
    every: int = 1,
) -> Path:
    """Side-by-side video (reference | rollout) of one rollout, rendered headless with MuJoCo."""
    import mujoco

    from sensorimotor.sim.render import Renderer, save_video

    ref = np.asarray(clip.extra["reference"]["qpos"])
    model = tracker.model
    data = mujoco.MjData(model)
    fps = fps or max(1, round(1.0 / tracker.cfg.control_dt / every))
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    cam.lookat[:] = [0.0, 0.0, 0.0]
    cam.distance, cam.azimuth, cam.elevation = 0.35, 120.0, -15.0
    frames = []
    with Renderer(model, width, height) as renderer:
        for t in range(0, result.qpos.shape[0], every):
            pair = []
            for q in (ref[t], result.qpos[t]):
                data.qpos[:] = np.nan_to_num(q)
                pair.append(renderer.render(data, cam).copy())
            frames.append(np.concatenate(pair, axis=1))
    return save_video(frames, path, fps=fps)
