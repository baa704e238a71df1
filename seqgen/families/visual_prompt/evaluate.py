"""How well a visual prompt is answered: per task and number of shots on held-out combinations.

    pixel       share of B' pixels right
    fg_iou      foreground IoU, colour-aware: pixels that are foreground in both with the same colour,
                over pixels foreground in either (foreground: not the true answer's background)
    cb_iou      colour-blind IoU: the same with any colour
    shape       the drawn object's shape (best-IoU template of the renderer) is the true one
    exact       every pixel right
    ppl         perplexity of the true B' per pixel given the prompt (exp of nats / pixel: the same
                unit whatever the patch size and head)

beside two baselines answering the same A : A' :: B : ?: `unchanged` (B' = B) and `analogy`, the
non-parametric image analogy (seqgen.texture.analogy, one level, RGB features, A' colours) on the
RGB renders with the example pairs tiled side by side, quantised back to the palette.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from seqgen.core.errors import ConfigError
from seqgen.core.schema import key
from seqgen.data.images.codec import PixelCodec
from seqgen.data.images.visual import TARGET_TASKS, VisualConfig, VisualSet, classify_shapes, compositions, make_split
from seqgen.families.base import data_from
from seqgen.families.visual_prompt.generate import answers, picture, prompt_of
from seqgen.families.visual_prompt.model import canvas_images
from seqgen.families.visual_prompt.ttt import TTTArgs
from seqgen.nn.sampling import eval_mode
from seqgen.texture.analogy import AnalogyConfig, analogy

METRICS = ("pixel", "fg_iou", "cb_iou", "shape", "exact")


@dataclass
class EvalArgs(TTTArgs):
    sentences: int | None = key(50, ge=1)   # held-out prompts per task (null: all of data.n_test)
    shots: list = field(default_factory=lambda: [0, 1, 2])   # example pairs per prompt
    canvas: bool = True             # also the 2x2 canvas form (1 shot)
    analogy: bool = True            # the image-analogy baseline (1 and 2 shots)
    kappa: float = key(0.1, ge=0)   # its coherence bias
    compositions: bool = True       # also the held-out compositions of two tasks (split test)
    unseen: bool = True             # also the held-out tasks, never trained (split test, when the run has them)
    temperature: float = key(0.0, ge=0)   # 0: the most likely token at every step
    figure: str | None = None       # write a PNG of prompts, answers and truths here


def scores(pred: np.ndarray, truth: np.ndarray, bgs: np.ndarray, shapes: np.ndarray) -> dict:
    """(N, S, S) answers and truths, (N,) true backgrounds and shapes -> {metric: (N,) per answer}."""
    same = pred == truth
    fg_p, fg_t = pred != bgs[:, None, None], truth != bgs[:, None, None]
    union = (fg_p | fg_t).sum((1, 2))
    ratio = lambda m: np.where(union > 0, m.sum((1, 2)) / np.maximum(union, 1), 1.0)   # noqa: E731
    return {"pixel": same.mean((1, 2)), "fg_iou": ratio(fg_p & fg_t & same), "cb_iou": ratio(fg_p & fg_t),
            "shape": (classify_shapes(pred, bgs) == shapes).astype(float), "exact": same.all((1, 2)).astype(float)}


def mean_scores(pred, truth, bgs, shapes) -> dict:
    return {k: float(v.mean()) for k, v in scores(pred, truth, bgs, shapes).items()}


@torch.no_grad()
def answer_nats(model, prompts: np.ndarray, form: str = "sentence", batch_size: int = 64) -> np.ndarray:
    """Exact nats of each true answer (the prompts' last image) given the rest -> (N,)."""
    out = []
    with eval_mode(model):
        for s in range(0, len(prompts), batch_size):
            x = prompts[s:s + batch_size]
            if form == "canvas":
                x = x[:, canvas_images(x.shape[1])]
            t = torch.from_numpy(np.ascontiguousarray(x)).long().to(model.device).flatten(2)
            out.append(model.nll(t, form, scored=[-1]).cpu().numpy())
    return np.concatenate(out)


def perplexity(model, prompts, form="sentence") -> float:
    """exp(mean nats per pixel) of the true answers (per pixel, not per token: models with other
    patch sizes compare)."""
    return math.exp(float(answer_nats(model, prompts, form).mean()) / model.num_pixels)


def analogy_answers(prompts: np.ndarray, codec: PixelCodec, kappa: float = 0.1, seed: int = 0) -> np.ndarray:
    """The image-analogy baseline: A = the example inputs side by side, A' their outputs, B the query;
    (N, n, S, S) prompts with n >= 4 -> (N, S, S) answers quantised to the palette."""
    cfg = AnalogyConfig(levels=1, features="rgb", color="a_prime", kappa=kappa)
    pal = codec.palette.astype(np.float32) / 255
    out = []
    for p in prompts:
        a = np.concatenate(list(p[0:-2:2]), axis=1)
        ap = np.concatenate(list(p[1:-2:2]), axis=1)
        rgb = analogy(pal[a], pal[ap], pal[p[-2]], cfg, seed=seed)
        out.append(codec.quantize(np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)))
    return np.stack(out)


