"""Controlled playback: both controls are extra terms in the cost that the future costs plan around.

(a) Frame range: the user picks frames [first, last] the playback should move to and stay in. Every
    frame shown outside the range costs `penalty` (in units of the mean transition cost); with the
    future costs, a jump toward the range pays off long before it is reached, and leaving costs more
    than the jump back. (A reward for frames inside is the same thing: it shifts every path's cost by
    penalty / (1 - alpha), so the chain's choices are identical.)
(b) Video sprite (Schödl & Essa 2002): a clip of a sprite whose position per frame is known. Showing
    frame j moves the sprite by v_j, the clip's own motion into frame j, so any walk traces a path.
    For each of K fixed directions u the cost is weight_c * c(i -> j) + beta * angle(v_j, u) / pi, with
    its own future costs; at playback the direction closest to the current waypoint picks the chain.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np

from seqgen.core.errors import ConfigError
from seqgen.data.video.generated import composite
from seqgen.families.video_texture import analysis as A
from seqgen.families.video_texture.playback import row_cdf


def range_chain(c: np.ndarray, first: int, last: int, penalty: float, sigma: float, p: float, alpha: float,
                local_max: bool, threshold: float) -> dict:
    """P (CSR) of the chain that moves to frames [first, last] and stays there."""
    n = len(c)
    if not 0 <= first <= last < n:
        raise ConfigError(f"target=[{first}, {last}]: expected 0 <= first <= last <= {n - 1} (frames of the clip)")
    outside = np.ones(n)
    outside[first:last + 1] = 0.0
    csr, _, _ = A.chain(c, sigma, p, True, alpha, local_max, threshold, extra=penalty * outside[None, :])
    return csr


def sprite_velocities(positions: np.ndarray) -> np.ndarray:
    """(n, 2) positions -> (n, 2) motion into each frame, v_j = x_j - x_{j-1} (v_0 = x_1 - x_0)."""
    v = np.diff(positions, axis=0, prepend=positions[:1])
    v[0] = positions[1] - positions[0]
    return v


def directions(k: int) -> np.ndarray:
    """k unit vectors evenly around the circle, (k, 2), the first pointing along +x."""
    a = 2 * np.pi * np.arange(k) / k
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def steering_chains(c: np.ndarray, velocities: np.ndarray, k: int, beta: float, weight_c: float, sigma: float,
                    p: float, alpha: float, local_max: bool, threshold: float) -> tuple[np.ndarray, list]:
    """The K direction chains -> (directions (K, 2), [P as CSR per direction])."""
    speed = np.linalg.norm(velocities, axis=1)
    unit = velocities / np.maximum(speed, 1e-9)[:, None]
    dirs = directions(k)
    chains = []
    for u in dirs:
        angle = np.arccos(np.clip(unit @ u, -1, 1)) / np.pi            # (n,) in [0, 1]
        angle[speed < 1e-6] = 0.5                                       # a still frame points nowhere
        base = weight_c * np.power(c, p) if p != 1 else weight_c * c
        csr, _, _ = A.chain(base, sigma, 1.0, True, alpha, local_max, threshold, extra=beta * angle[None, :])
        chains.append(csr)
    return dirs, chains


def check_waypoints(waypoints, width: int, height: int) -> np.ndarray:
    """waypoints=[[x, y], ...] -> (k, 2) floats, each a finite point on the width x height canvas."""
    try:
        pts = np.asarray(waypoints, dtype=np.float64)
    except (TypeError, ValueError):
        pts = None
    if pts is None or pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0 or not np.isfinite(pts).all():
        raise ConfigError(f"waypoints={waypoints!r}: expected a list of [x, y] points, e.g. [[10,10],[50,40]]")
    off = [p.tolist() for p in pts if not (0 <= p[0] <= width and 0 <= p[1] <= height)]
    if off:
        raise ConfigError(f"waypoints: {off} lie off the {width}x{height} canvas (x in [0, {width}], "
                          f"y in [0, {height}])")
    return pts


def steer(chains: list, dirs: np.ndarray, velocities: np.ndarray, waypoints, start_frame: int, start_pos,
          frames: int, seed: int, radius: float) -> dict:
    """Walk toward each waypoint in turn: at every step the chain of the direction nearest to the
    waypoint draws the next frame and the sprite moves by that frame's velocity. A waypoint counts as
    reached within `radius` pixels; the walk ends at the last one, or after `frames` frames.
    -> {indices (T,), positions (T, 2), reached [step or None per waypoint]}."""
    pts = np.asarray(waypoints, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        raise ConfigError("waypoints=[]: expected a list of [x, y] points")
    cdfs = [row_cdf(ch) for ch in chains]
    ptrs = [ch["indptr"].tolist() for ch in chains]
    idxs = [ch["indices"].tolist() for ch in chains]
    u = np.random.default_rng(seed).random(frames).tolist()
    vel = velocities.tolist()
    pos = np.asarray(start_pos, dtype=np.float64).copy()
    i, target = int(start_frame), 0
    reached = [None] * len(pts)
    seq, path = [i], [pos.copy()]
    for t in range(1, frames):
        if np.hypot(*(pts[target] - pos)) <= radius:
            reached[target] = t - 1
            target += 1
            if target == len(pts):
                break
        goal = pts[target] - pos
        d = int(np.argmax(dirs @ goal)) if np.hypot(*goal) > 1e-9 else 0
        lo, hi = ptrs[d][i], ptrs[d][i + 1]
        i = idxs[d][min(bisect_right(cdfs[d], u[t], lo, hi), hi - 1)]
        pos += vel[i]
        seq.append(i)
        path.append(pos.copy())
    if target < len(pts) and np.hypot(*(pts[target] - pos)) <= radius:
        reached[target] = len(seq) - 1
    return {"indices": np.asarray(seq, dtype=np.int64), "positions": np.asarray(path), "reached": reached}


def free_path(seq: np.ndarray, velocities: np.ndarray, start_pos, size) -> np.ndarray:
    """Positions of a free walk of a sprite clip: the velocities of the frames shown, summed, wrapped
    around the canvas (h, w) so the sprite stays in view. (T, 2)."""
    steps = velocities[seq].copy()
    steps[0] = 0.0
    pos = np.asarray(start_pos, dtype=np.float64) + np.cumsum(steps, axis=0)
    return np.mod(pos, [size[1], size[0]])


def render_sprite(background: np.ndarray, cutouts: np.ndarray, seq: np.ndarray, positions: np.ndarray,
                  waypoints=None) -> np.ndarray:
    """Frames (T, H, W, 3) uint8: the background with cut-out seq[t] (RGBA, premultiplied) at positions[t];
    waypoints, if given, are marked as small dark squares."""
    bg = background.astype(np.float64) / 255
    if waypoints is not None:
        for x, y in np.asarray(waypoints, dtype=np.float64).reshape(-1, 2):
            x0, y0 = int(round(x)), int(round(y))
            bg[max(0, y0 - 1):y0 + 2, max(0, x0 - 1):x0 + 2] = (0.1, 0.1, 0.1)
    out = np.empty((len(seq),) + background.shape, np.uint8)
    for t, (j, xy) in enumerate(zip(seq, positions)):
        out[t] = (composite(bg.copy(), cutouts[j], xy) * 255 + 0.5).astype(np.uint8)
    return out
