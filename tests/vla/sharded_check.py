"""Run in a subprocess with 8 fake CPU devices (``test_sharding.py``): a sharded train step equals
the one-device step, and a checkpoint saved on one mesh restores onto another."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.config import config_from_dict
from sensorimotor.train.vla import build_state, checkpoint_tree, make_train_step, restore_into
from sensorimotor.train.vla_config import VLATrainConfig
from sensorimotor.train.vla_sharding import make_mesh, shard_batch, tree_shardings
from sensorimotor.vla.processor import VLAProcessor
from sensorimotor.vla.tokenizer import encode_batch


def main(out: Path, model: dict) -> None:
    assert jax.device_count() == 8, jax.devices()
    cfg = config_from_dict(
        VLATrainConfig, {"model": model, "trainer": {"steps": 10, "batch_size": 16, "lr": 1e-3}}
    )
    rng = np.random.default_rng(0)
    c = cfg.model
    batch = {
        "images": rng.uniform(-1, 1, (16, len(c.cameras), c.image_size, c.image_size, 3)).astype(
            np.float32
        ),
        "tokens": encode_batch(["pick up the red brick"] * 16, c.max_text_tokens),
        "state": rng.normal(size=(16, c.state_dim)).astype(np.float32),
        "actions": rng.normal(size=(16, c.horizon, c.action_dim)).astype(np.float32),
    }
    key = jax.random.key(3)
    results = {}
    for name, (data, fsdp) in {"single": (1, 1), "data2_fsdp4": (2, 4)}.items():
        devices = jax.devices()[: data * fsdp]
        mesh = make_mesh(data, fsdp, devices)
        state = build_state(cfg)
        shardings = tree_shardings(state, mesh, min_size=256)
        state = jax.device_put(state, shardings)
        step = jax.jit(make_train_step(1), out_shardings=(shardings, None))
        new, metrics = step(state, shard_batch(batch, mesh), key)
        sharded = sum(
            "fsdp" in str(s.spec) for s in jax.tree.leaves(tree_shardings(new.params, mesh, 256))
        )
        results[name] = {
            "loss": float(metrics["loss"]),
            "grad_norm": float(metrics["grad_norm"]),
            "sharded_leaves": int(sharded),
        }
        flat = jax.tree.leaves(jax.device_get(new.params))
        np.save(out / f"{name}.npy", np.concatenate([np.ravel(x) for x in flat]))
        if name == "data2_fsdp4":
            manager = CheckpointManager(out / "ckpt")
            manager.save(1, checkpoint_tree(new, _proc(cfg)), {"step": 1})
            # Restore onto a different mesh: 8 devices as (data=4, fsdp=2).
            mesh2 = make_mesh(4, 2)
            tree, _ = manager.restore()
            fresh = build_state(cfg)
            restored = restore_into(fresh, tree, "ckpt")
            restored = jax.device_put(restored, tree_shardings(restored, mesh2, 256))
            again = jax.tree.leaves(jax.device_get(restored.params))
            results["restored_equal"] = bool(
                all(np.array_equal(a, b) for a, b in zip(flat, again, strict=True))
            )
            spec = {str(x.sharding.spec) for x in jax.tree.leaves(restored.params)}
            results["restored_specs"] = sorted(spec)
    (out / "results.json").write_text(json.dumps(results))


def _proc(cfg: VLATrainConfig) -> VLAProcessor:
    c = cfg.model
    return VLAProcessor.fit(
        c,
        np.random.default_rng(1).normal(size=(10, c.state_dim)),
        np.random.default_rng(2).normal(size=(10, c.action_dim)),
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), json.loads(sys.argv[2]))
