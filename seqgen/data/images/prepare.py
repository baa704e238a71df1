"""Captioned image datasets as palette tokens: shapes, emoji, a local imagefolder, any HF dataset.

Prepared once per (config) fingerprint under `<data_root>/`:
    {split}_lo.npy  (N, 32, 32) uint8 palette indices      {split}_hi.npy  (N, 128, 128) uint8
    {split}_captions.json  [[caption, ...] per image]      {split}_scenes.json  (shapes: ground truth)
    codec.json (palette)   tokenizer.json (caption words)  meta.json (written last)
Low-res images are the high-res ones reduced by the fixed 4x rule (`pixels.reduce_blocks`), so every
pair also trains the upsampler. Captions longer than `caption_len` tokens are truncated at preparation
(the count is printed and kept in meta.json); at sampling time a too-long prompt is an error.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from seqgen.core.errors import ConfigError, DataError
from seqgen.core.schema import key
from seqgen.data.identity import fingerprint, identity
from seqgen.data.images import emoji as E
from seqgen.data.images import shapes as S
from seqgen.data.images.codec import PixelCodec, reduce_blocks
from seqgen.data.images.hf_images import load_image_splits
from seqgen.data.sources import ASSETS, fetch_packaged
from seqgen.data.tokenizer import Tokenizer, WordTokenizer

IMAGE_DATASETS = ("shapes", "emoji", "imagefolder", "hf_images")
# bumped when a generator's output changes, so an old prepared copy is never reused by mistake
GENERATOR_VERSION = {"shapes": 3, "emoji": 2}
SPLITS = ("train", "valid", "test")
# the deterministic checker that reads a drawing of the dataset back (families key their caption-fidelity
# scorers by it): shapes' captions name each object's shape / colour / size / position (fidelity.py),
# emoji's scenes name their glyphs (glyphs.py); folders and hub datasets carry no ground truth
CHECKERS = {"shapes": "shapes", "emoji": "glyphs"}


@dataclass
class ImageDataConfig:
    name: str = "shapes"            # shapes | emoji | imagefolder | hf_images
    size: int = key(32, ge=4)       # low-res side in tokens; the high-res side is size * factor
    factor: int = key(4, ge=2)
    palette_size: int = key(16, ge=2, le=36)   # k-means colours (emoji, folders); shapes use their own 11
    caption_len: int = key(32, ge=1)   # caption slot in tokens; longer captions are truncated when prepared
    seed: int = 0
    n_train: int = key(20000, ge=1)    # shapes: images per split
    n_valid: int = key(500, ge=0)
    n_test: int = key(500, ge=0)
    n_scenes: int = key(6000, ge=0)    # emoji: two-glyph scenes (valid / test get n_scenes // 20 each)
    max_glyphs: int | None = key(None, ge=2)   # emoji: use a random subset of glyphs (tests)
    emoji_set: str = key("nature_food", choices=("nature_food", "all"))   # emoji: animals, plants, food | all
    path: str | None = None         # imagefolder: a folder of images + metadata.jsonl (file_name, text)
    hf_name: str | None = None      # hf_images: a hub id or local dataset folder
    hf_config: str | None = None
    image_column: str = "image"
    caption_column: str = "text"
    train_split: str = "train"
    valid_split: str = "validation"
    test_split: str = "test"
    valid_frac: float = key(0.05, ge=0, lt=1)   # carved from train when the dataset has no validation split
    max_pixels: int = key(50_000_000, ge=1)    # imagefolder / hf_images: refuse larger images (decompression bombs)

    kind = "image"

    @staticmethod
    def names() -> list[str]:
        return list(IMAGE_DATASETS)

    def prepare_into(self, data_root) -> str:
        """Render / read and quantise the images into data_root now (train.py does it on first use)."""
        return f"prepared: {prepare_images(self, data_root).dir}"


@dataclass
class PreparedImages:
    dir: Path
    tokenizer: Tokenizer
    codec: PixelCodec
    meta: dict

    @property
    def caption_len(self) -> int:
        return self.meta["caption_len"]

    @property
    def checker(self) -> str | None:
        """Which checker reads its drawings back (CHECKERS; None: no ground truth). meta.json declares
        it; folders prepared before it did take their dataset's."""
        return self.meta["checker"] if "checker" in self.meta else CHECKERS.get(self.meta.get("dataset"))

    def count(self, split: str) -> int:
        return self.meta["images"].get(split, 0)

    def _check(self, split):
        if self.count(split) == 0:
            raise DataError(f"dataset in {self.dir} has no '{split}' images "
                            f"(splits with images: {[s for s, n in self.meta['images'].items() if n]})")

    def lo(self, split: str) -> np.ndarray:
        self._check(split)
        return np.load(self.dir / f"{split}_lo.npy", mmap_mode="r")

    def hi(self, split: str) -> np.ndarray:
        self._check(split)
        return np.load(self.dir / f"{split}_hi.npy", mmap_mode="r")

    def captions(self, split: str) -> list[list[str]]:
        self._check(split)
        return json.loads((self.dir / f"{split}_captions.json").read_text())

    def scenes(self, split: str) -> list[dict] | None:
        p = self.dir / f"{split}_scenes.json"
        return json.loads(p.read_text()) if p.is_file() else None


