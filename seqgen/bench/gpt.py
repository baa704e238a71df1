"""Benchmark GPT training and sampling speed on this machine, beside Hugging Face GPT-2 and nanoGPT.

python scripts/bench_gpt.py            # full: CPU-recipe and baby-GPT shapes, fp32 and bf16, sampling
python scripts/bench_gpt.py --quick    # about a minute
python scripts/bench_gpt.py --curve 100   # also: bf16 vs fp32 loss curves at the baby shape (slow on CPU)
python scripts/bench_gpt.py --nanogpt PATH   # also time nanoGPT's model.py from a local checkout, same process
python scripts/bench_gpt.py --cuda --quick --compile both   # GPU: both shapes, bf16, eager and compiled, MFU
Ends with one JSON line: {"bench": "gpt", ...}. nanoGPT's figures on the anchors' machine
(`nanogpt.*`) come from docs/benchmarks.md.
"""

import argparse
import importlib.util
import statistics
import sys
from pathlib import Path

import torch

from seqgen.bench import anchors, emit, machine, record, timeit
from seqgen.core import distributed as D
from seqgen.core.config import build
from seqgen.core.optim import OptimConfig, build_optimizer
from seqgen.core.precision import cpu_bf16
from seqgen.core.tracking import NullTracker
from seqgen.core.trainer import Trainer, TrainerConfig, measure_matmul_flops
from seqgen.data.prepare import DataConfig, prepare
from seqgen.data.text import TextBatches
from seqgen.families import build_model
from seqgen.families.gpt.generate import generate

SHAPES = {
    "cpu_recipe": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch=12, dropout=0.0),
    "baby": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch=64, dropout=0.2),
}
V = 65
ARCH = ("n_layer", "n_head", "n_embd", "block_size")


class RandomTokens:
    """A stand-in batch stream with tiny-shakespeare's vocabulary size."""

    def __init__(self, B, T, seed=0):
        self.block_size, self.B, self.g = T, B, torch.Generator().manual_seed(seed)

    def next(self):
        x = torch.randint(0, V, (self.B, self.block_size + 1), generator=self.g)
        return x[:, :-1], x[:, 1:]


def time_ours(shape, iters, warmup, precision="fp32", compile_=False, stream=None, rope=False, device="cpu"):
    """seqgen's real Trainer.train_step -> (Timing of a step, the loss of every step, warm-up included)."""
    torch.manual_seed(0)
    s = SHAPES[shape]
    dev = torch.device(device)
    model = build_model("gpt", {**{k: s[k] for k in (*ARCH, "dropout")}, "rope": rope}, vocab_size=V).to(dev)
    ocfg = OptimConfig(warmup_steps=100)
    opt = build_optimizer(model, ocfg, dev)
    tcfg = TrainerConfig(max_steps=10**9, batch_size=s["batch"], precision=precision, compile=compile_,
                         device=device)
    tr = Trainer(tcfg, ocfg, model, opt, stream or RandomTokens(s["batch"], s["block_size"]),
                 D.DistInfo(device=dev), NullTracker())
    losses = []
    # .item() synchronises CUDA, so the time is the step's
    t = timeit(lambda: losses.append(tr.train_step()["loss"].item()), iters, warmup)
    return t, losses


def flops_per_iter(shape):
    s = SHAPES[shape]
    model = build_model("gpt", {k: s[k] for k in ARCH}, vocab_size=V)
    return model.flops_per_token() * s["batch"] * s["block_size"]


def gpu_sampling(res: dict, quick: bool) -> None:
    dev = torch.device("cuda")
    torch.manual_seed(0)
    model = build_model("gpt", {k: SHAPES["baby"][k] for k in ARCH}, vocab_size=V).to(dev).eval()
    prompt = torch.zeros(1, 1, dtype=torch.long, device=dev)
    new = 200 if quick else SHAPES["baby"]["block_size"] - 1
    t = timeit(lambda: generate(model, prompt, new, temperature=1.0, top_k=200,
                                generator=torch.Generator().manual_seed(1)), 1, warmup=1, device=dev)
    res.update(gpu_baby_sample_tok_s=new / t.median)
    print(f"GPU baby sampling, batch 1, KV cache: {res['gpu_baby_sample_tok_s']:,.0f} tok/s", flush=True)


