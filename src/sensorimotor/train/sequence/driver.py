"""Train sequence models on clip datasets: one driver for every mode and backbone.

``sensorimotor sequence train model=s5_sa trainer.lr=5e-4`` composes the preset
``configs/sequence/s5_sa.yaml`` with overrides, writes a run directory (config, env, metrics,
checkpoints with normalisation stats, HTML report) and measures teacher-forced R² on held-out clips.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax.numpy as jnp

from sensorimotor.core.config import config_dir, config_to_dict, load_config, load_saved_config
from sensorimotor.core.errors import ConfigError
from sensorimotor.core.rng import seed_everything
from sensorimotor.core.rundir import RunDir
from sensorimotor.core.tracking import Tracker
from sensorimotor.data.clips.datasets import ClipDataset, make_dataset
from sensorimotor.learners.state import TrainState
from sensorimotor.sequence.config import SequenceConfig
from sensorimotor.sequence.models import count_params
from sensorimotor.sequence.training import (
    build_model,
    checkpoint_tree,
    make_sequence_optimizer,
    restore_state,
    teacher_forced,
    train_step,
)
from sensorimotor.train.loop import (
    Interval,
    MetricsWindow,
    NonFinitePolicy,
    RunCheckpoints,
    RunResult,
    progress,
)
from sensorimotor.train.sequence.report import write_sequence_report

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


def train(cfg: SequenceConfig | None, *, resume: str | Path | None = None) -> RunResult:
    """Train ``cfg`` (or continue the run in the run directory ``resume``; ``cfg`` is then read
    from it). The result's ``metrics`` hold teacher-forced R² on ``val`` and ``train`` and
    ``n_params``."""
    if resume is not None:
        run = RunDir.open(resume)
        cfg = load_saved_config(run.config_path, SequenceConfig)
    elif cfg is None:
        raise ConfigError("train needs a config or a run directory to resume")
    else:
        run = RunDir.create(
            cfg.runs_root, cfg.run_name, prefix=cfg.name, config=cfg, seed=cfg.trainer.seed
        )
    t = cfg.trainer
    seed_everything(t.seed)
    dataset = make_dataset(cfg.data)
    model = build_model(cfg, dataset, t.seed)
    state = TrainState.create(model, make_sequence_optimizer(cfg))
    checkpoints = RunCheckpoints(run, keep=t.keep_checkpoints)
    start = 0
    restored = checkpoints.restore_latest() if resume is not None else None
    if restored is not None:
        state = restore_state(state, restored[0], str(run.checkpoints_dir))
        start = int(restored[1]["step"])
    unknown = set(t.loss_weights) - set(dataset.target_dims)
    if unknown:
        raise ConfigError(
            f"trainer.loss_weights: unknown targets {sorted(unknown)}; this mode has {sorted(dataset.target_dims)}"
        )
    t0 = time.time()
    with Tracker(run, wandb=t.wandb, project=t.project, config=cfg) as tracker:
        tracker.log(
            {"n_params": count_params(model), "train_windows": dataset.num_windows("train")}, start
        )
        state = _train_loop(cfg, run, dataset, state, checkpoints, tracker, start)
    model = state.module()
    final = {
        "val": teacher_forced(model, dataset, "val"),
        "train": teacher_forced(model, dataset, "train"),
    }
    elapsed = time.time() - t0
    write_sequence_report(run, cfg, dataset, model, final)
    return RunResult(run.path, t.steps, elapsed, metrics={**final, "n_params": count_params(model)})


def _train_loop(
    cfg: SequenceConfig,
    run: RunDir,
    dataset: ClipDataset,
    state: TrainState,
    checkpoints: RunCheckpoints,
    tracker: Tracker,
    start: int,
) -> TrainState:
    """Steps ``start..trainer.steps``: log, evaluate and checkpoint on their intervals; NaN/Inf
    raises naming the step (the batch is saved); Ctrl-C saves and re-raises."""
    t = cfg.trainer
    weights = tuple(sorted(t.loss_weights.items()))
    meta = model_metadata(cfg, dataset)
    log_at, eval_at, save_at = (
        Interval(t.log_every, t.steps),
        Interval(t.eval_every, t.steps),
        Interval(t.checkpoint_every, t.steps),
    )
    nonfinite = NonFinitePolicy(
        run.path, f"sequence train step (the last good checkpoint is kept in {run.checkpoints_dir})"
    )
    batches = dataset.batches("train", t.batch_size, seed=t.seed + start)
    window = MetricsWindow()
    bar = progress(t.steps, desc=f"train {cfg.name}", initial=start, enabled=t.progress)
    step = start
    try:
        for step in range(start, t.steps):
            batch = next(batches)
            new_state, stats = train_step(
                state, {k: jnp.asarray(v) for k, v in batch.items()}, weights
            )
            host = {k: float(v) for k, v in stats.items()}
            nonfinite.check({"input batch": dict(batch), **host}, step=step + 1, batch=batch)
            state = new_state
            window.count("seq", t.batch_size)
            bar.update(1)
            if log_at.due(step + 1):
                host["seq_per_s"] = window.flush()["seq_per_s"]
                tracker.log(host, step + 1)
                bar.set_postfix(loss=f"{host['loss']:.4f}")
            if eval_at.due(step + 1):
                val = teacher_forced(state.module(), dataset, "val")
                tracker.log({f"val/{k}": v for k, v in val.items()}, step + 1)
            if save_at.due(step + 1):
                tree = checkpoint_tree(state, step + 1, dataset)
                checkpoints.save(step + 1, tree, {**meta, "metrics": host})
    except KeyboardInterrupt:
        checkpoints.save(step, checkpoint_tree(state, step, dataset), {**meta, "interrupted": True})
        raise
    finally:
        bar.close()
    return state
