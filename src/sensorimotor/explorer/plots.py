"""Pictures for the explorer page as ``(H, W, 3)`` uint8 arrays (matplotlib, off screen): loss and LR
curves, histograms, error maps, the action sweep grid and the three attention views."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _figure(width: float = 6.0, height: float = 3.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=80)
    return fig, ax


def _to_image(fig) -> np.ndarray:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def curve(
    xs: Sequence[float],
    series: dict[str, Sequence[float]],
    title: str,
    *,
    log_y: bool = False,
    window: int | None = None,
) -> np.ndarray:
    """Line plot of each named series against ``xs`` (NaNs leave gaps); with ``window``, only the
    last ``window`` points."""
    fig, ax = _figure()
    xs = np.asarray(xs, np.float64)
    for name, ys in series.items():
        ys = np.asarray(ys, np.float64)
        x, y = (xs[-window:], ys[-window:]) if window else (xs, ys)
        ok = np.isfinite(y)
        if ok.any():
            ax.plot(x[ok], y[ok], label=name, lw=1.2)
    if log_y and any(np.isfinite(np.asarray(v, float)).any() for v in series.values()):
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(loc="upper right", fontsize=8)
    return _to_image(fig)


def histogram(values: np.ndarray, title: str, bins: int = 40) -> np.ndarray:
    """A histogram of ``values``."""
    fig, ax = _figure()
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if values.size:
        ax.hist(values, bins=bins, color="#4477aa")
    ax.set_title(title)
    return _to_image(fig)


def error_map(predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Per-pixel squared error of two ``(h, w, 3)`` uint8 frames, as a heat image."""
    import matplotlib

    err = ((predicted.astype(np.float32) - actual.astype(np.float32)) / 255.0) ** 2
    err = err.mean(axis=-1)
    scaled = err / err.max() if err.max() > 0 else err
    return (matplotlib.colormaps["inferno"](scaled)[..., :3] * 255).astype(np.uint8)


def upscale(image: np.ndarray, min_size: int = 192) -> np.ndarray:
    """Nearest-neighbour upscale of a small image so the page shows its pixels."""
    h, w = image.shape[:2]
    factor = max(1, int(np.ceil(min_size / max(min(h, w), 1))))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def sweep_grid(
    frames: Sequence[np.ndarray], labels: Sequence[str], mse: Sequence[float], recorded: int
) -> np.ndarray:
    """The action sweep: one predicted frame per action with its MSE; the recorded action framed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(frames)
    fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 2.8), dpi=80, squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(frames[i], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        mark = " (recorded)" if i == recorded else ""
        ax.set_title(f"{i}: {labels[i]}{mark}\nMSE {mse[i]:.2e}", fontsize=8)
        for spine in ax.spines.values():
            spine.set_edgecolor("#ee3333" if i == recorded else "#999999")
            spine.set_linewidth(4 if i == recorded else 1)
    return _to_image(fig)


def attention_lines(
    canvas: np.ndarray,
    weights: np.ndarray,
    sources: Sequence[int],
    grid: tuple[int, int],
    patch_size: int,
    layer_names: Sequence[str],
) -> np.ndarray:
    """Patch-to-patch lines on the canvas: from every selected patch to every patch with a kept
    weight; colour = layer, width = weight (``weights`` ``(L, N)`` after the quantile filter)."""
    import matplotlib

    from sensorimotor.explorer.attention import patch_centre

    fig, ax = _figure(8.0, 8.0 * canvas.shape[0] / canvas.shape[1] + 0.6)
    ax.imshow(canvas, interpolation="nearest")
    colours = matplotlib.colormaps["tab10"]
    top = float(weights.max()) if weights.size and weights.max() > 0 else 1.0
    for layer, row in enumerate(weights):
        for target in np.flatnonzero(row > 0):
            tx, ty = patch_centre(int(target), grid[1], patch_size)
            for source in sources:
                sx, sy = patch_centre(int(source), grid[1], patch_size)
                ax.plot(
                    [sx, tx],
                    [sy, ty],
                    color=colours(layer % 10),
                    lw=0.5 + 3.5 * row[target] / top,
                    alpha=0.7,
                )
    for layer, name in enumerate(layer_names):
        ax.plot([], [], color=colours(layer % 10), label=name)
    if layer_names:
        ax.legend(loc="upper right", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    return _to_image(fig)


def attention_matrix(matrix: np.ndarray, title: str) -> np.ndarray:
    """The ``(N, N)`` attention matrix as a heatmap (rows: query patches)."""
    fig, ax = _figure(5.0, 4.4)
    im = ax.imshow(matrix, cmap="viridis", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xlabel("key patch")
    ax.set_ylabel("query patch")
    ax.set_title(title)
    return _to_image(fig)


def attention_overlay(
    canvas: np.ndarray, weights: np.ndarray, grid: tuple[int, int], patch_size: int
) -> np.ndarray:
    """Attention to each patch (``(N,)``, summed over layers by the caller) as a heatmap blended
    over the canvas."""
    import matplotlib

    heat = np.asarray(weights, np.float64).reshape(grid)
    heat = heat / heat.max() if heat.max() > 0 else heat
    heat = np.repeat(np.repeat(heat, patch_size, axis=0), patch_size, axis=1)
    h, w = canvas.shape[:2]
    padded = np.zeros((h, w))
    padded[: heat.shape[0], : heat.shape[1]] = heat[:h, :w]
    colour = matplotlib.colormaps["jet"](padded)[..., :3] * 255
    alpha = 0.25 + 0.5 * padded[..., None]
    return upscale((canvas * (1 - alpha) + colour * alpha).astype(np.uint8), 256)
