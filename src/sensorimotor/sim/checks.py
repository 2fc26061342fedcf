"""Physics and rendering sanity checks of a scene (``sensorimotor sim validate``).

:func:`validate_scene` loads a scene, steps it for ``seconds`` under seeded random controls
(each actuator's target drawn uniformly from its ``ctrlrange`` and held for
``control_period``), twice, and checks:

- ``load``: the scene compiles;
- ``finite``: no NaN/Inf (or values beyond MuJoCo's 1e10) in ``qpos``, ``qvel``, ``qacc``;
- ``warnings``: MuJoCo raised no warning (``data.warning``: contact/constraint buffer full,
  bad ``qacc``, …);
- ``determinism``: the two runs are bit-identical, step by step;
- ``penetration``: the deepest contact penetration stays ≤ ``max_penetration`` (5 cm);
- ``energy``: kinetic energy (MuJoCo's, which counts joint armature) stays ≤
  ``max_kinetic_energy``, by default what the model would have if every moving body went at
  ``max_speed`` (5 m/s) and spun, with every joint's armature, at ``max_angular_speed``
  (20 rad/s): ½·M·v² + ½·(Σ body inertia + Σ armature)·ω²;
- ``render``: no frame is blank (one flat colour in every channel), and re-rendering the same
  states in a fresh GL context gives frames within ``render_tolerance`` (±1) pixel values.
  A scene without a named camera is rendered from a free camera framed on the model's extent.
  Shadows and reflections are off (as :class:`~sensorimotor.sim.robot.MujocoRobot` renders)
  unless asked for: with software OpenGL they cost seconds per frame on large scenes.

It returns a :class:`ValidationReport`; :func:`write_validation` writes sample frames, a video
and ``summary.json``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from sensorimotor.core.rng import np_rng
from sensorimotor.sim.scenes import (
    SceneLoadError,
    SceneNotFoundError,
    camera_names,
    initial_data,
    load_model,
    scene_name,
)

_HUGE = 1e10  # MuJoCo's mjMAXVAL: larger state values mean the simulation diverged


@dataclass
class ValidationConfig:
    """Settings of :func:`validate_scene`."""

    seconds: float = 2.0
    seed: int = 0
    control_period: float = 0.05
    max_penetration: float = 0.05
    max_kinetic_energy: float | None = None  # None = from max_speed and max_angular_speed
    max_speed: float = 5.0
    max_angular_speed: float = 20.0
    render: bool = True
    camera: str | None = None  # None = the scene's first camera, else a framed free camera
    shadows: bool = False
    reflections: bool = False
    width: int = 224
    height: int = 224
    frame_period: float = 0.1  # seconds between rendered frames
    render_tolerance: int = 1
    video_fps: float = 10.0

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.control_period <= 0 or self.frame_period <= 0:
            raise ValueError(
                "seconds, control_period and frame_period must be positive, got "
                f"{self.seconds}, {self.control_period}, {self.frame_period}"
            )


@dataclass
class CheckResult:
    """The outcome of one check."""

    name: str
    passed: bool
    message: str
    value: float | None = None
    limit: float | None = None


@dataclass
class ValidationReport:
    """All checks of one scene, plus run statistics and the rendered frames."""

    scene: str
    path: str
    checks: list[CheckResult] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    frames: np.ndarray | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name``."""
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(f"no check {name!r}; ran {[c.name for c in self.checks]}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (frames excluded)."""
        return {
            "scene": self.scene,
            "path": self.path,
            "passed": self.passed,
            "checks": [asdict(c) for c in self.checks],
            "stats": self.stats,
        }


@dataclass
class _Run:
    digests: list[bytes]
    frames: list[np.ndarray]
    states: list[np.ndarray]
    nonfinite_step: int | None
    max_penetration: float
    max_penetration_pair: str
    max_kinetic: float
    energy_start: float
    energy_end: float
    warnings: dict[str, int]
    steps: int


def _state(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    size = mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_PHYSICS)
    state = np.empty(size)
    mujoco.mj_getState(model, data, state, mujoco.mjtState.mjSTATE_PHYSICS)
    return state


def _geom_label(model: mujoco.MjModel, geom: int) -> str:
    name = model.geom(geom).name
    return name or f"{model.body(model.geom_bodyid[geom]).name or 'world'}/geom#{geom}"


def framed_camera(model: mujoco.MjModel) -> mujoco.MjvCamera:
    """A free camera looking at the model's centre from a distance that frames its extent."""
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FREE
    camera.lookat[:] = model.stat.center
    camera.distance = 2.0 * max(float(model.stat.extent), 1e-3)
    camera.azimuth = 135.0
    camera.elevation = -25.0
    return camera


def energy_limit(model: mujoco.MjModel, config: ValidationConfig) -> tuple[float, dict[str, float]]:
    """The kinetic-energy limit and its parts (translation, rotation, armature), in joules.

    MuJoCo's kinetic energy is ½·q̇ᵀ·M·q̇ with the joint armature on M's diagonal, so the limit
    counts it too: a geared motor's reflected inertia can hold most of a small arm's energy.
    """
    if config.max_kinetic_energy is not None:
        return config.max_kinetic_energy, {"given": config.max_kinetic_energy}
    moving = model.body_weldid != 0  # bodies that can move
    mass = float(model.body_mass[moving].sum())
    inertia = float(model.body_inertia[moving].max(axis=1).sum()) if moving.any() else 0.0
    armature = float(model.dof_armature.sum())
    parts = {
        "translation_j": 0.5 * mass * config.max_speed**2,
        "rotation_j": 0.5 * inertia * config.max_angular_speed**2,
        "armature_j": 0.5 * armature * config.max_angular_speed**2,
    }
    return sum(parts.values()), parts


def frame_is_blank(frame: np.ndarray) -> bool:
    """True when every colour channel of ``frame`` ``(H, W, C)`` is one flat value (±1)."""
    channels = frame.reshape(-1, frame.shape[-1]).astype(np.float32)
    return bool((channels.std(axis=0) < 1.0).all())


def random_controls(model: mujoco.MjModel, rng: np.random.Generator) -> np.ndarray:
    """Uniform random actuator controls ``(nu,)`` within each ``ctrlrange`` (``[-1, 1]`` if unlimited)."""
    low = np.where(model.actuator_ctrllimited, model.actuator_ctrlrange[:, 0], -1.0)
    high = np.where(model.actuator_ctrllimited, model.actuator_ctrlrange[:, 1], 1.0)
    return rng.uniform(low, high)


def _simulate(
    model: mujoco.MjModel,
    config: ValidationConfig,
    renderer: Any,
    camera: Any,
    progress: bool,
) -> _Run:
    data = initial_data(model)
    rng = np_rng(config.seed, "validate", "controls")
    dt = model.opt.timestep
    steps = max(1, round(config.seconds / dt))
    control_every = max(1, round(config.control_period / dt))
    frame_every = max(1, round(config.frame_period / dt))
    digests, frames, states = [], [], []
    nonfinite_step = None
    deepest, deepest_pair, max_kinetic = 0.0, "", 0.0
    energy_start = float(data.energy.sum())
    if renderer is not None:
        frames.append(_render(renderer, data, camera, config))
        states.append(_state(model, data))
    iterator = range(steps)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="simulate", unit="step", leave=False)
    for step in iterator:
        if step % control_every == 0 and model.nu:
            data.ctrl[:] = random_controls(model, rng)
        mujoco.mj_step(model, data)
        state = _state(model, data)
        digests.append(hashlib.sha256(state.tobytes()).digest())
        if nonfinite_step is None and not (
            np.all(np.abs(data.qpos) < _HUGE)  # False for NaN too
            and np.all(np.abs(data.qvel) < _HUGE)
            and np.all(np.abs(data.qacc) < _HUGE)
        ):
            nonfinite_step = step + 1
        if data.ncon:
            dist = data.contact.dist[: data.ncon]
            j = int(np.argmin(dist))
            if -dist[j] > deepest:
                deepest = float(-dist[j])
                g1, g2 = data.contact.geom[j]
                deepest_pair = f"{_geom_label(model, g1)} / {_geom_label(model, g2)}"
        max_kinetic = max(max_kinetic, float(data.energy[1]))
        if renderer is not None and (step + 1) % frame_every == 0:
            frames.append(_render(renderer, data, camera, config))
            states.append(state)
    warnings = {
        mujoco.mjtWarning(i).name: int(data.warning[i].number)
        for i in range(len(data.warning))
        if data.warning[i].number
    }
    return _Run(
        digests=digests,
        frames=frames,
        states=states,
        nonfinite_step=nonfinite_step,
        max_penetration=deepest,
        max_penetration_pair=deepest_pair,
        max_kinetic=max_kinetic,
        energy_start=energy_start,
        energy_end=float(data.energy.sum()),
        warnings=warnings,
        steps=steps,
    )


