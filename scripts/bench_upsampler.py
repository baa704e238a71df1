"""Benchmark the 4x upsampler: speed per 128x128 image, and quality beside the two baselines.

python scripts/bench_upsampler.py --quick                    # speed of the default model (untrained) +
                                                             #   the baselines on held-out shapes
python scripts/bench_upsampler.py --ckpt outputs/upsampler_shapes/checkpoints/last.pt [--images 64]
                                                             # + the trained model on its dataset's test split
python scripts/bench_upsampler.py --cuda                     # GPU speed
Ends with one JSON line: {"bench": "upsampler", ...}.
"""

import argparse
import json
import statistics
import time

import numpy as np
import torch

from seqgen.data.images.codec import upsample_nearest
from seqgen.data.images.prepare import ImageDataConfig, prepare_images
from seqgen.families import build_model
from seqgen.families.upsampler.evaluate import upsample_bicubic_baseline, upsample_metrics
from seqgen.families.upsampler.generate import upsample_tokens


def seconds_per_image(model, lo: torch.Tensor, reps: int, retries: int, temperature=1.0, top_k=None) -> float:
    times = []
    for r in range(reps):
        t = time.perf_counter()
        upsample_tokens(model, lo, temperature, top_k, generator=torch.Generator().manual_seed(r), retries=retries)
        if lo.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times) / lo.size(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ckpt", help="an upsampler checkpoint: measure it on its dataset's test split")
    ap.add_argument("--images", type=int, default=64, help="held-out images scored")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--retries", type=int, default=3)
    ap.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (0: greedy)")
    ap.add_argument("--top-k", type=int, default=None)
    ap.add_argument("--cuda", action="store_true")
    ap.add_argument("--data-root", default="data")
    args = ap.parse_args()
    device = torch.device("cuda" if args.cuda else "cpu")
    res = {"bench": "upsampler", "device": torch.cuda.get_device_name() if args.cuda else "cpu",
           "threads": torch.get_num_threads(), "batch": args.batch, "retries": args.retries,
           "temperature": args.temperature, "top_k": args.top_k}
    if args.ckpt:
        from seqgen.app.load import load_model

        model, _, state = load_model(args.ckpt, device)
        data_cfg = ImageDataConfig(**state["config"]["data"])
        data_root = state["config"]["data_root"]
        res["step"] = state["step"]
    else:
        data_cfg = ImageDataConfig(name="shapes", n_train=200, n_valid=50, n_test=max(args.images, 16))
        data_root = args.data_root
        model = None
    data = prepare_images(data_cfg, data_root)
    res["dataset"] = data.meta["dataset"]
    if model is None:
        torch.manual_seed(0)
        model = build_model("upsampler", {"context": 2, "n_layer": 3, "n_head": 4, "n_embd": 128},
                            n_colors=data.codec.size, factor=data.meta["factor"]).to(device).eval()
    split = "test" if data.count("test") else "valid"
    n = min(args.images, data.count(split))
    from seqgen.data.images.prepare import spread

    pick = spread(data.count(split), n)       # the images evaluate_upsampler scores too
    lo_np = np.array(data.lo(split)[pick])
    truth = np.array(data.hi(split)[pick])

    lo = torch.from_numpy(lo_np[:args.batch]).long().to(device)
    spi = seconds_per_image(model, lo, 1 if args.quick else 3, args.retries, args.temperature, args.top_k)
    res["seconds_per_image"] = spi
    print(f"upsample {args.batch} images per batch: {spi:.3f} s per 128x128 image ({1 / spi:.1f} images/s)", flush=True)

    f = data.meta["factor"]
    rows = {"nearest": upsample_nearest(lo_np, f), "bicubic": upsample_bicubic_baseline(lo_np, data.codec, f)}
    if args.ckpt:
        from seqgen.families.upsampler.evaluate import evaluate_upsampler

        res["bits_per_token"] = evaluate_upsampler(model, data, split, device, n)[f"{split}/bits_per_token"]
        print(f"bits per high-res token ({n} {split} images): {res['bits_per_token']:.4f}", flush=True)
        gen = torch.Generator().manual_seed(0)
        rows["model"] = np.concatenate([
            upsample_tokens(model, torch.from_numpy(lo_np[s:s + args.batch]).long().to(device), args.temperature,
                            args.top_k, generator=gen, retries=args.retries).cpu().numpy()
            for s in range(0, n, args.batch)])
    for name, hi in rows.items():
        m = upsample_metrics(hi, truth, lo_np, data.codec, f)
        res.update({f"{name}_{k}": v for k, v in m.items()})
        print(f"{name:8s} token accuracy {m['token_accuracy']:.4f}  PSNR {m['psnr']:.2f} dB  "
              f"consistency {m['consistency']:.4f}  ({n} {split} images)", flush=True)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
