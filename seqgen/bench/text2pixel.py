"""Benchmark text -> 32x32 pixels: training speed, sampling speed (guidance, KV cache), and quality.

python scripts/bench_text2pixel.py --quick                     # about a minute: speed only
python scripts/bench_text2pixel.py                             # full: + no-cache over the whole image
python scripts/bench_text2pixel.py --ckpt outputs/text2pixel_shapes/checkpoints/last.pt
                                   # + quality of a trained model: bits per pixel-token vs the pixel
                                   #   n-gram, fidelity (shapes) or glyph fidelity (emoji), a guidance sweep
python scripts/bench_text2pixel.py --run outputs/text2pixel_shapes --minutes 15,30,60
                                   # the same at the checkpoints nearest 15 / 30 / 60 training minutes
python scripts/bench_text2pixel.py --ckpt PATH --figure docs/text2pixel_shapes.png
                                   # + a picture: held-out captions, truth and 4 samples each (shapes), or
                                   #   8 draws of "a squirrel reaching for a nut", read by the glyph classifier (emoji)
python scripts/bench_text2pixel.py --cuda [--quick]            # GPU sampling / training (bf16), + 8x384 (GPU recipe)
Speed is measured for one pixel per step (patch 1, the previous release) and 2x2 patch tokens
(patch 2), in fp32 and, on a CPU with bf16 matrix instructions, bf16. The anchor is a Hugging Face
GPT-2 of 4 layers x 256 wide on 1,056-token sequences, timed in the same process when `transformers`
is installed (the issue's figure for it, `text2pixel.hf_gpt2_4x256_images_s`, from docs/benchmarks.md).
The quality figures are the library's (seqgen.families.text2pixel.sweep). Ends with one JSON line:
{"bench": "text2pixel", ...}.
"""

import argparse
from pathlib import Path

import matplotlib
import numpy as np
import torch

from seqgen.bench import anchors, checkpoint_images, emit, machine, record_rate, timeit
from seqgen.core import checkpoint as ckpt_io
from seqgen.core.optim import OptimConfig, build_optimizer
from seqgen.core.precision import autocast, cpu_bf16, resolve_precision
from seqgen.data.images import shapes as S
from seqgen.data.images.glyphs import GlyphClassifier
from seqgen.data.images.patches import fit_vocab
from seqgen.data.subsets import spread
from seqgen.families.text2pixel.generate import draw, generate_pixels, run_guidance
from seqgen.families.text2pixel.model import Text2Pixel
from seqgen.families.text2pixel.sweep import guidance_sweep, heldout_bits

DATA = dict(text_vocab_size=40, n_colors=11, caption_len=16, height=32, width=32)
SHAPES = {"p1_4x128": dict(patch=1, n_layer=4, n_head=4, n_embd=128),     # the previous release's recipe
          "p2_4x128": dict(patch=2, n_layer=4, n_head=4, n_embd=128),
          "p2_5x160": dict(patch=2, n_layer=5, n_head=5, n_embd=160)}     # experiment=text2pixel_shapes
GPU_SHAPES = {"p2_8x384": dict(patch=2, n_layer=8, n_head=6, n_embd=384)}  # experiment=text2pixel_shapes_gpu (--cuda)
SQUIRREL = ("a squirrel reaching for a nut", {"glyphs": ["\U0001F43F", "\U0001F330"]})   # chipmunk, chestnut


def build(shape, device, train_grids):
    torch.manual_seed(0)
    cfg = dict(DATA, **shape)
    vocab = None
    if shape["patch"] > 1:
        vocab = fit_vocab(train_grids, shape["patch"], 4096)
        cfg["n_tokens"] = len(vocab)
    m = Text2Pixel(Text2Pixel.Config(**cfg))
    if vocab is not None:
        m.set_vocab(vocab)
    return m.to(device)


def train_speed(model, grids, batch, iters, warmup, device, precision="fp32"):
    """Timing of one AdamW step of the real training_loss on `batch` images."""
    opt = build_optimizer(model, OptimConfig(), device)
    dtype = resolve_precision(precision, device)
    text = torch.randint(0, DATA["text_vocab_size"], (batch, DATA["caption_len"]), device=device)
    pix = torch.from_numpy(np.ascontiguousarray(grids[:batch])).reshape(batch, -1).long().to(device)

    def step():
        with autocast(device, dtype):
            loss, _ = model.training_loss((text, pix))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return timeit(step, iters, warmup, device=device)


def hf_train_speed(batch, iters, warmup):
    """HF GPT-2 (4 layers x 256, 1,056 positions) on 1,056-token sequences: Timing of a step, or None."""
    try:
        from transformers import GPT2Config, GPT2LMHeadModel  # lazy: an optional anchor
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

    return timeit(step, iters, warmup)


