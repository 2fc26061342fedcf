"""Train sequence models on clip datasets: one trainer for every mode and backbone.

``sensorimotor sequence train model=s5_sa trainer.lr=5e-4`` composes the preset
``configs/sequence/s5_sa.yaml`` with overrides, writes a run directory (config, env, metrics,
checkpoints with normalisation stats, HTML report) and measures teacher-forced R² on held-out clips.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm import tqdm

from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.config import config_dir, config_to_dict, load_config, load_saved_config
from sensorimotor.core.errors import ConfigError, DataError
from sensorimotor.core.numerics import NonFiniteError, non_finite_paths
from sensorimotor.core.rng import seed_everything
from sensorimotor.core.rundir import RunDir
from sensorimotor.core.tracking import Tracker, read_metrics
from sensorimotor.data.clips.datasets import ClipDataset, make_dataset
from sensorimotor.sequence.config import SequenceConfig
from sensorimotor.sequence.metrics import evaluate_clips
from sensorimotor.sequence.models import SequenceModel, count_params
from sensorimotor.sequence.predictor import int_keys

FAMILY = "sequence"


def presets() -> list[str]:
    """Names of the sequence presets (``configs/sequence/*.yaml``)."""
    return sorted(p.stem for p in config_dir(FAMILY).glob("*.yaml"))


def load_sequence_config(overrides: Sequence[str], preset: str | None = None) -> SequenceConfig:
    """Compose a preset (``model=<preset>`` among the overrides, default ``s5_sa``) with overrides."""
    rest = []
    for o in overrides:
        key, _, value = o.partition("=")
        if key == "model":
            if value not in presets():
                raise ConfigError(f"unknown model preset {value!r}; expected one of {presets()}")
            preset = value
        else:
            rest.append(o)
    preset = preset or "s5_sa"
    cfg = load_config(FAMILY, preset, rest, SequenceConfig)
    return cfg


def build_model(cfg: SequenceConfig, dataset: ClipDataset, seed: int) -> SequenceModel:
    """A fresh model sized for ``dataset``."""
    return SequenceModel(
        cfg.model, dataset.d_in, dataset.target_dims, dataset.slices, rngs=nnx.Rngs(seed)
    )


def make_optimizer(cfg: SequenceConfig) -> optax.GradientTransformation:
    """AdamW with linear warm-up, cosine decay and global-norm clipping."""
    t = cfg.trainer
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, t.lr, max(1, t.warmup_steps), max(t.steps, t.warmup_steps + 1), end_value=t.lr * 0.05
    )
    return optax.chain(
        optax.clip_by_global_norm(t.grad_clip), optax.adamw(schedule, weight_decay=t.weight_decay)
    )


def loss_fn(
    model: SequenceModel, batch: dict[str, jax.Array], weights: dict[str, float]
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Weighted sum of per-target MSEs (normalised units) and the per-target terms."""
    out, _ = model(batch["x"])
    terms = {k: jnp.mean((out[k] - batch[k]) ** 2) for k in out}
    total = sum(weights.get(k, 1.0) * v for k, v in terms.items())
    return total, terms


@nnx.jit(static_argnums=(3,))
def train_step(
    model: SequenceModel,
    opt: nnx.Optimizer,
    batch: dict[str, jax.Array],
    weights: tuple[tuple[str, float], ...],
) -> dict[str, jax.Array]:
    """One optimisation step; returns loss terms and gradient statistics."""
    (loss, terms), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, batch, dict(weights))
    opt.update(model, grads)
    leaves = jax.tree.leaves(grads)
    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    return {
        "loss": loss,
        **{f"loss/{k}": v for k, v in terms.items()},
        "grad_norm": optax.tree.norm(grads),
        "grad_max": jnp.max(jnp.stack([jnp.max(jnp.abs(g)) for g in leaves])),
        "param_norm": optax.tree.norm(params),
    }


@nnx.jit
def _forward(model: SequenceModel, x: jax.Array) -> dict[str, jax.Array]:
    return model(x)[0]


def teacher_forced(model: SequenceModel, dataset: ClipDataset, split: str) -> dict[str, float]:
    """R² per target over whole clips of ``split`` (inputs are the recorded ones)."""
    model.eval()

    def predict(x: np.ndarray) -> dict[str, np.ndarray]:
        xn = dataset.normalizers["x"].normalize(x)[None]
        out = _forward(model, jnp.asarray(xn, jnp.float32))
        return {k: np.asarray(dataset.normalizers[k].denormalize(v[0])) for k, v in out.items()}

    metrics = evaluate_clips(dataset.clips(split), predict)
    model.train()
    return metrics


def checkpoint_tree(
    model: SequenceModel, opt: nnx.Optimizer, dataset: ClipDataset
) -> dict[str, Any]:
    """Params + optimiser state + normalisation stats as one pytree."""
    return {
        "params": nnx.to_pure_dict(nnx.state(model, nnx.Param)),
        "opt_state": nnx.to_pure_dict(nnx.state(opt)),
        "normalizers": {
            k: {"shift": np.asarray(n.shift), "scale": np.asarray(n.scale)}
            for k, n in dataset.normalizers.items()
        },
    }


def model_metadata(cfg: SequenceConfig, dataset: ClipDataset) -> dict[str, Any]:
    """What the predictor needs to rebuild the model (JSON)."""
    return {
        "config": config_to_dict(cfg),
        "d_in": dataset.d_in,
        "target_dims": dataset.target_dims,
        "feature_slices": {k: list(v) for k, v in dataset.slices.items()},
        "n_syllables": dataset.n_syllables,
        "obs_layout": {k: list(v) for k, v in dataset.layout.items()},
        "normalizer_kinds": {k: n.kind for k, n in dataset.normalizers.items()},
    }


def _save_bad_batch(run: RunDir, step: int, batch: dict[str, np.ndarray]) -> Path:
    path = run.path / f"nonfinite_batch_step_{step}.h5"
    with h5py.File(path, "w") as f:
        for k, v in batch.items():
            f.create_dataset(k, data=np.asarray(v))
    return path


def train(cfg: SequenceConfig | None, *, resume: str | Path | None = None) -> dict[str, Any]:
    """Train ``cfg`` (or continue the run at ``resume``); returns run path, final metrics, timings."""
    if resume is not None:
        run = RunDir.open(resume)
        cfg = load_saved_config(run.config_path, SequenceConfig)
        t = cfg.trainer
    else:
        if cfg is None:
            raise ConfigError("train needs a config or a run directory to resume")
        t = cfg.trainer
        run = None
    seed_everything(t.seed)
    dataset = make_dataset(cfg.data)
    model = build_model(cfg, dataset, t.seed)
    opt = nnx.Optimizer(model, make_optimizer(cfg), wrt=nnx.Param)
    weights = tuple(sorted(t.loss_weights.items()))
    unknown = set(t.loss_weights) - set(dataset.target_dims)
    if unknown:
        raise ConfigError(
            f"trainer.loss_weights: unknown targets {sorted(unknown)}; this mode has {sorted(dataset.target_dims)}"
        )
    if run is None:  # the data and model are valid: only now make the run directory
        run = RunDir.create(cfg.run_root, cfg.run_name, prefix=cfg.name, config=cfg, seed=t.seed)
    ckpt = CheckpointManager(run.checkpoints_dir.resolve(), keep=t.keep_checkpoints)
    start = 0
    if resume is not None and (latest := ckpt.latest()) is not None:
        tree, meta = ckpt.restore(target=checkpoint_tree(model, opt, dataset))
        _load_params(model, tree["params"])
        opt_state = nnx.state(opt)
        nnx.replace_by_pure_dict(opt_state, tree["opt_state"])
        nnx.update(opt, opt_state)
        start = latest.step
    meta = model_metadata(cfg, dataset)
    batches = dataset.batches("train", t.batch_size, seed=t.seed + start)
    history: list[dict[str, float]] = []
    step = start
    t0 = time.time()
    seqs = 0
    with Tracker(
        run,
        wandb=t.wandb,
        project=t.project,
        config=cfg,
        resume_step=start if resume is not None else None,
    ) as tracker:
        tracker.log(
            {"n_params": count_params(model), "train_windows": dataset.num_windows("train")}, step
        )
        bar = tqdm(range(start, t.steps), desc=f"train {cfg.name}", disable=not t.progress)
        try:
            for step in bar:
                batch = next(batches)
                stats = train_step(
                    model, opt, {k: jnp.asarray(v) for k, v in batch.items()}, weights
                )
                seqs += t.batch_size
                host = {k: float(v) for k, v in stats.items()}
                bad = [k for k, v in host.items() if not math.isfinite(v)]
                if bad or non_finite_paths(batch):
                    path = _save_bad_batch(run, step + 1, batch)
                    raise NonFiniteError(
                        f"non-finite {bad or 'input batch'} at step {step + 1} "
                        f"(loss={host['loss']}); offending batch saved to {path}; the last good "
                        f"checkpoint is kept in {run.checkpoints_dir}",
                        step + 1,
                        bad,
                    )
                if (step + 1) % t.log_every == 0 or step + 1 == t.steps:
                    host["seq_per_s"] = seqs / max(time.time() - t0, 1e-9)
                    tracker.log(host, step + 1)
                    bar.set_postfix(loss=f"{host['loss']:.4f}")
                if (step + 1) % t.eval_every == 0 or step + 1 == t.steps:
                    val = {f"val/{k}": v for k, v in teacher_forced(model, dataset, "val").items()}
                    tracker.log(val, step + 1)
                    history.append({"step": step + 1, **val})
                if (step + 1) % t.checkpoint_every == 0 or step + 1 == t.steps:
                    ckpt.save(
                        step + 1, checkpoint_tree(model, opt, dataset), {**meta, "metrics": host}
                    )
        except KeyboardInterrupt:
            ckpt.save(step, checkpoint_tree(model, opt, dataset), {**meta, "interrupted": True})
            raise
    final = {
        "val": teacher_forced(model, dataset, "val"),
        "train": teacher_forced(model, dataset, "train"),
    }
    elapsed = time.time() - t0
    write_report(run, cfg, dataset, model, final)
    return {
        "run_dir": str(run.path),
        "steps": t.steps,
        "seconds": elapsed,
        "val": final["val"],
        "train": final["train"],
        "n_params": count_params(model),
    }


def _load_params(model: SequenceModel, params: Any) -> None:
    state = nnx.state(model, nnx.Param)
    nnx.replace_by_pure_dict(state, int_keys(params))
    nnx.update(model, state)


def write_report(
    run: RunDir,
    cfg: SequenceConfig,
    dataset: ClipDataset,
    model: SequenceModel,
    final: dict[str, dict[str, float]],
) -> Path:
    """HTML report: loss curves, gradient norms, R² table, predicted vs true traces."""
    from sensorimotor.train.report import HtmlReport, new_figure

    rep = HtmlReport(f"sequence run {run.name} ({cfg.name}, mode {cfg.data.mode})")
    records = read_metrics(run.metrics_path)
    rep.section("Held-out quality (teacher-forced, whole validation clips)")
    rows = [
        {"split": split, **{k: round(v, 4) for k, v in m.items()}} for split, m in final.items()
    ]
    rep.table(rows)
    losses = {
        k: ([r["step"] for r in records if k in r], [r[k] for r in records if k in r])
        for k in ("loss", *[f"loss/{n}" for n in dataset.target_dims])
    }
    rep.section("Training")
    rep.line_plot(losses, title="training loss", ylabel="MSE (normalised)", logy=True)
    rep.line_plot(
        {
            "grad_norm": (
                [r["step"] for r in records if "grad_norm" in r],
                [r["grad_norm"] for r in records if "grad_norm" in r],
            )
        },
        title="gradient global norm",
        logy=True,
    )
    r2_keys = sorted({k for r in records for k in r if k.startswith("val/") and k.endswith("/r2")})
    if r2_keys:
        rep.line_plot(
            {
                k: ([r["step"] for r in records if k in r], [r[k] for r in records if k in r])
                for k in r2_keys
            },
            title="validation R²",
        )
    clip = dataset.clips("val")[0]
    out = _forward(
        model, jnp.asarray(dataset.normalizers["x"].normalize(clip.x)[None], jnp.float32)
    )
    rep.section(f"Predicted vs true on {clip.path.name}")
    for name, y in clip.targets.items():
        pred = np.asarray(dataset.normalizers[name].denormalize(out[name][0]))
        dims = np.argsort(-y.std(0))[:4]
        fig, axes = new_figure(9, 1.8 * len(dims))
        fig.clf()
        for i, d in enumerate(dims):
            ax = fig.add_subplot(len(dims), 1, i + 1)
            ax.plot(y[:, d], label="true", lw=1.2)
            ax.plot(pred[:, d], label="predicted", lw=1.0, ls="--")
            ax.set_ylabel(f"{name}[{d}]")
            if i == 0:
                ax.legend(loc="upper right")
        rep.figure(fig, caption=f"{name}: the 4 most variable dimensions")
    rep.section("Config")
    import yaml

    rep.code(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return rep.write(run.report_path)


# -- evaluation, rollouts, segmentation jobs ---------------------------------------------------


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
        out = _forward(model, jnp.asarray(dataset.normalizers["x"].normalize(x)[None], jnp.float32))
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

    run = RunDir.create(cfg.run_root, cfg.run_name, prefix="segment", config=cfg, seed=cfg.seed)
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
