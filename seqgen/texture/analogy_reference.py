"""The straightforward image analogy: one pixel at a time in scanline order, exhaustive search in numpy.

Slow and obviously correct. It shares with seqgen.texture.analogy only the definitions (pyramids,
window offsets and Gaussian weights, the tie-break permutation drawn from the seed, the colour step)
and rebuilds every feature vector from padded arrays with plain slicing, so a bug in the fast path's
gathers, mask classes, matmul SSD, waves or coherence candidates shows up as a different B′.
Used by the tests (fast == reference in float64) and by scripts/bench_analogy.py (the speed ratio).
"""

from __future__ import annotations

import time

import numpy as np

from seqgen.texture.analogy import AnalogyConfig, AnalogyResult, colour, gauss, offsets, prepare


def _window(padded: np.ndarray, y: int, x: int, pad: int, offs) -> list:
    """Values of an edge-padded (H + 2 pad, W + 2 pad, c) image at (y + dy, x + dx), one (c,) per offset."""
    return [padded[y + pad + dy, x + pad + dx] for dy, dx in offs]


def _edge(img: np.ndarray, pad: int) -> np.ndarray:
    return np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="edge")


def _query(static: np.ndarray, bp: np.ndarray, y: int, x: int, oc, sc) -> tuple[np.ndarray, np.ndarray]:
    """(B's feature vector at (y, x), its mask): the static part, then B′ so far at the causal offsets
    (outside B: unknown, masked out)."""
    (Hb, Wb, c) = bp.shape
    t, m = [static], [np.ones(len(static))]
    for (dy, dx), wt in zip(oc, sc):
        ins = 0 <= y + dy < Hb and 0 <= x + dx < Wb
        t.append(bp[y + dy, x + dx] * wt if ins else np.zeros(c))
        m.append(np.full(c, 1.0 if ins else 0.0))
    return np.concatenate(t), np.concatenate(m)


def _coherent(d: np.ndarray, p: int, s: np.ndarray, y: int, x: int, oc, a_shape, factor: float) -> int:
    """Ashikhmin's pick: the best s(r) + (q - r) over the causal neighbours r already drawn, kept over
    the best match p when its distance is within `factor` of p's."""
    (Hb, Wb), (Ha, Wa) = s.shape, a_shape
    best, pc = np.inf, -1
    for dy, dx in oc:
        ry, rx = y + dy, x + dx
        if 0 <= ry < Hb and 0 <= rx < Wb:
            cy, cx = s[ry, rx] // Wa - dy, s[ry, rx] % Wa - dx
            if 0 <= cy < Ha and 0 <= cx < Wa and d[cy * Wa + cx] < best:
                best, pc = d[cy * Wa + cx], cy * Wa + cx
    return pc if best <= d[p] * factor else p


def _scan(static_b, PA: np.ndarray, perm: np.ndarray, Ap: np.ndarray, b_shape, oc, sc, factor):
    """B′ pixel by pixel in scanline order: exhaustive best match (ties: first in perm order), then
    coherence -> (s (Hb, Wb) flat A indices, B′ (Hb, Wb, c), how many coherence picks changed)."""
    (Hb, Wb), (Ha, Wa, c) = b_shape, Ap.shape
    s = np.full((Hb, Wb), -1, dtype=np.int64)
    bp = np.zeros((Hb, Wb, c))
    n_coh = 0
    for y in range(Hb):
        for x in range(Wb):
            t, m = _query(static_b(y, x), bp, y, x, oc, sc)
            d = ((PA - t) ** 2 * m).sum(1)                           # (M,) distance to every A pixel
            p = perm[np.argmin(d[perm])]                             # first minimum in perm order
            if factor is not None:
                q = _coherent(d, p, s, y, x, oc, (Ha, Wa), factor)
                p, n_coh = q, n_coh + (q != p)
            s[y, x], bp[y, x] = p, Ap.reshape(-1, c)[p]
    return s, bp, n_coh


def analogy_reference(a, a_prime, b, cfg: AnalogyConfig | None = None, seed: int = 0) -> AnalogyResult:
    """Exhaustive search for every pixel (cfg.search is ignored: this is the exact algorithm)."""
    cfg = cfg or AnalogyConfig()
    prep = prepare(a, a_prime, b, cfg)
    gen = np.random.default_rng(seed)
    of, og = offsets(cfg.window), offsets(cfg.coarse_window)
    oc = [o for o in of if o < (0, 0)]                                   # causal offsets
    gf, gg = gauss(cfg.window, cfg.sigma), gauss(cfg.coarse_window, cfg.sigma and cfg.sigma / 2)
    sf, sc = np.sqrt(cfg.b_weight * gf), np.sqrt(np.array([gf[of.index(o)] for o in oc]))
    sb, sp = np.sqrt(cfg.b_weight * cfg.coarse_weight * gg), np.sqrt(cfg.coarse_weight * gg)
    pf, pg = cfg.window // 2, cfg.coarse_window // 2
    L = cfg.levels - 1
    res = AnalogyResult(b_prime=None, source=None, search="reference")
    bp_prev = None
    for lvl in range(cfg.levels):
        t0 = time.perf_counter()
        A, Ap, B = prep["A"][lvl], prep["Ap"][lvl], prep["B"][lvl]
        (Ha, Wa, _), (Hb, Wb) = A.shape, B.shape[:2]
        Apad, Appad, Bpad = _edge(A, pf), _edge(Ap, pf), _edge(B, pf)
        if lvl:
            Ac, Apc, Bc, Bpc = (_edge(x, pg) for x in (prep["A"][lvl - 1], prep["Ap"][lvl - 1],
                                                         prep["B"][lvl - 1], bp_prev))

        def static(fine, crs, crs_p, y, x):
            """[fine window | coarse window | coarse′ window], each value times sqrt(its weight)."""
            v = [val * wt for val, wt in zip(_window(fine, y, x, pf, of), sf)]
            if lvl:
                v += [val * wt for val, wt in zip(_window(crs, y // 2, x // 2, pg, og), sb)]
                v += [val * wt for val, wt in zip(_window(crs_p, y // 2, x // 2, pg, og), sp)]
            return np.concatenate(v)

        # every A pixel's full feature vector: static part, then the causal A′ part
        PA = np.stack([np.concatenate([static(Apad, Ac if lvl else None, Apc if lvl else None, y, x),
                                       *[val * wt for val, wt in zip(_window(Appad, y, x, pf, oc), sc)]])
                       for y in range(Ha) for x in range(Wa)])           # (M, D)
        perm = gen.permutation(Ha * Wa)
        factor = 1 + 2.0 ** (lvl - L) * cfg.kappa if cfg.coherence else None
        s, bp, n_coh = _scan(lambda y, x: static(Bpad, Bc if lvl else None, Bpc if lvl else None, y, x), PA, perm,
                             Ap, (Hb, Wb), oc, sc, factor)
        bp_prev = bp
        res.coherent.append(float(n_coh) / (Hb * Wb))
        res.seconds.append(time.perf_counter() - t0)
    res.b_prime = colour(prep, cfg, s)
    res.source = np.stack(np.divmod(s, prep["A"][-1].shape[1]), -1)
    return res
