"""The upsampler's training task: random 4x4 blocks of the image datasets (edge blocks drawn more
often), bits per high-res token, and at the end token accuracy / PSNR / consistency vs the baselines."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import torch

from seqgen.core.errors import ConfigError
from seqgen.core.training import RunContext, Task
from seqgen.data.images.codec import grid_image, upsample_nearest
from seqgen.data.images.prepare import PreparedImages, load_prepared, prepare_images, prepared_dir
from seqgen.families.upsampler.evaluate import compare, evaluate_upsampler
from seqgen.families.upsampler.model import build_upsampler


class PairBatches:
    """Random whole images for the one-pass model: next() -> (lo (B, h, w), hi (B, H, W)). Seeded; exact resume."""

    def __init__(self, data: PreparedImages, split: str, images: int, seed: int):
        self.lo = torch.from_numpy(np.array(data.lo(split)))           # (N, h, w) uint8
        self.hi = torch.from_numpy(np.array(data.hi(split)))           # (N, H, W) uint8
        self.images = images
        self.block_size = self.hi.shape[1] * self.hi.shape[2]          # high-res tokens per image
        self.generator = torch.Generator().manual_seed(seed)

    def next(self):
        ids = torch.randint(len(self.lo), (self.images,), generator=self.generator)
        return self.lo[ids].long(), self.hi[ids].long()

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])


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
            raise ConfigError(f"upsampler.edge_weight must be > 0 (got {edge_weight}); 1 draws blocks uniformly")
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


def make_task(ctx: RunContext) -> Task:
    spec, dist, run_dir = ctx.spec, ctx.dist, ctx.run_dir
    data = ctx.main_first(lambda: prepare_images(spec.data, spec.data_root),
                          lambda: load_prepared(prepared_dir(spec.data, spec.data_root)))
    torch.manual_seed(spec.seed)
    model = build_upsampler(replace(spec.model, n_colors=data.codec.size, factor=data.meta["factor"])).to(dist.device)
    px = spec.settings
    seed = spec.seed + 1000 * dist.rank + 1
    if model.config.arch == "conv":
        stream = PairBatches(data, "train", spec.trainer.batch_size, seed)
    else:
        stream = BlockBatches(model, data, "train", spec.trainer.batch_size, px.blocks_per_image, seed,
                              px.edge_weight)
    samples_dir = run_dir / "samples"

    def evaluate_fn(m, final=False):
        out = evaluate_upsampler(m, data, "valid", dist.device, px.eval_images)
        if final and px.eval_images:
            split = "test" if data.count("test") else "valid"
            scores, _, _ = compare(m, data, split, px.eval_images, dist.device, spec.seed,
                                   px.temperature, px.top_k, px.retries, decode=px.decode,
                                   constrained=px.constrained)
            out.update({f"{split}/{k}": v for k, v in scores.items()})
            print("[seqgen] upsampling " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)
        return out

    def sample_fn(m, step):
        _, pred, lo = compare(m, data, "valid", px.sample_images, dist.device, spec.seed,
                              px.temperature, px.top_k, px.retries, decode=px.decode, constrained=px.constrained)
        samples_dir.mkdir(exist_ok=True)
        f = data.meta["factor"]
        image = grid_image(list(upsample_nearest(lo, f)) + list(pred), data.codec, None, scale=1,
                           ncols=len(lo))
        image.save(samples_dir / f"step_{step:07d}.png")   # top row: the input, bottom: the upsampled
        ctx.tracker.log_image("samples", image, step, caption="top: 32x32 input, bottom: 128x128 output")

    meta = {k: data.meta[k] for k in ("dataset", "size", "factor")}
    return Task(model, stream, evaluate_fn, sample_fn,
                {"tokenizer": "", "codec": data.codec.to_json(), "data_meta": json.dumps(meta)},
                files={"codec.json": data.codec.to_json()}, data_identity=data.meta.get("identity"))