def bench_cuda(res, compiles, quick=False):
    """GPU: bf16 autocast + flash SDPA + fused AdamW, with torch.compile off and / or on, at the CPU-recipe
    and baby shapes; ms/step, tokens/s and MFU against a bf16 matmul ceiling measured first; then
    KV-cache sampling tokens/s."""
    peak = measure_matmul_flops(torch.device("cuda"), torch.bfloat16, n=8192, reps=5 if quick else 10)
    res.update(gpu=torch.cuda.get_device_name(), gpu_count=torch.cuda.device_count(),
               gpu_peak_bf16_tflops=peak / 1e12)
    print(f"GPU {torch.cuda.get_device_name()}: bf16 matmul ceiling {peak / 1e12:.0f} TFLOP/s (8192^3)", flush=True)
    for shape in ("cpu_recipe", "baby"):
        s, f = SHAPES[shape], flops_per_iter(shape)
        for compile_ in compiles:
            # compiled steps: the first ones trace and autotune; more warm-up keeps them out of the median
            t, losses = time_ours(shape, 10 if quick else 30, 10 if compile_ else 3, precision="bf16",
                                  compile_=compile_, rope=True, device="cuda")
            tag = f"gpu_{shape}{'_compile' if compile_ else ''}"
            sec = record(res, f"{tag}_ms", t, 1e3) / 1e3
            res.update({f"{tag}_mfu": f / sec / peak, f"{tag}_tok_s": s["batch"] * s["block_size"] / sec,
                        f"{tag}_loss_last": losses[-1]})
            print(f"GPU {shape} bf16 {'compiled' if compile_ else 'eager'}: {sec * 1e3:.2f} ms/iter, "
                  f"{s['batch'] * s['block_size'] / sec:,.0f} tok/s, MFU {f / sec / peak:.3f}", flush=True)
    gpu_sampling(res, quick)


def random_steps(loss_fn, model, opt, shape, iters, warmup, clip=None):
    """Timing of forward + backward (+ clip) + optimizer step on random batches (an anchor's own step)."""
    s = SHAPES[shape]
    stream = RandomTokens(s["batch"], s["block_size"])

    def step():
        x, y = (b.contiguous() for b in stream.next())
        loss_fn(x, y).backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return timeit(step, iters, warmup)


def time_hf(shape, iters, warmup):
    from transformers import GPT2Config, GPT2LMHeadModel  # lazy: an optional anchor

    s = SHAPES[shape]
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=V, n_positions=s["block_size"], n_embd=s["n_embd"], n_layer=s["n_layer"],
                     n_head=s["n_head"], resid_pdrop=s["dropout"], embd_pdrop=s["dropout"],
                     attn_pdrop=s["dropout"])
    model = GPT2LMHeadModel(cfg, attn_implementation="sdpa") if "attn_implementation" in \
        GPT2LMHeadModel.__init__.__code__.co_varnames else GPT2LMHeadModel(cfg)
    model.config._attn_implementation = "sdpa"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return random_steps(lambda x, y: model(input_ids=x, labels=x).loss, model, opt, shape, iters, warmup)


