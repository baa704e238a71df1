"""Visual prompting: train the recipe (optionally), then score everything and time the sampler.

python scripts/bench_visual_prompt.py --train            # experiment=visual_prompt_shapes (~1 h on 2 CPU
                                                         # cores), then everything below on its checkpoint
python scripts/bench_visual_prompt.py --train --experiment visual_prompt_shapes_all   # loss on every image
python scripts/bench_visual_prompt.py --ckpt outputs/visual_prompt_shapes/checkpoints/last.pt \\
    [--sentences 50] [--figure docs/visual_prompt_grid.png] [--out results.json]
python scripts/bench_visual_prompt.py --speed --device cuda --experiment visual_prompt_shapes32_gpu --quick
                                                         # speed only (random weights): train images/s, answers/s
python scripts/bench_visual_prompt.py --train --experiment visual_prompt_unseen --ttt-steps 20
                                                         # 3 tasks held out; with test-time training

Scores come from scripts/evaluate.py's code (seqgen.families.visual_prompt.evaluate) on held-out
task x colour / shape combinations and held-out compositions of two tasks: per task, the model with
0 / 1 / 2 example pairs (exact match, pixel accuracy, foreground IoU, colour-blind IoU, shape accuracy,
perplexity of the true B'), the 2x2 canvas form (1 pair), and the two baselines, B unchanged and the
image analogy (1 and 2 pairs); with --ttt-steps also every prompt answered after test-time training
on its own examples, and a run with data.held_out_tasks scores those tasks too ("unseen:<task>"
rows). Then the issue's targets, and seconds per answered prompt on this machine with and without
the KV cache (and with test-time training). Ends with one JSON line: {"bench": "visual_prompt", ...}.
"""

import argparse
import time
from pathlib import Path

import torch

from seqgen import compose, evaluate, load_model, train
from seqgen.app.cli import run
from seqgen.app.train import resolve
from seqgen.bench import emit, record, record_rate, timeit
from seqgen.core import distributed as D
from seqgen.core.config import build
from seqgen.core.optim import build_optimizer
from seqgen.core.tracking import NullTracker
from seqgen.core.trainer import Trainer
from seqgen.data.images.visual import VisualConfig, make_split
from seqgen.families.visual_prompt.evaluate import COLUMNS, table
from seqgen.families.visual_prompt.generate import answers, prompt_of
from seqgen.families.visual_prompt.task import SentenceBatches, build_model
from seqgen.families.visual_prompt.ttt import TTTArgs


def markdown(figures: dict) -> str:
    """The same table as table(), as Markdown rows for docs/results.md."""
    rows = table(figures).splitlines()
    head = ["task"] + [name for _, name in COLUMNS]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for line in rows[2:]:
        out.append("| " + " | ".join(line.split()) + " |")
    return "\n".join(out)


def sampling_speed(model, ckpt_state, prompts: int, threads, ttt=None) -> dict:
    """Median seconds to answer one 2-shot held-out prompt (batch 1, greedy), with and without the cache,
    at the process's torch threads and at one thread (batch-1 decoding is overhead-bound: a second
    thread rarely helps, and on a busy machine it can cost several times over)."""
    dc = build(VisualConfig, dict(ckpt_state["config"]["data"]), "data")
    p = prompt_of(make_split(dc, "test", prompts).images, dc.shots)
    answers(model, p[:1])                                  # warm up

    def per_prompt(n, **kw):
        return timeit(lambda i: answers(model, p[i:i + 1], **kw), over=range(n))

    out = {"threads": threads or torch.get_num_threads()}
    record(out, "sample_s_per_prompt", per_prompt(len(p)))
    record(out, "sample_s_per_prompt_nocache", per_prompt(min(3, len(p)), use_cache=False))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    record(out, "sample_s_per_prompt_1thread", per_prompt(len(p)))
    torch.set_num_threads(before)
    if ttt is not None and ttt.ttt_steps:
        record(out, "ttt_s_per_prompt", per_prompt(min(5, len(p)), ttt=ttt))
    return out