def check_same_images(data: "PreparedImages", state: dict, where) -> None:
    """A checkpoint is scored in its own palette: refuse data whose palette changed since training
    (a dataset's images were replaced), since the same indices would mean other colours."""
    if "codec" in state and PixelCodec.from_json(state["codec"]).to_json() != data.codec.to_json():
        raise DataError(f"the images of data.name={data.meta['dataset']} changed since {where} was trained: the "
                        f"palette fitted to them now differs from the checkpoint's, so its palette indices would "
                        f"mean other colours. Evaluate on the training images, or retrain")


def encode_caption(tokenizer: Tokenizer, text: str, caption_len: int, strict: bool = True) -> list[int]:
    """Caption -> exactly caption_len ids, padded with <pad> (= tokenizer.vocab_size).

    strict (a user's prompt): an empty caption or one longer than caption_len is a ConfigError;
    otherwise (dataset captions) it is truncated as it was for training.
    """
    ids = tokenizer.encode(text)
    if strict and not ids:
        raise ConfigError("prompt: the caption is empty: give a prompt (for unconditional samples use guidance "
                         "with the null caption: prompt is still required)")
    if len(ids) > caption_len:
        if strict:
            raise ConfigError(f"prompt: the caption has {len(ids)} tokens, the model's caption slot holds "
                              f"{caption_len}: shorten it ({text!r})")
        ids = ids[:caption_len]
    return ids + [tokenizer.vocab_size] * (caption_len - len(ids))


def unknown_words(tokenizer: Tokenizer, text: str) -> list[str]:
    """Words of text that the caption vocabulary maps to <unk>."""
    words = WordTokenizer.tokenize(text, tokenizer.split, tokenizer.lowercase)
    return [w for w in words if (w.lower() if tokenizer.lowercase else w) not in tokenizer.stoi]


def data_identity(cfg: ImageDataConfig) -> dict:
    """The config, the generator's version (shapes, emoji) and, for a local folder, every image's
    name, size and modification time (seqgen.data.identity): replaced images are prepared anew."""
    return identity(cfg, folders={"data.path": cfg.path if cfg.name == "imagefolder" else None},
                    generator_version=GENERATOR_VERSION.get(cfg.name, 0))


def prepared_dir(cfg: ImageDataConfig, data_root) -> Path:
    return Path(data_root).expanduser() / f"{cfg.name}-{cfg.size}px-{fingerprint(data_identity(cfg))}"


def load_prepared(path) -> PreparedImages:
    path = Path(path)
    if not (path / "meta.json").is_file():
        raise DataError(f"{path} is not a prepared image dataset (no meta.json)")
    meta = json.loads((path / "meta.json").read_text())
    codec = PixelCodec.from_json((path / "codec.json").read_text())
    return PreparedImages(path, Tokenizer.load(path / "tokenizer.json"), codec, meta)


def _raw_splits(cfg: ImageDataConfig, raw_root: Path):
    """-> ({split: {"hi": (N, S, S) uint8, "captions": [[str]], "scenes": [...] | None}}, codec)."""
    if cfg.name == "shapes":
        if cfg.size * cfg.factor != S.HI or cfg.factor != S.FACTOR:
            raise DataError(f"data=shapes renders 128x128 reduced 4x: keep data.size=32, data.factor=4 "
                            f"(got size={cfg.size}, factor={cfg.factor})")
        out = {}
        for i, (split, n, held) in enumerate((("train", cfg.n_train, False), ("valid", cfg.n_valid, False),
                                              ("test", cfg.n_test, True))):
            d = S.generate(n, cfg.seed * 1000 + i, held)
            out[split] = {"hi": d["hi"], "captions": d["captions"], "scenes": d["scenes"]}
        return out, S.codec()
    if cfg.name == "emoji":
        if cfg.size * cfg.factor != 128:
            raise DataError("data=emoji renders 128x128 glyphs: keep data.size * data.factor = 128")
        font = fetch_packaged("openmoji_font", ASSETS["openmoji_font"], raw_root)
        rgba = E.build(font, cfg.n_scenes, cfg.seed, cfg.max_glyphs, cfg.emoji_set)
        out, codec = _quantized(cfg, {s: (d["rgba"], d["captions"]) for s, d in rgba.items()})
        for s, d in rgba.items():
            out[s]["scenes"] = d["scenes"]
        return out, codec
    if cfg.name in ("imagefolder", "hf_images"):
        return _quantized(cfg, load_image_splits(cfg))
    raise DataError(f"unknown image dataset data.name={cfg.name!r}; known: {list(IMAGE_DATASETS)}")


