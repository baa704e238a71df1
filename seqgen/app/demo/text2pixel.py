"""Tab 5, text -> 32x32 -> 128x128: a caption drawn as palette tokens by a text2pixel checkpoint (the
picture and the lecture's digit view), then 4x upsampled by an upsampler checkpoint (the pipeline of
seqgen/app/pipeline.py, both models loaded through seqgen's one loading function and cached)."""

from __future__ import annotations

import time

import numpy as np

from seqgen.app.demo.common import enlarge, expect_family, find_checkpoints, guarded, load_cached
from seqgen.app.pipeline import check_second_stage
from seqgen.app.sample import SampleConfig
from seqgen.core.errors import ConfigError
from seqgen.data.images.codec import PixelCodec, digit_view
from seqgen.data.images.prepare import unknown_words
from seqgen.families.text2pixel.generate import draw

FAMILY, SECOND = "text2pixel", "upsampler"
MAKE = "python scripts/train.py experiment=text2pixel_shapes"
MAKE_UP = "python scripts/train.py experiment=upsampler_shapes"
NO_MODEL = (f"No text2pixel checkpoint found: train one with `{MAKE}` (about an hour on 2 CPU cores) and an "
            f"upsampler with `{MAKE_UP}`, then "
            "reload the page (or type a checkpoint path, pretrained folder or hf:user/repo).")


def caption_to_pixels(ctx, ckpt: str, up_ckpt: str | None, caption: str, guidance, seed: int,
                      temperature: float = 1.0, top_k=None):
    """(32x32 picture, digit view, 128x128 picture or None, status) for a caption."""
    if not ckpt:
        raise ConfigError(NO_MODEL)
    if not caption or not caption.strip():
        raise ConfigError('the caption is empty: describe a picture, e.g. "a large red star on a white background"')
    model, tok, state, fam = load_cached(ckpt, ctx.device)
    expect_family((model, tok, state, fam), FAMILY, ckpt, MAKE)
    g = None if guidance in (None, "", 0) else float(guidance)   # 0 / empty: the plain conditional model
    top_k = int(top_k) if top_k else None
    codec = PixelCodec.from_json(state["codec"])
    t0 = time.perf_counter()
    lo = draw(model, tok, [caption], model.config.caption_len, ctx.device, g, float(temperature), top_k,
              seed=int(seed))                                                        # (1, 32, 32)
    t_draw = time.perf_counter() - t0
    pic = enlarge(codec.dequantize(lo[0]), 4)
    unknown = unknown_words(tok, caption)
    status = f"drawn in {t_draw:.2f} s (guidance {g}, seed {int(seed)})"
    if unknown:
        status += f"; not in the caption vocabulary, read as <unk>: {', '.join(unknown)}"
    hi_pic = None
    if up_ckpt:
        m2, _, s2, _ = load_cached(up_ckpt, ctx.device)
        second = check_second_stage(up_ckpt, m2, s2, fam, state)
        sc = SampleConfig(seed=int(seed), temperature=float(temperature), top_k=top_k)
        t0 = time.perf_counter()
        hi = second.fam.transform_images(second.model, second.state, lo, sc, second.fam.SampleArgs(), ctx.device)
        status += f"; upsampled {hi.shape[-1] // lo.shape[-1]}x in {time.perf_counter() - t0:.2f} s"
        hi_pic = codec.dequantize(hi[0]).astype(np.uint8)
    else:
        status += f"; no upsampler chosen (`{MAKE_UP}` makes one)"
    return pic, digit_view(lo[0]), hi_pic, status


def tab(ctx) -> None:
    import gradio as gr

    found, ups = find_checkpoints(ctx.outputs, FAMILY), find_checkpoints(ctx.outputs, SECOND)
    gr.Markdown("An image is a sequence of colour indices: a transformer reads the caption and draws a 32×32 "
                "palette picture token by token (classifier-free guidance pushes it towards the caption); a "
                "second model draws each pixel's 4×4 block to make it 128×128." + ("" if found else f"\n\n{NO_MODEL}"))
    with gr.Row():
        ckpt = gr.Dropdown(found, value=found[0] if found else None, allow_custom_value=True,
                           label="text2pixel model")
        up = gr.Dropdown(ups, value=ups[0] if ups else None, allow_custom_value=True,
                         label="upsampler model (optional)")
    with gr.Row():
        with gr.Column():
            caption = gr.Textbox(value="a large red star left of a small blue ring on a white background",
                                 label="caption", lines=2)
            with gr.Row():
                guidance = gr.Number(value=2.0, label="guidance (0: none)")
                seed = gr.Number(value=0, precision=0, label="seed")
                temperature = gr.Slider(0.1, 1.5, value=1.0, step=0.05, label="temperature")
            go = gr.Button("Draw", variant="primary")
            digits = gr.Textbox(label="the digit view (one character per pixel)", lines=12,
                                elem_classes=["mono"])
        with gr.Column():
            lo = gr.Image(label="32×32 (shown at 4×)", type="numpy", format="png", elem_classes=["pixels"])
            hi = gr.Image(label="128×128", type="numpy", format="png", elem_classes=["pixels"])
            status = gr.Markdown()

    def run(p, q, text, gd, s, t):
        return caption_to_pixels(ctx, p, q, text, gd, s, t)

    go.click(guarded(run), [ckpt, up, caption, guidance, seed, temperature], [lo, digits, hi, status],
             api_name="text2pixel")
