"""word2vec from sample.py: nearest neighbours of a word, or an analogy ("king - man + woman")."""

from __future__ import annotations

from seqgen.core.errors import ConfigError
from seqgen.core.rundir import samples_path, write_texts
from seqgen.families.word2vec.vectors import nearest


def word_query(model, prompt: str, k: int = 10) -> str:
    """word2vec from sample.py: "king" -> nearest neighbours; "king - man + woman" -> an analogy."""
    tokens = prompt.replace("+", " + ").replace("-", " - ").split()
    if not tokens:
        raise ConfigError('prompt must name a word, e.g. prompt=king or prompt="king - man + woman"')
    positive, negative, sign = [], [], 1
    for t in tokens:
        if t in "+-":
            sign = 1 if t == "+" else -1
        else:
            (positive if sign > 0 else negative).append(t.lower() if model.vocab and t not in model.index else t)
            sign = 1
    rows = nearest(model.vocab, model.vectors, positive, negative, k)
    return f"{prompt}\n" + "\n".join(f"  {w:<20} {s:.4f}" for w, s in rows)


def sample(model, tokenizer, state, sc, args, device) -> dict:
    """The top_k (default 10) neighbours of sc.prompt, printed and written to a text file."""
    out = samples_path(sc.ckpt, sc.out, sc.seed, ".txt", (".txt", ".md"))
    texts = [word_query(model, sc.prompt, k=sc.top_k or 10)]
    write_texts(texts, out)
    return {"texts": texts, "out": out}
