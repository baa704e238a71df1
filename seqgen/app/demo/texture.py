"""Tab 6, Efros-Leung: grow a texture from a scikit-image sample or an upload (window, output size),
or fill the holes painted on a picture; the progress bar follows the passes as the texture grows."""

from __future__ import annotations

import time

import numpy as np
from PIL import Image

from seqgen.app.demo.common import Progress, check_pixels, guarded, resize_longer, rgb_float, to_uint8
from seqgen.core.errors import ConfigError, DataError
from seqgen.texture.efros_leung import EfrosLeungConfig, fill_holes, synthesize
from seqgen.texture.images import load_image

SKIMAGE = ("brick", "grass", "gravel", "immunohistochemistry", "coffee", "chelsea")
MAX_OUT = 256          # output side: 256 x 256 is about 20 s on 2 cores
MAX_FILL = 256 * 256   # pixels of a picture whose holes are filled


def sample_image(ctx, source: str, upload, crop: int) -> np.ndarray:
    """The sample (H, W, 3) floats: a scikit-image texture or an upload, scaled to 2 * crop wide and
    centre-cropped to crop x crop (the CLI's defaults: 128 wide, 64 x 64)."""
    crop = int(crop)
    if not 8 <= crop <= 128:
        raise ConfigError(f"sample side={crop}: expected 8-128 pixels")
    if upload is not None:
        img = rgb_float(upload, "the uploaded texture", ctx.limits)

        img = resize_longer(img, 2 * crop) if max(img.shape[:2]) > 2 * crop else img
        h, w = img.shape[:2]
        if min(h, w) < crop:
            raise DataError(f"the uploaded texture is {w}x{h}; it needs at least {crop}x{crop} pixels for this "
                            f"sample side")
        y, x = (h - crop) // 2, (w - crop) // 2
        return img[y:y + crop, x:x + crop]
    if source not in SKIMAGE:
        raise ConfigError(f"texture={source!r}: expected one of {list(SKIMAGE)} or an upload")
    img = load_image(f"skimage:{source}", resize=2 * crop, crop=crop)
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img


def grow(ctx, source: str, upload, crop: int, window: int, size: int, seed: int, progress=None):
    """(the sample, the grown texture, status) as uint8 pictures."""
    size, window = int(size), int(window)
    if not 16 <= size <= MAX_OUT:
        raise ConfigError(f"output size={size}: expected 16-{MAX_OUT} pixels")
    sample = sample_image(ctx, source, upload, crop)
    bar = Progress(progress, f"growing {size}x{size} from a {sample.shape[1]}x{sample.shape[0]} sample")
    t0 = time.perf_counter()
    out = synthesize(sample, size, EfrosLeungConfig(window=window), int(seed), progress=bar)
    seconds = time.perf_counter() - t0
    return to_uint8(sample), to_uint8(out), f"{size}x{size}, window {window}, seed {int(seed)}: {seconds:.2f} s"


def editor_mask(value, ctx) -> tuple[np.ndarray, np.ndarray]:
    """(picture (H, W, 3) floats, hole mask (H, W) bool) from an image editor's value: the background is
    the picture, every painted pixel of any layer is a hole."""
    def read(v):
        if v is None:
            return None
        if isinstance(v, dict):
            v = v.get("path") or v.get("url")
        if isinstance(v, str):
            with Image.open(v) as im:
                return np.asarray(im.convert("RGBA"))
        return np.asarray(v)

    if not isinstance(value, dict) or value.get("background") is None:
        raise DataError("hole filling: upload a picture, then paint the holes on it with the brush")
    bg = read(value["background"])
    check_pixels(bg, "the picture", ctx.limits)
    if bg.shape[0] * bg.shape[1] > MAX_FILL:
        raise DataError(f"the picture is {bg.shape[1]}x{bg.shape[0]}; hole filling takes pictures up to "
                        f"{MAX_FILL:,} pixels (256x256): scale it down")
    mask = np.zeros(bg.shape[:2], bool)
    for layer in value.get("layers") or []:
        a = read(layer)
        if a is None:
            continue
        if a.shape[:2] != bg.shape[:2]:
            raise DataError(f"a painted layer is {a.shape[1]}x{a.shape[0]}, the picture {bg.shape[1]}x{bg.shape[0]}")
        alpha = a[..., 3] if a.ndim == 3 and a.shape[2] == 4 else (a.reshape(*a.shape[:2], -1).max(-1))
        mask |= alpha > 0
    return rgb_float(bg, "the picture", ctx.limits), mask


