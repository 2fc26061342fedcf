"""Between the world and the VLA: input checks, image scaling, state/action normalisation.

Every problem with an observation (a missing camera, a wrong image size, a bad instruction, a
state of the wrong size or with NaNs) or an action chunk of the wrong dimension is a
:class:`VLAInputError` naming the key, the expected and the actual value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensorimotor.core.errors import UserError
from sensorimotor.core.normalize import Normalizer
from sensorimotor.vla.configuration import VLAConfig
from sensorimotor.vla.tokenizer import encode_batch


class VLAInputError(UserError):
    """An observation or action that does not match what the model was built for."""


@dataclass
class VLAProcessor:
    """Checks and converts observations and actions for one :class:`VLAConfig`; holds the
    state and action normalisers (fitted on the training demonstrations, saved in checkpoints)."""

    config: VLAConfig
    state_norm: Normalizer
    action_norm: Normalizer

    @classmethod
    def fit(cls, config: VLAConfig, states: np.ndarray, actions: np.ndarray) -> VLAProcessor:
        """Z-score normalisers of ``states (N, S)`` and ``actions (N, A)``."""
        check_dim("state", states, config.state_dim)
        check_dim("action", actions, config.action_dim)
        return cls(config, Normalizer.fit(states), Normalizer.fit(actions))

    def images(self, images: Mapping[str, np.ndarray]) -> np.ndarray:
        """``{camera: uint8 (B, H, W, 3)}`` -> float32 ``(B, cameras, H, W, 3)`` in ``[-1, 1]``."""
        c = self.config
        missing = [cam for cam in c.cameras if cam not in images]
        if missing:
            raise VLAInputError(
                f"observation lacks camera(s) {missing}; the model needs {list(c.cameras)}, "
                f"got {sorted(images)}"
            )
        out = []
        for cam in c.cameras:
            img = np.asarray(images[cam])
            want = (c.image_size, c.image_size, 3)
            if img.ndim != 4 or img.shape[1:] != want:
                raise VLAInputError(
                    f"camera {cam!r}: expected images of shape (B, {', '.join(map(str, want))}), "
                    f"got {img.shape}"
                )
            out.append(img.astype(np.float32) / 127.5 - 1.0)
        return np.stack(out, axis=1)

    def tokens(self, instructions: Sequence[str]) -> np.ndarray:
        """Token ids ``(B, max_text_tokens)`` of the instructions."""
        return encode_batch(instructions, self.config.max_text_tokens)

    def state(self, state: np.ndarray) -> np.ndarray:
        """Normalised ``(B, S)``."""
        check_dim("state", state, self.config.state_dim)
        return np.asarray(self.state_norm.normalize(np.asarray(state, np.float32)))

    def actions(self, actions: np.ndarray) -> np.ndarray:
        """Normalised action chunks ``(..., A)``."""
        check_dim("action", actions, self.config.action_dim)
        return np.asarray(self.action_norm.normalize(np.asarray(actions, np.float32)))

    def unnormalize_actions(self, actions_norm: Any) -> np.ndarray:
        """Joint targets from normalised model outputs ``(..., A)``."""
        return np.asarray(self.action_norm.denormalize(np.asarray(actions_norm, np.float32)))

    def observation(
        self, images: Mapping[str, np.ndarray], instructions: Sequence[str], state: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Model inputs of a batch of observations: ``images``, ``tokens``, ``state``."""
        out = {"images": self.images(images), "tokens": self.tokens(instructions)}
        out["state"] = self.state(state)
        sizes = {k: len(v) for k, v in out.items()}
        if len(set(sizes.values())) != 1:
            raise VLAInputError(f"observation parts have different batch sizes: {sizes}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The normalisers as checkpoint data."""
        return {"state": self.state_norm.to_dict(), "action": self.action_norm.to_dict()}

    @classmethod
    def from_dict(cls, config: VLAConfig, data: Mapping[str, Any]) -> VLAProcessor:
        """Inverse of :meth:`to_dict`."""
        return cls(
            config, Normalizer.from_dict(data["state"]), Normalizer.from_dict(data["action"])
        )


def check_dim(name: str, values: Any, dim: int) -> None:
    """``values (..., dim)`` finite, else a :class:`VLAInputError` naming ``name``."""
    values = np.asarray(values)
    if values.ndim < 1 or values.shape[-1] != dim:
        raise VLAInputError(f"{name}: expected a last dimension of {dim}, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise VLAInputError(f"{name}: contains NaN or Inf values")