def load_nanogpt(path):
    """nanoGPT's model.py from a local checkout (not part of seqgen; only timed beside it)."""
    spec = importlib.util.spec_from_file_location("nanogpt_model", Path(path) / "model.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["nanogpt_model"] = mod
    spec.loader.exec_module(mod)
    return mod


def nanogpt_model(mod, shape):
    s = SHAPES[shape]
    torch.manual_seed(0)
    return mod.GPT(mod.GPTConfig(block_size=s["block_size"], vocab_size=V, n_layer=s["n_layer"],
                                 n_head=s["n_head"], n_embd=s["n_embd"], dropout=s["dropout"], bias=False))


def time_nanogpt(mod, shape, iters, warmup):
    """nanoGPT's own training step: forward, backward, clip 1.0, its AdamW (configure_optimizers)."""
    model = nanogpt_model(mod, shape)
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    return random_steps(lambda x, y: model(x, y)[1], model, opt, shape, iters, warmup, clip=1.0)


@torch.no_grad()
def nanogpt_sample_tok_s(mod, reps, new_tokens):
    model = nanogpt_model(mod, "cpu_recipe").eval()

    def draw(r):
        torch.manual_seed(r)
        model.generate(torch.zeros(1, 1, dtype=torch.long), new_tokens, temperature=1.0, top_k=200)

    return new_tokens / timeit(draw, over=range(reps)).median


def bench_sampling(reps, new_tokens=500, shape="cpu_recipe", nanogpt_tok_s=None):
    """KV cache vs recompute, batch 1 (nanoGPT's generate setting)."""
    torch.manual_seed(0)
    model = build_model("gpt", {k: SHAPES[shape][k] for k in ARCH}, vocab_size=V).eval()
    prompt = torch.zeros(1, 1, dtype=torch.long)
    n = SHAPES[shape]["block_size"] - 1   # inside the window (1 + 63 tokens): greedy output must be identical
    out = {"greedy_identical": bool(torch.equal(generate(model, prompt, n, temperature=0.0, use_cache=True),
                                                generate(model, prompt, n, temperature=0.0, use_cache=False)))}
    # cache: the default, exact past the window (re-runs the cropped window once it slides);
    # cache_half: cache_slide=half, the faster approximation; recompute: use_cache=false
    for name, cache, slide in (("cache", True, "exact"), ("cache_half", True, "half"), ("recompute", False, "exact")):
        t = timeit(lambda r: generate(model, prompt, new_tokens, temperature=1.0, top_k=200, use_cache=cache,
                                      generator=torch.Generator().manual_seed(r), slide=slide), over=range(reps))
        out[f"{name}_tok_s"] = new_tokens / t.median
    g1, g2 = (torch.Generator().manual_seed(0) for _ in range(2))
    out["sampled_identical"] = bool(torch.equal(
        generate(model, prompt, new_tokens, temperature=1.0, top_k=200, generator=g1, use_cache=True),
        generate(model, prompt, new_tokens, temperature=1.0, top_k=200, generator=g2, use_cache=False)))
    out["cache_speedup"] = out["cache_tok_s"] / out["recompute_tok_s"]
    if nanogpt_tok_s:
        out["vs_nanogpt"] = out["cache_tok_s"] / nanogpt_tok_s
    return out


def plan(quick: bool, curve: int, bf16: bool, hf: bool) -> list[str]:
    """The measurements this run makes, in order. bf16 steps only on a CPU with fast bf16 matmuls:
    elsewhere a single bf16 2048^2 matmul can take seconds (~1 GFLOP/s on AVX2-only CPUs)."""
    steps = ["peak_fp32"] + (["peak_bf16"] if bf16 else []) + ["cpu_recipe_fp32", "cpu_recipe_rope_fp32"]
    steps += ["cpu_recipe_hf"] if hf else []
    if not quick:
        steps += ["baby_fp32"] + (["baby_hf_fp32"] if hf else []) + (["baby_bf16"] if bf16 else [])
    if curve:
        steps += ["curve_fp32"] + (["curve_bf16"] if bf16 else [])
    steps += ([] if quick else ["baby_sampling"]) + ["sampling"]
    return steps


def shakespeare_stream():
    """Real tiny-shakespeare batches for the loss-curve comparison when the dataset is prepared."""
    try:
        data = prepare(build(DataConfig, {"name": "shakespeare_char"}, "data"), "data")
    except Exception as e:  # no network / no data: random tokens still compare the two precisions
        print(f"(tiny-shakespeare unavailable, using random tokens: {e})")
        return None
    return TextBatches(data.tokens("train"), 256, 64, seed=1)


def ceilings(res: dict, steps: list) -> float:
    """The fp32 (and bf16) matmul ceilings of this CPU, the MFU denominators -> the fp32 one."""
    peaks = {"fp32": measure_matmul_flops(torch.device("cpu"), torch.float32, n=2048, reps=10)}
    res.update(peak_fp32_gflops=peaks["fp32"] / 1e9)
    if "peak_bf16" in steps:
        peaks["bf16"] = measure_matmul_flops(torch.device("cpu"), torch.bfloat16, n=2048, reps=10)
        res.update(peak_bf16_gflops=peaks["bf16"] / 1e9)
    print("matmul ceiling: " + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in peaks.items()), flush=True)
    return peaks["fp32"]