def _quantized(cfg: ImageDataConfig, splits: dict):
    """{split: (rgba (N, S, S, 3|4), captions)} -> fit the palette on train, quantize every split."""
    train_rgba = splits["train"][0]
    pick = np.random.default_rng(cfg.seed).permutation(len(train_rgba))[:2000]
    codec = PixelCodec.fit([train_rgba[i] for i in pick], k=cfg.palette_size, seed=cfg.seed)
    out = {}
    for split, (rgba, caps) in splits.items():
        hi = np.stack([codec.quantize(im) for im in rgba]) if len(rgba) else np.zeros((0, 128, 128), np.uint8)
        out[split] = {"hi": hi, "captions": caps, "scenes": None}
    return out, codec


def prepare_images(cfg: ImageDataConfig, data_root, verbose: bool = True) -> PreparedImages:
    ident = data_identity(cfg)
    out = Path(data_root).expanduser() / f"{cfg.name}-{cfg.size}px-{fingerprint(ident)}"
    if (out / "meta.json").is_file():
        return load_prepared(out)
    if verbose:
        print(f"[seqgen] preparing image dataset '{cfg.name}' into {out}", flush=True)
    raw, codec = _raw_splits(cfg, Path(data_root).expanduser() / "raw")
    if len(raw["train"]["hi"]) == 0:
        raise DataError(f"image dataset '{cfg.name}': the train split is empty")
    tok = WordTokenizer.fit([c for caps in raw["train"]["captions"] for c in caps], lowercase=True)
    lengths = [len(tok.encode(c)) for d in raw.values() for caps in d["captions"] for c in caps]
    if min(lengths) == 0:
        raise DataError(f"image dataset '{cfg.name}' has an empty caption; every image needs a caption")
    caption_len = min(cfg.caption_len, max(lengths))
    truncated = sum(n > caption_len for n in lengths)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"dataset": cfg.name, "size": cfg.size, "factor": cfg.factor, "caption_len": caption_len,
            "captions_truncated": truncated, "palette_size": codec.size, "images": {}, "config": asdict(cfg),
            "identity": ident, "checker": CHECKERS.get(cfg.name)}
    for split in SPLITS:
        side = cfg.size * cfg.factor
        d = raw.get(split) or {"hi": np.zeros((0, side, side), np.uint8), "captions": [], "scenes": None}
        hi = np.ascontiguousarray(d["hi"], dtype=np.uint8)
        np.save(out / f"{split}_hi.npy", hi)
        np.save(out / f"{split}_lo.npy", reduce_blocks(hi, cfg.factor) if len(hi) else
                np.zeros((0, cfg.size, cfg.size), np.uint8))
        (out / f"{split}_captions.json").write_text(json.dumps(d["captions"]))
        if d.get("scenes") is not None:
            (out / f"{split}_scenes.json").write_text(json.dumps(d["scenes"]))
        meta["images"][split] = int(len(hi))
    (out / "codec.json").write_text(codec.to_json())
    tok.save(out / "tokenizer.json")
    tmp = out / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, out / "meta.json")
    if verbose:
        print(f"[seqgen] images {meta['images']}, palette {codec.size} colours, caption vocab "
              f"{tok.vocab_size}, caption slot {caption_len} tokens"
              + (f", {truncated} caption(s) truncated" if truncated else ""), flush=True)
    return PreparedImages(out, tok, codec, meta)


class ImageBatches:
    """Random (caption ids (B, Lc), pixels (B, H*W)) batches: a random image, then one of its captions.

    The generator is the whole state, so resume is exact.
    """

    def __init__(self, data: PreparedImages, split: str, batch_size: int, seed: int):
        # (N, H*W) uint8 read in place from the memory-mapped .npy; a batch's rows become int64 in next()
        self.images = data.lo(split).reshape(data.count(split), -1)
        caps = data.captions(split)
        ids = [encode_caption(data.tokenizer, c, data.caption_len, strict=False) for cs in caps for c in cs]
        self.text = torch.tensor(ids, dtype=torch.long)                       # (M, Lc)
        counts = torch.tensor([len(cs) for cs in caps])
        self.first = torch.cumsum(counts, 0) - counts                          # (N,) first caption row
        self.counts = counts
        self.batch_size = batch_size
        self.block_size = self.images.shape[1] + data.caption_len              # slots per sequence
        self.generator = torch.Generator().manual_seed(seed)

    def next(self):
        g = self.generator
        i = torch.randint(len(self.images), (self.batch_size,), generator=g)
        j = (torch.rand(self.batch_size, generator=g) * self.counts[i]).long()
        return self.text[self.first[i] + j], torch.from_numpy(self.images[i.numpy()].astype(np.int64))

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])