def _render(renderer: Any, data: mujoco.MjData, camera: Any, config: ValidationConfig) -> Any:
    return renderer.render(data, camera, shadows=config.shadows, reflections=config.reflections)


def _rerender(
    model: mujoco.MjModel,
    states: list[np.ndarray],
    renderer: Any,
    camera: Any,
    config: ValidationConfig,
) -> list[np.ndarray]:
    data = mujoco.MjData(model)
    frames = []
    for state in states:
        mujoco.mj_setState(model, data, state, mujoco.mjtState.mjSTATE_PHYSICS)
        frames.append(_render(renderer, data, camera, config))
    return frames


def validate_scene(
    scene: str | Path, config: ValidationConfig | None = None, progress: bool = False
) -> ValidationReport:
    """Run every check on ``scene`` (a name or a path); never raises for a bad scene."""
    config = config or ValidationConfig()
    report = ValidationReport(scene=scene_name(scene), path=str(scene))
    try:
        model = load_model(scene)
    except (SceneNotFoundError, SceneLoadError) as e:
        report.checks.append(CheckResult("load", False, str(e)))
        return report
    report.path = str(Path(str(scene)).resolve()) if Path(str(scene)).is_file() else str(scene)
    report.checks.append(
        CheckResult(
            "load", True, f"{model.nbody} bodies, {model.nu} actuators, {model.ncam} cameras"
        )
    )
    model.opt.enableflags |= mujoco.mjtEnableBit.mjENBL_ENERGY

    camera: Any = None
    camera_label = ""
    renderers: list[Any] = []
    if config.render:
        from sensorimotor.sim.render import Renderer

        cameras = camera_names(model)
        camera = config.camera or (cameras[0] if cameras else None)
        camera_label = repr(camera)
        if camera is None:
            camera = framed_camera(model)
            camera_label = (
                f"a free camera framed on the model (no named camera; distance "
                f"{camera.distance:.3g} m)"
            )
        renderers = [Renderer(model, config.width, config.height)]
    try:
        first = _simulate(model, config, renderers[0] if renderers else None, camera, progress)
        second = _simulate(model, config, None, camera, progress=False)
        if renderers:
            renderers.append(Renderer(model, config.width, config.height))
            rerendered = _rerender(model, first.states, renderers[1], camera, config)
    except mujoco.FatalError as e:
        message = " ".join(str(e).split())
        report.checks.append(CheckResult("simulate", False, f"MuJoCo stopped: {message}"))
        return report
    finally:
        for renderer in renderers:
            renderer.close()

    dt = model.opt.timestep
    total_mass = float(model.body_mass[model.body_weldid != 0].sum())  # bodies that can move
    limit, limit_parts = energy_limit(model, config)
    report.stats = {
        "steps": first.steps,
        "simulated_seconds": round(first.steps * dt, 6),
        "timestep": dt,
        "max_penetration_m": first.max_penetration,
        "max_penetration_pair": first.max_penetration_pair,
        "max_kinetic_energy_j": first.max_kinetic,
        "kinetic_energy_limit_j": limit,
        "kinetic_energy_limit_parts_j": limit_parts,
        "moving_mass_kg": total_mass,
        "total_energy_start_j": first.energy_start,
        "total_energy_end_j": first.energy_end,
        "warnings": first.warnings,
        "seed": config.seed,
    }
    finite = first.nonfinite_step is None
    report.checks.append(
        CheckResult(
            "finite",
            finite,
            "state stayed finite"
            if finite
            else f"NaN/Inf or |value| > 1e10 in qpos/qvel/qacc at step {first.nonfinite_step} "
            f"(t = {first.nonfinite_step * dt:.4f} s)",
        )
    )
    report.checks.append(
        CheckResult(
            "warnings",
            not first.warnings,
            "no MuJoCo warnings"
            if not first.warnings
            else "MuJoCo warnings: " + ", ".join(f"{k} x{v}" for k, v in first.warnings.items()),
            value=float(sum(first.warnings.values())),
            limit=0.0,
        )
    )
    mismatch = next(
        (i for i, (a, b) in enumerate(zip(first.digests, second.digests, strict=True)) if a != b),
        None,
    )
    report.checks.append(
        CheckResult(
            "determinism",
            mismatch is None,
            f"two runs bit-identical over {first.steps} steps"
            if mismatch is None
            else f"runs diverge at step {mismatch + 1} (t = {(mismatch + 1) * dt:.4f} s)",
        )
    )
    report.checks.append(
        CheckResult(
            "penetration",
            first.max_penetration <= config.max_penetration,
            f"deepest contact penetration {first.max_penetration * 100:.2f} cm"
            + (f" ({first.max_penetration_pair})" if first.max_penetration_pair else ""),
            value=first.max_penetration,
            limit=config.max_penetration,
        )
    )
    parts = ", ".join(f"{k.removesuffix('_j')} {v:.3g}" for k, v in limit_parts.items())
    report.checks.append(
        CheckResult(
            "energy",
            bool(np.isfinite(first.max_kinetic) and first.max_kinetic <= limit),
            f"max kinetic energy (with armature) {first.max_kinetic:.3g} J; limit {limit:.3g} J "
            f"({parts})",
            value=first.max_kinetic,
            limit=limit,
        )
    )
    if renderers:
        frames = np.stack(first.frames)
        report.frames = frames
        diff = max(
            int(np.max(np.abs(a.astype(np.int16) - b.astype(np.int16))))
            for a, b in zip(first.frames, rerendered, strict=True)
        )
        blank = [i for i, frame in enumerate(frames) if frame_is_blank(frame)]
        report.stats.update(
            {"frames": len(frames), "camera": camera_label, "render_max_pixel_diff": diff}
        )
        passed = diff <= config.render_tolerance and not blank
        message = (
            f"{len(frames)} frames from {camera_label}; re-rendered in a fresh context: max pixel "
            f"difference {diff} (tolerance {config.render_tolerance})"
        )
        if blank:
            message += (
                f"; {len(blank)} frame(s) are blank: one flat colour (first: frame {blank[0]})"
            )
        report.checks.append(
            CheckResult("render", passed, message, value=float(diff), limit=config.render_tolerance)
        )
    return report


def write_validation(
    report: ValidationReport,
    directory: str | Path,
    config: ValidationConfig | None = None,
    sample_frames: int = 8,
) -> dict[str, str]:
    """Write ``summary.json``, ``video.mp4`` and sample PNG frames of ``report`` to ``directory``."""
    from sensorimotor.sim.render import save_sample_frames, save_video

    config = config or ValidationConfig()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    if report.frames is not None and len(report.frames):
        video = save_video(report.frames, directory / "video.mp4", fps=config.video_fps)
        written["video"] = str(video)
        paths = save_sample_frames(report.frames, directory / "frames", count=sample_frames)
        written["frames"] = str(directory / "frames")
        written["frame_count"] = str(len(paths))
    summary = {**report.to_dict(), "config": asdict(config), "files": written}
    (directory / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    written["summary"] = str(directory / "summary.json")
    return written
