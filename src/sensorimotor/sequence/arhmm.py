"""AR-HMM behaviour syllables with dynamax's ``LinearAutoregressiveHMM`` on PCA-reduced joint state.

``segment`` fits PCA on the training clips' joint-state slices, then a sticky linear AR-HMM by EM
for each (number of states, stickiness) in a small grid, scores held-out log-likelihood per step
on validation clips, keeps the best, and writes the Viterbi syllables into every clip as
``/syllables`` (attribute ``n_syllables``). It also reports syllable durations and, when the clips
carry the generator's regime labels (``/reference/regime``), their normalised mutual information.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from sensorimotor.core.errors import ConfigError, DataError
from sensorimotor.data.clips.datasets import split_clips
from sensorimotor.data.clips.format import Clip, clip_paths, read_clip, update_clip


@dataclass
class SegmentConfig:
    """AR-HMM search and data settings."""

    path: str = "saved/clips_rodent"
    keys: list[str] = field(default_factory=lambda: ["qpos_local"])
    pca_dims: int = 8
    num_states: list[int] = field(default_factory=lambda: [4, 8, 12])
    stickiness: list[float] = field(default_factory=lambda: [10.0, 100.0])
    num_lags: int = 1
    num_iters: int = 50
    val_fraction: float = 0.2
    split_seed: int = 0
    seed: int = 0
    max_clips: int = 0
    write: bool = True
    runs_root: str = "runs"
    run_name: str | None = None


def _import_dynamax() -> Any:
    try:
        from dynamax.hidden_markov_model import LinearAutoregressiveHMM
    except ImportError as exc:
        raise ConfigError("sequence segment needs dynamax: pip install -e '.[sequence]'") from exc
    return LinearAutoregressiveHMM


@dataclass
class PCA:
    """Principal components of ``(N, D)`` data: ``mean (D,)``, ``components (K, D)``, ``scale (K,)``."""

    mean: np.ndarray
    components: np.ndarray
    scale: np.ndarray
    explained: float

    @classmethod
    def fit(cls, x: np.ndarray, k: int) -> PCA:
        """Fit on ``x (N, D)`` keeping ``k`` components (scores are scaled to unit variance)."""
        if k < 1 or k > x.shape[1]:
            raise ConfigError(f"pca_dims must be in [1, {x.shape[1]}], got {k}")
        mean = x.mean(0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        var = s**2 / max(len(x) - 1, 1)
        scale = np.sqrt(var[:k])
        return cls(mean, vt[:k], scale, float(var[:k].sum() / var.sum()))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``(T, D) -> (T, K)`` standardised scores."""
        return ((x - self.mean) @ self.components.T) / self.scale


def joint_state(clip: Clip, keys: Sequence[str]) -> np.ndarray:
    """The observation slices ``keys`` of a clip, concatenated: ``(T, D)``."""
    layout = clip.layout()
    missing = [k for k in keys if k not in layout]
    if missing:
        raise DataError(
            f"{clip.path}: observation layout has no {missing}; present: {sorted(layout)}"
        )
    return np.concatenate([clip.obs[:, slice(*layout[k])] for k in keys], axis=1)


def run_lengths(states: np.ndarray) -> np.ndarray:
    """Lengths of the runs of equal consecutive values in ``states (T,)``."""
    change = np.flatnonzero(np.diff(states)) + 1
    bounds = np.concatenate([[0], change, [len(states)]])
    return np.diff(bounds)


