"""Clips seqgen makes itself (no download), each with exact per-frame ground truth.

    pendulum   a bob swinging on a rod; truth: angle, phase, angular velocity. Its period is not a whole
               number of frames, so no two swings are identical, and every position occurs twice per
               swing, once each way: the ambiguity the dynamics filter resolves.
    flame      a flickering flame driven by smooth random processes (a stochastic clip).
    sprite     a fish swimming over a static sandy background; truth: its position per frame and its
               RGBA cut-out (centred), so playback can move the sprite by the velocity of the frame shown.

Rendering is vectorised over all frames at once and anti-aliased by clipped signed distances, so
frame distances vary smoothly with sub-pixel motion. Deterministic under `seed`.
"""

from __future__ import annotations

import numpy as np


def _coverage(dist: np.ndarray) -> np.ndarray:
    """Signed distance to an edge in pixels (negative inside) -> anti-aliased coverage in [0, 1]."""
    return np.clip(0.5 - dist, 0.0, 1.0)


def _segment_distance(px, py, ax, ay, bx, by):
    """Distance of pixel centres (px, py) to the segments a-b; a, b broadcast as (n, 1, 1)."""
    vx, vy = bx - ax, by - ay
    t = np.clip(((px - ax) * vx + (py - ay) * vy) / (vx * vx + vy * vy + 1e-12), 0.0, 1.0)
    return np.hypot(px - ax - t * vx, py - ay - t * vy)


def pendulum(n_frames: int = 300, size: int = 64, period: float = 37.3, amplitude: float = 0.7) -> dict:
    """A swinging pendulum -> {"frames": (n, size, size, 3) uint8, "truth": {angle, phase, velocity}}.

    angle(t) = amplitude * sin(2 pi t / period); velocity is d angle / dt in radians per frame (its sign is
    the direction of motion)."""
    t = np.arange(n_frames, dtype=np.float64)
    phase = 2 * np.pi * t / period
    angle = amplitude * np.sin(phase)
    velocity = amplitude * (2 * np.pi / period) * np.cos(phase)
    py, px = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5           # pixel centres (size, size)
    px, py = px[None], py[None]
    ox, oy, length = size / 2, 0.15 * size, 0.55 * size                  # pivot and rod length
    bx = (ox + length * np.sin(angle))[:, None, None]                    # bob centre (n, 1, 1)
    by = (oy + length * np.cos(angle))[:, None, None]
    rod = _coverage(_segment_distance(px, py, ox, oy, bx, by) - 0.035 * size)    # (n, size, size)
    bob = _coverage(np.hypot(px - bx, py - by) - 0.1 * size)
    # background: a soft vertical gradient, so frames are not mostly one colour
    img = np.broadcast_to((np.array([0.93, 0.92, 0.86]) - 0.15 * (py[0] / size)[..., None]),
                          (n_frames, size, size, 3)).copy()
    img = img * (1 - rod[..., None]) + rod[..., None] * np.array([0.25, 0.25, 0.3])
    img = img * (1 - bob[..., None]) + bob[..., None] * np.array([0.8, 0.15, 0.1])
    truth = {"angle": angle, "phase": np.mod(phase, 2 * np.pi), "velocity": velocity}
    return {"frames": (img * 255 + 0.5).astype(np.uint8), "truth": truth, "fps": 25.0}


def _smooth_noise(rng, n: int, k: int, rho: float) -> np.ndarray:
    """k AR(1) processes of length n with unit stationary variance -> (n, k)."""
    out = np.empty((n, k))
    out[0] = rng.standard_normal(k)
    for t in range(1, n):
        out[t] = rho * out[t - 1] + np.sqrt(1 - rho * rho) * rng.standard_normal(k)
    return out


def flame(n_frames: int = 300, size: int = 64, seed: int = 0) -> dict:
    """A flickering flame: three tongues whose height, width and sway follow AR(1) processes."""
    rng = np.random.default_rng(seed)
    k = 3
    z = _smooth_noise(rng, n_frames, 3 * k, 0.85)                        # (n, 9)
    height = (0.5 + 0.12 * z[:, :k]) * size * np.array([1.0, 0.8, 0.75])   # (n, 3)
    width = (0.09 + 0.02 * z[:, k:2 * k]) * size
    sway = size / 2 + np.array([0.0, -0.1, 0.1]) * size + 0.04 * size * z[:, 2 * k:]
    py, px = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    base = 0.9 * size
    up = np.clip((base - py) / size, 0, None)[None, None]                 # height above the base (1, 1, s, s)
    rel = (base - py)[None, None] / height[..., None, None]               # 0 at the base, 1 at the tip
    # each tongue narrows towards its tip and leans with its sway
    cx = sway[..., None, None] + (sway[..., None, None] - size / 2) * rel * 0.8
    wide = width[..., None, None] * np.clip(1.15 - rel, 0.05, None)
    tongue = np.exp(-((px[None, None] - cx) / wide) ** 2) * np.clip(1 - rel, 0, 1) * (up > 0)
    heat = np.clip(tongue.sum(1), 0, 1.2) / 1.2                           # (n, s, s)
    # colour: black -> dark red -> orange -> yellow -> near white
    stops = np.array([[0, 0, 0], [0.5, 0.05, 0.0], [0.95, 0.4, 0.05], [1.0, 0.85, 0.3], [1.0, 1.0, 0.85]])
    pos = heat * (len(stops) - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, len(stops) - 2)
    frac = (pos - lo)[..., None]
    img = stops[lo] * (1 - frac) + stops[lo + 1] * frac
    return {"frames": (img * 255 + 0.5).astype(np.uint8), "truth": {}, "fps": 25.0}


