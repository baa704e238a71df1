"""Tab 4, GPT: sample from any GPT checkpoint under outputs/ (or a given path, pretrained folder or Hub
id) with temperature / top-k / top-p, the text streaming into the page token by token."""

from __future__ import annotations

import time

import torch

from seqgen.app.demo.common import expect_family, guarded, load_cached, model_picker
from seqgen.core.errors import ConfigError
from seqgen.data.tokenizer import CharTokenizer
from seqgen.families.gpt.generate import stream

FAMILY = "gpt"
MAKE = "python scripts/train.py experiment=gpt_shakespeare_char_cpu"
MAX_TOKENS = 2000


def gpt_stream(ctx, ckpt: str, prompt: str, max_new_tokens: int, temperature: float, top_k, top_p, seed: int):
    """Yield (text so far, status) after every drawn token; the last status has the speed."""
    n = int(max_new_tokens)
    if not 1 <= n <= MAX_TOKENS:
        raise ConfigError(f"max_new_tokens={n}: expected 1-{MAX_TOKENS}")
    top_k = int(top_k) if top_k else None                 # 0 / empty: no top-k filter
    top_p = float(top_p) if top_p and float(top_p) < 1.0 else None
    if float(temperature) < 0:
        raise ConfigError(f"temperature={temperature}: expected >= 0 (0: greedy)")
    if not ckpt:
        raise ConfigError(f"no GPT chosen: pick a checkpoint or type a path / pretrained folder / hf:user/repo; "
                          f"to make one: {MAKE}")
    loaded = load_cached(ckpt, ctx.device)
    expect_family(loaded, FAMILY, ckpt, MAKE)
    model, tok = loaded[0], loaded[1]
    prompt, folded = tok.fold(prompt or "\n") if isinstance(tok, CharTokenizer) else (prompt or "\n", {})
    ids = tok.encode(prompt)   # a character this model lacks and cannot fold: one DataError naming it
    note = ("; read as base letters: " + ", ".join(f"{a} -> {b}" for a, b in folded.items())) if folded else ""
    if not ids:
        raise ConfigError("the prompt encodes to no tokens: type some text (or leave it empty for a new line)")
    idx = torch.tensor([ids], dtype=torch.long, device=ctx.device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    drawn: list[int] = []
    t0 = time.perf_counter()
    for nxt in stream(model, idx, n, float(temperature), top_k, top_p, generator=gen):
        drawn.append(int(nxt[0, 0]))
        yield tok.decode(ids + drawn), f"{len(drawn)} / {n} tokens{note}"
    seconds = time.perf_counter() - t0
    yield tok.decode(ids + drawn), (f"{n} tokens in {seconds:.2f} s ({n / max(seconds, 1e-9):.0f} tokens/s), "
                                    f"seed {int(seed)}, step {loaded[2].get('step')} of {ckpt}{note}")


def gpt_text(ctx, *args) -> tuple[str, str]:
    """The whole sample at once (the last value of gpt_stream)."""
    out = ("", "")
    for out in gpt_stream(ctx, *args):
        pass
    return out


def tab(ctx) -> None:
    import gradio as gr

    ckpt = model_picker(ctx, FAMILY, "A decoder-only transformer draws one token at a time from its next-token "
                        "distribution: temperature flattens or sharpens it, top-k and top-p cut its tail. ",
                        f"No GPT checkpoint under `{ctx.outputs}/` yet: `{MAKE}` makes one (about 2 minutes).")
    with gr.Row():
        with gr.Column():
            prompt = gr.Textbox(value="ROMEO:", label="prompt", lines=2)
            with gr.Row():
                length = gr.Slider(1, MAX_TOKENS, value=300, step=1, label="new tokens")
                seed = gr.Number(value=1337, precision=0, label="seed")
            with gr.Row():
                temperature = gr.Slider(0.0, 2.0, value=0.8, step=0.05, label="temperature (0: greedy)")
                top_k = gr.Number(value=200, precision=0, label="top-k (0: off)")
                top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="top-p (1: off)")
            go = gr.Button("Generate", variant="primary")
        with gr.Column():
            out = gr.Textbox(label="sample", lines=18)
            status = gr.Markdown()

    def run(p, text, n, t, k, pp, s):
        yield from gpt_stream(ctx, p, text, n, t, k, pp, s)

    go.click(guarded(run), [ckpt, prompt, length, temperature, top_k, top_p, seed], [out, status], api_name="gpt")
