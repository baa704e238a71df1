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
The scores are the library's (seqgen.families.upsampler.evaluate.compare, seqgen.app.pipeline_eval).
Ends with one JSON line: {"bench": "upsampler", ...}.
"""

import argparse

import numpy as np
import torch

from seqgen import families
from seqgen.app.pipeline_eval import pipeline_roughness
from seqgen.bench import checkpoint_images, emit, machine, record, timeit
from seqgen.data.images.codec import grid_image, upsample_nearest
from seqgen.data.images.prepare import ImageDataConfig, prepare_images
from seqgen.data.subsets import spread
from seqgen.families.upsampler.evaluate import compare, evaluate_upsampler, upsample_bicubic_baseline, upsample_metrics
from seqgen.families.upsampler.generate import upsample
from seqgen.families.upsampler.model import Upsampler, build_upsampler


def run(model, lo_np, args, decode, palette, device, seed=0):
    """lo (N, h, w) -> (N, h*f, w*f) in batches of args.batch, with the bench's decoding flags."""
    gen = torch.Generator().manual_seed(seed)
    return np.concatenate([
        upsample(model, torch.from_numpy(lo_np[s:s + args.batch]).long().to(device), decode, args.temperature,
                 args.top_k, gen, palette, not args.unconstrained, args.retries).cpu().numpy()
        for s in range(0, len(lo_np), args.batch)])


def model_and_data(args, device, res: dict):
    """The checkpoint and its own images, or an untrained model on generated shapes -> (model, data, decode)."""
    if args.ckpt:
        model, _, state, data = checkpoint_images(args.ckpt, device)
        settings = families.get(state["model_name"]).settings_of(state)
        res.update(step=state["step"], train_seconds=state.get("train_seconds"))
        return model, data, args.decode or settings.decode
    data = prepare_images(ImageDataConfig(name="shapes", n_train=200, n_valid=50, n_test=max(args.images, 16)),
                          args.data_root)
    torch.manual_seed(0)
    model = build_upsampler(Upsampler.Config(arch=args.arch, n_colors=data.codec.size, factor=data.meta["factor"],
                                             **({"n_layer": 6, "n_embd": 64} if args.arch == "conv" else {})))
    decode = args.decode or "mee"
    return model.to(device).eval(), data, "sample" if args.arch == "blocks" and decode == "mee" else decode


def quality(model, data, split, n, decode, device, args, res: dict):
    """Each decoding rule's metrics beside nearest and bicubic (upsampler.evaluate.compare) -> the
    default rule's images."""
    decodes = (["sample", "greedy"] + (["mee"] if model.config.arch == "conv" else [])) if args.all_decodes \
        else [decode]
    ours = None
    for d in [decode] + [d for d in decodes if d != decode]:
        scores, pred, _ = compare(model, data, split, n, device, 0, args.temperature, args.top_k, args.retries,
                                  args.batch, d, not args.unconstrained)
        scores.pop("seconds_per_image")   # timed apart, on one batch
        if d == decode:
            ours = pred
            res.update(scores)
        else:
            res.update({k.replace("model_", f"model_{d}_", 1): v for k, v in scores.items() if k.startswith("model_")})
    return ours


def print_rows(res: dict, n: int, split: str) -> None:
    for name in sorted({k.rsplit("_psnr", 1)[0] for k in res if k.endswith("_psnr")}):
        m = {k: res[f"{name}_{k}"] for k in ("token_accuracy", "psnr", "ssim", "consistency", "roughness_ratio")}
        print(f"{name:13s} accuracy {m['token_accuracy']:.4f}  PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.4f}  "
              f"consistency {m['consistency']:.4f}  roughness x{m['roughness_ratio']:.2f}  ({n} {split} images)",
              flush=True)


def write_figure(path, lo, nearest, bicubic, ours, truth, codec):
    """Rows of input | nearest | bicubic | ours | truth, each cell 128x128 (the 32x32 input shown
    at 2x in the middle of a cell of its background colour)."""
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


def parser() -> argparse.ArgumentParser:
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
    return ap


def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    device = torch.device("cuda" if args.cuda else "cpu")
    res = {"bench": "upsampler", **machine(probe_bf16=False),
           "device": torch.cuda.get_device_name() if args.cuda else "cpu", "batch": args.batch,
           "constrained": not args.unconstrained, "retries": args.retries, "temperature": args.temperature}
    print(f"machine: {res['cpu']}, capability {res['cpu_capability']}, {res['threads']} threads", flush=True)
    model, data, decode = model_and_data(args, device, res)
    res.update(dataset=data.meta["dataset"], arch=model.config.arch, decode=decode)
    palette = torch.from_numpy(data.codec.palette.astype(np.float32))
    split = "test" if data.count("test") else "valid"
    n = min(args.images, data.count(split))
    pick = spread(data.count(split), n)       # the images evaluate_upsampler and compare score too
    lo_np, truth, f = np.array(data.lo(split)[pick]), np.array(data.hi(split)[pick]), data.meta["factor"]
    t = timeit(lambda r: run(model, lo_np[:args.batch], args, decode, palette, device, r),
               over=range(1 if args.quick else 3), device=device)
    spi = record(res, "seconds_per_image", t, 1 / min(args.batch, len(lo_np)))
    print(f"upsample {args.batch} images per batch ({model.config.arch}, {decode}): {spi:.3f} s per 128x128 "
          f"image ({1 / spi:.1f} images/s)", flush=True)
    rows = {"nearest": upsample_nearest(lo_np, f), "bicubic": upsample_bicubic_baseline(lo_np, data.codec, f)}
    for name, hi in rows.items():
        res.update({f"{name}_{k}": v for k, v in upsample_metrics(hi, truth, lo_np, data.codec, f).items()})
    if args.ckpt:
        res.update(bits_per_token=evaluate_upsampler(model, data, split, device, n)
                   [f"{split}/bits_per_token"])
        print(f"bits per high-res token ({n} {split} images): {res['bits_per_token']:.4f}", flush=True)
        ours = quality(model, data, split, n, decode, device, args, res)
        if args.figure:
            write_figure(args.figure, lo_np[:4], rows["nearest"][:4], rows["bicubic"][:4], ours[:4], truth[:4],
                         data.codec)
        if args.text2pixel:
            res.update(pipeline_roughness(args.text2pixel, lambda lo: run(model, lo, args, decode, palette, device),
                                          data, split, pick, "run" if args.guidance is None else args.guidance,
                                          device))
    print_rows(res, n, split)
    emit(res)
    return res


if __name__ == "__main__":
    main()
