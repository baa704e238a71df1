"""Clips in: the data config of the video families, and every way a clip reaches them.

    generated   pendulum | flame | sprite (seqgen.data.video.generated; exact ground truth, no download)
    video_file  data.path: a GIF / APNG / animated WebP (Pillow) or MP4 / AVI / MOV / MKV / WebM (PyAV)
    video_folder data.path: a folder of still frames (PNG / JPEG / ...), in file-name order
    real clips  bigbuckbunny | newtonscradle (seqgen.data.video.sources: fetched once, checksummed)

Every clip becomes a `Clip`: frames (n, H, W, C) uint8 with C = 3 (or 1 with data.grey), its frame rate,
and the ground truth of generated clips. Crop, resize and grey conversion are applied frame by frame as
frames are decoded, so a 720p video never sits in memory at full size; start / stride / max_frames pick
which frames are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from seqgen.core.errors import ConfigError, DataError, SeqgenError
from seqgen.core.schema import key
from seqgen.data.images.safe import MAX_CLIP_PIXELS, MAX_PIXELS, open_image, too_big
from seqgen.data.video import generated
from seqgen.data.video.sources import fetch_clip

GENERATED = ("pendulum", "flame", "sprite")
REAL = ("bigbuckbunny", "newtonscradle")
CLIP_NAMES = GENERATED + ("video_file", "video_folder") + REAL
PILLOW_EXT = (".gif", ".png", ".apng", ".webp")
VIDEO_EXT = (".mp4", ".m4v", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".ogv")
FRAME_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")


@dataclass
class ClipConfig:
    name: str = "pendulum"          # pendulum | flame | sprite | video_file | video_folder | bigbuckbunny | ...
    path: str | None = None         # video_file: the file; video_folder: the folder of frames
    size: int | None = None         # resize so the longer side is this many pixels (aspect kept)
    crop: list | None = None        # [top, left, height, width] in source pixels, applied before resizing
    grey: bool = False              # one luminance channel instead of RGB
    start: int = 0                  # first frame kept
    stride: int = 1                 # keep every stride-th frame from there
    max_frames: int | None = None   # at most this many frames
    fps: float | None = None        # override the clip's frame rate (playback writes at this rate)
    n_frames: int = 300             # generated clips: number of frames
    frame_size: int = 64            # generated clips: side in pixels
    period: float = 37.3            # pendulum: frames per swing (not a whole number: no two swings alike)
    seed: int = 0                   # flame, sprite: the random stream
    max_pixels: int = key(MAX_PIXELS, ge=1)             # refuse frames (GIF canvases) larger than this
    max_clip_pixels: int = key(MAX_CLIP_PIXELS, ge=1)   # refuse clips whose kept frames x pixels exceed this

    kind = "video"

    @staticmethod
    def names() -> list[str]:
        return list(CLIP_NAMES)

    def prepare_into(self, data_root) -> str:
        """Fetch (bigbuckbunny, newtonscradle: cached under data_root/raw) or generate the clip and read
        it with this config's crop / resize / frame selection, so a bad file fails now."""
        clip = load_clip(self, data_root)
        h, w = clip.frames.shape[1:3]
        where = "generated" if self.name in GENERATED else f"read from {self.path or Path(data_root) / 'raw'}"
        return f"clip {clip.name}: {len(clip)} frames of {w}x{h} at {clip.fps:g} fps ({where})"


@dataclass
class Clip:
    frames: np.ndarray              # (n, H, W, C) uint8
    fps: float
    name: str
    truth: dict = field(default_factory=dict)   # generated clips: per-frame arrays (n, ...) and constants

    def __len__(self) -> int:
        return len(self.frames)


