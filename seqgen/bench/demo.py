"""The demo's speed targets, each through the tab's own function (what a click runs), 1 torch thread
as the demo serves (scripts/demo.py --threads 1):

python scripts/bench_demo.py            # app start, Shannon, Efros-Leung 64->128, video texture 300 frames,
                                        # analogy 128^2, caption -> 128^2 (median of 3 each)
python scripts/bench_demo.py --quick    # one repetition each (about a minute)

Caption -> 128^2 needs a text2pixel and an upsampler checkpoint (--t2p / --up); without them it builds
both at the recipes' shapes (experiment=text2pixel_shapes / upsampler_shapes) with one training step
on 200 images: the drawing time does not depend on the training (a trained model's patch vocabulary is
larger, so this is stated beside the figure). Ends with one JSON line: {"bench": "demo", ...}.
CPU seconds are this process's (one torch thread): what a call costs on an idle core, where wall time
on the shared machine also counts the waits for a core that other jobs hold.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

from seqgen import compose, train
from seqgen.app.demo import DemoContext, shannon, text2pixel, texture, video
from seqgen.app.demo import analogy as an
from seqgen.bench import Timing, emit, machine, timeit

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("start", "shannon", "efros", "video", "analogy", "caption")
CAPTION = "a large red star left of a small blue ring on a white background"


def _cpu_seconds(pid: int) -> float | None:
    """user + system CPU seconds of a running process (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def app_start() -> dict:
    """From `python scripts/demo.py` to the page answering HTTP 200: wall seconds and the server's CPU seconds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "demo.py"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - t0 < 180:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                    if r.status == 200:
                        return {"wall_s": time.perf_counter() - t0, "cpu_s": _cpu_seconds(proc.pid)}
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the demo did not answer within 180 s")
    finally:
        proc.terminate()
        proc.wait(10)


def report(res: dict, name: str, t: Timing | dict, what: str) -> None:
    wall, cpu = (t.median, t.cpu) if isinstance(t, Timing) else (t["wall_s"], t["cpu_s"])
    res[f"{name}_wall_s"], res[f"{name}_cpu_s"] = wall, cpu
    if isinstance(t, Timing):
        res.setdefault("spread", {})[f"{name}_wall_s"] = t.spread()
    print(f"{what}: {wall:.2f} s wall, {f'{cpu:.2f}' if cpu is not None else '?'} s CPU", flush=True)


def pipeline_models(root: Path) -> tuple[str, str]:
    common = [f"out_root={root}", f"data_root={root / 'data'}", "trainer.max_steps=1", "trainer.eval_every=1",
              "trainer.ckpt_every=1", "trainer.sample_every=1000", "data.n_train=200", "data.n_valid=4",
              "data.n_test=4", "logger=none"]
    train(compose(["experiment=text2pixel_shapes", "run_name=t2p", "text2pixel.eval_images=2",
                   "text2pixel.fidelity_images=0", "text2pixel.sample_images=1", *common]))
    train(compose(["experiment=upsampler_shapes", "run_name=up", "upsampler.eval_images=2",
                   "upsampler.sample_images=1", *common]))
    return str(root / "t2p/checkpoints/last.pt"), str(root / "up/checkpoints/last.pt")


def caption_part(ctx, res: dict, reps: int, args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t2p, up = (args.t2p, args.up) if args.t2p and args.up else pipeline_models(Path(tmp))
        res["caption_models"] = "given" if args.t2p and args.up else "recipe shapes, 1 training step"
        # the untimed first call loads both models (cached), as a first click does
        t = timeit(lambda: text2pixel.caption_to_pixels(ctx, t2p, up, CAPTION, 2.0, 0), reps, warmup=1)
    report(res, "caption_to_128", t, f"caption -> 32x32 -> 128x128 ({t.result[-1]})")


def tabs(ctx, res: dict, want: set, reps: int) -> None:
    """Shannon, Efros-Leung, video texture and analogy, each through its tab's function."""
    for unit, order, n in (("chars", "6", 300), ("words", "3", 100)) if "shannon" in want else ():
        t = timeit(lambda: shannon.fitted(ctx, "tiny-shakespeare", None, unit, order), 1)
        report(res, f"shannon_{unit}{order}_fit", t, f"Shannon {unit} order {order}: fit (first in this process)")
        t = timeit(lambda: shannon.shannon(ctx, "tiny-shakespeare", None, unit, order, "", n, 1), reps)
        report(res, f"shannon_{unit}{order}_sample", t, f"Shannon {unit} order {order}: a {n}-token sample")
    if "efros" in want:
        t = timeit(lambda: texture.grow(ctx, "brick", None, 64, 11, 128, 0), reps)
        report(res, "efros_leung_64_to_128", t, "Efros-Leung 64 -> 128, window 11")
    if "video" in want:
        t = timeit(lambda: video.video_texture(ctx, "pendulum", None, 0.05, 0, 299, 200, 0), reps)
        report(res, "video_texture_300", t, "video texture, 300 frames (analysis, 200 frames as GIF, matrix figure)")
    if "analogy" in want:
        t = timeit(lambda: an.run_analogy(ctx, "procedural filter", "blur", "astronaut", None,
                                          "procedural scene", None, None, 128, 0), reps)
        report(res, "analogy_128", t, f"analogy 128^2 (blur, astronaut -> procedural scene; {t.result[-1]})")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--t2p", default=None, help="a text2pixel checkpoint (default: one built at the recipe's shape)")
    ap.add_argument("--up", default=None, help="an upsampler checkpoint")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {PARTS}")
    return ap


def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    want = set(args.only.split(","))
    reps = 1 if args.quick else 3
    torch.set_num_threads(1)
    ctx = DemoContext(data_root=ROOT / "data")
    res = {"bench": "demo", "quick": args.quick, "torch_threads": 1, **machine(),
           "load_average_start": os.getloadavg()[0]}
    if "start" in want:
        runs = [app_start() for _ in range(reps)]
        report(res, "app_start", {k: statistics.median(r[k] for r in runs) if None not in [r[k] for r in runs]
                                  else None for k in ("wall_s", "cpu_s")}, "app start")
    tabs(ctx, res, want, reps)
    if "caption" in want:
        caption_part(ctx, res, reps, args)
    res["load_average"] = os.getloadavg()[0]
    emit(res, digits=3)
    return res


if __name__ == "__main__":
    main()
