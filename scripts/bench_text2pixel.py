"""Benchmark text -> 32x32 pixels: training speed, sampling speed (guidance, KV cache), and quality.

python scripts/bench_text2pixel.py --quick                     # about a minute: speed only
python scripts/bench_text2pixel.py                             # full: + no-cache over the whole image
python scripts/bench_text2pixel.py --ckpt outputs/text2pixel_shapes/checkpoints/last.pt
                                   # + quality of a trained model: bits per pixel-token vs the pixel
                                   #   n-gram, caption fidelity with and without guidance (shapes)
python scripts/bench_text2pixel.py --cuda                      # GPU sampling / training (bf16)
The anchor is a Hugging Face GPT-2 of 4 layers x 256 wide on 1,056-token sequences, timed in the same
process when `transformers` is installed. Ends with one JSON line: {"bench": "text2pixel", ...}.
"""

import argparse
import json
import statistics
import time

import torch

from seqgen.core.optim import OptimConfig, build_optimizer
from seqgen.core.precision import autocast, resolve_precision
from seqgen.families import build_model
from seqgen.families.text2pixel.generate import generate_pixels

DEFAULT = dict(n_layer=4, n_head=4, n_embd=128)          # configs/model/text2pixel.yaml
DATA = dict(text_vocab_size=40, n_colors=16, caption_len=16, height=32, width=32)
HF_IMAGES_S = 2.3                                         # the figure for HF GPT-2 4x256 here


def _median_step(step, iters, warmup):
    times = []
    for i in range(warmup + iters):
        t = time.perf_counter()
        step()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def train_speed(shape, batch, iters, warmup, device="cpu", precision="fp32"):
    """Images per second of one AdamW step of seqgen's model (real training_loss)."""
    torch.manual_seed(0)
    dev = torch.device(device)
    m = build_model("text2pixel", {**shape, "caption_dropout": 0.1}, **DATA).to(dev)
    opt = build_optimizer(m, OptimConfig(), dev)
    dtype = resolve_precision(precision, dev)
    text = torch.randint(0, DATA["text_vocab_size"], (batch, DATA["caption_len"]), device=dev)
    pix = torch.randint(0, DATA["n_colors"], (batch, 1024), device=dev)

    def step():
        with autocast(dev, dtype):
            loss, _ = m.training_loss((text, pix))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    return batch / _median_step(step, iters, warmup)


