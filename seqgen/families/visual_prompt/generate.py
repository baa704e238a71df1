"""Completing a visual prompt: the answer B' drawn token by token with a KV cache, in either order
(sentence or canvas), and sample.py's prompts from PNG files and its PNG (prompt | answer)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from seqgen.core.errors import ConfigError
from seqgen.core.rundir import samples_path
from seqgen.core.schema import key
from seqgen.data.images.codec import PixelCodec, upsample_nearest
from seqgen.data.images.safe import open_image
from seqgen.data.images.visual import VisualConfig, make_split
from seqgen.families.base import data_from
from seqgen.families.visual_prompt.model import FORMS, canvas_images
from seqgen.families.visual_prompt.ttt import TTTArgs, adapted
from seqgen.nn.sampling import eval_mode, sample_next


@dataclass
class SampleArgs(TTTArgs):
    examples: list | None = None   # example pairs as image files: [a.png, a_prime.png, ...] (0, 1 or 2 pairs)
    query: str | None = None       # the query image B
    canvas: str | None = None      # instead: one 2x2 canvas image [A A' ; B ?] (its bottom-right is ignored)
    form: str = key("sentence", choices=FORMS)   # token order of the prompt (canvas: one example pair)
    task: str | None = None        # no files: prompts from the checkpoint's held-out split of this task
    shots: int = key(2, ge=0)      # with task=: example pairs per prompt
    scale: int = key(8, ge=1)      # PNG pixels per image pixel


@torch.inference_mode()
def complete(model, images: torch.Tensor, form: str = "sentence", temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, generator: torch.Generator | None = None,
             use_cache: bool = True) -> torch.Tensor:
    """images (B, n, S*S): example pairs, the query, and any last image (its content is ignored) ->
    the drawn last image (B, S*S).

    The plan of the form says which slot predicts which token; the slots that predict an answer token
    are visited in order. Everything up to such a slot is known (prompt tokens, or answer tokens drawn
    before), so it is fed in one chunk and only that slot's token is drawn: a sentence is one prefill
    then one slot per token; the canvas feeds each row of B between the rows of B' it draws. An
    <esc> token draws its pixels from the pixel head. use_cache=False re-runs the whole prefix at
    every draw (tests: the cache must give the same tokens). head=pixels draws each slot's p*p
    colours at once from the pixel head."""
    B, n = images.shape[:2]
    L = model.L
    with eval_mode(model):
        tok, raw = model.encode(images)
        tok, raw = tok.clone(), raw.clone()
        plan = model.plan(form, n)
        draws = (plan.tgt >= (n - 1) * L).nonzero()[:, 0].tolist()   # slots predicting answer tokens
        cache = model.new_cache(B) if use_cache else None
        fed = 0
        for s in draws:
            if use_cache:
                h = model.features(tok, raw, plan, fed, s + 1, cache)[:, -1]
            else:
                h = model.features(tok, raw, plan, 0, s + 1)[:, -1]
            fed = s + 1
            at = int(plan.tgt[s])
            if model.config.head == "pixels":                                              # p*p colours
                px = model.pixel_logits(h)                                                 # (B, p*p, K)
                pixels = sample_next(px.reshape(-1, px.size(-1)), temperature, top_k, top_p, generator)
                pixels = pixels.view(B, -1)
                tok[:, at], raw[:, at] = model.patch_tokens(pixels, model.esc_id), pixels
                continue
            t = sample_next(model.head(h), temperature, top_k, top_p, generator)[:, 0]     # (B,)
            pixels = model.patch_vocab[t.clamp(max=model.config.n_tokens - 1)]            # (B, p*p)
            esc = (t == model.esc_id).nonzero()[:, 0]
            if esc.numel():
                px = model.pixel_logits(h[esc])                                            # (m, p*p, K)
                drawn = sample_next(px.reshape(-1, px.size(-1)), temperature, top_k, top_p, generator)
                pixels[esc] = drawn.view(len(esc), -1)
            tok[:, at], raw[:, at] = t, pixels
        return model.decode(tok[:, (n - 1) * L:], raw[:, (n - 1) * L:])


def prompt_of(sentences: np.ndarray, shots: int) -> np.ndarray:
    """(N, n, S, S) sentences -> (N, 2 shots + 2, S, S): the first `shots` example pairs, the query pair."""
    n = sentences.shape[1]
    if 2 * shots + 2 > n:
        raise ConfigError(f"shots={shots}: the sentences hold {n // 2 - 1} example pairs")
    return sentences[:, list(range(2 * shots)) + [n - 2, n - 1]]


def answers(model, prompts: np.ndarray, form: str = "sentence", temperature: float = 0.0, top_k=None, top_p=None,
            seed: int = 0, batch_size: int = 64, use_cache: bool = True, ttt: TTTArgs | None = None) -> np.ndarray:
    """Prompts (N, n, S, S) uint8 (the last image a placeholder) -> drawn answers (N, S, S), seeded, in
    batches. form=canvas reads the first pair and the query pair of each prompt. ttt (ttt_steps > 0):
    each prompt is answered by the model tuned on its own examples (seqgen.families.visual_prompt.ttt),
    one prompt at a time, the weights restored after each."""
    gen = torch.Generator().manual_seed(seed)
    S = prompts.shape[-1]
    if ttt is not None and ttt.ttt_steps > 0:
        out = []
        for i, p in enumerate(prompts):
            with adapted(model, p, ttt, seed=seed + i):
                out.append(answers(model, p[None], form, temperature, top_k, top_p, seed + i, 1, use_cache))
        return np.concatenate(out) if out else np.zeros((0, S, S), np.uint8)
    if form == "canvas":
        prompts = prompts[:, canvas_images(prompts.shape[1])]
    out = []
    for s in range(0, len(prompts), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(prompts[s:s + batch_size])).long().to(model.device)
        y = complete(model, x.flatten(2), form, temperature, top_k, top_p, gen, use_cache)
        out.append(y.view(-1, S, S).cpu().numpy().astype(np.uint8))
    return np.concatenate(out) if out else np.zeros((0, S, S), np.uint8)


# ---- images in and out -----------------------------------------------------------------------------------

def read_image(path, codec: PixelCodec, size: int, key_name: str) -> np.ndarray:
    """A PNG (any RGB / RGBA / palette mode) -> (size, size) palette indices. A file of another size is
    a ConfigError naming the key; colours off the palette are quantised to the nearest, with a warning."""
    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise ConfigError(f"{key_name}={path}: no such image file")
    # the size is checked from the header, before anything is decoded (a tiny file may claim 10000x10000)
    with open_image(p, f"{key_name}={path}", expect=(size, size),
                    mismatch=lambda w, h: f"{key_name}={path}: a {w}x{h} image; this checkpoint reads {size}x{size} "
                                          f"palette images") as im:
        image = im.convert("RGBA") if im.mode in ("P", "LA", "RGBA", "PA") else im.convert("RGB")
    off = codec.out_of_palette(image)
    if off > 0:
        print(f"[seqgen] warning: {key_name}={path}: {100 * off:.1f}% of the pixels are not palette colours; "
              f"quantised to the nearest of the checkpoint's {codec.size} colours", flush=True)
    return codec.quantize(image)


def prompt_from_files(args: SampleArgs, codec: PixelCodec, size: int) -> tuple[np.ndarray, str]:
    """sample.py's prompt -> ((1, n, S, S) with a blank last image, form)."""
    if args.canvas is not None:
        if args.examples or args.query:
            raise ConfigError("give either canvas= or examples= / query=, not both")
        grid = read_image(args.canvas, codec, 2 * size, "canvas")
        quads = [grid[:size, :size], grid[:size, size:], grid[size:, :size]]
        return np.stack(quads + [np.full((size, size), codec.background, np.uint8)])[None], "canvas"
    if args.query is None:
        raise ConfigError("query= is required with examples= (or give canvas=, or task= for held-out prompts): "
                          "python scripts/sample.py ckpt=... examples=[a.png,a_prime.png] query=b.png")
    files = list(args.examples or [])
    if len(files) % 2:
        raise ConfigError(f"examples={files}: expected pairs [a.png, a_prime.png, ...], got {len(files)} files")
    if args.form == "canvas" and len(files) != 2:
        raise ConfigError(f"form=canvas holds exactly one example pair; examples= gave {len(files) // 2}")
    imgs = [read_image(f, codec, size, f"examples[{i}]") for i, f in enumerate(files)]
    imgs += [read_image(args.query, codec, size, "query"), np.full((size, size), codec.background, np.uint8)]
    return np.stack(imgs)[None], args.form


