"""Tab 3, word2vec: cosine nearest neighbours of a word and `a - b + c` analogies (3CosAdd, gensim's
most_similar) from a word2vec checkpoint, run folder, pretrained folder or Hub id."""

from __future__ import annotations

from seqgen.app.demo.common import expect_family, guarded, load_cached, model_picker
from seqgen.core.errors import ConfigError
from seqgen.families.word2vec.vectors import nearest

FAMILY = "word2vec"
MAKE = "python scripts/train.py experiment=word2vec_shakespeare"


def _vectors(ctx, ckpt: str):
    if not ckpt:
        raise ConfigError(f"no word2vec model chosen: pick one or type a path / pretrained folder / hf:user/repo; "
                          f"to make one: {MAKE}")
    loaded = load_cached(ckpt, ctx.device)
    expect_family(loaded, FAMILY, ckpt, MAKE)
    return loaded[0]


def _word(model, w: str, what: str) -> str:
    w = (w or "").strip()
    if not w:
        raise ConfigError(f"{what}: type a word")
    if " " in w:
        raise ConfigError(f"{what}={w!r}: one word, without spaces")
    if w not in model.index and w.lower() in model.index:   # gensim-style vocabularies are often lower case
        return w.lower()
    return w


def neighbours(ctx, ckpt: str, word: str, k: int = 10) -> list[list]:
    """[[word, cosine], ...]: the k nearest words to `word`."""
    m = _vectors(ctx, ckpt)
    rows = nearest(m.vocab, m.vectors, [_word(m, word, "word")], [], int(k))
    return [[w, round(s, 4)] for w, s in rows]


def analogy(ctx, ckpt: str, a: str, b: str, c: str, k: int = 10) -> list[list]:
    """[[word, cosine], ...] nearest to a - b + c (king - man + woman), the three query words excluded."""
    m = _vectors(ctx, ckpt)
    a, b, c = (_word(m, w, n) for w, n in ((a, "a"), (b, "b"), (c, "c")))
    rows = nearest(m.vocab, m.vectors, [a, c], [b], int(k))
    return [[w, round(s, 4)] for w, s in rows]


def tab(ctx) -> None:
    import gradio as gr

    ckpt = model_picker(ctx, FAMILY, "Words that occur in the same contexts get nearby vectors (skip-gram with "
                        "negative sampling). Neighbours are by cosine; an analogy `a - b + c` is the word nearest "
                        "to that sum. ",
                        f"No word2vec model under `{ctx.outputs}/` yet: `{MAKE}` makes one (about a minute), or "
                        "type a checkpoint path, pretrained folder or Hub id.")
    with gr.Row():
        with gr.Column():
            word = gr.Textbox(value="king", label="word")
            k = gr.Slider(1, 50, value=10, step=1, label="neighbours")
            go_n = gr.Button("Neighbours", variant="primary")
            table_n = gr.Dataframe(headers=["word", "cosine"], label="nearest words")
        with gr.Column():
            with gr.Row():
                a = gr.Textbox(value="king", label="a")
                b = gr.Textbox(value="man", label="− b")
                c = gr.Textbox(value="woman", label="+ c")
            go_a = gr.Button("a − b + c", variant="primary")
            table_a = gr.Dataframe(headers=["word", "cosine"], label="answers")
    go_n.click(guarded(lambda p, w, n: neighbours(ctx, p, w, n)), [ckpt, word, k], table_n, api_name="neighbours")
    go_a.click(guarded(lambda p, x, y, z, n: analogy(ctx, p, x, y, z, n)), [ckpt, a, b, c, k], table_a,
               api_name="word_analogy")
