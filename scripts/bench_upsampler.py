"""Benchmark the 4x upsampler: speed per 128x128 image, and quality beside the two baselines.

python scripts/bench_upsampler.py --quick                    # speed of the default model (untrained) +
                                                             #   the baselines on held-out shapes
python scripts/bench_upsampler.py --ckpt outputs/upsampler_shapes/checkpoints/last.pt [--images 64]
    [--decode sample|greedy|mee] [--temperature T] [--unconstrained --retries N]
                                                             # + the trained model on its dataset's test split
python scripts/bench_upsampler.py --ckpt PATH --all-decodes  # every decoding rule of that checkpoint
python scripts/bench_upsampler.py --ckpt PATH --text2pixel T2P_CKPT
                                                             # + the whole pipeline: T2P draws the test captions at
                                                             #   32x32, the upsampler takes them to 128x128; their edge
                                                             #   roughness beside the true scenes' (within 10%)
python scripts/bench_upsampler.py --cuda                     # GPU speed
Ends with one JSON line: {"bench": "upsampler", ...}.
"""

import argparse
import json
import statistics
import time

import numpy as np
import torch

from seqgen.core.precision import machine
from seqgen.data.images.codec import upsample_nearest
from seqgen.data.images.prepare import ImageDataConfig, prepare_images, spread
from seqgen.families.upsampler.evaluate import upsample_bicubic_baseline, upsample_metrics
from seqgen.families.upsampler.generate import upsample
from seqgen.families.upsampler.model import Upsampler, build_upsampler


