"""Critics: Q, ensemble Q (vmapped heads, subsampled min) and distributional Q (HL-Gauss / two-hot).

All critics are ensembles of ``E`` heads (``E = 1`` for plain ``q``) over ``concat(obs, action)``
(or ``obs`` alone when ``use_action=False``, i.e. a state-value ``V``). ``values`` returns expected
values ``(E, B)``; ``reduce`` combines heads (``min``, ``mean``, or REDQ-style ``subsample_min``
over ``num_min`` random heads). A Polyak-averaged target copy is kept. ``update(batch)`` regresses
onto ``batch["targets"]`` (the agent computes them) with MSE, or cross-entropy against an HL-Gauss
or two-hot projection for the distributional critic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

import jax
import jax.numpy as jnp
from flax import nnx

from sensorimotor.core.errors import ConfigError
from sensorimotor.learners.config import make_config
from sensorimotor.learners.learner import Learner
from sensorimotor.learners.loader import LEARNER_KINDS
from sensorimotor.learners.optim import make_optimizer
from sensorimotor.learners.spec import Spec
from sensorimotor.learners.state import TrainState, global_norm, polyak
from sensorimotor.nn.distributional import Support, soft_cross_entropy
from sensorimotor.nn.ensemble import Ensemble
from sensorimotor.nn.mlp import MLP

LEARNER_KINDS.setdefault("critic", "sensorimotor.agents.critics:create_critic")

#: Critic types: one Q head, an ensemble of heads, or categorical (distributional) heads.
CriticType = Literal["q", "ensemble", "distributional"]
#: How an ensemble's heads are reduced to one value.
Reduction = Literal["min", "mean", "subsample_min", "subsample_mean"]
CRITICS: tuple[str, ...] = get_args(CriticType)
REDUCTIONS: tuple[str, ...] = get_args(Reduction)


@dataclass(frozen=True)
class CriticConfig:
    """Hyperparameters of a critic.

    ``num_heads`` defaults per type (``q``: 1, ``ensemble``/``distributional``: 2);
    ``num_min`` heads are drawn for ``subsample_*`` reductions. Distributional critics use
    ``num_bins`` bins on ``[v_min, v_max]`` (in symlog space when ``symlog``) and ``target``
    ``"hl_gauss"`` (``sigma_ratio`` x bin width) or ``"two_hot"``.
    """

    hidden: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    layer_norm: bool = False
    num_heads: int | None = None
    num_min: int = 2
    reduce: Reduction = "min"
    use_action: bool = True
    lr: float = 3e-4
    tau: float = 0.005
    grad_clip: float | None = None
    num_bins: int = 101
    v_min: float = -10.0
    v_max: float = 10.0
    symlog: bool = False
    target: Literal["hl_gauss", "two_hot"] = "hl_gauss"
    sigma_ratio: float = 0.75

    def __post_init__(self) -> None:
        if self.reduce not in REDUCTIONS:
            raise ValueError(f"unknown critic reduce {self.reduce!r}; expected one of {REDUCTIONS}")
        if self.target not in ("hl_gauss", "two_hot"):
            raise ValueError(f"unknown critic target {self.target!r}; expected hl_gauss or two_hot")


class QNet(nnx.Module):
    """``E`` MLP heads on ``concat(obs, action)`` -> ``(E, B, out)``."""

    def __init__(self, in_dim: int, out_dim: int, heads: int, cfg: CriticConfig, *, rngs: nnx.Rngs):
        self.ens = Ensemble(
            lambda r: MLP(
                in_dim,
                cfg.hidden,
                out_dim,
                activation=cfg.activation,
                layer_norm=cfg.layer_norm,
                rngs=r,
            ),
            heads,
            rngs=rngs,
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.ens(x)


class Critic(Learner):
    """A (possibly distributional) ensemble critic with a Polyak target."""

    kind: ClassVar[str] = "critic"

    net: TrainState
    target_params: nnx.State
    rng: jax.Array
    step: jax.Array

    # -- helpers ------------------------------------------------------------------------------

    @property
    def distributional(self) -> bool:
        """Whether heads output categorical logits."""
        return self.name == "distributional"

    @property
    def num_heads(self) -> int:
        """Ensemble size ``E``."""
        return _num_heads(self.name, self.config)

    def support(self) -> Support:
        """Bins of the distributional critic."""
        c = self.config
        return Support(c.v_min, c.v_max, c.num_bins, c.symlog)

    def _inputs(self, obs: jax.Array, actions: jax.Array | None) -> jax.Array:
        if not self.config.use_action or actions is None:
            return obs
        return jnp.concatenate([obs, actions], axis=-1)

    def raw_fn(self, params: nnx.State, obs: jax.Array, actions: jax.Array | None) -> jax.Array:
        """Head outputs ``(E, ..., out)`` (logits when distributional)."""
        return self.net.module(params)(self._inputs(obs, actions))

    def values_fn(self, params: nnx.State, obs: jax.Array, actions: jax.Array | None) -> jax.Array:
        """Expected values ``(E, ...)`` of every head."""
        out = self.raw_fn(params, obs, actions)
        if self.distributional:
            return self.support().decode(out)
        return out[..., 0]

    def values(self, obs: jax.Array, actions: jax.Array | None = None) -> jax.Array:
        """Online heads' values ``(E, ...)`` for flat ``obs`` and normalised ``actions``."""
        return self.values_fn(self.net.params, obs, actions)

    def target_values(self, obs: jax.Array, actions: jax.Array | None = None) -> jax.Array:
        """Target heads' values ``(E, ...)``."""
        return self.values_fn(self.target_params, obs, actions)

    def reduce(self, values: jax.Array, rng: jax.Array, mode: str | None = None) -> jax.Array:
        """Combine heads ``(E, ...) -> (...)`` by ``mode`` (default: the config's ``reduce``)."""
        mode = mode or self.config.reduce
        E = values.shape[0]
        if mode.startswith("subsample") and self.config.num_min < E:
            idx = jax.random.choice(rng, E, (self.config.num_min,), replace=False)
            values = values[idx]
        if mode.endswith("min"):
            return values.min(0)
        if mode.endswith("mean"):
            return values.mean(0)
        raise ValueError(f"unknown critic reduce {mode!r}; expected one of {REDUCTIONS}")

    def action_grad(
        self,
        obs: jax.Array,
        actions: jax.Array,
        mode: str = "mean",
        params: nnx.State | None = None,
    ) -> jax.Array:
        """``d reduce(Q)(obs, a) / d a`` per sample, shape of ``actions``."""
        p = self.net.params if params is None else params
        k = jax.random.PRNGKey(0)

        def q(a: jax.Array) -> jax.Array:
            return self.reduce(self.values_fn(p, obs, a), k, mode).sum()

        return jax.grad(q)(actions)

    def loss_fn(
        self,
        params: nnx.State,
        obs: jax.Array,
        actions: jax.Array | None,
        targets: jax.Array,
        weights: jax.Array | None = None,
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Regression loss onto ``targets`` (``(B,)`` shared or ``(E, B)`` per head)."""
        out = self.raw_fn(params, obs, actions)
        targets = jax.lax.stop_gradient(jnp.broadcast_to(targets, out.shape[:-1]))
        if self.distributional:
            probs = self.support().project(targets, self.config.target, self.config.sigma_ratio)
            per = soft_cross_entropy(out, probs)
            q = self.support().decode(out)
        else:
            q = out[..., 0]
            per = (q - targets) ** 2
        per = per.mean(0)  # over heads
        w = jnp.ones_like(per) if weights is None else weights
        loss = jnp.mean(w * per)
        return loss, {
            "q": jnp.mean(q),
            "q_std_heads": jnp.mean(jnp.std(q, 0)),
            "target": jnp.mean(targets),
        }

    def fit_with(
        self, loss: Callable[[nnx.State], tuple[jax.Array, dict[str, jax.Array]]]
    ) -> tuple[Critic, dict[str, jax.Array]]:
        """One gradient step on an arbitrary ``loss(params) -> (value, info)`` + Polyak target."""
        (value, info), grads = jax.value_and_grad(loss, has_aux=True)(self.net.params)
        net = self.net.apply_gradients(grads)
        target = polyak(self.target_params, net.params, self.config.tau)
        info = {"loss": value, **info, "grad_norm": global_norm(grads)}
        return self.replace(net=net, target_params=target, step=self.step + 1), info

    def fit(
        self,
        obs: jax.Array,
        actions: jax.Array | None,
        targets: jax.Array,
        weights: jax.Array | None = None,
    ) -> tuple[Critic, dict[str, jax.Array]]:
        """One regression step onto ``targets`` and a Polyak target update (pure)."""
        return self.fit_with(lambda p: self.loss_fn(p, obs, actions, targets, weights))

    # -- learner interface --------------------------------------------------------------------

    def _update(self, batch: Mapping[str, jax.Array]) -> tuple[Critic, dict[str, jax.Array]]:
        """Regress onto ``batch["targets"] (B,)`` at ``batch["observations"]``/``["actions"]``
        (env units), optional ``batch["weights"]``."""
        obs = self.spec.flatten_obs(batch["observations"])
        actions = None
        if self.config.use_action:
            actions = self.spec.normalize_action(self.spec.flatten_actions(batch["actions"]))
        return self.fit(obs, actions, batch["targets"], batch.get("weights"))

    @jax.jit
    def predict(self, obs: jax.Array, actions: jax.Array | None = None) -> jax.Array:
        """Every head's value ``(E, B)`` for ``obs`` and env-unit ``actions``."""
        obs = self.spec.flatten_obs(obs)
        a = None
        if self.config.use_action:
            a = self.spec.normalize_action(self.spec.flatten_actions(actions))
        return self.values(obs, a)


def _num_heads(name: str, cfg: CriticConfig) -> int:
    if cfg.num_heads is not None:
        return cfg.num_heads
    return 1 if name == "q" else 2


def critic_config(name: str, config: Mapping[str, Any] | Any | None = None) -> CriticConfig:
    """The :class:`CriticConfig` for critic type ``name`` with overrides."""
    if name not in CRITICS:
        raise ConfigError(f"unknown critic {name!r}; expected one of {list(CRITICS)}")
    return make_config(CriticConfig, config, where=f"critic ({name})")


def create_critic(
    name: str,
    spec: Spec,
    *,
    config: Mapping[str, Any] | CriticConfig | None = None,
    seed: int = 0,
    rng: jax.Array | None = None,
) -> Critic:
    """A fresh critic of type ``name`` (``q | ensemble | distributional``)."""
    cfg = critic_config(name, config)
    heads = _num_heads(name, cfg)
    if name == "q" and heads != 1:
        raise ConfigError(
            f"critic 'q' has exactly one head; got num_heads={heads} (use 'ensemble')"
        )
    rng = jax.random.PRNGKey(seed) if rng is None else rng
    k_init, k_rng = jax.random.split(rng)
    in_dim = spec.flat_obs_dim + (spec.flat_action_dim if cfg.use_action else 0)
    out_dim = cfg.num_bins if name == "distributional" else 1
    if name == "distributional":
        Support(cfg.v_min, cfg.v_max, cfg.num_bins, cfg.symlog)  # validates
    module = QNet(in_dim, out_dim, heads, cfg, rngs=nnx.Rngs(k_init))
    state = TrainState.create(module, make_optimizer(cfg.lr, grad_clip=cfg.grad_clip))
    return Critic(
        name=name,
        spec=spec,
        config=cfg,
        net=state,
        target_params=jax.tree.map(lambda x: x, state.params),
        rng=k_rng,
        step=jnp.zeros((), jnp.int32),
    )
