"""The caption -> 32x32 -> 128x128 pipeline scored on a dataset's held-out captions: a text2pixel model
draws each scene's first caption at 32x32, an upsampler takes the drafts to 128x128, and the results'
edge roughness is set beside the true 128x128 scenes' (1.00: as smooth as the truth), with nearest 4x
of the same drafts beside it. Composes two families, like pipeline.py; scripts/bench_upsampler.py
--text2pixel prints it."""

from __future__ import annotations

import time

import numpy as np

from seqgen.app.load import load_model
from seqgen.core.errors import ConfigError
from seqgen.data.images.codec import upsample_nearest
from seqgen.data.images.prepare import PreparedImages
from seqgen.families.text2pixel.generate import draw, run_guidance
from seqgen.families.upsampler.evaluate import roughness


def pipeline_roughness(t2p_ckpt, upsample_fn, data: PreparedImages, split: str, pick, guidance="run",
                       device="cpu", seed: int = 0) -> dict:
    """upsample_fn: (N, h, w) palette drafts -> (N, H, W). pick: the scenes of `split` scored (their
    first captions drawn, their 128x128 truths the reference). guidance: a scale, null, or "run" (the
    text2pixel run's own) -> {pipeline_images, pipeline_guidance, pipeline_seconds,
    pipeline_roughness_ratio, pipeline_nearest_roughness_ratio}."""
    t2p, tok, state = load_model(t2p_ckpt, device)
    trained_on = ((state.get("config") or {}).get("data") or {}).get("name")
    if trained_on != data.meta["dataset"]:
        raise ConfigError(f"{t2p_ckpt} was trained on {trained_on!r}, the upsampler's images are "
                          f"{data.meta['dataset']!r}: use checkpoints of the same dataset")
    caps = data.captions(split)
    texts = [caps[i][0] for i in pick]
    guidance = run_guidance(guidance, state)
    t = time.perf_counter()
    drafts = draw(t2p, tok, texts, data.caption_len, device, guidance, seed=seed, strict=False)   # (N, 32, 32)
    hi = upsample_fn(drafts)                                                                     # (N, 128, 128)
    secs = time.perf_counter() - t
    bg, f = data.codec.background, data.meta["factor"]
    true_r = roughness(np.array(data.hi(split)[pick]), bg)
    out = {"pipeline_images": len(texts), "pipeline_guidance": guidance, "pipeline_seconds": secs,
           "pipeline_roughness_ratio": roughness(hi, bg) / true_r,
           "pipeline_nearest_roughness_ratio": roughness(upsample_nearest(drafts, f), bg) / true_r}
    print(f"caption -> 32x32 -> 128x128 ({len(texts)} {split} captions, guidance {guidance}, {secs:.1f} s): "
          f"roughness x{out['pipeline_roughness_ratio']:.3f} of the true scenes' (nearest 4x of the same "
          f"drafts x{out['pipeline_nearest_roughness_ratio']:.3f}; target within 10%)", flush=True)
    return out
