"""What every tab of the demo shares: the error boundary (one clear message in the page, never a
traceback), upload limits, finding checkpoints under outputs/, a model cache, image conversions.

Nothing here imports gradio at module level: the compute functions of the tabs run (and are tested)
without it; only `guarded` reaches for gradio when it turns an exception into `gr.Error`.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import shutil
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from PIL import Image

from seqgen import families
from seqgen.app.load import load_model
from seqgen.core.errors import ConfigError, DataError, SeqgenError


@dataclass
class Limits:
    """Upload limits: a larger file, picture or clip is refused with a message naming the limit."""

    max_bytes: int = 20 * 2 ** 20     # any uploaded file (also gradio's own max_file_size)
    max_pixels: int = 1024 * 1024     # an uploaded picture: height x width
    max_frames: int = 600             # an uploaded clip, after the frame range
    max_text_chars: int = 5_000_000   # an uploaded text


@dataclass
class DemoContext:
    """Where the demo looks for models and data, and its limits (scripts/demo.py fills it)."""

    outputs: Path = Path("outputs")
    data_root: Path = Path("data")
    limits: Limits = None
    device: str = "cpu"
    threads: int | None = 1     # torch threads per request: the queue runs two at a time on a 2-core
    #                             machine, and a second thread per request only waits for a busy core

    def __post_init__(self):
        self.outputs, self.data_root = Path(self.outputs), Path(self.data_root)
        self.limits = self.limits or Limits()


# ---- the error boundary ---------------------------------------------------------------------------------

def as_gr_error(e: BaseException):
    """An exception -> gr.Error with one line. Input errors keep their message; anything else is a bug
    in seqgen: its traceback goes to the server's console, the page gets its type and first line."""
    import gradio as gr

    if isinstance(e, gr.Error):
        return e
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:500]
    if isinstance(e, (SeqgenError, ValueError, FileNotFoundError)):
        return gr.Error(first, print_exception=False)
    traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
    return gr.Error(f"{type(e).__name__}: {first} (an unexpected error in seqgen: the server's console has the "
                    f"traceback; please report it)", print_exception=False)