def _fish(heading: np.ndarray, beat: np.ndarray, s: int) -> np.ndarray:
    """RGBA cut-outs (n, s, s, 4) float of a fish centred in an s x s box, facing `heading` (radians,
    image coordinates: x right, y down), its tail at angle `beat` to the body."""
    py, px = np.mgrid[0:s, 0:s].astype(np.float64) + 0.5 - s / 2
    c, sn = np.cos(heading)[:, None, None], np.sin(heading)[:, None, None]
    u = px[None] * c + py[None] * sn                                     # along the body (forward +)
    v = -px[None] * sn + py[None] * c                                    # across the body
    a, b = 0.24 * s, 0.12 * s
    body = _coverage((np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1) * b)
    # the tail: a triangle behind the body, turned by the tail beat about the body's rear end
    cb, sb = np.cos(beat)[:, None, None], np.sin(beat)[:, None, None]
    tu, tv = (u + 0.8 * a) * cb + v * sb, -(u + 0.8 * a) * sb + v * cb   # tail coordinates (behind: tu < 0)
    tail = _coverage(np.maximum(np.abs(tv) - 0.8 * (-tu) * 0.7, np.maximum(tu, -0.22 * s - tu)))
    eye = _coverage(np.hypot(u - 0.55 * a, v + 0.35 * b) - 0.06 * s)
    alpha = np.clip(body + tail, 0, 1)
    rgb = np.where((body >= tail)[..., None], [0.95, 0.5, 0.1], [0.85, 0.3, 0.05]) * alpha[..., None]
    rgb = rgb * (1 - eye[..., None])                                     # a dark eye shows where it faces
    return np.concatenate([rgb, alpha[..., None]], axis=-1)


def sprite(n_frames: int = 400, size: int = 96, seed: int = 0, speed: float | None = None) -> dict:
    """A fish swimming over a static background -> frames, plus truth: positions (n, 2) (x, y) in pixels,
    sprite (n, s, s, 4) uint8 RGBA cut-outs centred on the fish, background (size, size, 3) uint8.

    The fish turns smoothly (AR(1) turn rate) and away from the walls, so over a few hundred frames it
    heads in every direction and turns both ways: what steering it along a path needs."""
    rng = np.random.default_rng(seed)
    speed = 1.5 * size / 96 if speed is None else speed                  # pixels per frame
    s = max(9, int(round(0.22 * size)) | 1)                              # odd sprite box
    turn = 0.05 * _smooth_noise(rng, n_frames, 1, 0.9)[:, 0]
    pos = np.empty((n_frames, 2))
    heading = np.empty(n_frames)
    pos[0], heading[0] = (size / 2, size / 2), rng.uniform(-np.pi, np.pi)
    margin = 0.3 * size
    for t in range(1, n_frames):
        h = heading[t - 1] + turn[t]
        x, y = pos[t - 1]
        if min(x, y, size - x, size - y) < margin:                       # near a wall: turn towards the centre
            delta = np.angle(np.exp(1j * (np.arctan2(size / 2 - y, size / 2 - x) - h)))   # in (-pi, pi]
            h += np.clip(delta, -0.2, 0.2)
        heading[t] = h
        pos[t] = pos[t - 1] + speed * np.array([np.cos(h), np.sin(h)])
    beat = 0.45 * np.sin(2 * np.pi * np.arange(n_frames) / 9.0)
    cut = _fish(heading, beat, s)                                        # (n, s, s, 4)
    # background: sand gradient with a few fixed pebbles
    py, px = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    depth = (py / size)[..., None]                                       # (size, size, 1): 0 at the top
    bg = np.array([0.55, 0.75, 0.85]) * (1 - 0.4 * depth) + np.array([0.3, 0.2, 0.05]) * depth
    for cx, cy, r in rng.uniform([0, 0, 2], [size, size, 0.05 * size + 2], (8, 3)):
        pebble = _coverage(np.hypot(px - cx, py - cy) - r)[..., None]
        bg = bg * (1 - 0.6 * pebble) + 0.6 * pebble * np.array([0.45, 0.4, 0.35])
    frames = np.repeat(bg[None], n_frames, axis=0)
    for t in range(n_frames):
        composite(frames[t], cut[t], pos[t])
    truth = {"positions": pos, "heading": heading, "sprite": (cut * 255 + 0.5).astype(np.uint8),
             "background": (bg * 255 + 0.5).astype(np.uint8)}
    return {"frames": (frames * 255 + 0.5).astype(np.uint8), "truth": truth, "fps": 25.0}


def composite(canvas: np.ndarray, cut: np.ndarray, centre) -> np.ndarray:
    """Paste a premultiplied RGBA cut-out (s, s, 4), float in [0, 1] or uint8, onto canvas (H, W, 3) float
    in place, centred at (x, y) rounded to whole pixels; parts outside the canvas are dropped."""
    if cut.dtype == np.uint8:
        cut = cut.astype(np.float64) / 255
    s, (h, w) = cut.shape[0], canvas.shape[:2]
    x0, y0 = int(round(centre[0] - s / 2)), int(round(centre[1] - s / 2))
    ys, xs = slice(max(0, y0), min(h, y0 + s)), slice(max(0, x0), min(w, x0 + s))
    if ys.start >= ys.stop or xs.start >= xs.stop:
        return canvas
    part = cut[ys.start - y0: ys.stop - y0, xs.start - x0: xs.stop - x0]
    canvas[ys, xs] = canvas[ys, xs] * (1 - part[..., 3:]) + part[..., :3]
    return canvas
