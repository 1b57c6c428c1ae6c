"""Figures without pyplot's global state: a `Figure` per call, drawn under a seaborn style
context, saved as PNG and closed by garbage collection; and tiled sample grids."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np

from ebgan_tf.atomic_files import write_bytes_atomic


def new_figure(nrows: int = 1, ncols: int = 1, figsize=(6.4, 4.0), style: str | None = "whitegrid",
               context: str = "notebook", **subplot_kw):
    """(Figure, axes) of a fresh figure, its axes styled by seaborn's `style` and `context`.

    No pyplot: nothing global is created or left behind, so reports can be drawn in any thread
    or worker, and figures need no closing.
    """
    import seaborn as sns
    from matplotlib.figure import Figure

    style_context = sns.axes_style(style) if style else contextlib.nullcontext()
    with style_context, sns.plotting_context(context):
        fig = Figure(figsize=figsize)
        axes = fig.subplots(nrows, ncols, **subplot_kw)
    return fig, axes


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Saves a matplotlib figure as PNG, atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return write_bytes_atomic(path, buffer.getvalue())


def image_grid(images: np.ndarray, rows: int, cols: int, padding: int = 2) -> np.ndarray:
    """Tiles images [N, H, W, C] in [-1, 1] into a uint8 [rows*(H+p)+p, cols*(W+p)+p, C] grid."""
    images = np.asarray(images, np.float32)[: rows * cols]
    n, h, w, c = images.shape
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), 255, np.uint8)
    pixels = np.clip((images + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[y:y + h, x:x + w] = pixels[i]
    return grid


def save_image_grid(images: np.ndarray, rows: int, cols: int, path: str | os.PathLike,
                    scale: int = 1) -> Path:
    """Writes a sample grid as a PNG (grey for one channel), upscaled by `scale` (nearest)."""
    import matplotlib.image

    grid = image_grid(images, rows, cols)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    buffer = io.BytesIO()
    if grid.shape[-1] == 1:
        matplotlib.image.imsave(buffer, grid[..., 0], cmap="gray", vmin=0, vmax=255, format="png")
    else:
        matplotlib.image.imsave(buffer, grid, format="png")
    return write_bytes_atomic(path, buffer.getvalue())
