"""Best-match search for image analogies: exact (matmul SSD) and PatchMatch, behind one call.

A level's matching problem (built by seqgen.texture.analogy): every A pixel p has a feature vector
P[p] (M, D), already multiplied by the square roots of its Gaussian weights so that the weighted SSD
is a plain masked squared distance. The first Ds columns are *static* (A's 5x5 window and the 3x3
windows one level coarser in A and A′: their B-side counterparts are known before the level starts);
the last Dc columns are the *causal* A′ part, whose B′ counterpart exists only once the pixels before
q in scanline order are synthesised. A query is (T, Mq): its features (N, D), zero where unknown, and
a 0/1 mask (N, D) that is 0 on causal positions outside B. The distance is

    d(q, p) = sum_k Mq[q, k] * (T[q, k] - P[p, k])^2.

`ExactSearch` finds argmin_p d over all of A in one matrix product per batch of queries: with the
mask fixed, d = |T_q|^2 + |P_p|^2_mask - 2 T_q . P_p, and a query's mask is one of a few *mask classes*
(which causal offsets fall outside B: top rows, left and right columns), so |P_p|^2_mask is a column of
a small table S2 (M, K). Appending S2 to P and a one-hot class to -2 T turns a batch into one matmul
(N, D+K) @ (D+K, M) and an argmin. Ties go to the earliest row of a seeded permutation of A (the
reference uses the same permutation), i.e. a uniformly random one of the tied pixels.

`PatchMatch` (Barnes et al. 2009) is the approximate alternative for large images: a parallel pre-pass
over the whole level on the static features (jump-flood propagation + random search, initialised from
the coarser level's matches) keeps the `keep` best distinct matches of every query; during synthesis
each query scores only ~30 candidates with its full features: those, the Ashikhmin coherence
candidates, then a random search around the winner. Cost O(N * candidates * D) instead of
O(N * M * D). Measured (docs/benchmarks.md): 4-5x faster than the exact search at 256^2, 0.2-4 dB lower
PSNR on filters with a ground truth (most on emboss, edges, posterize: presumably their best matches
are isolated pixels that propagation and random search rarely reach).

`choose("auto", ...)`: exact up to 2^30 B x A pixel pairs (e.g. 128^2 from 256^2), PatchMatch beyond.
"""

from __future__ import annotations

import torch


def gathered_ssd(P: torch.Tensor, idx: torch.Tensor, T: torch.Tensor, Mq: torch.Tensor) -> torch.Tensor:
    """d(q, idx[q, j]) by direct sums: P (M, D), idx (N, J) long, T / Mq (N, D) -> (N, J)."""
    diff = P[idx] - T[:, None, :]                        # (N, J, D)
    return (diff * diff * Mq[:, None, :]).sum(-1)