def speed_only(experiment: str, overrides: list, device: str, quick: bool) -> dict:
    """Training and sampling speed of an experiment's model at random initialisation (no checkpoint):
    median seconds of the real Trainer.train_step on generated sentences (the experiment's batch,
    precision and compile), and answered prompts per second (2 shots, greedy, KV cache) at batch 1
    and at batch 64. Sentences hold n images; an answer is one image."""
    spec, _ = resolve(compose([f"experiment={experiment}", f"trainer.device={device}", *overrides]))
    dev = D.resolve_device(device)
    torch.manual_seed(spec.seed)
    model, _ = build_model(spec.model, spec.data, dev)
    stream = SentenceBatches(spec.data, spec.trainer.batch_size, block_size=model.seq_len)
    tr = Trainer(spec.trainer, spec.optim, model, build_optimizer(model, spec.optim, dev), stream,
                 D.DistInfo(device=dev), NullTracker())
    iters, warmup = (5, 2) if quick else (20, 3)
    warmup += 8 if spec.trainer.compile else 0   # compiled steps trace first
    t = timeit(lambda: tr.train_step()["loss"].item(), iters, warmup)   # .item() waits for the GPU
    B, n = spec.trainer.batch_size, spec.data.n_images
    out = {"experiment": experiment, "device": str(dev), "size": spec.data.size, "batch": B, "n_images": n,
           "precision": str(tr.dtype).replace("torch.", ""), "compile": spec.trainer.compile}
    sec = record(out, "train_ms_per_step", t, 1e3) / 1e3
    out.update(train_sentences_s=B / sec, train_images_s=B * n / sec)
    prompts = prompt_of(make_split(spec.data, "test", 64 if quick else 128).images, min(2, spec.data.shots))
    for batch in (1, 64):
        k = min(len(prompts), batch * (2 if quick and batch > 1 else 4), 8 if batch == 1 else len(prompts))
        answers(model, prompts[:batch], batch_size=batch)            # warm up
        a = timeit(lambda: answers(model, prompts[:k], batch_size=batch), 1, device=dev)
        record_rate(out, f"sample_answers_s_b{batch}", a, k)
    print(f"{experiment} on {dev}: train {1e3 * sec:.1f} ms/step (batch {B} x {n} images, {out['precision']}), "
          f"{out['train_images_s']:,.0f} images/s; answers {out['sample_answers_s_b1']:.1f}/s at batch 1, "
          f"{out['sample_answers_s_b64']:.1f}/s at batch 64", flush=True)
    return out


def checkpoint_of(args) -> str:
    """--ckpt, or the experiment trained now (--train), or the experiment's last.pt."""
    if args.train:
        t0 = time.perf_counter()
        ckpt = str(run(train, compose([f"experiment={args.experiment}", *args.set]))["checkpoint"])
        print(f"[bench] trained {args.experiment} in {(time.perf_counter() - t0) / 60:.1f} min: {ckpt}", flush=True)
        return ckpt
    if args.ckpt:
        return args.ckpt
    plain = compose([f"experiment={args.experiment}", *args.set])
    return str(Path(plain.out_root) / plain.run_name / "checkpoints" / "last.pt")


def report(figures: dict, speed: dict, state: dict, markdown_too: bool) -> float:
    print()
    print(table(figures))
    print()
    if markdown_too:
        print(markdown(figures))
        print()
    for k, v in figures.items():
        if k.startswith("target"):
            print(f"{k:<24} {'met' if v else 'NOT met'}")
    train_min = float(state.get("train_seconds", 0.0)) / 60
    print(f"trained {state['step']} steps in {train_min:.1f} min; one 2-shot answer "
          f"{speed['sample_s_per_prompt']:.3f} s with the KV cache ({speed['sample_s_per_prompt_nocache']:.3f} s "
          f"without), {speed['threads']} threads; {speed['sample_s_per_prompt_1thread']:.3f} s on one thread")
    return train_min


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", action="store_true", help="train the experiment first (resumes a finished run)")
    ap.add_argument("--experiment", default="visual_prompt_shapes")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra train.py overrides")
    ap.add_argument("--ckpt", help="a visual_prompt checkpoint (default: the experiment's last.pt)")
    ap.add_argument("--sentences", type=int, default=50, help="held-out prompts per task")
    ap.add_argument("--no-analogy", action="store_true", help="skip the image-analogy baseline")
    ap.add_argument("--figure", help="write a PNG of held-out prompts | answers | truths here")
    ap.add_argument("--speed-prompts", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--ttt-steps", type=int, default=0, help="also answer after this many test-time training steps")
    ap.add_argument("--ttt-lr", type=float, default=3e-4)
    ap.add_argument("--ttt-copies", type=int, default=8)
    ap.add_argument("--out", help="also write the JSON line here")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown (docs/results.md)")
    ap.add_argument("--speed", action="store_true", help="speed only, at random initialisation: train images/s "
                    "and answers/s of --experiment (with --device, --quick)")
    ap.add_argument("--device", default="cpu", help="with --speed: cpu, cuda or auto")
    ap.add_argument("--quick", action="store_true", help="with --speed: fewer steps and prompts")
    return ap


def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.speed:
        res = {"bench": "visual_prompt", "speed": True, **speed_only(args.experiment, args.set, args.device,
                                                                        args.quick)}
        emit(res)
        return res
    ckpt = checkpoint_of(args)
    ttt = TTTArgs(ttt_steps=args.ttt_steps, ttt_lr=args.ttt_lr, ttt_copies=args.ttt_copies)
    figures = run(evaluate, {"ckpt": ckpt, "sentences": args.sentences, "analogy": not args.no_analogy,
                             "figure": args.figure, "device": "cpu", "ttt_steps": args.ttt_steps,
                             "ttt_lr": args.ttt_lr, "ttt_copies": args.ttt_copies})
    model, _, state = load_model(ckpt)
    speed = sampling_speed(model, state, args.speed_prompts, args.threads, ttt)
    train_min = report(figures, speed, state, args.markdown)
    res = {"bench": "visual_prompt", "ckpt": ckpt, "steps": state["step"], "train_minutes": train_min,
           **speed, **{k: v for k, v in figures.items() if isinstance(v, (int, float, str))}}
    line = emit(res)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(line + "\n")
    return res


if __name__ == "__main__":
    main()
