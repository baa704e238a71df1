"""Image analogies: speed (256^2 and 512^2, 3 levels, 5x5 windows) against the straightforward scanline
implementation, and quality (PSNR / SSIM on filters with a ground truth) against the naive baselines.

python scripts/bench_analogy.py                 # everything, ~4-6 min on 2 cores
python scripts/bench_analogy.py --quick         # ~1 min: 256^2 with PatchMatch only, table at 128^2
python scripts/bench_analogy.py --figures docs  # also render the committed figures (procedural inputs only)
Ends with one JSON line: {"bench": "analogy", ...}.
"""

import argparse
import json
import multiprocessing as mp
import platform
import resource
import subprocess
import time

import numpy as np
import torch

from seqgen.texture.analogy import AnalogyConfig, analogy_result
from seqgen.texture.analogy_eval import GROUND_TRUTH, score_filter, table
from seqgen.texture.analogy_reference import analogy_reference
from seqgen.texture.filters import blur
from seqgen.texture.images import load_image

TARGET_256_S, TARGET_512_S = 10.0, 60.0


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def photos(n: int):
    """A: astronaut scaled to n x n; B: coffee scaled to n high, centre n x n (the CLI's example pair)."""
    a = load_image("skimage:astronaut", resize=n)
    coffee = load_image("skimage:coffee", resize=n * 3 // 2)
    x = (coffee.shape[1] - n) // 2
    return a[:n, :n], coffee[:n, x:x + n]


def same_photo(n: int):
    """A and B: the left and right n x n squares of coffee (native resolution for n = 256: no overlap)."""
    coffee = load_image("skimage:coffee", resize=None if n == 256 else round(600 * n / 256))
    h = coffee.shape[0]
    y = (h - n) // 2
    return coffee[y:y + n, :n], coffee[y:y + n, -n:]


def timed(a, a_prime, b, cfg, seed=0):
    t = time.perf_counter()
    res = analogy_result(a, a_prime, b, cfg, seed)
    return time.perf_counter() - t, res


def _child_512(q):
    a, b = photos(512)
    cfg = AnalogyConfig(levels=3, window=5, search="patchmatch")
    s, res = timed(a, blur(a), b, cfg)
    q.put({"seconds": s, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "levels_s": [round(x, 2) for x in res.seconds]})


def reference_scaling(sizes):
    """Seconds of analogy_reference for n x n A, A′, B (3 levels), and the fast exact path on the largest."""
    out = {}
    for n in sizes:
        a, b = photos(n)
        cfg = AnalogyConfig(levels=3, window=5, search="exact", dtype="float64")
        t = time.perf_counter()
        ref = analogy_reference(a, blur(a), b, cfg, seed=0)
        out[n] = time.perf_counter() - t
        print(f"  reference {n}x{n}: {out[n]:.2f} s", flush=True)
    fast_s, fast = timed(a, blur(a), b, cfg)
    return out, fast_s, bool(np.array_equal(fast.source, ref.source))


def figures(outdir: str):
    """Application panels made only from seqgen's own procedural images (safe to commit)."""
    from seqgen.texture.analogy_eval import config_for
    from seqgen.texture.filters import label_palette, make_pair
    from seqgen.texture.images import save_png, side_by_side
    from seqgen.texture.procedural import bricks, label_field, scene

    n = 96
    a, b = scene(n, 0), scene(n, 5)
    rows = []
    for name in ("blur", "emboss", "posterize", "kuwahara", "superres", "colorize", "labels", "texture"):
        if name == "labels":          # texture by numbers: B is a generated label map in A's palette
            pair = make_pair("labels", a, a)
            pair["b"] = label_palette(6)[label_field(n, n, 6, seed=3)]
        elif name == "texture":       # texture transfer: render scene 5 in bricks
            pair = make_pair("texture", bricks(n), b)
        else:
            pair = make_pair(name, a, b)
        res = analogy_result(pair["a"], pair["a_prime"], pair["b"], config_for(name, search="exact"), seed=0)
        rows.append(side_by_side([pair["a"], pair["a_prime"], pair["b"], res.b_prime],
                                 [f"A ({name})", "A'", "B", "B'"], scale=1))
        print(f"  figure row {name}", flush=True)
    for part, sel in (("filters", rows[:4]), ("applications", rows[4:])):
        w = max(r.shape[1] for r in sel)
        grid = np.concatenate([np.pad(r, ((0, 4), (0, w - r.shape[1]), (0, 0)), constant_values=255) for r in sel])
        print("  wrote", save_png(grid / 255.0, f"{outdir}/analogy_{part}.png"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--figures", default=None, help="folder for the procedural figures (e.g. docs)")
    args = ap.parse_args()
    res = {"bench": "analogy", "cpu": cpu_name(), "capability": torch.backends.cpu.get_cpu_capability(),
           "threads": torch.get_num_threads(), "torch": torch.__version__, "quick": args.quick}
    print(f"CPU: {res['cpu']} ({res['capability']}), {res['threads']} threads", flush=True)

    # speed: 256^2 B from a 256^2 A / A′ pair, 3 levels, 5x5 windows (A′ = blur(A))
    a, b = photos(256)
    ap_ = blur(a)
    for search in ("patchmatch",) if args.quick else ("patchmatch", "exact"):
        runs = [timed(a, ap_, b, AnalogyConfig(levels=3, window=5, search=search))
                for _ in range(3 if search == "patchmatch" else 1)]       # best of 3: the cores are shared
        s, r = min(runs, key=lambda x: x[0])
        res[f"t256_{search}_s"] = round(s, 2)
        print(f"256x256 {search}: {s:.2f} s (levels {[round(x, 2) for x in r.seconds]}"
              f"{', runs ' + str([round(x[0], 2) for x in runs]) if len(runs) > 1 else ''})", flush=True)

    # the straightforward scanline implementation on small images, extrapolated with its measured scaling
    sizes = (24, 32) if args.quick else (32, 48, 64)
    ref, fast_s, same = reference_scaling(sizes)
    n1, n2 = sizes[-2], sizes[-1]
    k = float(np.log(ref[n2] / ref[n1]) / np.log(n2 / n1))
    res.update(reference_s={str(n): round(v, 2) for n, v in ref.items()}, reference_exponent=round(k, 2),
               reference_256_extrapolated_s=round(ref[n2] * (256 / n2) ** k, 1),
               fast_exact_small_s=round(fast_s, 3), fast_identical_to_reference=same)
    for search in ("patchmatch", "exact"):
        if f"t256_{search}_s" in res:
            res[f"speedup_{search}_vs_reference"] = round(res["reference_256_extrapolated_s"] / res[f"t256_{search}_s"])
    print(f"reference: time ~ n^{k:.2f}, 256x256 extrapolated {res['reference_256_extrapolated_s']:.0f} s; "
          f"fast exact on {n2}x{n2}: {fast_s:.3f} s, identical output: {same}", flush=True)

    if not args.quick:   # 512^2 in a fresh process, so that its peak memory is its own
        q = mp.get_context("spawn").Queue()
        p = mp.get_context("spawn").Process(target=_child_512, args=(q,))
        p.start()
        r512 = q.get()
        p.join()
        res.update(t512_patchmatch_s=round(r512["seconds"], 2), peak_rss_512_mb=round(r512["peak_rss_mb"]))
        print(f"512x512 patchmatch: {r512['seconds']:.2f} s, levels {r512['levels_s']}, "
              f"peak RSS {r512['peak_rss_mb']:.0f} MB", flush=True)

    # quality: B′ vs the true filter applied to B, beside B unchanged and the global linear map
    n = 128 if args.quick else 256
    res["table"] = {}
    for proto, (pa, pb) in (("same_photo", same_photo(n)), ("other_photo", photos(n))):
        rows = []
        for name in GROUND_TRUTH:
            row = score_filter(name, pa, pb, search="exact")
            row.pop("images")
            row["b_prime_pm_psnr"] = score_filter(name, pa, pb, search="patchmatch")["b_prime_psnr"]
            rows.append(row)
            res["table"][f"{proto}/{name}"] = {k: row[k] for k in ("b_prime_psnr", "b_prime_ssim", "b_unchanged_psnr",
                                                                  "b_unchanged_ssim", "linear_psnr", "linear_ssim",
                                                                  "b_prime_pm_psnr", "beats_baselines")}
        print(f"\n{proto} ({n}x{n}, exact search):\n{table(rows)}")
        print("PatchMatch B′ PSNR: " + ", ".join(f"{r['filter']} {r['b_prime_pm_psnr']:.2f}" for r in rows), flush=True)
    local = [v["beats_baselines"] for k, v in res["table"].items()
             if k.split("/")[1] in ("blur", "emboss", "posterize")]
    res["targets"] = {"t256_le_10s": res["t256_patchmatch_s"] <= TARGET_256_S,
                      "t512_le_60s": res.get("t512_patchmatch_s", float("inf")) <= TARGET_512_S,
                      "beats_baselines_blur_emboss_posterize": all(local)}
    if args.figures:
        figures(args.figures)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
