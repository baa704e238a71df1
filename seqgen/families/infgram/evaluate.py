"""An ∞-gram on held-out text (Liu et al. 2024, section 4): how often the longest suffix of the context
that occurs in the corpus predicts the next token. Its probabilities are 0 for unseen continuations,
so it has no perplexity alone; interpolated with a GPT it does (evaluate.py ckpt=<gpt> infgram=<this>)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgen.core.schema import key
from seqgen.data.prepare import DataConfig, pick_split, prepare
from seqgen.families.base import data_from


@dataclass
class EvalArgs:
    max_tokens: int | None = key(None, ge=1)   # score only the first N tokens of the split
    agreement_tokens: int = key(20_000, ge=1)   # positions whose full next-token distribution is read


def split_figures(model, tokens: np.ndarray, agreement_tokens: int) -> dict:
    """Figures of the ∞-gram (or the fixed-order n-gram) predicting tokens[j + 1] from tokens[:j + 1]."""
    eng = model.engine
    ids = np.asarray(tokens, np.int64)
    if eng.eos_token_id is not None:       # the text starts at a document start
        ids = np.concatenate([[eng.eos_token_id], ids])
    r = eng.score(ids, model.max_len)
    n = len(r["prob"])
    agree = []
    for j in range(min(n, agreement_tokens)):   # argmax of the full next-token distribution
        q = eng._ids(ids[j + 1 - r["suffix_len"][j]:j + 1], "ids", True)
        _, counts = eng._next(q, eng.longest_suffix(q, len(q))[1])
        best = max(counts, key=counts.get) if counts else -1
        agree.append(eng._out_id(best) == ids[j + 1])
    sparse = r["sparse"]
    eff = r["suffix_len"] + 1
    return {"tokens": n, "nonzero_frac": float((r["prob"] > 0).mean()) if n else 0.0,
            "prob_mean": float(r["prob"].mean()) if n else 0.0,
            "agreement": float(np.mean(agree)) if agree else 0.0,
            "sparse_frac": float(sparse.mean()) if n else 0.0,
            "sparse_agreement": float((r["prob"][sparse] == 1.0).mean()) if sparse.any() else 0.0,
            "effective_n_mean": float(eff.mean()) if n else 0.0,
            "effective_n_median": float(np.median(eff)) if n else 0.0}


def evaluate(model, tokenizer, state, ec, args: EvalArgs, device) -> dict:
    """evaluate.py for an infgram checkpoint: the split's prepared tokens (found from its data config)."""
    dc = data_from(DataConfig, state, ec.ckpt)
    data = prepare(dc, ec.data_root, verbose=False)
    split = pick_split([s for s, n in data.meta["tokens"].items() if n], ec.split, ec.ckpt)
    tokens = data.tokens(split)
    if args.max_tokens:
        tokens = tokens[: args.max_tokens]
    return {"model": state["model_name"], "order": model.config.order, "data": dc.name, "split": split,
            **split_figures(model, tokens, args.agreement_tokens)}
