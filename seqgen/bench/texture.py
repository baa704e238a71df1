"""Efros-Leung speed and quality: the fast exact implementation beside the slow reference.

python scripts/bench_texture.py            # 64x64 colour sample -> 128x128, window 11 (reference ~1-2 min)
python scripts/bench_texture.py --quick    # 32x32 output, about 10 s
Ends with one JSON line: {"bench": "texture", ...}; the straightforward numpy version's seconds (the
anchor `texture.naive_numpy_s.<size>`) come from docs/benchmarks.md.
"""

import argparse

import numpy as np
import torch

from seqgen.bench import anchors, emit, record, timeit
from seqgen.texture.efros_leung import EfrosLeungConfig, synthesize
from seqgen.texture.images import load_image, save_png, texture_distance


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--image", default="skimage:immunohistochemistry")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--window", type=int, default=11)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default="outputs/texture/bench")
    ap.add_argument("--anchors", default=None, help="the anchor table (default: docs/benchmarks.md)")
    return ap


def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    size = args.size or (32 if args.quick else 128)
    sample = load_image(args.image, resize=128, crop=64)
    cfg = EfrosLeungConfig(window=args.window)
    res = {"bench": "texture", "image": args.image, "sample": list(sample.shape), "size": size,
           "window": args.window, "device": args.device}
    t = timeit(lambda: synthesize(sample, size, cfg, seed=0, device=args.device), args.reps, device=args.device)
    fast = t.result
    record(res, "fast_s", t)
    res.update({f"fast_{k}": v for k, v in texture_distance(sample, fast).items()})
    print(f"fast ({args.device}): {res['fast_s']:.2f} s for {size}x{size} (median of {args.reps})", flush=True)
    t = timeit(lambda: synthesize(sample, size, cfg, seed=0, reference=True), 1)
    ref = t.result
    record(res, "reference_s", t)
    res.update(identical_to_reference=bool(np.array_equal(fast, ref)),
               **{f"reference_{k}": v for k, v in texture_distance(sample, ref).items()})
    res["speedup_vs_reference"] = res["reference_s"] / res["fast_s"]
    naive = anchors(args.anchors).get(f"texture.naive_numpy_s.{size}")
    if naive and args.window == 11:
        res["speedup_vs_anchor_numpy"] = naive / res["fast_s"]
    res["quality_ratio"] = res["fast_patch_nn"] / max(res["reference_patch_nn"], 1e-12)
    print(f"reference: {res['reference_s']:.1f} s, identical output: {res['identical_to_reference']}, "
          f"speed-up {res['speedup_vs_reference']:.0f}x", flush=True)
    save_png(sample, f"{args.out}/sample.png")
    save_png(fast, f"{args.out}/fast_{size}.png")
    emit(res, digits=4)
    return res


if __name__ == "__main__":
    main()
