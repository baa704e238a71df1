"""Evaluate any checkpoint on a prepared split, in units that compare across models.

    text (n-gram, GPT):  bits per character of the split's text, whatever the tokenizer: the total
                         code length of the text in bits divided by its characters. Word-level models
                         also report perplexity per token on their closed vocabulary (<unk> for rare
                         words; the n-gram's </s> stands where the GPT predicts the newline token).
    text2pixel:          bits per pixel-token (and the pixel n-gram's beside it), caption fidelity
                         with and without guidance on generated shapes.
    upsampler:           bits per high-res token, token accuracy / PSNR / consistency beside the
                         nearest and bicubic baselines.

The data to score is found from the checkpoint's own config (dataset, tokenizer settings), so a
checkpoint and `data_root` are all a user needs. scripts/evaluate.py and scripts/ladder.py call this.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqgen.config import ConfigError


@dataclass
class EvaluateConfig:
    ckpt: str | None = None
    split: str = "auto"              # auto: test when the dataset has one, else valid
    data_root: str = "data"
    device: str = "auto"
    batch_size: int = 32
    max_tokens: int | None = None    # text: score only the first this-many tokens of the split
    images: int | None = 500         # text2pixel: images for bits per pixel-token (null: all)
    fidelity_images: int = 200       # text2pixel on shapes: captions drawn per fidelity score (0: skip)
    guidance: float | None = 3.0     # text2pixel: the guided fidelity's scale (unguided is also reported)
    upsample_images: int = 32        # upsampler: held-out images upsampled and compared
    seed: int = 0
    out: str | None = None           # also write the figures as JSON here


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _pick_split(available: list[str], split: str, where) -> str:
    if split == "auto":
        return "test" if "test" in available else "valid"
    if split not in available:
        raise ConfigError(f"split={split!r}: the dataset of {where} has splits {available}")
    return split


def ngram_text_scores(model, tokenizer, text: str) -> dict:
    """An n-gram on every line of `text` (one </s> per line codes its newline) -> bits per character
    and per-token perplexity, KenLM's conventions otherwise."""
    from seqgen.data.sources import text_lines
    from seqgen.models.ngram import perplexity

    lines = text_lines(text)
    r = perplexity(model, [np.asarray(tokenizer.encode(ln), np.int64) for ln in lines])
    bits = -r["log10_sum"] * math.log2(10)
    chars = sum(len(ln) + 1 for ln in lines)
    return {"bpc": bits / chars, "ppl": r["ppl"], "bits_per_token": r["bits_per_token"], "tokens": r["tokens"],
            "chars": chars, "oov": r["oov"]}


def gpt_text_scores(model, tokens: np.ndarray, chars_per_token: float, batch_size: int, device) -> dict:
    """A GPT over the split's token stream in non-overlapping windows of its context."""
    from seqgen.evaluation import evaluate_lm

    r = evaluate_lm(model, tokens, model.config.block_size, batch_size, device, None, chars_per_token, "x")
    return {"bpc": r["x/bpc"], "ppl": r["x/ppl"], "bits_per_token": r["x/bits_per_token"],
            "tokens": int(len(tokens) - 1), "chars": round(chars_per_token * len(tokens))}


def _evaluate_text(ec: EvaluateConfig, model, tokenizer, state, device) -> dict:
    from seqgen.config import build
    from seqgen.data.prepare import DataConfig, prepare
    from seqgen.data.sources import load_splits

    dc = build(DataConfig, dict(state["config"]["data"]), "data")
    data = prepare(dc, ec.data_root, verbose=False)
    available = [s for s, n in data.meta["tokens"].items() if n]
    split = _pick_split(available, ec.split, ec.ckpt)
    out = {"model": state["model_name"], "data": dc.name, "tokenizer": dc.tokenizer, "split": split}
    if state["model_name"] == "ngram":
        text = load_splits(dc, Path(ec.data_root).expanduser() / "raw")[split]
        if ec.max_tokens:   # a prefix of the split, cut at a line end
            text = text[: text.rfind("\n", 0, int(ec.max_tokens * data.chars_per_token(split))) + 1]
        out.update(ngram_text_scores(model, tokenizer, text))
    else:
        tokens = np.asarray(data.tokens(split))
        if ec.max_tokens:
            tokens = tokens[: ec.max_tokens + 1]
        out.update(gpt_text_scores(model, tokens, data.chars_per_token(split), ec.batch_size, device))
    if dc.tokenizer != "word":
        out.pop("ppl")   # per-character or per-BPE-piece perplexity is not a word-level figure
    return out