def evaluate_set(model, data: VisualSet, codec: PixelCodec, args: EvalArgs, seed: int = 0,
                 progress=None) -> dict:
    """Every figure of the module docstring, per task of data -> {"<task>/<method>/<metric>": value}."""
    out = {}
    n_img = data.images.shape[1]
    for task, idx in data.by_task().items():
        sub = data.subset(idx)
        truth, bgs, shapes = sub.images[:, -1], sub.bgs[:, -1], sub.shapes[:, -1].astype(np.int64)
        for shots in args.shots:
            if 2 * shots + 2 > n_img:
                continue
            prompts = prompt_of(sub.images, shots)
            pred = answers(model, prompts, "sentence", args.temperature, seed=seed)
            out.update({f"{task}/{shots}shot/{k}": v for k, v in mean_scores(pred, truth, bgs, shapes).items()})
            if args.ttt_steps and shots >= 1:   # the same prompts, each answered after tuning on its examples
                pred = answers(model, prompts, "sentence", args.temperature, seed=seed, ttt=args)
                out.update({f"{task}/{shots}shot_ttt/{k}": v for k, v in mean_scores(pred, truth, bgs, shapes).items()})
            out[f"{task}/{shots}shot/ppl"] = perplexity(model, prompts)
            if args.analogy and shots >= 1:
                pred = analogy_answers(prompts, codec, args.kappa, seed)
                out.update({f"{task}/analogy{shots}/{k}": v for k, v in mean_scores(pred, truth, bgs, shapes).items()})
        if args.canvas and n_img >= 4:
            prompts = prompt_of(sub.images, 1)
            pred = answers(model, prompts, "canvas", args.temperature, seed=seed)
            out.update({f"{task}/canvas/{k}": v for k, v in mean_scores(pred, truth, bgs, shapes).items()})
            out[f"{task}/canvas/ppl"] = perplexity(model, prompts, "canvas")
        out.update({f"{task}/unchanged/{k}": v
                    for k, v in mean_scores(sub.images[:, -2], truth, bgs, shapes).items()})
        if progress:
            progress(task)
    return out


def summary(figures: dict, tasks, shots) -> dict:
    """Means over tasks, and the issue's targets on the four acceptance tasks (2 shots): exact >= 0.5,
    pixel >= 0.95, both above B-unchanged and the analogy; 2-shot perplexity below 0-shot."""
    out = {}
    methods = ([f"{s}shot" for s in shots] + [f"{s}shot_ttt" for s in shots if s] + ["canvas", "unchanged"]
               + [f"analogy{s}" for s in shots if s])
    for m in methods:
        for k in METRICS + ("ppl",):
            vals = [figures[f"{t}/{m}/{k}"] for t in tasks if f"{t}/{m}/{k}" in figures]
            if vals:
                out[f"mean/{m}/{k}"] = float(np.mean(vals))
    met = []
    for t in TARGET_TASKS:
        f = lambda k: figures.get(f"{t}/{k}")   # noqa: E731
        if f("2shot/exact") is None:
            continue
        ok = f("2shot/exact") >= 0.5 and f("2shot/pixel") >= 0.95
        for base in ("unchanged", "analogy2"):   # above both baselines, on both measures
            ok = ok and all(f(f"{base}/{k}") is None or f(f"2shot/{k}") > f(f"{base}/{k}") for k in ("exact", "pixel"))
        ok = ok and (f("0shot/ppl") is None or f("2shot/ppl") < f("0shot/ppl"))
        out[f"target/{t}"] = float(ok)
        met.append(ok)
    if met:
        out["targets_met"] = float(all(met))
    return out


