"""Playing a video texture: a seeded walk over the chain, frames with optional crossfades at jumps, and
the files it is written to (GIF, MP4, a PNG strip), plus the transition-matrix figure.

A walk is a list of frame indices; everything visual is computed from it afterwards, so figures and
tests read the same indices that a GIF shows.
"""

from __future__ import annotations

from bisect import bisect_right
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from seqgen.core.errors import ConfigError
from seqgen.data.subsets import spread


def walk(csr: dict, frames: int, seed: int, start: int = 0) -> np.ndarray:
    """`frames` indices (frames,) int64 from `start`, each drawn from its predecessor's row of P.

    One uniform number per step from numpy's PCG64 seeded by `seed`, looked up in the row's cumulative
    probabilities by bisection (C code on a Python list: ~1 microsecond a step)."""
    indptr = csr["indptr"]
    n = len(indptr) - 1
    if not 0 <= start < n:
        raise ConfigError(f"start={start}: expected a frame index in [0, {n - 1}]")
    cdf = row_cdf(csr)
    ptr, idx = indptr.tolist(), csr["indices"].tolist()
    u = np.random.default_rng(seed).random(max(frames - 1, 0)).tolist()
    out = [start]
    i = start
    for x in u:
        lo, hi = ptr[i], ptr[i + 1]
        i = idx[min(bisect_right(cdf, x, lo, hi), hi - 1)]
        out.append(i)
    return np.asarray(out[:frames], dtype=np.int64)


def row_cdf(csr: dict) -> list:
    """Cumulative probabilities within each row as one flat list; each row ends at exactly 1."""
    probs, indptr = csr["probs"], csr["indptr"]
    cdf = np.cumsum(probs)
    starts = np.repeat(np.concatenate([[0.0], cdf[indptr[1:-1] - 1]]), np.diff(indptr))
    cdf = cdf - starts
    cdf[indptr[1:] - 1] = 1.0
    return cdf.tolist()


def jumps(seq: np.ndarray) -> np.ndarray:
    """Steps t where seq[t] -> seq[t+1] is not the clip's own next frame."""
    return np.nonzero(seq[1:] != seq[:-1] + 1)[0]


def render(frames: np.ndarray, seq: np.ndarray, crossfade: int = 0) -> np.ndarray:
    """The played frames (T, H, W, C) uint8. With crossfade K, the K frames after a jump i -> j blend the
    new stretch with the old one's continuation i+1, i+2, ... (weight of the new: s / (K+1))."""
    out = frames[seq]
    if crossfade <= 0:
        return out
    out = out.astype(np.float32)
    n, steps = len(frames), len(seq)
    for t in jumps(seq):
        i = seq[t]
        for s in range(1, crossfade + 1):
            if t + s >= steps or i + s >= n:
                break
            w = s / (crossfade + 1)
            out[t + s] = w * out[t + s] + (1 - w) * frames[i + s]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# ---- files -------------------------------------------------------------------------------------------

FORMATS = ("gif", "mp4", "png")


def output_format(fmt: str | None, out: str | None) -> str:
    """The format asked for, else the output file's suffix, else gif."""
    fmt = fmt or (Path(out).suffix.lstrip(".").lower() if out else "") or "gif"
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r}: expected one of {list(FORMATS)} (or out= a file ending .gif, .mp4, .png)")
    return fmt


def write(video: np.ndarray, path, fps: float, fmt: str, strip_frames: int = 12) -> Path:
    """Write (T, H, W, C) uint8 frames as a GIF, an MP4, or a PNG strip of `strip_frames` evenly spaced ones."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    {"gif": write_gif, "mp4": write_mp4, "png": lambda v, p, f: write_strip(v, p, strip_frames)}[fmt](video, path, fps)
    return path


def _image(frame: np.ndarray):
    return Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)


def write_gif(video: np.ndarray, path, fps: float) -> None:
    """An endlessly looping GIF (GIF stores delays in 10 ms steps)."""
    images = [_image(f) for f in video]
    images[0].save(path, save_all=True, append_images=images[1:], loop=0,
                   duration=max(20, int(round(100 / fps)) * 10), disposal=1, optimize=False)


def write_mp4(video: np.ndarray, path, fps: float) -> None:
    """H.264 (or MPEG-4 part 2 where this FFmpeg build lacks libx264) in yuv420p; odd sides are padded."""
    import av

    t, h, w, c = video.shape
    if c == 1:
        video = np.repeat(video, 3, axis=-1)
    video = np.pad(video, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18"}
        for f in video:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")))
        container.mux(stream.encode())


def write_strip(video: np.ndarray, path, count: int = 12, gap: int = 2) -> None:
    """`count` evenly spaced frames side by side, `gap` white pixels apart."""
    pick = spread(len(video), count)
    h, w, c = video.shape[1:]
    strip = np.full((h, len(pick) * (w + gap) - gap, c), 255, np.uint8)
    for k, t in enumerate(pick):
        strip[:, k * (w + gap):k * (w + gap) + w] = video[t]
    _image(strip).save(path)


def _pooled(m: np.ndarray, side: int, how) -> np.ndarray:
    """(n, n) -> at most (side, side) by blocks of k x k (k = ceil(n / side)): a figure a few hundred
    pixels wide would otherwise drop most single-entry transitions when it is drawn."""
    k = -(-len(m) // side)
    if k == 1:
        return m
    n = len(m) // k * k
    return how(how(m[:n, :n].reshape(n // k, k, n // k, k), axis=3), axis=1)


def matrix_figure(panels: list, path, title: str = "") -> Path:
    """Side-by-side images of (n, n) matrices: [(caption, matrix, kind)], kind "dist" (linear, block
    means) or "prob" (log10 scale, block maxima, zero shown as the darkest colour)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(3.1 * len(panels), 2.9), squeeze=False)
    for ax, (caption, m, kind) in zip(axes[0], panels):
        extent = (-0.5, len(m) - 0.5, len(m) - 0.5, -0.5)            # axes in frame numbers
        if kind == "prob":
            shown = np.log10(np.maximum(_pooled(m, 160, np.max), 1e-6))
            im = ax.imshow(shown, cmap="magma", vmin=-6, vmax=0, interpolation="nearest", extent=extent)
        else:
            shown = _pooled(np.where(np.isfinite(m), m, np.nan), 160, np.nanmean)
            im = ax.imshow(shown, cmap="viridis", interpolation="nearest", extent=extent)
        ax.set_title(caption, fontsize=9)
        ax.set_xlabel("to frame j", fontsize=8)
        ax.set_ylabel("from frame i", fontsize=8)
        ax.tick_params(labelsize=7)
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cb.ax.tick_params(labelsize=7)
        if kind == "prob":
            cb.set_label("log10 P", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
