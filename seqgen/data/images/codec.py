"""Pixels as tokens: a palette codec, the fixed 4x reduction rule, PNG grids and the digit view.

An image is an (H, W) uint8 array of palette indices ("tokens"); the palette is a (K, 3) uint8 array
of RGB colours. Raster order (row by row, left to right) turns the grid into a sequence of H*W tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from seqgen.core.errors import DataError
from seqgen.data.images.safe import open_image

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"   # one character per palette index in the text view


class PixelCodec:
    """RGB(A) images <-> palette indices.

    Quantization picks the nearest palette colour (squared RGB distance; ties -> lower index).
    Pixels with alpha < 128 are composited as the background colour first, so transparent areas of
    emoji / PNG cut-outs become the background index.
    """

    def __init__(self, palette, background: int = 0, names: list[str] | None = None):
        pal = np.asarray(palette, dtype=np.uint8)
        if pal.ndim != 2 or pal.shape[1] != 3 or not 2 <= len(pal) <= len(DIGITS):
            raise ValueError(f"palette must be (K, 3) RGB with 2 <= K <= {len(DIGITS)}; got shape {pal.shape}")
        if not 0 <= background < len(pal):
            raise ValueError(f"background index {background} is outside the palette of {len(pal)} colours")
        self.palette, self.background, self.names = pal, int(background), names

    @property
    def size(self) -> int:
        return len(self.palette)

    # ---- fitting ------------------------------------------------------------------------------
    @classmethod
    def fit(cls, images, k: int = 16, seed: int = 0, iters: int = 25, max_pixels: int = 200_000,
            background=(255, 255, 255)) -> "PixelCodec":
        """k-means (k-means++ init, Lloyd iterations) in RGB over pixels of `images` (RGB or RGBA uint8).

        The background colour (where transparent pixels go) is always one palette entry, index 0.
        """
        if not 2 <= k <= len(DIGITS):
            raise ValueError(f"palette size k must be in 2..{len(DIGITS)}, got {k}")
        rng = np.random.default_rng(seed)
        bg = np.asarray(background, dtype=np.float64)
        images = list(images)
        per_image = -(-max_pixels // max(1, len(images)))   # an even share of max_pixels per image
        parts = []
        for im in images:
            flat = _flatten_rgb(im, bg)
            parts.append(flat[rng.choice(len(flat), per_image, replace=False)] if len(flat) > per_image else flat)
        pixels = np.concatenate(parts)
        centres = [bg]
        d2 = ((pixels - bg) ** 2).sum(1)
        for _ in range(k - 1):       # k-means++: next centre drawn proportional to squared distance
            if d2.sum() == 0:
                break
            nxt = pixels[rng.choice(len(pixels), p=d2 / d2.sum())]
            centres.append(nxt)
            d2 = np.minimum(d2, ((pixels - nxt) ** 2).sum(1))
        C = np.array(centres)
        for _ in range(iters):
            assign = _nearest(pixels, C)
            moved = C.copy()
            for j in range(1, len(C)):            # index 0 stays exactly the background colour
                members = pixels[assign == j]
                if len(members):
                    moved[j] = members.mean(0)
            if np.allclose(moved, C):
                break
            C = moved
        pal, seen = [], set()
        for colour in np.clip(np.rint(C), 0, 255).astype(np.uint8).tolist():  # drop duplicates, keep order
            if tuple(colour) not in seen:
                seen.add(tuple(colour))
                pal.append(colour)
        pal = np.array(pal, dtype=np.uint8)
        return cls(pal, 0)

    # ---- conversion ---------------------------------------------------------------------------
    def quantize(self, image) -> np.ndarray:
        """(H, W, 3|4) uint8 RGB(A) or a PIL image -> (H, W) uint8 palette indices."""
        arr = _as_array(image)
        flat = _flatten_rgb(arr, self.palette[self.background].astype(np.float64))
        # nearest colour per distinct colour only: images have far fewer colours than pixels
        packed = (flat[:, 0].astype(np.int64) << 16) | (flat[:, 1].astype(np.int64) << 8) | flat[:, 2].astype(np.int64)
        colours, inverse = np.unique(packed, return_inverse=True)
        rgb = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=1).astype(np.float64)
        nearest = _nearest(rgb, self.palette.astype(np.float64)).astype(np.uint8)
        return nearest[inverse.reshape(-1)].reshape(arr.shape[:2])

    def dequantize(self, indices) -> np.ndarray:
        """(..., H, W) indices -> (..., H, W, 3) uint8 RGB."""
        idx = np.asarray(indices)
        if idx.size and (idx.min() < 0 or idx.max() >= self.size):
            raise ValueError(f"indices must lie in 0..{self.size - 1}; got {idx.min()}..{idx.max()}")
        return self.palette[idx]

    def out_of_palette(self, image) -> float:
        """Fraction of pixels whose colour is not exactly a palette colour (after alpha handling)."""
        arr = _as_array(image)
        flat = _flatten_rgb(arr, self.palette[self.background].astype(np.float64))
        q = self.palette[_nearest(flat, self.palette.astype(np.float64))].astype(np.float64)
        return float((np.abs(q - flat).sum(1) > 0).mean())

    # ---- persistence --------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"palette": self.palette.tolist(), "background": self.background, "names": self.names})

    @classmethod
    def from_json(cls, text: str) -> "PixelCodec":
        state = json.loads(text)
        return cls(state["palette"], state.get("background", 0), state.get("names"))


def _as_array(image) -> np.ndarray:
    if hasattr(image, "mode"):   # PIL
        image = np.asarray(image.convert("RGBA") if image.mode in ("P", "LA", "RGBA", "PA") else image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
        raise DataError(f"expected an (H, W, 3|4) uint8 image, got shape {arr.shape} dtype {arr.dtype}")
    return arr


def _flatten_rgb(image, background: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) uint8 -> (H*W, 3) float64; alpha < 128 becomes the background colour."""
    arr = np.asarray(image)
    rgb = arr[..., :3].reshape(-1, 3).astype(np.float64)
    if arr.shape[-1] == 4:
        rgb[arr[..., 3].reshape(-1) < 128] = background
    return rgb