def guarded(fn):
    """Wrap a tab's function (or generator) so every failure reaches the page as one gr.Error."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as e:   # noqa: BLE001 - the boundary: one message in the page
                raise as_gr_error(e) from None
        return gen

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:   # noqa: BLE001
            raise as_gr_error(e) from None
    return call


class Progress:
    """A callable fraction -> gr.Progress, or nothing when the function runs outside gradio."""

    def __init__(self, progress=None, desc: str = ""):
        self.progress, self.desc = progress, desc

    def __call__(self, fraction: float, desc: str | None = None):
        if self.progress is not None:
            self.progress(min(max(float(fraction), 0.0), 1.0), desc=desc or self.desc)


# ---- uploads ----------------------------------------------------------------------------------------------

_OUTPUTS: dict = {}
_OUTPUTS_LOCK = threading.Lock()
KEEP_OUTPUTS = 16   # answers whose files stay on disk (Gradio has copied each into its cache by then)


def fresh_output_folder() -> Path:
    """A new folder for one answer's files, inside this process's one demo folder (removed at exit);
    the folders of all but the last KEEP_OUTPUTS answers are removed, so a long-running demo does not
    fill the disk."""
    with _OUTPUTS_LOCK:
        if "root" not in _OUTPUTS:
            _OUTPUTS["root"] = Path(tempfile.mkdtemp(prefix="seqgen_demo_"))
            _OUTPUTS["n"] = 0
            atexit.register(shutil.rmtree, _OUTPUTS["root"], True)
        _OUTPUTS["n"] += 1
        n, root = _OUTPUTS["n"], _OUTPUTS["root"]
    out = root / f"{n:06d}"
    out.mkdir()
    for old in sorted(root.iterdir())[:-KEEP_OUTPUTS]:
        shutil.rmtree(old, ignore_errors=True)
    return out


def upload_path(value, what: str, limits: Limits) -> Path | None:
    """The local path of an uploaded file (gradio gives a str or a dict with 'path'); None if none;
    a file over the byte limit is refused."""
    if value is None or value == "":
        return None
    path = Path(value["path"] if isinstance(value, dict) else value)
    if not path.is_file():
        raise DataError(f"{what}: the uploaded file {path.name} is gone; upload it again")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise DataError(f"{what}: {path.name} is {_size(size)}; the demo takes files up to {_size(limits.max_bytes)}")
    return path


def _size(n: int) -> str:
    return f"{n / 2 ** 20:.1f} MiB" if n >= 2 ** 20 else f"{n / 1024:.1f} KiB"


def check_pixels(img: np.ndarray, what: str, limits: Limits) -> np.ndarray:
    h, w = img.shape[:2]
    if h * w > limits.max_pixels:
        raise DataError(f"{what} is {w}x{h} = {h * w:,} pixels; the demo takes pictures up to {limits.max_pixels:,} "
                        f"pixels (e.g. {int(limits.max_pixels ** 0.5)}x{int(limits.max_pixels ** 0.5)}): scale it down")
    return img


def rgb_float(img, what: str, limits: Limits) -> np.ndarray:
    """A picture from gradio (uint8 (H, W), (H, W, 3) or (H, W, 4)) -> (H, W, 3) floats in [0, 1];
    transparent pixels over white."""
    if img is None:
        raise DataError(f"{what}: no picture given; upload one or pick an example")
    a = np.asarray(img)
    check_pixels(a, what, limits)
    a = a.astype(np.float64) / (255.0 if a.dtype == np.uint8 or a.max() > 1.0 else 1.0)
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[2] == 4:
        a = a[..., :3] * a[..., 3:] + (1.0 - a[..., 3:])
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return a[..., :3]


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] -> uint8 (what gradio shows)."""
    return np.clip(np.asarray(img) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def resize_longer(img: np.ndarray, side: int) -> np.ndarray:
    """(H, W, 3) floats scaled so the longer side is `side` pixels (Lanczos); unchanged if it already is."""
    if max(img.shape[:2]) == side:
        return img

    h, w = img.shape[:2]
    f = side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return np.asarray(Image.fromarray(to_uint8(img)).resize(size, Image.LANCZOS), np.float64) / 255.0


def enlarge(img: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement of a small picture so the browser shows its pixels as squares."""
    return np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)


# ---- checkpoints ------------------------------------------------------------------------------------------

def family_of_folder(folder: Path) -> str | None:
    """The family a run folder (config.yaml: model.name) or a pretrained folder (config.json) holds."""
    cfg = folder / "config.yaml"
    if cfg.is_file():
        try:
            return str(OmegaConf.load(cfg).get("model", {}).get("name") or "") or None
        except Exception:   # noqa: BLE001 - an unreadable config only hides this run from the list
            return None
    meta = folder / "config.json"
    if meta.is_file():
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            return None
        for key in ("family", "model_name"):
            if isinstance(data.get(key), str):
                return data[key]
    return None


def find_checkpoints(outputs: Path, family: str) -> list[str]:
    """Every loadable model of `family` under outputs/: run folders' checkpoints/last.pt (multirun
    jobs included) and pretrained folders, newest first."""
    found = []
    if not Path(outputs).is_dir():
        return []
    for last in Path(outputs).glob("**/checkpoints/last.pt"):
        if family_of_folder(last.parent.parent) == family:
            found.append(last)
    for meta in Path(outputs).glob("**/config.json"):
        if not (meta.parent / "config.yaml").is_file() and family_of_folder(meta.parent) == family:
            found.append(meta.parent)
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [str(p) for p in found]


_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


MODEL_LABEL = "model (checkpoint, run or pretrained folder, hf:user/repo)"


def model_picker(ctx, family: str, about: str, missing: str, label: str = MODEL_LABEL, extra=()):
    """A tab's opening: its explanation (plus `missing`, naming the command that makes a model, when
    outputs/ holds none of `family`) and a dropdown of the models found, newest first, that also takes a
    typed path, pretrained folder or Hub id. -> the dropdown."""
    import gradio as gr

    found = find_checkpoints(ctx.outputs, family)
    gr.Markdown(about + ("" if found else missing))
    choices = found + list(extra)
    return gr.Dropdown(choices, value=choices[0] if choices else None, allow_custom_value=True, label=label)


def load_cached(path: str, device: str = "cpu"):
    """(model, tokenizer, state, family record) through seqgen's one loading function (checkpoint files,
    run folders, pretrained folders and Hub ids alike), cached by path and modification time."""
    if not path or not str(path).strip():
        raise ConfigError("no model chosen: pick one from the list or type a checkpoint path, a pretrained "
                          "folder or a Hub id (hf:user/repo)")
    path = str(path).strip()
    p = Path(path)
    if p.is_dir() and (p / "checkpoints" / "last.pt").is_file():   # a run folder: its newest checkpoint
        p = p / "checkpoints" / "last.pt"
    key = (str(p), p.stat().st_mtime if p.exists() else None, device)
    with _CACHE_LOCK:
        if key not in _CACHE:
            model, tokenizer, state = load_model(str(p), device)
            _CACHE[key] = (model, tokenizer, state, families.get(state["model_name"]))
        return _CACHE[key]


def expect_family(loaded, family: str, path: str, command: str):
    """The family record of a loaded model, refusing one of another family with the command that makes
    the right kind."""
    fam = loaded[3]
    if fam.name != family:
        raise ConfigError(f"{path} holds a '{fam.name}' model; this tab needs a '{family}' one ({command})")
    return fam
