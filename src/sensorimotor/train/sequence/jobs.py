"""Jobs on a trained sequence run: evaluation, closed-loop rollouts in MuJoCo, AR-HMM segmentation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from sensorimotor.core.config import load_saved_config
from sensorimotor.core.errors import DataError
from sensorimotor.core.rundir import RunDir
from sensorimotor.data.clips.datasets import ClipDataset, make_dataset
from sensorimotor.sequence.config import SequenceConfig
from sensorimotor.sequence.metrics import evaluate_clips
from sensorimotor.sequence.models import SequenceModel
from sensorimotor.sequence.training import forward, teacher_forced


def run_dataset(
    run_dir: str | Path, split_override: dict[str, Any] | None = None
) -> tuple[SequenceConfig, ClipDataset]:
    """The run's config and its dataset, normalised with the checkpoint's stats."""
    from sensorimotor.sequence.predictor import load_run

    run = RunDir.open(run_dir)
    cfg = load_saved_config(run.config_path, SequenceConfig)
    if split_override:
        for k, v in split_override.items():
            setattr(cfg.data, k, v)
    _, norms, _ = load_run(run.path)
    return cfg, make_dataset(cfg.data, normalizers=norms)


def evaluate_run(
    run_dir: str | Path, *, split: str = "val", step_check_clips: int = 2
) -> dict[str, float]:
    """Teacher-forced R² on ``split`` (parallel), plus the same through the recurrent ``step``
    predictor on a few clips (it must agree with the parallel model)."""
    from sensorimotor.sequence.metrics import evaluate_clips
    from sensorimotor.sequence.predictor import Predictor, load_run

    model, norms, meta = load_run(run_dir)
    cfg, dataset = run_dataset(run_dir)
    metrics = {f"{split}/{k}": v for k, v in teacher_forced(model, dataset, split).items()}
    pred = Predictor(model, norms, meta)

    def stepwise(x: np.ndarray) -> dict[str, np.ndarray]:
        pred.reset()
        outs = [pred.predict(x_t) for x_t in x]
        return {k: np.stack([o[k] for o in outs]) for k in outs[0]}

    few = dataset.clips(split)[:step_check_clips]
    for k, v in evaluate_clips(few, stepwise).items():
        metrics[f"{split}_recurrent_step/{k}"] = v
    for k, v in teacher_forced_subset(model, dataset, few).items():
        metrics[f"{split}_parallel_same_clips/{k}"] = v
    return metrics


def teacher_forced_subset(
    model: SequenceModel, dataset: ClipDataset, clips: list[Any]
) -> dict[str, float]:
    """Teacher-forced R² on the given clips."""

    def predict(x: np.ndarray) -> dict[str, np.ndarray]:
        out = forward(model, jnp.asarray(dataset.normalizers["x"].normalize(x)[None], jnp.float32))
        return {k: np.asarray(dataset.normalizers[k].denormalize(v[0])) for k, v in out.items()}

    return evaluate_clips(clips, predict)


def rollout_run(
    run_dir: str | Path,
    *,
    n_clips: int = 8,
    fail_threshold: float = 0.2,
    video: bool = True,
    video_every: int = 2,
    window: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Closed-loop rollouts of a run's model vs the expert on held-out clips; writes
    ``rollout/{rollout.json,report.html,rollout.mp4}`` in the run directory."""
    from sensorimotor.sequence.predictor import Predictor
    from sensorimotor.sequence.rollout import (
        expert_policy,
        load_rollout_clip,
        model_policy,
        render_comparison,
        rollout,
        tracker_for_clip,
    )
    from sensorimotor.train.report import HtmlReport, new_figure

    run = RunDir.open(run_dir)
    cfg, dataset = run_dataset(run.path)
    pred = Predictor.from_run(run.path)
    paths = dataset.paths("val")[:n_clips]
    out_dir = run.path / "rollout"
    out_dir.mkdir(exist_ok=True)
    rows, results = [], []
    tracker = None
    for path in tqdm(paths, desc="rollouts", disable=not progress):
        clip = load_rollout_clip(path)
        tracker = tracker or tracker_for_clip(clip)
        expert = rollout(tracker, clip, expert_policy(tracker), fail_threshold=fail_threshold)
        policy = model_policy(pred, clip, cfg.data.mode, dataset.n_syllables)
        t0 = time.perf_counter()
        model_r = rollout(tracker, clip, policy, fail_threshold=fail_threshold)
        per_step_ms = (time.perf_counter() - t0) / clip.length * 1e3
        row = {
            "clip": path.name,
            "expert_error": expert.mean_error,
            "model_error": model_r.mean_error,
            "ratio": model_r.mean_error / expert.mean_error,
            "expert_survived": expert.steps_survived,
            "model_survived": model_r.steps_survived,
            "steps": clip.length,
            "ms_per_step": per_step_ms,
        }
        if window:
            pred.reset()
            w = rollout(
                tracker,
                clip,
                lambda obs, t: pred.predict_window(obs)["action"],
                fail_threshold=fail_threshold,
            )
            row["window_error"] = w.mean_error
        rows.append(row)
        results.append((clip, expert, model_r))
    if not rows:
        raise DataError(f"{cfg.data.path}: no validation clips to roll out")
    summary = {
        "run": str(run.path),
        "model": cfg.name,
        "mode": cfg.data.mode,
        "n_clips": len(rows),
        "fail_threshold": fail_threshold,
        "expert_error": float(np.mean([r["expert_error"] for r in rows])),
        "model_error": float(np.mean([r["model_error"] for r in rows])),
        "expert_survival": float(np.mean([r["expert_survived"] / r["steps"] for r in rows])),
        "model_survival": float(np.mean([r["model_survived"] / r["steps"] for r in rows])),
        "ms_per_step": float(np.median([r["ms_per_step"] for r in rows])),
    }
    summary["error_ratio"] = summary["model_error"] / summary["expert_error"]
    if window:
        summary["window_error"] = float(np.mean([r["window_error"] for r in rows]))
    import json

    (out_dir / "rollout.json").write_text(json.dumps({"summary": summary, "clips": rows}, indent=2))
    rep = HtmlReport(f"closed-loop rollouts: {cfg.name} ({run.name})")
    rep.section("Summary (mean absolute joint error, rad)")
    rep.table({k: (round(v, 4) if isinstance(v, float) else v) for k, v in summary.items()})
    rep.table(
        [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
    )
    clip, expert, model_r = results[0]
    dt = float(clip.attrs.get("control_dt", 1.0))
    t = np.arange(clip.length) * dt
    rep.section(f"Tracking error over time ({clip.path.name})")
    rep.line_plot(
        {"expert": (t, expert.error.mean(1)), cfg.name: (t, model_r.error.mean(1))},
        title="mean joint error",
        xlabel="time (s)",
        ylabel="rad",
    )
    fig, ax = new_figure(9, 4)
    im = ax.imshow(model_r.error.T, aspect="auto", cmap="magma", extent=(0, t[-1], tracker.nq, 0))
    ax.set(xlabel="time (s)", ylabel="joint", title="per-joint error of the model (rad)")
    fig.colorbar(im, ax=ax)
    rep.figure(fig)
    joint_err = np.stack([r[2].error.mean(0) for r in results]).mean(0)
    expert_joint = np.stack([r[1].error.mean(0) for r in results]).mean(0)
    fig, ax = new_figure(10, 3.5)
    x = np.arange(tracker.nq)
    ax.bar(x - 0.2, expert_joint, 0.4, label="expert")
    ax.bar(x + 0.2, joint_err, 0.4, label=cfg.name)
    ax.set_xticks(x[::3], [tracker.joint_names[i] for i in x[::3]], rotation=90, fontsize=6)
    ax.set(ylabel="mean error (rad)")
    ax.legend()
    rep.figure(fig, caption="per-joint tracking error over all rollouts")
    if video:
        vid = render_comparison(tracker, clip, model_r, out_dir / "rollout.mp4", every=video_every)
        summary["video"] = str(vid)
        rep.text(f"video (left: reference, right: rollout): {vid.name}")
    rep.write(out_dir / "report.html")
    return summary


def segment_job(cfg: Any, *, progress: bool = True) -> dict[str, Any]:
    """Fit the AR-HMM grid, write syllables, and a run directory with a report."""
    from sensorimotor.sequence.arhmm import run_lengths, segment
    from sensorimotor.train.report import HtmlReport, new_figure

    run = RunDir.create(cfg.runs_root, cfg.run_name, prefix="segment", config=cfg, seed=cfg.seed)
    summary = segment(cfg, run.path, progress=progress)
    val_syl = summary.pop("val_syllables")
    dt = summary["control_dt"]
    rep = HtmlReport("AR-HMM segmentation")
    rep.section("Model search (held-out log-likelihood per step)")
    rep.table(
        [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
            for r in summary["grid"]
        ]
    )
    rep.table({k: v for k, v in summary.items() if not isinstance(v, list | dict)})
    rep.section("Syllables on validation clips")
    names = list(val_syl)[:6]
    fig, _ = new_figure(9, 0.5 + 0.5 * len(names))
    fig.clf()
    for i, name in enumerate(names):
        ax = fig.add_subplot(len(names), 1, i + 1)
        ax.imshow(
            np.asarray(val_syl[name])[None], aspect="auto", cmap="tab20", interpolation="nearest"
        )
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", fontsize=7)
    rep.figure(fig, caption=f"ethogram (one row per clip, {dt:.3f} s per step)")
    durs = np.concatenate([run_lengths(np.asarray(z)) for z in val_syl.values()]) * dt
    fig, ax = new_figure(6, 3)
    ax.hist(durs, bins=30)
    ax.set(xlabel="syllable duration (s)", ylabel="count")
    rep.figure(fig)
    rep.write(run.report_path)
    summary["run_dir"] = str(run.path)
    return summary
