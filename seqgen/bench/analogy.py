"""Image analogies: speed (256^2 and 512^2, 3 levels, 5x5 windows) against the straightforward scanline
implementation, and quality (PSNR / SSIM on filters with a ground truth) against the naive baselines.

python scripts/bench_analogy.py                 # everything, ~4-6 min on 2 cores
python scripts/bench_analogy.py --quick         # ~1 min: 256^2 with PatchMatch only, table at 128^2
python scripts/bench_analogy.py --figures docs  # also render the committed figures (procedural inputs only)
Every time is the median of its repeats (the spread under "spread"). Ends with one JSON line:
{"bench": "analogy", ...}.
"""

import argparse
import multiprocessing as mp
import resource

import numpy as np

from seqgen.bench import emit, machine, record, timeit
from seqgen.texture.analogy import AnalogyConfig, analogy_result
from seqgen.texture.analogy_eval import GROUND_TRUTH, config_for, score_filter, table
from seqgen.texture.analogy_reference import analogy_reference
from seqgen.texture.filters import blur, label_palette, make_pair
from seqgen.texture.images import load_image, save_png, side_by_side
from seqgen.texture.procedural import bricks, label_field, scene

TARGET_256_S, TARGET_512_S = 10.0, 60.0   # the targets
QUALITY_KEYS = ("b_prime_psnr", "b_prime_ssim", "b_unchanged_psnr", "b_unchanged_ssim", "linear_psnr", "linear_ssim",
                "b_prime_pm_psnr", "beats_baselines")


def photos(n: int):
    """A: astronaut scaled to n x n; B: coffee scaled to n high, centre n x n (the CLI's example pair)."""
    a = load_image("skimage:astronaut", resize=n)
    coffee = load_image("skimage:coffee", resize=n * 3 // 2)
    x = (coffee.shape[1] - n) // 2
    return a[:n, :n], coffee[:n, x:x + n]


def same_photo(n: int):
    """A and B: the left and right n x n squares of coffee (native resolution for n = 256: no overlap)."""
    coffee = load_image("skimage:coffee", resize=None if n == 256 else round(600 * n / 256))
    y = (coffee.shape[0] - n) // 2
    return coffee[y:y + n, :n], coffee[y:y + n, -n:]


def _child_512(q):
    a, b = photos(512)
    t = timeit(lambda: analogy_result(a, blur(a), b, AnalogyConfig(levels=3, window=5, search="patchmatch"), 0), 1)
    q.put({"seconds": t.median, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "levels_s": [round(x, 2) for x in t.result.seconds]})


def speed_256(res: dict, quick: bool) -> None:
    """256^2 B from a 256^2 A / A' pair, 3 levels, 5x5 windows (A' = blur(A))."""
    a, b = photos(256)
    ap_ = blur(a)
    for search in ("patchmatch",) if quick else ("patchmatch", "exact"):
        t = timeit(lambda: analogy_result(a, ap_, b, AnalogyConfig(levels=3, window=5, search=search), 0),
                   3 if search == "patchmatch" else 1)
        s = round(record(res, f"t256_{search}_s", t), 2)
        res[f"t256_{search}_s"] = s
        print(f"256x256 {search}: {s:.2f} s (median of {t.n}, {t.low:.2f}-{t.high:.2f}; last run's levels "
              f"{[round(x, 2) for x in t.result.seconds]})", flush=True)


def reference_scaling(res: dict, sizes) -> None:
    """Seconds of analogy_reference for n x n A, A', B (3 levels), extrapolated to 256^2 with its measured
    scaling, and the fast exact path on the largest (identical output)."""
    ref = {}
    cfg = AnalogyConfig(levels=3, window=5, search="exact", dtype="float64")
    for n in sizes:
        a, b = photos(n)
        t = timeit(lambda: analogy_reference(a, blur(a), b, cfg, seed=0), 1)
        ref[n], slow = t.median, t.result
        print(f"  reference {n}x{n}: {ref[n]:.2f} s", flush=True)
    fast = timeit(lambda: analogy_result(a, blur(a), b, cfg, 0), 1)
    same = bool(np.array_equal(fast.result.source, slow.source))
    n1, n2 = sizes[-2], sizes[-1]
    k = float(np.log(ref[n2] / ref[n1]) / np.log(n2 / n1))
    res.update(reference_s={str(n): round(v, 2) for n, v in ref.items()}, reference_exponent=round(k, 2),
               reference_256_extrapolated_s=round(ref[n2] * (256 / n2) ** k, 1),
               fast_exact_small_s=round(fast.median, 3), fast_identical_to_reference=same)
    for search in ("patchmatch", "exact"):
        if f"t256_{search}_s" in res:
            res[f"speedup_{search}_vs_reference"] = round(res["reference_256_extrapolated_s"] / res[f"t256_{search}_s"])
    print(f"reference: time ~ n^{k:.2f}, 256x256 extrapolated {res['reference_256_extrapolated_s']:.0f} s; "
          f"fast exact on {n2}x{n2}: {fast.median:.3f} s, identical output: {same}", flush=True)


def speed_512(res: dict) -> None:
    """512^2 in a fresh process, so that its peak memory is its own."""
    q = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=_child_512, args=(q,))
    p.start()
    r512 = q.get()
    p.join()
    res.update(t512_patchmatch_s=round(r512["seconds"], 2), peak_rss_512_mb=round(r512["peak_rss_mb"]))
    print(f"512x512 patchmatch: {r512['seconds']:.2f} s, levels {r512['levels_s']}, "
          f"peak RSS {r512['peak_rss_mb']:.0f} MB", flush=True)


