"""Evaluation metrics: loss, perplexity, bits per token and per character. Returns dicts; never logs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from seqgen.data.text import eval_windows


@torch.no_grad()
def evaluate_lm(model, tokens, block_size: int, batch_size: int, device, max_batches: int | None = None,
                chars_per_token: float | None = None, prefix: str = "val") -> dict:
    """Mean next-token cross-entropy over ordered windows of a split.

    bits per character = (nats per token) / ln 2 / (characters per token): comparable across
    tokenizers because every tokenizer here covers the same characters.
    """
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for x, y in eval_windows(tokens, block_size, batch_size, max_batches):
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1),
                               ignore_index=-1, reduction="sum")
        total += loss.item()
        count += int((y >= 0).sum())
    model.train(was_training)
    nats = total / max(1, count)
    out = {f"{prefix}/loss": nats, f"{prefix}/ppl": math.exp(min(nats, 50.0)),
           f"{prefix}/bits_per_token": nats / math.log(2)}
    if chars_per_token:
        out[f"{prefix}/bpc"] = nats / math.log(2) / chars_per_token
    return out
