"""Image analogies (Hertzmann et al., SIGGRAPH 2001): A : A′ :: B : B′ by non-parametric matching.

Given an image A, a filtered version A′ and a new image B, synthesise B′ that relates to B as A′
relates to A. One clean call, which is also the non-parametric baseline of visual prompting
(A : A′ :: B : ? on tiny synthetic shape images):

    from seqgen.texture.analogy import AnalogyConfig, analogy
    b_prime = analogy(a, a_prime, b, AnalogyConfig(levels=1, features="rgb", color="a_prime", kappa=0.0), seed=0)

a, a_prime: (H, W, 3) / (H, W, 1) / (H, W) floats in [0, 1] or uint8, of the same size; b: any size
(H2, W2, ...); returns (H2, W2, 3) floats. The seed only breaks ties (and drives PatchMatch's random
search), so one seed always gives the same B′. Tiny palette or label images (16x16, 32x32 integer
grids rendered as RGB) work with levels=1 or 2, features="rgb" and color="a_prime": every B′ pixel is
then an A′ colour and exact palette matches stay exact (no luminance remapping of rgb features).

The algorithm as published:
- features: luminance Y of YIQ (or RGB); A's and A′'s luminance remapped to B's mean and std (one map
  for both, so that copied A′ luminance lives in B's range);
- Gaussian pyramids of A, A′, B; synthesis coarsest level first, each level in scanline order;
- the feature vector of a pixel q: its 5x5 neighbourhood in B, the causal part (rows above, pixels to
  the left) already synthesised in B′, and the 3x3 neighbourhoods one level coarser in B and B′, all
  Gaussian-weighted; compared against the same vector of every pixel p of A / A′;
- the best approximate match p_app over all of A (analogy_search: exact or PatchMatch) versus the
  coherence match p_coh (Ashikhmin: s(r) + (q - r) for the synthesised neighbours r of q);
  p_coh wins when d_coh <= d_app (1 + 2^(l - L) kappa), l = level, L = finest;
- colour: B′'s luminance from A′ with B's chroma (color="b"), A′'s RGB (color="a_prime"), or B's
  luminance with A′'s chroma (color="colorize");
- b_weight < 1 weighs the B-side terms down against the B′ ones: the paper's texture transfer.

Speed: a pixel depends only on its causal neighbours (the 12 before it in a 5x5 window), so the
pixels with equal x + (r + 1) y form a *wave* of independent pixels (r = window // 2); every causal
neighbour lies in an earlier wave. Processing wave by wave is exactly scanline order (tested against
the pixel-at-a-time `analogy_reference`), with ~W + 3H batched steps per level instead of W * H.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange, repeat

from seqgen.core.errors import ConfigError
from seqgen.texture.analogy_search import ExactSearch, PatchMatch, choose, gathered_ssd
from seqgen.texture.efros_leung import TextureError

# RGB -> YIQ (NTSC); rows give Y, I, Q
YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
RGB = np.linalg.inv(YIQ)
COLORS = ("b", "a_prime", "colorize")
FEATURES = ("luminance", "rgb")
SEARCHES = ("auto", "exact", "patchmatch")


@dataclass
class AnalogyConfig:
    levels: int = 3                  # Gaussian pyramid levels
    window: int = 5                  # odd fine neighbourhood; its causal half is the B′ part
    coarse_window: int = 3           # odd neighbourhood one level coarser, in B and B′
    kappa: float = 1.0               # coherence bias (0: coherence only on exact ties)
    coherence: bool = True           # False: approximate matches only
    features: str = "luminance"      # luminance (YIQ's Y) | rgb (label maps, palette images)
    remap: bool = True               # luminance remapping of A and A′ to B's mean and std
    color: str = "b"                 # b: A′ luminance + B chroma | a_prime: A′ RGB | colorize: B luma + A′ chroma
    search: str = "auto"             # exact | patchmatch | auto (exact up to 2^30 B x A pixel pairs)
    b_weight: float = 1.0            # weight of the A-B terms against the A′-B′ terms (< 1: texture transfer)
    coarse_weight: float = 1.0       # weight of the coarser level's terms
    sigma: float | None = None       # Gaussian of the windows; None: window / 4
    pm_iters: int = 8                # PatchMatch pre-pass iterations per level
    pm_keep: int = 8                 # PatchMatch: pre-pass matches kept per pixel
    dtype: str = "float32"           # float64: exact ties stay exact (the reference test)


@dataclass
class AnalogyResult:
    b_prime: np.ndarray              # (Hb, Wb, 3) floats in [0, 1]
    source: np.ndarray               # (Hb, Wb, 2) the A pixel (y, x) each B′ pixel was copied from
    coherent: list = field(default_factory=list)   # per level, share of pixels taken by the coherence rule
    seconds: list = field(default_factory=list)    # per level
    search: str = "exact"


def as_rgb(img, name: str) -> np.ndarray:
    """(H, W, 3) float64 in [0, 1] from floats, uint8 or bool; grey and RGBA accepted."""
    arr = np.asarray(img)
    if arr.dtype == np.uint8:
        arr = arr / 255.0
    elif arr.dtype == bool:
        arr = arr.astype(np.float64)
    elif not np.issubdtype(arr.dtype, np.floating):
        raise TextureError(f"{name}: expected floats in [0, 1] or uint8, got dtype {arr.dtype} "
                           f"(render label grids as colours first, e.g. palette[labels])")
    arr = arr.astype(np.float64)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise TextureError(f"{name}: expected an (H, W), (H, W, 1) or (H, W, 3) image, got shape {arr.shape}")
    if not np.isfinite(arr).all() or arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
        raise TextureError(f"{name}: values must lie in [0, 1] (got {arr.min():.3g} .. {arr.max():.3g})")
    arr = arr[..., :3]
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def to_yiq(rgb: np.ndarray) -> np.ndarray:
    return rgb @ YIQ.T


def to_rgb(yiq: np.ndarray) -> np.ndarray:
    return np.clip(yiq @ RGB.T, 0.0, 1.0)


def gaussian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """[coarsest, ..., img]: each level the 5-tap binomial blur of the next finer one, every 2nd pixel."""
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64) / 16
    out = [img]
    for _ in range(levels - 1):
        x = rearrange(torch.from_numpy(out[0]), "h w c -> c 1 h w")
        x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="replicate"), k.view(1, 1, 1, 5))   # separable: rows
        x = F.conv2d(F.pad(x, (0, 0, 2, 2), mode="replicate"), k.view(1, 1, 5, 1))   # then columns
        out.insert(0, rearrange(x[:, 0, ::2, ::2], "c h w -> h w c").numpy().copy())
    return out


def offsets(window: int) -> list[tuple[int, int]]:
    """Row-major (dy, dx) of a window; the causal ones (earlier in scanline order) are those < (0, 0)."""
    r = window // 2
    return [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]


def gauss(window: int, sigma: float | None) -> np.ndarray:
    """(window * window,) Gaussian weights summing to 1, row-major."""
    s = sigma or window / 4
    w = np.array([np.exp(-(dy * dy + dx * dx) / (2 * s * s)) for dy, dx in offsets(window)])
    return w / w.sum()


def check(a, a_prime, b, cfg: AnalogyConfig):
    """Inputs and options a user can get wrong, named in the message; returns RGB float arrays."""
    for key, value, allowed in (("color", cfg.color, COLORS), ("features", cfg.features, FEATURES),
                                ("search", cfg.search, SEARCHES)):
        if value not in allowed:
            raise ConfigError(f"{key}={value!r}: expected one of {list(allowed)}")
    for key in ("window", "coarse_window"):
        w = getattr(cfg, key)
        if w < 1 or w % 2 == 0 or (key == "window" and w < 3):
            raise ConfigError(f"{key}={w}: expected an odd number >= {3 if key == 'window' else 1}")
    if cfg.levels < 1:
        raise ConfigError(f"levels={cfg.levels}: expected >= 1")
    if cfg.kappa < 0:
        raise ConfigError(f"kappa={cfg.kappa}: expected >= 0")
    a, a_prime, b = as_rgb(a, "A"), as_rgb(a_prime, "A′"), as_rgb(b, "B")
    if a.shape != a_prime.shape:
        raise TextureError(f"A is {a.shape[0]}x{a.shape[1]} but A′ is {a_prime.shape[0]}x{a_prime.shape[1]}: "
                           f"A and A′ must have the same size (A′ is A filtered)")
    f = 2 ** (cfg.levels - 1)
    for name, img in (("A", a), ("B", b)):
        h, w = -(-img.shape[0] // f), -(-img.shape[1] // f)
        if min(h, w) < cfg.window:
            raise TextureError(f"{name} ({img.shape[0]}x{img.shape[1]}) is {h}x{w} at the coarsest of "
                               f"{cfg.levels} pyramid levels, smaller than the {cfg.window}x{cfg.window} window: "
                               f"use fewer levels, a smaller window or a larger image")
    return a, a_prime, b


def prepare(a, a_prime, b, cfg: AnalogyConfig) -> dict:
    """Feature pyramids (lists coarse -> fine of (H, W, c) float64) and the colour planes for B′."""
    a, a_prime, b = check(a, a_prime, b, cfg)
    ya, yap, yb = (to_yiq(x) for x in (a, a_prime, b))
    luma = ya[..., :1], yap[..., :1], yb[..., :1]
    if cfg.remap:   # Y <- sigma_B / sigma_A (Y - mu_A) + mu_B, the same map for A and A′
        mu_a, mu_b, sd_a, sd_b = luma[0].mean(), luma[2].mean(), luma[0].std(), luma[2].std()
        scale = sd_b / sd_a if sd_a > 1e-8 else 1.0
        luma = (scale * (luma[0] - mu_a) + mu_b, scale * (luma[1] - mu_a) + mu_b, luma[2])
    fa, fap, fb = luma if cfg.features == "luminance" else (a, a_prime, b)
    return {"A": gaussian_pyramid(fa, cfg.levels), "Ap": gaussian_pyramid(fap, cfg.levels),
            "B": gaussian_pyramid(fb, cfg.levels), "a_prime": a_prime, "yap": luma[1][..., 0],
            "yiq_ap": yap, "yiq_b": yb}


def colour(prep: dict, cfg: AnalogyConfig, src: np.ndarray) -> np.ndarray:
    """B′ (Hb, Wb, 3) from the finest level's source map src (Hb, Wb) of flat A indices."""
    yb = prep["yiq_b"]
    if cfg.color == "a_prime":
        return prep["a_prime"].reshape(-1, 3)[src]
    if cfg.color == "b":
        return to_rgb(np.concatenate([prep["yap"].reshape(-1)[src][..., None], yb[..., 1:]], -1))
    return to_rgb(np.concatenate([yb[..., :1], prep["yiq_ap"].reshape(-1, 3)[src][..., 1:]], -1))


