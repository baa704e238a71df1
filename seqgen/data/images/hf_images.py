"""Images with captions from a local `imagefolder` (metadata.jsonl) or any Hugging Face dataset.

Each image is converted to RGBA, centre-cropped to a square and resized to the high-res side
(size * factor) with Lanczos filtering; quantization to the palette happens in `images.py`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
from PIL import Image

from seqgen.core.errors import DataError
from seqgen.data.images.safe import open_image


def _square(im, side: int) -> np.ndarray:
    im = im.convert("RGBA")
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return np.asarray(im.resize((side, side), Image.LANCZOS))


def _undecoded(split, column):
    """The split with its image column left as {path, bytes}, so a bad file can be named."""
    import datasets

    try:
        return split.cast_column(column, datasets.Image(decode=False))
    except (ValueError, TypeError):   # not an Image feature (e.g. already arrays): decode as given
        return split


def _open(item, where: str, cfg, side: int):
    """A PIL image from a decoded image, or from {path, bytes}; an unreadable or oversized one is a
    DataError naming the file (decoded at most about 2 * side, see seqgen.data.images.safe)."""
    if not isinstance(item, dict):
        return item
    name = item.get("path") or where
    try:
        return open_image(item.get("bytes") or item["path"], name, cfg.max_pixels, "data.max_pixels", longest=side)
    except DataError as e:
        raise DataError(f"{e}; fix or remove it (and its metadata.jsonl line)") from None


def _metadata_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("metadata.*") if p.suffix in (".jsonl", ".csv"))


def check_file_names(folder: Path) -> None:
    """Every metadata file_name must name a file inside the folder: not absolute, no `..` (older
    `datasets` releases read such paths, newer ones refuse them with an unclear message). Names the
    metadata file and line."""
    for meta in _metadata_files(folder):
        i = 0
        try:
            with meta.open(encoding="utf-8", newline="") as f:
                if meta.suffix == ".jsonl":
                    names = []
                    for i, line in enumerate(f, 1):   # i: the line a decoding error names
                        if line.strip():
                            r = json.loads(line)
                            names.append((i, r.get("file_name") if isinstance(r, dict) else None))
                else:
                    names = [(i + 1, r.get("file_name")) for i, r in enumerate(csv.DictReader(f), 1)]
        except UnicodeDecodeError as e:
            raise DataError(f"{meta}: not UTF-8 ({e})") from None
        except json.JSONDecodeError as e:
            raise DataError(f"{meta}, line {i}: not a JSON object ({e.msg}, column {e.colno})") from None
        for line, name in names:
            if not isinstance(name, str) or not name:
                raise DataError(f"{meta}, line {line}: no \"file_name\" string (got {name!r})")
            posix, win = PurePosixPath(name), PureWindowsPath(name)
            if posix.is_absolute() or win.is_absolute() or win.drive or ".." in posix.parts or ".." in win.parts:
                raise DataError(f"{meta}, line {line}: file_name={name!r} points outside the folder {folder}; "
                                f"file names must be relative paths inside it (no leading /, no '..')")
    # a symbolic link inside the folder may point anywhere: every file read must resolve inside it
    inside = folder.resolve()
    for p in folder.rglob("*"):
        if p.is_symlink() and not p.resolve().is_relative_to(inside):
            raise DataError(f"{p}: a symbolic link to {p.resolve()}, outside the folder {folder}; copy the file "
                            f"in or remove the link")


def _load(cfg):
    import datasets

    if cfg.name == "imagefolder":
        if not cfg.path:
            raise DataError("data=imagefolder needs data.path: a folder of images with a metadata.jsonl "
                            "holding {\"file_name\": ..., \"text\": ...} per line")
        folder = Path(cfg.path).expanduser()
        if not (folder / "metadata.jsonl").is_file() and not any(folder.glob("*/metadata.jsonl")):
            raise DataError(f"data.path={cfg.path}: no metadata.jsonl there (expected the Hugging Face "
                            f"imagefolder layout: images + metadata.jsonl with file_name and "
                            f"{cfg.caption_column} fields)")
        check_file_names(folder)
        try:
            return datasets.load_dataset("imagefolder", data_dir=str(folder)), str(folder)
        except Exception as e:
            raise DataError(f"could not read imagefolder data.path={cfg.path}: {e}") from e
    if not cfg.hf_name:
        raise DataError("data=hf_images needs data.hf_name (a hub id or a local dataset folder)")
    try:
        return datasets.load_dataset(cfg.hf_name, cfg.hf_config or None), cfg.hf_name
    except Exception as e:
        raise DataError(f"could not load Hugging Face dataset data.hf_name={cfg.hf_name!r}: {e}") from e


def load_image_splits(cfg) -> dict:
    """-> {split: (rgba (N, S, S, 4) uint8, [[caption]])}; valid is carved from train when absent."""
    ds, where = _load(cfg)
    side = cfg.size * cfg.factor
    out = {}
    for split, key in (("train", cfg.train_split), ("valid", cfg.valid_split), ("test", cfg.test_split)):
        if not key or key not in ds:
            continue
        cols = ds[key].column_names
        for col, what in ((cfg.image_column, "data.image_column"), (cfg.caption_column, "data.caption_column")):
            if col not in cols:
                raise DataError(f"{what}={col!r} is not a column of {where}[{key}]; columns: {cols}")
        rows = _undecoded(ds[key], cfg.image_column)
        rgba = [_square(_open(im, f"{where}[{key}] row {i}", cfg, side), side)
                for i, im in enumerate(rows[cfg.image_column])]
        caps = [[str(t)] for t in rows[cfg.caption_column]]
        out[split] = (np.stack(rgba) if rgba else np.zeros((0, side, side, 4), np.uint8), caps)
    if "train" not in out:
        raise DataError(f"{where} has no split data.train_split={cfg.train_split!r}; splits: {list(ds)}")
    if "valid" not in out:
        rgba, caps = out["train"]
        n_valid = max(1, int(round(len(caps) * cfg.valid_frac))) if len(caps) > 1 else 0
        order = np.random.default_rng(cfg.seed).permutation(len(caps))
        v, t = sorted(order[:n_valid]), sorted(order[n_valid:])
        out["valid"] = (rgba[v], [caps[i] for i in v])
        out["train"] = (rgba[t], [caps[i] for i in t])
    return out
