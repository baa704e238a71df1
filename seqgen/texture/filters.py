"""Procedural A′ makers for image analogies, and the pairs (A, A′, B, true B′) they define.

A filter here is two maps of an image x: `source(x)`, what the unfiltered side looks like (x itself
for blur or emboss, its luminance for colourisation, a blurred copy for super-resolution, a label map
for texture-by-numbers) and `target(x)`, the filtered side. `make_pair(name, a, b)` returns
A = source(a), A′ = target(a), B = source(b) and, when the filter has one, the ground truth
target(b) that B′ should approach. Every image is (H, W, 3) floats in [0, 1]; all maps are plain
torch / numpy, deterministic, and need nothing downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from seqgen.core.errors import ConfigError

LUMA = np.array([0.299, 0.587, 0.114])


def _t(img: np.ndarray) -> torch.Tensor:
    return rearrange(torch.from_numpy(np.ascontiguousarray(img, dtype=np.float64)), "h w c -> c 1 h w")


def _np(x: torch.Tensor) -> np.ndarray:
    return rearrange(x, "c 1 h w -> h w c").numpy().copy()


def _conv(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Each channel of img (H, W, C) convolved with kernel (k, k), edges replicated."""
    k = torch.from_numpy(np.asarray(kernel, dtype=np.float64))[None, None]
    p = k.shape[-1] // 2
    return _np(F.conv2d(F.pad(_t(img), (p, p, p, p), mode="replicate"), k))


def grey(img: np.ndarray) -> np.ndarray:
    """Luminance (YIQ's Y) as a grey RGB image."""
    return np.repeat((img @ LUMA)[..., None], 3, axis=2)


def blur(img: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Gaussian blur, separable (a 2-D kernel's im2col would take ~1 GB at 512^2), edges replicated."""
    r = int(np.ceil(3 * sigma))
    g = torch.from_numpy(np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma ** 2)))
    g = g / g.sum()
    x = F.conv2d(F.pad(_t(img), (r, r, 0, 0), mode="replicate"), g.view(1, 1, 1, -1))
    return _np(F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), g.view(1, 1, -1, 1)))


