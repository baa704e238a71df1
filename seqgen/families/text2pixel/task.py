"""text2pixel's training task: captioned images as palette tokens, bits per pixel-token beside the
pixel n-gram, caption fidelity at the end (by the checker the dataset declares), sample grids.

`make_task` wires four parts, each its own function: `build_model` (the data fills the model's
derived fields and, for patch tokens, its vocabulary), `baseline` (the pixel n-gram's figures),
`evaluation` (what the Trainer calls at every evaluation) and `sampler` (the sample grid)."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import torch

from seqgen.core.training import RunContext, Task
from seqgen.data.images.codec import digit_view, grid_image
from seqgen.data.images.patches import coverage, fit_vocab
from seqgen.data.images.prepare import ImageBatches, PreparedImages, load_prepared, prepare_images, prepared_dir
from seqgen.data.subsets import spread
from seqgen.families.text2pixel.baseline import PixelNGram
from seqgen.families.text2pixel.evaluate import Scorer, evaluate_pixels, guided_and_unguided, scorer_for
from seqgen.families.text2pixel.generate import draw
from seqgen.families.text2pixel.model import Text2Pixel
from seqgen.families.text2pixel.settings import Settings


def build_model(config: Text2Pixel.Config, data: PreparedImages, device) -> Text2Pixel:
    """The run's model: `config` (the run's typed model config) with the fields the data fills (caption
    vocabulary, palette, caption slot, image size) and, for patch > 1, the patch vocabulary fitted on
    the training images only (held-out images may need escapes). Seed torch first: the weights are drawn here."""
    vocab = None
    if config.patch > 1:
        vocab = fit_vocab(np.asarray(data.lo("train")), config.patch, config.max_vocab)
        held = data.lo("test") if data.count("test") else data.lo("valid")
        print(f"[seqgen] {len(vocab):,} {config.patch}x{config.patch} patch tokens, covering "
              f"{100 * coverage(np.asarray(held[:200]), vocab):.1f}% of held-out patches (the rest are escapes)",
              flush=True)
    size = data.meta["size"]
    model = Text2Pixel(replace(config, text_vocab_size=data.tokenizer.vocab_size, n_colors=data.codec.size,
                               caption_len=data.caption_len, height=size, width=size,
                               n_tokens=len(vocab) if vocab is not None else 0)).to(device)
    if vocab is not None:
        model.set_vocab(vocab)
    return model


def baseline(data: PreparedImages, eval_images: int | None) -> dict:
    """The pixel n-gram fitted on train: its bits per pixel on the held-out splits (the figure a
    trained model has to beat), {split/baseline_bits_per_pixel}."""
    t0 = time.perf_counter()
    ngram = PixelNGram(data.codec.size).fit(data.lo("train"))
    out = {}
    for split in ("valid", "test"):
        if data.count(split):
            lo = data.lo(split)
            out[f"{split}/baseline_bits_per_pixel"] = ngram.bits_per_pixel(lo[spread(len(lo), eval_images)])
    print(f"[seqgen] pixel n-gram baseline ({time.perf_counter() - t0:.1f} s): "
          + ", ".join(f"{k} {v:.4f}" for k, v in out.items()), flush=True)
    return out


def fidelity_figures(m, data: PreparedImages, scorer: Scorer, n: int, px: Settings, device, seed: int) -> dict:
    """Caption fidelity at the end of a run: n held-out captions drawn with the run's guidance and
    without, scored by the dataset's checker -> {test/<row>_<figure>}."""
    def draw_and_score(g):
        print(f"[seqgen] drawing {n} held-out captions (guidance {g}) for {scorer.label}", flush=True)
        return scorer.score(m, data, n, g, device, seed, px.temperature, px.top_k, progress=True)

    out, t0 = {}, time.perf_counter()
    for name, g, scores, fresh in guided_and_unguided(scorer.rows, px.guidance, draw_and_score):
        out.update({f"test/{name}_{k}": v for k, v in scores.items()})
        if fresh:   # with guidance null the unguided row is the same draws: said once
            print(f"[seqgen] {scorer.label} (guidance {g}): {scorer.summary(scores)} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
        t0 = time.perf_counter()
    return out


def evaluation(data: PreparedImages, px: Settings, batch_size: int, max_steps: int, device, seed: int,
               base: dict):
    """The Trainer's evaluate_fn: bits per pixel-token on valid and test at every evaluation (beside
    the baseline's `base`), and caption fidelity at the end when the dataset has a checker. A run of N
    steps draws at most max(8, N) captions, so a smoke run's end-of-run check takes seconds."""
    scorer = scorer_for(data)
    n_fidelity = min(px.fidelity_images, max(8, max_steps))

    def evaluate_fn(m, final=False):
        out = dict(base)
        for split in ("valid", "test"):
            if data.count(split):
                out.update(evaluate_pixels(m, data, split, batch_size, device, px.eval_images))
        if final and scorer is not None and n_fidelity:
            out.update(fidelity_figures(m, data, scorer, n_fidelity, px, device, seed))
        return out
    return evaluate_fn


def sampler(ctx: RunContext, data: PreparedImages, px: Settings):
    """The Trainer's sample_fn: a grid of validation captions drawn with the run's settings, written
    to samples/step_N.png (+ the digit view in .txt) and to the tracker."""
    samples_dir = ctx.run_dir / "samples"
    valid_caps = data.captions("valid") if data.count("valid") else data.captions("train")
    sample_caps = [valid_caps[i][0] for i in spread(len(valid_caps), px.sample_images)]

    def sample_fn(m, step):
        grids = draw(m, data.tokenizer, sample_caps, data.caption_len, ctx.dist.device, px.guidance,
                     px.temperature, px.top_k, seed=ctx.spec.seed, strict=False)
        samples_dir.mkdir(exist_ok=True)
        image = grid_image(grids, data.codec, sample_caps, scale=4, ncols=4)
        image.save(samples_dir / f"step_{step:07d}.png")
        (samples_dir / f"step_{step:07d}.txt").write_text(
            "\n\n".join(f"{c}\n{digit_view(g)}" for c, g in zip(sample_caps, grids)), encoding="utf-8")
        ctx.tracker.log_image("samples", image, step, caption=" | ".join(sample_caps))
    return sample_fn


def make_task(ctx: RunContext) -> Task:
    spec, dist, px = ctx.spec, ctx.dist, ctx.spec.settings
    data = ctx.main_first(lambda: prepare_images(spec.data, spec.data_root),
                          lambda: load_prepared(prepared_dir(spec.data, spec.data_root)))
    torch.manual_seed(spec.seed)   # the same initial weights on every rank
    model = build_model(spec.model, data, dist.device)
    stream = ImageBatches(data, "train", spec.trainer.batch_size, spec.seed + 1000 * dist.rank + 1)
    base = baseline(data, px.eval_images) if px.baseline and dist.is_main else {}
    evaluate_fn = evaluation(data, px, spec.trainer.batch_size, spec.trainer.max_steps, dist.device, spec.seed, base)
    meta = {k: data.meta[k] for k in ("dataset", "size", "factor", "caption_len")}
    return Task(model, stream, evaluate_fn, sampler(ctx, data, px),
                {"tokenizer": data.tokenizer.to_json(), "codec": data.codec.to_json(), "data_meta": json.dumps(meta)},
                files={"tokenizer.json": data.tokenizer.to_json(), "codec.json": data.codec.to_json()},
                data_identity=data.meta.get("identity"))
