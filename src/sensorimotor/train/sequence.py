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
from sensorimotor.core.errors import ConfigError
from sensorimotor.core.numerics import NonFiniteError, non_finite_paths
from sensorimotor.core.rng import seed_everything
from sensorimotor.core.rundir import RunDir
from sensorimotor.core.tracking import Tracker, read_metrics
from sensorimotor.data.clips.datasets import ClipDataset, make_dataset
from sensorimotor.sequence.config import SequenceConfig
from sensorimotor.sequence.metrics import evaluate_clips
from sensorimotor.sequence.models import SequenceModel, count_params

FAMILY = "sequence"


def presets() -> list[str]:
    """Names of the sequence presets (``configs/sequence/*.yaml``)."""
    return sorted(p.stem for p in config_dir(FAMILY).glob("*.yaml"))


def load_sequence_config(overrides: Sequence[str], preset: str | None = None) -> SequenceConfig:
    """Compose a preset (``model=<preset>`` among the overrides, default ``s5_sa``) with overrides."""
    rest = []
    for o in overrides:
        key, _, value = o.partition("=")
        if key == "model" and "." not in key:
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
        "grad_norm": optax.global_norm(grads),
        "grad_max": jnp.max(jnp.stack([jnp.max(jnp.abs(g)) for g in leaves])),
        "param_norm": optax.global_norm(params),
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
        "params": nnx.state(model, nnx.Param).to_pure_dict(),
        "opt_state": nnx.state(opt).to_pure_dict(),
        "normalizers": dataset.normalizer_dict(),
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
    }


def int_keys(tree: Any) -> Any:
    """Digit-string dict keys back to ints (orbax stores NNX list indices as strings)."""
    if isinstance(tree, dict):
        return {
            (int(k) if isinstance(k, str) and k.isdigit() else k): int_keys(v)
            for k, v in tree.items()
        }
    return tree


def _save_bad_batch(run: RunDir, step: int, batch: dict[str, np.ndarray]) -> Path:
    path = run.path / f"nonfinite_batch_step_{step}.h5"
    with h5py.File(path, "w") as f:
        for k, v in batch.items():
            f.create_dataset(k, data=np.asarray(v))
    return path


def train(cfg: SequenceConfig, *, resume: str | Path | None = None) -> dict[str, Any]:
    """Train ``cfg``; returns the run path, final metrics and timings."""
    t = cfg.trainer
    if resume is not None:
        run = RunDir.open(resume)
        cfg = load_saved_config(run.config_path, SequenceConfig)
        t = cfg.trainer
    else:
        run = RunDir.create(cfg.run_root, cfg.run_name, prefix=cfg.name, config=cfg, seed=t.seed)
    seed_everything(t.seed)
    dataset = make_dataset(cfg.data)
    model = build_model(cfg, dataset, t.seed)
    opt = nnx.Optimizer(model, make_optimizer(cfg), wrt=nnx.Param)
    ckpt = CheckpointManager(run.checkpoints_dir, keep=t.keep_checkpoints)
    start = 0
    if resume is not None and (latest := ckpt.latest()) is not None:
        tree, meta = ckpt.restore(target=checkpoint_tree(model, opt, dataset))
        _load_params(model, tree["params"])
        opt_state = nnx.state(opt)
        nnx.replace_by_pure_dict(opt_state, tree["opt_state"])
        nnx.update(opt, opt_state)
        start = latest.step
    weights = tuple(sorted(t.loss_weights.items()))
    unknown = set(t.loss_weights) - set(dataset.target_dims)
    if unknown:
        raise ConfigError(
            f"trainer.loss_weights: unknown targets {sorted(unknown)}; this mode has {sorted(dataset.target_dims)}"
        )
    meta = model_metadata(cfg, dataset)
    batches = dataset.batches("train", t.batch_size, seed=t.seed + start)
    history: list[dict[str, float]] = []
    step = start
    t0 = time.time()
    seqs = 0
    with Tracker(run, wandb=t.wandb, project=t.project, config=cfg) as tracker:
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
