"""An inverse-dynamics model ``a ~ g(s, s')``: the first piece of RIC (issue 20).

RIC regularises a diffusion policy with it (the policy's actions should agree with ``g`` on the
dataset's transitions); this module holds only the model and its regression update. Inputs are
flat, normalised observations; outputs are ``tanh``-squashed actions in ``[-1, 1]`` (the agents'
normalised action units), regressed with mean squared error.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx, struct

from sensorimotor.learners.optim import make_optimizer
from sensorimotor.learners.state import TrainState
from sensorimotor.nn.mlp import MLP


class InverseDynamics(struct.PyTreeNode):
    """``g(s, s') -> a`` as an MLP on ``[s, s' - s]`` (the difference makes additive dynamics
    linear in the input), trained by MSE on dataset transitions."""

    net: TrainState

    def predict(self, obs: jax.Array, next_obs: jax.Array) -> jax.Array:
        """Actions ``(..., A)`` in ``[-1, 1]`` for observation pairs ``(..., D)``."""
        x = jnp.concatenate([obs, next_obs - obs], axis=-1)
        return jnp.tanh(self.net.module()(x))

    def loss(self, obs: jax.Array, actions: jax.Array, next_obs: jax.Array) -> jax.Array:
        """Mean squared error of :meth:`predict` against ``actions`` (normalised units)."""
        return jnp.mean(jnp.sum((self.predict(obs, next_obs) - actions) ** 2, axis=-1))

    @jax.jit
    def update(
        self, obs: jax.Array, actions: jax.Array, next_obs: jax.Array
    ) -> tuple[InverseDynamics, jax.Array]:
        """One optimiser step on a batch of transitions: ``(new model, loss before the step)``."""

        def loss_fn(params: nnx.State) -> jax.Array:
            return self.replace(net=self.net.replace(params=params)).loss(obs, actions, next_obs)

        loss, grads = jax.value_and_grad(loss_fn)(self.net.params)
        return self.replace(net=self.net.apply_gradients(grads)), loss


def create_inverse_dynamics(
    obs_dim: int,
    action_dim: int,
    rng: jax.Array,
    *,
    hidden: Sequence[int] = (256, 256),
    lr: float = 3e-4,
) -> InverseDynamics:
    """A fresh inverse-dynamics model for flat observations of ``obs_dim``."""
    net = MLP(2 * obs_dim, tuple(hidden), action_dim, activation="mish", rngs=nnx.Rngs(rng))
    return InverseDynamics(net=TrainState.create(net, make_optimizer(lr)))