def hf_train_speed(batch, iters, warmup):
    """HF GPT-2 (4 layers x 256, 1,056 positions) on 1,056-token sequences: images per second."""
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        return None
    torch.manual_seed(0)
    m = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=1056, n_embd=256, n_layer=4, n_head=4,
                                   resid_pdrop=0, embd_pdrop=0, attn_pdrop=0))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    x = torch.randint(0, 64, (batch, 1056))

    def step():
        m(input_ids=x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return batch / _median_step(step, iters, warmup)


def sample_speed(model, batch, pixels, guidance, use_cache, device, reps=1):
    """Median seconds to draw the first `pixels` pixels of `batch` images (1,024: whole images)."""
    text = torch.randint(0, DATA["text_vocab_size"], (batch, DATA["caption_len"]), device=device)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        generate_pixels(model, text, guidance, generator=torch.Generator().manual_seed(0), use_cache=use_cache,
                        num_tokens=pixels)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def quality(ckpt, images, device):
    """Held-out bits per pixel-token vs the pixel n-gram, and fidelity with / without guidance."""
    from seqgen.app.load import load_model
    from seqgen.data.images.prepare import ImageDataConfig, prepare_images
    from seqgen.families.text2pixel.baseline import PixelNGram
    from seqgen.families.text2pixel.evaluate import evaluate_pixels, fidelity

    model, _, state = load_model(ckpt, device)
    cfg = state["config"]
    data = prepare_images(ImageDataConfig(**cfg["data"]), cfg["data_root"])
    ngram = PixelNGram(data.codec.size).fit(data.lo("train"))
    out = {"dataset": data.meta["dataset"], "step": state["step"]}
    for split in ("valid", "test"):
        if data.count(split):
            ours = evaluate_pixels(model, data, split, 16, device, images)[f"{split}/bits_per_pixel"]
            lo = data.lo(split)
            base = ngram.bits_per_pixel(lo[:images] if images else lo)
            out.update({f"{split}_bits_per_pixel": ours, f"{split}_baseline_bits_per_pixel": base,
                        f"{split}_bits_vs_baseline": ours / base - 1})
            print(f"{split}: {ours:.4f} bits per pixel-token, pixel n-gram {base:.4f} "
                  f"({100 * (ours / base - 1):+.1f}%)", flush=True)
    if data.meta["dataset"] == "shapes":
        g = cfg.get("pixels", {}).get("guidance", 3.0)
        for name, scale in (("guided", g), ("unguided", None)):
            t = time.perf_counter()
            s = fidelity(model, data, images or 200, scale, device, seed=0)
            out.update({f"fidelity_{name}_mean": s["mean"], f"fidelity_{name}_all": s["all"],
                        f"fidelity_{name}_scale": scale})
            print(f"fidelity ({name}, scale {scale}): mean {s['mean']:.3f} all {s['all']:.3f} "
                  + " ".join(f"{k} {s[k]:.3f}" for k in ("shape", "colour", "size", "position"))
                  + f" ({time.perf_counter() - t:.0f} s)", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ckpt", help="a text2pixel checkpoint: also measure quality")
    ap.add_argument("--images", type=int, default=200, help="held-out images for quality")
    ap.add_argument("--cuda", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.cuda else "cpu")
    res = {"bench": "text2pixel", "device": torch.cuda.get_device_name() if args.cuda else "cpu",
           "threads": torch.get_num_threads(), "quick": args.quick}
    iters, warmup = (3, 1) if args.quick else (8, 2)
    prec = "bf16" if args.cuda else "fp32"
    ours = train_speed(DEFAULT, 16 if not args.cuda else 64, iters, warmup, device.type, prec)
    res["train_images_s_default"] = ours
    print(f"train, default 4x128, batch {16 if not args.cuda else 64}: {ours:.2f} images/s", flush=True)
    if not args.cuda:
        wide = train_speed(dict(n_layer=4, n_head=4, n_embd=256), 8, iters, warmup)
        hf = hf_train_speed(8, iters, warmup) if not args.quick else None
        res.update(train_images_s_4x256=wide, hf_gpt2_4x256_images_s=hf, hf_anchor_images_s=HF_IMAGES_S,
                   ratio_4x256_vs_hf=(wide / hf) if hf else wide / HF_IMAGES_S)
        print(f"train, 4x256 batch 8: {wide:.2f} images/s; HF GPT-2 4x256 here: "
              f"{hf if hf is None else round(hf, 2)} (issue anchor {HF_IMAGES_S})", flush=True)

    torch.manual_seed(0)
    model = build_model("text2pixel", DEFAULT, **DATA).to(device).eval()
    B = 16
    sec = sample_speed(model, B, 1024, 3.0, True, device, reps=1 if args.quick else 3)
    res["sample_images_s_guided_cached"] = B / sec
    print(f"sample, batch {B}, guidance 3, KV cache: {B / sec:.2f} images/s ({sec:.1f} s per batch)", flush=True)
    # without the cache the cost of step j grows with j: quick times a 128-pixel prefix of both
    # (a lower bound on the full-image ratio), full times the whole image
    prefix = 128 if args.quick else 1024
    t_cache = sample_speed(model, B, prefix, 3.0, True, device)
    t_nocache = sample_speed(model, B, prefix, 3.0, False, device)
    res.update(nocache_pixels=prefix, cache_speedup=t_nocache / t_cache)
    print(f"sample, first {prefix} pixels: cache {t_cache:.2f} s, no cache {t_nocache:.2f} s -> "
          f"{t_nocache / t_cache:.1f}x", flush=True)
    if args.ckpt:
        res.update(quality(args.ckpt, args.images, device))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
