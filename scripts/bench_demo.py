"""The demo's speed targets, each through the tab's own function (what a click runs), 1 torch thread
as the demo serves (scripts/demo.py --threads 1):

python scripts/bench_demo.py            # app start, Shannon, Efros-Leung 64->128, video texture 300 frames,
                                        # analogy 128^2, caption -> 128^2 (median of 3 each)
python scripts/bench_demo.py --quick    # one repetition each (about a minute)

Caption -> 128^2 needs a text2pixel and an upsampler checkpoint (--t2p / --up); without them it builds
both at the recipes' shapes (experiment=text2pixel_shapes / upsampler_shapes) with one training step
on 200 images: the drawing time does not depend on the training (a trained model's patch vocabulary is
larger, so this is stated beside the figure). Ends with one JSON line: {"bench": "demo", ...}.
"""

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

from seqgen.app.demo import DemoContext, shannon, text2pixel, texture, video
from seqgen.app.demo import analogy as an
from seqgen.core.precision import machine

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("start", "shannon", "efros", "video", "analogy", "caption")


def timed(fn, reps: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def app_start() -> float:
    """Seconds from `python scripts/demo.py` to the page answering HTTP 200."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "demo.py"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - t0 < 120:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the demo did not answer within 120 s")
    finally:
        proc.terminate()
        proc.wait(10)


def pipeline_models(root: Path) -> tuple[str, str]:
    from seqgen import compose, train

    common = [f"out_root={root}", f"data_root={root / 'data'}", "trainer.max_steps=1", "trainer.eval_every=1",
              "trainer.ckpt_every=1", "trainer.sample_every=1000", "data.n_train=200", "data.n_valid=4",
              "data.n_test=4", "logger=none"]
    train(compose(["experiment=text2pixel_shapes", "run_name=t2p", "text2pixel.eval_images=2",
                   "text2pixel.fidelity_images=0", "text2pixel.sample_images=1", *common]))
    train(compose(["experiment=upsampler_shapes", "run_name=up", "upsampler.eval_images=2",
                   "upsampler.sample_images=1", *common]))
    return str(root / "t2p/checkpoints/last.pt"), str(root / "up/checkpoints/last.pt")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--t2p", default=None, help="a text2pixel checkpoint (default: one built at the recipe's shape)")
    ap.add_argument("--up", default=None, help="an upsampler checkpoint")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {PARTS}")
    args = ap.parse_args()
    want = set(args.only.split(","))
    reps = 1 if args.quick else 3
    torch.set_num_threads(1)
    ctx = DemoContext(data_root=ROOT / "data")
    res = {"bench": "demo", "quick": args.quick, "torch_threads": 1, **machine()}

    if "start" in want:
        res["app_start_s"] = statistics.median(app_start() for _ in range(reps))
        print(f"app start: {res['app_start_s']:.2f} s", flush=True)

    for unit, order, n in (("chars", "6", 300), ("words", "3", 100)) if "shannon" in want else ():
        t0 = time.perf_counter()
        shannon.fitted(ctx, "tiny-shakespeare", None, unit, order)
        fit = time.perf_counter() - t0
        per, _ = timed(lambda: shannon.shannon(ctx, "tiny-shakespeare", None, unit, order, "", n, 1), reps)
        res[f"shannon_{unit}{order}_fit_s"], res[f"shannon_{unit}{order}_sample_s"] = fit, per
        print(f"Shannon {unit} order {order}: fit {fit:.2f} s (first fit in this process), {n} tokens {per:.3f} s",
              flush=True)

    if "efros" in want:
        res["efros_leung_64_to_128_s"], _ = timed(lambda: texture.grow(ctx, "brick", None, 64, 11, 128, 0), reps)
        print(f"Efros-Leung 64 -> 128, window 11: {res['efros_leung_64_to_128_s']:.2f} s", flush=True)
    if "video" in want:
        res["video_texture_300_s"], _ = timed(lambda: video.video_texture(ctx, "pendulum", None, 0.05, 0, 299, 200,
                                                                          0), reps)
        print(f"video texture, 300 frames (analysis, 200 played frames as GIF, matrix figure): "
              f"{res['video_texture_300_s']:.2f} s", flush=True)
    if "analogy" in want:
        analogy_part(ctx, res, reps)
    if "caption" in want:
        caption_part(ctx, res, reps, args)
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in res.items()}))


def analogy_part(ctx, res: dict, reps: int) -> None:
    res["analogy_128_s"], out = timed(lambda: an.run_analogy(ctx, "procedural filter", "blur", "astronaut", None,
                                                             "procedural scene", None, None, 128, 0), reps)
    print(f"analogy 128^2 (blur, astronaut -> procedural scene): {res['analogy_128_s']:.2f} s ({out[-1]})",
          flush=True)


def caption_part(ctx, res: dict, reps: int, args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t2p, up = (args.t2p, args.up) if args.t2p and args.up else pipeline_models(Path(tmp))
        res["caption_models"] = "given" if args.t2p and args.up else "recipe shapes, 1 training step"
        caption = "a large red star left of a small blue ring on a white background"
        text2pixel.caption_to_pixels(ctx, t2p, up, caption, 2.0, 0)   # loads both (cached), as a first click does
        res["caption_to_128_s"], out = timed(lambda: text2pixel.caption_to_pixels(ctx, t2p, up, caption, 2.0, 0), reps)
    print(f"caption -> 32x32 -> 128x128: {res['caption_to_128_s']:.2f} s ({out[-1]})", flush=True)


if __name__ == "__main__":
    main()
