"""Efros & Leung (ICCV 1999) texture synthesis: exact, and vectorised over sample windows and pixels.

The algorithm as published: grow from a seed patch; each pass takes the unfilled pixels that touch a
filled one, most known neighbours first (ties in random order); for each, the Gaussian-weighted SSD
between its known neighbourhood and *every* window of the sample; the candidates are all windows
within (1 + epsilon) of the best; one is picked at random and its centre pixel copied.

Speed without approximation comes from two places:
1. SSD against all M sample windows at once as matrix products (float64, so exact ties stay exact):
   sum_k w_k (t_k - s_k)^2 = sum w t^2 - 2 (P @ (w t)) + (P2 @ w), with P the unfolded windows.
2. Several pixels per step: a pixel depends on an earlier pixel of the same pass only if that pixel
   lies inside its window. Pixels are grouped in waves (a pixel's wave = 1 + the latest wave of the
   earlier pixels in its window), and each wave is computed at once. The result is exactly that of
   processing the pass one pixel at a time, which `synthesize_reference` does, with the same random
   draws (one tie-break permutation and one uniform per pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from seqgen.core.errors import DataError


class TextureError(DataError):
    """A sample image, mask or option that synthesis cannot use (the message says which and why)."""


@dataclass
class EfrosLeungConfig:
    window: int = 11             # odd neighbourhood size
    epsilon: float = 0.1         # candidates: SSD <= best * (1 + epsilon)
    sigma: float | None = None   # Gaussian weight; None: window / 6.4 (the paper's choice)
    seed_size: int = 3           # side of the random seed patch for unconstrained synthesis
    dtype: str = "float64"       # float64 keeps exact matches exact; float32 is faster on GPUs


def gaussian_weights(window: int, sigma: float | None) -> np.ndarray:
    sigma = sigma or window / 6.4
    r = window // 2
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return np.exp(-(x**2 + y**2) / (2 * sigma**2)).reshape(-1)  # (w*w,)


def _check(sample: np.ndarray, window: int):
    if window < 3 or window % 2 == 0:
        raise TextureError(f"window must be an odd number >= 3, got {window}")
    if sample.ndim != 3:
        raise TextureError(f"sample must be an (H, W, C) array, got shape {sample.shape}")
    h, w = sample.shape[:2]
    if h < window or w < window:
        raise TextureError(f"the sample ({h}x{w}) is smaller than the window ({window}x{window}); "
                           f"use a smaller window or a larger sample")


def sample_windows(image: np.ndarray, known: np.ndarray, window: int):
    """All fully known windows of image (H, W, C): patches (M, w*w, C) and their centre values (M, C)."""
    img = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float64)).permute(2, 0, 1)[None]
    C = img.shape[1]
    cols = F.unfold(img, window)  # (1, C*w*w, L)
    patches = cols[0].T.reshape(-1, C, window * window).transpose(1, 2)  # (L, w*w, C)
    ok = F.unfold(torch.from_numpy(known.astype(np.float64))[None, None], window)[0].min(0).values > 0
    patches = patches[ok]
    if len(patches) == 0:
        raise TextureError(f"no fully known {window}x{window} window in the sample: "
                           f"use a smaller window or a smaller hole")
    centre = (window * window) // 2
    return patches.numpy(), patches[:, centre, :].numpy()


def _pass_order(filled: np.ndarray, window: int, gen: np.random.Generator):
    """The pass's pixel list (most known neighbours first, ties random) and one uniform per pixel."""
    f = torch.from_numpy(filled.astype(np.float32))[None, None]
    touch = F.conv2d(f, torch.ones(1, 1, 3, 3), padding=1)[0, 0].numpy() > 0
    r = window // 2
    count = F.conv2d(f, torch.ones(1, 1, window, window), padding=r)[0, 0].numpy()
    ys, xs = np.nonzero(touch & ~filled)
    perm = gen.permutation(len(ys))
    ys, xs = ys[perm], xs[perm]
    order = np.argsort(-count[ys, xs], kind="stable")
    ys, xs = ys[order], xs[order]
    return ys, xs, gen.random(len(ys))


def _pick(d: np.ndarray | torch.Tensor, u, epsilon: float):
    """Column-wise: index of the floor(u * k)-th of the k windows with d <= min * (1 + eps)."""
    d = torch.as_tensor(d)
    d = torch.where(d < 1e-12, torch.zeros((), dtype=d.dtype), d)  # rounding noise of exact matches
    best = d.min(0).values
    cand = d <= best * (1 + epsilon)
    k = cand.sum(0)
    target = torch.floor(torch.as_tensor(u, dtype=torch.float64, device=d.device) * k).long() + 1  # 1-based
    return (cand.long().cumsum(0) >= target).long().argmax(0)


