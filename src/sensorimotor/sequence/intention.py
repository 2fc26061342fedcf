"""A small intention VAE: encoder over the future-reference window -> latent intention, decoder
(intention, proprioception) -> the expert's next command. ``latent_mean`` in the clips is the
encoder mean. Parameters and normalisation stats are saved as an HDF5 pytree (no pickle)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h5py
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm import tqdm

from sensorimotor.data.clips.format import Clip
from sensorimotor.data.h5tree import group_to_tree, read_attrs, tree_to_group, write_attrs
from sensorimotor.learners.optim import make_optimizer
from sensorimotor.learners.state import TrainState
from sensorimotor.nn.mlp import MLP


@dataclass(frozen=True)
class IntentionConfig:
    """VAE size and training settings."""

    latent_dim: int = 16
    hidden: tuple[int, ...] = (256, 256)
    reference_key: str = "reference"
    proprio_keys: tuple[str, ...] = ("qpos_local", "qvel", "act")
    beta: float = 1e-3
    lr: float = 1e-3
    steps: int = 1500
    batch_size: int = 512
    seed: int = 0


class IntentionVAE(nnx.Module):
    """``ref (..., R), proprio (..., P) -> ctrl (..., A)`` through a latent ``z (..., L)``."""

    def __init__(
        self, d_ref: int, d_prop: int, d_act: int, cfg: IntentionConfig, *, rngs: nnx.Rngs
    ):
        self.latent_dim = cfg.latent_dim
        self.encoder = MLP(d_ref, cfg.hidden, 2 * cfg.latent_dim, activation="gelu", rngs=rngs)
        self.decoder = MLP(cfg.latent_dim + d_prop, cfg.hidden, d_act, activation="gelu", rngs=rngs)

    def encode(self, ref: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Posterior ``(mean, log_var)``, each ``(..., L)``."""
        h = self.encoder(ref)
        return h[..., : self.latent_dim], jnp.clip(h[..., self.latent_dim :], -10.0, 5.0)

    def decode(self, z: jax.Array, prop: jax.Array) -> jax.Array:
        """Predicted command ``(..., A)``."""
        return self.decoder(jnp.concatenate([z, prop], axis=-1))


def _slices(clip: Clip, cfg: IntentionConfig) -> tuple[np.ndarray, np.ndarray]:
    layout = clip.layout()
    a, b = layout[cfg.reference_key]
    ref = clip.obs[:, a:b]
    prop = np.concatenate([clip.obs[:, slice(*layout[k])] for k in cfg.proprio_keys], axis=1)
    return ref, prop


def train_intention(
    clips: Sequence[Clip], cfg: IntentionConfig, *, progress: bool = True
) -> tuple[IntentionVAE, dict[str, np.ndarray], list[float]]:
    """Fit the VAE on all (obs[t], ctrl[t+1]) pairs; returns model, z-score stats, loss curve."""
    refs, props, acts = [], [], []
    for c in clips:
        r, p = _slices(c, cfg)
        refs.append(r[:-1])
        props.append(p[:-1])
        acts.append(c.ctrl[1:])
    ref, prop, act = (np.concatenate(x).astype(np.float32) for x in (refs, props, acts))
    stats = {
        "ref_mean": ref.mean(0), "ref_std": ref.std(0) + 1e-6,
        "prop_mean": prop.mean(0), "prop_std": prop.std(0) + 1e-6,
        "act_mean": act.mean(0), "act_std": act.std(0) + 1e-6,
    }  # fmt: skip
    ref_n = (ref - stats["ref_mean"]) / stats["ref_std"]
    prop_n = (prop - stats["prop_mean"]) / stats["prop_std"]
    act_n = (act - stats["act_mean"]) / stats["act_std"]
    model = IntentionVAE(ref.shape[1], prop.shape[1], act.shape[1], cfg, rngs=nnx.Rngs(cfg.seed))
    state = TrainState.create(model, make_optimizer(cfg.lr))

    @jax.jit
    def train_step(state: TrainState, r, p, a, key) -> tuple[TrainState, jax.Array]:
        def loss_fn(params: nnx.State) -> tuple[jax.Array, jax.Array]:
            m = state.module(params)
            mu, logvar = m.encode(r)
            z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(key, mu.shape)
            rec = jnp.mean((m.decode(z, p) - a) ** 2)
            kl = -0.5 * jnp.mean(jnp.sum(1 + logvar - mu**2 - jnp.exp(logvar), axis=-1))
            return rec + cfg.beta * kl, rec

        (_, rec), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        return state.apply_gradients(grads), rec

    rng = np.random.default_rng(cfg.seed)
    key = jax.random.key(cfg.seed)
    losses: list[float] = []
    n = ref_n.shape[0]
    for _ in tqdm(range(cfg.steps), desc="intention VAE", disable=not progress):
        idx = rng.integers(0, n, min(cfg.batch_size, n))
        key, sub = jax.random.split(key)
        state, rec = train_step(state, ref_n[idx], prop_n[idx], act_n[idx], sub)
        losses.append(float(rec))
    if not np.isfinite(losses[-1]):
        raise FloatingPointError(f"intention VAE diverged (reconstruction loss {losses[-1]})")
    return state.module(), stats, losses


def encode_clip(
    model: IntentionVAE, stats: dict[str, np.ndarray], clip: Clip, cfg: IntentionConfig
) -> np.ndarray:
    """``latent_mean (T, L)`` of one clip."""
    ref, _ = _slices(clip, cfg)
    mu, _ = model.encode(jnp.asarray((ref - stats["ref_mean"]) / stats["ref_std"]))
    return np.asarray(mu, np.float32)


def save_intention(
    path: str | Path, model: IntentionVAE, stats: dict[str, np.ndarray], cfg: IntentionConfig
) -> None:
    """Save parameters + stats + config to an HDF5 file."""
    with h5py.File(path, "w") as f:
        tree_to_group(f.create_group("params"), nnx.to_pure_dict(nnx.state(model, nnx.Param)))
        tree_to_group(f.create_group("stats"), stats)
        write_attrs(f, {"config": asdict(cfg)})


def lists_to_int_dicts(tree: Any) -> Any:
    """Turn lists (from digit-keyed HDF5 groups) back into int-keyed dicts, as NNX states use."""
    if isinstance(tree, list):
        return {i: lists_to_int_dicts(v) for i, v in enumerate(tree)}
    if isinstance(tree, dict):
        return {k: lists_to_int_dicts(v) for k, v in tree.items()}
    return tree


def load_intention(
    path: str | Path, d_ref: int, d_prop: int, d_act: int
) -> tuple[IntentionVAE, dict[str, np.ndarray], IntentionConfig]:
    """Load a VAE saved by ``save_intention``."""
    with h5py.File(path, "r") as f:
        raw = read_attrs(f)["config"]
        params = group_to_tree(f["params"], file=path)
        stats = group_to_tree(f["stats"], file=path)
    raw["hidden"] = tuple(raw["hidden"])
    raw["proprio_keys"] = tuple(raw["proprio_keys"])
    cfg = IntentionConfig(**raw)
    model = IntentionVAE(d_ref, d_prop, d_act, cfg, rngs=nnx.Rngs(0))
    state = nnx.state(model, nnx.Param)
    nnx.replace_by_pure_dict(state, lists_to_int_dicts(params))
    nnx.update(model, state)
    return model, stats, cfg
