"""Tab 7, video textures: a generated clip (pendulum, flame) or an uploaded GIF / MP4 becomes a Markov
chain over its frames (the video_texture family's analysis), played as an endless GIF; sigma and a
frame range are the controls, and the transition matrices are drawn beside it."""

from __future__ import annotations

import time

from seqgen import families
from seqgen.app.demo.common import Progress, fresh_output_folder, guarded, upload_path
from seqgen.core.errors import ConfigError, DataError
from seqgen.data.video.clips import ClipConfig, load_clip, read_clip
from seqgen.families.video_texture.evaluate import write_matrix_figure
from seqgen.families.video_texture.playback import jumps, render, write_gif

CLIPS = ("pendulum", "flame", "uploaded clip")
FAMILY = "video_texture"
MAX_PLAY = 1000


def load(ctx, clip: str, upload, size: int = 64):
    """The Clip: a generated one (300 frames) or the upload, its longer side scaled to `size` and cut
    to the frame limit (more frames are refused, not silently dropped)."""
    if clip == "uploaded clip":
        path = upload_path(upload, "the uploaded clip", ctx.limits)
        if path is None:
            raise DataError("clip 'uploaded clip': upload a GIF, APNG, WebP or MP4 file first")
        limit = ctx.limits.max_frames
        got = read_clip(path, ClipConfig(name="video_file", size=int(size), max_frames=limit + 1),
                        key="the uploaded clip", name=path.stem)
        if len(got) > limit:
            raise DataError(f"{path.name} has more than {limit} frames; the demo takes clips up to {limit} frames "
                            f"(cut it, or raise Limits.max_frames)")
        return got
    if clip not in CLIPS:
        raise ConfigError(f"clip={clip!r}: expected one of {list(CLIPS)}")
    return load_clip(ClipConfig(name=clip, n_frames=300, frame_size=int(size)))


def video_texture(ctx, clip: str, upload, sigma: float, first, last, frames: int, seed: int, progress=None):
    """(the played GIF's path, the transition-matrix picture's path, status)."""
    frames = int(frames)
    if not 2 <= frames <= MAX_PLAY:
        raise ConfigError(f"frames to play={frames}: expected 2-{MAX_PLAY}")
    if not float(sigma) > 0:
        raise ConfigError(f"sigma={sigma}: expected > 0 (in units of the mean transition cost)")
    bar = Progress(progress, "video texture")
    bar(0.05, "reading the clip")
    c = load(ctx, clip, upload)
    fam = families.get(FAMILY)
    bar(0.2, f"analysing {len(c)} frames")
    t0 = time.perf_counter()
    model = fam.Model(fam.Model.Config(sigma=float(sigma), loop_max_len=0)).fit(c)
    t_fit = time.perf_counter() - t0
    n = model.n
    ranged = first not in (None, "") and last not in (None, "") and not (int(first) == 0 and int(last) >= n - 1)
    if ranged:
        a, b = int(first), int(last)
        if not 0 <= a <= b < n:
            raise ConfigError(f"frame range [{a}, {b}]: expected 0 <= first <= last <= {n - 1}")
        seq = model.play_range(a, b, frames, int(seed))
    else:
        seq = model.play(frames, int(seed))
    bar(0.6, "writing the texture")
    out = fresh_output_folder()
    gif = out / "texture.gif"
    write_gif(render(model.frames, seq), gif, model.fps)
    bar(0.8, "drawing the transition matrices")
    figure = out / "matrices.png"
    write_matrix_figure(model, model.d, figure)
    seconds = time.perf_counter() - t0
    where = f", frames {int(first)}-{int(last)}" if ranged else ""
    status = (f"{c.name}: {n} frames {model.frames.shape[2]}x{model.frames.shape[1]}, analysis {t_fit:.2f} s, "
              f"all {seconds:.2f} s; played {frames} frames{where} with {len(jumps(seq))} jumps "
              f"(sigma {float(sigma)}, seed {int(seed)})")
    return str(gif), str(figure), status


def tab(ctx) -> None:
    import gradio as gr

    gr.Markdown("Schödl et al. (2000): a clip's frames are the states of a Markov chain. Similar frames make good "
                "jumps (P ∝ exp(−cost/σ), costs filtered to keep the motion's direction, future costs to avoid "
                "dead ends), so a random walk plays the clip forever. Small σ: only the best jumps; large σ: "
                "more, worse ones.")
    with gr.Row():
        with gr.Column():
            clip = gr.Radio(list(CLIPS), value="pendulum", label="clip")
            upload = gr.File(label="your clip (GIF / APNG / WebP / MP4)", type="filepath",
                             file_types=[".gif", ".png", ".webp", ".mp4", ".mov", ".avi", ".webm", ".mkv"])
            sigma = gr.Slider(0.005, 0.5, value=0.05, step=0.005, label="σ (× the mean transition cost)")
            with gr.Row():
                first = gr.Number(value=0, precision=0, label="frame range: first")
                last = gr.Number(value=299, precision=0, label="last (the whole clip: no control)")
            with gr.Row():
                frames = gr.Slider(20, MAX_PLAY, value=200, step=10, label="frames to play")
                seed = gr.Number(value=0, precision=0, label="seed")
            go = gr.Button("Play", variant="primary")
        with gr.Column():
            played = gr.Image(label="the texture, playing", type="filepath", elem_classes=["pixels"], height=300)
            status = gr.Markdown()
    matrices = gr.Image(label="D and the transition matrices", type="filepath")

    def run(cl, up, s, a, b, f, sd, progress=gr.Progress()):
        return video_texture(ctx, cl, up, s, a, b, f, sd, progress)

    go.click(guarded(run), [clip, upload, sigma, first, last, frames, seed], [played, matrices, status],
             api_name="video_texture")