def cpu_recipe(res: dict, steps: list, n: int, peak32: float, nano, nanogpt: dict) -> None:
    ms = record(res, "cpu_recipe_ms", time_ours("cpu_recipe", n, 5)[0], 1e3)
    f = flops_per_iter("cpu_recipe")
    res.update(cpu_recipe_mfu=f / ms * 1e3 / peak32, cpu_recipe_tok_s=12 * 64 / ms * 1e3)
    if "cpu_recipe_ms" in nanogpt:
        res["cpu_recipe_vs_nanogpt"] = nanogpt["cpu_recipe_ms"] / ms
    print(f"cpu_recipe fp32: {ms:.1f} ms/iter, MFU {res['cpu_recipe_mfu']:.2f}, "
          f"{res.get('cpu_recipe_vs_nanogpt', float('nan')):.2f}x nanoGPT's ANCHORS figure", flush=True)
    ms_rope = record(res, "cpu_recipe_rope_ms", time_ours("cpu_recipe", n, 5, rope=True)[0], 1e3)
    print(f"cpu_recipe fp32 with RoPE (the model=gpt default): {ms_rope:.1f} ms/iter", flush=True)
    if nano:
        nms = record(res, "cpu_recipe_nanogpt_here_ms", time_nanogpt(nano, "cpu_recipe", n, 5), 1e3)
        res.update(cpu_recipe_vs_nanogpt_here=nms / ms)
        print(f"cpu_recipe nanoGPT (same process): {nms:.1f} ms/iter -> ours {nms / ms:.2f}x", flush=True)
    if "cpu_recipe_hf" in steps:
        try:
            hf = record(res, "cpu_recipe_hf_ms", time_hf("cpu_recipe", n, 5), 1e3)
            res.update(cpu_recipe_vs_hf=hf / ms)
            print(f"cpu_recipe HF GPT-2: {hf:.1f} ms/iter", flush=True)
        except ImportError:
            print("transformers not installed: skipping the HF anchor (pip install -e '.[bench]')")


def baby(res: dict, steps: list, peak32: float, nano, nanogpt: dict) -> None:
    f = flops_per_iter("baby")
    if nano:
        nsec = record(res, "baby_nanogpt_here_s", time_nanogpt(nano, "baby", 3, 2))
        print(f"baby nanoGPT fp32 (same process): {nsec:.2f} s/iter", flush=True)
    for prec in [p for p in ("fp32", "bf16") if f"baby_{p}" in steps]:
        sec = record(res, f"baby_{prec}_s", time_ours("baby", 3, 2, precision=prec)[0])
        if nano:
            res[f"baby_{prec}_vs_nanogpt_here"] = nsec / sec
        res[f"baby_{prec}_mfu_vs_fp32_peak"] = f / sec / peak32
        if "baby_fp32_ms" in nanogpt:
            res[f"baby_{prec}_vs_nanogpt"] = nanogpt["baby_fp32_ms"] / 1e3 / sec
        print(f"baby {prec}: {sec:.2f} s/iter, {f / sec / 1e9:.0f} GFLOP/s, MFU(fp32 peak) {f / sec / peak32:.2f}, "
              f"{res.get(f'baby_{prec}_vs_nanogpt', float('nan')):.2f}x nanoGPT", flush=True)
        if prec == "fp32" and "baby_hf_fp32" in steps:
            try:
                hf = record(res, "baby_hf_fp32_s", time_hf("baby", 2, 1))
                res.update(baby_vs_hf=hf / sec)
                print(f"baby HF GPT-2 fp32: {hf:.2f} s/iter", flush=True)
            except ImportError:
                pass


def loss_curves(res: dict, steps: list, n: int) -> None:
    curves = {}
    for prec in [p for p in ("fp32", "bf16") if f"curve_{p}" in steps]:
        curves[prec] = time_ours("baby", n, 0, precision=prec, stream=shakespeare_stream())[1]
    curves.setdefault("bf16", curves["fp32"])   # no bf16 on this CPU: the curve compares nothing
    diff = [abs(a - b) for a, b in zip(curves["fp32"], curves["bf16"])]
    res.update(curve_steps=n, curve_fp32_last=curves["fp32"][-1], curve_bf16_last=curves["bf16"][-1],
               curve_max_abs_diff=max(diff), curve_mean_abs_diff=statistics.mean(diff))
    print("loss curves (step, fp32, bf16):", [(i, round(a, 3), round(b, 3)) for i, (a, b) in
          enumerate(zip(curves["fp32"], curves["bf16"])) if i % 10 == 0 or i == n - 1])