def _waves(ys, xs, r: int) -> np.ndarray:
    """Wave of each pixel: 1 + the latest wave among earlier pixels inside its window."""
    n = len(ys)
    near = (np.abs(ys[:, None] - ys[None, :]) <= r) & (np.abs(xs[:, None] - xs[None, :]) <= r)
    near &= np.tri(n, k=-1, dtype=bool)  # earlier pixels only
    wave = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        row = near[i, :i]
        if row.any():
            wave[i] = wave[:i][row].max() + 1
    return wave


def fill(canvas: np.ndarray, filled: np.ndarray, patches: np.ndarray, centres: np.ndarray,
         cfg: EfrosLeungConfig, seed: int, device="cpu", progress=None) -> np.ndarray:
    """Fill every unfilled pixel of canvas (H, W, C) in place order, fast path. Returns a new array.
    progress: called with the filled fraction after each pass (a web page's progress bar)."""
    w, r = cfg.window, cfg.window // 2
    dtype = getattr(torch, cfg.dtype)
    dev = torch.device(device)
    gen = np.random.default_rng(seed)
    H, W, C = canvas.shape
    g = torch.tensor(gaussian_weights(w, cfg.sigma), dtype=dtype, device=dev)
    P = torch.tensor(patches, dtype=dtype, device=dev).reshape(len(patches), -1)  # (M, w*w*C)
    P2 = torch.tensor((patches**2).sum(-1), dtype=dtype, device=dev)              # (M, w*w)
    vals = torch.tensor(centres, dtype=dtype, device=dev)                         # (M, C)
    # padded canvas: the border counts as unknown
    cv = torch.zeros(H + 2 * r, W + 2 * r, C, dtype=dtype, device=dev)
    fm = torch.zeros(H + 2 * r, W + 2 * r, dtype=dtype, device=dev)
    cv[r:r + H, r:r + W] = torch.tensor(canvas, dtype=dtype, device=dev)
    fm[r:r + H, r:r + W] = torch.tensor(filled, dtype=dtype, device=dev)
    dy, dx = (t.reshape(-1).to(dev) for t in torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij"))
    filled = filled.copy()
    todo = max(1, int((~filled).sum()))
    while not filled.all():
        if progress is not None:
            progress(1.0 - float((~filled).sum()) / todo)
        ys, xs, u = _pass_order(filled, w, gen)
        waves = _waves(ys, xs, r)
        for k in range(int(waves.max()) + 1):
            sel = np.nonzero(waves == k)[0]
            py = torch.as_tensor(ys[sel], device=dev)[:, None] + dy  # (N, w*w) rows in the padded canvas
            px = torch.as_tensor(xs[sel], device=dev)[:, None] + dx
            T, Mk = cv[py, px], fm[py, px]                          # (N, w*w, C), (N, w*w)
            Wt = Mk * g                                             # (N, w*w)
            t1 = (Wt * (T * T).sum(-1)).sum(-1)                     # (N,)
            t2 = P @ (Wt[..., None] * T).reshape(len(sel), -1).T    # (M, N)
            t3 = P2 @ Wt.T                                          # (M, N)
            d = ((t1 + t3 - 2 * t2) / Wt.sum(-1)).clamp_min(0)
            chosen = _pick(d, u[sel], cfg.epsilon)
            cy, cx = (torch.as_tensor(a[sel] + r, device=dev) for a in (ys, xs))
            cv[cy, cx] = vals[chosen]
            fm[cy, cx] = 1
        filled[ys, xs] = True
    return cv[r:r + H, r:r + W].cpu().numpy()


def fill_reference(canvas: np.ndarray, filled: np.ndarray, patches: np.ndarray, centres: np.ndarray,
                   cfg: EfrosLeungConfig, seed: int) -> np.ndarray:
    """The same algorithm one pixel at a time with direct sums: slow and obviously correct."""
    w, r = cfg.window, cfg.window // 2
    gen = np.random.default_rng(seed)
    g = gaussian_weights(w, cfg.sigma).reshape(w, w)
    H, W, C = canvas.shape
    cv = np.zeros((H + 2 * r, W + 2 * r, C))
    fm = np.zeros((H + 2 * r, W + 2 * r))
    cv[r:r + H, r:r + W], fm[r:r + H, r:r + W] = canvas, filled
    windows = patches.reshape(-1, w, w, C)
    filled = filled.copy()
    while not filled.all():
        ys, xs, u = _pass_order(filled, w, gen)
        for y, x, ui in zip(ys, xs, u):
            T = cv[y:y + w, x:x + w]                 # the window around (y, x) in padded coordinates
            weight = fm[y:y + w, x:x + w] * g
            d = (((windows - T) ** 2).sum(-1) * weight).sum((1, 2)) / weight.sum()
            j = int(_pick(d[:, None], np.array([ui]), cfg.epsilon)[0])
            cv[y + r, x + r], fm[y + r, x + r] = centres[j], 1
        filled[ys, xs] = True
    return cv[r:r + H, r:r + W]


def _seeded_canvas(sample: np.ndarray, size, cfg: EfrosLeungConfig, seed: int):
    H, W = (size, size) if isinstance(size, int) else size
    if min(H, W) < cfg.seed_size:
        raise TextureError(f"size={size}: the output must be at least the {cfg.seed_size}-pixel seed patch it grows "
                           f"from; expected size >= {cfg.seed_size}")
    C = sample.shape[2]
    canvas, filled = np.zeros((H, W, C)), np.zeros((H, W), dtype=bool)
    s = cfg.seed_size
    gen = np.random.default_rng(seed + 1_000_003)  # the seed patch's position, apart from the pass draws
    sy, sx = gen.integers(0, sample.shape[0] - s + 1), gen.integers(0, sample.shape[1] - s + 1)
    y0, x0 = (H - s) // 2, (W - s) // 2
    canvas[y0:y0 + s, x0:x0 + s] = sample[sy:sy + s, sx:sx + s]
    filled[y0:y0 + s, x0:x0 + s] = True
    return canvas, filled


def synthesize(sample: np.ndarray, size, cfg: EfrosLeungConfig | None = None, seed: int = 0,
               device="cpu", reference: bool = False, progress=None) -> np.ndarray:
    """Grow a size x size (or (H, W)) texture from sample (H, W, C) floats. Exact E&L."""
    cfg = cfg or EfrosLeungConfig()
    sample = np.asarray(sample, dtype=np.float64)
    _check(sample, cfg.window)
    patches, centres = sample_windows(sample, np.ones(sample.shape[:2], bool), cfg.window)
    canvas, filled = _seeded_canvas(sample, size, cfg, seed)
    if reference:
        return fill_reference(canvas, filled, patches, centres, cfg, seed)
    return fill(canvas, filled, patches, centres, cfg, seed, device, progress)


def fill_holes(image: np.ndarray, mask: np.ndarray, cfg: EfrosLeungConfig | None = None, seed: int = 0,
               device="cpu", reference: bool = False, progress=None) -> np.ndarray:
    """Fill the pixels where mask is True, sampling from the image's fully known windows.

    Known pixels are returned untouched.
    """
    cfg = cfg or EfrosLeungConfig()
    image = np.asarray(image, dtype=np.float64)
    _check(image, cfg.window)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != image.shape[:2]:
        raise TextureError(f"mask shape {mask.shape} does not match the image's {image.shape[:2]}")
    if not mask.any():
        raise TextureError("the mask is empty: nothing to fill")
    if mask.all():
        raise TextureError("the mask covers the whole image: nothing to sample from")
    patches, centres = sample_windows(image, ~mask, cfg.window)
    canvas = np.where(mask[..., None], 0.0, image)
    if reference:
        out = fill_reference(canvas, ~mask, patches, centres, cfg, seed)
    else:
        out = fill(canvas, ~mask, patches, centres, cfg, seed, device, progress)
    out[~mask] = image[~mask]  # bit-exact known pixels
    return out


def extrapolate(image: np.ndarray, border: int, cfg: EfrosLeungConfig | None = None, seed: int = 0,
                device="cpu") -> np.ndarray:
    """Grow the image by `border` pixels on every side."""
    if border < 1:
        raise TextureError(f"border must be >= 1, got {border}")
    image = np.asarray(image, dtype=np.float64)
    H, W, C = image.shape
    big = np.zeros((H + 2 * border, W + 2 * border, C))
    big[border:border + H, border:border + W] = image
    mask = np.ones(big.shape[:2], dtype=bool)
    mask[border:border + H, border:border + W] = False
    cfg = cfg or EfrosLeungConfig()
    _check(image, cfg.window)
    patches, centres = sample_windows(image, np.ones((H, W), bool), cfg.window)
    out = fill(big, ~mask, patches, centres, cfg, seed, device)
    out[~mask] = big[~mask]
    return out