def run(model, lo_np, args, decode, palette, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return np.concatenate([
        upsample(model, torch.from_numpy(lo_np[s:s + args.batch]).long().to(device), decode, args.temperature,
                 args.top_k, gen, palette, not args.unconstrained, args.retries).cpu().numpy()
        for s in range(0, len(lo_np), args.batch)])


def seconds_per_image(model, lo_np, args, decode, palette, device, reps: int) -> float:
    times = []
    for r in range(reps):
        t = time.perf_counter()
        run(model, lo_np[:args.batch], args, decode, palette, device, r)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times) / min(args.batch, len(lo_np))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ckpt", help="an upsampler checkpoint: measure it on its dataset's test split")
    ap.add_argument("--arch", default="conv", choices=("blocks", "conv"), help="untrained model (no --ckpt)")
    ap.add_argument("--images", type=int, default=64, help="held-out images scored")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--decode", default=None, choices=("sample", "greedy", "mee"), help="default: the checkpoint's")
    ap.add_argument("--all-decodes", action="store_true", help="score every decoding rule the model has")
    ap.add_argument("--unconstrained", action="store_true", help="no exact 4x-rule consistency (redraws only)")
    ap.add_argument("--retries", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    ap.add_argument("--top-k", type=int, default=None)
    ap.add_argument("--text2pixel", metavar="CKPT", help="a text2pixel checkpoint of the same dataset: "
                    "roughness of caption -> 32x32 -> 128x128 samples beside the ground truth's")
    ap.add_argument("--guidance", type=float, default=None, help="with --text2pixel: its guidance scale "
                    "(default: the text2pixel run's text2pixel.guidance)")
    ap.add_argument("--figure", metavar="PNG", help="with --ckpt: a grid of 4 held-out images, columns "
                    "input (32x32, at 2x) | nearest | bicubic | ours | truth")
    ap.add_argument("--cuda", action="store_true")
    ap.add_argument("--data-root", default="data")
    args = ap.parse_args()
    device = torch.device("cuda" if args.cuda else "cpu")
    res = {"bench": "upsampler", **machine(probe_bf16=False),
           "device": torch.cuda.get_device_name() if args.cuda else "cpu", "batch": args.batch,
           "constrained": not args.unconstrained, "retries": args.retries, "temperature": args.temperature}
    print(f"machine: {res['cpu']}, capability {res['cpu_capability']}, {res['threads']} threads", flush=True)
    if args.ckpt:
        from seqgen.app.load import load_model

        model, _, state = load_model(args.ckpt, device)
        data_cfg = ImageDataConfig(**state["config"]["data"])
        data_root = state["config"]["data_root"]
        decode = args.decode or state["config"].get("upsampler", {}).get("decode", "sample")
        res.update(step=state["step"], train_seconds=state.get("train_seconds"))
    else:
        data_cfg = ImageDataConfig(name="shapes", n_train=200, n_valid=50, n_test=max(args.images, 16))
        data_root, model, decode = args.data_root, None, args.decode or "mee"
    data = prepare_images(data_cfg, data_root)
    res["dataset"] = data.meta["dataset"]
    if model is None:
        torch.manual_seed(0)
        model = build_upsampler(Upsampler.Config(arch=args.arch, n_colors=data.codec.size, factor=data.meta["factor"],
                                                 **({"n_layer": 6, "n_embd": 64} if args.arch == "conv" else {})))
        model = model.to(device).eval()
        if args.arch == "blocks" and decode == "mee":
            decode = "sample"
    res.update(arch=model.config.arch, decode=decode)
    palette = torch.from_numpy(data.codec.palette.astype(np.float32))
    split = "test" if data.count("test") else "valid"
    n = min(args.images, data.count(split))
    pick = spread(data.count(split), n)       # the images evaluate_upsampler scores too
    lo_np, truth = np.array(data.lo(split)[pick]), np.array(data.hi(split)[pick])

    spi = seconds_per_image(model, lo_np, args, decode, palette, device, 1 if args.quick else 3)
    res["seconds_per_image"] = spi
    print(f"upsample {args.batch} images per batch ({model.config.arch}, {decode}): {spi:.3f} s per 128x128 "
          f"image ({1 / spi:.1f} images/s)", flush=True)

    f = data.meta["factor"]
    rows = {"nearest": upsample_nearest(lo_np, f), "bicubic": upsample_bicubic_baseline(lo_np, data.codec, f)}
    if args.ckpt:
        from seqgen.families.upsampler.evaluate import evaluate_upsampler

        res["bits_per_token"] = evaluate_upsampler(model, data, split, device, n)[f"{split}/bits_per_token"]
        print(f"bits per high-res token ({n} {split} images): {res['bits_per_token']:.4f}", flush=True)
        decodes = (["sample", "greedy"] + (["mee"] if model.config.arch == "conv" else [])) if args.all_decodes \
            else [decode]
        for d in decodes:
            rows["model" if d == decode else f"model_{d}"] = run(model, lo_np, args, d, palette, device)
    for name, hi in rows.items():
        m = upsample_metrics(hi, truth, lo_np, data.codec, f)
        res.update({f"{name}_{k}": v for k, v in m.items()})
        print(f"{name:13s} accuracy {m['token_accuracy']:.4f}  PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.4f}  "
              f"consistency {m['consistency']:.4f}  roughness x{m['roughness_ratio']:.2f}  ({n} {split} images)",
              flush=True)
    if args.ckpt and args.figure:
        write_figure(args.figure, lo_np[:4], rows["nearest"][:4], rows["bicubic"][:4], rows["model"][:4],
                     truth[:4], data.codec)
    if args.ckpt and args.text2pixel:
        res.update(pipeline_roughness(args.text2pixel, model, data, split, pick, truth, decode, palette, args, device))
    print(json.dumps(res))


def write_figure(path, lo, nearest, bicubic, ours, truth, codec):
    """Rows of input | nearest | bicubic | ours | truth, each cell 128x128 (the 32x32 input shown
    at 2x in the middle of a cell of its background colour)."""
    from seqgen.data.images.codec import grid_image

    H, W = truth.shape[1:]
    small = upsample_nearest(lo, 2)                                   # (N, 64, 64): visible, still coarse
    cells, labels = [], []
    for i in range(len(lo)):
        pad = np.full((H, W), 0, dtype=lo.dtype)
        pad[:] = np.bincount(lo[i].ravel()).argmax()                  # the image's own background
        y, x = (H - small.shape[1]) // 2, (W - small.shape[2]) // 2
        pad[y:y + small.shape[1], x:x + small.shape[2]] = small[i]
        cells += [pad, nearest[i], bicubic[i], ours[i], truth[i]]
        labels += ["input (2x)", "nearest 4x", "bicubic", "upsampler", "truth"] if i == 0 else [""] * 5
    grid_image(cells, codec, labels, scale=1, ncols=5).save(path)
    print(f"figure: {path}", flush=True)


def pipeline_roughness(t2p_ckpt, model, data, split, pick, truth, decode, palette, args, device) -> dict:
    """Caption -> 32x32 (text2pixel, its guidance, seed 0) -> 128x128 (this upsampler) for the first
    caption of each scored test scene: edge roughness (boundary pixels per region pixel) of the
    results over the true 128x128 scenes' (1.00 = as smooth as the truth), nearest 4x beside it."""
    from seqgen.app.load import load_model
    from seqgen.families.text2pixel.generate import draw
    from seqgen.families.upsampler.evaluate import roughness

    t2p, tok, t2p_state = load_model(t2p_ckpt, device)
    if t2p_state["config"]["data"]["name"] != data.meta["dataset"]:
        raise SystemExit(f"--text2pixel {t2p_ckpt} was trained on {t2p_state['config']['data']['name']!r}, "
                         f"the upsampler on {data.meta['dataset']!r}: use checkpoints of the same dataset")
    caps = data.captions(split)
    texts = [caps[i][0] for i in pick]
    guidance = args.guidance if args.guidance is not None else \
        (t2p_state["config"].get("text2pixel") or {}).get("guidance", 3.0)
    t = time.perf_counter()
    drawn = draw(t2p, tok, texts, data.caption_len, device, guidance, seed=0, strict=False)   # (N, 32, 32)
    hi = run(model, drawn, args, decode, palette, device)                                      # (N, 128, 128)
    secs = time.perf_counter() - t
    bg, f = data.codec.background, data.meta["factor"]
    true_r = roughness(truth, bg)
    out = {"pipeline_images": len(texts), "pipeline_guidance": guidance, "pipeline_seconds": secs,
           "pipeline_roughness_ratio": roughness(hi, bg) / true_r,
           "pipeline_nearest_roughness_ratio": roughness(upsample_nearest(drawn, f), bg) / true_r}
    print(f"caption -> 32x32 -> 128x128 ({len(texts)} {split} captions, guidance {guidance}, {secs:.1f} s): "
          f"roughness x{out['pipeline_roughness_ratio']:.3f} of the true scenes' (nearest 4x of the same "
          f"drafts x{out['pipeline_nearest_roughness_ratio']:.3f}; target within 10%)", flush=True)
    return out


if __name__ == "__main__":
    main()
