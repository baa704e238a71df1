"""Tab 8, image analogies (Hertzmann et al. 2001): A : A′ :: B : B′. A′ is made from A by one of the
procedural filters (blur, emboss, posterise, ...), or A, A′ and B are uploads."""

from __future__ import annotations

import time

import numpy as np

from seqgen.app.demo.common import guarded, resize_longer, rgb_float, to_uint8
from seqgen.core.errors import ConfigError
from seqgen.texture.analogy import AnalogyConfig, analogy
from seqgen.texture.analogy_eval import config_for, psnr
from seqgen.texture.filters import make_pair
from seqgen.texture.images import load_image
from seqgen.texture.procedural import scene

PICTURES = ("coffee", "chelsea", "astronaut", "rocket", "procedural scene")
FILTER_NAMES = ("blur", "emboss", "edges", "posterize", "kuwahara", "superres", "colorize", "texture")


def picture(ctx, name: str, upload, side: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) floats, longer side `side`: an upload, a scikit-image photo or seqgen's procedural scene."""
    if upload is not None:
        return resize_longer(rgb_float(upload, "an uploaded picture", ctx.limits), side)
    if name == "procedural scene":
        return scene(side, seed)
    if name not in PICTURES:
        raise ConfigError(f"picture={name!r}: expected one of {list(PICTURES)} or an upload")

    img = load_image(f"skimage:{name}")
    return resize_longer(np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img, side)


def run_analogy(ctx, mode: str, filt: str, a_name: str, a_up, b_name: str, b_up, a_prime_up, side: int,
                seed: int, progress=None):
    """(A, A′, B, B′ as uint8 pictures, status)."""
    side = int(side)
    if not 16 <= side <= 256:
        raise ConfigError(f"side={side}: expected 16-256 pixels")
    if progress is not None:
        progress(0.1, desc="preparing A, A′ and B")
    a = picture(ctx, a_name, a_up, side, seed)
    b = picture(ctx, b_name, b_up, side, seed + 1)
    truth = None
    if mode == "procedural filter":
        if filt not in FILTER_NAMES:
            raise ConfigError(f"filter={filt!r}: expected one of {list(FILTER_NAMES)}")
        pair = make_pair(filt, a, b, seed=int(seed))
        a, a_prime, b, truth = pair["a"], pair["a_prime"], pair["b"], pair["truth"]
        cfg = config_for(filt)
    elif mode == "uploads":
        if a_prime_up is None:
            raise ConfigError("mode 'uploads': upload A′ (A filtered, the same size as A)")
        a_prime = rgb_float(a_prime_up, "A′", ctx.limits)
        if a_up is None:
            raise ConfigError("mode 'uploads': upload A (A′ is A filtered, the same size)")
        a_full = rgb_float(a_up, "A", ctx.limits)
        if a_full.shape[:2] != a_prime.shape[:2]:
            raise ConfigError(f"A is {a_full.shape[1]}x{a_full.shape[0]} but A′ is {a_prime.shape[1]}x"
                              f"{a_prime.shape[0]}: they must have the same size")
        a_prime = resize_longer(a_prime, side)
        cfg = AnalogyConfig()
    else:
        raise ConfigError(f"mode={mode!r}: expected 'procedural filter' or 'uploads'")
    if progress is not None:
        progress(0.3, desc=f"synthesising B′ ({b.shape[1]}x{b.shape[0]}, {cfg.levels} levels)")
    t0 = time.perf_counter()
    b_prime = analogy(a, a_prime, b, cfg, seed=int(seed))
    seconds = time.perf_counter() - t0
    status = f"B′ {b.shape[1]}x{b.shape[0]} in {seconds:.2f} s"
    if truth is not None:
        status += f"; PSNR against the true filter of B: {psnr(b_prime, truth):.1f} dB (B unchanged: " \
                  f"{psnr(b, truth):.1f} dB)"
    return to_uint8(a), to_uint8(a_prime), to_uint8(b), to_uint8(b_prime), status


def tab(ctx) -> None:
    import gradio as gr

    gr.Markdown("From a picture A and a filtered A′, make B′ that is to B what A′ is to A: every B′ pixel copies "
                "the A′ pixel whose neighbourhood (in A and A′, coarse to fine) matches its own best.")
    with gr.Row():
        with gr.Column():
            mode = gr.Radio(["procedural filter", "uploads"], value="procedural filter", label="A′ from")
            filt = gr.Dropdown(list(FILTER_NAMES), value="blur", label="filter")
            with gr.Row():
                a_name = gr.Dropdown(list(PICTURES), value="astronaut", label="A")
                b_name = gr.Dropdown(list(PICTURES), value="coffee", label="B")
            with gr.Row():
                a_up = gr.Image(label="or upload A", type="numpy", image_mode="RGB", sources=["upload"])
                a_prime_up = gr.Image(label="A′ (uploads)", type="numpy", image_mode="RGB", sources=["upload"])
                b_up = gr.Image(label="or upload B", type="numpy", image_mode="RGB", sources=["upload"])
            with gr.Row():
                side = gr.Slider(32, 256, value=128, step=16, label="side (pixels)")
                seed = gr.Number(value=0, precision=0, label="seed")
            go = gr.Button("Make B′", variant="primary", elem_id="analogy-go")
        with gr.Column():
            with gr.Row():
                a_out = gr.Image(label="A", type="numpy", format="png", elem_classes=["pixels"])
                ap_out = gr.Image(label="A′", type="numpy", format="png", elem_classes=["pixels"])
            with gr.Row():
                b_out = gr.Image(label="B", type="numpy", format="png", elem_classes=["pixels"])
                bp_out = gr.Image(label="B′", type="numpy", format="png", elem_classes=["pixels"],
                                  elem_id="analogy-out")
            status = gr.Markdown()

    def run(m, f, an, au, bn, bu, apu, s, sd, progress=gr.Progress()):
        return run_analogy(ctx, m, f, an, au, bn, bu, apu, s, sd, progress)

    go.click(guarded(run), [mode, filt, a_name, a_up, b_name, b_up, a_prime_up, side, seed],
             [a_out, ap_out, b_out, bp_out, status], api_name="image_analogy")