def strip(rows: list[list[np.ndarray]], codec: PixelCodec, scale: int, gap_after: tuple = ()) -> "object":
    """A PIL image: one row per list of index images, scaled by nearest neighbour, a thin gap between
    images and a wide one after the positions in gap_after (between prompt and answer, ...)."""
    pad, wide = max(2, scale // 2), 3 * max(2, scale // 2)
    h = max(im.shape[0] for r in rows for im in r) * scale
    widths = [sum(im.shape[1] * scale + (wide if i in gap_after else pad) for i, im in enumerate(r)) for r in rows]
    canvas = Image.new("RGB", (max(widths) + pad, len(rows) * (h + pad) + pad), (128, 128, 128))
    for r, row in enumerate(rows):
        x = pad
        for i, im in enumerate(row):
            canvas.paste(Image.fromarray(codec.dequantize(upsample_nearest(im, scale))), (x, pad + r * (h + pad)))
            x += im.shape[1] * scale + (wide if i in gap_after else pad)
    return canvas


def as_canvas(prompt: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """(4, S, S) [A, A', B, _] and the answer (S, S) -> the (2S, 2S) grid [A A' ; B answer]."""
    return np.block([[prompt[0], prompt[1]], [prompt[2], answer]])


def picture(model, data, codec: PixelCodec, path, per_task: int = 1, shots: int | None = None, seed: int = 0,
            temperature: float = 0.0):
    """A PNG of held-out prompts, `per_task` of each task: rows [examples, query | answer | truth]
    (seqgen.data.images.visual.VisualSet data; shots: the most the sentences hold). -> the PIL image."""
    groups = data.by_task()
    pick = np.concatenate([idx[:per_task] for idx in groups.values()])
    shots = data.images.shape[1] // 2 - 1 if shots is None else shots
    prompts = prompt_of(data.images[pick], shots)
    drawn = answers(model, prompts, "sentence", temperature, seed=seed)
    n = prompts.shape[1]
    image = strip([list(p[:-1]) + [a, p[-1]] for p, a in zip(prompts, drawn)], codec, 4, gap_after=(n - 2, n - 1))
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
    return image


def task_prompts(state: dict, args: SampleArgs, n: int, ckpt=None) -> tuple[np.ndarray, np.ndarray]:
    """sample.py task=: the first n held-out prompts of that task from the checkpoint's own data config
    -> (prompts (n, images, S, S) with args.shots example pairs, their true answers (n, S, S))."""
    if args.examples or args.query or args.canvas:
        raise ConfigError("task= draws its prompts from the held-out split: drop examples= / query= / canvas=")
    dc = data_from(VisualConfig, state, ckpt)
    if args.task not in dc.tasks + dc.held_out_tasks:
        raise ConfigError(f"task={args.task!r}: this checkpoint was trained on {dc.tasks}"
                          + (f" and holds out {dc.held_out_tasks}" if dc.held_out_tasks else ""))
    test = make_split(dc, "unseen" if args.task in dc.held_out_tasks else "test")
    pick = test.by_task()[args.task][:n]
    prompts = prompt_of(test.images[pick], args.shots)
    return prompts, prompts[:, -1]


def answers_image(prompts: np.ndarray, drawn: np.ndarray, truth, form: str, codec, scale: int):
    """sample.py's PNG: each prompt, its drawn answer and (task=) the true one; a canvas as 2x2 images."""
    n = prompts.shape[1]
    if form == "canvas":
        quads = [p[canvas_images(len(p))] for p in prompts]
        if truth is not None:
            return strip([[as_canvas(q, a), as_canvas(q, q[3])] for q, a in zip(quads, drawn)], codec, scale,
                         gap_after=(0,))
        return strip([[as_canvas(q, a) for q, a in zip(quads, drawn)]], codec, scale)
    if truth is not None:
        return strip([list(p[:-1]) + [a, t] for p, a, t in zip(prompts, drawn, truth)], codec, scale,
                     gap_after=(n - 2, n - 1))
    return strip([list(prompts[0][:-1]) + list(drawn)], codec, scale, gap_after=(n - 2,))


def sample(model, tokenizer, state, sc, args: SampleArgs, device) -> dict:
    """sample.py for visual_prompt: num_samples answers to a prompt from files (examples= query=, or
    canvas=), or one answer to each of num_samples held-out prompts of task= -> a PNG (prompt | answer
    [| truth]). Returns {"images": (N, S, S) answers, "codec", "out"}."""
    codec = PixelCodec.from_json(state["codec"])
    if args.task is not None:
        prompts, truth = task_prompts(state, args, sc.num_samples, sc.ckpt)
        form = args.form
    else:
        prompt, form = prompt_from_files(args, codec, model.config.size)
        prompts, truth = np.repeat(prompt, sc.num_samples, axis=0), None
    out = samples_path(sc.ckpt, sc.out, sc.seed, ".png")
    t0 = time.perf_counter()
    drawn = answers(model, prompts, form, sc.temperature, sc.top_k, sc.top_p, sc.seed, use_cache=sc.use_cache,
                    ttt=args)
    seconds = time.perf_counter() - t0
    image = answers_image(prompts, drawn, truth, form, codec, args.scale)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    shots = prompts.shape[1] // 2 - 1
    what = f"task {args.task} ({shots}-shot, held-out)" if args.task else f"{shots}-shot prompt"
    if args.ttt_steps:
        what += f", {args.ttt_steps} test-time training steps each"
    print(f"[seqgen] {len(drawn)} answer(s) to a {what} in the {form} form in {seconds:.2f} s from {sc.ckpt} "
          f"(step {state['step']}) written to {out}", flush=True)
    return {"images": drawn, "codec": codec, "out": out, "seconds": seconds}
