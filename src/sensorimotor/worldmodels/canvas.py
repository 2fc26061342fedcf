"""The canvas: the last frames side by side, separated by bars coloured by the action between them.

A canvas of ``K`` slots holds frames ``f[t-K+1] .. f[t]`` left to right; the vertical bar between slot
``i`` and ``i + 1`` has the colour of the action taken between those two frames. The last slot is the
target: the world model sees everything else and inpaints it. Layout (K = 3, ``|`` = separator)::

    +---------+-+---------+-+---------+
    | f[t-2]  |a| f[t-1]  |b|  f[t]   |     a = action after f[t-2], b = action after f[t-1]
    +---------+-+---------+-+---------+

The target slot must cover whole patches of the ViT's grid (so the mask is exactly that slot);
:class:`CanvasLayout` checks this and says how to fix a config that breaks it.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sensorimotor.core.errors import DataError
from sensorimotor.core.normalize import Normalizer
from sensorimotor.nn.vit import region_mask

#: Separator colours of the first actions (red = action 0, green = action 1, ...). Larger action
#: spaces continue with evenly spaced hues.
BASE_PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 0),
    (255, 0, 255),
    (0, 255, 255),
    (255, 128, 0),
    (128, 0, 255),
)


def action_palette(num_actions: int) -> np.ndarray:
    """``(num_actions, 3)`` uint8 separator colours, one per discrete action, all distinct."""
    if num_actions < 1:
        raise ValueError(f"need at least one action, got {num_actions}")
    colours = list(BASE_PALETTE[:num_actions])
    extra = num_actions - len(colours)
    for i in range(extra):
        r, g, b = colorsys.hsv_to_rgb((i + 0.5) / extra, 0.8, 0.8)
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    palette = np.asarray(colours, np.uint8)
    if len({tuple(c) for c in palette}) != num_actions:
        raise ValueError(f"the palette for {num_actions} actions has repeated colours")
    return palette


@dataclass(frozen=True)
class CanvasLayout:
    """Geometry of a canvas: ``slots`` frames of ``frame_height x frame_width`` with separators of
    ``separator_width`` pixels, cut into ``patch_size`` patches. Raises ``ValueError`` (naming the
    model config keys) when the target slot does not line up with the patch grid."""

    frame_height: int
    frame_width: int
    slots: int = 3
    separator_width: int = 8
    patch_size: int = 8

    def __post_init__(self) -> None:
        p = self.patch_size
        if self.slots < 2:
            raise ValueError(f"slots must be >= 2 (context frames + the target), got {self.slots}")
        if self.separator_width < 1:
            raise ValueError(
                f"separator_width must be >= 1 (the separators carry the actions), got {self.separator_width}"
            )
        if p < 1 or self.frame_height < 1 or self.frame_width < 1:
            raise ValueError(
                f"patch and frame sizes must be positive, got patch_size={p}, "
                f"frame {self.frame_height}x{self.frame_width}"
            )
        if self.frame_height % p or self.frame_width % p:
            raise ValueError(
                f"frame size {self.frame_height}x{self.frame_width} (model.frame_size) is not a multiple of "
                f"model.patch_size={p}, so the target slot would not cover whole patches"
            )
        start = self.target_start
        if start % p:
            good = [
                s
                for s in range(1, 4 * p + 1)
                if ((self.slots - 1) * (self.frame_width + s)) % p == 0
            ]
            raise ValueError(
                f"the target slot starts at x={start} ({self.slots - 1} frames of {self.frame_width} px + "
                f"{self.slots - 1} separators of model.separator_width={self.separator_width} px), which is not "
                f"a multiple of model.patch_size={p}; slots and patches would not line up. "
                f"Separator widths that fit: {good[:4]}"
            )

    @property
    def canvas_height(self) -> int:
        return self.frame_height

    @property
    def canvas_width(self) -> int:
        return self.slots * self.frame_width + (self.slots - 1) * self.separator_width

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(H, W, 3)`` of a canvas."""
        return (self.canvas_height, self.canvas_width, 3)

    def slot_start(self, slot: int) -> int:
        """Left column of slot ``slot`` (0-based; negative counts from the end)."""
        slot = slot % self.slots
        return slot * (self.frame_width + self.separator_width)

    def separator_start(self, index: int) -> int:
        """Left column of separator ``index`` (between slot ``index`` and ``index + 1``)."""
        return self.slot_start(index) + self.frame_width

    @property
    def target_start(self) -> int:
        return self.slot_start(self.slots - 1)

    @property
    def grid(self) -> tuple[int, int]:
        """The patch grid ``(rows, columns)`` of a canvas."""
        return self.canvas_height // self.patch_size, self.canvas_width // self.patch_size

    @property
    def num_patches(self) -> int:
        rows, cols = self.grid
        return rows * cols

    @cached_property
    def target_mask(self) -> np.ndarray:
        """``(N,)`` bool: True exactly on the patches of the target slot."""
        rows, cols = self.grid
        first = self.target_start // self.patch_size
        mask = region_mask(rows, cols, slice(None), slice(first, cols))
        mask.setflags(write=False)
        return mask

    @property
    def visible_patches(self) -> int:
        return int((~self.target_mask).sum())

    def build(
        self,
        frames: np.ndarray,
        actions: np.ndarray,
        palette: np.ndarray,
        blank_target: bool = False,
    ) -> np.ndarray:
        """Canvases from frames ``(..., K, h, w, 3)`` uint8 and action indices ``(..., K-1)``.

        Returns ``(..., H, W, 3)`` uint8. With ``blank_target`` the target slot is left black (for
        prediction, when the target frame does not exist yet; pass ``K-1`` frames then).
        """
        frames = np.asarray(frames)
        actions = np.asarray(actions)
        given = self.slots - 1 if blank_target else self.slots
        expected = (given, self.frame_height, self.frame_width, 3)
        if frames.shape[-4:] != expected:
            raise ValueError(f"expected frames of shape (..., {expected}), got {frames.shape}")
        if actions.shape[-1:] != (self.slots - 1,) or actions.shape[:-1] != frames.shape[:-4]:
            raise ValueError(
                f"expected actions of shape {(*frames.shape[:-4], self.slots - 1)}, got {actions.shape}"
            )
        if actions.size and (actions.min() < 0 or actions.max() >= len(palette)):
            raise ValueError(
                f"action indices must be in [0, {len(palette) - 1}], got {actions.min()}..{actions.max()}"
            )
        batch = frames.shape[:-4]
        canvas = np.zeros((*batch, *self.shape), np.uint8)
        for slot in range(given):
            x = self.slot_start(slot)
            canvas[..., :, x : x + self.frame_width, :] = frames[..., slot, :, :, :]
        for i in range(self.slots - 1):
            x = self.separator_start(i)
            canvas[..., :, x : x + self.separator_width, :] = palette[actions[..., i]][
                ..., None, None, :
            ]
        return canvas

    def slot(self, canvases: np.ndarray, slot: int) -> np.ndarray:
        """The frames in slot ``slot`` of canvases ``(..., H, W, C)``."""
        x = self.slot_start(slot)
        return canvases[..., :, x : x + self.frame_width, :]

    def target(self, canvases: np.ndarray) -> np.ndarray:
        """The target-slot frames ``(..., h, w, C)`` of canvases ``(..., H, W, C)``."""
        return self.slot(canvases, self.slots - 1)

    def with_target(self, canvases: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """Copies of ``canvases`` with the target slot replaced by ``frames`` (e.g. a prediction)."""
        out = np.array(canvases, copy=True)
        x = self.target_start
        out[..., :, x : x + self.frame_width, :] = frames
        return out

    def mask_overlay(
        self, canvas: np.ndarray, colour: tuple[int, int, int] = (90, 90, 90)
    ) -> np.ndarray:
        """A canvas ``(H, W, 3)`` uint8 with the masked patches filled grey and the patch grid drawn."""
        out = np.array(canvas, copy=True)
        p = self.patch_size
        rows, cols = self.grid
        mask = self.target_mask.reshape(rows, cols)
        for r, c in zip(*np.nonzero(mask), strict=True):
            out[r * p : (r + 1) * p, c * p : (c + 1) * p] = colour
        out[::p, :, :] = out[::p, :, :] // 2 + 40
        out[:, ::p, :] = out[:, ::p, :] // 2 + 40
        return out


def prepare_frame(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """A camera image as an RGB uint8 frame ``(h, w, 3)`` resized to ``size`` (area averaging)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected an image of shape (H, W, 3), got {image.shape}")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    elif image.shape[-1] == 4:
        image = image[..., :3]
    if image.dtype != np.uint8:
        if np.issubdtype(image.dtype, np.floating):
            image = (np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        else:
            raise ValueError(f"expected a uint8 (or [0, 1] float) image, got dtype {image.dtype}")
    if size is None or tuple(image.shape[:2]) == tuple(size):
        return np.ascontiguousarray(image)
    return resize_frame(image, size)


def fit_frame_zscore(frames: np.ndarray) -> Normalizer:
    """The per-channel z-score of pixels in [0, 1], fitted on uint8 frames ``(T, h, w, 3)``: what
    the world models feed their networks (a tiny dot becomes a large input, not a small change on
    a large constant)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise DataError(
            f"expected frames of shape (T, h, w, 3) to fit the normaliser, got {frames.shape}"
        )
    return Normalizer.fit(frames.reshape(-1, 3) / 255.0, "zscore", axis=0)


def resize_frame(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a uint8 ``(H, W, 3)`` image to ``size = (h, w)`` by area averaging."""
    h, w = size
    height, width = image.shape[:2]
    if height % h == 0 and width % w == 0:
        return _block_mean(image, height // h, width // w)
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BOX))


def _block_mean(image: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Means of ``fy x fx`` blocks of a uint8 ``(H, W, 3)`` image, rounded half up.

    Integer sums, row by row then column by column (contiguous adds; a strided ``sum`` over two
    axes is ~10x slower, and this runs on every frame of an online run); the same bytes as the
    float32 mean.
    """
    height, width = image.shape[:2]
    h, w, n = height // fy, width // fx, fy * fx
    wide = np.uint32 if n * 255 >= 2**16 else np.uint16
    rows = image.reshape(h, fy, width * 3)
    acc = rows[:, 0].astype(wide)
    for i in range(1, fy):
        acc += rows[:, i]
    cols = acc.reshape(h, w, fx, 3)
    sums = cols[:, :, 0].copy()
    for i in range(1, fx):
        sums += cols[:, :, i]
    return ((2 * sums.astype(np.uint32) + n) // (2 * n)).astype(np.uint8)
