"""Images seqgen draws itself (for committed figures, tests and the notebook): smooth noise, a
procedural landscape "photo", label maps and a brick texture. Deterministic given the seed; no
third-party pixels, so pictures made from them can live in the repository."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def noise(h: int, w: int, scale: float, seed: int, octaves: int = 4) -> np.ndarray:
    """Fractal value noise (h, w) in [0, 1]: random grids of cell size scale, scale / 2, ... upsampled
    bicubically and summed with halving amplitudes."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(1, 1, h, w, dtype=torch.float64)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cell = max(scale / 2 ** o, 1.0)
        grid = torch.rand(1, 1, int(np.ceil(h / cell)) + 3, int(np.ceil(w / cell)) + 3, generator=g,
                          dtype=torch.float64)
        big = F.interpolate(grid, scale_factor=cell, mode="bicubic", align_corners=False)
        out += amp * big[..., 1:1 + h, 1:1 + w]
        total += amp
        amp /= 2
    x = out[0, 0].numpy() / total
    return (x - x.min()) / max(x.max() - x.min(), 1e-12)


def scene(size: int = 128, seed: int = 0) -> np.ndarray:
    """A procedural landscape (size, size, 3): sky gradient, sun, two noisy hill ridges, a lake with
    ripples, and textured ground. Different seeds move everything."""
    rng = np.random.default_rng(seed)
    H = W = size
    y, x = np.mgrid[0:H, 0:W] / size
    img = np.zeros((H, W, 3))
    sky = np.array([0.35, 0.55, 0.9]) * (1 - y[..., None]) + np.array([0.95, 0.8, 0.6]) * y[..., None]
    img[:] = sky
    sx, sy = rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.3)
    sun = np.hypot(x - sx, y - sy) < 0.07
    img[sun] = [1.0, 0.92, 0.55]
    clouds = noise(H, W, size / 4, seed + 1) > 0.62
    img[clouds & (y < 0.45)] = img[clouds & (y < 0.45)] * 0.3 + 0.7
    for k, (base, col) in enumerate([(0.45, [0.35, 0.45, 0.3]), (0.6, [0.2, 0.35, 0.15])]):
        ridge = base + 0.12 * (noise(1, W, size / 6, seed + 10 + k, 3)[0] - 0.5) * 2
        hill = y > ridge[None, :]
        shade = 0.75 + 0.5 * noise(H, W, size / 10, seed + 20 + k)[..., None]
        img[hill] = (np.array(col) * shade)[hill]
    lake = (y > 0.72) & (np.abs(x - rng.uniform(0.3, 0.7)) < 0.25 + 0.15 * (y - 0.72))
    ripple = 0.85 + 0.15 * np.sin(y * 120 + 3 * noise(H, W, size / 8, seed + 30))
    img[lake] = (np.array([0.25, 0.45, 0.7]) * ripple[..., None])[lake]
    ground = (y > 0.85) & ~lake
    grain = 0.6 + 0.6 * noise(H, W, 3, seed + 40, 2)[..., None]
    img[ground] = (np.array([0.45, 0.33, 0.2]) * grain)[ground]
    return np.clip(img, 0, 1)


def label_field(h: int, w: int, k: int, seed: int = 0, scale: float | None = None) -> np.ndarray:
    """(h, w) integer labels 0..k-1: the argmax of k smooth noise fields (blobby regions)."""
    scale = scale or min(h, w) / 3
    fields = np.stack([noise(h, w, scale, seed * 101 + j, 2) for j in range(k)])
    return fields.argmax(0)


def bricks(size: int = 96, seed: int = 0, brick=(12, 24)) -> np.ndarray:
    """A brick wall (size, size, 3): staggered rows, mortar lines, per-brick tint and grain."""
    rng = np.random.default_rng(seed)
    bh, bw = brick
    y, x = np.mgrid[0:size, 0:size]
    row = y // bh
    xs = x + (row % 2) * (bw // 2)
    col = xs // bw
    mortar = (y % bh < 2) | (xs % bw < 2)
    tint = rng.uniform(0.75, 1.1, (size // bh + 2, size // bw + 3))[row, col]
    grain = 0.85 + 0.3 * noise(size, size, 4, seed + 1, 2)
    img = np.array([0.65, 0.3, 0.2]) * (tint * grain)[..., None]
    img[mortar] = np.array([0.8, 0.78, 0.72]) * grain[mortar][:, None]
    return np.clip(img, 0, 1)