@contextmanager
def _threads(n: int | None):
    """torch's intra-op thread count set to n (None: unchanged) for the block, then restored."""
    old = torch.get_num_threads()
    if n is not None and n < old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _gather(img: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
    """img (H, W, c) at (ys + dy, xs + dx), clamped to the image (edge replication) -> (N, K, c)."""
    H, W = img.shape[:2]
    return img[(ys[:, None] + offs[:, 0]).clamp(0, H - 1), (xs[:, None] + offs[:, 1]).clamp(0, W - 1)]


def _static(fine, coarse, coarse_p, ys, xs, w: dict) -> torch.Tensor:
    """Static part of the features of pixels (ys, xs): [fine window | coarse | coarse′] -> (N, Ds)."""
    parts = [_gather(fine, ys, xs, w["of"]) * w["sf"]]
    if coarse is not None:
        parts += [_gather(coarse, ys // 2, xs // 2, w["og"]) * w["sb"],
                  _gather(coarse_p, ys // 2, xs // 2, w["og"]) * w["sp"]]
    return torch.cat([rearrange(p, "n k c -> n (k c)") for p in parts], 1)


def weights(cfg: AnalogyConfig, dtype, dev) -> dict:
    """Offsets (K, 2) and square-root weights (K, 1) of each feature block, as tensors."""
    of, og = offsets(cfg.window), offsets(cfg.coarse_window)
    gf, gg = gauss(cfg.window, cfg.sigma), gauss(cfg.coarse_window, cfg.sigma and cfg.sigma / 2)
    causal = [i for i, o in enumerate(of) if o < (0, 0)]

    def t(x, dt=dtype):
        return torch.tensor(np.asarray(x), dtype=dt, device=dev)
    return {"of": t(of, torch.long), "og": t(og, torch.long), "oc": t([of[i] for i in causal], torch.long),
            "sf": t(np.sqrt(cfg.b_weight * gf))[:, None], "sc": t(np.sqrt(gf[causal]))[:, None],
            "sb": t(np.sqrt(cfg.b_weight * cfg.coarse_weight * gg))[:, None],
            "sp": t(np.sqrt(cfg.coarse_weight * gg))[:, None]}


def _grid(H: int, W: int, dev):
    """(rows, columns) of every pixel of an H x W image in scanline order, each (H*W,)."""
    return tuple(g.reshape(-1) for g in torch.meshgrid(torch.arange(H, device=dev), torch.arange(W, device=dev),
                                                       indexing="ij"))


def _waves(by, bx, window: int, dev):
    """Queries grouped in waves x + (window // 2 + 1) y: no pixel of a wave is in another's causal
    window, so a wave is searched at once -> (queries in wave order, wave boundaries into it)."""
    wave = (bx + (window // 2 + 1) * by).cpu()
    order = torch.argsort(wave, stable=True).to(dev)
    return order, np.concatenate([[0], np.cumsum(np.bincount(wave.numpy()))])


def _causal_neighbours(by, bx, oc, Hb: int, Wb: int):
    """For every query (by, bx) and causal offset: whether the neighbour lies inside B, and its flat
    index (clamped into B) -> (inside, nbr), each (Nq, Kc)."""
    ny, nx = by[:, None] + oc[:, 0], bx[:, None] + oc[:, 1]
    inside = (ny >= 0) & (ny < Hb) & (nx >= 0) & (nx < Wb)
    return inside, ny.clamp(0, Hb - 1) * Wb + nx.clamp(0, Wb - 1)


def _candidates(src, ok, oc, Ha: int, Wa: int):
    """Coherence candidates p = s(r) + (q - r) for each synthesised neighbour r = q + o, from their
    sources src = s(r) (N, Kc) -> (flat A index or -1, valid), each (N, Kc)."""
    cy, cx = src // Wa - oc[:, 0], src % Wa - oc[:, 1]
    valid = ok & (cy >= 0) & (cy < Ha) & (cx >= 0) & (cx < Wa)
    return torch.where(valid, cy * Wa + cx, -1), valid


def _upsampled_init(s_coarse, by, bx, a_shape, b_shape):
    """PatchMatch's start at this level from the coarser one's matches: 2 s(q / 2) + q mod 2 (flat A
    indices, clamped into A) for every query (by, bx)."""
    (Ha, Wa), (Hb, Wb) = a_shape, b_shape
    sc = s_coarse.view(-(-Hb // 2), -(-Wb // 2))[by // 2, bx // 2]
    Wc = -(-Wa // 2)
    iy = (2 * (sc // Wc) + by % 2).clamp(max=Ha - 1)
    ix = (2 * (sc % Wc) + bx % 2).clamp(max=Wa - 1)
    return iy * Wa + ix


def _coherent(P, p, T, Mq, cands, valid, factor: float):
    """Ashikhmin's coherence for a wave: each query's best candidate s(r) + (q - r) replaces its
    approximate match p when within `factor` of its distance -> (new p, how many changed)."""
    d_app = gathered_ssd(P, p[:, None], T, Mq)[:, 0]
    d_coh = gathered_ssd(P, cands.clamp_min(0), T, Mq).masked_fill(~valid, float("inf"))
    best, j = d_coh.min(1)
    p_coh = cands.gather(1, j[:, None])[:, 0]
    use = best <= d_app * factor
    return torch.where(use, p_coh, p), int((use & (p_coh != p)).sum())   # counted where it changes the match


def _level(prep, lvl: int, cfg: AnalogyConfig, s_coarse, fbp_coarse, gen_np, device, dtype):
    """Synthesise one level. Returns (s (Hb*Wb,) flat A indices, B′ features (Hb, Wb, c), coherent share)."""
    dev = torch.device(device)
    L = cfg.levels - 1
    w = weights(cfg, dtype, dev)

    def t(x):
        return torch.tensor(x, dtype=dtype, device=dev)
    fa, fap, fb = t(prep["A"][lvl]), t(prep["Ap"][lvl]), t(prep["B"][lvl])
    (Ha, Wa, c), (Hb, Wb) = fa.shape, fb.shape[:2]
    (ay, ax), (by, bx) = _grid(Ha, Wa, dev), _grid(Hb, Wb, dev)                  # (M,), (Nq,): rows, columns
    coarse = (t(prep["A"][lvl - 1]), t(prep["Ap"][lvl - 1])) if lvl else (None, None)
    causal_a = rearrange(_gather(fap, ay, ax, w["oc"]) * w["sc"], "n k c -> n (k c)")
    P = torch.cat([_static(fa, *coarse, ay, ax, w), causal_a], 1)                # (M, D): A-side features
    Ts = _static(fb, t(prep["B"][lvl - 1]) if lvl else None, fbp_coarse, by, bx, w)  # (Nq, Ds): B side
    Ds, vals = Ts.shape[1], fap.reshape(-1, c)                                    # vals: what B′ copies
    # causal neighbours of every query: flat index (clamped) and whether it lies inside B
    inside, nbr = _causal_neighbours(by, bx, w["oc"], Hb, Wb)                     # (Nq, Kc) each
    masks, cls = torch.unique(inside, dim=0, return_inverse=True)                 # mask classes (K, Kc), (Nq,)
    kind = choose(cfg.search, Hb * Wb, Ha * Wa)
    perm = torch.as_tensor(gen_np.permutation(Ha * Wa), device=dev)              # tie-break order
    if kind == "exact":
        search = ExactSearch(P, Ds, repeat(masks, "k j -> k (j c)", c=c), perm)
    else:
        init = _upsampled_init(s_coarse, by, bx, (Ha, Wa), (Hb, Wb)) if s_coarse is not None else None
        gen = torch.Generator().manual_seed(int(gen_np.integers(2 ** 62)))
        search = PatchMatch(P, Ds, (Ha, Wa), (Hb, Wb), Ts, init, gen, cfg.pm_iters, cfg.pm_keep)
    s = torch.full((Hb * Wb,), -1, dtype=torch.long, device=dev)
    fbp = torch.zeros(Hb * Wb, c, dtype=dtype, device=dev)
    factor = 1 + 2.0 ** (lvl - L) * cfg.kappa if cfg.coherence else None
    order, bounds = _waves(by, bx, cfg.window, dev)
    n_coh = 0
    # a wave's tensors are small (~W / 3 queries): unless each one multiplies all of a large A, one thread
    # is faster, and it does not stall whenever a co-tenant holds the other core
    with _threads(None if kind == "exact" and Ha * Wa * P.shape[1] > 2 ** 21 else 1):
        for k in range(len(bounds) - 1):
            q = order[bounds[k]:bounds[k + 1]]                                        # (N,) this wave's pixels
            ok, nb = inside[q], nbr[q]                                                # (N, Kc)
            Tc = fbp[nb] * w["sc"] * ok[..., None]                                    # (N, Kc, c) known B′ part
            T = torch.cat([Ts[q], rearrange(Tc, "n k c -> n (k c)")], 1)            # (N, D)
            Mq = torch.cat([torch.ones_like(Ts[q]), repeat(ok, "n k -> n (k c)", c=c).to(dtype)], 1)
            cands, valid = _candidates(s[nb], ok, w["oc"], Ha, Wa)                    # (N, Kc) each
            p = search(q, T, Mq, cls[q], cands)                                       # best approximate match
            if factor is not None:
                p, changed = _coherent(P, p, T, Mq, cands, valid, factor)
                n_coh += changed
            s[q], fbp[q] = p, vals[p]
    return s, fbp.view(Hb, Wb, c), n_coh / (Hb * Wb), kind


def analogy_result(a, a_prime, b, cfg: AnalogyConfig | None = None, seed: int = 0,
                   device="cpu") -> AnalogyResult:
    """B′ with its source map and per-level statistics (the pixel-at-a-time version with the same
    results: seqgen.texture.analogy_reference.analogy_reference)."""
    cfg = cfg or AnalogyConfig()
    prep = prepare(a, a_prime, b, cfg)
    dtype = getattr(torch, cfg.dtype)
    gen = np.random.default_rng(seed)
    s = fbp = None
    res = AnalogyResult(b_prime=None, source=None)
    for lvl in range(cfg.levels):
        t0 = time.perf_counter()
        s, fbp, coh, res.search = _level(prep, lvl, cfg, s, fbp, gen, device, dtype)
        res.coherent.append(coh)
        res.seconds.append(time.perf_counter() - t0)
    Hb, Wb = prep["B"][-1].shape[:2]
    src = s.cpu().numpy().reshape(Hb, Wb)
    res.b_prime = colour(prep, cfg, src)
    res.source = np.stack(np.divmod(src, prep["A"][-1].shape[1]), -1)
    return res


def analogy(a, a_prime, b, cfg: AnalogyConfig | None = None, seed: int = 0, device="cpu") -> np.ndarray:
    """B′ (Hb, Wb, 3) floats in [0, 1] such that A : A′ :: B : B′ (see the module docstring)."""
    return analogy_result(a, a_prime, b, cfg, seed, device).b_prime
