"""The video texture model: a clip's frames and the Markov chain fitted over them.

`VideoTexture.fit(clip)` runs the analysis (analysis.py), the best video loop (loops.py) and, for a
sprite clip, the steering chains (control.py); `state()` is a plain dict of tensors and primitives that
holds the frames too, so a checkpoint alone plays the texture. Nothing here is learned by gradients:
"fitting" is the analysis, deterministic given the clip and the Config.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from seqgen.core.errors import ConfigError, DataError
from seqgen.core.schema import build
from seqgen.families.video_texture import analysis as A
from seqgen.families.video_texture import control, loops
from seqgen.families.video_texture.playback import walk


def _np(x):
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _t(x):
    return torch.from_numpy(np.ascontiguousarray(x))


class VideoTexture:
    @dataclass
    class Config:
        filter_n: int = 2             # N: the dynamics filter sums 2N frame pairs, binomial weights; 0: D(i+1, j)
        sigma: float = 0.05           # P ~ exp(-cost / sigma), sigma in units of the mean non-zero cost
        p: float = 1.0                # cost^p in the future costs: p > 1 prefers several small jumps to a big one
        future: bool = True           # dead-end avoidance: F = c^p + alpha min_k F(j -> k)
        alpha: float = 0.995          # discount of the future costs (how far ahead a dead end is felt)
        local_max: bool = True        # prune to transitions that are local maxima of their row of P
        threshold: float = 0.01       # and at least this fraction of the row's best probability
        dtype: str = "float32"        # precision of the Gram matrix (float64: 2x slower, ~1e-7 closer)
        loop_max_len: int = 100       # video loop: at most this many frames (0: no loop)
        loop_min_len: int = 10        # and at least this many
        loop_candidates: int = 40     # primitive backward transitions the loop DP combines
        steer_directions: int = 8     # sprite clips: chains precomputed for this many directions
        steer_angle_weight: float = 0.5   # beta: cost of moving at right angles (x 0.5) to the wanted direction
        steer_cost_weight: float = 1.0    # weight of the transition cost c beside it
        steer_alpha: float = 0.95     # discount of the steering future costs
        max_frames: int = 5000        # refuse longer clips: the analysis holds ~10 (n, n) float64 (5000: 1.9 GiB)
        n_frames: int = 0             # derived from the clip
        height: int = 0
        width: int = 0
        channels: int = 0

    def __init__(self, config: "VideoTexture.Config"):
        self.config = config
        _validate(config)
        self.frames = None            # (n, H, W, C) uint8
        self.fps = 25.0
        self.clip_name = ""
        self.truth: dict = {}         # ground truth of generated clips (numpy arrays)
        self.cost = None              # (n, n) float32: c, the filtered cost / its mean (inf: not assessable)
        self.scale = 1.0              # that mean, in L2 units of [0, 1] pixels
        self.csr: dict = {}           # the chain: indptr (n+1,), indices, probs
        self.loop: dict = {}          # frames (l,), transitions (m, 2), cost, length, table (L+1,)
        self.steering: dict = {}      # sprite clips: directions (K, 2), chains [csr] * K
        self.info: dict = {}          # timings and solver figures of the fit
        self.d = None                 # (n, n) float64 frame distances of the last fit (not saved: one matmul away)

    # ---- fitting -------------------------------------------------------------------------------------
    def analysis_frames(self) -> np.ndarray:
        """What distances are measured on: a sprite clip's cut-outs (position-free), else the frames."""
        return self.truth["sprite"] if "sprite" in self.truth else self.frames

    def fit(self, clip) -> "VideoTexture":
        cfg = self.config
        self.frames, self.fps, self.clip_name = clip.frames, float(clip.fps), clip.name
        self.truth = {k: np.asarray(v) for k, v in clip.truth.items()}
        n = len(self.frames)
        if n < 2 * cfg.filter_n + 2:
            raise ConfigError(f"the clip has {n} frames; model.filter_n={cfg.filter_n} needs at least "
                              f"{2 * cfg.filter_n + 2} (lower model.filter_n or use a longer clip)")
        gib = 10 * 8 * n * n / 2 ** 30   # the analysis holds about ten (n, n) float64 matrices at its peak
        if n > cfg.max_frames:
            raise DataError(f"clip '{clip.name}' has {n} frames, above model.max_frames={cfg.max_frames}: its "
                            f"analysis would need about {gib:.1f} GiB. data.max_frames / data.stride keep fewer; "
                            f"raise model.max_frames if the memory is there")
        cfg.n_frames, cfg.height, cfg.width, cfg.channels = n, *self.frames.shape[1:]
        if n > 4000:
            print(f"[seqgen] {n} frames: the analysis needs about {gib:.1f} GiB; data.max_frames / data.stride make "
                  f"it smaller", flush=True)
        t = {}
        t0 = time.perf_counter()
        self.d = d = A.distances(self.analysis_frames(), cfg.dtype)
        t["distances_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            c, self.scale = A.normalise(A.dynamics_filter(d, cfg.filter_n))
        except ValueError:   # every distance is zero
            raise DataError(f"clip '{clip.name}': its {n} frames are all the same picture (a still video); a video "
                            f"texture needs motion to play") from None
        t["filter_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.csr, _, solver = self.chain_of(c)
        t["chain_s"] = time.perf_counter() - t0
        self.cost = c.astype(np.float32)
        if cfg.loop_max_len > 0:
            t0 = time.perf_counter()
            try:
                self.loop = loops.find_loop(c, min(cfg.loop_max_len, n), cfg.loop_candidates, cfg.loop_min_len)
            except ConfigError as e:   # a short clip, not a bad key: fit without the loop, and say so
                print(f"[seqgen] clip '{clip.name}' ({n} frames) is too short for a video loop ({e}); fitted "
                      f"without one", flush=True)
            t["loop_s"] = time.perf_counter() - t0
        if "positions" in self.truth:
            t0 = time.perf_counter()
            self.steering = dict(zip(("directions", "chains"), control.steering_chains(
                c, self.velocities(), cfg.steer_directions, cfg.steer_angle_weight, cfg.steer_cost_weight,
                cfg.sigma, cfg.p, cfg.steer_alpha, cfg.local_max, cfg.threshold)))
            t["steer_s"] = time.perf_counter() - t0
        self.info = {**t, "analysis_s": t["distances_s"] + t["filter_s"] + t["chain_s"], "cost_scale": self.scale,
                     "transitions_per_frame": len(self.csr["indices"]) / n,
                     **{f"future_{k}": v for k, v in solver.items()}}
        return self

    def chain_of(self, c: np.ndarray, extra=None, future: bool | None = None):
        """The chain of costs c under this Config -> (csr, exponentiated costs, solver info)."""
        cfg = self.config
        return A.chain(c, cfg.sigma, cfg.p, cfg.future if future is None else future, cfg.alpha, cfg.local_max,
                       cfg.threshold, extra=extra)

    def velocities(self) -> np.ndarray:
        return control.sprite_velocities(self.truth["positions"])

    @property
    def n(self) -> int:
        return len(self.frames)

    # ---- playback ------------------------------------------------------------------------------------
    def play(self, frames: int, seed: int, start: int = 0) -> np.ndarray:
        return walk(self.csr, frames, seed, start)

    def play_range(self, first: int, last: int, frames: int, seed: int, start: int = 0,
                   penalty: float = 1.0) -> np.ndarray:
        """A walk that moves to frames [first, last] and stays there (control (a))."""
        cfg = self.config
        csr = control.range_chain(self.cost.astype(np.float64), first, last, penalty, cfg.sigma, cfg.p, cfg.alpha,
                                  cfg.local_max, cfg.threshold)
        return walk(csr, frames, seed, start)

    def play_steered(self, waypoints, frames: int, seed: int, start: int = 0, radius: float = 4.0,
                     start_pos=None) -> dict:
        """Steer a sprite clip's sprite through waypoints (control (b)) -> indices, positions, reached."""
        if not self.steering:
            raise ConfigError(f"waypoints need a sprite clip with known positions (data=sprite); this checkpoint "
                              f"holds '{self.clip_name}'")
        start_pos = self.truth["positions"][start] if start_pos is None else start_pos
        return control.steer(self.steering["chains"], self.steering["directions"], self.velocities(), waypoints,
                             start, start_pos, frames, seed, radius)

    # ---- persistence ---------------------------------------------------------------------------------
    def state(self) -> dict:
        """Tensors and primitives only (torch.load(weights_only=True))."""
        out = {"frames": _t(self.frames), "fps": self.fps, "clip": self.clip_name, "scale": self.scale,
               "cost": _t(self.cost), "chain": {k: _t(v) for k, v in self.csr.items()},
               "truth": {k: _t(v) for k, v in self.truth.items()}, "info": dict(self.info)}
        if self.loop:
            out["loop"] = {"frames": _t(self.loop["frames"]), "transitions": _t(np.asarray(self.loop["transitions"])),
                           "cost": self.loop["cost"], "length": self.loop["length"], "table": _t(self.loop["table"])}
        if self.steering:
            out["steering"] = {"directions": _t(self.steering["directions"]),
                               "chains": [{k: _t(v) for k, v in ch.items()} for ch in self.steering["chains"]]}
        return out

    @classmethod
    def from_state(cls, config: dict, state: dict) -> "VideoTexture":
        model = cls(build(cls.Config, config, "model"))
        model.frames, model.fps, model.clip_name = _np(state["frames"]), state["fps"], state["clip"]
        model.scale, model.cost = state["scale"], _np(state["cost"])
        model.csr = {k: _np(v) for k, v in state["chain"].items()}
        model.truth = {k: _np(v) for k, v in state["truth"].items()}
        model.info = dict(state.get("info", {}))
        if "loop" in state:
            lp = state["loop"]
            model.loop = {"frames": _np(lp["frames"]), "cost": lp["cost"], "length": lp["length"],
                          "transitions": [tuple(map(int, t)) for t in _np(lp["transitions"])],
                          "table": _np(lp["table"])}
        if "steering" in state:
            st = state["steering"]
            model.steering = {"directions": _np(st["directions"]),
                              "chains": [{k: _np(v) for k, v in ch.items()} for ch in st["chains"]]}
        return model


def _validate(cfg: "VideoTexture.Config") -> None:
    checks = [("filter_n", cfg.filter_n >= 0, ">= 0"), ("sigma", cfg.sigma > 0, "> 0"), ("p", cfg.p > 0, "> 0"),
              ("alpha", 0 <= cfg.alpha < 1, "in [0, 1)"), ("steer_alpha", 0 <= cfg.steer_alpha < 1, "in [0, 1)"),
              ("threshold", 0 < cfg.threshold <= 1, "in (0, 1]"), ("dtype", cfg.dtype in ("float32", "float64"),
                                                                   "float32 or float64"),
              ("loop_max_len", cfg.loop_max_len >= 0, ">= 0"), ("loop_min_len", cfg.loop_min_len >= 1, ">= 1"),
              ("loop_candidates", cfg.loop_candidates >= 1, ">= 1"),
              ("steer_directions", cfg.steer_directions >= 2, ">= 2"), ("max_frames", cfg.max_frames >= 2, ">= 2")]
    for key, ok, want in checks:
        if not ok:
            raise ConfigError(f"model.{key}={getattr(cfg, key)!r}: expected {want}")