def evaluate(model, tokenizer, state, ec, args: EvalArgs, device) -> dict:
    """evaluate.py for visual_prompt: the module docstring's figures on the checkpoint's own held-out
    split (split=auto|test: held-out combinations, the held-out compositions and the held-out tasks;
    compose / unseen: those alone; valid: seen ones)."""
    dc = data_from(VisualConfig, state, ec.ckpt)
    split = "test" if ec.split == "auto" else ec.split
    if split not in ("test", "valid", "compose", "unseen") or (split == "unseen" and not dc.held_out_tasks):
        raise ConfigError(f"split={ec.split!r}: visual sentences have the splits test (held-out combinations), "
                          f"compose (held-out compositions), valid (seen combinations)"
                          + (" and unseen (held-out tasks)" if dc.held_out_tasks else
                             "; this run holds no task out, so it has no split unseen"))
    bad = [s for s in args.shots if not isinstance(s, int) or s < 0 or 2 * s + 2 > dc.n_images]
    if bad:
        raise ConfigError(f"shots={args.shots}: this checkpoint's sentences hold 0..{dc.shots} example pairs")
    codec = PixelCodec.from_json(state["codec"])
    per_task = args.sentences or dc.n_test

    def load(name):
        groups = {"test": len(dc.tasks), "compose": len(compositions(dc)), "valid": 1,
                  "unseen": len(dc.held_out_tasks)}[name]
        n = per_task * groups if name != "valid" else min(dc.n_valid, per_task * len(dc.tasks))
        return make_split(dc, name, n)

    t0 = time.perf_counter()
    log = lambda t: print(f"[seqgen] scored {t} ({time.perf_counter() - t0:.0f} s)", flush=True)   # noqa: E731
    out = {"model": state["model_name"], "split": split, "sentences_per_task": per_task}
    figures = evaluate_set(model, load(split), codec, args, ec.seed, log)
    tasks = list(dict.fromkeys(k.split("/")[0] for k in figures))
    if split == "test" and args.compositions and compositions(dc):
        comp = evaluate_set(model, load("compose"), codec, args, ec.seed, log)
        figures.update(comp)
        comp_tasks = list(dict.fromkeys(k.split("/")[0] for k in comp))
        out.update({k.replace("mean/", "compose/"): v for k, v in summary(comp, comp_tasks, args.shots).items()
                    if k.startswith("mean/")})
    if split == "test" and args.unseen and dc.held_out_tasks:
        new = evaluate_set(model, load("unseen"), codec, args, ec.seed, log)
        figures.update({f"unseen:{k}": v for k, v in new.items()})
        means = summary(new, list(dc.held_out_tasks), args.shots)
        out.update({k.replace("mean/", "unseen/"): v for k, v in means.items() if k.startswith("mean/")})
    out.update(summary(figures, tasks, args.shots))
    out.update(figures)
    if args.figure:
        picture(model, load(split), codec, args.figure, seed=ec.seed, temperature=args.temperature)
        out["figure"] = args.figure
    return out


# ---- how evaluate.py prints the figures: a table, not one line per figure (hundreds) -------------

COLUMNS = [("0shot/exact", "ex0"), ("1shot/exact", "ex1"), ("2shot/exact", "ex2"), ("2shot/pixel", "pix2"),
           ("2shot/fg_iou", "fg2"), ("2shot/cb_iou", "cb2"), ("2shot/shape", "shp2"), ("0shot/ppl", "ppl0"),
           ("1shot/ppl", "ppl1"), ("2shot/ppl", "ppl2"), ("canvas/exact", "cv_ex"), ("canvas/pixel", "cv_pix"),
           ("unchanged/exact", "B_ex"), ("unchanged/pixel", "B_pix"), ("analogy2/exact", "an_ex"),
           ("analogy2/pixel", "an_pix"), ("2shot_ttt/exact", "tt_ex2"), ("2shot_ttt/pixel", "tt_pix2")]


def table(figures: dict) -> str:
    """Per-task rows (then the mean and the held-out compositions) of the headline figures: the table
    evaluate.py and bench_visual_prompt.py print."""
    tasks = list(dict.fromkeys(k.split("/")[0] for k in figures if k.count("/") == 2
                               and not k.startswith(("mean/", "compose/", "unseen/"))))
    head = f"{'task':<22}" + "".join(f"{name:>8}" for _, name in COLUMNS)
    lines = [head, "-" * len(head)]
    for t in tasks + ["mean", "compose", "unseen"]:
        row = [figures.get(f"{t}/{k}") for k, _ in COLUMNS]
        if all(v is None for v in row):
            continue
        lines.append(f"{t:<22}" + "".join(f"{'-' if v is None else f'{v:.3f}' if v < 10 else f'{v:.1f}':>8}"
                                          for v in row))
    return "\n".join(lines)


def report(figures: dict) -> str:
    """evaluate.py's printout: the run-level figures (targets, timings), one a line, then the table of
    tasks (and their mean, and the held-out compositions); every figure is in the JSON line."""
    lines = [f"{k:>28}  {v:.4f}" if isinstance(v, float) else f"{k:>28}  {v}" for k, v in figures.items()
             if k.count("/") < 2]
    return "\n".join(lines + ["", table(figures)])
