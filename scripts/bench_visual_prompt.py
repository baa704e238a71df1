"""Visual prompting: train the recipe (optionally), then score everything and time the sampler.

python scripts/bench_visual_prompt.py --train            # experiment=visual_prompt_shapes (~1 h on 2 CPU
                                                         # cores), then everything below on its checkpoint
python scripts/bench_visual_prompt.py --train --experiment visual_prompt_shapes_all   # loss on every image
python scripts/bench_visual_prompt.py --ckpt outputs/visual_prompt_shapes/checkpoints/last.pt \
    [--sentences 50] [--figure docs/visual_prompt_grid.png] [--out results.json]

Scores come from scripts/evaluate.py's code (seqgen.families.visual_prompt.evaluate) on held-out
task x colour / shape combinations and held-out compositions of two tasks: per task, the model with
0 / 1 / 2 example pairs (exact match, pixel accuracy, foreground IoU, colour-blind IoU, shape accuracy,
perplexity of the true B'), the 2x2 canvas form (1 pair), and the two baselines, B unchanged and the
image analogy (1 and 2 pairs). Then the issue's targets, and seconds per answered prompt on this
machine with and without the KV cache. Ends with one JSON line: {"bench": "visual_prompt", ...}.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from seqgen.families.visual_prompt.evaluate import COLUMNS, table


def markdown(figures: dict) -> str:
    """The same table as table(), as Markdown rows for docs/results.md."""
    rows = table(figures).splitlines()
    head = ["task"] + [name for _, name in COLUMNS]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for line in rows[2:]:
        out.append("| " + " | ".join(line.split()) + " |")
    return "\n".join(out)


def sampling_speed(model, ckpt_state, prompts: int, threads) -> dict:
    """Median seconds to answer one 2-shot held-out prompt (batch 1, greedy), with and without the cache,
    at the process's torch threads and at one thread (batch-1 decoding is overhead-bound: a second
    thread rarely helps, and on a busy machine it can cost several times over)."""
    from seqgen.core.config import build
    from seqgen.data.images.visual import VisualConfig, make_split
    from seqgen.families.visual_prompt.generate import answers, prompt_of

    dc = build(VisualConfig, dict(ckpt_state["config"]["data"]), "data")
    test = make_split(dc, "test", prompts)
    p = prompt_of(test.images, dc.shots)
    answers(model, p[:1])                                  # warm up

    def timed(use_cache, n):
        out = []
        for i in range(n):
            t = time.perf_counter()
            answers(model, p[i:i + 1], use_cache=use_cache)
            out.append(time.perf_counter() - t)
        return statistics.median(out)

    out = {"sample_s_per_prompt": timed(True, len(p)), "sample_s_per_prompt_nocache": timed(False, min(3, len(p))),
           "threads": threads or torch.get_num_threads()}
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out["sample_s_per_prompt_1thread"] = timed(True, len(p))
    torch.set_num_threads(before)
    return out


def main():
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
    ap.add_argument("--out", help="also write the JSON line here")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown (docs/results.md)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from seqgen import compose, evaluate, load_model, train
    from seqgen.app.cli import run

    ckpt = args.ckpt
    if args.train:
        t0 = time.perf_counter()
        result = run(train, compose([f"experiment={args.experiment}", *args.set]))
        ckpt = str(result["checkpoint"])
        print(f"[bench] trained {args.experiment} in {(time.perf_counter() - t0) / 60:.1f} min: {ckpt}", flush=True)
    if ckpt is None:
        plain = compose([f"experiment={args.experiment}", *args.set])
        ckpt = str(Path(plain.out_root) / plain.run_name / "checkpoints" / "last.pt")
    figures = run(evaluate, {"ckpt": ckpt, "sentences": args.sentences, "analogy": not args.no_analogy,
                             "figure": args.figure, "device": "cpu"})
    model, _, state = load_model(ckpt)
    speed = sampling_speed(model, state, args.speed_prompts, args.threads)
    print()
    print(table(figures))
    print()
    if args.markdown:
        print(markdown(figures))
        print()
    for k, v in figures.items():
        if k.startswith("target"):
            print(f"{k:<24} {'met' if v else 'NOT met'}")
    train_min = float(state.get("train_seconds", 0.0)) / 60
    print(f"trained {state['step']} steps in {train_min:.1f} min; one 2-shot answer "
          f"{speed['sample_s_per_prompt']:.3f} s with the KV cache ({speed['sample_s_per_prompt_nocache']:.3f} s "
          f"without), {speed['threads']} threads; {speed['sample_s_per_prompt_1thread']:.3f} s on one thread")
    line = json.dumps({"bench": "visual_prompt", "ckpt": ckpt, "steps": state["step"], "train_minutes": train_min,
                       **speed, **{k: v for k, v in figures.items() if isinstance(v, (int, float, str))}})
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