def normalized_mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """NMI (arithmetic-mean normalisation) between two label sequences."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    joint = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(joint, (ai, bi), 1)
    p = joint / joint.sum()
    pa, pb = p.sum(1), p.sum(0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / (pa[:, None] * pb[None, :])[nz])).sum())
    ha = -float((pa[pa > 0] * np.log(pa[pa > 0])).sum())
    hb = -float((pb[pb > 0] * np.log(pb[pb > 0])).sum())
    return mi / max((ha + hb) / 2, 1e-12)


def fit_arhmm(
    emissions: np.ndarray,
    num_states: int,
    stickiness: float,
    num_lags: int,
    num_iters: int,
    seed: int,
) -> tuple[Any, Any, np.ndarray]:
    """EM fit on ``emissions (N, T, K)``; returns (model, params, log-prob curve)."""
    cls = _import_dynamax()
    model = cls(
        num_states, emissions.shape[-1], num_lags=num_lags, transition_matrix_stickiness=stickiness
    )
    em = jnp.asarray(emissions)
    inputs = jax.vmap(model.compute_inputs)(em)
    params, props = model.initialize(
        jax.random.key(seed), method="kmeans", emissions=em.reshape(-1, em.shape[-1])
    )
    params, lps = model.fit_em(params, props, em, inputs=inputs, num_iters=num_iters, verbose=False)
    return model, params, np.asarray(lps)


def heldout_loglik(model: Any, params: Any, emissions: np.ndarray) -> float:
    """Mean log-likelihood per time step of ``emissions (N, T, K)``."""
    em = jnp.asarray(emissions)
    inputs = jax.vmap(model.compute_inputs)(em)
    lls = jax.vmap(lambda e, u: model.marginal_log_prob(params, e, inputs=u))(em, inputs)
    return float(jnp.sum(lls) / (em.shape[0] * em.shape[1]))


def most_likely(model: Any, params: Any, emissions: np.ndarray) -> np.ndarray:
    """Viterbi states ``(N, T)``."""
    em = jnp.asarray(emissions)
    inputs = jax.vmap(model.compute_inputs)(em)
    return np.asarray(
        jax.vmap(lambda e, u: model.most_likely_states(params, e, inputs=u))(em, inputs)
    )


def _stack(clips: Sequence[Clip], pca: PCA, keys: Sequence[str]) -> np.ndarray:
    lengths = {c.length for c in clips}
    if len(lengths) != 1:
        t = min(lengths)
        return np.stack([pca.transform(joint_state(c, keys))[:t] for c in clips])
    return np.stack([pca.transform(joint_state(c, keys)) for c in clips])


def segment(cfg: SegmentConfig, out_dir: Path, *, progress: bool = True) -> dict[str, Any]:
    """Fit, select, write syllables; returns the summary (also saved to ``out_dir/segment.json``)
    plus ``val_syllables`` (clip stem -> syllables) for plots."""
    paths = clip_paths(cfg.path)
    if cfg.max_clips > 0:
        paths = paths[: cfg.max_clips]
    train_p, val_p = split_clips(paths, cfg.val_fraction, cfg.split_seed)
    if not val_p:
        raise ConfigError("segment needs validation clips: set val_fraction > 0 and 2+ clips")
    train = [read_clip(p, extra=True) for p in train_p]
    val = [read_clip(p, extra=True) for p in val_p]
    pca = PCA.fit(np.concatenate([joint_state(c, cfg.keys) for c in train]), cfg.pca_dims)
    em_train, em_val = _stack(train, pca, cfg.keys), _stack(val, pca, cfg.keys)
    grid = []
    best: tuple[float, Any, Any, dict[str, Any]] | None = None
    combos = list(itertools.product(cfg.num_states, cfg.stickiness))
    for k, s in tqdm(combos, desc="AR-HMM grid", disable=not progress):
        t0 = time.time()
        model, params, lps = fit_arhmm(em_train, k, s, cfg.num_lags, cfg.num_iters, cfg.seed)
        ll = heldout_loglik(model, params, em_val)
        states = most_likely(model, params, em_val)
        durs = np.concatenate([run_lengths(z) for z in states])
        row = {
            "num_states": k,
            "stickiness": s,
            "train_ll_per_step": float(lps[-1] / (em_train.shape[0] * em_train.shape[1])),
            "val_ll_per_step": ll,
            "mean_duration_steps": float(durs.mean()),
            "states_used": int(len(np.unique(states))),
            "fit_seconds": time.time() - t0,
        }
        grid.append(row)
        if best is None or ll > best[0]:
            best = (ll, model, params, row)
    assert best is not None
    _, model, params, row = best
    all_clips = train + val
    syllables = [most_likely(model, params, _stack([c], pca, cfg.keys))[0] for c in all_clips]
    durs = np.concatenate([run_lengths(z) for z in syllables])
    dt = float(all_clips[0].attrs.get("control_dt", 1.0))
    summary: dict[str, Any] = {
        "best": row,
        "grid": grid,
        "pca_explained_variance": pca.explained,
        "duration_steps": {"mean": float(durs.mean()), "median": float(np.median(durs))},
        "duration_seconds_mean": float(durs.mean() * dt),
        "n_train_clips": len(train),
        "n_val_clips": len(val),
    }
    regimes = [c.extra.get("reference", {}).get("regime") for c in val]
    if all(r is not None for r in regimes):
        val_syl = syllables[len(train) :]
        summary["nmi_vs_generator_regimes_val"] = normalized_mutual_info(
            np.concatenate(regimes), np.concatenate(val_syl)
        )
    if cfg.write:
        for clip, z in zip(all_clips, syllables, strict=True):
            update_clip(clip.path, "syllables", z.astype(np.int32))
            with h5py.File(clip.path, "a") as f:
                f.attrs["n_syllables"] = int(row["num_states"])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "segment.json").write_text(json.dumps(summary, indent=2))
    with h5py.File(out_dir / "arhmm.h5", "w") as f:
        f.create_dataset("pca/mean", data=pca.mean)
        f.create_dataset("pca/components", data=pca.components)
        f.create_dataset("pca/scale", data=pca.scale)
        for kp, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
            f.create_dataset(
                "params/" + jax.tree_util.keystr(kp).strip(".").replace(".", "/"),
                data=np.asarray(leaf),
            )
        f.attrs["best"] = json.dumps(row)
    summary["control_dt"] = dt
    summary["val_syllables"] = {
        c.path.stem: z.tolist() for c, z in zip(val, syllables[len(train) :], strict=True)
    }
    return summary
