"""How well the upsampler infers 128x128 from 32x32: bits per high-res token (its exact likelihood),
and token accuracy, PSNR (RGB) and consistency with the input beside two baselines: nearest-neighbour
(each low-res pixel repeated over its block) and bicubic in RGB requantized to the palette."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from seqgen.core.schema import key
from seqgen.data.images.codec import reduce_blocks, upsample_nearest
from seqgen.data.images.prepare import ImageDataConfig, PreparedImages, check_same_images, prepare_images
from seqgen.data.prepare import pick_split
from seqgen.data.subsets import spread
from seqgen.families.base import data_from
from seqgen.families.upsampler.generate import upsample
from seqgen.families.upsampler.settings import DECODES, settings_of
from seqgen.nn.sampling import eval_mode


@dataclass
class EvalArgs:
    decode: str | None = key(None, choices=DECODES)   # null: the checkpoint's upsampler.decode
    images: int = key(32, ge=1)      # held-out images upsampled and compared with the baselines


def upsample_bicubic_baseline(lo, codec, factor: int = 4):
    """(N, h, w) -> (N, h*f, w*f): palette colours, bicubic resize in RGB, quantized back to the palette."""
    out = []
    for im in np.asarray(lo):
        rgb = Image.fromarray(codec.dequantize(im))
        big = rgb.resize((im.shape[1] * factor, im.shape[0] * factor), Image.BICUBIC)
        out.append(codec.quantize(np.asarray(big)))
    return np.stack(out)


def upsample_metrics(pred, truth, lo, codec, factor: int = 4) -> dict:
    """Token accuracy vs ground truth, PSNR in RGB (over all pixels of all images, dB), SSIM (RGB,
    mean over images), consistency (fraction of low-res pixels the 4x rule recovers from the
    prediction) and edge roughness relative to the truth's (1 = as smooth as the ground truth)."""
    from skimage.metrics import structural_similarity

    pred, truth, lo = np.asarray(pred), np.asarray(truth), np.asarray(lo)
    rgb_p, rgb_t = codec.dequantize(pred), codec.dequantize(truth)
    mse = float(((rgb_p.astype(np.float64) - rgb_t) ** 2).mean())
    ssim = float(np.mean([structural_similarity(a, b, channel_axis=-1, data_range=255) for a, b in zip(rgb_p, rgb_t)]))
    return {"token_accuracy": float((pred == truth).mean()),
            "psnr": 10 * math.log10(255.0 ** 2 / mse) if mse > 0 else float("inf"),
            "ssim": ssim,
            "consistency": float((reduce_blocks(pred.astype(np.uint8), factor) == lo).mean()),
            "roughness_ratio": roughness(pred, codec.background) / max(roughness(truth, codec.background), 1e-9)}


def roughness(grids, background: int = 0) -> float:
    """Edge roughness of palette images: boundary pixels (a 4-neighbour of another colour) per
    non-background pixel, over all images. A ragged edge has more boundary pixels than a clean one
    enclosing the same area; a smooth circle at 128x128 has about 4 / its radius."""
    g = np.asarray(grids)
    edge = np.zeros(g.shape, dtype=bool)
    edge[..., 1:, :] |= g[..., 1:, :] != g[..., :-1, :]
    edge[..., :-1, :] |= g[..., 1:, :] != g[..., :-1, :]
    edge[..., :, 1:] |= g[..., :, 1:] != g[..., :, :-1]
    edge[..., :, :-1] |= g[..., :, 1:] != g[..., :, :-1]
    return float(edge.sum() / max(1, (g != background).sum()))


@torch.no_grad()
def evaluate_upsampler(model, data: PreparedImages, split: str, device, max_images: int | None = 16,
                       batch_blocks: int = 4096) -> dict:
    """Teacher-forced mean cross-entropy over every block of up to max_images images (exact NLL of
    the two-pass factorisation) -> {split/loss, split/bits_per_token}."""
    pick = spread(data.count(split), max_images)
    lo = torch.from_numpy(np.array(data.lo(split)[pick])).long().to(device)
    hi = torch.from_numpy(np.array(data.hi(split)[pick])).long().to(device)
    if model.config.arch == "conv":   # independent pixels given the low-res image: one forward
        with eval_mode(model):
            nats = sum(model.nll(lo[s:s + 16], hi[s:s + 16]).sum().item() for s in range(0, len(lo), 16)) / hi.numel()
        return {f"{split}/loss": nats, f"{split}/bits_per_token": nats / math.log(2)}
    prefix, pixels = model.training_inputs(lo, hi)
    prefix, pixels = prefix.reshape(-1, prefix.size(-1)), pixels.reshape(-1, pixels.size(-1))
    total = 0.0
    with eval_mode(model):
        for s in range(0, len(prefix), batch_blocks):
            logits = model(prefix[s:s + batch_blocks], pixels[s:s + batch_blocks, :-1])
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(),
                                     pixels[s:s + batch_blocks].reshape(-1), reduction="sum").item()
    nats = total / pixels.numel()
    return {f"{split}/loss": nats, f"{split}/bits_per_token": nats / math.log(2)}


def compare(model, data: PreparedImages, split: str, n: int, device, seed: int, temperature=1.0, top_k=None,
            retries: int = 0, batch: int = 16, decode: str = "sample", constrained: bool = True) -> dict:
    """Upsample n held-out low-res images; metrics of the model and of both baselines."""
    pick = spread(data.count(split), n)
    lo, truth = np.array(data.lo(split)[pick]), np.array(data.hi(split)[pick])
    f = data.meta["factor"]
    gen = torch.Generator().manual_seed(seed)
    palette = torch.from_numpy(data.codec.palette.astype(np.float32))
    t0 = time.perf_counter()
    pred = np.concatenate([
        upsample(model, torch.from_numpy(lo[s:s + batch]).long().to(device), decode, temperature, top_k, gen,
                 palette, constrained, retries).cpu().numpy() for s in range(0, len(lo), batch)])
    seconds = time.perf_counter() - t0
    out = {"seconds_per_image": seconds / len(lo)}
    for name, hi in (("model", pred), ("nearest", upsample_nearest(lo, f)),
                     ("bicubic", upsample_bicubic_baseline(lo, data.codec, f))):
        out.update({f"{name}_{k}": v for k, v in upsample_metrics(hi, truth, lo, data.codec, f).items()})
    return out, pred, lo


def evaluate(model, tokenizer, state, ec, args: EvalArgs, device) -> dict:
    """evaluate.py for the upsampler, on the checkpoint's own dataset, decoded with its training
    settings (temperature, top_k, retries)."""
    dc = data_from(ImageDataConfig, state, ec.ckpt)
    data = prepare_images(dc, ec.data_root, verbose=False)
    check_same_images(data, state, ec.ckpt)
    split = pick_split([s for s in ("train", "valid", "test") if data.count(s)], ec.split, ec.ckpt)
    out = {"model": state["model_name"], "data": dc.name, "split": split}
    out["bits_per_token"] = evaluate_upsampler(model, data, split, device, args.images)[f"{split}/bits_per_token"]
    st = settings_of(state)
    decode = args.decode or st.decode
    scores, _, _ = compare(model, data, split, args.images, device, ec.seed, st.temperature, st.top_k, st.retries,
                           decode=decode, constrained=st.constrained)
    out["decode"] = decode
    out.update(scores)
    return out
