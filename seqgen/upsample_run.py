"""Wiring for the 4x upsampler: block batches from the image datasets, evaluation (bits per
high-res token; token accuracy, PSNR and consistency beside the nearest / bicubic baselines), and
upsampling from the command line. `upsample_task` plugs into run.py's shared training wiring.
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
from seqgen.config import RunSpec
from seqgen.data.images.prepare import PreparedImages
from seqgen.evaluation import upsample_bicubic_baseline, upsample_metrics, upsample_nearest_baseline
from seqgen.models import build_model
from seqgen.pixel_run import image_data, spread
from seqgen.data.images.codec import grid_image
from seqgen.sampling import upsample_tokens


class BlockBatches:
    """Random training blocks: `images` random images per step, `blocks` blocks of each.
    next() -> (prefix (images*blocks, W+4f), block pixels (images*blocks, f*f)). Seeded; exact resume.

    Most blocks lie inside flat regions and are trivially one colour, so blocks whose low-res window
    is not flat are drawn `edge_weight` times as often. The weight is a function of the block's
    context only, so it reweights contexts without changing the conditional p(block | context) the
    loss is minimised by; evaluation (evaluate_upsampler) still scores every block with equal weight."""

    def __init__(self, model, data: PreparedImages, split: str, images: int, blocks: int, seed: int,
                 edge_weight: float = 8.0):
        if edge_weight <= 0:
            raise ValueError(f"pixels.edge_weight must be > 0 (got {edge_weight}); 1 draws blocks uniformly")
        self.model, self.edge_weight = model, edge_weight
        self.lo = torch.from_numpy(np.array(data.lo(split)))           # (N, h, w) uint8
        self.hi = torch.from_numpy(np.array(data.hi(split)))           # (N, H, W) uint8
        self.images, self.blocks = images, blocks
        self.block_size = model.seq_len
        self.tokens_per_batch = images * blocks * model.seq_len
        self.generator = torch.Generator().manual_seed(seed)

    def next(self):
        g = self.generator
        ids = torch.randint(len(self.lo), (self.images,), generator=g)
        lo, hi = self.lo[ids].long(), self.hi[ids].long()
        prefix, pixels = self.model.training_inputs(lo, hi)             # (B, h, w, P), (B, h, w, f*f)
        n = lo.size(1) * lo.size(2)
        window = prefix[..., :self.model.n_window]                      # (B, h, w, W)
        edge = (window != window[..., :1]).any(dim=-1).reshape(self.images, n)
        weight = 1.0 + (self.edge_weight - 1.0) * edge.float()          # (B, n)
        pick = torch.multinomial(weight, self.blocks, replacement=False, generator=g)   # (B, blocks)
        rows = torch.arange(self.images)[:, None]
        return (prefix.reshape(self.images, n, -1)[rows, pick].reshape(-1, prefix.size(-1)),
                pixels.reshape(self.images, n, -1)[rows, pick].reshape(-1, pixels.size(-1)))

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])


@torch.no_grad()
def evaluate_upsampler(model, data: PreparedImages, split: str, device, max_images: int | None = 16,
                       batch_blocks: int = 4096) -> dict:
    """Teacher-forced mean cross-entropy over every block of up to max_images images (exact NLL of
    the two-pass factorisation) -> {split/loss, split/bits_per_token}."""
    was_training = model.training
    model.eval()
    pick = spread(data.count(split), max_images)
    lo = torch.from_numpy(np.array(data.lo(split)[pick])).long().to(device)
    hi = torch.from_numpy(np.array(data.hi(split)[pick])).long().to(device)
    prefix, pixels = model.training_inputs(lo, hi)
    prefix, pixels = prefix.reshape(-1, prefix.size(-1)), pixels.reshape(-1, pixels.size(-1))
    total = 0.0
    for s in range(0, len(prefix), batch_blocks):
        logits = model(prefix[s:s + batch_blocks], pixels[s:s + batch_blocks, :-1])
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(),
                                 pixels[s:s + batch_blocks].reshape(-1), reduction="sum").item()
    model.train(was_training)
    nats = total / pixels.numel()
    return {f"{split}/loss": nats, f"{split}/bits_per_token": nats / math.log(2)}


def compare(model, data: PreparedImages, split: str, n: int, device, seed: int, temperature=1.0, top_k=None,
            retries: int = 3, batch: int = 16) -> dict:
    """Upsample n held-out low-res images; metrics of the model and of both baselines."""
    pick = spread(data.count(split), n)
    lo, truth = np.array(data.lo(split)[pick]), np.array(data.hi(split)[pick])
    f = data.meta["factor"]
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    pred = np.concatenate([
        upsample_tokens(model, torch.from_numpy(lo[s:s + batch]).long().to(device), temperature, top_k, gen,
                        retries).cpu().numpy() for s in range(0, len(lo), batch)])
    seconds = time.perf_counter() - t0
    out = {"seconds_per_image": seconds / len(lo)}
    for name, hi in (("model", pred), ("nearest", upsample_nearest_baseline(lo, f)),
                     ("bicubic", upsample_bicubic_baseline(lo, data.codec, f))):
        out.update({f"{name}_{k}": v for k, v in upsample_metrics(hi, truth, lo, data.codec, f).items()})
    return out, pred, lo


def upsample_task(spec: RunSpec, dist: D.DistInfo, run_dir: Path, tracker, resumed: bool):
    from seqgen.run import Task  # run.py imports this module lazily: no import cycle

    data = image_data(spec, dist, "upsamples images")
    if dist.is_main:
        (run_dir / "codec.json").write_text(data.codec.to_json())
    torch.manual_seed(spec.seed)
    model = build_model(spec.model_name, spec.model, n_colors=data.codec.size,
                        factor=data.meta["factor"]).to(dist.device)
    px = spec.pixels
    stream = BlockBatches(model, data, "train", spec.trainer.batch_size, px.blocks_per_image,
                          spec.seed + 1000 * dist.rank + 1, px.edge_weight)
    samples_dir = run_dir / "samples"

    def evaluate_fn(m, final=False):
        out = evaluate_upsampler(m, data, "valid", dist.device, px.upsample_eval_images)
        if final and px.upsample_eval_images:
            split = "test" if data.count("test") else "valid"
            scores, _, _ = compare(m, data, split, px.upsample_eval_images, dist.device, spec.seed,
                                   px.temperature, px.top_k, px.retries)
            out.update({f"{split}/{k}": v for k, v in scores.items()})
            print("[seqgen] upsampling " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)
        return out

    def sample_fn(m, step_):
        _, pred, lo = compare(m, data, "valid", px.sample_images, dist.device, spec.seed,
                              px.temperature, px.top_k, px.retries)
        samples_dir.mkdir(exist_ok=True)
        f = data.meta["factor"]
        from seqgen.data.images.codec import upsample_nearest

        image = grid_image(list(upsample_nearest(lo, f)) + list(pred), data.codec, None, scale=1,
                           ncols=len(lo))
        image.save(samples_dir / f"step_{step_:07d}.png")   # top row: the input, bottom: the upsampled
        tracker.log_image("samples", image, step_, caption="top: 32x32 input, bottom: 128x128 output")

    meta = {k: data.meta[k] for k in ("dataset", "size", "factor")}
    return Task(model, stream, evaluate_fn, sample_fn,
                {"tokenizer": "", "codec": data.codec.to_json(), "data_meta": json.dumps(meta)})