def sample_time(model, batch, guidance, use_cache, device, tokens=None, reps=1):
    """Timing of drawing `batch` images (or their first `tokens` image tokens); on CUDA the first draw,
    which pays the kernels' set-up, is not timed."""
    text = torch.randint(0, DATA["text_vocab_size"], (batch, DATA["caption_len"]), device=device)
    return timeit(lambda: generate_pixels(model, text, guidance, generator=torch.Generator().manual_seed(0),
                                          use_cache=use_cache, num_tokens=tokens),
                  reps, 1 if device.type == "cuda" else 0, device=device)


def quality(ckpt, images, device, scales=(1.0, 2.0, 3.0, 5.0)) -> dict:
    """Held-out bits per pixel-token vs the pixel n-gram, and fidelity unguided and over a guidance sweep."""
    model, tok, state, data = checkpoint_images(ckpt, device)
    out = {"dataset": data.meta["dataset"], "step": state["step"], "train_minutes": state.get("train_seconds", 0) / 60,
           "patch": model.config.patch}
    out.update(heldout_bits(model, data, images, device, tokenizer=tok))
    out.update(guidance_sweep(model, data, scales, images or 200, device, seed=0, tokenizer=tok))
    return out


def _shapes_cells(model, tok, data, device, guidance, rows, samples):
    """`rows` held-out test captions, each with its true image and `samples` draws."""
    caps, lo = data.captions("test"), data.lo("test")
    pick = spread(len(caps), rows)               # fewer rows when the test split is smaller
    texts = [caps[i][0] for i in pick]
    grids = draw(model, tok, [t for t in texts for _ in range(samples)], data.caption_len, device, guidance,
                 seed=0, strict=False).reshape(len(pick), samples, *lo.shape[1:])
    tag = f" (guidance {guidance:g})" if guidance else ""
    return [[lo[i], *grids[r]] for r, i in enumerate(pick)], ["truth", *[f"sample {k + 1}{tag}"
                                                                        for k in range(samples)]], texts, {}


def _squirrel_cells(model, tok, data, device, guidance):
    """8 draws of the lecture's "a squirrel reaching for a nut" (the chipmunk left of the chestnut),
    with how many the glyph classifier reads as exactly that."""
    text, scene = SQUIRREL
    grids = draw(model, tok, [text] * 8, data.caption_len, device, guidance, seed=0)
    read = GlyphClassifier.fit(data).pair(grids)

    def plain(chars):   # the dataset names the chipmunk with its emoji variation selector (U+FE0F)
        return tuple(c.replace("\ufe0f", "") for c in chars)

    hits = sum(plain(r) == plain(scene["glyphs"]) for r in read)
    print(f"{text!r}: the glyph classifier reads chipmunk left, chestnut right in {hits} of {len(grids)}", flush=True)
    return ([list(grids[:4]), list(grids[4:])], [""] * 4, [f"{text!r} (guidance {guidance})", ""],
            {"squirrel_nut_both_right": hits, "squirrel_nut_samples": len(grids)})