def brute_force(P: torch.Tensor, T: torch.Tensor, Mq: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Reference: direct distances to every A pixel, first minimum in perm order. -> (N,) long."""
    out = []
    for t, m in zip(T, Mq):                              # one query at a time, (D,) each
        d = ((P[perm] - t) ** 2 * m).sum(-1)             # (M,) in permuted order
        out.append(perm[int(torch.argmin(d))])
    return torch.stack(out)


class ExactSearch:
    """argmin over all of A, batched over queries; masks: (K, Dc) 0/1 causal masks of the K classes."""

    def __init__(self, P: torch.Tensor, Ds: int, masks: torch.Tensor, perm: torch.Tensor,
                 block: int = 1 << 22):
        Pp = P[perm]                                     # (M, D): ties resolve to the earliest permuted row
        s2 = (Pp[:, :Ds] ** 2).sum(1, keepdim=True) + (Pp[:, Ds:] ** 2) @ masks.T.to(P.dtype)  # (M, K)
        self.Pa = torch.cat([Pp, s2], 1).T.contiguous()  # (D+K, M): |P|^2_mask in the last K rows
        self.perm, self.K, self.block = perm, masks.shape[0], block

    def __call__(self, q, T, Mq, cls, cands=None) -> torch.Tensor:
        """T, Mq (N, D), cls (N,) mask class of each query -> best A index (N,). q, cands: unused."""
        N, M = T.shape[0], self.Pa.shape[1]
        Q = torch.cat([-2 * T, torch.nn.functional.one_hot(cls, self.K).to(T.dtype)], 1)  # (N, D+K)
        chunk = max(1, min(M, self.block // max(N, 1)))  # keep each (N, chunk) block cache-sized
        best_v = best_i = None
        for s in range(0, M, chunk):                     # d' = |P|^2_mask - 2 T.P (|T|^2 is per query)
            v, i = (Q @ self.Pa[:, s:s + chunk]).min(1)
            if best_v is None:
                best_v, best_i = v, i
            else:                                        # strict <: the earlier chunk keeps a tie
                better = v < best_v
                best_v, best_i = torch.where(better, v, best_v), torch.where(better, i + s, best_i)
        return self.perm[best_i]


def _radii(h: int, w: int) -> list[int]:
    """Random-search radii max(h, w) / 2, / 4, ..., 1 (PatchMatch's alpha = 1/2)."""
    r, out = max(h, w) // 2, []
    while r >= 1:
        out.append(r)
        r //= 2
    return out


class PatchMatch:
    """Approximate nearest neighbours: a parallel pre-pass on the static features, then per-wave scoring.

    a_shape, b_shape: (H, W) of A and B at this level; Ts: (Nq, Ds) static query features in raster
    order; init: (Nq,) starting matches (the coarser level's, upsampled) or None for random ones.
    The pre-pass keeps the `keep` best distinct matches of every query.
    """

    def __init__(self, P: torch.Tensor, Ds: int, a_shape, b_shape, Ts: torch.Tensor, init, gen: torch.Generator,
                 iters: int = 8, keep: int = 8, chunk: int = 8192):
        self.P, self.a_shape, self.gen = P, a_shape, gen
        self.radii = _radii(*a_shape)
        Ha, Wa = a_shape
        Hb, Wb = b_shape
        dev = P.device
        if init is None:
            init = torch.randint(0, Ha * Wa, (Hb * Wb,), generator=gen).to(dev)
        Ps = P[:, :Ds]
        n2 = (Ps * Ps).sum(1)                             # (M,) |P_static|^2
        t2 = (Ts * Ts).sum(1)                             # (Nq,)
        by, bx = (t.reshape(-1).to(dev) for t in torch.meshgrid(torch.arange(Hb), torch.arange(Wb), indexing="ij"))

        def score(cands):                                 # cands (Nq, J) -> static distances (Nq, J), chunked
            out = []                                      # |t|^2 + |p|^2 - 2 t.p, one batched matmul per chunk
            for i in range(0, len(cands), chunk):
                c, t = cands[i:i + chunk], Ts[i:i + chunk]
                out.append(t2[i:i + chunk, None] + n2[c] - 2 * torch.bmm(Ps[c], t[:, :, None])[..., 0])
            return torch.cat(out)

        nnf = init[:, None]                               # (Nq, k) best matches so far, best first
        for it in range(iters):
            jump = 2 ** (iters - 1 - it)                  # jump flooding: ..., 4, 2, 1 pixels
            best = nnf[:, 0]
            cands = [nnf]
            for step in sorted({1, jump}):
                for dy, dx in ((0, step), (0, -step), (step, 0), (-step, 0)):
                    ny, nx = (by + dy).clamp(0, Hb - 1), (bx + dx).clamp(0, Wb - 1)
                    src = best[ny * Wb + nx]              # the neighbour's match, shifted back by the offset
                    cy = (src // Wa - (ny - by)).clamp(0, Ha - 1)
                    cx = (src % Wa - (nx - bx)).clamp(0, Wa - 1)
                    cands.append((cy * Wa + cx)[:, None])
            cands.append(self._around(best))
            cands = torch.sort(torch.cat(cands, 1), 1).values                  # (Nq, J), duplicates adjacent
            d = score(cands)
            d[:, 1:].masked_fill_(cands[:, 1:] == cands[:, :-1], float("inf"))  # count each pixel once
            j = d.topk(min(keep, d.shape[1]), 1, largest=False).indices        # sorted: best first
            nnf = cands.gather(1, j)
        self.nnf = nnf                                    # (Nq, keep) the pre-pass matches of every query

    def _around(self, centre: torch.Tensor) -> torch.Tensor:
        """One uniform draw in the square of each radius around centre (n,) -> (n, len(radii))."""
        Ha, Wa = self.a_shape
        r = torch.tensor(self.radii, device=centre.device)                     # (R,)
        u = torch.rand(len(centre), len(self.radii), 2, generator=self.gen).to(centre.device) * 2 - 1
        cy = (centre[:, None] // Wa + torch.round(u[..., 0] * r).long()).clamp(0, Ha - 1)
        cx = (centre[:, None] % Wa + torch.round(u[..., 1] * r).long()).clamp(0, Wa - 1)
        return cy * Wa + cx

    def _best(self, pool, T, Mq):
        j = gathered_ssd(self.P, pool, T, Mq).argmin(1)
        return pool.gather(1, j[:, None])[:, 0]

    def __call__(self, q, T, Mq, cls=None, cands=None) -> torch.Tensor:
        """q (N,) query indices -> the best, by the full features T, Mq (N, D), of: the pre-pass matches,
        the coherence candidates cands (N, J; -1 = none), then a random search around the winner."""
        start = self.nnf[q]                                                    # (N, k)
        pool = start if cands is None else torch.cat([start, torch.where(cands < 0, start[:, :1], cands)], 1)
        best = self._best(pool, T, Mq)
        return self._best(torch.cat([best[:, None], self._around(best)], 1), T, Mq)


def choose(kind: str, n_queries: int, n_a: int, limit: float = 2.0 ** 30) -> str:
    """"auto" -> "exact" while B pixels x A pixels <= limit (e.g. 128^2 x 256^2), else "patchmatch"."""
    if kind != "auto":
        return kind
    return "exact" if n_queries * n_a <= limit else "patchmatch"

