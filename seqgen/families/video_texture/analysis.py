"""A clip's frames -> a Markov chain over them (Schödl, Szeliski, Salesin, Essa 2000, section 3).

    D(i, j)   L2 distance between frames i and j (pixels in [0, 1]), all pairs as one matrix product
    C(i -> j) cost of showing j after i, with dynamics preserved:
              sum_{k=-N}^{N-1} w_k D(i+k+1, j+k), w = binomial weights of 2N taps (N = 0: D(i+1, j))
    c         C divided by its mean non-zero value, so sigma and every weight below are unitless
    F(i -> j) future cost, c^p + alpha * min_k F(j -> k): a jump into a stretch that leads to a dead end
              pays now for the bad jump it will have to make later
    P(i -> j) proportional to exp(-F / sigma), pruned to each row's local maxima above a threshold
              (relative to the row's best), renormalised

Every step is a whole-matrix operation; `*_reference` functions are slow loops that share nothing with
the fast ones but the definitions, for the tests. Arrays are float64 (n, n) unless said otherwise;
inf marks a transition that cannot be assessed (its filter window leaves the clip) and is never taken.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# ---- distances ---------------------------------------------------------------------------------------


def distances(frames: np.ndarray, dtype: str = "float32") -> np.ndarray:
    """frames (n, H, W, C) uint8 -> D (n, n): |x_i - x_j| from one Gram matrix, |a|^2 + |b|^2 - 2 a.b."""
    n = len(frames)
    x = torch.from_numpy(np.ascontiguousarray(frames).reshape(n, -1)).to(getattr(torch, dtype)) / 255.0
    x -= x.mean(0)                    # centring shrinks |x|^2, and with it the Gram trick's rounding error
    gram = x @ x.T                    # (n, n): the one O(n^2 d) step
    sq = gram.diagonal().clone()
    d2 = (sq[:, None] + sq[None, :] - 2 * gram).double().clamp_min_(0)
    d = d2.sqrt_().numpy()
    d = (d + d.T) / 2                 # exactly symmetric
    np.fill_diagonal(d, 0.0)          # exactly zero: C(i -> i+1) is then exactly 0
    return d


def distances_reference(frames: np.ndarray) -> np.ndarray:
    """The same by a double loop over frame pairs (float64)."""
    x = frames.reshape(len(frames), -1).astype(np.float64) / 255.0
    n = len(x)
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            d[i, j] = math.sqrt(((x[i] - x[j]) ** 2).sum())
    return d


# ---- the dynamics filter -----------------------------------------------------------------------------


def filter_taps(half: int) -> tuple[list[int], np.ndarray]:
    """Offsets k and weights w_k of the filter: k = -N..N-1 with binomial weights (N = 0: k = 0 alone)."""
    if half < 0:
        raise ValueError(f"model.filter_n must be >= 0, got {half}")
    if half == 0:
        return [0], np.ones(1)
    w = np.array([math.comb(2 * half - 1, m) for m in range(2 * half)], dtype=np.float64)
    return list(range(-half, half)), w / w.sum()


def dynamics_filter(d: np.ndarray, half: int) -> np.ndarray:
    """D (n, n) -> C (n, n), C[i, j] = sum_k w_k D[i+k+1, j+k] / sum of the w_k whose frames exist.

    Near the clip's ends some taps fall outside it; the present ones are renormalised when they carry at
    least half the weight, else the pair is inf. With N = 0 the last frame has no successor to compare,
    so its row compares i with j-1 instead (the k = -1 tap): every frame keeps a way out."""
    n = len(d)
    ks, ws = filter_taps(half)
    num, den = np.zeros((n, n)), np.zeros((n, n))
    for k, w in zip(ks, ws):
        i0, i1 = max(0, -k - 1), min(n, n - k - 1)       # rows i with 0 <= i+k+1 < n
        j0, j1 = max(0, -k), min(n, n - k)               # columns j with 0 <= j+k < n
        num[i0:i1, j0:j1] += w * d[i0 + k + 1:i1 + k + 1, j0 + k:j1 + k]
        den[i0:i1, j0:j1] += w
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(den >= 0.5 - 1e-9, num / den, np.inf)
    if half == 0:
        c[n - 1, 0], c[n - 1, 1:] = np.inf, d[n - 1, :-1]
    return c


def dynamics_filter_reference(d: np.ndarray, half: int) -> np.ndarray:
    """The same by a loop over (i, j, k)."""
    n = len(d)
    ks, ws = filter_taps(half)
    c = np.full((n, n), np.inf)
    for i in range(n):
        for j in range(n):
            present = [(w, d[i + k + 1, j + k]) for k, w in zip(ks, ws) if 0 <= i + k + 1 < n and 0 <= j + k < n]
            total = sum(w for w, _ in present)
            if total >= 0.5 - 1e-9:
                c[i, j] = sum(w * x for w, x in present) / total
            elif half == 0 and i == n - 1 and j >= 1:
                c[i, j] = d[i, j - 1]
    return c


def normalise(c: np.ndarray) -> tuple[np.ndarray, float]:
    """C / mean of its finite non-zero entries -> (c, that mean)."""
    vals = c[np.isfinite(c) & (c > 0)]
    if vals.size == 0:
        raise ValueError("every frame pair has zero distance: the clip does not move")
    scale = float(vals.mean())
    return c / scale, scale


# ---- future costs ------------------------------------------------------------------------------------


def evaluate_policy(cost: np.ndarray, nxt: np.ndarray, alpha: float) -> np.ndarray:
    """V = sum_t alpha^t cost[pi^t(i)] of the deterministic policy i -> nxt[i], by pointer doubling:
    after s rounds `total` sums 2^s steps and `jump` = pi^(2^s); stops once alpha^(2^s) is negligible."""
    total, jump, a = cost.astype(np.float64).copy(), nxt.copy(), float(alpha)
    for _ in range(64):
        if a < 1e-18:
            break
        total = total + a * total[jump]
        jump = jump[jump]
        a *= a
    return total


def future_costs(cp: np.ndarray, alpha: float, max_iter: int = 500) -> tuple[np.ndarray, dict]:
    """F with F[i, j] = cp[i, j] + alpha * min_k F[j, k], solved by policy iteration: evaluate the current
    choice of next frame exactly (evaluate_policy), improve every row at once (one (n, n) sweep), repeat
    until no row improves. A fixed point of a contraction, so it equals what value iteration converges to
    (value_iteration below, and the loop reference); -> (F, {iterations, residual})."""
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha must be in [0, 1) for the future costs to converge, got {alpha}")
    n = len(cp)
    if not np.isfinite(cp).any(axis=1).all():
        raise ValueError("a frame has no finite transition cost: the clip is too short for the filter")
    rows = np.arange(n)
    policy = cp.argmin(axis=1)
    for it in range(1, max_iter + 1):
        v = evaluate_policy(cp[rows, policy], policy, alpha)            # (n,) value of each frame
        q = cp + alpha * v[None, :]                                     # (n, n) one sweep
        best = q.argmin(axis=1)
        q_old, q_new = q[rows, policy], q[rows, best]
        better = q_new < q_old - 1e-12 * (1 + np.abs(q_old))           # ignore float ties: no cycling
        if not better.any():
            break
        policy = np.where(better, best, policy)
    residual = float(np.abs(q.min(axis=1) - v).max())
    return q, {"iterations": it, "residual": residual}


def value_iteration(cp: np.ndarray, alpha: float, tol: float = 1e-9, max_sweeps: int = 1_000_000):
    """The textbook solver, every sweep vectorised: V <- min_k (cp + alpha V)[:, k] until it moves less than
    tol (relative) -> (F, sweeps). Needs about log(tol) / log(alpha) sweeps: slow when alpha is near 1."""
    v = np.zeros(len(cp))
    for sweep in range(1, max_sweeps + 1):
        new = (cp + alpha * v[None, :]).min(axis=1)
        change = np.abs(new - v).max()
        v = new
        if change <= tol * (1 + np.abs(v).max()):
            break
    return cp + alpha * v[None, :], sweep


def future_costs_reference(cp: np.ndarray, alpha: float, tol: float = 1e-13) -> np.ndarray:
    """The definition iterated with loops over every (i, j) until F stops changing."""
    n = len(cp)
    f = [[0.0] * n for _ in range(n)]
    while True:
        m = [min(row) for row in f]
        change = 0.0
        for i in range(n):
            for j in range(n):
                new = cp[i, j] + alpha * m[j]
                if math.isfinite(new):
                    change = max(change, abs(new - f[i][j]))
                f[i][j] = new
        if change < tol:
            return np.array(f)


# ---- probabilities -----------------------------------------------------------------------------------


def probabilities(e: np.ndarray, sigma: float, local_max: bool = True, threshold: float = 0.01) -> np.ndarray:
    """Costs e (n, n) -> P (n, n), rows summing to 1: exp(-e / sigma), kept where it is a local maximum of
    its row (neighbouring targets j-1, j+1 are near-duplicates of j) and at least `threshold` times the row's
    best, then renormalised. The row's best transition always survives, so no frame is a trap."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    best = e.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        w = np.exp(-(e - best) / sigma)                                   # row maximum exactly 1
    w[~np.isfinite(e)] = 0.0
    keep = w >= threshold
    if local_max:
        pad = np.pad(e, ((0, 0), (1, 1)), constant_values=np.inf)
        keep &= (e <= pad[:, :-2]) & (e <= pad[:, 2:])
    p = np.where(keep, w, 0.0)
    return p / p.sum(axis=1, keepdims=True)


