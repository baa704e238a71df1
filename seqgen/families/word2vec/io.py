"""word2vec files: checkpoint state in and out, and the original word2vec text / binary formats
(gensim's load_word2vec_format and word2vec.c read both)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqgen.data.tokenizer import UNK, Tokenizer
from seqgen.families.base import entries_differ
from seqgen.families.word2vec.model import Word2Vec


def load(state: dict, device):
    """(Word2Vec, tokenizer) from a checkpoint; vectors stay on the CPU."""
    model = Word2Vec.from_state(Word2Vec.Config(**state["model_config"]), state["model"])
    return model, Tokenizer.from_json(state["tokenizer"])


def write_word2vec(vocab, vectors, path, binary: bool = False) -> None:
    """The original word2vec formats (gensim's load_word2vec_format reads both): a "V D" header, then
    per word either `word v1 .. vD` (text, 9 significant digits: float32 exact) or `word ` + D
    little-endian float32 + newline (binary)."""
    arr = np.asarray(vectors, dtype="<f4")
    with open(path, "wb") as f:
        f.write(f"{len(vocab)} {arr.shape[1]}\n".encode())
        for w, v in zip(vocab, arr):
            if binary:
                f.write(w.encode("utf-8") + b" " + v.tobytes() + b"\n")
            else:
                f.write((w + " " + " ".join(f"{x:.9g}" for x in v.tolist()) + "\n").encode("utf-8"))


def exporter(binary: bool):
    def export(model, state, out) -> Path:
        write_word2vec(model.vocab, model.vectors, out, binary=binary)
        return Path(out)
    return export


def tokenizer_fits(model, tok) -> str | None:
    """None when `tok` is the tokenizer fit() saved beside the vectors: <unk>, then the model's words in order."""
    return entries_differ([UNK, *model.vocab], list(getattr(tok, "itos", [])))
