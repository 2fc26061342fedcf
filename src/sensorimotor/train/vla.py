"""``sensorimotor vla train``: the VLA driver, sharded over a ``(data, fsdp)`` mesh.

``train(config, *, resume=None) -> RunResult`` loads the demonstrations, fits the state/action
normalisers on the training episodes, builds the model and its optimiser (the learner contract:
``TrainState`` + ``make_optimizer`` + ``warmup_cosine_schedule``), places parameters and
optimiser state by the FSDP partition rules, and runs the loop kit (``Interval``, ``progress``,
``MetricsWindow``, ``StopFlag``, ``NonFinitePolicy``, ``RunCheckpoints``).

Every step's batch indices and PRNG key derive from ``(seed, step)``, so a resumed run takes the
same steps as an uninterrupted one. Logged: loss, grad norm, validation loss, samples/s,
tokens/s, MFU (with ``cluster.peak_flops``) and device memory (where the backend reports it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sensorimotor.core.checkpoint import nested_to_tree, tree_to_nested
from sensorimotor.core.config import config_to_dict, load_saved_config
from sensorimotor.core.errors import ConfigError
from sensorimotor.core.rng import np_rng, seed_everything
from sensorimotor.core.rundir import RunDir
from sensorimotor.core.tracking import Tracker
from sensorimotor.learners.optim import make_optimizer, warmup_cosine_schedule
from sensorimotor.learners.state import TrainState, global_norm
from sensorimotor.train.loop import (
    Interval,
    MetricsWindow,
    NonFinitePolicy,
    RunCheckpoints,
    RunResult,
    StopFlag,
    progress,
)
from sensorimotor.train.vla_config import VLATrainConfig
from sensorimotor.train.vla_sharding import init_distributed, make_mesh, shard_batch, tree_shardings
from sensorimotor.vla.configuration import VLAConfig
from sensorimotor.vla.data import ChunkDataset, load_demos, split_episodes
from sensorimotor.vla.modeling import VLA, count_params, flow_matching_loss
from sensorimotor.vla.processor import VLAProcessor

KIND = "vla"


def build_state(cfg: VLATrainConfig) -> TrainState:
    """A fresh model and optimiser (host arrays)."""
    t = cfg.trainer
    model = VLA(cfg.model, rngs=nnx.Rngs(t.seed))
    schedule = warmup_cosine_schedule(
        t.lr, warmup_steps=t.warmup_steps, decay_steps=t.steps, end_value=t.end_lr
    )
    tx = make_optimizer(schedule, weight_decay=t.weight_decay or None, grad_clip=t.grad_clip)
    return TrainState.create(model, tx)


def make_train_step(grad_accum: int) -> Any:
    """``(state, batch, key) -> (state, metrics)``: flow-matching (or MSE) loss, gradients
    averaged over ``grad_accum`` micro-batches (a ``lax.scan``), one optimiser update."""

    def loss_fn(params: Any, state: TrainState, batch: dict, key: jax.Array) -> Any:
        return flow_matching_loss(nnx.merge(state.graphdef, params, state.rest), batch, key)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(state: TrainState, batch: dict, key: jax.Array) -> tuple[TrainState, dict]:
        if grad_accum == 1:
            (loss, _), grads = grad_fn(state.params, state, batch, key)
        else:
            micro = jax.tree.map(lambda x: x.reshape(grad_accum, -1, *x.shape[1:]), batch)

            def body(carry: Any, xs: Any) -> Any:
                (loss, _), grads = grad_fn(state.params, state, xs[0], xs[1])
                return jax.tree.map(jnp.add, carry, (grads, loss)), None

            zero = (jax.tree.map(jnp.zeros_like, state.params), jnp.zeros(()))
            (grads, loss), _ = jax.lax.scan(body, zero, (micro, jax.random.split(key, grad_accum)))
            grads = jax.tree.map(lambda g: g / grad_accum, grads)
            loss = loss / grad_accum
        return state.apply_gradients(grads), {"loss": loss, "grad_norm": global_norm(grads)}

    return step


def eval_loss(state: TrainState, batch: dict, key: jax.Array) -> jax.Array:
    """The loss of ``batch`` (no update)."""
    return flow_matching_loss(state.module(), batch, key)[0]


def flops_per_sample(config: VLAConfig) -> float:
    """Training FLOPs of one sample (forward + backward = 3x the forward matmuls + attention)."""
    c = config
    tokens = c.num_tokens
    mlp = (3 if c.mlp == "swiglu" else 2) * c.width * int(round(c.width * c.mlp_ratio))
    backbone = c.depth * (2 * tokens * (4 * c.width**2 + mlp) + 4 * tokens**2 * c.width)
    n = c.patches_per_camera
    vit = c.vit_depth * (2 * n * 12 * c.vit_width**2 + 4 * n**2 * c.vit_width) * len(c.cameras)
    return 3.0 * (backbone + vit)


def checkpoint_tree(state: TrainState, processor: VLAProcessor) -> dict[str, Any]:
    """Params + optimiser state + normalisers as one host pytree."""
    return {
        "params": tree_to_nested(state.params, strip_value=True),
        "opt_state": tree_to_nested(state.opt_state, strip_value=True),
        "normalizers": {
            k: {"shift": np.asarray(n.shift), "scale": np.asarray(n.scale)}
            for k, n in (("state", processor.state_norm), ("action", processor.action_norm))
        },
    }


def restore_into(state: TrainState, tree: dict[str, Any], where: str) -> TrainState:
    """``state`` with params and optimiser state from :func:`checkpoint_tree` data."""
    return state.replace(
        params=nested_to_tree(
            state.params, tree["params"], where=f"{where} params", strip_value=True
        ),
        opt_state=nested_to_tree(
            state.opt_state, tree["opt_state"], where=f"{where} optimiser state", strip_value=True
        ),
    )


def processor_from_tree(config: VLAConfig, tree: dict[str, Any]) -> VLAProcessor:
    """The processor saved by :func:`checkpoint_tree`."""
    norms = {k: {"kind": "zscore", **v} for k, v in tree["normalizers"].items()}
    return VLAProcessor.from_dict(config, norms)


@dataclass
class Prepared:
    """What a run trains on."""

    train: ChunkDataset
    val: ChunkDataset | None
    processor: VLAProcessor
    episodes: tuple[int, int]


def prepare_data(cfg: VLATrainConfig) -> Prepared:
    """Load the demos, split episodes, fit normalisers on the training split."""
    episodes = load_demos(cfg.data.path, cfg.model.cameras, cfg.data.max_episodes)
    train_idx, val_idx = split_episodes(len(episodes), cfg.data.val_fraction, cfg.trainer.seed)
    train_eps = [episodes[i] for i in train_idx]
    val_eps = [episodes[i] for i in val_idx]
    states = np.concatenate([e.state for e in train_eps])
    actions = np.concatenate([e.action for e in train_eps])
    processor = VLAProcessor.fit(cfg.model, states, actions)
    val = ChunkDataset(val_eps, processor) if val_eps else None
    return Prepared(
        ChunkDataset(train_eps, processor), val, processor, (len(train_eps), len(val_eps))
    )


def check_config(cfg: VLATrainConfig, devices: int) -> None:
    """Batch sizes that split over accumulation steps and devices."""
    t = cfg.trainer
    if t.grad_accum < 1 or t.batch_size % (t.grad_accum * devices):
        raise ConfigError(
            f"trainer.batch_size {t.batch_size} must be a multiple of trainer.grad_accum "
            f"{t.grad_accum} x {devices} devices"
        )
    if t.steps < 1:
        raise ConfigError(f"trainer.steps must be >= 1, got {t.steps}")


def train(cfg: VLATrainConfig | None, *, resume: str | Path | None = None) -> RunResult:
    """Train a VLA (or continue the run in ``resume``); the result's ``metrics`` hold the final
    train and validation loss and the parameter count."""
    if resume is not None:
        run: RunDir | None = RunDir.open(resume)
        cfg = load_saved_config(run.config_path, VLATrainConfig)
    elif cfg is None:
        raise ConfigError("train needs a config or a run directory to resume")
    else:
        run = None
    t = cfg.trainer
    dist = init_distributed(cfg.cluster.kind, cfg.cluster.coordinator_port)
    seed_everything(t.seed)
    mesh = make_mesh(cfg.cluster.data, cfg.cluster.fsdp)
    check_config(cfg, mesh.devices.size)
    data = prepare_data(cfg)
    state = build_state(cfg)
    if run is None:
        run = RunDir.create(cfg.runs_root, cfg.run_name, prefix=cfg.name, config=cfg, seed=t.seed)
    checkpoints = RunCheckpoints(run, keep=t.keep_checkpoints)
    start = 0
    restored = checkpoints.restore_latest() if resume is not None else None
    if restored is not None:
        state = restore_into(state, restored[0], str(run.checkpoints_dir))
        start = int(restored[1]["step"])
    shardings = tree_shardings(state, mesh, cfg.cluster.fsdp_min_size)
    state = jax.device_put(state, shardings)
    t0 = time.time()
    wandb = t.wandb if jax.process_index() == 0 else "off"
    with Tracker(
        run, wandb=wandb, project=t.project, config=cfg, resume_step=start if resume else None
    ) as tracker:
        n_params = count_params(state.params)
        tracker.log(
            {
                "n_params": n_params,
                "devices": mesh.devices.size,
                **{f"mesh_{k}": v for k, v in mesh.shape.items()},
                "processes": dist["processes"],
                "train_samples": len(data.train),
            },
            start,
        )
        state, stopped_by, last = _loop(
            cfg, run, data, state, shardings, mesh, checkpoints, tracker, start
        )
    final = {"n_params": n_params, **last}
    return RunResult(
        run.path,
        t.steps if stopped_by == "completed" else last.get("step", start),
        time.time() - t0,
        stopped_by,
        final,
    )


def _loop(
    cfg: VLATrainConfig,
    run: RunDir,
    data: Prepared,
    state: TrainState,
    shardings: Any,
    mesh: jax.sharding.Mesh,
    checkpoints: RunCheckpoints,
    tracker: Tracker,
    start: int,
) -> tuple[TrainState, str, dict[str, Any]]:
    t = cfg.trainer
    step_fn = jax.jit(
        make_train_step(t.grad_accum), out_shardings=(shardings, None), donate_argnums=0
    )
    val_fn = jax.jit(eval_loss)
    log_iv, eval_iv = Interval(t.log_every, t.steps), Interval(t.eval_every, t.steps)
    ckpt_iv = Interval(t.checkpoint_every, t.steps)
    window, nonfinite = MetricsWindow(), NonFinitePolicy(run.path)
    per_sample = flops_per_sample(cfg.model)
    peak = cfg.cluster.peak_flops
    base_key = jax.random.key(t.seed)
    local = t.batch_size // jax.process_count()
    last: dict[str, Any] = {}
    stopped_by = "completed"
    step = start
    bar = progress(t.steps, desc="vla train", initial=start, enabled=t.progress)
    deadline = None if t.time_limit_s is None else time.perf_counter() + t.time_limit_s
    with StopFlag() as stop, bar:
        while step < t.steps:
            if deadline is not None and time.perf_counter() > deadline:
                stopped_by = "time_limit"
                if step > start:  # never re-save a state that came straight from a restore
                    checkpoints.save(
                        step, checkpoint_tree(state, data.processor), _metadata(cfg, step, last)
                    )
                break
            index = np_rng(t.seed, "batch", step, jax.process_index()).integers(
                0, len(data.train), local
            )
            host = data.train.batch(index)
            state, metrics = step_fn(
                state, shard_batch(host, mesh), jax.random.fold_in(base_key, step)
            )
            step += 1
            bar.update(1)
            metrics = jax.device_get(metrics)
            nonfinite.check(metrics, step=step, batch=host)
            window.add(metrics)
            window.count("samples", t.batch_size)
            window.count("tokens", t.batch_size * cfg.model.num_tokens)
            if log_iv.due(step):
                logged = window.flush()
                if peak:
                    logged["mfu"] = (
                        logged["samples_per_s"] * per_sample / (peak * mesh.devices.size)
                    )
                logged.update(_memory())
                tracker.log(logged, step)
                last.update(logged)
            if eval_iv.due(step) and data.val is not None:
                last["val_loss"] = _validate(val_fn, state, data.val, cfg, mesh)
                tracker.log({"val_loss": last["val_loss"]}, step)
            if ckpt_iv.due(step) or stop.stopped:
                checkpoints.save(
                    step, checkpoint_tree(state, data.processor), _metadata(cfg, step, last)
                )
            if stop.stopped:
                stopped_by = "ctrl-c"
                break
    last["step"] = step
    return state, stopped_by, last


def _validate(
    val_fn: Any, state: TrainState, val: ChunkDataset, cfg: VLATrainConfig, mesh: Any
) -> float:
    """Mean loss over ``val_batches`` fixed batches (same indices and noise every time)."""
    t = cfg.trainer
    rng = np_rng(t.seed, "val")
    losses = []
    for i in range(t.val_batches):
        host = val.batch(rng.integers(0, len(val), t.batch_size))
        losses.append(float(val_fn(state, shard_batch(host, mesh), jax.random.key(i))))
    return float(np.mean(losses))


def _memory() -> dict[str, float]:
    """Device memory in use / peak (GB) on device 0, where the backend reports it (not CPU)."""
    stats = jax.local_devices()[0].memory_stats() or {}
    out = {}
    if "bytes_in_use" in stats:
        out["device_mem_gb"] = stats["bytes_in_use"] / 1e9
    if "peak_bytes_in_use" in stats:
        out["device_peak_mem_gb"] = stats["peak_bytes_in_use"] / 1e9
    return out


def _metadata(cfg: VLATrainConfig, step: int, last: dict[str, Any]) -> dict[str, Any]:
    return {"step": step, "kind": KIND, "model": config_to_dict(cfg.model), "metrics": dict(last)}