def _nearest(pixels: np.ndarray, centres: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Index of the nearest centre for each row of pixels (N, 3) -> (N,); ties go to the lower index."""
    out = np.empty(len(pixels), dtype=np.int64)
    for s in range(0, len(pixels), chunk):
        p = pixels[s:s + chunk]
        d = (p * p).sum(1)[:, None] - 2 * p @ centres.T + (centres * centres).sum(1)[None, :]
        out[s:s + chunk] = d.argmin(1)
    return out


# ---- the fixed 4x rule: 128x128 <-> 32x32 ---------------------------------------------------------

def reduce_blocks(indices, factor: int = 4) -> np.ndarray:
    """(..., H, W) indices -> (..., H/f, W/f): each f x f block becomes its most frequent index,
    ties going to the lowest index. This is every dataset's fixed 4x rule; the upsampler's
    consistency is scored against it."""
    idx = np.asarray(indices)
    *lead, H, W = idx.shape
    if H % factor or W % factor:
        raise DataError(f"image {H}x{W} is not divisible by the factor {factor}")
    flat = idx.reshape(-1, H, W)
    out = np.empty((len(flat), H // factor, W // factor), dtype=np.uint8)
    K = int(idx.max()) + 1 if idx.size else 1
    for s in range(0, len(flat), 256):   # chunks keep the (n, h, w, f*f, K) one-hot small
        part = flat[s:s + 256].reshape(-1, H // factor, factor, W // factor, factor).transpose(0, 1, 3, 2, 4)
        part = part.reshape(*part.shape[:3], factor * factor)
        counts = (part[..., None] == np.arange(K, dtype=idx.dtype)).sum(-2)    # (n, h, w, K)
        out[s:s + 256] = counts.argmax(-1)
    return out.reshape(*lead, H // factor, W // factor)


def upsample_nearest(indices, factor: int = 4) -> np.ndarray:
    """(..., h, w) -> (..., h*f, w*f) by repeating each index in an f x f block."""
    idx = np.asarray(indices)
    return idx.repeat(factor, axis=-2).repeat(factor, axis=-1)


# ---- views ----------------------------------------------------------------------------------------

def digit_view(indices) -> str:
    """The lecture's text view: one character per pixel (0-9 then a-z), one line per row."""
    idx = np.asarray(indices)
    return "\n".join(" ".join(DIGITS[int(v)] for v in row) for row in idx)


def grid_image(images, codec: PixelCodec, captions: list[str] | None = None, scale: int = 4,
               ncols: int | None = None, pad: int = 2):
    """A PIL image: index grids rendered in palette colours, scaled up (nearest), with captions above."""
    ims = [upsample_nearest(np.asarray(im), scale) for im in images]
    n = len(ims)
    if n == 0:
        raise ValueError("grid_image needs at least one image")
    h, w = ims[0].shape
    ncols = ncols or min(n, 8)
    nrows = (n + ncols - 1) // ncols
    text_h = 12 if captions else 0
    canvas = Image.new("RGB", (ncols * (w + pad) + pad, nrows * (h + pad + text_h) + pad), (128, 128, 128))
    draw = ImageDraw.Draw(canvas)
    for i, im in enumerate(ims):
        r, c = divmod(i, ncols)
        x, y = pad + c * (w + pad), pad + r * (h + pad + text_h)
        if captions:
            label = captions[i] if i < len(captions) else ""
            max_chars = max(4, w // 6)
            draw.text((x, y), label[:max_chars], fill=(255, 255, 255))
        canvas.paste(Image.fromarray(codec.dequantize(im)), (x, y + text_h))
    return canvas


def save_png(indices, codec: PixelCodec, path, scale: int = 1) -> Path:
    """Write one index grid as an RGB PNG (optionally scaled up by nearest neighbour)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(codec.dequantize(upsample_nearest(indices, scale) if scale > 1 else indices)).save(path)
    return path


def load_png(path, codec: PixelCodec) -> np.ndarray:
    """Read an image file and quantize it with the codec -> (H, W) indices."""
    with open_image(path, str(path)) as im:
        return codec.quantize(im)
