"""How good a video texture is, measured on a seeded walk (scripts/evaluate.py ckpt=... and at fit time).

    jump_smoothness  mean distance D(i, j) across the walk's jumps / mean distance between consecutive
                     frames of the clip: <= 1 means the jumps are no more visible than the video's own motion
    jumps_per_100    jumps per 100 frames played
    longest_run      the longest stretch played without a jump, in frames
    tail_share       share of the frames shown that lie in the last 5% of the clip (a dead end traps there)
    reversals        generated pendulum: jumps that reverse the direction of motion (angular velocity of
                     the frame shown and of the frame that would have followed have opposite signs, both
                     above 10% of the peak, i.e. away from the turning points where it reverses by itself)
    loop_*           the video loop: length, jumps, cost per frame, smoothness of its jumps
    range_*          control (a): frames to reach the target range, share of frames in it afterwards
    steer_*          control (b), sprite clips: frames to reach each waypoint, all reached or not

With `ablations`, the same walk is repeated without the dynamics filter (nofilter/...) and without the
future costs (nofuture/...), recomputed from the checkpoint's frames.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqgen.core.errors import ConfigError
from seqgen.core.schema import key
from seqgen.families.video_texture import analysis as A
from seqgen.families.video_texture.control import check_waypoints
from seqgen.families.video_texture.playback import jumps, matrix_figure, walk

REVERSAL_FRACTION = 0.1   # |angular velocity| above this fraction of its peak: not a turning point


@dataclass
class EvalArgs:
    frames: int = key(10000, ge=2)  # frames played for each walk
    ablations: bool = True          # also without the dynamics filter and without the future costs
    figure: str | None = None       # also write the transition-matrix figure (PNG) here (a folder: matrix.png in it)
    target: list | None = None      # control (a)'s frame range [first, last]; default the middle third
    target_penalty: float = key(1.0, gt=0)   # cost of a frame outside it (x the mean transition cost)
    waypoints: list | None = None   # control (b)'s path (sprite clips); default a square inside the canvas
    radius: float = key(4.0, gt=0)  # a waypoint is reached within this many pixels


def quality(seq: np.ndarray, d: np.ndarray) -> dict:
    """The walk-level figures of the module docstring (reversals aside)."""
    n = len(d)
    js = jumps(seq)
    consecutive = float(np.diag(d, 1).mean())
    runs = np.diff(np.concatenate([[-1], js, [len(seq) - 1]]))
    tail = n - max(1, int(round(0.05 * n)))
    out = {"jumps_per_100": 100.0 * len(js) / len(seq), "longest_run": int(runs.max()),
           "tail_share": float((seq >= tail).mean())}
    if len(js):
        out["jump_smoothness"] = float(d[seq[js], seq[js + 1]].mean()) / consecutive
    return out


def reversals(seq: np.ndarray, velocity: np.ndarray, fraction: float = REVERSAL_FRACTION) -> int:
    """Jumps i -> j after which the motion runs the other way than it would have (at frame i + 1)."""
    js = jumps(seq)
    nat = seq[js] + 1
    ok = nat < len(velocity)
    va, vb = velocity[nat[ok]], velocity[seq[js + 1][ok]]
    peak = np.abs(velocity).max()
    return int(((va * vb < 0) & (np.minimum(np.abs(va), np.abs(vb)) > fraction * peak)).sum())


def walk_figures(model, seq: np.ndarray, d: np.ndarray) -> dict:
    out = quality(seq, d)
    if "velocity" in model.truth:
        out["reversals"] = reversals(seq, model.truth["velocity"])
    return out


def ablation_costs(d: np.ndarray, cfg) -> dict:
    """Normalised costs without the filter and with it (the latter equals the checkpoint's)."""
    return {"nofilter": A.normalise(A.dynamics_filter(d, 0))[0],
            "filter": A.normalise(A.dynamics_filter(d, cfg.filter_n))[0]}


def matrix_panels(model, d: np.ndarray) -> list:
    """The lecture's figure: D, then P without the filter, with it, and with it and the future costs."""
    costs = ablation_costs(d, model.config)
    n = model.n
    panels = [("D: frame distances", d, "dist")]
    for caption, c, future in (("P, no dynamics filter", costs["nofilter"], False),
                               (f"P, filter N={model.config.filter_n}", costs["filter"], False),
                               ("P, filter + future costs", costs["filter"], True)):
        csr, _, _ = model.chain_of(c, future=future)
        panels.append((caption, A.csr_dense(csr, n), "prob"))
    return panels


def write_matrix_figure(model, d: np.ndarray, path) -> None:
    matrix_figure(matrix_panels(model, d), path, f"{model.clip_name}: {model.n} frames, sigma={model.config.sigma}")


def loop_figures(model, d: np.ndarray) -> dict:
    if not model.loop:
        return {}
    frames = model.loop["frames"]
    seq = np.concatenate([frames, frames[:1]])   # one period and the wrap-around jump
    js = jumps(seq)
    out = {"loop_length": int(model.loop["length"]), "loop_jumps": len(js),
           "loop_cost_per_frame": model.loop["cost"] / model.loop["length"]}
    if len(js):
        out["loop_smoothness"] = float(d[seq[js], seq[js + 1]].mean()) / float(np.diag(d, 1).mean())
    return out


def range_figures(model, target, frames: int, seed: int, penalty: float = 1.0) -> dict:
    first, last = [int(v) for v in target] if target else (model.n // 3, 2 * model.n // 3)
    start = 0 if first > 0 else model.n - 1                 # start outside the range
    seq = model.play_range(first, last, frames, seed, start, penalty)
    inside = (seq >= first) & (seq <= last)
    if not inside.any():
        return {"range_first": first, "range_last": last, "range_reached": False}
    t = int(np.argmax(inside))
    return {"range_first": first, "range_last": last, "range_reached": True, "range_frames_to_reach": t,
            "range_share_after": float(inside[t:].mean())}


def default_waypoints(model) -> list:
    h, w = model.frames.shape[1:3]
    return [[0.25 * w, 0.25 * h], [0.75 * w, 0.25 * h], [0.75 * w, 0.75 * h], [0.25 * w, 0.75 * h]]


def steer_figures(model, waypoints, radius: float, seed: int, d: np.ndarray, per_waypoint: int = 400) -> dict:
    if not model.steering:
        return {}
    pts = waypoints or default_waypoints(model)
    if waypoints:
        check_waypoints(waypoints, model.frames.shape[2], model.frames.shape[1])
    r = model.play_steered(pts, per_waypoint * len(pts), seed, radius=radius)
    reached = r["reached"]
    steps = [b - a for a, b in zip([0] + reached[:-1], reached)] if None not in reached else []
    seq = r["indices"][: (reached[-1] or len(r["indices"])) + 1]
    js = jumps(seq)
    out = {"steer_waypoints": len(pts), "steer_reached": sum(x is not None for x in reached), "steer_radius": radius}
    if steps:
        out["steer_max_frames_per_waypoint"] = int(max(steps))
        out["steer_frames_total"] = int(reached[-1])
    if len(js):
        out["steer_jump_smoothness"] = float(d[seq[js], seq[js + 1]].mean()) / float(np.diag(d, 1).mean())
    return out


def figures(model, frames: int, seed: int, ablations: bool = True, target=None, waypoints=None,
            radius: float = 4.0, d: np.ndarray | None = None, target_penalty: float = 1.0) -> dict:
    """Every figure of the module docstring for one model, as a flat dict (None-free)."""
    d = A.distances(model.analysis_frames(), model.config.dtype) if d is None else d
    out = {"clip": model.clip_name, "n_frames": model.n, "frames_played": frames,
           **walk_figures(model, model.play(frames, seed), d)}
    if ablations:
        costs = ablation_costs(d, model.config)
        for name, c, future in (("nofilter", costs["nofilter"], model.config.future),
                                ("nofuture", costs["filter"], False)):
            csr, _, _ = model.chain_of(c, future=future)
            out.update({f"{name}/{k}": v for k, v in walk_figures(model, walk(csr, frames, seed), d).items()})
    out.update(loop_figures(model, d))
    out.update(range_figures(model, target, frames, seed, target_penalty))
    out.update(steer_figures(model, waypoints, radius, seed, d))
    return {k: v for k, v in out.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}


def evaluate(model, tokenizer, state, ec, args: EvalArgs, device) -> dict:
    """evaluate.py for a video texture: the figures above from the checkpoint alone (ec.seed seeds the walks)."""
    d = A.distances(model.analysis_frames(), model.config.dtype)
    out = {"model": state["model_name"], **figures(model, args.frames, ec.seed, args.ablations, args.target,
                                                     args.waypoints, args.radius, d, args.target_penalty)}
    if args.figure:   # a folder (existing, or written with a trailing /) gets matrix.png inside it
        path = Path(args.figure)
        if path.is_dir() or str(args.figure).endswith(("/", os.sep)):
            path = path / "matrix.png"
        elif path.suffix.lower() != ".png":
            raise ConfigError(f"figure={args.figure}: the figure is a PNG; give a .png path or a folder")
        write_matrix_figure(model, d, path)
        out["figure"] = str(path)
    return out