def emboss(img: np.ndarray) -> np.ndarray:
    """Grey relief: 0.5 + a diagonal derivative of the luminance."""
    k = np.array([[-1.0, -1.0, 0.0], [-1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    return np.clip(0.5 + _conv(grey(img)[..., :1], k), 0, 1).repeat(3, axis=2)


def edges(img: np.ndarray, gain: float = 2.0) -> np.ndarray:
    """Dark lines on white: 1 - gain * Sobel gradient magnitude of the luminance."""
    y = grey(img)[..., :1]
    sx = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 4
    mag = np.hypot(_conv(y, sx), _conv(y, sx.T))
    return np.clip(1 - gain * mag, 0, 1).repeat(3, axis=2)


def posterize(img: np.ndarray, levels: int = 4) -> np.ndarray:
    """Each channel rounded to `levels` values: flat areas of few colours."""
    return np.round(img * (levels - 1)) / (levels - 1)


def kuwahara(img: np.ndarray, radius: int = 3) -> np.ndarray:
    """Painterly smoothing: each pixel takes the mean colour of the least-varying of the four
    (radius + 1)^2 quadrants around it (Kuwahara et al. 1976), edges replicated."""
    r = radius
    x = F.pad(_t(img), (r, r, r, r), mode="replicate")                       # (3, 1, H + 2r, W + 2r)
    mean = F.avg_pool2d(x, r + 1, stride=1)                                   # box means, (3, 1, H + r, W + r)
    y = (x * torch.tensor(LUMA).view(3, 1, 1, 1)).sum(0, keepdim=True)
    var = F.avg_pool2d(y * y, r + 1, stride=1) - F.avg_pool2d(y, r + 1, stride=1) ** 2
    H, W = img.shape[:2]
    quads = [(0, 0), (0, r), (r, 0), (r, r)]                                  # top-left, top-right, ...
    v = torch.stack([var[..., dy:dy + H, dx:dx + W] for dy, dx in quads])     # (4, 1, 1, H, W)
    m = torch.stack([mean[..., dy:dy + H, dx:dx + W] for dy, dx in quads])    # (4, 3, 1, H, W)
    pick = v.argmin(0, keepdim=True).expand(1, 3, 1, H, W)
    return _np(m.gather(0, pick)[0])


def down_up(img: np.ndarray, factor: int = 4) -> np.ndarray:
    """Anti-aliased bilinear down-sampling by factor, then bilinear back up: what super-resolution undoes."""
    x = rearrange(torch.from_numpy(np.ascontiguousarray(img)), "h w c -> 1 c h w")
    H, W = img.shape[:2]
    small = F.interpolate(x, size=(max(1, H // factor), max(1, W // factor)), mode="bilinear", antialias=True,
                          align_corners=False)
    up = F.interpolate(small, size=(H, W), mode="bilinear", align_corners=False)
    return np.clip(rearrange(up, "1 c h w -> h w c").numpy(), 0, 1)


def kmeans(pixels: np.ndarray, k: int, seed: int = 0, iters: int = 20) -> np.ndarray:
    """Lloyd's k-means of (N, 3) colours from k distinct random pixels -> centres (k, 3), sorted by luminance."""
    x = torch.from_numpy(np.asarray(pixels, dtype=np.float64))
    g = torch.Generator().manual_seed(seed)
    uniq = torch.unique(x, dim=0)
    if len(uniq) <= k:
        c = uniq
    else:
        c = uniq[torch.randperm(len(uniq), generator=g)[:k]].clone()
        for _ in range(iters):
            lab = torch.cdist(x, c).argmin(1)
            for j in range(k):                                                # an empty cluster keeps its centre
                if (lab == j).any():
                    c[j] = x[lab == j].mean(0)
    c = c.numpy()
    return c[np.argsort(c @ LUMA)]


def label_map(img: np.ndarray, centres: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
    """Each pixel replaced by the palette colour of its nearest centre (default palette: the centres)."""
    lab = torch.cdist(torch.from_numpy(img.reshape(-1, 3)), torch.from_numpy(centres)).argmin(1).numpy()
    return (centres if palette is None else palette)[lab].reshape(img.shape)


def label_palette(k: int) -> np.ndarray:
    """k well-separated flat colours for rendering label maps (ordered dark to light)."""
    hues = np.arange(k) / k
    rgb = np.stack([0.5 + 0.45 * np.cos(2 * np.pi * (hues + o)) for o in (0, 1 / 3, 2 / 3)], 1)
    return rgb[np.argsort(rgb @ LUMA)]


@dataclass(frozen=True)
class Filter:
    """What A′ is made of, and the AnalogyConfig settings the analogy runs it with."""
    source: object             # x -> the unfiltered image (A from a, B from b)
    target: object             # x -> the filtered image (A′ from a, the truth from b)
    settings: dict = field(default_factory=dict)   # AnalogyConfig overrides
    local: bool = True         # a local filter of the image: B′ must beat the baselines on it
    doc: str = ""


def _same(x):
    return x


# Settings, chosen on a tuning pair that is in no table (skimage chelsea -> astronaut, 128 px):
# kappa 0 wherever there is a ground truth (coherence only ever cost PSNR there), the level count
# that scored best, and for the pointwise posterize the smallest, centre-weighted window on RGB
# (a per-pixel colour map needs exact colour matches, not neighbourhoods).
_FIDELITY = {"kappa": 0.0}
FILTERS = {
    "blur": Filter(_same, blur, {**_FIDELITY, "levels": 2}, doc="Gaussian blur, sigma 2"),
    "emboss": Filter(_same, emboss, {**_FIDELITY, "levels": 1, "sigma": 0.8, "color": "a_prime"},
                     doc="grey relief of the luminance"),
    "edges": Filter(_same, edges, {**_FIDELITY, "levels": 1, "sigma": 0.8, "color": "a_prime"},
                    doc="dark Sobel edges on white"),
    "posterize": Filter(_same, posterize, {**_FIDELITY, "levels": 1, "window": 3, "sigma": 0.5, "features": "rgb",
                                           "color": "a_prime"}, doc="4 levels per channel"),
    "kuwahara": Filter(_same, kuwahara, {**_FIDELITY, "levels": 2}, doc="Kuwahara painterly filter, radius 3"),
    "superres": Filter(down_up, _same, {**_FIDELITY, "levels": 2}, local=False,
                       doc="A: 4x down- then up-sampled, A′: sharp"),
    "colorize": Filter(grey, _same, {**_FIDELITY, "levels": 1, "color": "colorize"}, local=False,
                       doc="A: luminance, A′: colour"),
    "labels": Filter(None, _same, {"kappa": 2.0, "features": "rgb", "color": "a_prime"}, local=False,
                     doc="texture by numbers: A = k-means label map of A′"),
    "texture": Filter(_same, _same, {"kappa": 2.0, "color": "a_prime", "b_weight": 0.5}, local=False,
                      doc="texture transfer: A = A′ = a texture, B = the picture to render in it"),
}


def get(name: str) -> Filter:
    if name not in FILTERS:
        raise ConfigError(f"filter={name!r}: unknown filter; expected one of {sorted(FILTERS)}")
    return FILTERS[name]


def make_pair(name: str, a: np.ndarray, b: np.ndarray, k: int = 6, seed: int = 0) -> dict:
    """{"a", "a_prime", "b", "truth" (or None), "filter"} for filter `name` applied to images a and b.

    labels: A is a's k-means label map, B is b mapped to the same centres (texture by numbers; no truth).
    """
    f = get(name)
    if name == "labels":
        centres = kmeans(a.reshape(-1, 3)[:: max(1, a.size // 3 // 20000)], k, seed)
        pal = label_palette(len(centres))
        return {"a": label_map(a, centres, pal), "a_prime": a, "b": label_map(b, centres, pal), "truth": None,
                "filter": f}
    truth = f.target(b) if name != "texture" else None
    return {"a": f.source(a), "a_prime": f.target(a), "b": f.source(b), "truth": truth, "filter": f}
