"""Wiring for caption -> image models: data, evaluation (bits per pixel-token, caption fidelity,
the pixel n-gram baseline), sample grids, and sampling from a checkpoint.

`pixel_task` plugs into run.py's shared training wiring; `draw` is also what scripts/sample.py uses.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from seqgen.core import distributed as D
from seqgen.config import ConfigError, RunSpec
from seqgen.data.images.prepare import (ImageBatches, ImageDataConfig, PreparedImages, encode_caption, load_prepared,
                                prepare_images, prepared_dir)
from seqgen.models import build_model
from seqgen.data.images.codec import digit_view, grid_image
from seqgen.sampling import generate_pixels


def spread(n: int, k: int | None) -> np.ndarray:
    """k indices spread evenly over range(n) (all of them when k is None or >= n)."""
    if k is None or k >= n:
        return np.arange(n)
    return np.linspace(0, n - 1, k).round().astype(int)


@torch.no_grad()
def evaluate_pixels(model, data: PreparedImages, split: str, batch_size: int, device,
                    max_images: int | None = None, prefix: str | None = None) -> dict:
    """Mean cross-entropy of every pixel of (up to max_images, evenly spread) images of a split, each
    with its first caption. Deterministic. -> {prefix/loss (nats), prefix/bits_per_pixel}."""
    prefix = prefix or split
    was_training = model.training
    model.eval()
    lo, caps = data.lo(split), data.captions(split)
    pick = spread(len(lo), max_images)
    total, count = 0.0, 0
    for s in range(0, len(pick), batch_size):
        ids = pick[s:s + batch_size]
        text = torch.tensor([encode_caption(data.tokenizer, caps[i][0], data.caption_len, strict=False)
                             for i in ids], device=device)
        pixels = torch.from_numpy(np.ascontiguousarray(lo[ids])).reshape(len(ids), -1).long().to(device)
        logits = model(text, pixels[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), pixels.reshape(-1),
                                 reduction="sum").item()
        count += pixels.numel()
    model.train(was_training)
    nats = total / max(1, count)
    return {f"{prefix}/loss": nats, f"{prefix}/bits_per_pixel": nats / math.log(2)}


def draw(model, tokenizer, captions: list[str], caption_len: int, device, guidance=None, temperature=1.0,
         top_k=None, top_p=None, seed: int = 0, batch_size: int = 16, use_cache: bool = True,
         strict: bool = True) -> np.ndarray:
    """Captions -> (N, H, W) uint8 palette indices, in batches, seeded (same seed, same images).
    strict: an empty or too-long caption is an error (user prompts); else dataset captions are
    truncated as they were for training."""
    gen = torch.Generator().manual_seed(seed)
    c = model.config
    out = []
    for s in range(0, len(captions), batch_size):
        text = torch.tensor([encode_caption(tokenizer, t, caption_len, strict) for t in captions[s:s + batch_size]],
                            device=device)
        px = generate_pixels(model, text, guidance, temperature, top_k, top_p, generator=gen, use_cache=use_cache)
        out.append(px.view(-1, c.height, c.width).cpu().numpy().astype(np.uint8))
    return np.concatenate(out)


def fidelity(model, data: PreparedImages, n: int, guidance, device, seed: int, temperature=1.0,
             top_k=None, split: str = "test") -> dict:
    """Draw the first caption of n evenly spread `split` images and score them (shapes only)."""
    from seqgen.data.images.fidelity import score_many

    caps = data.captions(split)
    texts = [caps[i][0] for i in spread(len(caps), n)]
    grids = draw(model, data.tokenizer, texts, data.caption_len, device, guidance, temperature, top_k, seed=seed,
                 strict=False)
    return score_many(grids, texts)


def image_data(spec: RunSpec, dist: D.DistInfo, what: str) -> PreparedImages:
    """Rank 0 prepares the image dataset (once, cached); the other ranks wait and read the same files."""
    if not isinstance(spec.data, ImageDataConfig):
        raise ConfigError(f"model={spec.model_name} {what}: pick an image dataset (data=shapes, "
                          f"data=emoji, data=imagefolder, data=hf_images), not data.name={spec.data.name!r}")
    if dist.is_main:
        data = prepare_images(spec.data, spec.data_root)
    D.barrier()
    return data if dist.is_main else load_prepared(prepared_dir(spec.data, spec.data_root))


def pixel_task(spec: RunSpec, dist: D.DistInfo, run_dir: Path, tracker, resumed: bool):
    from seqgen.run import Task  # run.py imports this module lazily: no import cycle

    data = image_data(spec, dist, "draws images")
    if dist.is_main:
        data.tokenizer.save(run_dir / "tokenizer.json")
        (run_dir / "codec.json").write_text(data.codec.to_json())
    torch.manual_seed(spec.seed)
    model = build_model(spec.model_name, spec.model, text_vocab_size=data.tokenizer.vocab_size,
                        n_colors=data.codec.size, caption_len=data.caption_len,
                        height=data.meta["size"], width=data.meta["size"]).to(dist.device)
    stream = ImageBatches(data, "train", spec.trainer.batch_size, spec.seed + 1000 * dist.rank + 1)
    px, tc = spec.pixels, spec.trainer
    baseline = {}
    if px.baseline and dist.is_main:
        from seqgen.models.pixel_ngram import PixelNGram

        t0 = time.perf_counter()
        ngram = PixelNGram(data.codec.size).fit(data.lo("train"))
        for split in ("valid", "test"):
            if data.count(split):
                lo = data.lo(split)
                pick = spread(len(lo), px.eval_images)
                baseline[f"{split}/baseline_bits_per_pixel"] = ngram.bits_per_pixel(lo[pick])
        print(f"[seqgen] pixel n-gram baseline ({time.perf_counter() - t0:.1f} s): "
              + ", ".join(f"{k} {v:.4f}" for k, v in baseline.items()), flush=True)
    is_shapes = spec.data.name == "shapes"

    def evaluate_fn(m, final=False):
        out = dict(baseline)
        for split in ("valid", "test"):
            if data.count(split):
                out.update(evaluate_pixels(m, data, split, tc.batch_size, dist.device, px.eval_images))
        if is_shapes and px.fidelity_images and final:
            for name, g in (("fidelity", px.guidance), ("fidelity_noguide", None)):
                t0 = time.perf_counter()
                scores = fidelity(m, data, px.fidelity_images, g, dist.device, spec.seed, px.temperature, px.top_k)
                out.update({f"test/{name}_{k}": v for k, v in scores.items()})
                print(f"[seqgen] caption fidelity on held-out combinations (guidance {g}): mean "
                      f"{scores['mean']:.3f}, all attributes right {scores['all']:.3f} "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
        return out

    samples_dir = run_dir / "samples"
    valid_caps = data.captions("valid") if data.count("valid") else data.captions("train")
    sample_caps = [valid_caps[i][0] for i in spread(len(valid_caps), px.sample_images)]

    def sample_fn(m, step_):
        grids = draw(m, data.tokenizer, sample_caps, data.caption_len, dist.device, px.guidance,
                     px.temperature, px.top_k, seed=spec.seed, strict=False)
        samples_dir.mkdir(exist_ok=True)
        image = grid_image(grids, data.codec, sample_caps, scale=4, ncols=4)
        image.save(samples_dir / f"step_{step_:07d}.png")
        (samples_dir / f"step_{step_:07d}.txt").write_text(
            "\n\n".join(f"{c}\n{digit_view(g)}" for c, g in zip(sample_caps, grids)), encoding="utf-8")
        tracker.log_image("samples", image, step_, caption=" | ".join(sample_caps))

    task = Task(model, stream, evaluate_fn, sample_fn,
                {"tokenizer": data.tokenizer.to_json(), "codec": data.codec.to_json(),
                 "data_meta": json.dumps({k: data.meta[k] for k in ("dataset", "size", "factor", "caption_len")})})
    return task