def figure(ckpt, path, device, rows=8, samples=4, guidance=None) -> dict:
    """shapes: held-out captions with truth and draws; emoji: the squirrel and the nut. guidance: None =
    the run's. -> its figures."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: after choosing the file-only backend

    model, tok, state, data = checkpoint_images(ckpt, device)
    guidance = run_guidance("run" if guidance is None else guidance, state)
    if data.meta["dataset"] == "shapes":
        cells, heads, titles, out = _shapes_cells(model, tok, data, device, guidance, rows, samples)
    else:
        cells, heads, titles, out = _squirrel_cells(model, tok, data, device, guidance)
    fig, axes = plt.subplots(len(cells), len(cells[0]), figsize=(1.6 * len(cells[0]) + 2.6, 1.6 * len(cells)),
                             squeeze=False)
    for r, row in enumerate(cells):
        for c, g in enumerate(row):
            ax = axes[r][c]
            ax.imshow(data.codec.dequantize(np.asarray(g)), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0 and heads[c]:
                ax.set_title(heads[c], fontsize=8)
        axes[r][0].set_ylabel(titles[r], fontsize=7, rotation=0, ha="right", va="center", wrap=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure: {path}", flush=True)
    return {"figure_guidance": guidance, **out}


def at_minutes(run_dir: Path, minutes: list[float]) -> list[Path]:
    """The checkpoints of a run nearest each number of training minutes (train_seconds in each)."""
    steps = [(p, ckpt_io.load(p).get("train_seconds", 0) / 60) for p in ckpt_io.list_steps(run_dir / "checkpoints")]
    return [min(steps, key=lambda s: abs(s[1] - m))[0] for m in minutes]


def speed_of(name, shape, grids, device, args, res: dict) -> None:
    """Training images/s per precision, sampling images/s (guidance 3, KV cache) and the cache's speed-up."""
    model = build(shape, device, grids)
    iters, warmup = {(False, True): (3, 1), (False, False): (8, 2), (True, True): (10, 3),
                     (True, False): (30, 5)}[(args.cuda, args.quick)]   # GPU steps take milliseconds
    batch = 64 if name in GPU_SHAPES else 16 if shape["patch"] == 1 else 32   # the recipes' batches
    for prec in ["bf16"] if args.cuda else ["fp32"] + (["bf16"] if cpu_bf16().supported else []):
        ips = record_rate(res, f"train_images_s_{name}_{prec}", train_speed(model, grids, batch, iters, warmup,
                                                                            device, prec), batch)
        print(f"train {name}, batch {batch}, {prec}: {ips:.2f} images/s", flush=True)
    model.eval()
    for b in (16, 64) if args.cuda else (16,):   # a GPU is filled by more images at once
        t = sample_time(model, b, 3.0, True, device, reps=1 if args.quick or b == 64 else 3)
        ips = record_rate(res, f"sample_images_s_{name}" + ("_b64" if b == 64 else ""), t, b)
        print(f"sample {name}, batch {b}, guidance 3, KV cache: {ips:.2f} images/s ({t.median:.1f} s)", flush=True)
    # without the cache the cost of step j grows with j: quick times a prefix of both (a lower
    # bound on the full-image ratio), full the whole image
    prefix = model.num_tokens if not args.quick else model.num_tokens // 8
    cached = sample_time(model, 16, 3.0, True, device, prefix).median
    uncached = sample_time(model, 16, 3.0, False, device, prefix).median
    res[f"cache_speedup_{name}"] = uncached / cached
    print(f"sample {name}, first {prefix} tokens: cache {cached:.2f} s, no cache {uncached:.2f} s -> "
          f"{uncached / cached:.1f}x", flush=True)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ckpt", help="a text2pixel checkpoint: also measure quality")
    ap.add_argument("--run", help="a run folder: quality at the checkpoints nearest --minutes")
    ap.add_argument("--minutes", default="15,30,60")
    ap.add_argument("--scales", default="1,2,3,5", help="guidance scales of the sweep (beside no guidance)")
    ap.add_argument("--images", type=int, default=200, help="held-out images for quality")
    ap.add_argument("--figure", metavar="PNG", help="with --ckpt: write a picture of samples (see above)")
    ap.add_argument("--guidance", type=float, default=None, help="the figure's guidance (default: the run's)")
    ap.add_argument("--cuda", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--shapes", default=None, help="comma-separated model shapes to time (default: all of "
                    f"{', '.join(SHAPES)}; with --cuda also {', '.join(GPU_SHAPES)})")
    ap.add_argument("--skip-speed", action="store_true", help="with --ckpt: quality (and figure) only")
    ap.add_argument("--anchors", default=None, help="the anchor table (default: docs/benchmarks.md)")
    return ap


def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.cuda else "cpu")
    scales = tuple(float(x) for x in args.scales.split(","))
    res = {"bench": "text2pixel", **machine(probe_bf16=not args.cuda), "quick": args.quick,
           "device": torch.cuda.get_device_name() if args.cuda else "cpu"}
    print(f"machine: {res['cpu']}, capability {res['cpu_capability']}, {res['threads']} threads", flush=True)
    if args.run:
        minutes = [float(x) for x in args.minutes.split(",")]
        res["minutes"] = []
        for m, path in zip(minutes, at_minutes(Path(args.run), minutes)):
            print(f"--- {path} (nearest {m} training minutes)", flush=True)
            res["minutes"].append(quality(path, args.images, device, scales))
        emit(res)
        return res
    if not args.skip_speed:
        speed(device, args, res)
    if args.ckpt:
        res.update(quality(args.ckpt, args.images, device, scales))
        if args.figure:
            res.update(figure(args.ckpt, args.figure, device, guidance=args.guidance))
    emit(res)
    return res


def speed(device, args, res: dict) -> None:
    """Every model shape's training and sampling speed, and (full CPU runs) the HF GPT-2 anchor's."""
    grids = S.generate(300, 0, held_out=False)["lo"]   # shapes-like grids: patch tokens see realistic patches
    shapes = {**SHAPES, **(GPU_SHAPES if args.cuda else {})}
    for name in args.shapes.split(",") if args.shapes else shapes:
        speed_of(name, shapes[name], grids, device, args, res)
    if not args.cuda and not args.quick:
        t = hf_train_speed(8, 8, 2)
        hf = None if t is None else record_rate(res, "hf_gpt2_4x256_images_s", t, 8)
        res.update(hf_gpt2_4x256_images_s=hf, hf_anchor_images_s=anchors(args.anchors).get(
            "text2pixel.hf_gpt2_4x256_images_s"))
        print(f"HF GPT-2 4x256 batch 8: {hf if hf is None else round(hf, 2)} images/s "
              f"(issue anchor {res['hf_anchor_images_s']})")


if __name__ == "__main__":
    main()