def fill(ctx, editor, window: int, seed: int, progress=None):
    """(the picture with its holes shown in magenta, the filled picture, status)."""
    img, mask = editor_mask(editor, ctx)
    if not mask.any():
        raise DataError("no hole painted: paint over the part of the picture to fill, with the brush")
    bar = Progress(progress, f"filling {int(mask.sum()):,} pixels")
    t0 = time.perf_counter()
    out = fill_holes(img, mask, EfrosLeungConfig(window=int(window)), int(seed), progress=bar)
    seconds = time.perf_counter() - t0
    shown = np.where(mask[..., None], np.array([1.0, 0.0, 1.0]), img)
    return to_uint8(shown), to_uint8(out), f"{int(mask.sum()):,} pixels filled in {seconds:.2f} s"


def tab(ctx) -> None:
    import gradio as gr

    gr.Markdown("Efros & Leung (1999), the pixel cousin of the n-gram: each new pixel copies the centre of a "
                "sample window whose (Gaussian-weighted) neighbourhood matches its known neighbours. Small "
                "windows break the texture into fragments, large ones keep its structure.")
    with gr.Tab("Grow a texture"):
        with gr.Row():
            with gr.Column():
                source = gr.Dropdown(list(SKIMAGE), value="brick", label="scikit-image texture")
                upload = gr.Image(label="or upload one", type="numpy", image_mode="RGB", sources=["upload"])
                with gr.Row():
                    crop = gr.Slider(16, 128, value=64, step=8, label="sample side")
                    window = gr.Slider(3, 31, value=11, step=2, label="window")
                with gr.Row():
                    size = gr.Slider(32, MAX_OUT, value=128, step=16, label="output side", elem_id="el-size")
                    seed = gr.Number(value=0, precision=0, label="seed")
                go = gr.Button("Grow", variant="primary", elem_id="el-grow")
            with gr.Column():
                sample = gr.Image(label="sample", type="numpy", format="png", elem_classes=["pixels"], height=200)
                out = gr.Image(label="synthesised", type="numpy", format="png", elem_classes=["pixels"],
                               elem_id="el-out", height=380)
                status = gr.Markdown()

        def run_grow(s, u, c, w, n, sd, progress=gr.Progress()):
            return grow(ctx, s, u, c, w, n, sd, progress)

        go.click(guarded(run_grow), [source, upload, crop, window, size, seed], [sample, out, status],
                 api_name="efros_leung")
    with gr.Tab("Fill holes"):
        with gr.Row():
            with gr.Column():
                editor = gr.ImageEditor(label="upload a picture, paint the holes", type="numpy",
                                        sources=["upload"], layers=False,
                                        brush=gr.Brush(colors=["#ff00ff"], default_size=12))
                with gr.Row():
                    fwindow = gr.Slider(3, 31, value=11, step=2, label="window")
                    fseed = gr.Number(value=0, precision=0, label="seed")
                fgo = gr.Button("Fill", variant="primary")
            with gr.Column():
                holes = gr.Image(label="holes", type="numpy", format="png", elem_classes=["pixels"], height=300)
                filled = gr.Image(label="filled", type="numpy", format="png", elem_classes=["pixels"], height=300)
                fstatus = gr.Markdown()

        def run_fill(e, w, sd, progress=gr.Progress()):
            return fill(ctx, e, w, sd, progress)

        fgo.click(guarded(run_fill), [editor, fwindow, fseed], [holes, filled, fstatus], api_name="fill_holes")
