"""sample.py for a video texture: play the chain from the checkpoint alone and write the result.

    python scripts/sample.py ckpt=outputs/video_texture_on_pendulum/checkpoints/last.pt frames=1000 out=x.gif

Modes (one at a time): a seeded random walk (default), the video loop (loop=true: one period, which
the GIF repeats forever), a frame range to move to and stay in (target=[first,last]), or, for sprite
clips, a path of waypoints (waypoints=[[x,y],...]). Beside the video a JSON file lists the frame
indices played. sample.py's text keys (prompt, temperature, top_k, ...) do not apply and are ignored;
seed seeds the walk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from seqgen.core.errors import ConfigError
from seqgen.core.rundir import samples_path
from seqgen.core.schema import key
from seqgen.families.video_texture import control, loops
from seqgen.families.video_texture.playback import jumps, output_format, render, write


@dataclass
class SampleArgs:
    frames: int = key(300, ge=1)    # frames to play (loop: one period instead; waypoints: at most, ends at the last)
    start: int = key(0, ge=0)       # frame the walk starts from
    crossfade: int = key(0, ge=0)   # frames of crossfade after each jump (0: a cut)
    format: str | None = None       # gif | mp4 | png (a strip); default: out's suffix, else gif
    fps: float | None = key(None, gt=0, le=1000)   # default: the clip's frame rate
    loop: bool = False              # play the video loop found at fit time
    loop_length: int | None = key(None, ge=2)   # with loop=true: the best loop of exactly this length instead
    target: list | None = None      # [first, last]: move to this frame range and stay in it
    target_penalty: float = key(1.0, gt=0)   # cost of each frame shown outside it, x the mean transition cost:
                                    # smaller values wait longer for a smooth way in, and may stray out more often
    waypoints: list | None = None   # sprite clips: [[x, y], ...] in pixels, visited in order
    radius: float = key(4.0, gt=0)  # a waypoint counts as reached within this many pixels
    strip_frames: int = key(12, ge=1)   # frames in a PNG strip


def play(model, args: SampleArgs, seed: int) -> dict:
    """The frame indices of the requested mode -> {"indices", "positions" (sprites), "mode", ...}."""
    modes = [m for m, on in (("loop", args.loop), ("target", args.target is not None),
                             ("waypoints", args.waypoints is not None)) if on]
    if len(modes) > 1:
        raise ConfigError(f"{' and '.join(modes)} were both given: pick one playback mode")
    if args.frames < 1:
        raise ConfigError(f"frames={args.frames}: expected >= 1")
    mode = modes[0] if modes else "walk"
    out = {"mode": mode}
    if mode == "loop":
        if args.loop_length is not None:
            cfg = model.config
            lp = loops.find_loop(model.cost.astype(np.float64), max(cfg.loop_max_len, args.loop_length),
                                 cfg.loop_candidates, 1, args.loop_length)
        elif model.loop:
            lp = model.loop
        else:
            why = ("it was fitted with model.loop_max_len=0" if model.config.loop_max_len == 0 else
                   f"its {model.n}-frame clip was too short for one")
            raise ConfigError(f"this checkpoint has no video loop ({why}): pass loop_length=N for a loop of N frames, "
                              f"or refit")
        out.update(indices=np.asarray(lp["frames"]), loop_transitions=[list(t) for t in lp["transitions"]],
                   loop_cost=lp["cost"])
    elif mode == "target":
        if len(args.target) != 2:
            raise ConfigError(f"target={args.target}: expected [first, last]")
        out["indices"] = model.play_range(int(args.target[0]), int(args.target[1]), args.frames, seed, args.start,
                                          args.target_penalty)
    elif mode == "waypoints":
        control.check_waypoints(args.waypoints, model.frames.shape[2], model.frames.shape[1])
        r = model.play_steered(args.waypoints, args.frames, seed, args.start, args.radius)
        out.update(indices=r["indices"], positions=r["positions"], reached=r["reached"])
    else:
        out["indices"] = model.play(args.frames, seed, args.start)
    return out


def video_of(model, played: dict, args: SampleArgs) -> np.ndarray:
    """The frames (T, H, W, C) uint8 of a played sequence: a sprite clip's sprite moved by its velocities
    over the static background, or the clip's frames (with crossfades)."""
    seq = played["indices"]
    if "sprite" not in model.truth:
        return render(model.frames, seq, args.crossfade)
    if args.crossfade:
        raise ConfigError("crossfade does not apply to sprite clips (the sprite moves instead of the frame)")
    positions = played.get("positions")
    if positions is None:
        positions = control.free_path(seq, model.velocities(), model.truth["positions"][seq[0]],
                                      model.frames.shape[1:3])
    return control.render_sprite(model.truth["background"], model.truth["sprite"], seq, positions, args.waypoints)


def sample(model, tokenizer, state, sc, args: SampleArgs, device) -> dict:
    fmt = output_format(args.format, sc.out)
    out = samples_path(sc.ckpt, sc.out, sc.seed, f".{fmt}")
    played = play(model, args, sc.seed)
    seq = played["indices"]
    write(video_of(model, played, args), out, float(args.fps or model.fps), fmt, args.strip_frames)
    # a loop plays on from its last frame to its first: that wrap is one of its jumps (as train.py and
    # evaluate.py's loop_jumps count them), though the file holds one period
    played_seq = np.concatenate([seq, seq[:1]]) if played["mode"] == "loop" else seq
    info = {"mode": played["mode"], "frames": len(seq), "jumps": int(len(jumps(played_seq))), "seed": sc.seed,
            "indices": seq.tolist(),
            **{k: v for k, v in played.items() if k in ("reached", "loop_transitions", "loop_cost")}}
    if "positions" in played:
        info["positions"] = np.round(played["positions"], 2).tolist()
    side = out.with_suffix(".json")
    side.write_text(json.dumps(info))
    extra = f", waypoints reached at frames {played['reached']}" if "reached" in played else ""
    print(f"[seqgen] {played['mode']}: {len(seq)} frames, {info['jumps']} jump(s){extra} -> {out} (indices: {side})",
          flush=True)
    return {"out": out, "indices": seq, "info": side, **{k: v for k, v in played.items() if k != "indices"}}
