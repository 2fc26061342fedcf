"""``sensorimotor vla eval RUN``: closed-loop success per task in MuJoCo, videos, report.html.

The policy sees what the demonstrations recorded (the same cameras and image size, the joint
state, the instruction), predicts an action chunk and executes its first ``execute`` actions
before predicting again (receding horizon). Episodes use seeds the demonstrations never used, and
success is the task's own check (:func:`sensorimotor.sim.brick_tasks.task_success`); the scripted
expert runs on the same seeds as the reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from sensorimotor.core.config import load_saved_config
from sensorimotor.core.errors import DataError
from sensorimotor.core.rng import derive_seed
from sensorimotor.core.rundir import RunDir
from sensorimotor.train.loop import RunCheckpoints, progress
from sensorimotor.train.report import HtmlReport
from sensorimotor.train.vla import build_state, processor_from_tree, restore_into
from sensorimotor.train.vla_config import VLATrainConfig
from sensorimotor.vla.demos import DemoConfig, camera_key, render_cameras
from sensorimotor.vla.modeling import sample_actions
from sensorimotor.vla.processor import VLAProcessor


@dataclass
class LoadedVLA:
    """A trained VLA ready to act: config, processor and a jitted chunk sampler."""

    cfg: VLATrainConfig
    processor: VLAProcessor
    demos: DemoConfig
    sample: Any  # (images, tokens, state, key) -> normalised chunks (B, H, A)
    step: int


def load_run(run_dir: str | Path) -> LoadedVLA:
    """The latest checkpoint of a ``vla train`` run, with the demo settings it was trained on."""
    run = RunDir.open(run_dir)
    cfg = load_saved_config(run.config_path, VLATrainConfig)
    restored = RunCheckpoints(run).restore_latest()
    if restored is None:
        raise DataError(f"{run.checkpoints_dir}: the run has no checkpoint yet")
    tree, meta = restored
    state = restore_into(build_state(cfg), tree, str(run.checkpoints_dir))
    demos_file = Path(cfg.data.path) / "meta" / "vla_demos.json"
    if not demos_file.is_file():
        raise DataError(f"{demos_file}: missing; evaluation needs the settings of `vla demos`")
    demos = DemoConfig(**json.loads(demos_file.read_text()))
    graphdef, rest = state.graphdef, state.rest

    @jax.jit
    def sample(params: Any, images: Any, tokens: Any, s: Any, key: Any) -> Any:
        return sample_actions(nnx.merge(graphdef, params, rest), images, tokens, s, key)

    params = state.params
    return LoadedVLA(
        cfg,
        processor_from_tree(cfg.model, tree),
        demos,
        lambda *a: sample(params, *a),
        int(meta["step"]),
    )


class VLAController:
    """Receding-horizon control: a new chunk every ``execute`` steps."""

    def __init__(self, policy: LoadedVLA, instruction: str, execute: int, seed: int) -> None:
        self.policy, self.instruction, self.execute = policy, instruction, execute
        self.key = jax.random.key(seed)
        self.queue: list[np.ndarray] = []

    def __call__(self, frames: dict[str, np.ndarray], state: np.ndarray) -> np.ndarray:
        if not self.queue:
            p = self.policy.processor
            images = {
                camera_key(c)[len("observation.images.") :]: f[None] for c, f in frames.items()
            }
            obs = p.observation(images, [self.instruction], state[None])
            self.key, sub = jax.random.split(self.key)
            chunk = self.policy.sample(obs["images"], obs["tokens"], obs["state"], sub)
            actions = p.unnormalize_actions(np.asarray(chunk)[0])
            self.queue = list(actions[: self.execute])
        return self.queue.pop(0)


def run_episode(
    env: Any,
    renderer: Any,
    cameras: list[str],
    episode: Any,
    act: Any,
    steps: int,
    video: Any = None,
) -> bool:
    """One closed-loop episode; ``act(frames, state) -> action``; frames appended to ``video``."""
    state = env.reset(episode)
    for _ in range(steps):
        frames = render_cameras(renderer, env, cameras)
        if video is not None:
            video.append(np.concatenate([frames[c] for c in cameras], axis=1))
        state = env.step(act(frames, state))
    return env.success()


def evaluate_run(
    run_dir: str | Path,
    *,
    episodes: int = 20,
    execute: int | None = None,
    videos: int = 2,
    seed: int = 0,
    tasks: list[str] | None = None,
    show_progress: bool = True,
    out: str = "eval",
) -> dict[str, Any]:
    """Success rate per task of the run's policy and of the scripted expert on the same seeds;
    writes ``<out>/summary.json`` and videos into the run directory, and ``report.html`` (into
    the run for the default ``out``, else into ``<out>/``)."""
    from sensorimotor.sim.brick_experts import EPISODE_STEPS, expert_plan
    from sensorimotor.sim.brick_tasks import BrickTaskEnv, sample_episode
    from sensorimotor.sim.render import Renderer, save_video

    policy = load_run(run_dir)
    demos = policy.demos
    execute = execute or max(1, policy.cfg.model.horizon // 2)
    env = BrickTaskEnv(demos.control_hz)
    renderer = Renderer(env.model, demos.image_size, demos.image_size)
    out_dir = Path(run_dir) / out
    out_dir.mkdir(exist_ok=True)
    results: dict[str, Any] = {}
    bar = progress(len(tasks or demos.tasks) * episodes, desc="vla eval", enabled=show_progress)
    with bar:
        for task in tasks or demos.tasks:
            wins, expert_wins = [], []
            for i in range(episodes):
                episode = sample_episode(task, derive_seed(seed, "vla-eval", task, i))
                frames: list[np.ndarray] | None = [] if i < videos else None
                controller = VLAController(
                    policy, episode.instruction, execute, derive_seed(seed, "act", task, i)
                )
                wins.append(
                    run_episode(
                        env, renderer, demos.cameras, episode, controller, EPISODE_STEPS, frames
                    )
                )
                if frames:
                    save_video(
                        _upscale(np.stack(frames)),
                        out_dir / f"{task}_{i}.mp4",
                        fps=demos.control_hz,
                    )
                env.reset(episode)
                plan, _ = expert_plan(env, episode)
                for action in plan:
                    env.step(action)
                expert_wins.append(env.success())
                bar.update(1)
            results[task] = {
                "success": float(np.mean(wins)),
                "expert_success": float(np.mean(expert_wins)),
                "episodes": episodes,
            }
    renderer.close()
    summary = {
        "run": str(run_dir),
        "step": policy.step,
        "head": policy.cfg.model.head,
        "execute": execute,
        "tasks": results,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    _report(run_dir, summary, None if out == "eval" else out_dir / "report.html")
    return summary


def _upscale(frames: np.ndarray, factor: int = 4) -> np.ndarray:
    return frames.repeat(factor, axis=1).repeat(factor, axis=2)


def _report(run_dir: str | Path, summary: dict[str, Any], path: Path | None = None) -> Path:
    from sensorimotor.core.tracking import read_metrics

    run = RunDir.open(run_dir)
    report = HtmlReport(f"VLA evaluation: {run.name}")
    report.section("Closed-loop success").table(
        [{"task": t, **v} for t, v in summary["tasks"].items()]
    )
    report.text(
        f"checkpoint step {summary['step']}, head {summary['head']}, {summary['execute']} actions executed per chunk"
    )
    metrics = read_metrics(run.metrics_path) if run.metrics_path.is_file() else []
    series = {}
    for key in ("loss", "val_loss"):
        points = [(m["step"], m[key]) for m in metrics if isinstance(m.get(key), float)]
        if points:
            series[key] = tuple(np.array(v) for v in zip(*points, strict=True))
    if series:
        report.section("Training").line_plot(series, xlabel="step", ylabel="loss")
    return report.write(path or run.report_path)
