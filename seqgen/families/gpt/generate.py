"""Sampling from a GPT: nanoGPT's generate with a KV cache, and prompt -> text for sample.py.

With the cache each step feeds one token; when the context fills block_size, the oldest half is
dropped and the newest half re-encoded (amortised O(1) per token). Without it every step re-runs the
last block_size tokens, nanoGPT's way. Both give the same tokens while the sequence fits.
"""

from __future__ import annotations

import torch

from seqgen.core.errors import ConfigError
from seqgen.core.rundir import samples_path, write_texts
from seqgen.nn.sampling import eval_mode, sample_next


@torch.inference_mode()
def generate(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None, use_cache: bool = True) -> torch.Tensor:
    """Extend idx (B, T0) by max_new_tokens sampled tokens -> (B, T0 + max_new_tokens).

    With the KV cache each step feeds one token. When the context fills block_size, the oldest half
    is dropped and the rest re-encoded (amortised O(1) per token); without the cache every step
    re-runs the last block_size tokens (nanoGPT's way). Both give identical tokens while the whole
    sequence fits in block_size.
    """
    block = model.config.block_size
    with eval_mode(model):
        if not use_cache:
            for _ in range(max_new_tokens):
                logits = model(idx[:, -block:])[:, -1, :]
                idx = torch.cat([idx, sample_next(logits, temperature, top_k, top_p, generator)], dim=1)
            return idx
        cache = model.new_cache(idx.size(0))
        logits = model(idx[:, -block:], cache=cache)[:, -1, :]
        for i in range(max_new_tokens):
            nxt = sample_next(logits, temperature, top_k, top_p, generator)
            idx = torch.cat([idx, nxt], dim=1)
            if i == max_new_tokens - 1:
                break
            if cache.length >= block:  # context full: keep the newest half, re-encode it
                cache.reset()
                logits = model(idx[:, -(block // 2):], cache=cache)[:, -1, :]
            else:
                logits = model(nxt, cache=cache)[:, -1, :]
        return idx


def sample_text(model, tokenizer, prompt: str, max_new_tokens: int, seed: int, device,
                temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                num_samples: int = 1, use_cache: bool = True) -> str | list[str]:
    """Encode prompt, generate with a seeded generator, decode. One string, or a list if num_samples > 1."""
    ids = tokenizer.encode(prompt) if prompt else []
    if not ids:
        raise ConfigError("prompt encodes to no tokens; give a non-empty prompt (e.g. prompt='\\n')")
    idx = torch.tensor([ids] * num_samples, dtype=torch.long, device=device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    out = generate(model, idx, max_new_tokens, temperature, top_k, top_p, generator=gen, use_cache=use_cache)
    texts = [tokenizer.decode(row.tolist()) for row in out]
    return texts[0] if num_samples == 1 else texts


def sample(model, tokenizer, state, sc, args, device) -> dict:
    """sample.py for a GPT: num_samples continuations of sc.prompt, printed and written to a text file."""
    out = samples_path(sc.ckpt, sc.out, sc.seed, ".txt", (".txt", ".md"))
    texts = sample_text(model, tokenizer, sc.prompt, sc.max_new_tokens, sc.seed, device, sc.temperature,
                        sc.top_k, sc.top_p, num_samples=sc.num_samples, use_cache=sc.use_cache)
    texts = [texts] if isinstance(texts, str) else texts
    write_texts(texts, out)
    return {"texts": texts, "out": out}
