"""The Weights tab's logic: per-leaf statistics and norms per transformer component."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Components in the order the tab lists them; :func:`component_of` maps a leaf name to one.
COMPONENTS = ("embeddings", "attention", "mlp", "norm", "head")


def component_of(name: str) -> str:
    """The transformer component a parameter belongs to, from its dotted name."""
    if ".attn." in f".{name}." or "attn" in name.split("."):
        return "attention"
    if ".mlp." in f".{name}.":
        return "mlp"
    if "norm" in name:
        return "norm"
    if any(k in name for k in ("patch_embed", "decoder_embed", "mask_token", "pos")):
        return "embeddings"
    return "head"


@dataclass(frozen=True)
class LeafStats:
    """One parameter array."""

    name: str
    component: str
    shape: tuple[int, ...]
    norm: float
    mean: float
    std: float


def leaf_stats(params: Any) -> list[LeafStats]:
    """Statistics of every parameter array, by dotted name."""
    import jax

    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        name = ".".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
        value = np.asarray(leaf, np.float64)
        out.append(
            LeafStats(
                name,
                component_of(name),
                tuple(value.shape),
                float(np.linalg.norm(value)),
                float(value.mean()),
                float(value.std()),
            )
        )
    return out


def component_norms(params: Any) -> dict[str, float]:
    """The L2 norm of all parameters of each component."""
    sums = dict.fromkeys(COMPONENTS, 0.0)
    for s in leaf_stats(params):
        sums[s.component] += s.norm**2
    return {k: float(np.sqrt(v)) for k, v in sums.items()}


def component_values(params: Any) -> dict[str, np.ndarray]:
    """Every parameter value of each component, flattened (for the histograms)."""
    import jax

    parts: dict[str, list[np.ndarray]] = {k: [] for k in COMPONENTS}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        name = ".".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
        parts[component_of(name)].append(np.asarray(leaf, np.float32).reshape(-1))
    return {k: np.concatenate(v) for k, v in parts.items() if v}