def quality(res: dict, n: int) -> None:
    """B' vs the true filter applied to B, beside B unchanged and the global linear map."""
    res["table"] = {}
    for proto, (pa, pb) in (("same_photo", same_photo(n)), ("other_photo", photos(n))):
        rows = []
        for name in GROUND_TRUTH:
            row = score_filter(name, pa, pb, search="exact")
            row.pop("images")
            row["b_prime_pm_psnr"] = score_filter(name, pa, pb, search="patchmatch")["b_prime_psnr"]
            rows.append(row)
            res["table"][f"{proto}/{name}"] = {k: row[k] for k in QUALITY_KEYS}
        print(f"\n{proto} ({n}x{n}, exact search):\n{table(rows)}")
        print("PatchMatch B′ PSNR: " + ", ".join(f"{r['filter']} {r['b_prime_pm_psnr']:.2f}" for r in rows), flush=True)


def figures(outdir: str):
    """Application panels made only from seqgen's own procedural images (safe to commit)."""
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


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--figures", default=None, help="folder for the procedural figures (e.g. docs)")
    return ap


def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    mach = machine(probe_bf16=False)
    res = {"bench": "analogy", "cpu": mach["cpu"], "capability": mach["cpu_capability"], "threads": mach["threads"],
           "torch": mach["torch"], "quick": args.quick}
    print(f"CPU: {res['cpu']} ({res['capability']}), {res['threads']} threads", flush=True)
    speed_256(res, args.quick)
    reference_scaling(res, (24, 32) if args.quick else (32, 48, 64))
    if not args.quick:
        speed_512(res)
    quality(res, 128 if args.quick else 256)
    local = [v["beats_baselines"] for k, v in res["table"].items()
             if k.split("/")[1] in ("blur", "emboss", "posterize")]
    res["targets"] = {"t256_le_10s": res["t256_patchmatch_s"] <= TARGET_256_S,
                      "t512_le_60s": res.get("t512_patchmatch_s", float("inf")) <= TARGET_512_S,
                      "beats_baselines_blur_emboss_posterize": all(local)}
    if args.figures:
        figures(args.figures)
    emit(res)
    return res


if __name__ == "__main__":
    main()
