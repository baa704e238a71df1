"""Fitting a video texture: load the clip, analyse it, report its figures, save a self-contained checkpoint."""

from __future__ import annotations

import time
from dataclasses import replace

from seqgen.core.training import RunContext, save_fitted, stop_requests, stopped
from seqgen.data.video.clips import load_clip
from seqgen.families.video_texture.evaluate import figures, write_matrix_figure
from seqgen.families.video_texture.generate import SampleArgs, play, video_of
from seqgen.families.video_texture.model import VideoTexture
from seqgen.families.video_texture.playback import write


def fit(ctx: RunContext) -> dict:
    with stop_requests() as stop:   # SIGTERM / Ctrl-C: the stage running ends, the model is saved, exit 143 / 130
        return _fit(ctx, stop)


def _fit(ctx: RunContext, stop) -> dict:
    spec, st = ctx.spec, ctx.spec.settings

    def checkpoint_if_stopped(stage: str):
        if stop.signum:
            save_fitted(ctx, model, model.state(), {k: v for k, v in metrics.items() if isinstance(v, (int, float))})
            raise stopped(stop.signum, f"after {stage} (the analysis is complete and saved)",
                          "run the same command again to refit with the figures and samples")

    model = VideoTexture(replace(spec.model))
    clip = load_clip(spec.data, spec.data_root)
    h, w, ch = clip.frames.shape[1:]
    print(f"[seqgen] clip '{clip.name}': {len(clip)} frames of {w}x{h}x{ch} at {clip.fps:g} fps", flush=True)
    t0 = time.perf_counter()
    model.fit(clip)
    info = model.info
    print(f"[seqgen] analysis {info['analysis_s']:.2f} s (distances {info['distances_s']:.2f}, filter "
          f"{info['filter_s']:.2f}, future costs + P {info['chain_s']:.2f}); "
          f"{info['transitions_per_frame']:.2f} transitions per frame", flush=True)
    if model.loop:
        print(f"[seqgen] video loop: {model.loop['length']} frames, {len(model.loop['transitions'])} jump(s), "
              f"cost {model.loop['cost']:.3f}", flush=True)
    metrics = {"fit_seconds": time.perf_counter() - t0, **{k: v for k, v in info.items()}}
    d = model.d
    checkpoint_if_stopped("the analysis")
    if st.eval_frames:
        metrics.update(figures(model, st.eval_frames, spec.seed, d=d))
        print("[seqgen] " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in metrics.items() if k in _SHOWN), flush=True)
        checkpoint_if_stopped("the figures")
    samples = ctx.run_dir / "samples"
    if st.sample_frames:
        args = SampleArgs(frames=st.sample_frames)
        write(video_of(model, play(model, args, spec.seed), args), samples / "texture.gif", model.fps, "gif")
        checkpoint_if_stopped("the sample")
    if st.figure:
        write_matrix_figure(model, d, samples / "transition_matrix.png")
    if st.sample_frames or st.figure:
        print(f"[seqgen] samples:    {samples}", flush=True)
    ctx.tracker.log({k: v for k, v in metrics.items() if isinstance(v, (int, float))}, 0)
    result = save_fitted(ctx, model, model.state(), metrics)
    if stop.signum:   # a signal during the last stage (the figure): the run is whole, but say it was stopped
        raise stopped(stop.signum, "during the last stage (the run is complete and saved)",
                      "nothing is left to run")
    return result


_SHOWN = ("jump_smoothness", "jumps_per_100", "longest_run", "tail_share", "reversals", "nofilter/reversals",
          "nofuture/tail_share", "range_share_after", "steer_reached", "steer_max_frames_per_waypoint")