def _image_data(ec: EvaluateConfig, state):
    """The image dataset a checkpoint was trained on (prepared if needed) -> (data, split, row)."""
    from seqgen.config import build
    from seqgen.data.images.prepare import ImageDataConfig, prepare_images

    dc = build(ImageDataConfig, dict(state["config"]["data"]), "data")
    data = prepare_images(dc, ec.data_root, verbose=False)
    split = _pick_split([s for s in ("train", "valid", "test") if data.count(s)], ec.split, ec.ckpt)
    return data, split, {"model": state["model_name"], "data": dc.name, "split": split}


def _evaluate_pixels(ec: EvaluateConfig, model, state, device) -> dict:
    from seqgen.models.pixel_ngram import PixelNGram
    from seqgen.pixel_run import evaluate_pixels, fidelity, spread

    data, split, out = _image_data(ec, state)
    out["bits_per_pixel"] = evaluate_pixels(model, data, split, ec.batch_size, device, ec.images, "x")["x/bits_per_pixel"]
    lo = data.lo(split)
    out["ngram_bits_per_pixel"] = PixelNGram(data.codec.size).fit(data.lo("train")).bits_per_pixel(
        lo[spread(len(lo), ec.images)])
    if out["data"] == "shapes" and ec.fidelity_images:
        for name, g in (("fidelity", ec.guidance), ("fidelity_noguide", None)):
            t0 = time.perf_counter()
            scores = fidelity(model, data, ec.fidelity_images, g, device, ec.seed, split=split)
            out[name] = scores["mean"]
            out[f"{name}_all"] = scores["all"]
            out[f"{name}_seconds"] = time.perf_counter() - t0
    return out


def _evaluate_upsampler(ec: EvaluateConfig, model, state, device) -> dict:
    from seqgen.upsample_run import compare, evaluate_upsampler

    data, split, out = _image_data(ec, state)
    out["bits_per_token"] = evaluate_upsampler(model, data, split, device, ec.upsample_images)[f"{split}/bits_per_token"]
    pixels = state["config"].get("pixels", {})
    scores, _, _ = compare(model, data, split, ec.upsample_images, device, ec.seed,
                           pixels.get("temperature", 1.0), pixels.get("top_k"), pixels.get("retries", 3))
    out.update(scores)
    return out


def evaluate_checkpoint(ec: EvaluateConfig) -> dict:
    """-> a flat dict of figures for one checkpoint (see the module docstring for the units)."""
    from seqgen.run import load_model

    if not ec.ckpt:
        raise ConfigError("ckpt is required: python scripts/evaluate.py ckpt=outputs/<run>/checkpoints/last.pt")
    if not Path(ec.ckpt).is_file():
        raise ConfigError(f"ckpt={ec.ckpt}: no such checkpoint file")
    device = _device(ec.device)
    model, tokenizer, state = load_model(ec.ckpt, device)
    task = getattr(model, "task", "text")
    if state["model_name"] == "word2vec":
        raise ConfigError("word2vec checkpoints are embeddings, not language models: their analogy and "
                          "similarity scores are in the checkpoint's metrics (python scripts/sample.py "
                          "ckpt=... prompt=king queries them)")
    t0 = time.perf_counter()
    with torch.no_grad():
        if task == "pixels":
            out = _evaluate_pixels(ec, model, state, device)
        elif task == "upsample":
            out = _evaluate_upsampler(ec, model, state, device)
        else:
            out = _evaluate_text(ec, model, tokenizer, state, device)
    out["step"] = state.get("step", 0)
    out["eval_seconds"] = time.perf_counter() - t0
    return out
