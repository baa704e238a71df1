"""Tab 9, visual prompting: pick a task and a prompt (0-2 example pairs A : A′ and a query B from the
held-out visual sentences), and the answer B′ comes from a visual_prompt checkpoint, or, without one,
from the non-parametric image-analogy baseline (no training)."""

from __future__ import annotations

import time

import numpy as np
from PIL import Image

from seqgen.app.demo.common import check_pixels, expect_family, find_checkpoints, guarded, load_cached
from seqgen.core.errors import ConfigError
from seqgen.data.images.codec import PixelCodec
from seqgen.data.images.visual import TASKS, VisualConfig, draw
from seqgen.data.images.visual import codec as shapes_codec
from seqgen.families.visual_prompt.evaluate import analogy_answers
from seqgen.families.visual_prompt.generate import answers, strip

FAMILY = "visual_prompt"
MAKE = "python scripts/train.py experiment=visual_prompt_shapes"
BASELINE = "image-analogy baseline (no model)"


def prompt(task: str, index: int, shots: int, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(prompt (2 shots + 2, S, S) with the true answer last, the truth (S, S)): held-out sentence
    `index` of `task` (seqgen.data.images.visual: the test split, whose combinations no training saw)."""
    if task not in TASKS:
        raise ConfigError(f"task={task!r}: expected one of {list(TASKS)}")
    shots = int(shots)
    if not 0 <= shots <= 2:
        raise ConfigError(f"examples={shots}: expected 0, 1 or 2 pairs")
    cfg = VisualConfig(size=size, tasks=[task], shots=2)
    images = draw(cfg, "test", int(index))["images"]                       # (6, S, S): 2 pairs, the query pair
    keep = list(range(2 * shots)) + [len(images) - 2, len(images) - 1]
    return images[keep], images[-1]


def drawn_query(ctx, img, codec, size: int) -> np.ndarray:
    """A query drawn or uploaded by the user (any size, RGB) -> (size, size) palette indices: scaled to
    size x size by nearest neighbour, each pixel mapped to the nearest palette colour."""


    a = check_pixels(np.asarray(img), "the query picture", ctx.limits)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    rgb = Image.fromarray(a[..., :3].astype(np.uint8)).resize((size, size), Image.NEAREST)
    return codec.quantize(np.asarray(rgb))


def sketch(value) -> np.ndarray | None:
    """The sketchpad's flattened drawing over white (H, W, 3) uint8, or None when nothing is drawn."""
    a = value.get("composite") if isinstance(value, dict) else value
    if a is None:
        return None
    if isinstance(a, (str, dict)):   # a file (an API call): read it

        with Image.open(a["path"] if isinstance(a, dict) else a) as im:
            a = np.asarray(im.convert("RGBA"))
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[2] == 4:
        alpha = a[..., 3:].astype(np.float64) / 255
        if not alpha.any():
            return None
        return (a[..., :3] * alpha + 255 * (1 - alpha) + 0.5).astype(np.uint8)
    return a if (a < 250).any() else None


def answer(ctx, ckpt: str, task: str, index: int, shots: int, seed: int = 0, query=None):
    """(the prompt strip: examples | query | answer | truth (none for a drawn query), status)."""
    t0 = time.perf_counter()
    if ckpt and ckpt != BASELINE:
        model, _, state, fam = load_cached(ckpt, ctx.device)
        expect_family((model, None, state, fam), FAMILY, ckpt, MAKE)

        codec = PixelCodec.from_json(state["codec"])
        p, truth = prompt(task, index, shots, model.config.size)
        if query is not None:
            p[-2], truth = drawn_query(ctx, query, codec, model.config.size), None
        drawn = answers(model, p[None], "sentence", 0.0, seed=int(seed))[0]
        who = f"the model ({ckpt}), greedy"
    else:
        codec = shapes_codec()
        p, truth = prompt(task, index, shots)
        if query is not None:
            p[-2], truth = drawn_query(ctx, query, codec, p.shape[-1]), None
        if int(shots) == 0:
            raise ConfigError("the image-analogy baseline needs at least one example pair; pick 1 or 2 examples "
                              f"(or a visual_prompt model: {MAKE})")
        drawn = analogy_answers(p[None], codec, seed=int(seed))[0]
        who = "the image-analogy baseline"
    n = len(p)
    status = (f"{task}, held-out prompt {int(index)}, {int(shots)} example pair(s): answered by {who} in "
              f"{time.perf_counter() - t0:.2f} s")
    if truth is None:   # the user's query: no truth to show
        return np.asarray(strip([list(p[:-1]) + [drawn]], codec, 8, gap_after=(n - 2,))), status + " (your query)"
    picture = strip([list(p[:-1]) + [drawn, truth]], codec, 8, gap_after=(n - 2, n - 1))
    right = "exactly right" if (drawn == truth).all() else f"{(drawn == truth).mean():.1%} of the pixels right"
    return np.asarray(picture), f"{status}; {right} (the last picture is the truth)"


def tab(ctx) -> None:
    import gradio as gr


    found = find_checkpoints(ctx.outputs, FAMILY)
    gr.Markdown("A : A′ :: B : ? — the task is given only by examples. A decoder over 'visual sentences' reads the "
                "example pairs and the query and draws the answer pixel by pixel; the image-analogy baseline "
                "copies pixels by neighbourhood matching instead. Rows: examples | query | answer | truth."
                + ("" if found else f"\n\nNo visual_prompt model under `{ctx.outputs}/`: `{MAKE}` makes one "
                                    "(about 50 minutes); until then the baseline answers."))
    with gr.Row():
        with gr.Column():
            ckpt = gr.Dropdown(found + [BASELINE], value=(found or [BASELINE])[0], allow_custom_value=True,
                               label="answered by")
            task = gr.Dropdown(list(TASKS), value="recolour", label="task")
            with gr.Row():
                index = gr.Number(value=0, precision=0, label="prompt number")
                shots = gr.Radio([0, 1, 2], value=2, label="example pairs")
            query = gr.Sketchpad(label="or draw your own query B (scaled to 16×16, nearest palette colours)",
                                 type="numpy", image_mode="RGBA", canvas_size=(256, 256))
            go = gr.Button("Answer", variant="primary")
        with gr.Column():
            out = gr.Image(label="examples | query | answer | truth", type="numpy", format="png")
            status = gr.Markdown()
    def run(c, t, i, s, q):
        return answer(ctx, c, t, i, s, query=sketch(q))

    go.click(guarded(run), [ckpt, task, index, shots, query], [out, status], api_name="visual_prompt")
