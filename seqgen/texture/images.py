"""Image loading and saving for texture synthesis, and a quality check that needs no network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from seqgen.core.errors import DataError
from seqgen.data.images.safe import MAX_PIXELS, open_image
from seqgen.texture.efros_leung import TextureError

SKIMAGE_PREFIX = "skimage:"


def load_image(spec: str, resize: int | None = None, crop: int | None = None, key: str = "image",
               max_pixels: int = MAX_PIXELS, longest: int | None = None) -> np.ndarray:
    """(H, W, C) floats in [0, 1] from a file path or `skimage:NAME` (e.g. skimage:brick).

    resize: scale so the width is this many pixels (aspect kept); longest: scale so the longer side is
    this many pixels (Lanczos, on the 8-bit image: nothing full-size is ever float); crop: centred
    square of this side. Transparent pixels are composited on white. A file over max_pixels is refused
    before decoding (synthesize.py's max_pixels= raises it); every error names `key`=spec.
    """
    if str(spec).startswith(SKIMAGE_PREFIX):
        name = spec[len(SKIMAGE_PREFIX):]
        try:
            import skimage.data
        except ImportError:
            raise TextureError(f"image={spec} needs scikit-image (pip install scikit-image)") from None
        if not hasattr(skimage.data, name):
            raise TextureError(f"skimage.data has no image {name!r} (try brick, grass, gravel, coffee)")
        img = Image.fromarray(np.asarray(getattr(skimage.data, name)()))
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise TextureError(f"{key}={spec}: file not found")
        try:
            # decoded whole (8-bit, under max_pixels) and resized with Lanczos below, before the float copy:
            # the same pixels as resizing the float image, so every figure stays as published
            img = open_image(path, f"{key}={spec}", max_pixels, "max_pixels")
        except DataError as e:
            raise TextureError(str(e)) from None
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img).convert("RGB")
    elif img.mode not in ("RGB", "L"):
        img = img.convert("L" if img.mode == "1" else "RGB")   # 1-bit: grey, a third of RGB
    if resize:
        img = img.resize((resize, max(1, round(img.height * resize / img.width))), Image.LANCZOS)
    elif longest and max(img.size) != longest:
        f = longest / max(img.size)
        img = img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))), Image.LANCZOS)
    arr = np.asarray(img, dtype=np.float64) / 255.0
    if arr.ndim == 2:
        arr = arr[..., None]
    if crop:
        h, w = arr.shape[:2]
        if crop > min(h, w):
            raise TextureError(f"crop={crop} is larger than the image ({h}x{w})")
        y, x = (h - crop) // 2, (w - crop) // 2
        arr = arr[y:y + crop, x:x + crop]
    return arr


def to_uint8(img: np.ndarray) -> np.ndarray:
    arr = np.clip(np.asarray(img) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return arr[..., 0] if arr.shape[-1] == 1 else arr


def save_png(img: np.ndarray, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(img)).save(path)
    return path


def side_by_side(images, labels, scale: int = 2):
    """A row of images (floats) with a label under each, as one uint8 RGB array."""
    tiles = []
    for img in images:
        t = Image.fromarray(to_uint8(img)).convert("RGB")
        tiles.append(t.resize((t.width * scale, t.height * scale), Image.NEAREST))
    h = max(t.height for t in tiles) + 16
    canvas = Image.new("RGB", (sum(t.width for t in tiles) + 8 * (len(tiles) - 1), h), "white")
    draw, x = ImageDraw.Draw(canvas), 0
    for t, label in zip(tiles, labels):
        canvas.paste(t, (x, 0))
        draw.text((x + 2, h - 14), str(label), fill="black")
        x += t.width + 8
    return np.asarray(canvas)


def texture_distance(sample: np.ndarray, output: np.ndarray, patch: int = 5, bins: int = 8,
                     max_patches: int = 4000, seed: int = 0) -> dict:
    """How far output strays from sample's statistics (lower is better), with no pretrained network.

    hist_tv: total-variation distance between colour histograms (bins per channel), in [0, 1].
    patch_nn: mean distance (RMS per pixel value) from output patches to their nearest sample patch.
    """
    def hist(img):
        q = np.clip((img * bins).astype(int), 0, bins - 1)
        idx = np.ravel_multi_index(tuple(q.reshape(-1, q.shape[-1]).T), (bins,) * q.shape[-1])
        return np.bincount(idx, minlength=bins ** q.shape[-1]) / idx.size

    def patches(img):
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
        return F.unfold(t, patch)[0].T  # (L, C*patch*patch)

    s, o = patches(sample), patches(output)
    rng = np.random.default_rng(seed)
    if len(o) > max_patches:
        o = o[torch.from_numpy(rng.choice(len(o), max_patches, replace=False))]
    d2 = (o * o).sum(1, keepdim=True) - 2 * o @ s.T + (s * s).sum(1)[None]
    nn = d2.clamp_min(0).min(1).values / s.shape[1]
    return {"hist_tv": float(0.5 * np.abs(hist(sample) - hist(output)).sum()),
            "patch_nn": float(nn.sqrt().mean())}