def sampling(res: dict, steps: list, quick: bool, nano, nanogpt: dict) -> None:
    if "baby_sampling" in steps:  # a 256-token context, where recomputing it every step costs the most
        samp = bench_sampling(1, 255, "baby")
        res.update({f"baby_sample_{k}": v for k, v in samp.items()})
        print(f"baby sampling (255 tokens): cache {samp['cache_tok_s']:.0f} tok/s, recompute "
              f"{samp['recompute_tok_s']:.0f} tok/s ({samp['cache_speedup']:.1f}x), greedy identical "
              f"{samp['greedy_identical']}", flush=True)
    new = 200 if quick else 500
    samp = bench_sampling(3 if quick else 5, new, nanogpt_tok_s=nanogpt.get("sample_tok_s"))
    res.update({f"sample_{k}": v for k, v in samp.items()})
    if nano:
        ntok = nanogpt_sample_tok_s(nano, 3 if quick else 5, new)
        res.update(sample_nanogpt_here_tok_s=ntok, sample_vs_nanogpt_here=samp["cache_tok_s"] / ntok)
        print(f"nanoGPT generate (same process): {ntok:.0f} tok/s", flush=True)
    print(f"sampling: cache {samp['cache_tok_s']:.0f} tok/s (cache_slide=half {samp['cache_half_tok_s']:.0f}), "
          f"recompute {samp['recompute_tok_s']:.0f} tok/s ({samp['cache_speedup']:.1f}x), greedy identical "
          f"{samp['greedy_identical']}, sampled identical past the window {samp['sampled_identical']}, "
          f"{samp.get('vs_nanogpt', float('nan')):.1f}x nanoGPT", flush=True)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--curve", type=int, default=0, help="bf16 vs fp32 loss curve over N baby-shape steps")
    ap.add_argument("--no-hf", action="store_true")
    ap.add_argument("--nanogpt", default=None, help="path of a nanoGPT checkout to time side by side")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--cuda", action="store_true", help="GPU benchmark only (bf16, flash SDPA, fused AdamW)")
    ap.add_argument("--compile", nargs="?", const="on", default="off", choices=["off", "on", "both"],
                    help="with --cuda: torch.compile the step (on), not (off, the default) or both, side by side")
    ap.add_argument("--iters", type=int, default=None, help="timed CPU-recipe steps (default 100, quick 20)")
    ap.add_argument("--anchors", default=None, help="the anchor table (default: docs/benchmarks.md)")
    return ap


def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    if args.cuda:
        res = {"bench": "gpt", "torch": torch.__version__, "quick": args.quick}
        bench_cuda(res, {"off": (False,), "on": (True,), "both": (False, True)}[args.compile], args.quick)
        emit(res, digits=4)
        return res
    if args.threads:
        torch.set_num_threads(args.threads)
    caps = cpu_bf16()
    steps = plan(args.quick, args.curve, caps.supported, not args.no_hf)
    res = {"bench": "gpt", **machine()}
    print(f"machine: {res['cpu']}, {caps.describe()}, {res['threads']} threads; plan: {', '.join(steps)}"
          + ("" if caps.supported else " (no bf16 steps: bf16 is slower than fp32 on this CPU)"), flush=True)
    nanogpt = {k.split(".", 1)[1]: v for k, v in anchors(args.anchors).items() if k.startswith("nanogpt.")}
    nano = load_nanogpt(args.nanogpt) if args.nanogpt else None
    peak32 = ceilings(res, steps)
    cpu_recipe(res, steps, args.iters or (20 if args.quick else 100), peak32, nano, nanogpt)
    if not args.quick:
        baby(res, steps, peak32, nano, nanogpt)
    if args.curve:
        loss_curves(res, steps, args.curve)
    sampling(res, steps, args.quick, nano, nanogpt)
    emit(res, digits=4)
    return res


if __name__ == "__main__":
    main()