def load_clip(cfg: ClipConfig, data_root="data") -> Clip:
    """The clip named by cfg.name, with cfg's crop / resize / grey / frame selection applied."""
    if cfg.name not in CLIP_NAMES:
        raise ConfigError(f"data.name={cfg.name!r}: expected one of {list(CLIP_NAMES)}")
    if cfg.stride < 1 or cfg.start < 0 or (cfg.max_frames is not None and cfg.max_frames < 1):
        raise ConfigError(f"data.start={cfg.start}, data.stride={cfg.stride}, data.max_frames={cfg.max_frames}: "
                          f"expected start >= 0, stride >= 1, max_frames >= 1 (or null)")
    if cfg.crop is not None and (len(cfg.crop) != 4 or min(cfg.crop[2:]) < 1 or min(cfg.crop[:2]) < 0):
        raise ConfigError(f"data.crop={cfg.crop}: expected [top, left, height, width] with height, width >= 1")
    if cfg.name in GENERATED:
        return _generated(cfg)
    if cfg.name in REAL:
        path = fetch_clip(cfg.name, Path(data_root).expanduser() / "raw")
        return read_clip(path, cfg, key=f"cached clip {cfg.name}", name=cfg.name)
    if not cfg.path:
        what = "video or GIF file" if cfg.name == "video_file" else "folder of frames"
        raise DataError(f"data={cfg.name} needs data.path (a {what})")
    return read_clip(cfg.path, cfg, key="data.path", name=Path(cfg.path).stem)


def _generated(cfg: ClipConfig) -> Clip:
    if cfg.name == "sprite" and (cfg.crop is not None or cfg.size is not None):
        raise ConfigError("data.crop / data.size do not apply to the sprite clip (its positions are in frame "
                          "pixels): set data.frame_size instead")
    n = cfg.n_frames
    if n < 2 or cfg.frame_size < 8:
        raise ConfigError(f"data.n_frames={n}, data.frame_size={cfg.frame_size}: a generated clip needs at least "
                          f"2 frames of at least 8x8 pixels")
    _frame_cap(cfg.frame_size, cfg.frame_size, cfg, f"data={cfg.name}")
    if n * cfg.frame_size ** 2 > cfg.max_clip_pixels:   # generated whole, before data.size / max_frames apply
        raise too_big(f"data={cfg.name}: {n} frames of {cfg.frame_size}x{cfg.frame_size}", n * cfg.frame_size ** 2,
                      cfg.max_clip_pixels, "data.max_clip_pixels")
    if cfg.name == "pendulum":
        out = generated.pendulum(n, cfg.frame_size, cfg.period)
    elif cfg.name == "flame":
        out = generated.flame(n, cfg.frame_size, cfg.seed)
    else:
        out = generated.sprite(n, cfg.frame_size, cfg.seed)
    keep = _selection(len(out["frames"]), cfg)
    frames = np.stack([_transform(f, cfg) for f in out["frames"][keep]])
    truth = {k: (v[keep] if isinstance(v, np.ndarray) and len(v) == n else v) for k, v in out["truth"].items()}
    return _checked(Clip(frames, float(cfg.fps or out["fps"]), cfg.name, truth), f"data={cfg.name}")


def _selection(n: int, cfg: ClipConfig) -> np.ndarray:
    keep = np.arange(cfg.start, n, cfg.stride)
    return keep[: cfg.max_frames] if cfg.max_frames else keep


def _wanted(i: int, cfg: ClipConfig, kept: int) -> tuple[bool, bool]:
    """(keep frame i, stop decoding) under start / stride / max_frames."""
    done = cfg.max_frames is not None and kept >= cfg.max_frames
    return (not done and i >= cfg.start and (i - cfg.start) % cfg.stride == 0), done


def _transform(frame: np.ndarray, cfg: ClipConfig) -> np.ndarray:
    """One decoded frame (H, W, 3) uint8 -> cropped, resized, grey as configured: (h, w, C) uint8."""
    if cfg.crop is None and cfg.size is None and not cfg.grey:
        return frame
    img = Image.fromarray(frame)
    if cfg.crop is not None:
        top, left, h, w = (int(v) for v in cfg.crop)
        if top + h > img.height or left + w > img.width:
            raise ConfigError(f"data.crop={cfg.crop} reaches outside the {img.width}x{img.height} frame")
        img = img.crop((left, top, left + w, top + h))
    if cfg.size is not None:
        if cfg.size < 2:
            raise ConfigError(f"data.size={cfg.size}: expected at least 2 pixels")
        img = img.resize(_sized(img.width, img.height, cfg.size), Image.BOX)
    if cfg.grey:
        return np.asarray(img.convert("L"))[..., None]
    return np.asarray(img)