def to_csr(p: np.ndarray) -> dict:
    """Dense P -> its non-zero transitions: indptr (n+1,), indices (nnz,), probs (nnz,) (rows sum to 1)."""
    rows, cols = np.nonzero(p)
    indptr = np.zeros(len(p) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(p)), out=indptr[1:])
    return {"indptr": indptr, "indices": cols.astype(np.int64), "probs": p[rows, cols].astype(np.float64)}


def csr_dense(csr: dict, n: int) -> np.ndarray:
    p = np.zeros((n, n))
    rows = np.repeat(np.arange(n), np.diff(csr["indptr"]))
    p[rows, csr["indices"]] = csr["probs"]
    return p


def chain(c: np.ndarray, sigma: float, p: float, future: bool, alpha: float, local_max: bool, threshold: float,
          extra: np.ndarray | None = None) -> tuple[dict, np.ndarray, dict]:
    """Normalised costs c -> (P as CSR, the costs exponentiated, solver info). `extra` (n, n) or (1, n) is
    added to c^p before the future costs (the control terms); c itself is not changed."""
    e = np.power(c, p) if p != 1 else c.copy()
    if extra is not None:
        e = e + extra
    # a frame never follows itself: that "pause" costs only one frame's motion, and in a slow stretch
    # the chain would freeze on it (with the future costs, forever: c(i -> i) / (1 - alpha) is cheap)
    np.fill_diagonal(e, np.inf)
    info = {}
    if future:
        e, info = future_costs(e, alpha)
    return to_csr(probabilities(e, sigma, local_max, threshold)), e, info
