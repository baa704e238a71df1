"""text2pixel's training task: captioned images as palette tokens, bits per pixel-token beside the
pixel n-gram, caption fidelity at the end (shapes), sample grids."""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from seqgen.core.training import RunContext, Task
from seqgen.data.images.codec import digit_view, grid_image
from seqgen.data.images.patches import coverage, fit_vocab
from seqgen.data.images.prepare import ImageBatches, load_prepared, prepare_images, prepared_dir, spread
from seqgen.families.text2pixel.baseline import PixelNGram
from seqgen.families.text2pixel.evaluate import emoji_fidelity, evaluate_pixels, fidelity, guided_and_unguided
from seqgen.families.text2pixel.generate import draw
from seqgen.families.text2pixel.model import Text2Pixel


def make_task(ctx: RunContext) -> Task:
    spec, dist, run_dir = ctx.spec, ctx.dist, ctx.run_dir
    px, tc = spec.settings, spec.trainer
    data = ctx.main_first(lambda: prepare_images(spec.data, spec.data_root),
                          lambda: load_prepared(prepared_dir(spec.data, spec.data_root)))
    vocab = None
    if spec.model.get("patch", Text2Pixel.Config.patch) > 1:   # the patch vocabulary, from the training images only
        vocab = fit_vocab(np.asarray(data.lo("train")), spec.model["patch"], spec.model.get("max_vocab", 4096))
        held = data.lo("test") if data.count("test") else data.lo("valid")
        print(f"[seqgen] {len(vocab):,} {spec.model['patch']}x{spec.model['patch']} patch tokens, covering "
              f"{100 * coverage(np.asarray(held[:200]), vocab):.1f}% of held-out patches (the rest are escapes)",
              flush=True)
    torch.manual_seed(spec.seed)
    model = Text2Pixel(Text2Pixel.Config(**spec.model, text_vocab_size=data.tokenizer.vocab_size,
                                         n_colors=data.codec.size, caption_len=data.caption_len,
                                         height=data.meta["size"], width=data.meta["size"],
                                         n_tokens=len(vocab) if vocab is not None else 0)).to(dist.device)
    if vocab is not None:
        model.set_vocab(vocab)
    stream = ImageBatches(data, "train", tc.batch_size, spec.seed + 1000 * dist.rank + 1)
    baseline = {}
    if px.baseline and dist.is_main:
        t0 = time.perf_counter()
        ngram = PixelNGram(data.codec.size).fit(data.lo("train"))
        for split in ("valid", "test"):
            if data.count(split):
                lo = data.lo(split)
                baseline[f"{split}/baseline_bits_per_pixel"] = ngram.bits_per_pixel(lo[spread(len(lo), px.eval_images)])
        print(f"[seqgen] pixel n-gram baseline ({time.perf_counter() - t0:.1f} s): "
              + ", ".join(f"{k} {v:.4f}" for k, v in baseline.items()), flush=True)
    is_shapes, is_emoji = spec.data.name == "shapes", spec.data.name == "emoji"
    n_fidelity = min(px.fidelity_images, max(8, tc.max_steps))

    def evaluate_fn(m, final=False):
        out = dict(baseline)
        for split in ("valid", "test"):
            if data.count(split):
                out.update(evaluate_pixels(m, data, split, tc.batch_size, dist.device, px.eval_images))
        if is_emoji and n_fidelity and final:
            def draw_glyphs(g):
                return emoji_fidelity(m, data, n_fidelity, g, dist.device, spec.seed, px.temperature, px.top_k,
                                      progress=True)

            for name, g, scores, fresh in guided_and_unguided(("glyphs", "glyphs_noguide"), px.guidance, draw_glyphs):
                out.update({f"test/{name}_{k}": v for k, v in scores.items()})
                if fresh:   # with guidance null the unguided row is the same draws: said once
                    print(f"[seqgen] glyph fidelity (guidance {g}): "
                          + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()), flush=True)
        if is_shapes and n_fidelity and final:
            def draw_fidelity(g):
                print(f"[seqgen] drawing {n_fidelity} held-out captions (guidance {g}) for caption fidelity",
                      flush=True)
                return fidelity(m, data, n_fidelity, g, dist.device, spec.seed, px.temperature, px.top_k, progress=True)

            t0 = time.perf_counter()
            for name, g, scores, fresh in guided_and_unguided(("fidelity", "fidelity_noguide"), px.guidance,
                                                              draw_fidelity):
                out.update({f"test/{name}_{k}": v for k, v in scores.items()})
                if fresh:
                    print(f"[seqgen] caption fidelity on held-out combinations (guidance {g}): mean "
                          f"{scores['mean']:.3f}, all attributes right {scores['all']:.3f} "
                          f"({time.perf_counter() - t0:.0f} s)", flush=True)
                t0 = time.perf_counter()
        return out

    samples_dir = run_dir / "samples"
    valid_caps = data.captions("valid") if data.count("valid") else data.captions("train")
    sample_caps = [valid_caps[i][0] for i in spread(len(valid_caps), px.sample_images)]

    def sample_fn(m, step):
        grids = draw(m, data.tokenizer, sample_caps, data.caption_len, dist.device, px.guidance,
                     px.temperature, px.top_k, seed=spec.seed, strict=False)
        samples_dir.mkdir(exist_ok=True)
        image = grid_image(grids, data.codec, sample_caps, scale=4, ncols=4)
        image.save(samples_dir / f"step_{step:07d}.png")
        (samples_dir / f"step_{step:07d}.txt").write_text(
            "\n\n".join(f"{c}\n{digit_view(g)}" for c, g in zip(sample_caps, grids)), encoding="utf-8")
        ctx.tracker.log_image("samples", image, step, caption=" | ".join(sample_caps))

    meta = {k: data.meta[k] for k in ("dataset", "size", "factor", "caption_len")}
    return Task(model, stream, evaluate_fn, sample_fn,
                {"tokenizer": data.tokenizer.to_json(), "codec": data.codec.to_json(), "data_meta": json.dumps(meta)},
                files={"tokenizer.json": data.tokenizer.to_json(), "codec.json": data.codec.to_json()},
                data_identity=data.meta.get("identity"))