def _sized(w: int, h: int, size: int) -> tuple[int, int]:
    """(w, h) scaled so the longer side is `size` (data.size)."""
    scale = size / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def read_clip(path, cfg: ClipConfig | None = None, key: str = "data.path", name: str | None = None) -> Clip:
    """Frames of a file (by extension: Pillow for GIF / APNG / WebP, PyAV for video) or a folder of frames."""
    cfg = cfg or ClipConfig(name="video_file")
    p = Path(str(path)).expanduser()
    if not p.exists():
        raise DataError(f"{key}={path}: no such file or folder (expected a GIF / APNG / MP4 / AVI / MOV file or a "
                        f"folder of frames)")
    if p.is_dir():
        frames, fps = _read_folder(p, cfg, key)
    elif p.suffix.lower() in PILLOW_EXT:
        frames, fps = _read_pillow(p, cfg, key)
    else:   # video by extension, or anything else FFmpeg may recognise from its contents
        frames, fps = _read_av(p, cfg, key)
    return _checked(Clip(frames, float(cfg.fps or fps), name or p.stem), f"{key}={path}")


def _checked(clip: Clip, where: str) -> Clip:
    if len(clip.frames) < 2:
        raise DataError(f"{where}: {len(clip.frames)} frame(s) after data.start / stride / max_frames; a video "
                        f"texture needs at least 2 (better: dozens)")
    return clip


class _Budget:
    """Frames x pixels kept so far of one clip, against data.max_clip_pixels."""

    def __init__(self, cfg: ClipConfig, where: str):
        self.cap, self.where, self.pixels, self.n = cfg.max_clip_pixels, where, 0, 0

    def predict(self, n_frames: int, w: int, h: int, cfg: ClipConfig) -> None:
        """Refuse before decoding when the frames start / stride / max_frames will keep, at the size crop /
        data.size will give them, already exceed the cap (a 6-frame 7000x7000 GIF once held 1.5 GB of
        frames before the running count refused it). n_frames 0: unknown (some video headers)."""
        if n_frames < 1:
            return
        kept = len(range(cfg.start, n_frames, cfg.stride))
        kept = min(kept, cfg.max_frames) if cfg.max_frames else kept
        if cfg.crop is not None:
            h, w = min(h, int(cfg.crop[2])), min(w, int(cfg.crop[3]))
        if cfg.size is not None and cfg.size >= 2:
            w, h = _sized(w, h, cfg.size)
        if kept * w * h > self.cap:
            raise too_big(f"{self.where}: the {kept} frames data.start / stride / max_frames keep of its {n_frames}, "
                          f"{w}x{h} each after data.crop / data.size (which choose fewer or smaller)", kept * w * h,
                          self.cap, "data.max_clip_pixels")

    def add(self, frame: np.ndarray) -> np.ndarray:
        self.pixels += frame.shape[0] * frame.shape[1]
        self.n += 1
        if self.pixels > self.cap:
            raise too_big(f"{self.where}: the frames kept ({self.n} so far, {frame.shape[1]}x{frame.shape[0]} each; "
                          f"data.size / data.max_frames / data.stride choose fewer)", self.pixels, self.cap,
                          "data.max_clip_pixels")
        return frame


def _frame_cap(w: int, h: int, cfg: ClipConfig, where: str) -> None:
    if w * h > cfg.max_pixels:
        raise too_big(f"{where}: each frame ({w}x{h})", w * h, cfg.max_pixels, "data.max_pixels")


