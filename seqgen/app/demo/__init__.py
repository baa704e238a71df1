"""The lecture, live: one Gradio app with a tab per system, in the lecture's order (`scripts/demo.py`).

`build(ctx)` returns the gr.Blocks; each tab is one module of this folder with its compute functions
(plain Python, testable without a browser) and a `tab(ctx)` that lays out its widgets, every event
with an `api_name` so gradio_client can call it. gradio is imported only here, inside build() and the
tab() functions: seqgen imports and works without it (pip install seqgen[demo] adds it).
"""

from __future__ import annotations

from importlib import import_module

import torch

from seqgen.app.demo.common import DemoContext, Limits
from seqgen.core.errors import ConfigError

__all__ = ["TABS", "DemoContext", "Limits", "build", "launch"]

# (title, module): the lecture's order
TABS = (
    ("1 · Markov chain", "markov"),
    ("2 · Shannon / Mark V. Shaney", "shannon"),
    ("3 · word2vec", "word2vec"),
    ("4 · GPT", "gpt"),
    ("5 · Text → 32×32 → 128×128", "text2pixel"),
    ("6 · Efros–Leung", "texture"),
    ("7 · Video textures", "video"),
    ("8 · Image analogies", "analogy"),
    ("9 · Visual prompting", "visual_prompt"),
)
CSS = (".mono textarea { font-family: ui-monospace, monospace; font-size: 11px; line-height: 1.1; }\n"
       # small pictures (16-128 px) fill their box with square pixels instead of sitting tiny in its middle
       ".pixels img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }")


def _gradio():
    try:
        import gradio as gr
    except ImportError:
        raise ConfigError("the demo needs gradio: pip install 'seqgen[demo]' (or pip install gradio)") from None
    return gr


def build(ctx: DemoContext | None = None):
    """The demo's gr.Blocks (not launched)."""
    gr = _gradio()
    ctx = ctx or DemoContext()
    with gr.Blocks(title="seqgen: sequence models for words and pixels") as demo:
        gr.Markdown("# Sequence models for words and pixels, live\nFrom Markov's weather chain to a transformer: "
                    "each tab is one system of the lecture, running on this machine's CPU. Tabs that need a "
                    "trained model list the checkpoints in the outputs folder (`--outputs`) and name the command "
                    "that makes one.")
        for title, name in TABS:
            with gr.Tab(title):
                import_module(f"seqgen.app.demo.{name}").tab(ctx)
    return demo


def launch(ctx: DemoContext | None = None, port: int | None = None, share: bool = False, host: str = "127.0.0.1",
           prevent_thread_lock: bool = False):
    """Build and serve the demo -> (the Blocks, its local URL). Uploads over ctx.limits.max_bytes are refused
    by gradio before they reach a tab."""
    ctx = ctx or DemoContext()
    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    demo = build(ctx)
    demo.queue(default_concurrency_limit=2)
    _, url, _ = demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=prevent_thread_lock,
                            max_file_size=ctx.limits.max_bytes, show_error=True, quiet=True, css=CSS)
    return demo, url
