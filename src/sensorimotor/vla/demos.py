"""``sensorimotor vla demos``: scripted-expert demonstrations rendered into a LeRobot v3 dataset.

Episodes run in worker processes (each with its own MuJoCo model and OpenGL context); the main
process writes them through :class:`~sensorimotor.data.lerobot.writer.LeRobotWriter` in episode
order, so the dataset does not depend on the number of workers. Only episodes whose task success
check passes are kept (the experts are reliable; a failure is counted and reported).
"""

from __future__ import annotations

import json
import multiprocessing as mp
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.errors import ConfigError
from sensorimotor.core.rng import derive_seed

STATE_KEY = "observation.state"
ACTION_KEY = "action"
IMAGE_PREFIX = "observation.images."
EPISODES_META = "meta/vla_episodes.jsonl"


@dataclass
class DemoConfig:
    """``vla demos`` settings (all overridable as key=value)."""

    out: str = "saved/vla_demos"
    tasks: list[str] = field(default_factory=lambda: ["pick_left", "push_right", "pick_any"])
    episodes_per_task: int = 40
    image_size: int = 48
    cameras: list[str] = field(default_factory=lambda: ["workspace", "left/wrist_cam"])
    control_hz: float = 10.0
    workers: int = 2
    seed: int = 0
    codec: str = "libx264"
    crf: int = 10


def camera_key(camera: str) -> str:
    """The dataset feature of a scene camera: ``left/wrist_cam`` -> ``observation.images.left_wrist_cam``."""
    return IMAGE_PREFIX + camera.replace("/", "_")


def features(cfg: DemoConfig) -> dict[str, dict[str, Any]]:
    """The dataset's non-index features (``info.json`` form)."""
    from sensorimotor.sim.brick_tasks import ACTUATORS

    names = [f"{a}.pos" for a in ACTUATORS]
    out: dict[str, dict[str, Any]] = {
        STATE_KEY: {"dtype": "float32", "shape": [len(names)], "names": names},
        ACTION_KEY: {"dtype": "float32", "shape": [len(names)], "names": names},
    }
    for camera in cfg.cameras:
        out[camera_key(camera)] = {
            "dtype": "video",
            "shape": [cfg.image_size, cfg.image_size, 3],
            "names": ["height", "width", "channels"],
        }
    return out


_WORKER: dict[str, Any] = {}


def _init_worker(cfg: dict[str, Any]) -> None:
    import os

    os.environ.setdefault("MUJOCO_GL", "egl")
    from sensorimotor.sim.brick_tasks import BrickTaskEnv
    from sensorimotor.sim.render import Renderer

    env = BrickTaskEnv(cfg["control_hz"])
    _WORKER.update(
        cfg=cfg, env=env, renderer=Renderer(env.model, cfg["image_size"], cfg["image_size"])
    )


def render_cameras(renderer: Any, env: Any, cameras: list[str]) -> dict[str, np.ndarray]:
    """One RGB frame per camera of the current state (no shadows/reflections: fast on Mesa)."""
    return {c: renderer.render(env.data, c, shadows=False, reflections=False) for c in cameras}


def run_episode(job: tuple[str, int]) -> dict[str, Any]:
    """Run the expert on one ``(task, seed)`` episode in this worker; arrays + layout + success."""
    from sensorimotor.sim.brick_experts import expert_plan
    from sensorimotor.sim.brick_tasks import sample_episode

    task, seed = job
    cfg, env, renderer = _WORKER["cfg"], _WORKER["env"], _WORKER["renderer"]
    episode = sample_episode(task, seed)
    state = env.reset(episode)
    plan, arm = expert_plan(env, episode)
    states, frames = [], {c: [] for c in cfg["cameras"]}
    for action in plan:
        states.append(state)
        for c, img in render_cameras(renderer, env, cfg["cameras"]).items():
            frames[c].append(img)
        state = env.step(action)
    return {
        "task": task,
        "seed": seed,
        "arm": arm,
        "instruction": episode.instruction,
        "poses": episode.poses,
        "success": env.success(),
        "state": np.stack(states),
        "action": plan,
        "frames": {c: np.stack(v) for c, v in frames.items()},
    }


def episode_jobs(cfg: DemoConfig) -> list[tuple[str, int]]:
    """``(task, seed)`` of every episode, tasks interleaved; seeds derived from ``cfg.seed``."""
    from sensorimotor.sim.brick_tasks import TASKS

    unknown = sorted(set(cfg.tasks) - set(TASKS))
    if unknown:
        raise ConfigError(f"tasks: unknown {unknown}; expected some of {list(TASKS)}")
    if cfg.episodes_per_task < 1 or cfg.image_size < 8 or not cfg.cameras:
        raise ConfigError(
            f"episodes_per_task must be >= 1, image_size >= 8 and cameras non-empty; got "
            f"{cfg.episodes_per_task}, {cfg.image_size}, {cfg.cameras}"
        )
    return [
        (task, derive_seed(cfg.seed, task, i))
        for i in range(cfg.episodes_per_task)
        for task in cfg.tasks
    ]


def make_demos(cfg: DemoConfig, *, progress: bool = True) -> dict[str, Any]:
    """Render every episode and write the dataset to ``cfg.out``; returns a summary."""
    from tqdm.auto import tqdm

    from sensorimotor.data.lerobot.writer import LeRobotWriter

    jobs = episode_jobs(cfg)
    settings = asdict(cfg)
    out = Path(cfg.out)
    writer = LeRobotWriter(
        out,
        fps=round(cfg.control_hz),
        features=features(cfg),
        robot_type="bimanual_bricks",
        codec=cfg.codec,
        crf=cfg.crf,
    )
    rows, failed = [], []
    with writer:
        ctx = mp.get_context("spawn")
        with ctx.Pool(max(1, cfg.workers), _init_worker, (settings,)) as pool:
            results = pool.imap(run_episode, jobs)
            for result in tqdm(results, total=len(jobs), desc="vla demos", disable=not progress):
                if not result["success"]:
                    failed.append((result["task"], result["seed"]))
                    continue
                writer.add_episode(
                    {STATE_KEY: result["state"], ACTION_KEY: result["action"]},
                    {camera_key(c): f for c, f in result["frames"].items()},
                    task=result["instruction"],
                )
                rows.append({k: result[k] for k in ("task", "seed", "arm", "instruction", "poses")})
        root = writer.finalize()
    (root / EPISODES_META).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "meta" / "vla_demos.json").write_text(json.dumps(settings, indent=2))
    counts = {t: sum(r["task"] == t for r in rows) for t in cfg.tasks}
    return {"out": str(root), "episodes": len(rows), "per_task": counts, "expert_failures": failed}