def _read_pillow(p: Path, cfg: ClipConfig, key: str):
    try:
        img = Image.open(p)   # lazy: the header only (a GIF's logical screen is every frame's canvas)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise DataError(f"{key}={p}: cannot read it as an image ({e})") from None
    frames, durations, budget = [], [], _Budget(cfg, f"{key}={p}")
    with img:
        _frame_cap(*img.size, cfg, f"{key}={p}")
        try:
            if getattr(img, "n_frames", 1) < 2:
                raise DataError(f"{key}={p}: a single still image (1 frame); expected an animated GIF / APNG / WebP")
            budget.predict(img.n_frames, *img.size, cfg)   # n_frames parses the frame headers, decodes nothing
            for i, f in enumerate(ImageSequence.Iterator(img)):
                take, done = _wanted(i, cfg, len(frames))
                if done:
                    break
                if take:
                    frames.append(budget.add(_transform(np.asarray(f.convert("RGB")), cfg)))
                    durations.append(f.info.get("duration") or 0)
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            if isinstance(e, SeqgenError):   # ConfigError / DataError are ValueErrors too
                raise
            if len(frames) < 2:
                raise DataError(f"{key}={p}: cannot decode its frames ({type(e).__name__}: {e})") from None
            print(f"[seqgen] {p}: decoding stopped after {len(frames)} frames ({e})", flush=True)
    ms = np.median([d for d in durations if d]) if any(durations) else 40.0
    return _stack(frames, key, p), 1000.0 / ms * (1.0 / cfg.stride)


def _read_av(p: Path, cfg: ClipConfig, key: str):
    import av

    try:
        container = av.open(str(p))
    except av.error.FFmpegError as e:
        raise DataError(f"{key}={p}: FFmpeg cannot open it ({type(e).__name__}: {e}); expected a video file "
                        f"(MP4 / AVI / MOV / MKV / WebM) or a GIF") from None
    frames = []
    with container:
        if not container.streams.video:
            raise DataError(f"{key}={p}: no video stream in the file (streams: "
                            f"{[s.type for s in container.streams]})")
        stream = container.streams.video[0]
        _frame_cap(stream.codec_context.width or 0, stream.codec_context.height or 0, cfg, f"{key}={p}")
        budget = _Budget(cfg, f"{key}={p}")
        budget.predict(stream.frames or 0, stream.codec_context.width or 0, stream.codec_context.height or 0, cfg)
        stream.thread_type = "AUTO"                                   # decode frames in parallel
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        try:
            for i, f in enumerate(container.decode(stream)):
                take, done = _wanted(i, cfg, len(frames))
                if done:
                    break
                if take:
                    _frame_cap(f.width, f.height, cfg, f"{key}={p}")
                    frames.append(budget.add(_transform(f.to_ndarray(format="rgb24"), cfg)))
        except av.error.FFmpegError as e:
            if not frames:
                raise DataError(f"{key}={p}: cannot decode its video stream (codec "
                                f"{stream.codec_context.name!r}: {e})") from None
            print(f"[seqgen] {p}: decoding stopped after {len(frames)} frames ({e})", flush=True)
    return _stack(frames, key, p), rate / cfg.stride


def _read_folder(p: Path, cfg: ClipConfig, key: str):
    files = sorted(f for f in p.iterdir() if f.suffix.lower() in FRAME_EXT and not f.name.startswith("."))
    if not files:
        raise DataError(f"{key}={p}: no frames in the folder (expected files ending {', '.join(FRAME_EXT)})")
    frames, first, budget = [], None, _Budget(cfg, f"{key}={p}")
    with open_image(files[0], f"{key}={p}: frame {files[0].name}", cfg.max_pixels, "data.max_pixels",
                    decode=False) as img:
        budget.predict(len(files), *img.size, cfg)   # the first frame's header stands for all (checked below)
    for i, f in enumerate(files):
        take, done = _wanted(i, cfg, len(frames))
        if done:
            break
        if not take:
            continue
        with open_image(f, f"{key}={p}: frame {f.name}", cfg.max_pixels, "data.max_pixels") as img:
            rgb = np.asarray(img.convert("RGB"))
        if first is None:
            first = (f.name, rgb.shape[:2])
        elif rgb.shape[:2] != first[1]:
            raise DataError(f"{key}={p}: frames differ in size: {f.name} is {rgb.shape[1]}x{rgb.shape[0]}, "
                            f"{first[0]} is {first[1][1]}x{first[1][0]} (all frames must be the same size)")
        frames.append(budget.add(_transform(rgb, cfg)))
    return _stack(frames, key, p), 25.0 / cfg.stride


def _stack(frames: list, key: str, p: Path) -> np.ndarray:
    if not frames:
        raise DataError(f"{key}={p}: no frames decoded (check data.start / data.max_frames)")
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise DataError(f"{key}={p}: frames differ in size ({sorted(shapes)}); all frames must be the same size")
    return np.stack(frames)
