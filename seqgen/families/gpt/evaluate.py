"""How well a GPT predicts held-out text: nats and bits per token, and bits per character, which
compare across tokenizers because every tokenizer here covers the same characters."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from seqgen.core.schema import key
from seqgen.data.prepare import DataConfig, pick_split, prepare
from seqgen.data.sources import load_splits
from seqgen.data.text import eval_windows
from seqgen.families.base import data_from
from seqgen.nn.sampling import eval_mode


@dataclass
class EvalArgs:
    max_tokens: int | None = key(None, ge=1)   # score only the first this-many tokens of the split


@torch.no_grad()
def evaluate_lm(model, tokens, block_size: int, batch_size: int, device, max_batches: int | None = None,
                chars_per_token: float | None = None, prefix: str = "val") -> dict:
    """Mean next-token cross-entropy over ordered, non-overlapping windows of a split.
    bits per character = (nats per token) / ln 2 / (characters per token)."""
    total, count = 0.0, 0
    with eval_mode(model):
        for x, y in eval_windows(tokens, block_size, batch_size, max_batches):
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1),
                                   ignore_index=-1, reduction="sum")
            total += loss.item()
            count += int((y >= 0).sum())
    nats = total / max(1, count)
    out = {f"{prefix}/loss": nats, f"{prefix}/ppl": math.exp(min(nats, 50.0)),
           f"{prefix}/bits_per_token": nats / math.log(2)}
    if chars_per_token:
        out[f"{prefix}/bpc"] = nats / math.log(2) / chars_per_token
    return out


def evaluate(model, tokenizer, state, ec, args: EvalArgs, device) -> dict:
    """evaluate.py for a GPT: the split's token stream in windows of its context -> bits per char."""
    dc = data_from(DataConfig, state, ec.ckpt)
    data = prepare(dc, ec.data_root, verbose=False)
    split = pick_split([s for s, n in data.meta["tokens"].items() if n], ec.split, ec.ckpt)
    if data.tokenizer.to_json() == tokenizer.to_json():
        tokens, cpt = np.asarray(data.tokens(split)), data.chars_per_token(split)
    else:   # the data changed since training: score today's text, with the checkpoint's own tokenizer
        print(f"[seqgen] warning: the {dc.name} data differs from what {ec.ckpt} was trained on (its tokenizer "
              f"would be fitted differently); scoring the current {split} text with the checkpoint's tokenizer",
              flush=True)
        text = load_splits(dc, Path(ec.data_root).expanduser() / "raw")[split]
        tokens = np.asarray(tokenizer.encode(text), dtype=np.int64)
        cpt = len(text) / max(1, len(tokens))
    if args.max_tokens:
        tokens = tokens[: args.max_tokens + 1]
    r = evaluate_lm(model, tokens, model.config.block_size, ec.batch_size, device, None, cpt, "x")
    out = {"model": state["model_name"], "data": dc.name, "tokenizer": dc.tokenizer, "split": split,
           "bpc": r["x/bpc"], "bits_per_token": r["x/bits_per_token"],
           "tokens": int(len(tokens) - 1), "chars": round(cpt * len(tokens))}
    if dc.tokenizer == "word":   # per-character or per-BPE-piece perplexity is not a word-level figure
        out["ppl"] = r["x/ppl"]
    return out
