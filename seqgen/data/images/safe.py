"""Opening image files that may be hostile: every reader of user images goes through `open_image`.

A tiny file may declare a huge canvas (a 12 KB PNG of 10000x10000, a 4.8 KB GIF whose logical screen is
10000x10000): decoding it costs gigabytes. The header is read first and the pixel count checked against
a cap (a key the user can raise); when the caller wants fewer pixels than the file has, the decoder is
asked for a smaller image (JPEG draft) and the rest is reduced before any float conversion. Every error
names the file (`where`, e.g. "image=cat.png") and is a DataError / ConfigError, never a traceback.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from seqgen.core.errors import ConfigError, DataError

MAX_PIXELS = 50_000_000         # per image or frame canvas (about 7000x7000): ~200 MB decoded as RGBA
MAX_CLIP_PIXELS = 200_000_000   # frames x pixels kept of one clip: ~600 MB as RGB uint8
# images above this many pixels are decoded scaled down when the caller wants fewer; smaller ones are
# decoded whole, so every image dataset below it prepares bit for bit as before
REDUCE_ABOVE = 16_000_000


def too_big(what: str, pixels: int, cap: int, key: str) -> DataError:
    """The one wording of a refused size, with the key that raises the cap."""
    return DataError(f"{what} is {pixels / 1e6:.1f} megapixels, above the cap of {cap / 1e6:g} "
                     f"({key}={cap}); a small file can decode to a huge image. If it is genuine, raise "
                     f"{key}= or scale it down first")


def open_image(src, where: str, max_pixels: int = MAX_PIXELS, key: str = "max_pixels",
               expect: tuple[int, int] | None = None, mismatch=None, longest: int | None = None,
               decode: bool = True):
    """A decoded PIL image from a path or bytes, or a DataError that names `where`.

    max_pixels: refuse larger canvases before decoding (key: the setting that raises it);
    expect: (w, h) the caller needs exactly - checked from the header, a ConfigError worded by
    mismatch(w, h) when given;
    longest: the caller scales to this side anyway - an image over REDUCE_ABOVE pixels is decoded
    smaller when the format allows (JPEG draft), then box-reduced by a whole factor that leaves at
    least twice `longest`, so the caller's own filter still does the final, anti-aliased resize;
    decode: False returns the lazily opened image after the header checks (its size, not its pixels).
    """
    try:
        with warnings.catch_warnings():      # Pillow's own bomb warning: we check the size ourselves below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            cap, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                im = Image.open(io.BytesIO(src) if isinstance(src, bytes) else Path(src))
            finally:
                Image.MAX_IMAGE_PIXELS = cap
    except FileNotFoundError:
        raise DataError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{where}: a folder, expected an image file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{where}: not a readable image ({e})") from None
    w, h = im.size
    if expect is not None and (w, h) != tuple(expect):
        im.close()
        raise ConfigError(mismatch(w, h) if mismatch else f"{where} is {w}x{h}; expected {expect[0]}x{expect[1]}")
    if w * h > max_pixels:
        im.close()
        raise too_big(f"{where}: a {w}x{h} image", w * h, max_pixels, key)
    if not decode:
        return im
    try:
        longest = longest if w * h > REDUCE_ABOVE else None
        if longest and max(w, h) >= 4 * longest and im.format == "JPEG":   # DCT scaling: 1/2, 1/4, 1/8
            im.draft(im.mode, (2 * longest * w // max(w, h), 2 * longest * h // max(w, h)))
        im.load()   # decode now: a truncated file fails here, with its name
        if longest and max(im.size) >= 4 * longest:
            if im.mode not in ("L", "LA", "RGB", "RGBA"):   # reduce() takes these; 1-bit as grey, palettes as RGBA
                im = im.convert("L" if im.mode in ("1", "I;16", "I", "F") else "RGBA")
            im = im.reduce(max(im.size) // (2 * longest))   # (w // f, h // f): >= 2 * longest on the long side
    except (OSError, ValueError, SyntaxError, MemoryError) as e:
        raise DataError(f"{where}: not a readable image ({type(e).__name__}: {e})") from None
    return im
