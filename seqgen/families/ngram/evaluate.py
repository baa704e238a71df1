"""An n-gram on held-out text: every line coded (one </s> per newline), so bits per character
compare with a GPT's; per-token perplexity in KenLM's conventions otherwise."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqgen.core.schema import key
from seqgen.data.sources import text_lines
from seqgen.families.ngram.model import perplexity


@dataclass
class EvalArgs:
    max_tokens: int | None = key(None, ge=1)   # score only a prefix of the split of about this many tokens


def ngram_text_scores(model, tokenizer, text: str) -> dict:
    """Every line of `text` -> bits per character and per-token perplexity."""
    lines = text_lines(text)
    r = perplexity(model, [np.asarray(tokenizer.encode(ln), np.int64) for ln in lines])
    bits = -r["log10_sum"] * math.log2(10)
    chars = sum(len(ln) + 1 for ln in lines)
    return {"bpc": bits / chars, "ppl": r["ppl"], "bits_per_token": r["bits_per_token"], "tokens": r["tokens"],
            "chars": chars, "oov": r["oov"]}


def evaluate(model, tokenizer, state, ec, args: EvalArgs, device) -> dict:
    """evaluate.py for an n-gram: the split's raw text, found from the checkpoint's data config."""
    from seqgen.core.config import build
    from seqgen.data.prepare import DataConfig, pick_split, prepare
    from seqgen.data.sources import load_splits

    dc = build(DataConfig, dict(state["config"]["data"]), "data")
    data = prepare(dc, ec.data_root, verbose=False)
    split = pick_split([s for s, n in data.meta["tokens"].items() if n], ec.split, ec.ckpt)
    text = load_splits(dc, Path(ec.data_root).expanduser() / "raw")[split]
    if args.max_tokens:   # a prefix of the split, cut at a line end
        text = text[: text.rfind("\n", 0, int(args.max_tokens * data.chars_per_token(split))) + 1]
    out = {"model": state["model_name"], "data": dc.name, "tokenizer": dc.tokenizer, "split": split,
           **ngram_text_scores(model, tokenizer, text)}
    if dc.tokenizer != "word":   # per-character perplexity is not a word-level figure
        out.pop("ppl")
    return out
