"""word2vec -> GPT: initialise a model's token embeddings from a word2vec checkpoint's vectors
(`init_embeddings=PATH` in train.py), one of the two places that compose families."""

from __future__ import annotations

import torch

from seqgen.app.load import load_model
from seqgen.core.errors import ConfigError


def init_embeddings(model, tokenizer, path, verbose: bool = True) -> int:
    """Copy word vectors into the rows of model.wte whose token is in the word2vec vocabulary,
    rescaled to the embedding's init std so the rest of the network starts as usual. -> rows set."""
    vectors_model, _, state = load_model(path)
    if not hasattr(vectors_model, "vectors") or not hasattr(vectors_model, "index"):
        raise ConfigError(f"init_embeddings={path} holds a '{state['model_name']}' model, not word2vec")
    if getattr(tokenizer, "kind", None) != "word":
        raise ConfigError("init_embeddings needs a word tokenizer (data.tokenizer=word)")
    wte = getattr(model, "wte", None)
    if wte is None:
        raise ConfigError(f"init_embeddings: a '{state['model_name']}' run has no token embedding table to set")
    wte = wte.weight
    vectors = vectors_model.vectors
    if vectors.shape[1] != wte.shape[1]:
        raise ConfigError(f"init_embeddings: word2vec vectors have {vectors.shape[1]} dimensions, the "
                          f"model's embeddings {wte.shape[1]}: set model.n_embd={vectors.shape[1]} or retrain")
    rows = [(i, vectors_model.index[w]) for i, w in enumerate(tokenizer.itos) if w in vectors_model.index]
    if not rows:
        raise ConfigError(f"init_embeddings: no token of this tokenizer is in {path}'s vocabulary")
    src = vectors[[j for _, j in rows]]
    with torch.no_grad():
        wte[[i for i, _ in rows]] = (src / src.std() * wte.std()).to(wte.dtype)
    if verbose:
        print(f"[seqgen] init_embeddings: {len(rows):,} of {len(tokenizer.itos):,} token embeddings from {path}",
              flush=True)
    return len(rows)
